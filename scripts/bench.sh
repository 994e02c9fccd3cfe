#!/usr/bin/env bash
# Throughput side by side with Redis on this machine: starts redis-server and a release
# HyperCache, runs bench_vs_redis.py (SET and GET, 50 clients, pipelines 1 and 16, 16-byte
# values) and prints the table. Extra arguments go to bench_vs_redis.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
require_redis_benchmark
cargo build --release --bin hypercache
work="$(mktemp -d)"
rport="$(free_port)"; hport="$(free_port)"
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
rpid=$!
# Like the Redis above (no RDB, no AOF): persistence off, so both do the same work.
printf 'persistence:\n  strategy: disabled\n' > "$work/hc.yaml"
target/release/hypercache --config "$work/hc.yaml" --resp-port "$hport" --data-dir "$work/hc" --log-level warn >"$work/hc.log" 2>&1 &
hpid=$!
trap 'kill $rpid $hpid 2>/dev/null; wait $rpid $hpid 2>/dev/null; rm -rf "$work"' EXIT
wait_ping "$rport"; wait_ping "$hport"
echo "machine: $(nproc) cores, $(uname -sr), $(redis-server --version | cut -d' ' -f1-3)"
python3 "$(tool bench_vs_redis.py)" --ref "127.0.0.1:$rport" --sut "127.0.0.1:$hport" \
  --tests set,get --pipelines 1,16 --clients 50 -d 16 "$@"
