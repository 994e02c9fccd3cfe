//! Keyspace notifications (`notify-keyspace-events`) against a real redis-server: the same
//! commands on both, every event of every class compared channel by channel; expiry and
//! eviction; events for writes that arrive from another node.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Raw, Reference, Server};

/// Every command a class of events comes from (one at a time: the events of each are
/// compared in order).
const SCRIPT: &[&str] = &[
    "SET s1 v",
    "SET s2 v EX 100",
    "SETEX s3 100 v",
    "PSETEX s7 100000 v",
    "SETNX s8 v",
    "GETSET s8 w",
    "APPEND s1 x",
    "INCR n1",
    "INCRBY n1 5",
    "DECR n1",
    "DECRBY n1 2",
    "INCRBYFLOAT f 1.5",
    "SETRANGE s1 0 y",
    "GETDEL s1",
    "MSET a 1 b 2",
    "MSETNX c 1 d 2",
    "SETBIT bits 3 1",
    "BITFIELD bf SET u8 0 255",
    "BITOP OR bits2 bits bits",
    "EXPIRE a 100",
    "PEXPIRE a 100000",
    "PERSIST a",
    "GETEX c EX 100",
    "GETEX c PERSIST",
    "EXPIRE b 0",
    "RENAME s2 s4",
    "RENAMENX s4 s5",
    "DEL s3 s5 nokey",
    "UNLINK s7",
    "LPUSH l a b c",
    "RPUSH l d",
    "LPUSHX l e",
    "RPUSHX l f",
    "LPOP l",
    "RPOP l",
    "LINSERT l BEFORE b x",
    "LSET l 0 y",
    "LREM l 1 x",
    "LTRIM l 0 1",
    "RPOPLPUSH l l2",
    "LMOVE l2 l3 LEFT RIGHT",
    "LMOVE l l LEFT RIGHT",
    "LMPOP 1 l LEFT",
    "LPUSH bl a",
    "BLPOP bl 0",
    "RPUSH bl a b",
    "BRPOP bl 0",
    "BLMOVE bl bl4 LEFT LEFT 0",
    "HSET h f v g w",
    "HMSET h k 1",
    "HINCRBY h n 1",
    "HINCRBYFLOAT h x 1.5",
    "HDEL h f",
    "HSETNX h z 1",
    "HDEL h g k n x z",
    "SADD st a b c",
    "SREM st a",
    "SMOVE st st2 b",
    "SINTERSTORE st3 st2 st2",
    "SUNIONSTORE st4 st st2",
    "SDIFFSTORE st5 st st",
    "SDIFFSTORE st4 st st",
    "SREM st c",
    "ZADD z 1 a 2 b 3 c",
    "ZINCRBY z 1 a",
    "ZADD z INCR 1 b",
    "ZREM z c",
    "ZPOPMIN z",
    "ZPOPMAX z",
    "ZADD z 1 a 2 b",
    "ZREMRANGEBYSCORE z 0 1",
    "ZREMRANGEBYRANK z 0 0",
    "ZADD z2 1 a 2 b 3 c",
    "ZREMRANGEBYLEX z2 [c [c",
    "ZUNIONSTORE z3 1 z2",
    "ZINTERSTORE z4 1 z2",
    "ZDIFFSTORE z5 1 z2",
    "ZRANGESTORE z6 z2 0 0",
    "BZPOPMIN z6 0",
    "ZMPOP 1 z2 MAX",
    "PFADD hll a b",
    "PFMERGE hll2 hll",
    "PFCOUNT hll",
    "COPY z3 z7",
    "RPUSH sl 3 1 2",
    "SORT sl STORE sorted",
    "MOVE z7 1",
    "SWAPDB 0 1",
    "SWAPDB 0 1",
    "FLUSHDB",
];

/// Runs `commands` on `addr` with `classes` on and returns every notification, in order.
fn events(addr: SocketAddr, classes: &str, commands: &[&str], after: &dyn Fn()) -> Vec<String> {
    let mut c = Raw::connect(addr);
    c.cmd(&[
        b"CONFIG",
        b"SET",
        b"notify-keyspace-events",
        classes.as_bytes(),
    ]);
    c.cmd(&[b"FLUSHALL"]);
    let mut sub = Raw::connect(addr);
    sub.send(b"PSUBSCRIBE __key*__:*\r\nSUBSCRIBE done\r\n");
    sub.read_reply();
    sub.read_reply();
    for line in commands {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        c.cmd(&args);
    }
    after();
    c.cmd(&[b"PUBLISH", b"done", b"x"]);
    let mut out = Vec::new();
    loop {
        let m = String::from_utf8_lossy(&sub.read_reply()).into_owned();
        if m.contains("\r\ndone\r\n") {
            break;
        }
        // [pmessage, pattern, channel, message] -> "channel message"
        let parts: Vec<&str> = m.split("\r\n").collect();
        out.push(format!("{} {}", parts[6], parts[8]));
    }
    out
}

fn compare(classes: &str, commands: &[&str], after: &dyn Fn()) {
    compare_with(classes, commands, after, false);
}

/// `unordered`: compare the events as a multiset (the active expiry cycle of each server
/// takes keys in its own order).
fn compare_with(classes: &str, commands: &[&str], after: &dyn Fn(), unordered: bool) {
    let redis = Reference::start();
    let hc = Server::start();
    let mut want = events(redis.addr, classes, commands, after);
    let mut got = events(hc.addr, classes, commands, after);
    if unordered {
        want.sort();
        got.sort();
    }
    assert!(!want.is_empty());
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(
            w,
            g,
            "event {i} differs; redis: {:?}\nours: {:?}",
            &want[i.saturating_sub(3)..],
            &got[i.saturating_sub(3)..]
        );
    }
    assert_eq!(want.len(), got.len(), "redis: {want:?}\nours: {got:?}");
}

#[test]
fn every_class_is_notified_as_redis_does() {
    compare("KEA", SCRIPT, &|| {});
}

#[test]
fn new_keys_are_notified_as_redis_does() {
    compare("KEn", SCRIPT, &|| {});
    compare("KEAn", SCRIPT, &|| {});
}

/// Reads, most of keys that are not there.
const READS: &[&str] = &[
    "SET s v",
    "RPUSH l a",
    "GET s",
    "GET nos",
    "MGET s nos1 nos2",
    "EXISTS nos s",
    "TYPE nos",
    "STRLEN nos",
    "GETRANGE nos 0 1",
    "TTL nos",
    "HGET noh f",
    "HGETALL noh",
    "LRANGE nol 0 -1",
    "LRANGE l 0 -1",
    "LLEN nol",
    "SMEMBERS nost",
    "SCARD nost",
    "SISMEMBER nost m",
    "SINTERSTORE dst nost1 nost2",
    "ZSCORE noz m",
    "ZRANGE noz 0 -1",
    "BITCOUNT nob",
    "GETDEL nos",
    "LPOP nol",
    "INCR counter",
    "EXPIRE nos 10",
    "STRLEN nos",
];

#[test]
fn reads_that_miss_are_notified_as_redis_does() {
    compare("KEm", READS, &|| {});
    compare("KEAmn", READS, &|| {});
    // Enough misses that the comparison means something.
    let redis = Reference::start();
    let misses = events(redis.addr, "Em", READS, &|| {});
    assert!(misses.len() >= 15, "{misses:?}");
}

#[test]
fn each_class_alone_and_each_channel_kind_alone() {
    for classes in ["Kg", "E$", "Kl", "Es", "Kh", "Ez", "KEg$"] {
        compare(classes, SCRIPT, &|| {});
    }
}

#[test]
fn expired_keys_are_notified() {
    let script = [
        "SET e1 v PX 1",
        "SET e2 v PX 50",
        "HSET e3 f v",
        "PEXPIRE e3 60",
    ];
    compare_with(
        "KEA",
        &script,
        &|| std::thread::sleep(Duration::from_millis(400)),
        true,
    );
}

#[test]
fn config_reads_back_as_redis_writes_it_and_refuses_bad_classes() {
    let redis = Reference::start();
    let hc = Server::start();
    for addr in [redis.addr, hc.addr] {
        let mut c = Raw::connect(addr);
        for (set, get) in [("KEA", "AKE"), ("Kg$lx", "g$lxK"), ("", ""), ("Elm", "lEm")] {
            assert_eq!(
                c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", set.as_bytes()]),
                b"+OK\r\n"
            );
            let r =
                String::from_utf8(c.cmd(&[b"CONFIG", b"GET", b"notify-keyspace-events"])).unwrap();
            assert!(
                r.ends_with(&format!("${}\r\n{get}\r\n", get.len())),
                "{addr} {set}: {r}"
            );
        }
        let e = String::from_utf8(c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"KQ"]))
            .unwrap();
        assert!(e.contains("Invalid event class character"), "{e}");
    }
}

#[test]
fn evicted_keys_are_notified() {
    let s = Server::start();
    let mut c = Raw::connect(s.addr);
    c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"Ee"]);
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lru"]);
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"2mb"]);
    let mut sub = Raw::connect(s.addr);
    sub.send(b"SUBSCRIBE __keyevent@0__:evicted\r\n");
    sub.read_reply();
    let value = vec![b'v'; 10_000];
    for i in 0..1000 {
        c.cmd(&[b"SET", format!("big{i}").as_bytes(), &value]);
    }
    let m = String::from_utf8_lossy(&sub.read_reply()).into_owned();
    assert!(
        m.contains("__keyevent@0__:evicted") && m.contains("big"),
        "{m}"
    );
}

#[test]
fn writes_from_another_node_are_notified_there() {
    let c = common::cluster::TestCluster::start(2, "cache:\n  notify_keyspace_events: KEA\n");
    let mut sub = Raw::connect(c.server(1).addr);
    sub.send(b"PSUBSCRIBE __keyevent@0__:*\r\n");
    sub.read_reply();
    let mut a = c.conn(0);
    let _: () = redis::cmd("SET")
        .arg("from-a")
        .arg("v")
        .query(&mut a)
        .unwrap();
    let _: i64 = redis::cmd("RPUSH")
        .arg("list-a")
        .arg("x")
        .query(&mut a)
        .unwrap();
    let _: i64 = redis::cmd("RPUSH")
        .arg("list-a")
        .arg("y")
        .query(&mut a)
        .unwrap();
    let _: i64 = redis::cmd("DEL").arg("from-a").query(&mut a).unwrap();
    let got: Vec<String> = (0..4)
        .map(|_| {
            let m = String::from_utf8_lossy(&sub.read_reply()).into_owned();
            let parts: Vec<&str> = m.split("\r\n").collect();
            format!("{} {}", parts[6], parts[8])
        })
        .collect();
    assert_eq!(
        got,
        [
            "__keyevent@0__:set from-a",
            // A collection is created on a replica from its whole value: named `set`.
            "__keyevent@0__:set list-a",
            "__keyevent@0__:rpush list-a",
            "__keyevent@0__:del from-a"
        ]
    );
}
