#!/usr/bin/env bash
# Throughput side by side with Redis on this machine: starts redis-server and a release
# HyperCache, runs bench_vs_redis.py (SET and GET, 50 clients, pipelines 1 and 16, 16-byte
# values) and prints the table. Extra arguments go to bench_vs_redis.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
require_redis_benchmark
cargo build --release --bin hypercache
start_pair
echo "machine: $(nproc) cores, $(uname -sr), $(redis-server --version | cut -d' ' -f1-3)"
python3 "$(tool bench_vs_redis.py)" --ref "127.0.0.1:$rport" --sut "127.0.0.1:$hport" \
  --tests set,get --pipelines 1,16 --clients 50 -d 16 "$@"
