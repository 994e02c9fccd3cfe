#!/usr/bin/env python3
"""Start-up time and snapshot cost with N keys, HyperCache and Redis side by side.

Loads the same N keys (key:%08d, 16-byte values) into each server with redis-cli --pipe, then:
  - snapshot: HyperCache BGSAVE duration and its peak RSS against the RSS just before;
              Redis BGSAVE duration (rdb_last_bgsave_time_sec) for comparison;
  - start-up: time from process start to the first PONG (not -LOADING), restarting from
              HyperCache's snapshot, HyperCache's AOF, Redis's RDB and Redis's AOF.

  python3 tools/bench_persistence.py --bin target/release/hypercache --work /tmp/w --keys 1000000
"""
import argparse
import os
import shutil
import socket
import subprocess
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cli(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True)
    return out.stdout.strip()


def wait_pong(port, timeout=300):
    start = time.time()
    while time.time() - start < timeout:
        try:
            if cli(port, "PING") == "PONG":
                return time.time()
        except Exception:
            pass
        time.sleep(0.005)
    raise RuntimeError("no PONG on %d" % port)


def info(port, field):
    for line in cli(port, "INFO", "persistence").splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def load(port, data):
    with open(data, "rb") as f:
        out = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f, capture_output=True, text=True)
    if "errors: 0" not in out.stdout:
        raise RuntimeError(out.stdout + out.stderr)


def make_data(path, n):
    val = b"v" * 16
    with open(path, "wb") as f:
        for i in range(n):
            k = b"key:%08d" % i
            f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n%s\r\n" % (len(k), k, val))


def start_hc(binary, work, name, port, yaml):
    cfg = os.path.join(work, name + ".yaml")
    with open(cfg, "w") as f:
        f.write(yaml)
    log = open(os.path.join(work, name + ".log"), "ab")
    t0 = time.time()
    p = subprocess.Popen([binary, "--config", cfg, "--resp-port", str(port), "--data-dir",
                          os.path.join(work, name), "--log-level", "warn"], stdout=log, stderr=log)
    return p, t0


def start_redis(work, name, port, *extra):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    t0 = time.time()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                          "--save", "", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p, t0


def kill(p):
    p.kill()
    p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--keys", type=int, default=1000000)
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    data = os.path.join(a.work, "data.resp")
    make_data(data, a.keys)
    rows = []

    # HyperCache: snapshot cost, then restart from the snapshot and from the AOF.
    port = free_port()
    hc_yaml = "persistence:\n  sync_policy: everysec\n  snapshot_interval: 1h\n  max_log_size: 100GB\n"
    p, _ = start_hc(a.bin, a.work, "hc", port, hc_yaml)
    wait_pong(port)
    load(port, data)
    time.sleep(1.5)  # let everysec settle
    steady = rss_kb(p.pid)
    cli(port, "BGSAVE")
    peak = steady
    while True:
        peak = max(peak, rss_kb(p.pid))
        if info(port, "rdb_bgsave_in_progress") == "0" and info(port, "rdb_saves") == "1":
            break
        time.sleep(0.002)
    dur = int(info(port, "hypercache_last_snapshot_duration_ms"))
    rows.append(("HyperCache snapshot of %d keys" % a.keys, "%d ms" % dur,
                 "RSS %d MB steady, %d MB peak (+%.1f%%)" % (steady // 1024, peak // 1024, (peak - steady) * 100.0 / steady)))
    kill(p)
    p, t0 = start_hc(a.bin, a.work, "hc", port, hc_yaml)
    t1 = wait_pong(port)
    keys = cli(port, "DBSIZE")
    rows.append(("HyperCache start-up from snapshot", "%.2f s" % (t1 - t0), "%s keys" % keys))
    kill(p)
    # AOF only: a fresh node that never snapshots.
    aof_yaml = "persistence:\n  strategy: aof\n  sync_policy: everysec\n  max_log_size: 100GB\n"
    p, _ = start_hc(a.bin, a.work, "hcaof", port, aof_yaml)
    wait_pong(port)
    load(port, data)
    time.sleep(1.5)
    kill(p)
    p, t0 = start_hc(a.bin, a.work, "hcaof", port, aof_yaml)
    t1 = wait_pong(port)
    keys = cli(port, "DBSIZE")
    rows.append(("HyperCache start-up from AOF", "%.2f s" % (t1 - t0), "%s keys" % keys))
    kill(p)

    # Redis: RDB via BGSAVE, then restart from it; AOF (no RDB preamble), restart from it.
    port = free_port()
    p, _ = start_redis(a.work, "redis", port, "--appendonly", "no")
    wait_pong(port)
    load(port, data)
    steady = rss_kb(p.pid)
    cli(port, "BGSAVE")
    while True:
        time.sleep(0.01)
        if info(port, "rdb_bgsave_in_progress") == "0" and info(port, "rdb_last_bgsave_status") == "ok" \
                and cli(port, "LASTSAVE") != "0":
            break
    rows.append(("Redis BGSAVE (fork) of %d keys" % a.keys, "%s s" % info(port, "rdb_last_bgsave_time_sec"),
                 "parent RSS %d MB; the child shares pages copy-on-write" % (steady // 1024)))
    kill(p)
    p, t0 = start_redis(a.work, "redis", port, "--appendonly", "no")
    t1 = wait_pong(port)
    rows.append(("Redis start-up from RDB", "%.2f s" % (t1 - t0), "%s keys" % cli(port, "DBSIZE")))
    kill(p)
    port = free_port()
    p, _ = start_redis(a.work, "redisaof", port, "--appendonly", "yes", "--aof-use-rdb-preamble", "no",
                       "--auto-aof-rewrite-percentage", "0")
    wait_pong(port)
    load(port, data)
    time.sleep(1.5)
    kill(p)
    p, t0 = start_redis(a.work, "redisaof", port, "--appendonly", "yes", "--aof-use-rdb-preamble", "no",
                        "--auto-aof-rewrite-percentage", "0")
    t1 = wait_pong(port)
    rows.append(("Redis start-up from AOF", "%.2f s" % (t1 - t0), "%s keys" % cli(port, "DBSIZE")))
    kill(p)

    for r in rows:
        print("%-40s %12s   %s" % r)


if __name__ == "__main__":
    main()
