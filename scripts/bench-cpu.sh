#!/usr/bin/env bash
# What bounds a pipelined benchmark on this machine: for each case, runs redis-benchmark
# against redis-server and a release HyperCache in turn and prints the rps with the CPU each
# process used (percent of one core, from /proc over the middle of the run). When the client
# and the server together use every core, the rate is the machine's, not the server's.
#   scripts/bench-cpu.sh [-P 16] [-s 4] [tests...]   (default: ping_mbulk hset lpush)
# Each run is sized to last about -s seconds (from a short calibration run); 100k random
# keys and 16-byte values, as bench_vs_redis.py runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
require_redis_benchmark
pipeline=16; secs=4
while getopts "P:s:" o; do
  case $o in P) pipeline=$OPTARG ;; s) secs=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
tests=("$@"); [ ${#tests[@]} -gt 0 ] || tests=(ping_mbulk hset lpush)
cargo build --release --bin hypercache
start_pair
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "machine: $(nproc) cores; P$pipeline, 50 clients, runs of ~${secs} s"
rate() { tr '\r' '\n' <"$1" | grep "requests per second" | tail -1 | sed 's/.*: \([0-9.]*\) requests.*/\1/'; }
printf '%-12s %-10s %10s %12s %12s\n' case server rps server-cpu% client-cpu%
for t in "${tests[@]}"; do
  for side in redis hypercache; do
    if [ $side = redis ]; then port=$rport; spid=$rpid; else port=$hport; spid=$hpid; fi
    redis-cli -p "$port" flushall >/dev/null
    redis-benchmark -p "$port" -t "$t" -n 100000 -c 50 -P "$pipeline" -r 100000 -d 16 -q >"$work/out" 2>&1
    n=$(awk -v r="$(rate "$work/out")" -v s="$secs" 'BEGIN { printf "%d", r * s }')
    redis-benchmark -p "$port" -t "$t" -n "$n" -c 50 -P "$pipeline" -r 100000 -d 16 -q >"$work/out" 2>&1 &
    bpid=$!
    sleep 1
    s1=$(ticks $spid); b1=$(ticks $bpid); sleep 2
    s2=$(ticks $spid); b2=$(ticks $bpid)
    wait $bpid
    rps=$(rate "$work/out")
    printf '%-12s %-10s %10.0f %12d %12d\n' "$t" $side "$rps" $(( (s2 - s1) * 100 / (2 * hz) )) $(( (b2 - b1) * 100 / (2 * hz) ))
  done
done
