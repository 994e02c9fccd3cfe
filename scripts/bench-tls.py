#!/usr/bin/env python3
"""RESP over TLS: HyperCache's `tls.port` against redis-server's `tls-port`, side by side.

Makes a CA and a certificate for 127.0.0.1 (openssl), starts redis-server with TLS only and a
release HyperCache with `tls.port`, then runs `redis-benchmark --tls` against each in turn,
A B A B ..., pair by pair as ../shared/tools/bench_vs_redis.py does (which has no TLS
options), and prints each case's median rps and the median of the pair ratios.

  python3 scripts/bench-tls.py [--tests get,set] [--pipelines 1,16] [--rounds 3] [-n 200000]
"""
import argparse
import csv
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(d, *args):
    subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)


def certificates(d):
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=bench CA")
    with open(os.path.join(d, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr",
            "-subj", "/CN=node")
    openssl(d, "x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "node.pem", "-days", "2", "-extfile", "san.cnf")


def wait_tls(port, ca):
    for _ in range(200):
        r = subprocess.run(["redis-cli", "-p", str(port), "--tls", "--cacert", ca, "PING"],
                           capture_output=True, text=True)
        if r.stdout.strip() == "PONG":
            return
        time.sleep(0.1)
    raise RuntimeError("no PONG over TLS on port %d" % port)


def run(port, ca, test, pipeline, clients, n, keyspace):
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "--tls", "--cacert", ca,
           "-t", test, "-P", str(pipeline), "-c", str(clients), "-n", str(n), "-r", str(keyspace),
           "--csv", "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    rows = list(csv.reader(io.StringIO(out.stdout)))
    if out.returncode != 0 or len(rows) < 2:
        raise RuntimeError("redis-benchmark failed on %d: %s %s" % (port, out.stdout[-300:], out.stderr[-300:]))
    rec = dict(zip(rows[0], rows[-1]))
    return float(rec["rps"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tests", default="get,set")
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("-n", type=int, default=200000)
    ap.add_argument("-r", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/hypercache"))
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="bench-tls-")
    certificates(d)
    ca, cert, key = (os.path.join(d, f) for f in ("ca.pem", "node.pem", "node.key"))
    rport, hport = free_port(), free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(rport), "--bind", "127.0.0.1",
         "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca,
         "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", d],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yaml = os.path.join(d, "hc.yaml")
    with open(yaml, "w") as f:
        f.write("persistence:\n  enabled: false\ntls:\n  cert_file: %s\n  key_file: %s\n  port: %d\n"
                % (cert, key, hport))
    hc = subprocess.Popen([a.bin, "--config", yaml, "--resp-port", "0", "--http-port", "0",
                           "--gossip-port", "0", "--data-dir", os.path.join(d, "data")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_tls(rport, ca)
        wait_tls(hport, ca)
        print("%-10s %12s %12s %7s" % ("case", "redis rps", "hc rps", "ratio"))
        for test in a.tests.split(","):
            for p in [int(x) for x in a.pipelines.split(",")]:
                refs, suts, ratios = [], [], []
                for _ in range(a.rounds):
                    r = run(rport, ca, test, p, a.clients, a.n, a.r)
                    s = run(hport, ca, test, p, a.clients, a.n, a.r)
                    refs.append(r)
                    suts.append(s)
                    ratios.append(s / r)
                print("%-10s %12.0f %12.0f %7.2f" % ("%s P%d" % (test, p), statistics.median(refs),
                                                     statistics.median(suts), statistics.median(ratios)))
    finally:
        for proc in (redis, hc):
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
