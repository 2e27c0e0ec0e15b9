# The two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: build deps test crds lint fmt demo

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

## Install the control plane, S3 servers and test tools (cached; fast when done before).
deps:
	hack/install-deps.sh

## Everything CI runs: chart checks and every Rust test, against one real control plane
## (etcd + kube-apiserver + kube-controller-manager) and real S3 servers started for this run.
test: deps
	$(CARGO) build --locked --all-targets
	hack/controlplane/with-controlplane.sh hack/s3/with-s3.sh \
	  bash -c 'hack/test-chart.sh && $(CARGO) test --locked --no-fail-fast'

## The demo: control plane, S3 server and controller on loopback, examples/ applied.
demo: deps
	$(CARGO) build --locked
	hack/demo.sh

.PHONY: manifests
## Render the chart (default values, CRDs included) into deploy/bucketcors.yaml for `kubectl apply -f`.
manifests:
	hack/render-manifest.sh > deploy/bucketcors.yaml

## Scale benchmark of the controller (real control plane, moto behind a latency proxy); see BENCHMARKS.md.
## Options go through BENCH_ARGS, e.g. make bench BENCH_ARGS="--plan 10000x1".
.PHONY: bench bench-engine
bench:
	hack/bench/run.sh $(BENCH_ARGS)

## Criterion micro-benchmarks of the pure engine (under two minutes).
bench-engine:
	$(CARGO) bench --locked --bench engine
