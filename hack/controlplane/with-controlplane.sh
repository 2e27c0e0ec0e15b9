#!/usr/bin/env bash
# Runs CMD against a real local Kubernetes control plane.
#
#   hack/controlplane/with-controlplane.sh cargo test --test e2e
#
# If BUCKETCORS_TEST_KUBECONFIG is set and its apiserver answers /readyz, CMD
# just runs against it (reuse). Otherwise a control plane is started in a fresh
# temporary dir (start.sh), KUBECONFIG and BUCKETCORS_TEST_KUBECONFIG (and the
# rest of DIR/env) are exported to CMD, and the control plane is stopped and
# the dir removed when this script exits: after CMD, when CMD fails, and on
# INT/TERM. The exit code is CMD's (130/143 when interrupted).
#
# Knobs: BUCKETCORS_KEEP_CONTROLPLANE=1 keeps the temp dir (logs) after stopping.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$HERE/env.sh"

log() { printf '==> %s\n' "$*" >&2; }

(($# > 0)) || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

if [[ -n "${BUCKETCORS_TEST_KUBECONFIG:-}" ]]; then
  if [[ -f "$BUCKETCORS_TEST_KUBECONFIG" ]] &&
     kubectl --kubeconfig "$BUCKETCORS_TEST_KUBECONFIG" get --raw=/readyz --request-timeout=5s >/dev/null 2>&1; then
    log "reusing the control plane of BUCKETCORS_TEST_KUBECONFIG=$BUCKETCORS_TEST_KUBECONFIG"
    export KUBECONFIG="$BUCKETCORS_TEST_KUBECONFIG"
    exec "$@"
  fi
  log "BUCKETCORS_TEST_KUBECONFIG=$BUCKETCORS_TEST_KUBECONFIG is not reachable; starting a new control plane"
fi

CP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/bucketcors-controlplane.XXXXXX")"

# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  "$HERE/stop.sh" "$CP_DIR" >&2 || rc=$((rc == 0 ? 1 : rc))
  if [[ "${BUCKETCORS_KEEP_CONTROLPLANE:-}" == 1 ]]; then
    log "kept $CP_DIR (logs in $CP_DIR/logs)"
  else
    rm -rf "$CP_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$HERE/start.sh" "$CP_DIR" >/dev/null
# shellcheck source=/dev/null
source "$CP_DIR/env"

set +e
"$@"
rc=$?
set -e
exit "$rc"
