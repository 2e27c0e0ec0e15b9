#!/usr/bin/env bash
# Writes a kubeconfig that authenticates as a ServiceAccount (a bound token from
# `kubectl create token`), against the cluster of the current KUBECONFIG. Used to run the
# controller, or kubectl, with exactly the chart's RBAC.
#
#   hack/sa-kubeconfig.sh NAMESPACE SERVICEACCOUNT OUT [DURATION]   # DURATION default 1h
set -euo pipefail

(($# >= 3)) || { echo "usage: $0 NAMESPACE SERVICEACCOUNT OUT [DURATION]" >&2; exit 2; }
ns="$1" sa="$2" out="$3" duration="${4:-1h}"

server="$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
ca="$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
if [[ -z "$ca" ]]; then
  ca_file="$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')"
  [[ -n "$ca_file" ]] || { echo "$0: the current kubeconfig has no cluster CA" >&2; exit 1; }
  ca="$(base64 -w0 <"$ca_file")"
fi
token="$(kubectl -n "$ns" create token "$sa" --duration="$duration")"

umask 077
cat >"$out" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: cluster
    cluster:
      server: $server
      certificate-authority-data: $ca
users:
  - name: $sa
    user:
      token: $token
contexts:
  - name: $sa@cluster
    context:
      cluster: cluster
      user: $sa
      namespace: $ns
current-context: $sa@cluster
KUBECONFIG
