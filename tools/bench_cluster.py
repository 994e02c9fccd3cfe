#!/usr/bin/env python3
"""Cluster benchmarks: SET throughput of a 3-node cluster with full replication (clients on
one node) against a single node, replication lag under that load, and the time a restarted
node holding N keys takes to converge.

  python3 tools/bench_cluster.py --bin target/release/hypercache --work /tmp/w --keys 1000000
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout.strip()


def info(port, field, section="cluster"):
    for line in cli(port, "INFO", section).splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def wait(cond, what, timeout=120):
    t = time.time()
    while time.time() - t < timeout:
        try:
            if cond():
                return time.time() - t
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


class Node:
    def __init__(self, binary, work, name, gossip, seeds, persist):
        self.binary, self.work, self.name, self.gossip = binary, work, name, gossip
        self.port = free_port()
        self.seeds, self.persist = seeds, persist
        self.proc = None

    def start(self):
        cfg = os.path.join(self.work, self.name + ".yaml")
        seeds = "".join("    - 127.0.0.1:%d\n" % s for s in self.seeds)
        with open(cfg, "w") as f:
            f.write("node:\n  id: %s\nnetwork:\n  resp_port: %d\n  gossip_port: %d\n  http_port: 0\n"
                    "cluster:\n  gossip_interval: 200ms\n%s"
                    "persistence:\n%s\n" % (self.name, self.port, self.gossip,
                                            ("  seeds:\n" + seeds) if seeds else "", self.persist))
        log = open(os.path.join(self.work, self.name + ".log"), "ab")
        self.proc = subprocess.Popen([self.binary, "--config", cfg, "--data-dir",
                                      os.path.join(self.work, self.name), "--log-level", "warn"],
                                     stdout=log, stderr=log)
        wait(lambda: cli(self.port, "PING") == "PONG", "PONG from " + self.name)

    def kill(self):
        self.proc.kill()
        self.proc.wait()


def load(port, n):
    data = b"".join(b"*3\r\n$3\r\nSET\r\n$12\r\nkey:%08d\r\n$16\r\n%s\r\n" % (i, b"v" * 16) for i in range(n))
    out = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=data, capture_output=True)
    if b"errors: 0" not in out.stdout:
        raise RuntimeError(out.stdout + out.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-n", type=int, default=200000)
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    off = "  strategy: disabled"

    # 1. Throughput: a single node against node-1 of a 3-node cluster (full replication).
    single = Node(a.bin, a.work, "single", free_port(socket.SOCK_DGRAM), [], off)
    single.start()
    gossip = [free_port(socket.SOCK_DGRAM) for _ in range(3)]
    nodes = [Node(a.bin, a.work, "node-%d" % (i + 1), gossip[i], [g for g in gossip if g != gossip[i]], off)
             for i in range(3)]
    for n in nodes:
        n.start()
    for n in nodes:
        wait(lambda: info(n.port, "hypercache_cluster_size") == "3", "3 members on " + n.name)
    print("== SET throughput: single node (ref) vs node-1 of a 3-node cluster, full replication (sut)")
    sys.stdout.flush()
    subprocess.run([sys.executable, os.path.join(HERE, "bench_vs_redis.py"), "--ref", "127.0.0.1:%d" % single.port,
                    "--sut", "127.0.0.1:%d" % nodes[0].port, "--tests", "set", "--pipelines", "1,16",
                    "--clients", "50", "-d", "16", "--rounds", str(a.rounds), "-n", str(a.n)])
    for n in nodes[1:]:
        print("replication lag on %s: p50 %s ms, p99 %s ms (max %s)" % (
            n.name, info(n.port, "hypercache_replication_lag_p50_ms"),
            info(n.port, "hypercache_replication_lag_p99_ms"),
            info(n.port, "hypercache_replication_lag_p99_ms")))
    single.kill()
    for n in nodes:
        n.kill()

    # 2. Convergence of a restarted node holding N keys (with its AOF).
    gossip = [free_port(socket.SOCK_DGRAM) for _ in range(3)]
    persist = "  sync_policy: everysec\n  snapshot_interval: 1h\n  max_log_size: 100GB"
    nodes = [Node(a.bin, a.work, "p-%d" % (i + 1), gossip[i], [g for g in gossip if g != gossip[i]], persist)
             for i in range(3)]
    for n in nodes:
        n.start()
    for n in nodes:
        wait(lambda: info(n.port, "hypercache_cluster_size") == "3", "3 members on " + n.name)
    load(nodes[0].port, a.keys)
    wait(lambda: cli(nodes[2].port, "DBSIZE") == str(a.keys), "replication of the load", 600)
    time.sleep(1.5)
    nodes[2].kill()
    # Writes while it is down, which it must catch up on.
    extra = a.keys // 100
    data = b"".join(b"*3\r\n$3\r\nSET\r\n$10\r\nnew:%06d\r\n$1\r\nx\r\n" % i for i in range(extra))
    subprocess.run(["redis-cli", "-p", str(nodes[0].port), "--pipe"], input=data, capture_output=True)
    t0 = time.time()
    nodes[2].start()
    loaded = time.time() - t0
    target = cli(nodes[0].port, "HCDIGEST", "0", "-")
    wait(lambda: cli(nodes[2].port, "HCDIGEST", "0", "-") == target, "convergence", 600)
    took = time.time() - t0
    print("restarted node with %d keys (+%d written while it was down): serving after %.2f s, "
          "converged after %.2f s (pulled %s keys)" % (
              a.keys, extra, loaded, took, info(nodes[2].port, "hypercache_anti_entropy_keys_pulled")))
    for n in nodes:
        n.kill()


if __name__ == "__main__":
    main()
