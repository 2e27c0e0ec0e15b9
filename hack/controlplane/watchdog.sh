#!/usr/bin/env bash
# Stops the control plane in DIR once process PID is gone: with-controlplane.sh starts it
# detached (own session) with its own pid, so that a wrapper killed with SIGKILL (a CI timeout,
# the OOM killer) does not leave etcd, kube-apiserver and kube-controller-manager running.
#
#   hack/controlplane/watchdog.sh PID DIR [--remove]
#
# When PID has exited (or is a zombie, or the pid was reused by another process), the watchdog
# stops a start.sh that is still running for DIR (DIR/pids/start.pid), runs stop.sh DIR and,
# with --remove, deletes DIR. Its pid is in DIR/pids/watchdog.pid and its log in
# DIR/logs/watchdog.log. SIGTERM ends it without doing anything: that is how the wrapper
# dismisses it after tearing down by itself.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

[[ $# -ge 2 && "$1" =~ ^[0-9]+$ && -d "$2" ]] || { echo "usage: $0 PID DIR [--remove]" >&2; exit 2; }
WATCHED="$1"
DIR="$(cd "$2" && pwd)"
REMOVE="${3:-}"

log() { printf '%s watchdog: %s\n' "$(date -u +%FT%TZ)" "$*"; }

# starttime PID: field 22 of /proc/PID/stat (start time since boot, in clock ticks); empty when
# PID does not exist. Together with the pid it names one process, even after pid reuse.
starttime() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }" # drop "pid (comm) ", comm may contain spaces
  # shellcheck disable=SC2086 # split into fields on purpose
  set -- $stat
  [[ "$1" == Z ]] || echo "${20}"
}

trap 'exit 0' TERM
trap '' INT HUP

started="$(starttime "$WATCHED")"
echo "$$" >"$DIR/pids/watchdog.pid"
log "watching pid $WATCHED"
while [[ -n "$started" && "$(starttime "$WATCHED")" == "$started" ]]; do
  sleep 0.5
done
# From here on, finish the job: the wrapper is gone, nobody else will.
trap '' TERM
rm -f "$DIR/pids/watchdog.pid"
log "pid $WATCHED is gone; tearing down $DIR"

# A start.sh still running would go on starting processes after stop.sh: stop it first.
start_pid="$(cat "$DIR/pids/start.pid" 2>/dev/null || true)"
if [[ "$start_pid" =~ ^[0-9]+$ ]] &&
   tr '\0' ' ' <"/proc/$start_pid/cmdline" 2>/dev/null | grep -qF -- "start.sh $DIR"; then
  log "stopping start.sh (pid $start_pid)"
  kill -TERM "$start_pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    kill -0 "$start_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$start_pid" 2>/dev/null
fi

"$HERE/stop.sh" "$DIR" 2>&1
if [[ "$REMOVE" == --remove ]]; then
  rm -rf "$DIR"
fi
