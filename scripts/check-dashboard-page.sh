#!/usr/bin/env bash
# The built-in dashboard (/dashboard) in headless Chromium (Debian package chromium) against a
# real three-node cluster under load: the page loads, shows the three members alive with
# their ring shares, and its figures move between two looks; a screenshot is kept in
# target/test-artifacts/dashboard.png. Usage: scripts/check-dashboard-page.sh [BINARY].
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
bin="${1:-target/debug/hypercache}"
chrome="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$chrome" ] || { echo "chromium is required (apt-get install -y chromium)" >&2; exit 1; }
require_redis_benchmark
[ -x "$bin" ] || cargo build --bin hypercache
work="$(mktemp -d)"
pids=()
# Helpers killed here (prometheus, redis-benchmark) end with 143, which is not this check's.
trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
start_cluster3 "$bin" $'persistence:\n  strategy: disabled\n'
redis-benchmark -p "${resp[0]}" -t set,get -n 5000000 -r 10000 -c 4 -q > /dev/null 2>&1 &
pids+=($!)
url="http://127.0.0.1:${http[0]}/dashboard"
# The page refreshes every second; a virtual-time budget lets a few refreshes run.
look() {
  "$chrome" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --user-data-dir="$work/chrome" --virtual-time-budget=3500 --dump-dom "$url" 2>/dev/null
}
look > "$work/first.html"
sleep 2
look > "$work/second.html"
mkdir -p target/test-artifacts
"$chrome" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$work/chrome" \
  --virtual-time-budget=3500 --window-size=1280,1100 --screenshot=target/test-artifacts/dashboard.png "$url" \
  > /dev/null 2>&1
[ -s target/test-artifacts/dashboard.png ] || { echo "no screenshot" >&2; exit 1; }
python3 - "$work/first.html" "$work/second.html" <<'PY'
import re, sys
from html.parser import HTMLParser

class Page(HTMLParser):
    """Text by element id, and the members table's rows (their cells' text)."""
    def __init__(self):
        super().__init__()
        self.text, self.rows, self.stack, self.row = {}, [], [], None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.stack.append(a.get("id"))
        if tag == "tr" and "data-node" in a:
            self.row = []
        if tag == "td" and self.row is not None:
            self.row.append("")
    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()
        if tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None
    def handle_data(self, data):
        for i in self.stack:
            if i:
                self.text[i] = self.text.get(i, "") + data
        if self.row is not None and self.row:
            self.row[-1] += data

def read(path):
    p = Page()
    p.feed(open(path).read())
    return p

first, second = read(sys.argv[1]), read(sys.argv[2])
err = second.text.get("error", "").strip()
assert not err, f"the page reports an error: {err}"
assert second.text.get("size", "").strip() == "3", second.text.get("size")
members = second.rows
assert len(members) == 3, members
assert all(r[1] == "alive" and r[2] == "ready" for r in members), members
shares = [float(re.match(r"([\d.]+) %", r[4]).group(1)) for r in members]
assert abs(sum(shares) - 100) < 0.5 and all(s > 20 for s in shares), shares
ops = int(second.text["ops"])
assert ops > 0, ops
c1, c2 = int(first.text["commands"]), int(second.text["commands"])
assert c2 > c1, (c1, c2)
assert "default" in second.text.get("stores", ""), second.text.get("stores")
print(f"dashboard: 3 members alive and ready, ring shares {shares} %, {ops} ops/s, "
      f"commands {c1} then {c2}; screenshot in target/test-artifacts/dashboard.png")
PY
