#!/usr/bin/env bash
# Usage: hack/s3/start.sh DIR
#
# Starts a moto server and a versitygw gateway (posix backend: buckets in DIR/versitygw-data,
# metadata in DIR/versitygw-meta), each on a free 127.0.0.1 port, waits until both answer HTTP,
# and writes DIR/env (KEY=value lines, load it with `set -a; . DIR/env; set +a`):
#   BUCKETCORS_MOTO_URL, BUCKETCORS_MOTO_ACCESS_KEY, BUCKETCORS_MOTO_SECRET_KEY,
#   BUCKETCORS_VERSITYGW_URL, BUCKETCORS_VERSITYGW_ACCESS_KEY, BUCKETCORS_VERSITYGW_SECRET_KEY,
#   BUCKETCORS_VERSITYGW_USER_ACCESS_KEY, BUCKETCORS_VERSITYGW_USER_SECRET_KEY (an account
#   without rights on the root account's buckets), BUCKETCORS_S3_REGION
# Logs: DIR/moto.log, DIR/versitygw.log. Pids: DIR/moto.pid, DIR/versitygw.pid. Stop with
# hack/s3/stop.sh DIR. Runs hack/s3/install.sh first (a no-op when the cache is warm).
#
# Environment:
#   BUCKETCORS_VERSITYGW_ACCESS_KEY / _SECRET_KEY  root credentials for versitygw
#                                                  (default bucketcors-test / bucketcors-test-secret-0123456789)
#   BUCKETCORS_S3_WATCH_PID   when set, a watchdog stops both servers once that process is gone
#                             (with-s3.sh sets it to itself, so a killed test run leaves nothing behind)
#   BUCKETCORS_S3_WATCH_RMDIR=1  the watchdog also removes DIR after stopping the servers
#   BUCKETCORS_S3_START_TIMEOUT  seconds to wait for each server (default 60)
set -euo pipefail
shopt -s extglob

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
mkdir -p "$1"
DIR="$(cd "$1" && pwd)"

VGW_ACCESS="${BUCKETCORS_VERSITYGW_ACCESS_KEY:-$DEFAULT_VERSITYGW_ACCESS_KEY}"
VGW_SECRET="${BUCKETCORS_VERSITYGW_SECRET_KEY:-$DEFAULT_VERSITYGW_SECRET_KEY}"
TIMEOUT="${BUCKETCORS_S3_START_TIMEOUT:-60}"
REGION="us-east-1"

# Already running from an earlier start with this DIR: keep it.
if [[ -f "$DIR/env" ]] \
    && pid_matches "$(cat "$DIR/moto.pid" 2>/dev/null)" moto_server \
    && pid_matches "$(cat "$DIR/versitygw.pid" 2>/dev/null)" versitygw; then
    log "S3 servers already running for $DIR (see $DIR/env)"
    exit 0
fi
# Leftovers of a half-started or crashed run.
"$HERE/stop.sh" "$DIR" >/dev/null 2>&1 || true

"$HERE/install.sh"

started_ok=0
cleanup_on_failure() {
    if [[ "$started_ok" != 1 ]]; then
        log "start failed, stopping what was started in $DIR"
        "$HERE/stop.sh" "$DIR" >&2 || true
    fi
}
trap cleanup_on_failure EXIT

free_port() {
    "$MOTO_PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# launch LOG [VAR=value...] CMD...: starts CMD in its own session (so terminal signals and
# hang-ups of the caller do not reach it, and stop.sh can signal its whole process group) with a
# clean environment plus the given variables: stray AWS_*, ROOT_ACCESS_KEY, VGW_* or MOTO_*
# settings of the caller must not change the test servers. Prints the pid.
launch() {
    local logfile="$1"
    shift
    setsid env -i PATH="$PATH" HOME="$HOME" LANG=C.UTF-8 TMPDIR="${TMPDIR:-/tmp}" "$@" \
        </dev/null >>"$logfile" 2>&1 &
    echo $!
}

# owns_port PID PORT: PID is the process listening on 127.0.0.1:PORT (so an answer on that port is
# not from some other server that grabbed the port first). Skipped when ss is missing.
owns_port() {
    command -v ss >/dev/null 2>&1 || return 0
    grep -q "pid=$1," <<<"$(ss -ltnpH "sport = :$2" 2>/dev/null)"
}

# wait_ready NAME PID URL CHECK: waits until the server answers; CHECK is a function that gets
# the base URL and succeeds when the answer comes from the expected server.
# Returns 0 ready, 1 the process died, 2 timeout.
wait_ready() {
    local name="$1" pid="$2" url="$3" check="$4" deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if "$check" "$url" && owns_port "$pid" "${url##*:}"; then
            return 0
        fi
        sleep 0.2
    done
    log "$name did not answer at $url within ${TIMEOUT}s"
    return 2
}

moto_check() { [[ "$(http_code "$1/moto-api/data.json")" == 200 ]]; }
versitygw_check() { [[ "$(http_code "$1/_bucketcors_health")" == 200 ]]; }

# start_server NAME CHECK CMD... ; "@PORT@" in CMD is replaced by the chosen port.
# Retries with another port when the port was taken in between. Sets STARTED_URL.
start_server() {
    local name="$1" check="$2"
    shift 2
    local attempt port pid url arg rc
    local -a cmd
    for attempt in 1 2 3; do
        port="$(free_port)"
        url="http://127.0.0.1:$port"
        cmd=()
        for arg in "$@"; do cmd+=("${arg//@PORT@/$port}"); done
        printf '%s start attempt %s: %s\n' "$(date -u +%FT%TZ)" "$attempt" "${cmd[*]//ROOT_SECRET_ACCESS_KEY=*([^ ])/ROOT_SECRET_ACCESS_KEY=***}" >>"$DIR/$name.log"
        pid="$(launch "$DIR/$name.log" "${cmd[@]}")"
        echo "$pid" >"$DIR/$name.pid"
        rc=0
        wait_ready "$name" "$pid" "$url" "$check" || rc=$?
        if [[ $rc == 0 ]]; then
            log "$name listening on $url (pid $pid, log $DIR/$name.log)"
            STARTED_URL="$url"
            return 0
        fi
        if [[ $rc == 1 ]] && grep -qi 'address already in use' <(tail -n 20 "$DIR/$name.log"); then
            log "$name: port $port was taken, retrying"
            continue
        fi
        log "$name failed to start; last lines of $DIR/$name.log:"
        tail -n 20 "$DIR/$name.log" >&2 || true
        return 1
    done
    log "$name: no free port after 3 attempts"
    return 1
}

log "starting moto $BUCKETCORS_MOTO_VERSION"
# MOTO_DISABLE_GLOBAL_CORS: moto server otherwise wraps every answer in flask-cors headers
# (Access-Control-Allow-Origin echoing any Origin), which hides what the bucket CORS says.
start_server moto moto_check MOTO_DISABLE_GLOBAL_CORS=true "$MOTO_SERVER" -H 127.0.0.1 -p @PORT@
MOTO_URL="$STARTED_URL"

log "starting versitygw $BUCKETCORS_VERSITYGW_VERSION (posix backend in $DIR/versitygw-data)"
# --sidecar: bucket and object metadata (the CORS configuration among it) go to files under
# versitygw-meta instead of extended attributes. With xattrs, ext4 limits a bucket's CORS XML to
# about 4 KB (larger PutBucketCors fail with 500 InternalError, "argument list too long" /
# "no space left on device" in the log), and some filesystems have no user xattrs at all.
# --iam-dir: the internal IAM service (accounts in DIR/versitygw-iam). Without it versitygw runs in
# single-account mode, where an unknown access key gets 404 XAdminUserNotFound instead of AWS's
# 403 InvalidAccessKeyId; with it, extra users can be made with `versitygw admin`.
mkdir -p "$DIR/versitygw-data" "$DIR/versitygw-meta" "$DIR/versitygw-iam"
# Credentials go through the environment so they do not show in ps.
start_server versitygw versitygw_check \
    ROOT_ACCESS_KEY_ID="$VGW_ACCESS" ROOT_SECRET_ACCESS_KEY="$VGW_SECRET" \
    "$VERSITYGW_BIN" \
    --port 127.0.0.1:@PORT@ \
    --region "$REGION" \
    --health /_bucketcors_health \
    --iam-dir "$DIR/versitygw-iam" \
    posix --sidecar "$DIR/versitygw-meta" "$DIR/versitygw-data"
VERSITYGW_URL="$STARTED_URL"

# A second, unprivileged versitygw account (role "user"): it owns no buckets, so what it does to
# the root account's buckets is refused with 403 AccessDenied. For permission-error tests.
VGW_USER_ACCESS="bucketcors-user"
VGW_USER_SECRET="bucketcors-user-secret-0123456789"
vgw_admin() {
    ADMIN_ACCESS_KEY_ID="$VGW_ACCESS" ADMIN_SECRET_ACCESS_KEY="$VGW_SECRET" \
        "$VERSITYGW_BIN" admin --endpoint-url "$VERSITYGW_URL" "$@"
}
users="$(vgw_admin list-users 2>/dev/null || true)"
if ! grep -q "^${VGW_USER_ACCESS}[[:space:]]" <<<"$users"; then
    vgw_admin create-user --access "$VGW_USER_ACCESS" --secret "$VGW_USER_SECRET" --role user >/dev/null
    log "versitygw: created account $VGW_USER_ACCESS (role user)"
fi

if [[ -n "${BUCKETCORS_S3_WATCH_PID:-}" ]]; then
    # bucketcors-s3-watchdog is $0 of the bash below; stop.sh finds it by that word. It removes
    # its pid file before calling stop.sh, so stop.sh does not kill it half-way.
    # shellcheck disable=SC2016
    wpid="$(launch "$DIR/watchdog.log" bash -c '
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        rm -f "$2/watchdog.pid"
        "$3" "$2"
        if [[ "$4" == 1 ]]; then rm -rf "$2"; fi' \
        bucketcors-s3-watchdog "$BUCKETCORS_S3_WATCH_PID" "$DIR" "$HERE/stop.sh" "${BUCKETCORS_S3_WATCH_RMDIR:-0}")"
    echo "$wpid" >"$DIR/watchdog.pid"
fi

cat >"$DIR/env.tmp" <<ENV
BUCKETCORS_MOTO_URL=$MOTO_URL
BUCKETCORS_MOTO_ACCESS_KEY=testing
BUCKETCORS_MOTO_SECRET_KEY=testing
BUCKETCORS_VERSITYGW_URL=$VERSITYGW_URL
BUCKETCORS_VERSITYGW_ACCESS_KEY=$VGW_ACCESS
BUCKETCORS_VERSITYGW_SECRET_KEY=$VGW_SECRET
BUCKETCORS_VERSITYGW_USER_ACCESS_KEY=$VGW_USER_ACCESS
BUCKETCORS_VERSITYGW_USER_SECRET_KEY=$VGW_USER_SECRET
BUCKETCORS_S3_REGION=$REGION
ENV
mv -f "$DIR/env.tmp" "$DIR/env"
started_ok=1
log "S3 servers ready, environment in $DIR/env"
