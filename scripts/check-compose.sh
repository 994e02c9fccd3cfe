#!/usr/bin/env bash
# Checks the container image and the compose stack with podman (no Docker engine runs on
# these machines): builds the image from the Dockerfile (scripts/container-image.sh), checks
# what it promises (non-root, HEALTHCHECK, volumes, ports), then starts the three HyperCache
# services of deploy/docker-compose.cluster.yml with podman-compose (PyPI) on a podman
# network, on free host ports:
#   - the three find each other by gossip through their service names;
#   - a write on node 1 is read on node 3, by RESP and by HTTP with a correlation id that
#     reaches node 1's JSON log file in its logs volume;
#   - node 3's container is killed, writes go on without it, and once restarted it catches up;
#   - `podman healthcheck run` passes (the image's HEALTHCHECK, `hypercache health`).
# The other services (Prometheus, Grafana, Elasticsearch, Filebeat, Kibana) need images from
# registries; their files are checked to exist and parse. Usage: scripts/check-compose.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
for tool in podman debootstrap runc; do
  command -v "$tool" >/dev/null ||
    { echo "check-compose: $tool is required (apt-get install -y podman runc debootstrap)" >&2; exit 1; }
done
IMAGE=localhost/hypercache:check
export IMAGE
scripts/container-image.sh

fail() { echo "check-compose: $*" >&2; exit 1; }
# podman schedules HEALTHCHECKs with systemd timers, and there is no systemd here: its
# complaint is noise (the check runs `podman healthcheck run` itself).
quiet() { "$@" 2> >(grep -v -e 'systemd connection' -e 'connect to syslog' >&2); }
inspect() { pod image inspect "$IMAGE" --format "$1"; }
[ "$(inspect '{{.Config.User}}')" = "hypercache:hypercache" ] || fail "the image does not run as hypercache"
inspect '{{json .Config.Healthcheck}}' | grep -q '"hypercache","health"' || fail "no HEALTHCHECK"
for v in /var/lib/hypercache /var/log/hypercache; do
  inspect '{{json .Config.Volumes}}' | grep -q "\"$v\"" || fail "no volume $v"
done
for p in 8080/tcp 9080/tcp 7946/udp; do
  inspect '{{json .Config.ExposedPorts}}' | grep -q "\"$p\"" || fail "port $p not exposed"
done
quiet pod run --rm "$IMAGE" --version | grep -q '^hypercache ' || fail "the image's binary does not run"
# Bad configuration fails fast and says why, as outside a container.
if quiet pod run --rm -e HYPERCACHE_RESP_PORT=nope "$IMAGE" >/dev/null 2>&1; then
  fail "a bad HYPERCACHE_RESP_PORT was accepted"
fi

venv=target/compose-venv
if [ ! -x "$venv/bin/podman-compose" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'podman-compose>=1.2' pyyaml
fi
compose_file=deploy/docker-compose.cluster.yml
# Every file the stack mounts exists and parses.
"$venv/bin/python" - "$compose_file" <<'PY'
import json, os, sys, yaml
path = sys.argv[1]
stack = yaml.safe_load(open(path))
base = os.path.dirname(path)
want = {"hypercache-1", "hypercache-2", "hypercache-3", "prometheus", "grafana",
        "elasticsearch", "filebeat", "kibana"}
missing = want - set(stack["services"])
assert not missing, f"services missing: {missing}"
for name, svc in stack["services"].items():
    for vol in svc.get("volumes", []):
        src = vol.split(":")[0]
        if src.startswith("."):
            full = os.path.join(base, src)
            assert os.path.exists(full), f"{name}: {src} does not exist"
            if os.path.isfile(full) and full.endswith((".yml", ".yaml")):
                yaml.safe_load(open(full))
            if os.path.isdir(full):
                for root, _, files in os.walk(full):
                    for f in files:
                        p = os.path.join(root, f)
                        (json.load if f.endswith(".json") else yaml.safe_load)(open(p))
print(f"check-compose: {len(stack['services'])} services, mounted files present and parsed")
PY

project="hc-check-$$"
declare -A port
for i in 1 2 3; do
  port[resp$i]=$(free_port); port[http$i]=$(free_port)
  export "HC${i}_RESP_PORT=${port[resp$i]}" "HC${i}_HTTP_PORT=${port[http$i]}"
done
export HYPERCACHE_IMAGE="$IMAGE" HYPERCACHE_CLUSTER_SECRET="check-$$-secret"
compose() {
  $SUDO env CONTAINERS_CONF="$CONTAINERS_CONF" HYPERCACHE_IMAGE="$IMAGE" \
    HYPERCACHE_CLUSTER_SECRET="$HYPERCACHE_CLUSTER_SECRET" \
    HC1_RESP_PORT="$HC1_RESP_PORT" HC1_HTTP_PORT="$HC1_HTTP_PORT" \
    HC2_RESP_PORT="$HC2_RESP_PORT" HC2_HTTP_PORT="$HC2_HTTP_PORT" \
    HC3_RESP_PORT="$HC3_RESP_PORT" HC3_HTTP_PORT="$HC3_HTTP_PORT" \
    "$venv/bin/podman-compose" -p "$project" -f "$compose_file" "$@"
}
container() { pod ps -a --filter "label=io.podman.compose.project=$project" \
  --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -1; }
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    for i in 1 2 3; do
      c=$(container "hypercache-$i" 2>/dev/null || true)
      [ -n "$c" ] && { echo "--- $c" >&2; pod logs --tail 30 "$c" >&2 2>&1 || true; }
    done
  fi
  compose down -v >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
quiet compose up -d hypercache-1 hypercache-2 hypercache-3 >/dev/null

# Ready: every node healthy, and node 1 sees three live members.
wait_health() {
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:${port[http$1]}/health" >/dev/null && return 0
    sleep 0.2
  done
  fail "node $1 never became healthy"
}
for i in 1 2 3; do wait_health "$i"; done
for _ in $(seq 1 150); do
  redis-cli -p "${port[resp1]}" INFO cluster | grep -q 'hypercache_cluster_size:3' && break
  sleep 0.2
done
redis-cli -p "${port[resp1]}" INFO cluster | grep -q 'hypercache_cluster_size:3' ||
  fail "node 1 does not see three members: $(redis-cli -p "${port[resp1]}" INFO cluster | tr -d '\r')"
echo "check-compose: three containers up, healthy, and in one cluster"

# A write on node 1 is read on node 3 (RESP), and over HTTP with a correlation id.
wait_value() { # port key want
  for _ in $(seq 1 100); do
    [ "$(redis-cli -p "$1" GET "$2")" = "$3" ] && return 0
    sleep 0.1
  done
  fail "GET $2 on port $1 is '$(redis-cli -p "$1" GET "$2")', not '$3'"
}
[ "$(redis-cli -p "${port[resp1]}" SET greeting hello)" = OK ] || fail "SET on node 1 failed"
wait_value "${port[resp3]}" greeting hello
cid="compose-check-$$"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "X-Correlation-ID: $cid" \
  -H 'Content-Type: application/json' -d '{"value":"over-http"}' \
  "http://127.0.0.1:${port[http1]}/api/cache/http-key")
[ "$code" = 200 ] || [ "$code" = 201 ] || fail "PUT on node 1 answered $code"
for _ in $(seq 1 100); do
  curl -s "http://127.0.0.1:${port[http3]}/api/cache/http-key" | grep -q '"value":"over-http"' && break
  sleep 0.1
done
curl -s "http://127.0.0.1:${port[http3]}/api/cache/http-key" | grep -q '"value":"over-http"' ||
  fail "node 3 does not answer the key written over HTTP on node 1"
c1=$(container hypercache-1)
for _ in $(seq 1 50); do
  pod exec "$c1" sh -c "grep -h '$cid' /var/log/hypercache/hypercache-node-1.log*" >/dev/null 2>&1 && break
  sleep 0.2
done
pod exec "$c1" sh -c "grep -h '$cid' /var/log/hypercache/hypercache-node-1.log*" | head -1 |
  python3 -c 'import json,sys; line=json.loads(sys.stdin.readline()); assert line["node_id"]=="node-1", line' ||
  fail "the correlation id is not in node 1's JSON log file"
echo "check-compose: node 1's write read on node 3; correlation id in node 1's log volume"

# The image's HEALTHCHECK passes in a running container.
pod healthcheck run "$c1" >/dev/null || fail "podman healthcheck run failed on $c1"
[ "$(pod exec "$c1" id -u)" = 10001 ] || fail "the node does not run as uid 10001"

# Node 3 killed; writes go on; restarted, it catches up from its volume and its peers.
c3=$(container hypercache-3)
pod kill "$c3" >/dev/null
for _ in $(seq 1 100); do
  redis-cli -p "${port[resp1]}" INFO cluster | grep -q 'hypercache_cluster_size:2' && break
  sleep 0.2
done
for n in $(seq 1 50); do
  [ "$(redis-cli -p "${port[resp1]}" SET "while-down:$n" "v$n")" = OK ] || fail "SET while node 3 was down"
done
quiet pod start "$c3" >/dev/null
wait_health 3
for n in 1 25 50; do wait_value "${port[resp3]}" "while-down:$n" "v$n"; done
for _ in $(seq 1 150); do
  [ "$(redis-cli -p "${port[resp3]}" DBSIZE)" = 52 ] && break
  sleep 0.2
done
[ "$(redis-cli -p "${port[resp3]}" DBSIZE)" = 52 ] ||
  fail "node 3 has $(redis-cli -p "${port[resp3]}" DBSIZE) keys after catching up, not 52"
[ "$(redis-cli -p "${port[resp3]}" GET greeting)" = hello ] || fail "node 3 lost a key across its restart"
echo "check-compose: node 3 killed, restarted, caught up (52 keys)"
