//! Every write command yields the right Mutation (its deterministic effect), and replaying the
//! recorded Mutations into an empty node rebuilds exactly the same data.

use std::net::SocketAddr;
use std::sync::Arc;

use hypercache::client::ClientState;
use hypercache::command;
use hypercache::config::{Config, PersistenceStrategy};
use hypercache::node::Node;
use hypercache::resp::{Out, Protocol};
use hypercache::store::mutation::{MutationSink, Origin, OwnedMutation, OwnedOp, RecordingSink};
use hypercache::store::{Access, Value};

const NOW: u64 = 1_700_000_000_000;

fn memory_only() -> Config {
    let mut c = Config::default();
    c.persistence.enabled = false;
    c.persistence.strategy = PersistenceStrategy::Disabled;
    c
}

struct Harness {
    node: Arc<Node>,
    sink: Arc<RecordingSink>,
    client: ClientState,
    now: u64,
}

impl Harness {
    fn new() -> Harness {
        let sink = Arc::new(RecordingSink::default());
        let node = Node::new(memory_only(), vec![sink.clone() as Arc<dyn MutationSink>]);
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let info = node.clients.register(addr, addr, -1);
        Harness {
            client: ClientState::opened(info, &node.acl),
            node,
            sink,
            now: NOW,
        }
    }

    fn run(&mut self, argv: &[&str]) -> String {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        let mut out = Out::new(Protocol::Resp2);
        command::run(&self.node, &mut self.client, &mut out, &argv, self.now);
        String::from_utf8_lossy(&out.buf).into_owned()
    }

    /// Runs a command and returns the mutations it produced.
    fn muts(&mut self, argv: &[&str]) -> Vec<OwnedOp> {
        self.sink.take();
        self.run(argv);
        let recs = self.sink.take();
        for r in &recs {
            assert_eq!(r.origin, Origin::Local);
        }
        recs.into_iter().map(|m| m.op).collect()
    }
}

fn set(key: &str, value: Value, expire_at: u64) -> OwnedOp {
    OwnedOp::Set {
        key: key.as_bytes().to_vec(),
        value,
        expire_at,
    }
}

fn s(v: &str) -> Value {
    Value::string(v.as_bytes())
}

fn del(key: &str) -> OwnedOp {
    OwnedOp::Del {
        key: key.as_bytes().to_vec(),
    }
}

#[test]
fn every_write_command_yields_its_effect() {
    let mut h = Harness::new();
    assert_eq!(
        h.muts(&["SET", "a", "hello"]),
        vec![set("a", s("hello"), 0)]
    );
    // Relative TTLs become absolute deadlines.
    assert_eq!(
        h.muts(&["SET", "a", "x", "EX", "10"]),
        vec![set("a", s("x"), NOW + 10_000)]
    );
    assert_eq!(
        h.muts(&["SET", "a", "y", "KEEPTTL"]),
        vec![set("a", s("y"), NOW + 10_000)]
    );
    assert_eq!(
        h.muts(&["SETEX", "b", "5", "v"]),
        vec![set("b", s("v"), NOW + 5_000)]
    );
    assert_eq!(
        h.muts(&["PSETEX", "b", "5", "v"]),
        vec![set("b", s("v"), NOW + 5)]
    );
    assert_eq!(
        h.muts(&["SET", "a", "z", "NX"]),
        vec![],
        "a refused write changes nothing"
    );
    assert_eq!(
        h.muts(&["SETNX", "c", "1"]),
        vec![set("c", Value::Int(1), 0)]
    );
    // INCR publishes the resulting value, keeping the deadline.
    assert_eq!(
        h.muts(&["INCRBY", "c", "41"]),
        vec![set("c", Value::Int(42), 0)]
    );
    h.run(&["PEXPIRE", "c", "1000"]);
    assert_eq!(
        h.muts(&["DECR", "c"]),
        vec![set("c", Value::Int(41), NOW + 1000)]
    );
    h.sink.take();
    h.run(&["INCRBYFLOAT", "f", "1.5"]);
    let incr = h.sink.take();
    assert_eq!(incr[0].op, set("f", s("1.5"), 0));
    // APPEND and SETRANGE publish what they wrote and where, on top of the version they
    // changed (so a 1-byte change to a 64 MB value is a record of a few bytes).
    h.run(&["APPEND", "f", "0"]);
    let append = h.sink.take();
    assert_eq!(
        append[0].op,
        OwnedOp::Splice {
            key: b"f".to_vec(),
            offset: 3,
            bytes: b"0".to_vec(),
            base: incr[0].stamp,
        }
    );
    h.run(&["SETRANGE", "f", "0", "9"]);
    let setrange = h.sink.take();
    assert_eq!(
        setrange[0].op,
        OwnedOp::Splice {
            key: b"f".to_vec(),
            offset: 0,
            bytes: b"9".to_vec(),
            base: append[0].stamp,
        }
    );
    // On a missing key, the zero padding is the receiver's to make.
    assert_eq!(
        h.muts(&["SETRANGE", "pad", "5", "x"]),
        vec![OwnedOp::Splice {
            key: b"pad".to_vec(),
            offset: 5,
            bytes: b"x".to_vec(),
            base: Default::default(),
        }]
    );
    assert_eq!(h.run(&["GET", "f"]), "$4\r\n9.50\r\n");
    assert_eq!(h.muts(&["GETSET", "f", "new"]), vec![set("f", s("new"), 0)]);
    assert_eq!(h.muts(&["GETDEL", "f"]), vec![del("f")]);
    assert_eq!(
        h.muts(&["MSET", "m1", "1", "m2", "two"]),
        vec![set("m1", Value::Int(1), 0), set("m2", s("two"), 0)]
    );
    assert_eq!(h.muts(&["MSETNX", "m1", "x", "m3", "y"]), vec![]);
    // EXPIRE becomes an absolute deadline, published with the key's full state so replicas
    // that missed an earlier version still converge; in the past it is a DEL.
    assert_eq!(
        h.muts(&["EXPIRE", "m1", "100"]),
        vec![set("m1", Value::Int(1), NOW + 100_000)]
    );
    assert_eq!(
        h.muts(&["PEXPIREAT", "m1", &(NOW + 7).to_string()]),
        vec![set("m1", Value::Int(1), NOW + 7)]
    );
    assert_eq!(
        h.muts(&["PERSIST", "m1"]),
        vec![set("m1", Value::Int(1), 0)]
    );
    assert_eq!(h.muts(&["EXPIRE", "m1", "-1"]), vec![del("m1")]);
    assert_eq!(
        h.muts(&["GETEX", "m2", "EX", "3"]),
        vec![set("m2", s("two"), NOW + 3000)]
    );
    assert_eq!(h.muts(&["DEL", "m2", "nothing"]), vec![del("m2")]);
    assert_eq!(h.muts(&["UNLINK", "a"]), vec![del("a")]);
    // RENAME moves the value and its deadline.
    h.run(&["SET", "r", "v", "PX", "500"]);
    assert_eq!(
        h.muts(&["RENAME", "r", "r2"]),
        vec![del("r"), set("r2", s("v"), NOW + 500)]
    );
    assert_eq!(
        h.muts(&["COPY", "r2", "r3"]),
        vec![set("r3", s("v"), NOW + 500)]
    );
    h.sink.take();
    h.run(&["MOVE", "r3", "1"]);
    let recs: Vec<OwnedMutation> = h.sink.take();
    assert_eq!(recs.len(), 2);
    assert_eq!((recs[0].db, &recs[0].op), (0, &del("r3")));
    assert_eq!(
        (recs[1].db, &recs[1].op),
        (1, &set("r3", s("v"), NOW + 500))
    );
    assert_eq!(
        h.muts(&["SWAPDB", "0", "1"]),
        vec![OwnedOp::SwapDb { other: 1 }]
    );
    assert_eq!(h.muts(&["FLUSHDB"]), vec![OwnedOp::FlushDb]);
    assert_eq!(h.muts(&["FLUSHALL"]), vec![OwnedOp::FlushAll]);
    // Reads yield nothing.
    for r in [
        &["GET", "x"][..],
        &["MGET", "a", "b"],
        &["EXISTS", "a"],
        &["TTL", "a"],
        &["SCAN", "0"],
        &["KEYS", "*"],
        &["STRLEN", "a"],
    ] {
        assert_eq!(h.muts(r), vec![], "{r:?}");
    }
}

/// SETBIT and BITFIELD publish the bytes they change, as splices (nearby fields in one),
/// and nothing when nothing changes; BITOP publishes its result whole, or a DEL when empty.
#[test]
fn bitmap_writes_yield_the_bytes_they_change() {
    let mut h = Harness::new();
    h.sink.take();
    h.run(&["SET", "b", "abc"]);
    let base = h.sink.take()[0].stamp;
    h.run(&["SETBIT", "b", "9", "0"]);
    let setbit = h.sink.take();
    assert_eq!(
        setbit[0].op,
        OwnedOp::Splice {
            key: b"b".to_vec(),
            offset: 1,
            bytes: b"\x22".to_vec(),
            base,
        }
    );
    assert_eq!(h.muts(&["SETBIT", "b", "9", "0"]), vec![], "unchanged");
    assert_eq!(
        h.muts(&["SETBIT", "nb", "17", "1"]),
        vec![OwnedOp::Splice {
            key: b"nb".to_vec(),
            offset: 2,
            bytes: b"\x40".to_vec(),
            base: Default::default(),
        }]
    );
    // Fields close together are one splice; a far one is another, written first so that the
    // string grows once. A write OVERFLOW FAIL refuses still makes room for its field.
    let spliced = |ops: Vec<OwnedOp>| -> Vec<(u64, Vec<u8>)> {
        ops.into_iter()
            .map(|op| match op {
                OwnedOp::Splice { offset, bytes, .. } => (offset, bytes),
                other => panic!("not a splice: {other:?}"),
            })
            .collect()
    };
    let ops = h.muts(&[
        "BITFIELD", "b", "SET", "u8", "0", "65", "SET", "u8", "16", "67", "OVERFLOW", "FAIL",
        "INCRBY", "u8", "4000", "300",
    ]);
    assert_eq!(spliced(ops), vec![(500, vec![0]), (0, b"A\x22C".to_vec())]);
    assert_eq!(
        h.muts(&["BITFIELD", "b", "SET", "u8", "0", "65", "GET", "u8", "0"]),
        vec![]
    );
    let ops = h.muts(&["BITOP", "OR", "d", "b", "nb"]);
    let [
        OwnedOp::Set {
            key,
            value,
            expire_at: 0,
        },
    ] = &ops[..]
    else {
        panic!("{ops:?}")
    };
    assert_eq!(key, b"d");
    let mut want = vec![0u8; 501];
    want[..3].copy_from_slice(b"A\x22C");
    assert_eq!(value.as_ref().to_bytes(), Some(want));
    assert_eq!(h.muts(&["BITOP", "AND", "d", "missing"]), vec![del("d")]);
    assert_eq!(h.muts(&["BITOP", "AND", "d", "missing"]), vec![]);
    // Reads yield nothing.
    for r in [
        &["GETBIT", "b", "3"][..],
        &["BITCOUNT", "b"],
        &["BITPOS", "b", "1"],
        &["BITFIELD", "b", "GET", "u8", "0"],
        &["BITFIELD_RO", "b", "GET", "u8", "0"],
    ] {
        assert_eq!(h.muts(r), vec![], "{r:?}");
    }
}

#[test]
fn expiry_is_a_mutation_too() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "v", "PX", "10"]);
    h.sink.take();
    h.now = NOW + 11;
    // Lazy expiry on access.
    assert_eq!(h.run(&["GET", "k"]), "$-1\r\n");
    assert_eq!(
        h.sink.take().into_iter().map(|m| m.op).collect::<Vec<_>>(),
        vec![OwnedOp::Expired { key: b"k".to_vec() }]
    );
    // Active expiry.
    h.run(&["SET", "j", "v", "PX", "10"]);
    h.sink.take();
    let removed = h.node.store.expire_cycle(NOW + 1000, 1 << 20);
    assert_eq!(removed, 1);
    assert_eq!(
        h.sink.take().into_iter().map(|m| m.op).collect::<Vec<_>>(),
        vec![OwnedOp::Expired { key: b"j".to_vec() }]
    );
}

#[test]
fn stamps_increase_and_replay_rebuilds_the_same_data() {
    let mut h = Harness::new();
    let script: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["INCRBY", "a", "10"],
        &["SET", "b", "hello", "EX", "100"],
        &["APPEND", "b", " world"],
        &["MSET", "c", "x", "d", "y"],
        &["RENAME", "c", "e"],
        &["SELECT", "3"],
        &["SET", "in3", "v"],
        &["SELECT", "0"],
        &["DEL", "d"],
        &["SETRANGE", "z", "4", "pad"],
        &["INCRBYFLOAT", "fl", "2.25"],
        &["EXPIRE", "a", "1000"],
        &["PERSIST", "a"],
        &["SETBIT", "bm", "100", "1"],
        &["SETBIT", "b", "3", "1"],
        &[
            "BITFIELD", "bm", "INCRBY", "i8", "#2", "-5", "SET", "u4", "2000", "9",
        ],
        &["BITOP", "XOR", "bx", "bm", "b"],
        &["BITOP", "AND", "e", "nothing"],
    ];
    for cmd in script {
        h.run(cmd);
    }
    let recs = h.sink.take();
    let stamps: Vec<u64> = recs.iter().map(|m| m.stamp.lamport).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    // Replay into a fresh node.
    let replica = Node::new(memory_only(), Vec::new());
    for m in &recs {
        replica
            .store
            .apply(&m.as_mutation(), NOW)
            .expect("a valid record");
    }
    for db in 0..16u32 {
        let mut a = h.node.store.keys(db, b"*", NOW);
        let mut b = replica.store.keys(db, b"*", NOW);
        a.sort();
        b.sort();
        assert_eq!(a, b, "keys of db {db}");
        for k in &a {
            let get = |n: &Node| {
                n.store.with_key(db, k, NOW, Access::Peek, |r| {
                    r.entry().map(|e| (e.value().to_bytes(), e.expire_at()))
                })
            };
            assert_eq!(
                get(&h.node),
                get(&replica),
                "key {}",
                String::from_utf8_lossy(k)
            );
        }
    }
    assert!(replica.store.bus().clock().now() >= *stamps.last().unwrap());
}
