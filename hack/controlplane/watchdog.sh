#!/usr/bin/env bash
# Tears down the control plane in DIR once process PID is gone. with-controlplane.sh starts it
# in a session of its own, with its own pid, so that a wrapper killed with SIGKILL (a CI
# timeout, the OOM killer) does not leave etcd, kube-apiserver and kube-controller-manager
# running: they run in sessions of their own too, nothing else would stop them.
#
#   hack/controlplane/watchdog.sh PID DIR [--remove]
#
# Once PID has exited (a zombie, or the pid reused by a process started later, counts as
# exited), the watchdog sends TERM to the child the wrapper was running (DIR/pids/child.pid:
# start.sh, which would go on starting processes, or CMD, whose control plane is about to go),
# runs stop.sh DIR and, with --remove, deletes DIR. Its own pid is in DIR/pids/watchdog.pid.
# SIGTERM before that ends it without doing anything: that is how the wrapper dismisses it
# after tearing down by itself.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

[[ $# -ge 2 && "$1" =~ ^[0-9]+$ && -d "$2" ]] || { echo "usage: $0 PID DIR [--remove]" >&2; exit 2; }
WATCHED="$1"
DIR="$(cd "$2" && pwd)"
REMOVE="${3:-}"

log() { printf '%s watchdog: %s\n' "$(date -u +%FT%TZ)" "$*"; }

# starttime PID: the start time of PID (field 22 of /proc/PID/stat, clock ticks since boot);
# nothing when PID does not exist or is a zombie. The pair names one process for good.
starttime() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }" # drop "pid (comm) ": comm may contain spaces and parentheses
  # shellcheck disable=SC2086 # split into fields on purpose
  set -- $stat
  [[ "$1" == Z ]] || echo "${20}"
}

# alive PID STARTTIME: that very process still runs.
alive() { [[ -n "$2" && "$(starttime "$1")" == "$2" ]]; }

trap 'exit 0' TERM
trap '' INT HUP

watched_start="$(starttime "$WATCHED")"
echo "$$" >"$DIR/pids/watchdog.pid"
log "watching pid $WATCHED"
while alive "$WATCHED" "$watched_start"; do
  sleep 0.5
done
# From here on finish the job, whatever arrives: the wrapper is gone, nobody else will.
trap '' TERM
rm -f "$DIR/pids/watchdog.pid"
log "pid $WATCHED is gone; tearing down $DIR"

# DIR/pids/child.pid: "PID STARTTIME" of what the wrapper ran last.
read -r child child_start _ <"$DIR/pids/child.pid" 2>/dev/null || true
if [[ "${child:-}" =~ ^[0-9]+$ ]] && alive "$child" "${child_start:-}"; then
  log "stopping the wrapper's child, pid $child: $(tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null)"
  kill -TERM "$child" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    alive "$child" "$child_start" || break
    sleep 0.1
  done
  if alive "$child" "$child_start"; then
    log "pid $child ignored TERM for 10s; killing it"
    kill -KILL "$child" 2>/dev/null
  fi
fi
rm -f "$DIR/pids/child.pid"

"$HERE/stop.sh" "$DIR" 2>&1
if [[ "$REMOVE" == --remove ]]; then
  rm -rf "$DIR"
fi
