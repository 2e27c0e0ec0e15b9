#!/usr/bin/env bash
# Builds the same fully static bucketcors binary the Dockerfile builds (x86_64 musl), and checks
# that it really is static.
#
#   hack/build-static.sh            # release profile, stripped (what the image ships)
#   hack/build-static.sh --dev      # dev profile: quicker, only to check that it links statically
#
# Needs the rustup target x86_64-unknown-linux-musl (added here with `rustup target add` if
# missing, which needs rustup's download server) and a musl C compiler for the C parts of the
# TLS stack (aws-lc-sys, ring): on Debian `apt-get install musl-tools` (provides musl-gcc).
# Honours CARGO_TARGET_DIR. Prints the binary's path and size on stdout.
set -euo pipefail

TARGET=x86_64-unknown-linux-musl
PROFILE=release
case "${1:-}" in
  "") ;;
  --dev) PROFILE=dev ;;
  *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."

die() { printf 'build-static.sh: error: %s\n' "$*" >&2; exit 1; }

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  rustup target add "$TARGET" || die "rust target $TARGET is not installed and rustup could not add it"
fi
if [[ -z "${CC_x86_64_unknown_linux_musl:-}" ]]; then
  if command -v x86_64-linux-musl-gcc >/dev/null 2>&1; then
    export CC_x86_64_unknown_linux_musl=x86_64-linux-musl-gcc
  elif command -v musl-gcc >/dev/null 2>&1; then
    export CC_x86_64_unknown_linux_musl=musl-gcc
  else
    die "no musl C compiler (install musl-tools, or set CC_x86_64_unknown_linux_musl)"
  fi
fi

# Same settings as the Dockerfile: static CRT, stripped symbols (no Cargo.toml profile needed).
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
export CARGO_PROFILE_RELEASE_STRIP=true

cargo build --locked --target "$TARGET" --profile "$PROFILE" --bin bucketcors >&2

dir="$PROFILE"
[[ "$PROFILE" == dev ]] && dir=debug
bin="${CARGO_TARGET_DIR:-target}/$TARGET/$dir/bucketcors"
[[ -x "$bin" ]] || die "$bin was not produced"

# A static binary has no interpreter and no NEEDED entries.
if command -v readelf >/dev/null 2>&1; then
  if readelf -l "$bin" | grep -q 'Requesting program interpreter' || readelf -d "$bin" | grep -q NEEDED; then
    die "$bin is dynamically linked"
  fi
fi
if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q 'statically linked'; then
  die "$bin is dynamically linked: $(ldd "$bin" 2>&1)"
fi
# It runs: without a cluster, `--help` and `crd` (which renders the CRDs) exercise the binary.
"$bin" --version >/dev/null || die "$bin does not run"
"$bin" --help >/dev/null || die "$bin --help failed"
"$bin" crd | grep -q '^kind: CustomResourceDefinition' || die "$bin crd printed no CustomResourceDefinition"

size=$(stat -c %s "$bin")
printf '%s %s bytes (%s MiB)\n' "$bin" "$size" "$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }')"
