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
