#!/usr/bin/env bash
# Checks what the deploy stack ships for Prometheus and Grafana against the real thing:
# `promtool check config` and `promtool check rules` on deploy/prometheus/, then a real
# Prometheus (Debian package prometheus) scraping a local three-node cluster under load, and
# every panel's PromQL expression of deploy/grafana/dashboards/*.json must return a non-empty
# result through Prometheus's HTTP API. Usage: scripts/check-dashboards.sh [BINARY].
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bin="${1:-target/debug/hypercache}"
command -v promtool >/dev/null || { echo "promtool is required (apt-get install -y prometheus)" >&2; exit 1; }
require_redis_benchmark
[ -x "$bin" ] || cargo build --bin hypercache
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/alerts.yml
work="$(mktemp -d)"
pids=()
# Helpers killed here (prometheus, redis-benchmark) end with 143, which is not this check's.
trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
start_cluster3 "$bin" $'persistence:\n  strategy: aof+snapshot\n  sync_policy: everysec\n'
pport="$(free_port)"
cp deploy/prometheus/alerts.yml "$work/alerts.yml"
cat > "$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - alerts.yml
scrape_configs:
  - job_name: hypercache
    static_configs:
      - targets: ["127.0.0.1:${http[0]}", "127.0.0.1:${http[1]}", "127.0.0.1:${http[2]}"]
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$pport" > "$work/prometheus.log" 2>&1 &
pids+=($!)
# Load on every node for the whole check: writes (replicated), hits and misses.
for i in 0 1 2; do
  redis-benchmark -p "${resp[$i]}" -t set,get -n 2000000 -r 5000 -c 4 -q > /dev/null 2>&1 &
  pids+=($!)
done
# Rates over 1m need a few scrapes of each target.
for _ in $(seq 1 100); do
  n=$(curl -sf "http://127.0.0.1:$pport/api/v1/query" --data-urlencode 'query=count(up{job="hypercache"} == 1)' \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)' 2>/dev/null || echo 0)
  [ "$n" = 3 ] && break
  sleep 0.2
done
[ "$n" = 3 ] || { echo "prometheus does not see three nodes up" >&2; cat "$work/prometheus.log" >&2; exit 1; }
sleep 8
python3 - "$pport" deploy/grafana/dashboards/*.json <<'PY'
import json, sys, urllib.parse, urllib.request
port, files = sys.argv[1], sys.argv[2:]
empty, checked = [], 0
for f in files:
    d = json.load(open(f))
    for p in d["panels"]:
        for t in p["targets"]:
            q = urllib.parse.urlencode({"query": t["expr"]})
            r = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{q}"))
            checked += 1
            if r["status"] != "success" or not r["data"]["result"]:
                empty.append(f'{f}: "{p["title"]}": {t["expr"]}')
if empty:
    print("panels with no data:\n  " + "\n  ".join(empty), file=sys.stderr)
    sys.exit(1)
print(f"dashboards: {checked} panel queries, each with data, from {len(files)} dashboards")
PY
# The rules load and evaluate (none fires on a healthy cluster).
curl -sf "http://127.0.0.1:$pport/api/v1/rules" | python3 -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
assert len(rules) == 5 and all(r["health"] == "ok" for r in rules), rules
firing = [r["name"] for r in rules if r["state"] == "firing"]
assert not firing, firing
print("alert rules:", len(rules), "loaded, healthy, none firing")'
