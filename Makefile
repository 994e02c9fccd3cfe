# HyperCache — see README.md. `make test` is what CI runs.
CARGO ?= cargo

.PHONY: build run test test-unit test-integration test-diff test-api test-unsafe test-fuzz fuzz bench bench-persistence cluster cluster-stop lint fmt clean

build:
	$(CARGO) build --release

run:
	$(CARGO) run --release

# Every test: unit and integration tests against the real binary, the differential test
# against a real redis-server, promtool and schemathesis against the HTTP API, the unsafe core
# under Valgrind and Miri, and a short run of every fuzz target.
test:
	$(CARGO) test --all-targets
	scripts/resp-diff.sh target/debug/hypercache
	scripts/check-api.sh target/debug/hypercache
	scripts/check-unsafe.sh
	scripts/fuzz.sh 10

test-unit:
	$(CARGO) test --lib

test-integration:
	$(CARGO) test --tests

test-diff:
	$(CARGO) build --bin hypercache
	scripts/resp-diff.sh target/debug/hypercache

test-api:
	$(CARGO) build --bin hypercache
	scripts/check-api.sh target/debug/hypercache

test-unsafe:
	scripts/check-unsafe.sh

test-fuzz:
	scripts/fuzz.sh 10

# Coverage-guided fuzzing (cargo-fuzz, nightly): FUZZ_SECONDS per target, one after another,
# after replaying fuzz/regressions. See docs/fuzzing.md.
FUZZ_SECONDS ?= 300
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

bench:
	scripts/bench.sh

bench-persistence:
	scripts/bench-persistence.sh

# A local three-node cluster from configs/node{1,2,3}-config.yaml (RESP 8080-8082, HTTP
# 9080-9082, gossip 7946-7948), in the background; logs in logs/, pids in logs/cluster.pids.
cluster: build
	@mkdir -p logs
	@if [ -s logs/cluster.pids ]; then echo "cluster already running (make cluster-stop first)"; exit 1; fi
	@for n in 1 2 3; do \
	  target/release/hypercache --config configs/node$$n-config.yaml > logs/node-$$n.log 2>&1 & \
	  echo $$! >> logs/cluster.pids; \
	done
	@for p in 8080 8081 8082; do \
	  for i in $$(seq 1 200); do \
	    redis-cli -p $$p INFO cluster 2>/dev/null | grep -q 'hypercache_cluster_size:3' && break; sleep 0.1; \
	  done; \
	done
	@echo "cluster up: redis-cli -p 8080 / 8081 / 8082 (pids in logs/cluster.pids, logs in logs/)"

cluster-stop:
	@if [ -f logs/cluster.pids ]; then \
	  for pid in $$(cat logs/cluster.pids); do kill $$pid 2>/dev/null || true; done; \
	  for pid in $$(cat logs/cluster.pids); do while kill -0 $$pid 2>/dev/null; do sleep 0.1; done; done; \
	  rm -f logs/cluster.pids; echo "cluster stopped"; \
	else echo "no cluster running"; fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean: cluster-stop
	$(CARGO) clean
	rm -rf data logs
