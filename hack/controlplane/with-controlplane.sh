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
# INT/TERM/HUP, which are first forwarded to CMD (or to start.sh while it
# runs). If this script is killed with SIGKILL, a watchdog (watchdog.sh, in
# its own session) sends TERM to CMD (or start.sh) and stops the control plane
# within a few seconds.
# The exit code is CMD's (130/143/129 when interrupted).
#
# Knobs: BUCKETCORS_KEEP_CONTROLPLANE=1 keeps the temp dir (logs) after stopping.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/env.sh
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

KEEP="${BUCKETCORS_KEEP_CONTROLPLANE:-}"
CP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/bucketcors-controlplane.XXXXXX")"
mkdir -p "$CP_DIR/pids" "$CP_DIR/logs"
child=""

# The watchdog runs in its own session, so a signal to this script's process
# group (or SIGKILL to this script) does not reach it.
watch_args=("$$" "$CP_DIR")
[[ "$KEEP" == 1 ]] || watch_args+=(--remove)
setsid "$HERE/watchdog.sh" "${watch_args[@]}" </dev/null >>"$CP_DIR/logs/watchdog.log" 2>&1 &

# dismiss_watchdog: the teardown is done here, the watchdog is not needed.
# shellcheck disable=SC2317 # called from cleanup
dismiss_watchdog() {
  local pid
  pid="$(cat "$CP_DIR/pids/watchdog.pid" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] &&
     tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "watchdog.sh $$ $CP_DIR"; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$CP_DIR/pids/watchdog.pid"
}

# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  "$HERE/stop.sh" "$CP_DIR" >&2 || rc=$((rc == 0 ? 1 : rc))
  dismiss_watchdog
  if [[ "$KEEP" == 1 ]]; then
    log "kept $CP_DIR (logs in $CP_DIR/logs)"
  else
    rm -rf "$CP_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT

# on_signal SIG CODE: forwards SIG to what runs (CMD or start.sh), waits for
# it, then exits with CODE (the EXIT trap tears down).
# shellcheck disable=SC2317 # called through traps
on_signal() {
  local sig="$1" code="$2"
  trap - INT TERM HUP
  if [[ -n "$child" ]]; then
    kill "-$sig" "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit "$code"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP

# run CMD...: runs CMD in the background and waits for it, so that a signal to
# this script is handled at once (bash runs traps only between foreground
# commands). Stdin is passed on, and SIGINT/SIGQUIT are un-ignored (bash
# ignores them in background commands). CMD's pid and start time go to
# pids/child.pid for the watchdog. Returns CMD's status.
run() {
  local rc=0 stat
  ( trap - INT QUIT; exec "$@" ) <&0 &
  child=$!
  if stat="$(cat "/proc/$child/stat" 2>/dev/null)"; then
    read -ra stat <<<"${stat##*) }"
    echo "$child ${stat[19]}" >"$CP_DIR/pids/child.pid"
  fi
  wait "$child" || rc=$?
  child=""
  rm -f "$CP_DIR/pids/child.pid"
  return "$rc"
}

run "$HERE/start.sh" "$CP_DIR" >/dev/null
# shellcheck source=/dev/null
source "$CP_DIR/env"

rc=0
run "$@" || rc=$?
exit "$rc"
