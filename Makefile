# The two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: build test unit crds lint fmt demo

build:
	$(CARGO) build --locked

## Regenerate crds/ (and the chart's copies) from the Rust types.
crds: build
	BUCKETCORS_UPDATE_CRDS=1 $(CARGO) test --locked --test crds

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

## Everything CI runs.
test:
	$(CARGO) test --locked

## Scale benchmark of the controller (real control plane, moto behind a latency proxy); see BENCHMARKS.md.
## Options go through BENCH_ARGS, e.g. make bench BENCH_ARGS="--plan 10000x1".
.PHONY: bench bench-engine
bench:
	hack/bench/run.sh $(BENCH_ARGS)

## Criterion micro-benchmarks of the pure engine (under two minutes).
bench-engine:
	$(CARGO) bench --locked --bench engine
