#!/usr/bin/env bash
# Starts a real, local Kubernetes control plane: etcd, kube-apiserver and
# kube-controller-manager, on free 127.0.0.1 ports, with all state in DIR:
#
#   DIR/pki/          CA, apiserver serving cert, client certs, SA key pair
#   DIR/etcd/         etcd data
#   DIR/logs/*.log    one log per process
#   DIR/pids/*.pid    one pid per process (each is a session leader)
#   DIR/ports         the chosen ports (reused on a restart when still free)
#   DIR/kubeconfig    admin (system:masters) client-certificate kubeconfig
#   DIR/env           sourceable: KUBECONFIG, BUCKETCORS_TEST_KUBECONFIG, ...
#
# Then, if <repo>/crds/*.yaml exist, applies them (server-side) and waits for
# them to be Established. The binaries come from install.sh (run on demand).
# Stop with stop.sh DIR. Starting a DIR that is already running is a no-op.
#
# Usage: hack/controlplane/start.sh DIR
# Progress goes to stderr; the last line on stdout is `export KUBECONFIG=...`.
#
# Knobs: BUCKETCORS_CRDS_DIR (default <repo>/crds), BUCKETCORS_SKIP_CRDS=1,
#        BUCKETCORS_READY_TIMEOUT (seconds, default 120),
#        BUCKETCORS_NO_INSTALL=1 (fail instead of building missing binaries),
#        BUCKETCORS_APISERVER_EXTRA_ARGS (extra kube-apiserver flags, split on
#        whitespace, e.g. audit logging for hack/bench).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=SCRIPTDIR/env.sh
source "$HERE/env.sh"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'start.sh: error: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 && -n "$1" ]] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
DIR="$(cd "$1" && pwd)"
READY_TIMEOUT="${BUCKETCORS_READY_TIMEOUT:-120}"
CRDS_DIR="${BUCKETCORS_CRDS_DIR:-$REPO_ROOT/crds}"

PKI="$DIR/pki"
LOGS="$DIR/logs"
PIDS="$DIR/pids"
KUBECONFIG_FILE="$DIR/kubeconfig"
KCM_KUBECONFIG="$DIR/controller-manager.kubeconfig"
COMPONENTS=(etcd kube-apiserver kube-controller-manager)

command -v openssl >/dev/null 2>&1 || die "openssl is needed"

# --- binaries -------------------------------------------------------------------

bins_ok() {
  [[ -x "$BUCKETCORS_K8S_BIN/kube-apiserver" && -x "$BUCKETCORS_K8S_BIN/kube-controller-manager" &&
     -x "$BUCKETCORS_K8S_BIN/kubectl" && -x "$BUCKETCORS_ETCD_BIN/etcd" ]]
}
if ! bins_ok; then
  [[ "${BUCKETCORS_NO_INSTALL:-}" != 1 ]] || die "control plane binaries missing; run $HERE/install.sh"
  log "control plane binaries missing; running install.sh"
  "$HERE/install.sh" >/dev/null
  bins_ok || die "install.sh did not produce the binaries"
fi
KUBECTL="$BUCKETCORS_K8S_BIN/kubectl"

# --- small helpers ----------------------------------------------------------------

# pid_alive NAME: the recorded process of NAME runs and belongs to this DIR.
pid_alive() {
  local f="$PIDS/$1.pid" pid
  [[ -s "$f" ]] || return 1
  pid="$(<"$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/"
}

# free_ports N: prints N distinct currently free TCP ports on 127.0.0.1.
free_ports() {
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
  else
    local n="$1" out=() p
    while ((${#out[@]} < n)); do
      p=$((20000 + RANDOM % 12000))
      [[ " ${out[*]} " == *" $p "* ]] && continue
      port_free "$p" && out+=("$p")
    done
    echo "${out[*]}"
  fi
}

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
  else
    if (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 1; fi
  fi
}

# http_ok URL: GET URL answers 2xx (TLS not verified: only for health probes).
http_ok() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSk --max-time 5 -o /dev/null "$1" 2>/dev/null
  else
    python3 -c 'import ssl,sys,urllib.request
urllib.request.urlopen(sys.argv[1], timeout=5, context=ssl._create_unverified_context())' "$1" >/dev/null 2>&1
  fi
}

# spawn NAME BIN ARGS...: starts BIN detached (own session, no terminal),
# stdout+stderr appended to logs/NAME.log, pid in pids/NAME.pid.
spawn() {
  local name="$1" pidfile="$PIDS/$1.pid" i
  shift
  rm -f "$pidfile"
  printf '\n---- %s starting %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOGS/$name.log"
  # bash -c writes its own pid and then execs BIN, so the recorded pid is BIN's.
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  die "$name did not start (no pid file)"
}

log_tail() {
  local name="$1"
  printf -- '----- last lines of %s -----\n' "$LOGS/$name.log" >&2
  tail -n "${2:-40}" "$LOGS/$name.log" >&2 || true
  printf -- '-----\n' >&2
}

# fail_start MSG NAME...: shows the logs, stops what was started, exits 1.
fail_start() {
  local msg="$1" n
  shift
  printf 'start.sh: error: %s\n' "$msg" >&2
  for n in "$@"; do log_tail "$n"; done
  "$HERE/stop.sh" "$DIR" >&2 || true
  exit 1
}

# wait_for NAME TIMEOUT CHECK...: polls CHECK until it succeeds; returns 1 as
# soon as NAME's process is gone, 2 on timeout.
wait_for() {
  local name="$1" timeout="$2" deadline
  shift 2
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    pid_alive "$name" || return 1
    "$@" && return 0
    sleep 0.5
  done
  return 2
}

# port_conflict NAME: NAME's log says a port was taken.
port_conflict() { tail -n 30 "$LOGS/$1.log" 2>/dev/null | grep -qi 'address already in use'; }

# --- already running? -------------------------------------------------------------

mkdir -p "$PKI" "$LOGS" "$PIDS" "$DIR/etcd" "$DIR/controller-manager"
chmod 700 "$DIR" "$PKI" "$DIR/etcd"

alive=0
for c in "${COMPONENTS[@]}"; do pid_alive "$c" && alive=$((alive + 1)); done
if ((alive == ${#COMPONENTS[@]})) && [[ -f "$KUBECONFIG_FILE" ]] &&
   "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" get --raw=/readyz --request-timeout=5s >/dev/null 2>&1; then
  log "control plane in $DIR is already running"
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
  exit 0
fi
if ((alive > 0)); then
  log "control plane in $DIR is partly running; restarting it"
  "$HERE/stop.sh" "$DIR" >&2
fi

# --- certificates -------------------------------------------------------------------

gen_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# sign_cert NAME SUBJECT EXTENSIONS: key + cert signed by the CA.
sign_cert() {
  local name="$1" subj="$2" ext="$3"
  gen_key "$PKI/$name.key"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 365 -sha256 \
    -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

if [[ ! -s "$PKI/ca.crt" || ! -s "$PKI/admin.crt" || ! -s "$PKI/apiserver.crt" ||
      ! -s "$PKI/controller-manager.crt" || ! -s "$PKI/sa.pub" ]]; then
  log "generating certificates in $PKI"
  gen_key "$PKI/ca.key"
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=bucketcors-local-ca" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/ca.crt" 2>/dev/null
  common="basicConstraints=critical,CA:FALSE
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer"
  sign_cert apiserver "/CN=kube-apiserver" "$common
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  client_ext="$common
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  sign_cert admin "/O=system:masters/CN=admin" "$client_ext"
  sign_cert controller-manager "/O=system:masters/CN=system:kube-controller-manager" "$client_ext"
  gen_key "$PKI/sa.key"
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi

# --- ports ------------------------------------------------------------------------------

ETCD_PORT="" ETCD_PEER_PORT="" APISERVER_PORT="" KCM_PORT=""
if [[ -f "$DIR/ports" ]]; then
  # shellcheck source=/dev/null
  source "$DIR/ports"
fi
save_ports() {
  printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\nKCM_PORT=%s\n' \
    "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$KCM_PORT" >"$DIR/ports"
}
# The previous ports are kept when still free (etcd remembers its peer URL).
pick() {
  local var="$1" cur="${!1:-}"
  if [[ -n "$cur" ]] && port_free "$cur"; then return 0; fi
  printf -v "$var" '%s' "$(free_ports 1)"
}

write_kubeconfig() {
  local file="$1" user="$2" ca crt key
  ca="$(base64 -w0 <"$PKI/ca.crt")"
  crt="$(base64 -w0 <"$PKI/$user.crt")"
  key="$(base64 -w0 <"$PKI/$user.key")"
  (umask 077 && cat >"$file") <<EOF
apiVersion: v1
kind: Config
clusters:
- name: bucketcors-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: $user
  user:
    client-certificate-data: $crt
    client-key-data: $key
contexts:
- name: bucketcors-local
  context:
    cluster: bucketcors-local
    user: $user
    namespace: default
current-context: bucketcors-local
preferences: {}
EOF
}

# --- etcd -------------------------------------------------------------------------------

start_etcd() {
  spawn etcd "$BUCKETCORS_ETCD_BIN/etcd" \
    --name=bucketcors \
    --data-dir="$DIR/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="bucketcors=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state=new \
    --unsafe-no-fsync=true \
    --log-level=warn
}

for attempt in 1 2 3; do
  pick ETCD_PORT
  pick ETCD_PEER_PORT
  [[ "$ETCD_PORT" != "$ETCD_PEER_PORT" ]] || ETCD_PEER_PORT="$(free_ports 2 | cut -d' ' -f2)"
  save_ports
  log "starting etcd $BUCKETCORS_ETCD_VERSION on 127.0.0.1:$ETCD_PORT"
  start_etcd
  rc=0
  wait_for etcd 60 http_ok "http://127.0.0.1:$ETCD_PORT/health" || rc=$?
  ((rc == 0)) && break
  if ((rc == 1)) && port_conflict etcd && ((attempt < 3)); then
    log "etcd port taken, picking others"
    ETCD_PORT="" ETCD_PEER_PORT=""
    continue
  fi
  fail_start "etcd did not become healthy (see $LOGS/etcd.log)" etcd
done

# --- kube-apiserver -----------------------------------------------------------------------

start_apiserver() {
  local extra=()
  read -r -a extra <<<"${BUCKETCORS_APISERVER_EXTRA_ARGS:-}"
  spawn kube-apiserver "$BUCKETCORS_K8S_BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$APISERVER_PORT" \
    --cert-dir="$PKI/apiserver-generated" \
    --tls-cert-file="$PKI/apiserver.crt" \
    --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --authorization-mode=Node,RBAC \
    --endpoint-reconciler-type=none \
    --allow-privileged=true \
    --profiling=false \
    "${extra[@]}"
}

apiserver_ready() {
  "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" get --raw=/readyz --request-timeout=5s >/dev/null 2>&1
}

for attempt in 1 2 3; do
  pick APISERVER_PORT
  save_ports
  write_kubeconfig "$KUBECONFIG_FILE" admin
  write_kubeconfig "$KCM_KUBECONFIG" controller-manager
  log "starting kube-apiserver $BUCKETCORS_K8S_VERSION on https://127.0.0.1:$APISERVER_PORT"
  start_apiserver
  rc=0
  wait_for kube-apiserver "$READY_TIMEOUT" apiserver_ready || rc=$?
  ((rc == 0)) && break
  if ((rc == 1)) && port_conflict kube-apiserver && ((attempt < 3)); then
    log "apiserver port taken, picking another"
    APISERVER_PORT=""
    continue
  fi
  if ((rc == 2)); then
    # The failing readiness checks, one per line.
    "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" get --raw='/readyz?verbose' --request-timeout=5s 2>&1 |
      sed 's/\\n/\n/g' | grep -F -- '[-]' >&2 || true
    fail_start "kube-apiserver not ready after ${READY_TIMEOUT}s (see $LOGS/kube-apiserver.log)" etcd kube-apiserver
  fi
  fail_start "kube-apiserver exited (see $LOGS/kube-apiserver.log)" kube-apiserver
done

# --- kube-controller-manager -----------------------------------------------------------------

start_kcm() {
  spawn kube-controller-manager "$BUCKETCORS_K8S_BIN/kube-controller-manager" \
    --kubeconfig="$KCM_KUBECONFIG" \
    --authentication-kubeconfig="$KCM_KUBECONFIG" \
    --authorization-kubeconfig="$KCM_KUBECONFIG" \
    --bind-address=127.0.0.1 \
    --secure-port="$KCM_PORT" \
    --cert-dir="$DIR/controller-manager" \
    --leader-elect=false \
    --controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller,clusterrole-aggregation-controller,root-ca-certificate-publisher-controller \
    --root-ca-file="$PKI/ca.crt" \
    --service-account-private-key-file="$PKI/sa.key" \
    --use-service-account-credentials=false \
    --profiling=false
}

for attempt in 1 2 3; do
  pick KCM_PORT
  save_ports
  log "starting kube-controller-manager on 127.0.0.1:$KCM_PORT"
  start_kcm
  rc=0
  wait_for kube-controller-manager 60 http_ok "https://127.0.0.1:$KCM_PORT/healthz" || rc=$?
  ((rc == 0)) && break
  if ((rc == 1)) && port_conflict kube-controller-manager && ((attempt < 3)); then
    log "controller-manager port taken, picking another"
    KCM_PORT=""
    continue
  fi
  fail_start "kube-controller-manager not healthy (see $LOGS/kube-controller-manager.log)" kube-controller-manager
done

# --- env file -------------------------------------------------------------------------------

{
  echo "# Generated by hack/controlplane/start.sh; source it."
  printf 'source %q\n' "$HERE/env.sh"
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
  printf 'export BUCKETCORS_TEST_KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
  printf 'export BUCKETCORS_APISERVER_URL=%q\n' "https://127.0.0.1:$APISERVER_PORT"
  printf 'export BUCKETCORS_ETCD_URL=%q\n' "http://127.0.0.1:$ETCD_PORT"
  printf 'export BUCKETCORS_CONTROLPLANE_DIR=%q\n' "$DIR"
} >"$DIR/env"

k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=10s "$@"; }

# --- sanity: the default namespace and its ServiceAccount (controller-manager works) ---------

sa_ready() { k get serviceaccount default -n default >/dev/null 2>&1; }
k get namespace default >/dev/null || fail_start "namespace default missing" kube-apiserver
wait_for kube-controller-manager 60 sa_ready ||
  fail_start "ServiceAccount default/default never appeared (controller-manager not working)" kube-controller-manager

# --- CRDs of the repository ------------------------------------------------------------------

shopt -s nullglob
crd_files=("$CRDS_DIR"/*.yaml)
shopt -u nullglob
if [[ "${BUCKETCORS_SKIP_CRDS:-}" != 1 ]] && ((${#crd_files[@]})); then
  log "applying ${#crd_files[@]} CRD file(s) from $CRDS_DIR"
  apply_args=()
  for f in "${crd_files[@]}"; do apply_args+=(-f "$f"); done
  names="$(k apply --server-side --force-conflicts --field-manager=bucketcors-controlplane "${apply_args[@]}" -o name)" ||
    fail_start "kubectl apply of $CRDS_DIR failed" kube-apiserver
  mapfile -t crds < <(printf '%s\n' "$names" | grep '^customresourcedefinition' || true)
  if ((${#crds[@]})); then
    "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" wait --for=condition=Established --timeout=60s "${crds[@]}" >&2 ||
      fail_start "CRDs not Established" kube-apiserver
  fi
fi

log "control plane ready: https://127.0.0.1:$APISERVER_PORT (state, logs and pids in $DIR)"
log "env file: source $DIR/env   stop: $HERE/stop.sh $DIR"
echo "export KUBECONFIG=$KUBECONFIG_FILE"
