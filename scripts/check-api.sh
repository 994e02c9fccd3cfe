#!/usr/bin/env bash
# Checks a running node's HTTP API with outside tools: `promtool check metrics` on /metrics
# and a real Prometheus server scraping it (Debian package prometheus), and schemathesis (PyPI, into target/schemathesis-venv) against
# /openapi.json — no 5xx, no response outside the schema, no valid request refused, no
# invalid one accepted. Usage: scripts/check-api.sh [BINARY] (default target/debug/hypercache).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bin="${1:-target/debug/hypercache}"
examples="${SCHEMATHESIS_EXAMPLES:-40}"
seed="${SCHEMATHESIS_SEED:-1}"
command -v promtool >/dev/null || { echo "promtool is required (apt-get install -y prometheus)" >&2; exit 1; }
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'schemathesis>=4.3,<5'
fi
[ -x "$bin" ] || cargo build --bin hypercache
work="$(mktemp -d)"
rport="$(free_port)"; hport="$(free_port)"
"$bin" --resp-port "$rport" --http-port "$hport" --gossip-port 0 --data-dir "$work/data" \
  --log-level warn >"$work/hc.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
wait_ping "$rport"
# Some data and traffic, so every metric family has samples and GETs find keys.
redis-cli -p "$rport" MSET 0 zero a b >/dev/null
redis-cli -p "$rport" GET nope >/dev/null
curl -sf -X PUT "http://127.0.0.1:$hport/api/cache/json" -d '{"value":{"x":[1]}}' >/dev/null
echo "promtool check metrics"
curl -sf "http://127.0.0.1:$hport/metrics" | promtool check metrics
echo "prometheus scrapes /metrics"
pport="$(free_port)"
cat > "$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: hypercache
    static_configs:
      - targets: ["127.0.0.1:$hport"]
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$work/prometheus.log" 2>&1 &
ppid=$!
trap 'kill $pid $ppid 2>/dev/null; wait $pid $ppid 2>/dev/null; rm -rf "$work"' EXIT
query() { curl -sf "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1"; }
scraped=""
for _ in $(seq 1 150); do
  # The target is up, its last scrape had no error, and our series are queryable.
  if query 'up{job="hypercache"} == 1' | grep -q '"value"' \
    && query 'hypercache_items{job="hypercache"}' | grep -q '"node":"node-1"'; then
    scraped=yes; break
  fi
  sleep 0.2
done
if [ -z "$scraped" ]; then
  echo "prometheus did not scrape the node cleanly:" >&2
  curl -s "http://127.0.0.1:$pport/api/v1/targets" >&2 || cat "$work/prometheus.log" >&2
  exit 1
fi
curl -sf "http://127.0.0.1:$pport/api/v1/targets" | python3 -c '
import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"][0]
assert t["health"] == "up" and t["lastError"] == "", t
print("  target", t["scrapeUrl"], "health", t["health"], "last error none")'
kill $ppid; wait $ppid 2>/dev/null || true
echo "schemathesis ($examples examples per operation, seed $seed)"
# The event stream (GET /api/pubsub/{channel}) never ends, so it is left out here
# (tests/pubsub.rs and the OpenAPI test in tests/http.rs read it); every request has 30 s.
(cd "$work" && "$OLDPWD/$venv/bin/schemathesis" run "http://127.0.0.1:$hport/openapi.json" \
  --checks all --max-examples "$examples" --seed "$seed" --no-color \
  --exclude-name 'GET /api/pubsub/{channel}' --request-timeout 30)
