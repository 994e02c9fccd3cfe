#!/usr/bin/env bash
# Runs tests/postman/hypercache.postman_collection.json with newman (npm) against a local
# three-node cluster: the HTTP API's contract, route by route, with the original
# HyperCache's field names (README, HTTP API). Every assertion must pass.
# Usage: scripts/check-postman.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bin="${1:-target/debug/hypercache}"
[ -x "$bin" ] || cargo build --bin hypercache
command -v npm >/dev/null || { echo "check-postman: npm is required (apt-get install -y npm)" >&2; exit 1; }
newman=target/newman/node_modules/.bin/newman
if [ ! -x "$newman" ]; then
  mkdir -p target/newman
  npm install --silent --no-audit --no-fund --prefix target/newman 'newman@6' >/dev/null
fi
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
# Replicated to all three, written everywhere at once, as the collection expects.
start_cluster3 "$bin" $'persistence:\n  strategy: disabled\n'
args=()
for i in 0 1 2; do args+=(--env-var "node$((i + 1))_http=http://127.0.0.1:${http[$i]}"); done
"$newman" run tests/postman/hypercache.postman_collection.json "${args[@]}" \
  --reporters cli --color off --delay-request 20 > "$work/newman.log" 2>&1 || {
  cat "$work/newman.log" >&2
  echo "check-postman: assertions failed" >&2
  exit 1
}
grep -E '│ +(requests|test-scripts|assertions) ' "$work/newman.log" || tail -20 "$work/newman.log"
echo "check-postman: every assertion passed"
