#!/usr/bin/env bash
# Installs everything `make test` and `make demo` need beyond the machine's own toolchains:
# the Kubernetes control plane binaries, the S3 test servers, Lua for the Argo CD health check,
# and PyYAML for the chart checks. Idempotent; every part caches its work.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "Kubernetes control plane (kube-apiserver, kube-controller-manager, kubectl, etcd, helm)"
bash hack/controlplane/install.sh
step "S3 servers (moto, versitygw)"
bash hack/s3/install.sh
step "Lua 5.1 for the Argo CD health check"
bash hack/install-lua.sh
if ! python3 -c 'import yaml' 2>/dev/null; then
  step "PyYAML for the chart checks"
  python3 -m pip install --quiet pyyaml
fi
