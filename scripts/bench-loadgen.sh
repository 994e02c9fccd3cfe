#!/usr/bin/env bash
# Side by side with Redis for what redis-benchmark cannot send (examples/loadgen.rs): runs
# `loadgen MODE ARGS...` against redis-server and a release HyperCache in turn, ROUNDS times
# (A B A B ...), and prints each figure and the median ratio.
#   scripts/bench-loadgen.sh tx --pipeline 16
#   scripts/bench-loadgen.sh fanout --subs 100 --pipeline 16
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
mode="$1"; shift
rounds="${ROUNDS:-3}"
cargo build --release --bin hypercache --example loadgen
start_pair
# The first number loadgen prints is the figure.
figure() { local port="$1"; shift; target/release/examples/loadgen "$mode" --addr "127.0.0.1:$port" "$@" | grep -oE '[0-9]+' | head -1; }
ratios=()
for r in $(seq "$rounds"); do
  ref=$(figure "$rport" "$@")
  sut=$(figure "$hport" "$@")
  ratio=$(python3 -c "print(round($sut/$ref, 2))")
  echo "round $r: redis $ref, hypercache $sut, ratio $ratio"
  ratios+=("$ratio")
done
python3 -c "import statistics,sys; print('median ratio', statistics.median(map(float, sys.argv[1:])))" "${ratios[@]}"
