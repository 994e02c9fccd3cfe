#!/usr/bin/env bash
# What metrics and info-level logging cost on the RESP path: two release HyperCache nodes side
# by side through bench_vs_redis.py — the reference with per-command metrics off and logging
# at error, the one under test with metrics on and logging at info (the defaults). The ratio
# is on/off. Both have persistence off. Extra arguments go to bench_vs_redis.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
require_redis_benchmark
cargo build --release --bin hypercache
work="$(mktemp -d)"
off="$(free_port)"; on="$(free_port)"
printf 'persistence:\n  strategy: disabled\nmetrics:\n  enabled: false\n' > "$work/off.yaml"
printf 'persistence:\n  strategy: disabled\n' > "$work/on.yaml"
target/release/hypercache --config "$work/off.yaml" --node-id off --resp-port "$off" --http-port 0 --gossip-port 0 --log-level error >"$work/off.log" 2>&1 &
p1=$!
target/release/hypercache --config "$work/on.yaml" --node-id on --resp-port "$on" --http-port 0 --gossip-port 0 --log-level info >"$work/on.log" 2>&1 &
p2=$!
trap 'kill $p1 $p2 2>/dev/null; wait $p1 $p2 2>/dev/null; rm -rf "$work"' EXIT
wait_ping "$off"; wait_ping "$on"
echo "machine: $(nproc) cores, $(uname -sr); ref = metrics off + log error, sut = metrics on + log info"
python3 "$(tool bench_vs_redis.py)" --ref "127.0.0.1:$off" --sut "127.0.0.1:$on" \
  --tests set,get --pipelines 1,16 --clients 50 -d 16 "$@"
