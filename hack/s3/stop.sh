#!/usr/bin/env bash
# Usage: hack/s3/stop.sh DIR
#
# Stops the servers hack/s3/start.sh started for DIR (and its watchdog, if any) and removes
# DIR/env and the pid files. Idempotent: nothing running, or no DIR at all, is success.
# Keeps logs and DIR/versitygw-data.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
DIR="$1"
[[ -d "$DIR" ]] || exit 0

# stop_one NAME WORD: TERM, then KILL after 10s, the process recorded in DIR/NAME.pid if its
# command line still contains WORD. It leads its own process group (start.sh uses setsid), so
# the whole group is signalled.
stop_one() {
    local name="$1" word="$2" pidfile="$DIR/$1.pid" pid target i
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if pid_matches "$pid" "$word"; then
        target="$pid"
        if [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]]; then
            target="-$pid"
        fi
        kill -TERM -- "$target" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            pid_matches "$pid" "$word" || break # gone (a zombie has an empty command line)
            sleep 0.1
        done
        if pid_matches "$pid" "$word"; then
            log "$name (pid $pid) ignored TERM for 10s, killing"
            kill -KILL -- "$target" 2>/dev/null || true
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$pidfile"
}

rm -f "$DIR/env" "$DIR/env.tmp"
stop_one watchdog bucketcors-s3-watchdog
stop_one moto moto_server
stop_one versitygw versitygw
