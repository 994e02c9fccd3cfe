#!/usr/bin/env bash
# HTTP API throughput and latency with wrk (Debian package wrk): GET and PUT of 16-byte
# string values over 10,000 keys, 50 connections, 2 threads, against a release node with
# persistence off, with request logging at info (the default) and at warn.
# Usage: scripts/bench-http.sh [SECONDS] (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
command -v wrk >/dev/null || { echo "wrk is required (apt-get install -y wrk)" >&2; exit 1; }
secs="${1:-10}"
cargo build --release --bin hypercache
work="$(mktemp -d)"
printf 'persistence:\n  strategy: disabled\n' > "$work/hc.yaml"
cat > "$work/put.lua" <<'LUA'
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"value":"0123456789abcdef"}'
request = function()
  return wrk.format(nil, "/api/cache/bench:" .. math.random(0, 9999))
end
LUA
cat > "$work/get.lua" <<'LUA'
request = function()
  return wrk.format("GET", "/api/cache/bench:" .. math.random(0, 9999))
end
LUA
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(uname -sr), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
for level in info warn; do
  rport="$(free_port)"; hport="$(free_port)"
  target/release/hypercache --config "$work/hc.yaml" --resp-port "$rport" --http-port "$hport" \
    --gossip-port 0 --data-dir "$work/data" --log-level "$level" >/dev/null 2>&1 &
  pid=$!
  wait_ping "$rport"
  for op in put get; do
    echo "== $op, log level $level: wrk -t2 -c50 -d${secs}s --latency -s $op.lua"
    wrk -t2 -c50 -d"${secs}s" --latency -s "$work/$op.lua" "http://127.0.0.1:$hport" \
      | grep -E 'Requests/sec|Latency  |50%|99%|Non-2xx'
  done
  kill $pid; wait $pid 2>/dev/null || true; pid=""
done
