#!/usr/bin/env bash
# EVAL side by side with Redis (redis-benchmark sends a script as a custom command, which
# bench_vs_redis.py does not): `EVAL "return redis.call('INCR',KEYS[1])" 1 key:__rand_int__`
# against redis-server and a release HyperCache in turn, ROUNDS times, pipelines 1 and 16.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
rounds="${ROUNDS:-3}"; n="${N:-200000}"
cargo build --release --bin hypercache
start_pair
rps() {
  redis-benchmark -p "$1" -c 50 -n "$n" -P "$2" -r 100000 --csv -q \
    EVAL "return redis.call('INCR',KEYS[1])" 1 key:__rand_int__ | tail -1 | cut -d'"' -f4
}
for p in 1 16; do
  ratios=()
  for r in $(seq "$rounds"); do
    ref=$(rps "$rport" "$p"); sut=$(rps "$hport" "$p")
    ratio=$(python3 -c "print(round($sut/$ref, 2))")
    echo "P$p round $r: redis $ref, hypercache $sut, ratio $ratio"
    ratios+=("$ratio")
  done
  python3 -c "import statistics,sys; print('P$p median ratio', statistics.median(map(float, sys.argv[1:])))" "${ratios[@]}"
done
