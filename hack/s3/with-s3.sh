#!/usr/bin/env bash
# Usage: hack/s3/with-s3.sh CMD [ARGS...]
#
# Runs CMD with S3 servers available. When BUCKETCORS_MOTO_URL and BUCKETCORS_VERSITYGW_URL are
# set and both answer, CMD just runs with the environment as it is. Otherwise both servers are
# started in a temporary directory (hack/s3/start.sh), its env file is exported, CMD runs, and the
# servers are stopped and the directory removed when this script ends, whether CMD succeeds,
# fails, or this script gets INT/TERM/HUP (forwarded to CMD first). If this script is killed with
# KILL, a watchdog started alongside the servers stops them within a second or two.
# Exit status: CMD's (128+signal when interrupted).
# Set BUCKETCORS_S3_KEEP=1 to keep the temporary directory (logs) after the run.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

if [[ -n "${BUCKETCORS_MOTO_URL:-}" && -n "${BUCKETCORS_VERSITYGW_URL:-}" ]] \
    && reachable "$BUCKETCORS_MOTO_URL" && reachable "$BUCKETCORS_VERSITYGW_URL"; then
    exec "$@"
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/bucketcors-s3.XXXXXX")"
child=""

# shellcheck disable=SC2329 # called through trap
cleanup() {
    "$HERE/stop.sh" "$TMP" >&2 || true
    if [[ "${BUCKETCORS_S3_KEEP:-0}" == 1 ]]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

# shellcheck disable=SC2329 # called through trap
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

rmdir_flag=1
if [[ "${BUCKETCORS_S3_KEEP:-0}" == 1 ]]; then rmdir_flag=0; fi
BUCKETCORS_S3_WATCH_PID=$$ BUCKETCORS_S3_WATCH_RMDIR=$rmdir_flag "$HERE/start.sh" "$TMP"
set -a
# shellcheck disable=SC1091
. "$TMP/env"
set +a

# CMD runs in the background so that a signal to this script is handled at once (bash runs traps
# only between foreground commands); stdin is passed on explicitly and SIGINT/SIGQUIT are
# un-ignored, undoing what bash does to background commands.
( trap - INT QUIT; exec "$@" ) <&0 &
child=$!
rc=0
wait "$child" || rc=$?
child=""
exit "$rc"
