# syntax=docker/dockerfile:1
# Static bucketcors image: a musl build in the Rust image, copied into distroless/static (no
# shell, no libc; CA certificates and the nonroot user 65532 included).
#
#   docker build -t bucketcors:dev .
#
# hack/build-static.sh builds the same binary (same target, flags and profile) without a
# container engine.
#
# Verified without a container engine (hack/build-static.sh, rustup target
# x86_64-unknown-linux-musl + Debian musl-tools): the binary links as static-pie (no interpreter,
# no NEEDED entries), is 27.3 MiB stripped, and runs `--version`, `--help` and `crd`.
# Not verified: `docker build` itself, the distroless base image, the binary's TLS and network
# paths inside the image (no container engine here).

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools cmake \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
# One set of build settings for both cargo runs below, so the dependency layer stays valid.
ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    RUSTFLAGS="-C target-feature=+crt-static" \
    CARGO_PROFILE_RELEASE_STRIP=true
WORKDIR /src
# Dependencies first, so a source change does not rebuild them: build a stub crate with the real
# manifest and lock file. This layer is only a cache; if the stub cannot build (e.g. Cargo.toml
# names a target file the stub lacks), the real build below still builds everything.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && (cargo build --locked --release --target x86_64-unknown-linux-musl --bin bucketcors \
     || echo "dependency pre-build skipped") \
 && rm -rf src
COPY . .
# The stub's artefacts are newer than the copied sources: touch them so cargo rebuilds the crate.
RUN find src -name '*.rs' -exec touch {} + \
 && cargo build --locked --release --target x86_64-unknown-linux-musl --bin bucketcors \
 && cp target/x86_64-unknown-linux-musl/release/bucketcors /bucketcors \
 && /bucketcors --version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /bucketcors /bucketcors
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/bucketcors"]
CMD ["controller"]
