#!/usr/bin/env bash
# Installs the real S3 servers used by tests and the demo, cached outside the repository:
#   moto server  -> $CACHE/moto-venv            (Python venv, PyPI moto[server])
#   versitygw    -> $CACHE/versitygw-<ver>/bin  (go install from the Go module proxy)
# where CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/bucketcors. Idempotent: a second run only checks.
#
# Overridable: BUCKETCORS_MOTO_VERSION, BUCKETCORS_VERSITYGW_VERSION, PYTHON (default python3), GO (default go).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"

MOTO_VERSION="$BUCKETCORS_MOTO_VERSION"
VERSITYGW_VERSION="$BUCKETCORS_VERSITYGW_VERSION"
PYTHON="${PYTHON:-python3}"
GO="${GO:-go}"
CACHE="$S3_CACHE"

mkdir -p "$CACHE"

# Parallel callers (several test binaries starting servers at once) wait for each other here.
exec 9>"$CACHE/.install.lock"
flock 9

# ---- moto -------------------------------------------------------------------------------------
moto_ok() {
    [[ -x "$MOTO_VENV/bin/python" ]] || return 1
    local have
    have="$("$MOTO_VENV/bin/python" -c 'import importlib.metadata as m, moto.server, boto3, flask; print(m.version("moto"))' 2>/dev/null)" || return 1
    [[ "$have" == "$MOTO_VERSION" ]]
}

if moto_ok; then
    log "moto $MOTO_VERSION already installed in $MOTO_VENV"
else
    log "installing moto $MOTO_VERSION into $MOTO_VENV"
    if [[ ! -x "$MOTO_VENV/bin/python" ]]; then
        "$PYTHON" -m venv "$MOTO_VENV"
    fi
    "$MOTO_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    moto_ok || { log "moto $MOTO_VERSION is not importable from $MOTO_VENV after install"; exit 1; }
    log "moto $MOTO_VERSION installed"
fi

# ---- versitygw --------------------------------------------------------------------------------
versitygw_ok() {
    [[ -x "$VERSITYGW_BIN" ]] || return 1
    local out
    out="$("$VERSITYGW_BIN" --version 2>/dev/null)" || return 1
    # "Version  : v1.8.0" (stamped by install.sh through -ldflags)
    [[ "$out" =~ Version[[:space:]]*:[[:space:]]*${VERSITYGW_VERSION}($|[[:space:]]) ]]
}

if versitygw_ok; then
    log "versitygw $VERSITYGW_VERSION already installed at $VERSITYGW_BIN"
else
    log "installing versitygw $VERSITYGW_VERSION into $(dirname "$VERSITYGW_BIN") (go install, this takes a few minutes)"
    mkdir -p "$(dirname "$VERSITYGW_BIN")"
    # Build into a temporary GOBIN and move into place, so an interrupted build never leaves a
    # half-written binary that later runs would take as installed.
    tmpbin="$(mktemp -d "$CACHE/.versitygw-build.XXXXXX")"
    trap 'rm -rf "$tmpbin"' EXIT
    GOBIN="$tmpbin" GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0 \
        "$GO" install -ldflags "-X main.Version=$VERSITYGW_VERSION" \
        "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
    mv -f "$tmpbin/versitygw" "$VERSITYGW_BIN"
    versitygw_ok || { log "versitygw at $VERSITYGW_BIN does not run"; exit 1; }
    log "versitygw $VERSITYGW_VERSION installed"
fi

log "done: moto $MOTO_VERSION ($MOTO_VENV), versitygw $VERSITYGW_VERSION ($VERSITYGW_BIN)"
