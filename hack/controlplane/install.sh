#!/usr/bin/env bash
# Builds the binaries of a local Kubernetes control plane from the Go module
# proxy and caches them outside the repository:
#
#   kube-apiserver, kube-controller-manager, kubectl  -> $BUCKETCORS_K8S_BIN
#   etcd                                               -> $BUCKETCORS_ETCD_BIN
#   helm                                               -> $BUCKETCORS_HELM_BIN
#
# (see env.sh for versions and paths). Idempotent: a binary that exists and
# reports the expected version is not rebuilt. Concurrent runs wait for each
# other (flock on $BUCKETCORS_CACHE/.controlplane-install.lock). Go's module and build caches
# stay at their defaults, so a rebuild after a version bump is incremental.
#
# Usage: hack/controlplane/install.sh
# Progress goes to stderr; the bin dirs are printed on stdout at the end.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/env.sh
source "$HERE/env.sh"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH (Go >= 1.26 is needed)"

export CGO_ENABLED=0
SRC_ROOT="$BUCKETCORS_CACHE/src"
mkdir -p "$BUCKETCORS_K8S_BIN" "$BUCKETCORS_ETCD_BIN" "$BUCKETCORS_HELM_BIN" "$SRC_ROOT"

# One install at a time per cache: concurrent runs would build into the same
# .partial files and wrapper modules. The lock is held until this script (and
# any go build it started) exits.
LOCK="$BUCKETCORS_CACHE/.controlplane-install.lock"
command -v flock >/dev/null 2>&1 || die "flock is not on PATH (util-linux)"
exec 9>"$LOCK"
if ! flock -n 9; then
  log "another hack/controlplane/install.sh is running (lock $LOCK); waiting for it to finish"
  flock 9
  log "got the lock"
fi

# --- helpers -----------------------------------------------------------------

# have_binary PATH EXPECTED CMD_ARGS...: PATH exists, runs, and its version
# output contains EXPECTED.
have_binary() {
  local path="$1" expected="$2" out
  shift 2
  [[ -x "$path" ]] || return 1
  out="$(timeout 30 "$path" "$@" 2>&1)" || return 1
  [[ "$out" == *"$expected"* ]]
}

# json_field FIELD: reads `go ... -json` output on stdin, prints a string field.
json_field() {
  sed -n "s/^[[:space:]]*\"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" | head -n 1
}

# module_download MODULE@VERSION FIELD: downloads a module through the proxy
# and prints FIELD (GoMod, Dir, Info, ...) of `go mod download -json`.
module_download() {
  local out value
  if ! out="$(cd "$SRC_ROOT" && go mod download -json "$1" 2>&1)"; then
    die "go mod download $1 failed: $out"
  fi
  value="$(printf '%s\n' "$out" | json_field "$2")"
  [[ -n "$value" ]] || die "go mod download -json $1 gave no $2: $out"
  printf '%s\n' "$value"
}

# write_if_changed FILE: stdin -> FILE, only when the content differs.
# Returns 0 when FILE was (re)written.
write_if_changed() {
  local file="$1" tmp
  tmp="$(mktemp "$file.XXXXXX")"
  cat >"$tmp"
  if [[ -f "$file" ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$file"
}

# timed LABEL CMD...: runs CMD and logs how long it took.
timed() {
  local label="$1" start end
  shift
  start=$SECONDS
  "$@"
  end=$SECONDS
  log "$label done in $(( (end - start) / 60 ))m$(( (end - start) % 60 ))s"
}

# go_build WRAPPER_DIR OUT LDFLAGS PACKAGE: builds PACKAGE from inside the
# wrapper module into OUT, atomically (a killed build leaves no binary behind).
go_build() {
  local dir="$1" out="$2" ldflags="$3" pkg="$4"
  (cd "$dir" && go build -mod=mod -trimpath -ldflags "$ldflags" -o "$out.partial" "$pkg")
  mv -f "$out.partial" "$out"
}

TOTAL_START=$SECONDS
BUILT=0

# --- Kubernetes: kube-apiserver, kube-controller-manager, kubectl --------------

K8S_V="$BUCKETCORS_K8S_VERSION"
[[ "$K8S_V" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "BUCKETCORS_K8S_VERSION must look like v1.37.2, got $K8S_V"
K8S_MINOR="${BASH_REMATCH[1]}"
STAGING_V="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

declare -A K8S_PKG=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
)
K8S_ORDER=(kube-apiserver kube-controller-manager kubectl)

k8s_ok() {
  case "$1" in
    kubectl) have_binary "$BUCKETCORS_K8S_BIN/kubectl" "Client Version: $K8S_V" version --client ;;
    *) have_binary "$BUCKETCORS_K8S_BIN/$1" "Kubernetes $K8S_V" --version ;;
  esac
}

K8S_TODO=()
for b in "${K8S_ORDER[@]}"; do
  if k8s_ok "$b"; then
    log "$b $K8S_V already built ($BUCKETCORS_K8S_BIN/$b)"
  else
    K8S_TODO+=("$b")
  fi
done

if ((${#K8S_TODO[@]})); then
  log "resolving k8s.io/kubernetes@$K8S_V from the Go module proxy"
  info_file="$(module_download "k8s.io/kubernetes@$K8S_V" Info)"
  release_gomod="$(module_download "k8s.io/kubernetes@$K8S_V" GoMod)"

  # Staging modules: every `k8s.io/<x> => ./staging/...` replace of the
  # release's own go.mod (block or single-line form).
  mapfile -t staging < <(
    sed -n -E 's#^[[:space:]]*(replace[[:space:]]+)?(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\2#p' "$release_gomod" | sort -u
  )
  ((${#staging[@]} > 0)) || die "found no staging replace directives in $release_gomod"
  go_line="$(grep -m1 -E '^go [0-9]' "$release_gomod" || true)"
  [[ -n "$go_line" ]] || die "no go directive in $release_gomod"
  log "k8s.io/kubernetes $K8S_V: ${#staging[@]} staging modules, pinned to $STAGING_V"

  K8S_WRAP="$SRC_ROOT/k8s-$K8S_V"
  mkdir -p "$K8S_WRAP"
  if {
    echo "// Generated by hack/controlplane/install.sh; builds Kubernetes binaries from the module proxy."
    echo "module bucketcors.local/controlplane/k8s"
    echo
    echo "$go_line"
    echo
    # godebug settings of the release (single-line and block form).
    sed -n -E '/^godebug[[:space:]]*\(/,/^\)/p; /^godebug[[:space:]]+[^(]/p' "$release_gomod"
    echo
    echo "require k8s.io/kubernetes $K8S_V"
    echo
    echo "replace ("
    for m in "${staging[@]}"; do
      printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_V"
    done
    echo ")"
  } | write_if_changed "$K8S_WRAP/go.mod"; then
    rm -f "$K8S_WRAP/go.sum"
  fi

  build_date="$(json_field Time <"$info_file")"
  [[ -n "$build_date" ]] || build_date="1970-01-01T00:00:00Z"
  K8S_LDFLAGS="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    K8S_LDFLAGS+=" -X $p.gitVersion=$K8S_V -X $p.gitMajor=1 -X $p.gitMinor=$K8S_MINOR"
    K8S_LDFLAGS+=" -X $p.gitCommit= -X $p.gitTreeState=archive -X $p.buildDate=$build_date"
  done

  pkgs=()
  for b in "${K8S_TODO[@]}"; do pkgs+=("${K8S_PKG[$b]}"); done
  log "downloading the module graph for ${K8S_TODO[*]} (first run fetches a few hundred MB)"
  # shellcheck disable=SC2016 # expanded by the inner bash
  timed "module download" bash -c 'cd "$1" && shift && go list -mod=mod -deps "$@" >/dev/null' _ "$K8S_WRAP" "${pkgs[@]}"

  for b in "${K8S_TODO[@]}"; do
    log "building $b $K8S_V (first build takes several minutes)"
    timed "$b" go_build "$K8S_WRAP" "$BUCKETCORS_K8S_BIN/$b" "$K8S_LDFLAGS" "${K8S_PKG[$b]}"
    k8s_ok "$b" || die "$BUCKETCORS_K8S_BIN/$b was built but does not report $K8S_V"
    BUILT=$((BUILT + 1))
  done
fi

# --- etcd ----------------------------------------------------------------------

ETCD_V="$BUCKETCORS_ETCD_VERSION"
if have_binary "$BUCKETCORS_ETCD_BIN/etcd" "etcd Version: ${ETCD_V#v}" --version; then
  log "etcd $ETCD_V already built ($BUCKETCORS_ETCD_BIN/etcd)"
else
  log "resolving go.etcd.io/etcd/server/v3@$ETCD_V from the Go module proxy"
  etcd_gomod="$(module_download "go.etcd.io/etcd/server/v3@$ETCD_V" GoMod)"
  go_line="$(grep -m1 -E '^go [0-9]' "$etcd_gomod" || true)"
  [[ -n "$go_line" ]] || die "no go directive in $etcd_gomod"
  # etcd's own go.mod replaces its sibling modules with ../ paths, so
  # `go install go.etcd.io/etcd/server/v3@...` refuses it; a wrapper module
  # that requires the server resolves the siblings at the same tag instead.
  ETCD_WRAP="$SRC_ROOT/etcd-$ETCD_V"
  mkdir -p "$ETCD_WRAP"
  if {
    echo "// Generated by hack/controlplane/install.sh; builds etcd from the module proxy."
    echo "module bucketcors.local/controlplane/etcd"
    echo
    echo "$go_line"
    echo
    sed -n -E '/^godebug[[:space:]]*\(/,/^\)/p; /^godebug[[:space:]]+[^(]/p' "$etcd_gomod"
    echo
    echo "require go.etcd.io/etcd/server/v3 $ETCD_V"
  } | write_if_changed "$ETCD_WRAP/go.mod"; then
    rm -f "$ETCD_WRAP/go.sum"
  fi
  log "building etcd $ETCD_V (takes a minute or two)"
  timed "etcd" go_build "$ETCD_WRAP" "$BUCKETCORS_ETCD_BIN/etcd" "-s -w" go.etcd.io/etcd/server/v3
  have_binary "$BUCKETCORS_ETCD_BIN/etcd" "etcd Version: ${ETCD_V#v}" --version ||
    die "$BUCKETCORS_ETCD_BIN/etcd was built but does not report $ETCD_V"
  BUILT=$((BUILT + 1))
fi

# --- helm ----------------------------------------------------------------------

HELM_V="$BUCKETCORS_HELM_VERSION"
if have_binary "$BUCKETCORS_HELM_BIN/helm" "$HELM_V" version --short; then
  log "helm $HELM_V already built ($BUCKETCORS_HELM_BIN/helm)"
else
  helm_gomod="$(module_download "helm.sh/helm/v3@$HELM_V" GoMod)"
  # helm's default capabilities follow the client-go minor it was built with,
  # as its Makefile does.
  helm_k8s_minor="$(sed -n -E 's#^[[:space:]]*k8s\.io/client-go v0\.([0-9]+)\..*#\1#p' "$helm_gomod" | head -n 1)"
  HELM_LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_V"
  if [[ -n "$helm_k8s_minor" ]]; then
    for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
      HELM_LDFLAGS+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$helm_k8s_minor"
    done
  fi
  log "building helm $HELM_V (takes a few minutes the first time)"
  gobin_tmp="$(mktemp -d "$BUCKETCORS_HELM_BIN/.gobin.XXXXXX")"
  timed "helm" env GOBIN="$gobin_tmp" go install -trimpath -ldflags "$HELM_LDFLAGS" "helm.sh/helm/v3/cmd/helm@$HELM_V"
  mv -f "$gobin_tmp/helm" "$BUCKETCORS_HELM_BIN/helm"
  rmdir "$gobin_tmp"
  have_binary "$BUCKETCORS_HELM_BIN/helm" "$HELM_V" version --short ||
    die "$BUCKETCORS_HELM_BIN/helm was built but does not report $HELM_V"
  BUILT=$((BUILT + 1))
fi

elapsed=$((SECONDS - TOTAL_START))
log "control plane binaries ready ($BUILT built) in $((elapsed / 60))m$((elapsed % 60))s"
log "  kube-apiserver, kube-controller-manager, kubectl $K8S_V: $BUCKETCORS_K8S_BIN"
log "  etcd $ETCD_V: $BUCKETCORS_ETCD_BIN"
log "  helm $HELM_V: $BUCKETCORS_HELM_BIN"
log "use them with: source $HERE/env.sh"
printf '%s\n' "$BUCKETCORS_K8S_BIN" "$BUCKETCORS_ETCD_BIN" "$BUCKETCORS_HELM_BIN"
