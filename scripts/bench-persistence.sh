#!/usr/bin/env bash
# Persistence benchmarks (docs/benchmarks.md, "Persistence"):
#  1. SET with sync_policy everysec vs the same node without persistence;
#  2. SET with sync_policy always vs Redis with appendonly yes, appendfsync always (50 clients);
#  3. start-up time with 1M keys, and the duration and peak RSS of a 1M-key snapshot
#     (tools/bench_persistence.py).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
cargo build --release --bin hypercache
bin=target/release/hypercache
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

start_hc() { # name port policy-yaml
  printf '%b' "$3" > "$work/$1.yaml"
  "$bin" --config "$work/$1.yaml" --resp-port "$2" --data-dir "$work/$1" --log-level warn >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_ping "$2"
}

echo "machine: $(nproc) cores, $(uname -sr), $(redis-server --version | cut -d' ' -f1-3)"
echo "== 1. everysec vs no persistence (SET, 50 clients)"
p1="$(free_port)"; p2="$(free_port)"
start_hc none "$p1" 'persistence:\n  strategy: disabled\n'
start_hc everysec "$p2" 'persistence:\n  sync_policy: everysec\n  snapshot_interval: 1h\n'
python3 "$(tool bench_vs_redis.py)" --ref "127.0.0.1:$p1" --sut "127.0.0.1:$p2" \
  --tests set --pipelines 1,16 --clients 50 -d 16 --rounds "${ROUNDS:-3}" -n "${N:-200000}"
kill "${pids[@]}"; wait 2>/dev/null || true; pids=()

echo "== 2. appendfsync always: Redis vs HyperCache (SET, 50 clients)"
r="$(free_port)"; h="$(free_port)"
mkdir -p "$work/redis"
redis-server --port "$r" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always \
  --dir "$work/redis" >"$work/redis.log" 2>&1 &
pids+=($!)
wait_ping "$r"
start_hc always "$h" 'persistence:\n  sync_policy: always\n  snapshot_interval: 1h\n'
python3 "$(tool bench_vs_redis.py)" --ref "127.0.0.1:$r" --sut "127.0.0.1:$h" \
  --tests set --pipelines 1 --clients 50 -d 16 --rounds "${ROUNDS:-3}" -n "${N_ALWAYS:-50000}"
kill "${pids[@]}"; wait 2>/dev/null || true; pids=()

echo "== 3. start-up with 1M keys, snapshot of 1M keys"
python3 tools/bench_persistence.py --bin "$bin" --work "$work/startup" --keys "${KEYS:-1000000}"
