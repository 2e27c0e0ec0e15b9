#!/usr/bin/env bash
# The demo behind `make demo`: a real control plane and a real S3 server on loopback, the
# controller running against them, the policies in examples/ applied, and a repair shown.
#
# Everything runs from a temporary directory and is stopped on exit (Enter, Ctrl-C, or at the
# end when standard input is not a terminal). BUCKETCORS_DEMO_KEEP=1 keeps the directory (logs).
# BUCKETCORS_DEMO_READY_TIMEOUT: seconds to wait for the controller's /readyz (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

# shellcheck source=SCRIPTDIR/controlplane/env.sh
source hack/controlplane/env.sh

BIN="${BUCKETCORS_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/bucketcors}"
DEMO_DIR="$(mktemp -d "${TMPDIR:-/tmp}/bucketcors-demo.XXXXXX")"
CP_DIR="$DEMO_DIR/controlplane"
S3_DIR="$DEMO_DIR/s3"
CONTROLLER_PID=""

# http_get URL: prints the body of a 2xx answer; fails on anything else. python3 (which the
# demo needs anyway), not curl, so that a missing curl cannot look like a controller never ready.
http_get() {
  python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())' "$1" 2>/dev/null
}
READY_TIMEOUT="${BUCKETCORS_DEMO_READY_TIMEOUT:-60}"

bold() { if [[ -t 1 ]]; then printf '\n\033[1m==> %s\033[0m\n' "$*"; else printf '\n==> %s\n' "$*"; fi; }
run() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  bold "stopping the demo"
  if [[ -n "$CONTROLLER_PID" ]] && kill -0 "$CONTROLLER_PID" 2>/dev/null; then
    kill -TERM "$CONTROLLER_PID" 2>/dev/null || true
    wait "$CONTROLLER_PID" 2>/dev/null || true
  fi
  if [[ -d "$S3_DIR" ]]; then hack/s3/stop.sh "$S3_DIR" >/dev/null 2>&1 || true; fi
  if [[ -d "$CP_DIR" ]]; then hack/controlplane/stop.sh "$CP_DIR" >/dev/null 2>&1 || true; fi
  if [[ "${BUCKETCORS_DEMO_KEEP:-}" == 1 ]]; then
    echo "kept $DEMO_DIR (controller log: $DEMO_DIR/controller.log)"
  else
    rm -rf "$DEMO_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ -x "$BIN" ]] || { echo "no bucketcors binary at $BIN; run 'make demo' (it builds it)" >&2; exit 1; }

bold "starting etcd, kube-apiserver and kube-controller-manager on loopback (CRDs installed)"
hack/controlplane/start.sh "$CP_DIR" >/dev/null
# shellcheck source=/dev/null
source "$CP_DIR/env"
run kubectl get crd -o name

bold "starting a local S3 server (moto) on loopback"
hack/s3/start.sh "$S3_DIR" >/dev/null
set -a
# shellcheck source=/dev/null
. "$S3_DIR/env"
set +a
export AWS_ACCESS_KEY_ID="$BUCKETCORS_MOTO_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$BUCKETCORS_MOTO_SECRET_KEY"
export AWS_REGION="$BUCKETCORS_S3_REGION" AWS_EC2_METADATA_DISABLED=true
echo "moto: $BUCKETCORS_MOTO_URL"
S3=(--endpoint-url "$BUCKETCORS_MOTO_URL" --region "$BUCKETCORS_S3_REGION" --path-style)

PY="$BUCKETCORS_CACHE/moto-venv/bin/python"
s3py() {
  "$PY" - "$@" <<'PYEOF'
import json, os, sys
import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["BUCKETCORS_MOTO_URL"], region_name=os.environ["AWS_REGION"])
cmd, bucket = sys.argv[1], sys.argv[2]
if cmd == "create":
    s3.create_bucket(Bucket=bucket)
elif cmd == "tamper":
    # Someone "fixes" CORS in the console: one wide-open rule replaces the declared ones.
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT", "DELETE"], "AllowedHeaders": ["*"]}]})
PYEOF
}

bold "creating the example buckets"
for bucket in demo-static-site demo-uploads; do s3py create "$bucket" && echo "created $bucket"; done

bold "starting the controller (default endpoint: the local S3 server)"
METRICS_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" controller --kubeconfig "$KUBECONFIG" --metrics-addr "127.0.0.1:$METRICS_PORT" \
  --default-endpoint-url "$BUCKETCORS_MOTO_URL" --default-region "$BUCKETCORS_S3_REGION" --default-path-style \
  --log-format text >"$DEMO_DIR/controller.log" 2>&1 &
CONTROLLER_PID=$!
controller_failed() {
  echo "demo.sh: error: $*; last lines of $DEMO_DIR/controller.log:" >&2
  tail -n 40 "$DEMO_DIR/controller.log" >&2 || true
  exit 1
}
ready=0
deadline=$((SECONDS + READY_TIMEOUT))
while ((SECONDS < deadline)); do
  if http_get "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null; then ready=1; break; fi
  kill -0 "$CONTROLLER_PID" 2>/dev/null || controller_failed "the controller exited"
  sleep 0.5
done
((ready)) || controller_failed "the controller did not answer /readyz on 127.0.0.1:$METRICS_PORT within ${READY_TIMEOUT}s"
echo "controller pid $CONTROLLER_PID, metrics on http://127.0.0.1:$METRICS_PORT/metrics"

bold "linting and applying examples/static-site.yaml and examples/browser-uploads.yaml"
run "$BIN" lint examples/static-site.yaml examples/browser-uploads.yaml
run kubectl create namespace demo
run kubectl apply --server-side -f examples/static-site.yaml -f examples/browser-uploads.yaml

bold "waiting for Ready"
run kubectl wait --for=condition=Ready bcp --all -n demo --timeout=60s
run kubectl get bcp -n demo

bold "the buckets' live CORS, read back from S3"
run "$BIN" export --bucket demo-static-site --namespace demo "${S3[@]}"
run "$BIN" plan examples/static-site.yaml examples/browser-uploads.yaml "${S3[@]}"

bold "changing demo-static-site's CORS behind the controller's back"
s3py tamper demo-static-site
run "$BIN" plan examples/static-site.yaml "${S3[@]}" || true

bold "asking for a pass now instead of waiting for the interval (any annotation change does)"
run kubectl annotate bcp static-site -n demo "bucketcors.dev/reconcile-at=$(date +%s)" --overwrite
for _ in $(seq 60); do
  "$BIN" plan examples/static-site.yaml "${S3[@]}" >/dev/null 2>&1 && break
  sleep 0.5
done
run "$BIN" plan examples/static-site.yaml "${S3[@]}"
run kubectl get bcp static-site -n demo -o jsonpath='{.status.lastDriftTime}{"  driftCount="}{.status.driftCount}{"\n"}'
run kubectl get events -n demo --field-selector involvedObject.name=static-site \
  -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message

bold "what the controller counted"
http_get "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E '^bucketcors_(cors_writes|s3_requests|drift_detected|status_patches)_total' || true

bold "poke at it yourself"
cat <<EOF
  export KUBECONFIG=$KUBECONFIG
  kubectl get bcp -A
  kubectl describe bcp static-site -n demo
  kubectl get bcp static-site -n demo -o yaml          # status: conditions, liveRules, fingerprint
  $BIN explain examples/browser-uploads.yaml --origin https://app.example.com --method PUT --header content-type
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing $BIN plan examples/*.yaml ${S3[*]}
  curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep ^bucketcors_
  tail -f $DEMO_DIR/controller.log
EOF
if [[ -t 0 ]]; then
  read -r -p $'\nPress Enter to stop the demo (control plane, S3 server and controller). '
fi
