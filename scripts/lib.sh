# Shared helpers for the scripts: free ports, starting and stopping servers.

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something answers PING on 127.0.0.1:$1.
wait_ping() {
  for _ in $(seq 1 200); do
    if [ "$(redis-cli -p "$1" PING 2>/dev/null)" = "PONG" ]; then return 0; fi
    sleep 0.05
  done
  echo "nothing answers on port $1" >&2
  return 1
}

# The shared tool if this checkout sits next to ../shared, else the copy kept in tools/.
tool() {
  local here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ -f "$here/../shared/tools/$1" ]; then echo "$here/../shared/tools/$1"; else echo "$here/tools/$1"; fi
}

# Stops the script unless redis-benchmark is installed.
require_redis_benchmark() {
  command -v redis-benchmark >/dev/null || { echo "redis-benchmark is required (apt-get install -y redis-tools)" >&2; exit 1; }
}

# Starts redis-server and a release HyperCache side by side, both without persistence, on
# free ports: sets work, rport, hport, rpid and hpid, and stops both (and removes $work) when
# the script exits. The caller builds target/release/hypercache first.
start_pair() {
  work="$(mktemp -d)"
  rport="$(free_port)"; hport="$(free_port)"
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
  rpid=$!
  # Like the Redis above (no RDB, no AOF): persistence off, so both do the same work.
  printf 'persistence:\n  strategy: disabled\n' > "$work/hc.yaml"
  target/release/hypercache --config "$work/hc.yaml" --resp-port "$hport" --http-port 0 --gossip-port 0 \
    --data-dir "$work/hc" --log-level warn >"$work/hc.log" 2>&1 &
  hpid=$!
  trap 'kill $rpid $hpid 2>/dev/null; wait $rpid $hpid 2>/dev/null; rm -rf "$work"' EXIT
  wait_ping "$rport"; wait_ping "$hport"
}

# A free UDP port on 127.0.0.1 (a gossip port).
free_udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts three nodes of $1 (a binary) seeded to each other, with the YAML $2 (persistence and
# such) before their cluster section, in $work; fills the arrays resp, http and gossip with
# their ports, appends their pids to pids, and waits until node 1 sees three members.
start_cluster3() {
  local bin="$1" extra="$2" i j
  gossip=(); resp=(); http=()
  for i in 0 1 2; do
    gossip+=("$(free_udp_port)"); resp+=("$(free_port)"); http+=("$(free_port)")
  done
  for i in 0 1 2; do
    {
      printf '%scluster:\n  gossip_interval: 100ms\n  seeds:\n' "$extra"
      for j in 0 1 2; do [ "$j" = "$i" ] || printf '    - 127.0.0.1:%s\n' "${gossip[$j]}"; done
    } > "$work/n$i.yaml"
    "$bin" --config "$work/n$i.yaml" --node-id "node-$((i + 1))" --resp-port "${resp[$i]}" \
      --http-port "${http[$i]}" --gossip-port "${gossip[$i]}" --data-dir "$work/d$i" \
      --log-level warn > "$work/n$i.log" 2>&1 &
    pids+=($!)
  done
  for i in 0 1 2; do wait_ping "${resp[$i]}"; done
  for _ in $(seq 1 100); do
    redis-cli -p "${resp[0]}" INFO cluster | grep -q 'hypercache_cluster_size:3' && return 0
    sleep 0.1
  done
}

# podman as root (sudo when not root), with this repository's containers.conf: runc, and no
# default ulimits (the sandbox refuses them).
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
CONTAINERS_CONF="${CONTAINERS_CONF:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deploy/podman/containers.conf}"
export CONTAINERS_CONF
pod() {
  $SUDO env CONTAINERS_CONF="$CONTAINERS_CONF" podman "$@"
}
