#!/usr/bin/env bash
# Tests the Helm chart: lint, rendering with default and non-default values, schema rejections,
# the generated README and manifest being fresh, the Flux example hanging together, and, against a real API server (KUBECONFIG):
# helm install/upgrade/uninstall, server-side dry runs, Pod Security admission, and RBAC checked
# with impersonation of the chart's ServiceAccount (every needed permission granted, every
# ClusterRole rule needed, nothing else granted).
#
#   hack/controlplane/with-controlplane.sh hack/test-chart.sh
#
# BUCKETCORS_SKIP_CONTROLPLANE_TESTS=1 skips the API-server part (reported as skipped); without
# it an unreachable API server is a failure. Prints `N passed, M failed` and exits 1 on failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
CHART="$ROOT/charts/bucketcors"
# shellcheck source=SCRIPTDIR/controlplane/env.sh
source "$HERE/controlplane/env.sh"

passed=0
failed=0
failures=()
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bucketcors-chart-test.XXXXXX")"
CLEANUP=()
cleanup() {
  local c
  for c in "${CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
fail() {
  failed=$((failed + 1)); failures+=("$1"); printf 'FAIL  %s\n' "$1"
  [[ -s "$WORK/out" ]] && sed 's/^/      /' "$WORK/out" | head -n 20
  return 0
}
# check NAME CMD...: CMD must succeed.
check() {
  local name="$1"; shift
  if "$@" >"$WORK/out" 2>&1; then pass "$name"; else fail "$name"; fi
}
# reject NAME PATTERN CMD...: CMD must fail, with PATTERN (grep -E) in its output.
reject() {
  local name="$1" pattern="$2"; shift 2
  if "$@" >"$WORK/out" 2>&1; then
    fail "$name (was accepted)"
  elif grep -Eq -- "$pattern" "$WORK/out"; then
    pass "$name"
  else
    fail "$name (failed without matching /$pattern/)"
  fi
}

need() { command -v "$1" >/dev/null 2>&1 || { echo "test-chart.sh: $1 not on PATH (run hack/controlplane/install.sh)" >&2; exit 1; }; }
need helm
need kubectl
python3 -c 'import yaml' 2>/dev/null || { echo "test-chart.sh: python3 with PyYAML is needed" >&2; exit 1; }

FULL="$HERE/chart-values/full.yaml"
render() { helm template "$@"; }
render_to() { local out="$1"; shift; helm template "$@" >"$out"; }

echo "== offline: lint, render, schema"
check "helm lint (default values)" helm lint --strict "$CHART"
check "helm lint (non-default values)" helm lint --strict "$CHART" -f "$FULL"
check "render default values" render_to "$WORK/default.yaml" bucketcors "$CHART" -n bucketcors-system
check "default rendering: restricted security, probes, cluster-wide RBAC, no extras" \
  python3 "$HERE/chart-assert.py" default "$WORK/default.yaml"
check "render non-default values" render_to "$WORK/full.yaml" bc "$CHART" -n bucketcors-system -f "$FULL"
check "non-default rendering: namespaced RBAC, secrets and Lease Roles, monitor, netpol, PDB" \
  python3 "$HERE/chart-assert.py" full "$WORK/full.yaml" namespace=bucketcors-system watch=team-a \
  secrets=bucketcors-system,shared-secrets
check "render rbac.secretNamespaces without watchNamespace" render_to "$WORK/secrets.yaml" bc "$CHART" \
  --set 'rbac.secretNamespaces={ns-a,ns-b}'
check "secretNamespaces rendering: Secrets only through Roles" \
  python3 "$HERE/chart-assert.py" secret-namespaces "$WORK/secrets.yaml" secrets=ns-a,ns-b
check "render rbac.create=false" render_to "$WORK/norbac.yaml" bc "$CHART" --set rbac.create=false
check "rbac.create=false renders no RBAC" python3 "$HERE/chart-assert.py" norbac "$WORK/norbac.yaml"
check "render an existing ServiceAccount" render_to "$WORK/sa.yaml" bc "$CHART" \
  --set serviceAccount.create=false --set serviceAccount.name=ops-sa
check "existing ServiceAccount is used, not created" python3 "$HERE/chart-assert.py" existing-sa "$WORK/sa.yaml" name=ops-sa
check "replicaCount=0 renders" render bc "$CHART" --set replicaCount=0
check "PDB with minAvailable percentage renders" render bc "$CHART" --set podDisruptionBudget.enabled=true \
  --set-string podDisruptionBudget.minAvailable=50%

printf 'replicaCount: 1.5\n' >"$WORK/float.yaml"
printf 'resources: {requests: {cpu: 1}, limit: {}}\n' >"$WORK/typo.yaml"
reject "schema: replicaCount -1" "replicaCount.*minimum" render x "$CHART" --set replicaCount=-1
reject "schema: replicaCount 1.5" "replicaCount" render x "$CHART" -f "$WORK/float.yaml"
reject "schema: replicaCount string" "replicaCount.*want integer" render x "$CHART" --set-string replicaCount=1
reject "schema: defaultEndpoint.checksum enum" "checksum.*must be one of" render x "$CHART" --set defaultEndpoint.checksum=MD5
reject "schema: logFormat enum" "logFormat.*must be one of" render x "$CHART" --set logFormat=xml
reject "schema: concurrency 0" "concurrency.*minimum" render x "$CHART" --set concurrency=0
reject "schema: cleanupTimeout without a unit" "cleanupTimeout.*does not match" render x "$CHART" --set-string cleanupTimeout=3600
reject "schema: privileged metrics port" "port.*minimum" render x "$CHART" --set metrics.port=80
reject "schema: unknown top-level key" "additional properties 'watchNamespaces'" render x "$CHART" --set watchNamespaces=a
reject "schema: typo inside resources" "additional properties 'limit'" render x "$CHART" -f "$WORK/typo.yaml"
reject "schema: invalid namespace name" "watchNamespace" render x "$CHART" --set watchNamespace=Team_A
reject "schema: defaultEndpoint.url without scheme" "url.*does not match" render x "$CHART" \
  --set defaultEndpoint.url=s3.example.com
reject "schema: image digest format" "digest" render x "$CHART" --set image.digest=latest
reject "schema: leaderElection.enabled not a bool" "enabled.*want boolean" render x "$CHART" \
  --set-string leaderElection.enabled=yes
reject "template: replicaCount 2 without leader election" "needs leaderElection" render x "$CHART" --set replicaCount=2
reject "template: serviceAccount.create=false needs a name" "serviceAccount.name is required" render x "$CHART" \
  --set serviceAccount.create=false
reject "template: ServiceMonitor needs the Service" "needs metrics.service.enabled" render x "$CHART" \
  --set metrics.serviceMonitor.enabled=true --set metrics.service.enabled=false

echo "== offline: generated files are fresh"
check "chart README values table is fresh (hack/chart-readme.py --check)" python3 "$HERE/chart-readme.py" --check
cp -r "$CHART" "$WORK/stale-chart"
sed -i 's/^# -- Log filter/# -- The log filter/' "$WORK/stale-chart/values.yaml"
reject "chart-readme.py --check notices a stale README" "stale" python3 "$HERE/chart-readme.py" --check --chart "$WORK/stale-chart"
printf 'undocumented: 1\n' >>"$WORK/stale-chart/values.yaml"
reject "chart-readme.py refuses an undocumented value" "undocumented" python3 "$HERE/chart-readme.py" --chart "$WORK/stale-chart"
crds_identical() {
  local f
  for f in "$ROOT"/crds/*.yaml; do cmp "$f" "$CHART/crds/$(basename "$f")" || return 1; done
  [[ "$(find "$ROOT/crds" -name "*.yaml" | wc -l)" == "$(find "$CHART/crds" -name "*.yaml" | wc -l)" ]]
}
check "chart crds/ are byte copies of crds/" crds_identical
manifest_fresh() { "$HERE/render-manifest.sh" | diff -u "$ROOT/deploy/bucketcors.yaml" -; }
check "deploy/bucketcors.yaml is fresh (make manifests)" manifest_fresh

echo "== offline: Flux example (deploy/flux)"
check "Flux example: dependsOn, sourceRefs, chart path and health checks resolve (hack/flux-check.py)" \
  python3 "$HERE/flux-check.py" "$ROOT/deploy/flux" "$WORK/flux-values.json"
check "Flux example: the HelmRelease's values render the chart" \
  render_to "$WORK/flux-release.yaml" bucketcors "$CHART" -n bucketcors-system -f "$WORK/flux-values.json"
cp -r "$ROOT/deploy/flux" "$WORK/flux-broken"
sed -i 's/- name: bucketcors-controller$/- name: bucketcors-operator/' "$WORK/flux-broken/kustomizations.yaml"
reject "flux-check.py notices a dependsOn naming no Kustomization" "dependsOn .* is not a Kustomization" \
  python3 "$HERE/flux-check.py" "$WORK/flux-broken"

# ---------------------------------------------------------------------------------------------
echo "== API server"
if [[ "${BUCKETCORS_SKIP_CONTROLPLANE_TESTS:-}" == 1 ]]; then
  echo "skipped: BUCKETCORS_SKIP_CONTROLPLANE_TESTS=1"
elif ! kubectl get --raw=/readyz --request-timeout=5s >"$WORK/out" 2>&1; then
  fail "API server reachable through KUBECONFIG=${KUBECONFIG:-<unset>} (run under hack/controlplane/with-controlplane.sh, or set BUCKETCORS_SKIP_CONTROLPLANE_TESTS=1)"
else
  suffix="$(printf '%04x' $((RANDOM)))"
  NS="bcchart-$suffix"          # release namespace
  NSA="bcchart-$suffix-a"       # watched namespace of the namespaced release
  NSB="bcchart-$suffix-b"       # extra Secret namespace of the namespaced release
  NSX="bcchart-$suffix-x"       # a namespace nobody was granted
  REL="bucketcors-$suffix"      # release (and ServiceAccount) of the cluster-wide install
  RELN="bucketcors-$suffix-ns"  # release of the namespaced install
  SA="system:serviceaccount:$NS:$REL"
  SAN="system:serviceaccount:$NS:$RELN"
  CLEANUP+=("helm uninstall $REL -n $NS --wait=false" "helm uninstall $RELN -n $NS --wait=false"
    "kubectl delete ns $NS $NSA $NSB $NSX --wait=false"
    "kubectl delete clusterrole,clusterrolebinding -l bucketcors-test=$suffix --wait=false")

  check "create test namespaces" kubectl create ns "$NS"
  kubectl create ns "$NSA" >/dev/null && kubectl create ns "$NSB" >/dev/null && kubectl create ns "$NSX" >/dev/null
  kubectl label ns "$NS" pod-security.kubernetes.io/enforce=restricted >/dev/null

  check "helm install (default values)" helm install "$REL" "$CHART" -n "$NS"
  check "helm reports the release deployed" bash -c "helm status $REL -n $NS | grep -q 'STATUS: deployed'"
  check "CRDs are established" kubectl wait --for=condition=Established --timeout=30s \
    crd/bucketcorspolicies.bucketcors.dev crd/s3endpoints.bucketcors.dev crd/clusters3endpoints.bucketcors.dev
  check "Deployment, ServiceAccount, Service exist" kubectl -n "$NS" get "deploy/$REL" "sa/$REL" "svc/$REL-metrics"
  check "helm upgrade with leader election and 2 replicas" helm upgrade "$REL" "$CHART" -n "$NS" \
    --set leaderElection.enabled=true --set replicaCount=2 --set podDisruptionBudget.enabled=true
  check "upgrade added the Lease Role and the PDB" kubectl -n "$NS" get "role/$REL-leader-election" "pdb/$REL"
  check "helm upgrade back to defaults" helm upgrade "$REL" "$CHART" -n "$NS" --reset-values
  reject "defaults again: Lease Role removed" "NotFound" kubectl -n "$NS" get "role/$REL-leader-election"

  # Pod Security admission (restricted) judges the pod the Deployment would create.
  helm get manifest "$REL" -n "$NS" >"$WORK/installed.yaml"
  python3 "$HERE/chart-assert.py" pod "$WORK/installed.yaml" "$NS" >"$WORK/pod.json"
  check "pod template passes restricted Pod Security admission (dry run)" \
    kubectl apply --dry-run=server -f "$WORK/pod.json"
  python3 "$HERE/chart-assert.py" pod "$WORK/installed.yaml" "$NS" drop-hardening >"$WORK/pod-weak.json"
  reject "restricted admission rejects the pod without allowPrivilegeEscalation=false" \
    "violates PodSecurity" kubectl apply --dry-run=server -f "$WORK/pod-weak.json"

  render_to "$WORK/full-cluster.yaml" "$RELN" "$CHART" -n "$NS" -f "$FULL" --set watchNamespace="$NSA" \
    --set "rbac.secretNamespaces={$NS,$NSB}" --set metrics.serviceMonitor.enabled=false
  check "non-default rendering accepted by server-side dry run" \
    kubectl apply --dry-run=server -f "$WORK/full-cluster.yaml"
  if kubectl api-resources --api-group=monitoring.coreos.com 2>/dev/null | grep -q ServiceMonitor; then
    render_to "$WORK/sm.yaml" "$RELN" "$CHART" -n "$NS" -f "$FULL" --show-only templates/servicemonitor.yaml
    check "ServiceMonitor accepted by server-side dry run" kubectl apply --dry-run=server -f "$WORK/sm.yaml"
  else
    echo "note  ServiceMonitor not dry-run: no monitoring.coreos.com CRDs on this API server"
  fi
  check "helm install (non-default values, namespaced RBAC)" helm install "$RELN" "$CHART" -n "$NS" -f "$FULL" \
    --set watchNamespace="$NSA" --set "rbac.secretNamespaces={$NS,$NSB}" --set metrics.serviceMonitor.enabled=false
  "$HERE/render-manifest.sh" "$NS-manifest" >"$WORK/manifest.yaml"
  kubectl create ns "$NS-manifest" >/dev/null 2>&1 && CLEANUP+=("kubectl delete ns $NS-manifest --wait=false")
  check "rendered plain manifest accepted by server-side dry run" \
    kubectl apply --server-side --force-conflicts --dry-run=server -f "$WORK/manifest.yaml"

  # The documented examples are valid objects (schema and CEL rules of the CRDs).
  for f in "$ROOT"/deploy/examples/*.yaml; do
    check "example $(basename "$f") accepted by server-side dry run" \
      kubectl apply --dry-run=server -n "$NS" -f "$f"
  done

  # -- RBAC: what the controller calls (src/controller.rs), as `kubectl auth can-i` args.
  # tests/chart_rbac.rs proves with the real controller that each of these is needed.
  NEEDED_CLUSTER=(
    "get bucketcorspolicies.bucketcors.dev -A" "list bucketcorspolicies.bucketcors.dev -A"
    "watch bucketcorspolicies.bucketcors.dev -A" "patch bucketcorspolicies.bucketcors.dev -A"
    "patch bucketcorspolicies.bucketcors.dev --subresource=status -A"
    "list s3endpoints.bucketcors.dev -A" "watch s3endpoints.bucketcors.dev -A"
    "list clusters3endpoints.bucketcors.dev" "watch clusters3endpoints.bucketcors.dev"
    "get secrets -A" "list secrets -A" "watch secrets -A"
    "create events.events.k8s.io -A" "patch events.events.k8s.io -A"
    "get namespaces"
  )
  # What it must not be able to do.
  DENIED_CLUSTER=(
    "create bucketcorspolicies.bucketcors.dev -A" "delete bucketcorspolicies.bucketcors.dev -A"
    "update bucketcorspolicies.bucketcors.dev --subresource=status -A"
    "create secrets -A" "update secrets -A" "delete secrets -A" "list configmaps -A"
    "patch clusters3endpoints.bucketcors.dev" "delete s3endpoints.bucketcors.dev -A"
    "create events -A" "update namespaces" "create leases.coordination.k8s.io -n $NS"
    "update bucketcorspolicies.bucketcors.dev -A" "list namespaces" "watch namespaces"
    "update bucketcorspolicies.bucketcors.dev --subresource=finalizers -A"
    "list pods -A" "create pods -n $NS" "impersonate serviceaccounts -A" "* * -A"
  )
  # can AS ARGS: exit 0 when allowed (kubectl auth can-i prints yes/no and exits 0/1).
  can() { local as="$1"; shift; local args; read -ra args <<<"$*"; kubectl auth can-i "${args[@]}" --as="$as" >/dev/null 2>&1; }
  # RBAC bindings reach the authorizer through an informer: wait until ARGS is allowed.
  wait_can() { local as="$1" i; shift; for i in $(seq 1 50); do can "$as" "$@" && return 0; sleep 0.2; done; return 1; }
  all_allowed() { local as="$1" c bad=(); shift; for c in "$@"; do can "$as" "$c" || bad+=("$c"); done
    ((${#bad[@]} == 0)) || { printf 'denied: %s\n' "${bad[@]}"; return 1; }; }
  all_denied() { local as="$1" c bad=(); shift; for c in "$@"; do can "$as" "$c" && bad+=("$c"); done
    ((${#bad[@]} == 0)) || { printf 'allowed: %s\n' "${bad[@]}"; return 1; }; }

  wait_can "$SA" "get namespaces" || true
  check "RBAC (default): the chart's ServiceAccount can do all the controller needs" all_allowed "$SA" "${NEEDED_CLUSTER[@]}"
  check "RBAC (default): and nothing more (denied checks)" all_denied "$SA" "${DENIED_CLUSTER[@]}"

  # Every ClusterRole rule is needed: drop one rule at a time, bind the rest to a fresh
  # ServiceAccount, and some needed check must fail.
  kubectl get clusterrole "$REL" -o json >"$WORK/clusterrole.json"
  nrules="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["rules"]))' "$WORK/clusterrole.json")"
  for ((i = 0; i < nrules; i++)); do
    name="$REL-minus-$i"
    python3 - "$WORK/clusterrole.json" "$i" "$name" "$suffix" "$NS" >"$WORK/minus.json" <<'PY'
import json, sys
src, i, name, suffix, ns = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rules = json.load(open(src))["rules"]
rules.pop(i)
meta = {"name": name, "labels": {"bucketcors-test": suffix}}
items = [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta,
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
     "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]},
]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
    dropped="$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["rules"][int(sys.argv[2])]; print(",".join(r["resources"]))' "$WORK/clusterrole.json" "$i")"
    kubectl apply -f "$WORK/minus.json" >/dev/null
    as="system:serviceaccount:$NS:$name"
    # Proof the binding is live: the check of another rule passes (some rule besides i exists).
    other="$(python3 - "$WORK/clusterrole.json" "$i" <<'PY'
import json, sys
rules = json.load(open(sys.argv[1]))["rules"]
r = [r for j, r in enumerate(rules) if j != int(sys.argv[2])][0]
group = r["apiGroups"][0]
res = r["resources"][0]
base, _, sub = res.partition("/")
name = f"{base}.{group}" if group else base
print(f"{r['verbs'][0]} {name}" + (f" --subresource={sub}" if sub else "") + " -A")
PY
)"
    some_needed_denied() {
      wait_can "$as" "$other" || { echo "binding of $as never became active ($other)"; return 1; }
      ! all_allowed "$as" "${NEEDED_CLUSTER[@]}" >/dev/null
    }
    check "RBAC: ClusterRole rule $i ($dropped) is needed" some_needed_denied
  done

  # Namespaced release: policies only in NSA, Secrets only in NSA, NS, NSB, Leases only in NS.
  wait_can "$SAN" "list bucketcorspolicies.bucketcors.dev -n $NSA" || true
  NEEDED_NS=(
    "get bucketcorspolicies.bucketcors.dev -n $NSA" "list bucketcorspolicies.bucketcors.dev -n $NSA"
    "watch bucketcorspolicies.bucketcors.dev -n $NSA" "patch bucketcorspolicies.bucketcors.dev -n $NSA"
    "patch bucketcorspolicies.bucketcors.dev --subresource=status -n $NSA"
    "list s3endpoints.bucketcors.dev -n $NSA" "watch s3endpoints.bucketcors.dev -n $NSA"
    "create events.events.k8s.io -n $NSA" "patch events.events.k8s.io -n $NSA"
    "list clusters3endpoints.bucketcors.dev" "watch clusters3endpoints.bucketcors.dev"
    "get namespaces"
    "list secrets -n $NSA" "watch secrets -n $NSA" "get secrets -n $NS" "list secrets -n $NSB"
    "get leases.coordination.k8s.io/bucketcors-leader -n $NS" "create leases.coordination.k8s.io -n $NS"
    "update leases.coordination.k8s.io/bucketcors-leader -n $NS"
  )
  DENIED_NS=(
    "list bucketcorspolicies.bucketcors.dev -A" "list bucketcorspolicies.bucketcors.dev -n $NSX"
    "patch bucketcorspolicies.bucketcors.dev --subresource=status -n $NSX"
    "list s3endpoints.bucketcors.dev -n $NSX" "create events.events.k8s.io -n $NSX"
    "list secrets -A" "get secrets -n $NSX" "create leases.coordination.k8s.io -n $NSA"
    "delete leases.coordination.k8s.io -n $NS" "list configmaps -n $NSA"
    "get leases.coordination.k8s.io/other -n $NS" "update leases.coordination.k8s.io/other -n $NS"
    "list namespaces"
  )
  check "RBAC (watchNamespace): everything needed in the watched namespace" all_allowed "$SAN" "${NEEDED_NS[@]}"
  check "RBAC (watchNamespace): nothing outside it" all_denied "$SAN" "${DENIED_NS[@]}"

  # A kubeconfig with the ServiceAccount's own token (for running the controller under it).
  check "kubeconfig from a ServiceAccount token" "$HERE/sa-kubeconfig.sh" "$NS" "$REL" "$WORK/sa.kubeconfig" 10m
  check "token kubeconfig: lists policies in all namespaces" \
    kubectl --kubeconfig "$WORK/sa.kubeconfig" get bucketcorspolicies.bucketcors.dev -A
  reject "token kubeconfig: cannot list configmaps" "[Ff]orbidden" \
    kubectl --kubeconfig "$WORK/sa.kubeconfig" get configmaps -A

  check "helm uninstall" helm uninstall "$REL" -n "$NS"
  check "CRDs survive helm uninstall" kubectl get crd bucketcorspolicies.bucketcors.dev
  reject "uninstall removed the ClusterRole" "NotFound" kubectl get clusterrole "$REL"
fi

echo
echo "$passed passed, $failed failed"
if ((failed)); then
  printf '  failed: %s\n' "${failures[@]}"
  exit 1
fi
