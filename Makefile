# HyperCache — see README.md. `make test` is what CI runs.
CARGO ?= cargo

.PHONY: build run test test-unit test-integration test-diff bench lint fmt clean

build:
	$(CARGO) build --release

run:
	$(CARGO) run --release

# Every test: unit and integration tests against the real binary, then the differential
# test against a real redis-server.
test:
	$(CARGO) test --all-targets
	scripts/resp-diff.sh target/debug/hypercache

test-unit:
	$(CARGO) test --lib

test-integration:
	$(CARGO) test --tests

test-diff:
	$(CARGO) build --bin hypercache
	scripts/resp-diff.sh target/debug/hypercache

bench:
	scripts/bench.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf data logs
