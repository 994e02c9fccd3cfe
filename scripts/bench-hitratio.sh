#!/usr/bin/env bash
# Hit ratio of Redis and HyperCache under the same workload and the same maxmemory: a
# Zipf(0.99) trace of GETs over KEYS keys, SET on a miss (examples/hitratio.rs), with
# maxmemory = what Redis uses to hold 10% of the keys. Usage: scripts/bench-hitratio.sh [KEYS] [GETS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
keys="${1:-1000000}"; gets="${2:-10000000}"
cargo build --release --bin hypercache --example hitratio
work="$(mktemp -d)"
rport="$(free_port)"; hport="$(free_port)"
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --enable-debug-command local --dir "$work" >"$work/redis.log" 2>&1 &
rpid=$!
printf 'persistence:\n  strategy: disabled\n' > "$work/hc.yaml"
target/release/hypercache --config "$work/hc.yaml" --resp-port "$hport" --http-port 0 --gossip-port 0 --data-dir "$work/hc" --log-level warn >"$work/hc.log" 2>&1 &
hpid=$!
trap 'kill $rpid $hpid 2>/dev/null; wait $rpid $hpid 2>/dev/null; rm -rf "$work"' EXIT
wait_ping "$rport"; wait_ping "$hport"
# The budget: Redis's used_memory with a tenth of the keys loaded.
tenth=$((keys / 10))
base=$(redis-cli -p "$rport" info memory | awk -F: '/^used_memory:/{print $2+0}')
redis-cli -p "$rport" debug populate "$tenth" key: 16 >/dev/null
full=$(redis-cli -p "$rport" info memory | awk -F: '/^used_memory:/{print $2+0}')
budget=$full
echo "keys=$keys gets=$gets budget=$budget bytes (Redis used_memory with $tenth keys; $(( (full-base)/tenth )) B/key; Redis empty: $base)"
# Redis's maxmemory counts its own empty footprint, HyperCache's only the data: "hypercache="
# gets the same number, "hypercache-" the same number minus Redis's empty footprint.
for policy in lru lfu; do
  for side in redis hypercache= hypercache-; do
    port=$rport; limit=$budget
    [ "$side" != redis ] && port=$hport
    [ "$side" = hypercache- ] && limit=$((budget - base))
    redis-cli -p "$port" flushall >/dev/null
    redis-cli -p "$port" config set maxmemory-policy "allkeys-$policy" >/dev/null
    redis-cli -p "$port" config set maxmemory "$limit" >/dev/null
    printf '%-11s %-4s ' "$side" "$policy"
    target/release/examples/hitratio --addr "127.0.0.1:$port" --keys "$keys" --gets "$gets"
  done
done
