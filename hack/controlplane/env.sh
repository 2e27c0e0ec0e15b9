# shellcheck shell=bash
# Sourceable settings for the local Kubernetes control plane (kube-apiserver,
# kube-controller-manager, etcd, kubectl, helm), all built from the Go module
# proxy by install.sh and cached outside the repository.
#
#   source hack/controlplane/env.sh
#
# Every value can be overridden from the environment before sourcing.
# Safe to source more than once and from shells with or without `set -eu`.

BUCKETCORS_K8S_VERSION="${BUCKETCORS_K8S_VERSION:-v1.37.2}"
BUCKETCORS_ETCD_VERSION="${BUCKETCORS_ETCD_VERSION:-v3.7.3}"
BUCKETCORS_HELM_VERSION="${BUCKETCORS_HELM_VERSION:-v3.22.0}"
BUCKETCORS_CACHE="${BUCKETCORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bucketcors}"

BUCKETCORS_K8S_BIN="$BUCKETCORS_CACHE/k8s-$BUCKETCORS_K8S_VERSION/bin"
BUCKETCORS_ETCD_BIN="$BUCKETCORS_CACHE/etcd-$BUCKETCORS_ETCD_VERSION/bin"
BUCKETCORS_HELM_BIN="$BUCKETCORS_CACHE/helm-$BUCKETCORS_HELM_VERSION/bin"

export BUCKETCORS_K8S_VERSION BUCKETCORS_ETCD_VERSION BUCKETCORS_HELM_VERSION \
  BUCKETCORS_CACHE BUCKETCORS_K8S_BIN BUCKETCORS_ETCD_BIN BUCKETCORS_HELM_BIN

# Prepend the cached bin dirs to PATH, once each.
for _bucketcors_dir in "$BUCKETCORS_HELM_BIN" "$BUCKETCORS_ETCD_BIN" "$BUCKETCORS_K8S_BIN"; do
  case ":${PATH:-}:" in
    *":$_bucketcors_dir:"*) ;;
    *) PATH="$_bucketcors_dir${PATH:+:$PATH}" ;;
  esac
done
unset _bucketcors_dir
export PATH
