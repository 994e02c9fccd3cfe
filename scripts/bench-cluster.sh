#!/usr/bin/env bash
# A node of a 3-node cluster against a single node, side by side: both with the cluster
# configs' settings (AOF everysec, replication to every node, consistency eventual), release
# build. Runs GET misses (keys never written), then SET, then GET hits, through
# bench_vs_redis.py with the single node as the reference. Extra arguments go to every run.
#
#   scripts/bench-cluster.sh                 # all three
#   CASES=miss scripts/bench-cluster.sh      # one of miss, set, hit, cpu
#
# `cpu`: CPU seconds (user+system, from /proc) each process spends per million SETs
# (pipeline 16, 50 clients) — on the single node, and on the origin and each replica;
# CPU_N sets the requests per run (default 2M; 40M spans a periodic anti-entropy pass);
# BIN runs another build (e.g. an older one kept aside) instead of target/release.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
require_redis_benchmark
cargo build --release --bin hypercache
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

config() { # id, seeds (YAML list items or empty)
  cat <<EOF
node:
  id: $1
cluster:
  seeds: [$2]
  consistency_level: eventual
persistence:
  strategy: aof+snapshot
  sync_policy: everysec
logging:
  level: warn
EOF
}

start() { # id resp gossip seeds
  config "$1" "$4" > "$work/$1.yaml"
  "${BIN:-target/release/hypercache}" --config "$work/$1.yaml" --resp-port "$2" --http-port 0 \
    --gossip-port "$3" --data-dir "$work/$1" >"$work/$1.log" 2>&1 &
  pids+=($!)
}

# CPU seconds (user + system) a process has used so far.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# CPU per million SETs on each of the given pids while redis-benchmark loads port $1.
cpu_run() { # port n pid...
  local port="$1" n="$2"; shift 2
  local before=() p i=0
  for p in "$@"; do before+=("$(cpu_of "$p")"); done
  redis-benchmark -p "$port" -t set -P 16 -c 50 -n "$n" -r 100000 --csv | tail -1
  for p in "$@"; do
    awk -v a="${before[$i]}" -v b="$(cpu_of "$p")" -v n="$n" -v w="$p" \
      'BEGIN { printf "  pid %s: %.3f CPU s per 1M writes\n", w, (b - a) * 1e6 / n }'
    i=$((i + 1))
  done
}

single="$(free_port)"
start single "$single" "$(free_port)" ""
r=(); g=()
for i in 0 1 2; do r+=("$(free_port)"); g+=("$(free_port)"); done
for i in 0 1 2; do
  seeds=""
  for j in 0 1 2; do [ "$j" = "$i" ] || seeds="$seeds${seeds:+, }127.0.0.1:${g[$j]}"; done
  start "node-$((i + 1))" "${r[$i]}" "${g[$i]}" "$seeds"
done
wait_ping "$single"
for p in "${r[@]}"; do wait_ping "$p"; done
for p in "${r[@]}"; do
  for _ in $(seq 1 200); do
    redis-cli -p "$p" INFO cluster | grep -q 'hypercache_cluster_size:3' && break
    sleep 0.1
  done
done
# Let the first anti-entropy passes run, so the peers vouch for their streams.
sleep 2
if [ -n "${HOLD:-}" ]; then
  echo "single: ${single}; nodes: ${r[*]} (HOLD set: press Ctrl-C or kill to stop)"
  sleep "$HOLD"
  exit 0
fi
bench() { python3 "$(tool bench_vs_redis.py)" --ref "127.0.0.1:$single" --sut "127.0.0.1:${r[0]}" "$@"; }
echo "machine: $(nproc) cores, $(uname -sr); ref = single node, sut = node 1 of 3"
for c in ${CASES:-miss set hit}; do
  case "$c" in
    miss) echo "# GET of keys never written (misses)"
          bench --tests get --pipelines 1,16 -r 1000000 "$@" ;;
    set)  echo "# SET"
          bench --tests set --pipelines 1,16 "$@" ;;
    cpu)  echo "# CPU per million SETs (P16): the single node"
          cpu_run "$single" "${CPU_N:-2000000}" "${pids[0]}"
          echo "# ... node 1 of 3 (origin), then node 2 and node 3 (replicas)"
          cpu_run "${r[0]}" "${CPU_N:-2000000}" "${pids[1]}" "${pids[2]}" "${pids[3]}" ;;
    hit)  echo "# GET of written keys (hits): fill both first"
          for p in "$single" "${r[0]}"; do
            redis-benchmark -p "$p" -t set -n 1000000 -r 100000 -P 16 -q >/dev/null
          done
          bench --tests get --pipelines 1,16 -r 100000 "$@" ;;
  esac
done
echo "# node 1 after the runs"
redis-cli -p "${r[0]}" INFO cluster | grep -E 'read_index|read_repair' || true
