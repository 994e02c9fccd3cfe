#!/usr/bin/env bash
# Checks deploy/k8s/: every manifest against Kubernetes' own schemas (kubernetes-validate
# from PyPI, strict: unknown fields are errors; kubectl is not on these machines), the
# ConfigMap's hypercache.yaml with `hypercache config validate`, and the DNS seeding the
# StatefulSet relies on: three nodes started with that config, each on its own loopback
# address with the same ports (as pods), find each other through the headless Service's
# name, which a private /etc/hosts (a mount namespace of their own: `unshare`) answers
# with the three addresses, as the cluster's DNS does. Usage: scripts/check-k8s.sh [BINARY].
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bin="${1:-target/debug/hypercache}"
[ -x "$bin" ] || cargo build --bin hypercache
command -v unshare >/dev/null || { echo "check-k8s: unshare is required (util-linux)" >&2; exit 1; }
# A mount namespace of the nodes' own: root makes one; anyone else, inside a user namespace.
ns=(--mount); [ "$(id -u)" = 0 ] || ns=(--user --map-root-user --mount)
venv=target/k8s-venv
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'kubernetes-validate>=1.30'
fi
"$venv/bin/kubernetes-validate" --strict deploy/k8s/*.yaml
work="$(mktemp -d)"
pids=()
# Helpers killed here (prometheus, redis-benchmark) end with 143, which is not this check's.
trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
"$venv/bin/python" - deploy/k8s/configmap.yaml "$work/hypercache.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
open(sys.argv[2], "w").write(doc["data"]["hypercache.yaml"])
PY
"$bin" config validate "$work/hypercache.yaml"
name=$(sed -n 's/^ *seed_dns: *\([^ #]*\).*/\1/p' "$work/hypercache.yaml")
[ -n "$name" ] || { echo "no seed_dns in the ConfigMap" >&2; exit 1; }
{
  echo "127.0.0.1 localhost"
  for i in 1 2 3; do echo "127.0.0.$i $name"; done
} > "$work/hosts"
resp="$(free_port)"; http="$(free_port)"
gossip="$(free_udp_port)"
for i in 1 2 3; do
  unshare "${ns[@]}" -- sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$work/hosts" \
    "$bin" --config "$work/hypercache.yaml" --node-id "hypercache-$((i - 1))" --bind "127.0.0.$i" \
    --resp-port "$resp" --http-port "$http" --gossip-port "$gossip" --data-dir "$work/d$i" \
    > "$work/n$i.log" 2>&1 &
  pids+=($!)
done
joined=""
for _ in $(seq 1 300); do
  n=0
  for i in 1 2 3; do
    redis-cli -h "127.0.0.$i" -p "$resp" INFO cluster 2>/dev/null | grep -q 'hypercache_cluster_size:3' && n=$((n + 1))
  done
  [ "$n" = 3 ] && { joined=yes; break; }
  sleep 0.1
done
if [ -z "$joined" ]; then
  echo "the three nodes did not find each other through $name:" >&2
  tail -n 5 "$work"/n*.log >&2
  exit 1
fi
redis-cli -h 127.0.0.1 -p "$resp" SET k8s-seeded yes >/dev/null
got=""
for _ in $(seq 1 50); do
  got=$(redis-cli -h 127.0.0.3 -p "$resp" GET k8s-seeded)
  [ "$got" = yes ] && break
  sleep 0.1
done
[ "$got" = yes ] || { echo "a write on node 1 is not read on node 3 ($got)" >&2; exit 1; }
echo "k8s: manifests valid; three nodes seeded by $name found each other; a write on one read on another"
