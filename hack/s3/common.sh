# shellcheck shell=bash disable=SC2034
# Shared settings for hack/s3/*.sh. Sourced, never run.

BUCKETCORS_MOTO_VERSION="${BUCKETCORS_MOTO_VERSION:-5.2.5}"
BUCKETCORS_VERSITYGW_VERSION="${BUCKETCORS_VERSITYGW_VERSION:-v1.8.0}"

S3_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bucketcors"
MOTO_VENV="$S3_CACHE/moto-venv"
MOTO_SERVER="$MOTO_VENV/bin/moto_server"
MOTO_PYTHON="$MOTO_VENV/bin/python"
VERSITYGW_BIN="$S3_CACHE/versitygw-$BUCKETCORS_VERSITYGW_VERSION/bin/versitygw"

# Test credentials. versitygw checks them (root account); moto accepts any key pair and does not
# verify signatures, tests use testing/testing for it.
DEFAULT_VERSITYGW_ACCESS_KEY="bucketcors-test"
DEFAULT_VERSITYGW_SECRET_KEY="bucketcors-test-secret-0123456789"

log() { printf '==> %s\n' "$*" >&2; }

# http_code URL: prints the HTTP status an URL answers with, 000 when nothing answers.
http_code() {
    curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 3 "$1" 2>/dev/null || true
}

# reachable URL: true when something answers HTTP at URL (any status).
reachable() {
    local code
    code="$(http_code "$1")"
    [[ -n "$code" && "$code" != "000" ]]
}

# pid_matches PID WORD: the process PID is alive and its command line contains WORD
# (guards against killing an unrelated process that reused a recorded pid).
pid_matches() {
    local pid="$1" word="$2" cmdline
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *"$word"* ]]
}
