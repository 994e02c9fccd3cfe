#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (kept out of git).

Seeds are a few small, valid inputs per target in the input format each target's header
comment describes, so that the fuzzer starts from the shapes the code expects (RESP frames,
framed and checksummed records, YAML files, HTTP requests) instead of finding them by chance.
Files already there (what earlier runs added) are kept. Usage: fuzz/seeds.py [REPO_ROOT]
"""

import hashlib
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def write(target, items):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    for data in items:
        name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
        (d / name).write_bytes(data)


# --- RESP ---------------------------------------------------------------------------------

def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def script(*cmds):
    return b"".join(resp(*c) for c in cmds)


PARSER = [
    b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n",
    b"*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$5\r\nhello\r\nPING\r\n",
    b"SET \"a b\\x41\\n\" 'it\\'s'\nGET x\r\n",
    b"*0\r\n*-1\r\n\r\n   \r\nPING\r\n",
    b"*1\r\n$x\r\n",
    b"*1\r\n+foo\r\n",
    b"*2147483647\r\n$1\r\na\r\n",
    b"*1\r\n$536870913\r\n",
    b"SET \"abc\r\n",
    b"ECHO \"\\xzz\" '\\''\t\"\\\"\"\r\n",
]

DISPATCH = [
    script(["SET", "k", "v", "EX", "10"], ["GET", "k"], ["SETNX", "k", "w"], ["SETEX", "e", "1", "x"],
           ["PSETEX", "p", "50", "y"], ["GET", "p"], ["GET", "p"], ["TTL", "e"]),
    script(["MSET", "a", "1", "b", "2"], ["MGET", "a", "b", "c"], ["MSETNX", "a", "3", "d", "4"],
           ["GETSET", "a", "5"], ["GETDEL", "b"], ["GETEX", "a", "PX", "100"], ["GETEX", "a", "PERSIST"]),
    script(["INCR", "n"], ["DECR", "n"], ["INCRBY", "n", "-9223372036854775807"], ["DECRBY", "n", "5"],
           ["INCRBYFLOAT", "f", "1.5e3"], ["INCRBYFLOAT", "f", "-inf"], ["INCR", "f"]),
    script(["APPEND", "s", "hello"], ["STRLEN", "s"], ["GETRANGE", "s", "1", "-2"], ["SUBSTR", "s", "-3", "-1"],
           ["SETRANGE", "s", "10", "world"], ["SETRANGE", "t", "65536", "x"], ["GET", "s"]),
    script(["SETBIT", "bm", "7", "1"], ["GETBIT", "bm", "7"], ["SET", "n", "123"], ["SETBIT", "n", "6", "1"],
           ["BITCOUNT", "bm", "0", "-1", "BIT"], ["BITPOS", "n", "0", "1", "-1", "BYTE"],
           ["BITOP", "XOR", "d", "bm", "n", "gone"], ["BITOP", "NOT", "e", "d"],
           ["BITFIELD", "bm", "SET", "i8", "#1", "-100", "OVERFLOW", "FAIL", "INCRBY", "u2", "100", "7",
            "GET", "u63", "0"], ["BITFIELD_RO", "bm", "GET", "i64", "3"]),
    script(["SET", "x", "ohmytext"], ["SET", "y", "mynewtext"], ["LCS", "x", "y"],
           ["LCS", "x", "y", "IDX", "MINMATCHLEN", "2", "WITHMATCHLEN"], ["LCS", "x", "y", "LEN"]),
    script(["SET", "k", "v"], ["EXPIRE", "k", "100", "NX"], ["PEXPIRE", "k", "5000", "GT"],
           ["EXPIREAT", "k", "1700000100"], ["PEXPIREAT", "k", "1700000000500", "LT"], ["PTTL", "k"],
           ["EXPIRETIME", "k"], ["PEXPIRETIME", "k"], ["PERSIST", "k"], ["TTL", "k"], ["TYPE", "k"]),
    script(["MSET", "k1", "a", "k2", "b", "x:1", "c"], ["KEYS", "k*"], ["KEYS", "*[a-z]?\\*"],
           ["SCAN", "0", "MATCH", "*", "COUNT", "10", "TYPE", "string"], ["RANDOMKEY"], ["DBSIZE"],
           ["EXISTS", "k1", "k2", "nope"], ["TOUCH", "k1"], ["DEL", "k1", "k9"], ["UNLINK", "k2"]),
    script(["SET", "a", "1"], ["RENAME", "a", "b"], ["RENAMENX", "b", "c"], ["COPY", "b", "d", "DB", "1", "REPLACE"],
           ["MOVE", "b", "2"], ["SELECT", "2"], ["GET", "b"], ["SWAPDB", "0", "2"], ["FLUSHDB", "ASYNC"],
           ["FLUSHALL", "SYNC"]),
    script(["SET", "o", "12345"], ["OBJECT", "ENCODING", "o"], ["OBJECT", "FREQ", "o"], ["OBJECT", "IDLETIME", "o"],
           ["OBJECT", "REFCOUNT", "o"], ["OBJECT", "HELP"], ["MEMORY", "USAGE", "o", "SAMPLES", "5"],
           ["MEMORY", "STATS"], ["MEMORY", "HELP"]),
    script(["PING"], ["PING", "hi"], ["ECHO", "e"], ["HELLO", "3", "SETNAME", "fuzz"], ["GET", "nope"],
           ["CLIENT", "INFO"], ["HELLO", "2"], ["AUTH", "default", "pw"], ["RESET"], ["QUIT"], ["PING"]),
    script(["CLIENT", "ID"], ["CLIENT", "SETNAME", "n"], ["CLIENT", "GETNAME"], ["CLIENT", "LIST", "TYPE", "normal"],
           ["CLIENT", "KILL", "ID", "999"], ["CLIENT", "SETINFO", "LIB-NAME", "x"], ["CLIENT", "NO-EVICT", "ON"],
           ["CLIENT", "NO-TOUCH", "ON"], ["CLIENT", "REPLY", "ON"], ["CLIENT", "HELP"]),
    script(["INFO"], ["INFO", "keyspace", "stats"], ["COMMAND", "COUNT"], ["COMMAND", "LIST", "FILTERBY", "ACLCAT", "string"],
           ["COMMAND", "INFO", "get", "config|get"], ["COMMAND", "DOCS", "set"], ["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"],
           ["COMMAND", "HELP"], ["TIME"], ["LASTSAVE"], ["STORES"]),
    script(["CONFIG", "GET", "*max*"], ["CONFIG", "SET", "maxmemory", "1mb", "maxmemory-policy", "allkeys-lfu"],
           ["SET", "big", "x" * 3000], ["APPEND", "big", "y" * 3000], ["CONFIG", "SET", "maxmemory-samples", "3"],
           ["CONFIG", "SET", "requirepass", "pw"], ["CONFIG", "RESETSTAT"], ["CONFIG", "HELP"]),
    script(["CF.RESERVE", "f", "100", "BUCKETSIZE", "2", "MAXITERATIONS", "20", "EXPANSION", "1"],
           ["CF.ADD", "f", "a"], ["CF.ADDNX", "f", "a"], ["CF.INSERT", "f", "CAPACITY", "100", "ITEMS", "b", "c"],
           ["CF.INSERTNX", "g", "NOCREATE", "ITEMS", "x"], ["CF.EXISTS", "f", "a"], ["CF.MEXISTS", "f", "a", "z"],
           ["CF.COUNT", "f", "b"], ["CF.DEL", "f", "a"], ["CF.INFO", "f"]),
    script(["SET", "k", "v"], ["HCGET", "0", "k"], ["HCDIGEST", "0", "peer"], ["HCRANGE", "0", "3", "peer"],
           ["HCSTAMP", "0", "k"], ["HCFWD", "1", "SET", "k", "w"], ["HCFWD", "1", "GET", "k"]),
    b"SET k \"a\\x00b\"\r\nGET k\r\nPING\r\n",
]


# --- persistence records ------------------------------------------------------------------

def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def u64(v):
    return struct.pack("<Q", v)


def blob(b):
    b = b if isinstance(b, bytes) else b.encode()
    return varint(len(b)) + b


def frame(payload):
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def mutation(tag, db, body, lamport=1, node=0x1234):
    return bytes([tag]) + varint(db) + u64(lamport) + u64(node) + body


def header(magic, node_id="fuzz-node", seq=1):
    return magic + frame(varint(1) + blob(node_id) + u64(seq) + u64(1_700_000_000_000))


STORE_SPEC = b'{"name":"s1","max_memory":0,"eviction_policy":"lru","default_ttl_ms":null,' \
             b'"cuckoo_filter":true,"cuckoo_filter_fpp":0.01,"persistence":null,"replication_factor":null}'

MUTATIONS = [
    mutation(1, 0, blob("k") + b"\x01" + blob("value") + u64(0)),            # Set, string
    mutation(1, 3, blob("n") + b"\x00" + u64(42) + u64(1_700_000_500_000)),  # Set, int, deadline
    mutation(1, 0, blob("r") + b"\x02" + blob("raw") + u64(0)),             # Set, raw
    mutation(1, 0, blob("j") + b"\x03" + blob('{"a":[1]}') + u64(0)),        # Set, JSON
    mutation(2, 0, blob("k")),                                               # Del
    mutation(3, 1, blob("k")),                                               # Expired
    mutation(4, 0, blob("k")),                                               # Evicted
    mutation(5, 0, blob("k") + u64(1_700_000_100_000)),                      # Expire
    mutation(6, 0, blob("k")),                                               # Persist
    mutation(7, 2, b""),                                                     # FlushDb
    mutation(8, 0, b""),                                                     # FlushAll
    mutation(9, 0, varint(1)),                                               # SwapDb 0 1
    mutation(10, 0, blob("s1") + blob(STORE_SPEC)),                          # CreateStore
    mutation(11, 0, blob("s1")),                                             # DropStore
]

AOF_MAGIC = b"HCAOF\x00\x01\n"
SNAPSHOT_MAGIC = b"HCSNP\x00\x01\n"


def end_record(keys, clock):
    return frame(b"\xee" + u64(keys) + u64(clock))


AOF = [b"\x00" + m for m in MUTATIONS] + [
    b"\x00" + header(AOF_MAGIC) + b"".join(frame(m) for m in MUTATIONS),
    b"\x01" + header(AOF_MAGIC) + b"".join(frame(m) for m in MUTATIONS[:4]),
    b"\x00" + header(SNAPSHOT_MAGIC) + frame(MUTATIONS[12]) + frame(MUTATIONS[0]) + frame(MUTATIONS[1])
    + end_record(3, 7),
    b"\x00" + frame(MUTATIONS[0]),
]


# --- replication batches (hcrepl_payload's chunk format) ---------------------------------

def chunk(body, kind=0):
    return bytes([kind]) + struct.pack("<H", len(body)) + body


def marker(cid):
    return b"\xc0" + blob(cid)


HCREPL = [
    chunk(MUTATIONS[0]) + chunk(MUTATIONS[1]) + chunk(MUTATIONS[4]),
    chunk(marker("req-1")) + chunk(MUTATIONS[0]) + chunk(MUTATIONS[7]) + chunk(MUTATIONS[8]),
    chunk(MUTATIONS[12]) + chunk(mutation(1, 0x8000_0000 | 5, blob("k") + b"\x01" + blob("v") + u64(0))),
    chunk(MUTATIONS[9]) + chunk(MUTATIONS[10]) + chunk(MUTATIONS[13]),
    chunk(MUTATIONS[2], 6) + chunk(b"\x00\x00", 7),
    chunk(mutation(1, 0, blob("k") + b"\x01" + blob("old") + u64(0), lamport=5))
    + chunk(mutation(1, 0, blob("k") + b"\x01" + blob("new") + u64(0), lamport=9))
    + chunk(mutation(1, 0, blob("k") + b"\x01" + blob("stale") + u64(0), lamport=7)),
]


# --- configuration -----------------------------------------------------------------------

CONFIG = [p.read_bytes() for p in sorted((ROOT / "configs").glob("*.yaml"))] + [
    b"node:\n  id: a\ncache:\n  max_memory: 1.5GB\n  default_ttl: 90m\n  timeout: 0\n",
    b"stores:\n  - name: sessions\n    max_memory: 256MB\n    eviction_policy: session\n"
    b"    default_ttl: 0\n    cuckoo_filter: true\n    cuckoo_filter_fpp: 0.05\n"
    b"    persistence: snapshot\n    replication_factor: 1\n  - name: default\n",
    b"logging:\n  output: [console, file]\n  level: debug\n",
    b"a: &x [1, 2]\nb: *x\n",
    b"512MB",
    b"2d",
    b"1.000000001s",
]


# --- HTTP requests (http_routes' format) -------------------------------------------------

METHODS = ["GET", "PUT", "POST", "DELETE"]
ROUTES = {
    "/health": 0, "/stats": 1, "/api/cache/stats": 2, "/api/cache/{key}": 3, "/api/stores": 5,
    "/api/stores/{name}": 6, "/api/stores/{name}/cache/{key}": 7, "/api/filter/stats": 9,
    "/api/filter/check/{key}": 10, "/api/cluster/status": 13, "/api/admin/log-level": 17,
    "/metrics": 18, "raw": 20, "check?store": 21,
}


def req(method, route, name=b"", key=b"", body=b"", cid=b"", flags=0):
    def field(b):
        return bytes([len(b)]) + b
    return (bytes([METHODS.index(method), ROUTES[route], flags]) + field(name) + field(key)
            + field(cid) + struct.pack("<H", len(body)) + body)


HTTP = [
    req("PUT", "/api/cache/{key}", key=b"k", body=b'{"value":"v","ttl_seconds":10}', flags=2)
    + req("GET", "/api/cache/{key}", key=b"k", cid=b"abc-123", flags=1)
    + req("DELETE", "/api/cache/{key}", key=b"k"),
    req("PUT", "/api/cache/{key}", key=b"a/b c\xff", body=b'{"value":{"x":[1,2.5,null]},"ttl_ms":100}'),
    req("POST", "/api/stores", body=b'{"name":"s1","max_memory":1048576,"eviction_policy":"lru",'
                                     b'"cuckoo_filter":true,"default_ttl_ms":60000}', flags=2)
    + req("PUT", "/api/stores/{name}/cache/{key}", name=b"s1", key=b"k", body=b'{"value":"1"}')
    + req("GET", "/api/filter/check/{key}", key=b"k") + req("GET", "check?store", name=b"s1", key=b"k")
    + req("GET", "/api/stores/{name}", name=b"s1") + req("DELETE", "/api/stores/{name}", name=b"s1"),
    req("GET", "/health") + req("GET", "/stats") + req("GET", "/api/cache/stats")
    + req("GET", "/api/cluster/status") + req("GET", "/api/filter/stats"),
    req("GET", "/metrics") + req("GET", "/api/stores"),
    req("PUT", "/api/admin/log-level", body=b'{"level":"debug"}'),
    req("GET", "raw", key=b"api/cache/%zz?x=1"),
]


def main():
    write("resp_parser", [bytes([5, s]) + p for p in PARSER for s in (0x00, 0x40, 0xE0)])
    write("resp_dispatch", DISPATCH)
    write("aof_record", AOF)
    write("hcrepl_payload", HCREPL)
    write("config_yaml", CONFIG)
    write("http_routes", HTTP)


if __name__ == "__main__":
    main()
