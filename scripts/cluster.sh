#!/usr/bin/env bash
# A local three-node cluster from configs/node{1,2,3}-config.yaml (RESP 8080-8082, HTTP
# 9080-9082, gossip 7946-7948), in the background: `start` (logs in logs/node-N.log, pids in
# logs/cluster.pids) or `stop`. A node that does not come up fails the start loudly: its log
# is shown, the other nodes are stopped, and the exit status is 1.
# HYPERCACHE_BIN, CLUSTER_CONFIGS and CLUSTER_LOGS change the binary, the configs' directory
# and the logs' (the tests start one on free ports).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${HYPERCACHE_BIN:-target/release/hypercache}"
configs="${CLUSTER_CONFIGS:-configs}"
logs="${CLUSTER_LOGS:-logs}"
pids="$logs/cluster.pids"

stop() {
  if [ ! -f "$pids" ]; then echo "no cluster running"; return 0; fi
  while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$pids"
  while read -r pid; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done < "$pids"
  rm -f "$pids"
  echo "cluster stopped"
}

start() {
  command -v redis-cli >/dev/null || { echo "redis-cli is required (apt-get install -y redis-tools)" >&2; exit 1; }
  mkdir -p "$logs"
  if [ -s "$pids" ]; then echo "cluster already running (make cluster-stop first)" >&2; exit 1; fi
  : > "$pids"
  for n in 1 2 3; do
    "$bin" --config "$configs/node$n-config.yaml" > "$logs/node-$n.log" 2>&1 &
    echo $! >> "$pids"
  done
  local ports=() ids=()
  for n in 1 2 3; do
    ports+=("$(sed -n 's/^ *resp_port: *\([0-9]*\).*/\1/p' "$configs/node$n-config.yaml")")
    ids+=("$(sed -n "${n}p" "$pids")")
  done
  # Up when each node sees three members; failed as soon as one exits (30 s at most).
  for _ in $(seq 1 300); do
    local all=1
    for n in 1 2 3; do
      kill -0 "${ids[$((n - 1))]}" 2>/dev/null || fail "$n" "${ports[$((n - 1))]}" "it exited"
      if [ "$all" = 1 ] && ! redis-cli -p "${ports[$((n - 1))]}" INFO cluster 2>/dev/null | grep -q 'hypercache_cluster_size:3'; then
        all=0
      fi
    done
    if [ "$all" = 1 ]; then
      echo "cluster up: redis-cli -p ${ports[0]} / ${ports[1]} / ${ports[2]} (pids in $pids, logs in $logs/)"
      return 0
    fi
    sleep 0.1
  done
  for n in 1 2 3; do
    redis-cli -p "${ports[$((n - 1))]}" INFO cluster 2>/dev/null | grep -q 'hypercache_cluster_size:3' ||
      fail "$n" "${ports[$((n - 1))]}" "it did not see the other two within 30 s"
  done
}

# Reports node $1 (RESP port $2) that did not come up ($3), stops the others, exits 1.
fail() {
  echo "make cluster: node $1 (RESP port $2) did not come up: $3. Its log ($logs/node-$1.log):" >&2
  tail -n 20 "$logs/node-$1.log" >&2
  echo "stopping the other nodes" >&2
  stop >&2
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: scripts/cluster.sh start|stop" >&2; exit 2 ;;
esac
