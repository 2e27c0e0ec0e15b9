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

.PHONY: manifests
## Render the chart (default values, CRDs included) into deploy/bucketcors.yaml for `kubectl apply -f`.
manifests:
	hack/render-manifest.sh > deploy/bucketcors.yaml
