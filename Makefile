# HyperCache — see README.md. `make test` is what CI runs.
CARGO ?= cargo

.PHONY: build run test test-postman test-compose docker-build docker-up docker-down podman-build test-unit test-integration test-diff test-api test-dashboards test-k8s test-dashboard-page test-unsafe test-fuzz fuzz bench bench-persistence cluster cluster-stop lint fmt clean distclean

build:
	$(CARGO) build --release

run:
	$(CARGO) run --release

# Every test: unit and integration tests against the real binary, the differential test
# against a real redis-server, promtool and schemathesis against the HTTP API, the shipped
# Prometheus config, alert rules and Grafana dashboards against a real Prometheus, the
# Kubernetes manifests and their DNS seeding, the built-in dashboard in headless Chromium,
# the Postman collection with newman, the container image and the compose file's three
# nodes under podman, the unsafe core under Valgrind and Miri, and a short run of every
# fuzz target.
test:
	$(CARGO) test --all-targets
	scripts/resp-diff.sh target/debug/hypercache
	scripts/check-api.sh target/debug/hypercache
	scripts/check-dashboards.sh target/debug/hypercache
	scripts/check-k8s.sh target/debug/hypercache
	scripts/check-dashboard-page.sh target/debug/hypercache
	scripts/check-postman.sh target/debug/hypercache
	scripts/check-compose.sh
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

test-dashboards:
	$(CARGO) build --bin hypercache
	scripts/check-dashboards.sh target/debug/hypercache

test-k8s:
	$(CARGO) build --bin hypercache
	scripts/check-k8s.sh target/debug/hypercache

test-dashboard-page:
	$(CARGO) build --bin hypercache
	scripts/check-dashboard-page.sh target/debug/hypercache

test-postman:
	$(CARGO) build --bin hypercache
	scripts/check-postman.sh target/debug/hypercache

test-compose:
	scripts/check-compose.sh

# The image and the compose stack (deploy/docker-compose.cluster.yml) with Docker.
DOCKER ?= docker
COMPOSE ?= $(DOCKER) compose -f deploy/docker-compose.cluster.yml

docker-build:
	$(DOCKER) build -t hypercache:latest .

docker-up:
	$(COMPOSE) up -d --build

docker-down:
	$(COMPOSE) down

# The image without an image registry: base images made from Debian packages (podman).
podman-build:
	IMAGE=localhost/hypercache:latest scripts/container-image.sh

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
# A node that does not come up fails it (its log shown, the others stopped).
cluster: build
	scripts/cluster.sh start

cluster-stop:
	scripts/cluster.sh stop

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# What the nodes wrote (data/, logs/); `make distclean` also removes the build output.
clean: cluster-stop
	rm -rf data logs

distclean: clean
	$(CARGO) clean
