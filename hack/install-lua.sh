#!/usr/bin/env bash
# Installs the Lua 5.1 interpreter (and lua-cjson) that the Argo CD health-check test runs.
# Argo CD evaluates health scripts with gopher-lua, which implements Lua 5.1, so the test uses
# 5.1 too. Idempotent: does nothing when `lua5.1` can already load cjson.
#
# Usage: hack/install-lua.sh
set -euo pipefail

if command -v lua5.1 >/dev/null 2>&1 && lua5.1 -e 'require("cjson")' >/dev/null 2>&1; then
  exit 0
fi

SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-lua.sh: need root or sudo for apt-get" >&2; exit 1; }
  SUDO=sudo
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "install-lua.sh: apt-get not found; install Lua 5.1 and lua-cjson for Lua 5.1 by hand" >&2
  exit 1
}
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends lua5.1 lua-cjson >/dev/null
lua5.1 -e 'require("cjson")'
