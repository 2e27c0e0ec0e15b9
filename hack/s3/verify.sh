#!/usr/bin/env bash
# Usage: hack/s3/verify.sh [--markdown] [--server moto|versitygw] [--no-observe]
#
# Checks both S3 servers for real with hack/s3/probe.py (boto3 from the moto venv): the bucket
# CORS round trip must pass; the behaviour observations are printed (--markdown: as the table in
# hack/s3/README.md). Starts the servers through with-s3.sh unless they are already running.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"

"$HERE/install.sh"
exec "$HERE/with-s3.sh" "$MOTO_PYTHON" "$HERE/probe.py" "$@"
