#!/usr/bin/env bash
# Usage: hack/bench/run.sh [scale.py options]      (what `make bench` runs)
#
# The scale benchmark of the controller: builds the release binary once, makes a Python venv
# for the harness (aiohttp, boto3; cached in ~/.cache/bucketcors/bench-venv), then runs
# hack/bench/scale.py, which starts a real control plane, moto behind a latency-injecting
# proxy, N buckets and N policies per run, and measures convergence, S3 and API requests,
# memory and CPU, and repair time. Results: one JSON file per run under the output directory,
# and a Markdown summary (summarise.py) printed at the end and written to summary.md.
#
# Defaults: --plan 100x3,1000x3 --latency-ms 20 --concurrency 16 --interval-s 30.
# A 10,000 run: hack/bench/run.sh --plan 10000x1 (takes several minutes).
# Environment: BENCH_OUT (results directory, default target/bench/<timestamp>),
#              CARGO_TARGET_DIR (where the release binary is built), BENCH_SKIP_BUILD=1.
# Quick self-check without a controller: hack/bench/run.sh --skeleton-check --plan 100x1
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/bucketcors"
VENV="$CACHE/bench-venv"
AIOHTTP_VERSION=3.14.5
BOTO3_VERSION=1.44.8

log() { printf '==> %s\n' "$*" >&2; }

if ! "$VENV/bin/python" -c "import aiohttp, boto3; assert aiohttp.__version__ == '$AIOHTTP_VERSION'" 2>/dev/null; then
    log "creating the benchmark venv in $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "aiohttp==$AIOHTTP_VERSION" "boto3==$BOTO3_VERSION"
fi

# The control plane and S3 servers, installed on demand (no-ops when cached).
"$REPO/hack/controlplane/install.sh" >/dev/null
"$REPO/hack/s3/install.sh"
# shellcheck source=../controlplane/env.sh
source "$REPO/hack/controlplane/env.sh"

TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
BINARY="$TARGET/release/bucketcors"
skeleton=0
for a in "$@"; do [[ "$a" == --skeleton-check ]] && skeleton=1; done
if [[ "$skeleton" == 0 && "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    log "building the release binary (cargo build --release --locked --bin bucketcors)"
    (cd "$REPO" && cargo build --release --locked --bin bucketcors)
fi

OUT="${BENCH_OUT:-$REPO/target/bench/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
log "results in $OUT"
rc=0
"$VENV/bin/python" "$HERE/scale.py" --out "$OUT" --binary "$BINARY" "$@" || rc=$?
"$VENV/bin/python" "$HERE/summarise.py" "$OUT" | tee "$OUT/summary.md" || true
exit "$rc"
