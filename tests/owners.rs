//! In-place writes in a cluster run on the keys' owner (their first live replica): a queue
//! with producers and consumers on every node hands out each element once, counters and
//! locks are exact, keys of one command must share an owner (hash tags make them), forwarded
//! replies keep the client's protocol, and a consumer waiting on an owner that dies is served
//! by the next one.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::cluster::{TestCluster, figure, wait};
use redis::Commands;

const CROSSSLOT: &str = "Keys in request don't hash to the same slot";

fn connect(addr: std::net::SocketAddr) -> redis::Connection {
    redis::Client::open(format!("redis://{addr}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn forwarded(c: &TestCluster, i: usize) -> u64 {
    figure(&mut c.conn(i), "hypercache_forwarded_commands")
}

/// The node owning `key`: the one that runs an in-place write on it without forwarding it.
fn owner_of(c: &TestCluster, key: &str) -> usize {
    let owners: Vec<usize> = c
        .running()
        .into_iter()
        .filter(|&i| {
            let before = forwarded(c, i);
            let _: i64 = c.conn(i).rpush_exists(key, "probe").unwrap();
            forwarded(c, i) == before
        })
        .collect();
    assert_eq!(owners.len(), 1, "{key}: {owners:?}");
    owners[0]
}

#[test]
fn a_queue_hands_each_element_to_one_consumer_with_producers_and_consumers_on_every_node() {
    let c = TestCluster::start(3, "");
    let addrs: Vec<_> = (0..3).map(|i| c.server(i).addr).collect();
    const PER_PRODUCER: usize = 1500;
    let producing = Arc::new(AtomicU64::new(3));
    let consumers: Vec<_> = (0..6)
        .map(|k| {
            let addr = addrs[k % 3];
            let producing = producing.clone();
            std::thread::spawn(move || {
                let mut con = connect(addr);
                let mut got = Vec::new();
                loop {
                    // Read before the pop: a pop that finds nothing after every push was
                    // acknowledged means the queue is drained.
                    let done = producing.load(Ordering::SeqCst) == 0;
                    // Half pop, half move the element to a list of their own kind.
                    let item: Option<String> = if k % 2 == 0 {
                        let r: Option<(String, String)> = redis::cmd("BRPOP")
                            .arg("{q}:jobs")
                            .arg(0.2)
                            .query(&mut con)
                            .unwrap();
                        r.map(|(_, v)| v)
                    } else {
                        redis::cmd("BLMOVE")
                            .arg("{q}:jobs")
                            .arg("{q}:taken")
                            .arg("RIGHT")
                            .arg("LEFT")
                            .arg(0.2)
                            .query(&mut con)
                            .unwrap()
                    };
                    match item {
                        Some(v) => got.push((k % 2 == 1, v)),
                        None if done => return got,
                        None => {}
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..3)
        .map(|i| {
            let addr = addrs[i];
            let producing = producing.clone();
            std::thread::spawn(move || {
                let mut con = connect(addr);
                let mut n = 0;
                while n < PER_PRODUCER {
                    // One to three elements per push.
                    let batch: Vec<String> = (n..(n + 1 + n % 3).min(PER_PRODUCER))
                        .map(|j| format!("p{i}-{j}"))
                        .collect();
                    n += batch.len();
                    let _: i64 = con.lpush("{q}:jobs", &batch).unwrap();
                }
                producing.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut seen = HashSet::new();
    let mut moved = Vec::new();
    for t in consumers {
        for (was_moved, v) in t.join().unwrap() {
            assert!(seen.insert(v.clone()), "{v} was handed out twice");
            if was_moved {
                moved.push(v);
            }
        }
    }
    let all: HashSet<String> = (0..3)
        .flat_map(|i| (0..PER_PRODUCER).map(move |j| format!("p{i}-{j}")))
        .collect();
    assert_eq!(seen.len(), all.len(), "elements lost");
    assert_eq!(seen, all);
    // What the movers took is in their list, on every node.
    c.wait_converged();
    moved.sort();
    for i in 0..3 {
        let mut con = c.conn(i);
        let mut taken: Vec<String> = con.lrange("{q}:taken", 0, -1).unwrap();
        taken.sort();
        assert_eq!(taken, moved, "node {}", i + 1);
        let left: i64 = con.llen("{q}:jobs").unwrap();
        assert_eq!(left, 0, "node {}", i + 1);
    }
    // Two thirds of the nodes' pushes and pops went to the owner.
    assert!((0..3).filter(|&i| forwarded(&c, i) > 0).count() >= 2);
}

#[test]
fn counters_and_locks_are_exact_when_every_node_writes() {
    let c = TestCluster::start(3, "");
    let addrs: Vec<_> = (0..3).map(|i| c.server(i).addr).collect();
    let start = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = addrs
        .iter()
        .enumerate()
        .map(|(i, &addr)| {
            let start = start.clone();
            std::thread::spawn(move || {
                let mut con = connect(addr);
                while !start.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                let mut locks = 0;
                for r in 0..300 {
                    let _: i64 = con.incr("ctr", 1).unwrap();
                    let _: i64 = con.hincr("h", format!("f{}", r % 4), 2).unwrap();
                    let _: i64 = con.sadd("s", format!("m{}", r % 50)).unwrap();
                    let _: () = redis::cmd("SETBIT")
                        .arg("bits")
                        .arg(r * 3 + i)
                        .arg(1)
                        .query(&mut con)
                        .unwrap();
                    let won: Option<String> = redis::cmd("SET")
                        .arg(format!("lock:{}", r % 100))
                        .arg(format!("n{i}"))
                        .arg("NX")
                        .query(&mut con)
                        .unwrap();
                    locks += usize::from(won.is_some());
                    let _: i64 = redis::cmd("SETNX")
                        .arg(format!("once:{r}"))
                        .arg(i)
                        .query(&mut con)
                        .unwrap();
                }
                locks
            })
        })
        .collect();
    start.store(true, Ordering::SeqCst);
    let locks: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    // Each of the 100 locks was taken once, though 900 tries raced for them.
    assert_eq!(locks, 100);
    c.wait_converged();
    for i in 0..3 {
        let mut con = c.conn(i);
        let ctr: i64 = con.get("ctr").unwrap();
        assert_eq!(ctr, 900, "node {}", i + 1);
        let h: Vec<(String, i64)> = con.hgetall("h").unwrap();
        assert_eq!(h.len(), 4);
        assert!(h.iter().all(|(_, v)| *v == 450), "node {}: {h:?}", i + 1);
        let s: i64 = con.scard("s").unwrap();
        assert_eq!(s, 50);
        let bits: i64 = redis::cmd("BITCOUNT").arg("bits").query(&mut con).unwrap();
        assert_eq!(bits, 900, "node {}", i + 1);
    }
}

#[test]
fn keys_of_one_command_must_share_an_owner_and_hash_tags_make_them() {
    let c = TestCluster::start(3, "");
    let mut con = c.conn(0);
    let _: i64 = con.rpush("{t}:a", &["1", "2", "3"]).unwrap();
    // Keys of different owners: Redis Cluster's answer, from every kind of command.
    let crossed = (0..60)
        .map(|i| (format!("src-{i}"), format!("dst-{i}")))
        .find(|(a, b)| owner_of(&c, a) != owner_of(&c, b))
        .expect("60 pairs of keys on one owner");
    let (a, b) = crossed;
    for cmd in [
        redis::cmd("LMOVE")
            .arg(&a)
            .arg(&b)
            .arg("LEFT")
            .arg("RIGHT")
            .clone(),
        redis::cmd("BLPOP").arg(&a).arg(&b).arg(0.1).clone(),
        redis::cmd("LMPOP")
            .arg(2)
            .arg(&a)
            .arg(&b)
            .arg("LEFT")
            .clone(),
        redis::cmd("SMOVE").arg(&a).arg(&b).arg("m").clone(),
        redis::cmd("MSETNX").arg(&a).arg(1).arg(&b).arg(2).clone(),
    ] {
        for i in 0..3 {
            let e = cmd.query::<redis::Value>(&mut c.conn(i)).unwrap_err();
            assert!(e.to_string().contains(CROSSSLOT), "{e}");
        }
    }
    // Nothing was written by the refusals (the probes write only to existing lists).
    for k in [&a, &b] {
        let exists: bool = con.exists(k).unwrap();
        assert!(!exists, "{k}");
    }
    // A tag places the keys together, whatever node is asked.
    for i in 0..3 {
        let v: Option<String> = c
            .conn(i)
            .lmove(
                "{t}:a",
                "{t}:b",
                redis::Direction::Left,
                redis::Direction::Right,
            )
            .unwrap();
        assert_eq!(v.as_deref(), Some(["1", "2", "3"][i]));
    }
    assert_eq!(owner_of(&c, "{t}:a"), owner_of(&c, "{t}:zzz"));
    // GETKEYS names the keys that are routed, counted ones included.
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("BLMPOP")
        .arg(0)
        .arg(2)
        .arg("x")
        .arg("y")
        .arg("LEFT")
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["x", "y"]);
}

#[test]
fn forwarded_replies_keep_the_clients_protocol() {
    let c = TestCluster::start(3, "");
    let owner = owner_of(&c, "z");
    let other = (owner + 1) % 3;
    let mut con = c.server(other).conn3();
    let before = forwarded(&c, other);
    let _: i64 = con.zadd_multiple("z", &[(1.5, "a"), (2.0, "b")]).unwrap();
    // RESP3: a double, not a bulk string.
    let v: redis::Value = redis::cmd("ZPOPMIN").arg("z").query(&mut con).unwrap();
    assert_eq!(
        v,
        redis::Value::Array(vec![
            redis::Value::BulkString(b"a".to_vec()),
            redis::Value::Double(1.5)
        ])
    );
    let v: redis::Value = redis::cmd("ZINCRBY")
        .arg("z")
        .arg(1)
        .arg("b")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, redis::Value::Double(3.0));
    // A blocking pop that times out on the owner answers RESP3's null.
    let v: redis::Value = redis::cmd("BZPOPMIN")
        .arg("empty{z}")
        .arg(0.05)
        .query(&mut con)
        .unwrap();
    assert_eq!(v, redis::Value::Nil);
    let mut con2 = c.conn(other);
    let v: redis::Value = redis::cmd("BLPOP")
        .arg("empty{z}")
        .arg(0.05)
        .query(&mut con2)
        .unwrap();
    assert_eq!(v, redis::Value::Nil);
    assert!(forwarded(&c, other) >= before + 4);
}

#[test]
fn a_consumer_blocked_on_an_owner_that_dies_is_served_by_the_next_owner() {
    let mut c = TestCluster::start(3, "");
    let owner = owner_of(&c, "work");
    let here = (owner + 1) % 3;
    let blocked_on_owner = |c: &TestCluster| -> u64 {
        let text: String = redis::cmd("INFO")
            .arg("clients")
            .query(&mut c.conn(owner))
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    // A consumer that goes away while it waits on the owner takes nothing with it.
    let addr = c.server(here).addr;
    let quitter = std::thread::spawn(move || {
        let s = std::net::TcpStream::connect(addr).unwrap();
        let mut w = &s;
        use std::io::Write;
        w.write_all(b"*3\r\n$5\r\nBRPOP\r\n$4\r\nwork\r\n$1\r\n0\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        drop(s);
    });
    wait(
        "the quitter to block on the owner",
        Duration::from_secs(10),
        || blocked_on_owner(&c) == 1,
    );
    quitter.join().unwrap();
    wait(
        "the owner to forget the quitter",
        Duration::from_secs(10),
        || blocked_on_owner(&c) == 0,
    );
    let _: i64 = c.conn(here).lpush("work", "kept").unwrap();
    let v: Option<(String, String)> = redis::cmd("BRPOP")
        .arg("work")
        .arg(1)
        .query(&mut c.conn(here))
        .unwrap();
    assert_eq!(v, Some(("work".into(), "kept".into())));
    // Now one that stays: its owner dies while it waits.
    let addr = c.server(here).addr;
    let consumer = std::thread::spawn(move || {
        let mut con = connect(addr);
        let v: Option<(String, String)> = redis::cmd("BRPOP")
            .arg("work")
            .arg(30)
            .query(&mut con)
            .unwrap();
        v
    });
    wait(
        "the consumer to block on the owner",
        Duration::from_secs(10),
        || blocked_on_owner(&c) == 1,
    );
    c.kill(owner);
    c.wait_size(2);
    let _: i64 = c.conn(here).lpush("work", "after").unwrap();
    assert_eq!(
        consumer.join().unwrap(),
        Some(("work".into(), "after".into()))
    );
}

#[test]
fn a_clients_writes_apply_in_its_order_wherever_they_run() {
    let c = TestCluster::start(3, "");
    let mut cons: Vec<redis::Connection> = (0..3).map(|i| c.conn(i)).collect();
    for k in 0..60 {
        let con = &mut cons[k % 3];
        // SET runs where it is sent; INCR on the owner, after the SET reached it.
        let key = format!("n{k}");
        let _: () = con.set(&key, 10).unwrap();
        let v: i64 = con.incr(&key, 1).unwrap();
        assert_eq!(v, 11, "{key}");
        // The rate limiter's pair: the TTL lands on the key the INCR made.
        let rl = format!("rl{k}");
        let _: i64 = con.incr(&rl, 1).unwrap();
        let set: bool = con.expire(&rl, 60).unwrap();
        assert!(set, "{rl}");
        // GETDEL takes a value once.
        let got: Option<i64> = redis::cmd("GETDEL").arg(&key).query(con).unwrap();
        assert_eq!(got, Some(11));
    }
    // The other way: INCR on the owner, then SET where the client is: the SET is newer.
    for k in 0..60 {
        let con = &mut cons[k % 3];
        let key = format!("m{k}");
        let _: i64 = con.incr(&key, 1).unwrap();
        let _: () = con.set(&key, "final").unwrap();
    }
    // A big value takes a while to stream: the APPEND must still find it, not the older
    // value the owner holds.
    for k in 0..6 {
        let _: () = cons[0].set(format!("big{k}"), "old").unwrap();
    }
    c.wait_converged();
    for k in 0..6 {
        let con = &mut cons[k % 3];
        let key = format!("big{k}");
        let _: () = con.set(&key, vec![b'x'; 4 << 20]).unwrap();
        let len: i64 = con.append(&key, "y").unwrap();
        assert_eq!(len, (4 << 20) + 1, "{key}");
    }
    c.wait_converged();
    for i in 0..3 {
        let ttl: i64 = c.conn(i).ttl("rl59").unwrap();
        assert!((1..=60).contains(&ttl), "node {}: {ttl}", i + 1);
        let gone: bool = c.conn(i).exists("n59").unwrap();
        assert!(!gone);
        for k in 0..60 {
            let v: String = c.conn(i).get(format!("m{k}")).unwrap();
            assert_eq!(v, "final", "node {}: m{k}", i + 1);
        }
    }
}

#[test]
fn a_pipeline_sent_to_a_non_owner_is_answered_in_its_order() {
    use std::io::{Read, Write};
    let c = TestCluster::start(3, "");
    let owner = owner_of(&c, "{p}c");
    let here = (owner + 1) % 3;
    let cmd = |args: &[&str]| -> String {
        let mut s = format!("*{}\r\n", args.len());
        for a in args {
            s += &format!("${}\r\n{a}\r\n", a.len());
        }
        s
    };
    let (mut req, mut want) = (String::new(), String::new());
    // A run for the owner, a local write, another run, an error before routing, a skipped
    // reply inside a run, then a list's push and pop.
    for n in 1..=100 {
        req += &cmd(&["INCR", "{p}c"]);
        want += &format!(":{n}\r\n");
    }
    req += &cmd(&["SET", "plain", "v"]);
    want += "+OK\r\n";
    for n in 101..=150 {
        req += &cmd(&["INCR", "{p}c"]);
        want += &format!(":{n}\r\n");
    }
    req += &cmd(&["INCR"]);
    want += "-ERR wrong number of arguments for 'incr' command\r\n";
    req += &cmd(&["INCRBY", "{p}c", "1000"]);
    want += ":1150\r\n";
    req += &cmd(&["CLIENT", "REPLY", "SKIP"]);
    req += &cmd(&["INCR", "{p}c"]);
    req += &cmd(&["INCR", "{p}c"]);
    want += ":1152\r\n";
    req += &cmd(&["GET", "plain"]);
    want += "$1\r\nv\r\n";
    req += &cmd(&["RPUSH", "{p}l", "a", "b", "c"]);
    want += ":3\r\n";
    req += &cmd(&["LPOP", "{p}l"]);
    want += "$1\r\na\r\n";
    let before = forwarded(&c, here);
    let mut s = std::net::TcpStream::connect(c.server(here).addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want);
    // Everything but SET, GET, the arity error and CLIENT went to the owner.
    assert_eq!(forwarded(&c, here) - before, 155);
    assert_eq!(c.conn(owner).get::<_, i64>("{p}c").unwrap(), 1152);
}
