#!/usr/bin/env bash
# Stops the control plane that start.sh started in DIR: kube-controller-manager,
# kube-apiserver, then etcd, each by its recorded pid (and its process group,
# so no child survives). SIGTERM first, SIGKILL after a grace period. Waits
# until every process is gone. Idempotent: a DIR that is not running (or does
# not exist) is fine. State (etcd data, certs, logs) is kept; start.sh DIR
# resumes it, `rm -rf DIR` drops it.
#
# Usage: hack/controlplane/stop.sh DIR
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }

[[ $# -eq 1 && -n "$1" ]] || { echo "usage: $0 DIR" >&2; exit 2; }
if [[ ! -d "$1" ]]; then
  log "nothing to stop: $1 does not exist"
  exit 0
fi
DIR="$(cd "$1" && pwd)"
PIDS="$DIR/pids"
GRACE="${BUCKETCORS_STOP_GRACE:-20}"

# ours PID: PID runs and its command line points into DIR (guards against a
# recycled pid that now belongs to someone else).
ours() {
  kill -0 "$1" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$DIR/"
}

# group_alive PGID: some live (non-zombie) process is in that process group.
group_alive() {
  ps -e -o pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}

# zombie PID: PID has exited but was not reaped yet.
zombie() {
  local stat
  stat="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ "$stat" == Z* ]]
}

stop_one() {
  local name="$1" f="$PIDS/$1.pid" pid deadline
  [[ -s "$f" ]] || return 0
  pid="$(<"$f")"
  if [[ ! "$pid" =~ ^[0-9]+$ ]]; then
    rm -f "$f"
    return 0
  fi
  if ! ours "$pid"; then
    rm -f "$f"
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + GRACE))
  while { ours "$pid" || group_alive "$pid"; } && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if ours "$pid" || group_alive "$pid"; then
    log "$name did not exit within ${GRACE}s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while { ours "$pid" || group_alive "$pid"; } && ((SECONDS < deadline)); do
      sleep 0.2
    done
  fi
  if ours "$pid"; then
    printf 'stop.sh: error: %s (pid %s) is still running\n' "$name" "$pid" >&2
    return 1
  fi
  # The process was orphaned when start.sh exited; give its new parent (init)
  # a moment to reap the zombie so that `pgrep` shows nothing afterwards.
  deadline=$((SECONDS + 10))
  while zombie "$pid" && ((SECONDS < deadline)); do
    sleep 0.1
  done
  rm -f "$f"
}

rc=0
for name in kube-controller-manager kube-apiserver etcd; do
  stop_one "$name" || rc=1
done
((rc == 0)) && log "control plane in $DIR stopped"
exit "$rc"
