//! MULTI/EXEC/DISCARD/WATCH through real clients: Redis's replies and errors, WATCH
//! conflicts from another client, and transactions that no other command sees half-done.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::Server;
use redis::Commands;

fn cmd(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut k = redis::cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    k.query(c)
        .unwrap_or_else(|e| redis::Value::SimpleString(format!("ERR:{e}")))
}

fn status(s: &str) -> redis::Value {
    redis::Value::SimpleString(s.into())
}

#[test]
fn a_transaction_queues_runs_and_answers_as_redis() {
    let s = Server::start();
    let mut c = s.conn();
    // Byte for byte, as redis-server 7.0 answers: nested MULTI and WATCH inside MULTI are
    // errors that do not abort; a runtime error stays inside EXEC's reply.
    let mut raw = std::net::TcpStream::connect(s.addr).unwrap();
    raw.write_all(b"MULTI\r\nSET k 1\r\nINCR k\r\nMULTI\r\nWATCH k\r\nLPUSH k x\r\nEXEC\r\n")
        .unwrap();
    let want = "+OK\r\n+QUEUED\r\n+QUEUED\r\n-ERR MULTI calls can not be nested\r\n\
                -ERR WATCH inside MULTI is not allowed\r\n+QUEUED\r\n\
                *3\r\n+OK\r\n:2\r\n\
                -WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    let mut got = vec![0u8; want.len()];
    raw.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want);
    assert_eq!(c.get::<_, i64>("k").unwrap(), 2);

    // A command refused while queuing aborts the whole transaction.
    assert_eq!(cmd(&mut c, &["MULTI"]), redis::Value::Okay);
    assert_eq!(cmd(&mut c, &["INCR", "k"]), status("QUEUED"));
    let bad = cmd(&mut c, &["NOSUCHCOMMAND", "a"]);
    assert!(format!("{bad:?}").contains("unknown command"), "{bad:?}");
    let arity = cmd(&mut c, &["GET"]);
    assert!(
        format!("{arity:?}").contains("wrong number of arguments"),
        "{arity:?}"
    );
    let e = redis::cmd("EXEC").query::<()>(&mut c).unwrap_err();
    assert!(
        e.to_string()
            .contains("Transaction discarded because of previous errors"),
        "{e}"
    );
    assert_eq!(c.get::<_, i64>("k").unwrap(), 2);

    // SAVE is not allowed inside (Redis's `no-multi`), and aborts it too.
    assert_eq!(cmd(&mut c, &["MULTI"]), redis::Value::Okay);
    let save = cmd(&mut c, &["SAVE"]);
    assert!(
        format!("{save:?}").contains("Command not allowed inside a transaction"),
        "{save:?}"
    );
    assert!(redis::cmd("EXEC").query::<()>(&mut c).is_err());
    // DISCARD drops the queue; EXEC and DISCARD without MULTI are errors.
    assert_eq!(cmd(&mut c, &["MULTI"]), redis::Value::Okay);
    assert_eq!(cmd(&mut c, &["INCR", "k"]), status("QUEUED"));
    assert_eq!(cmd(&mut c, &["DISCARD"]), redis::Value::Okay);
    assert_eq!(c.get::<_, i64>("k").unwrap(), 2);
    for lone in ["EXEC", "DISCARD"] {
        let e = cmd(&mut c, &[lone]);
        assert!(
            format!("{e:?}").contains(&format!("{lone} without MULTI")),
            "{e:?}"
        );
    }
    // A blocking pop inside a transaction does not wait: its timeout reply.
    let r: Vec<redis::Value> = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("nothing")
        .arg(0)
        .cmd("PING")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, vec![redis::Value::Nil, status("PONG")]);
    // RESET forgets a transaction in progress.
    assert_eq!(cmd(&mut c, &["MULTI"]), redis::Value::Okay);
    assert_eq!(cmd(&mut c, &["RESET"]), status("RESET"));
    let e = cmd(&mut c, &["EXEC"]);
    assert!(format!("{e:?}").contains("EXEC without MULTI"), "{e:?}");
}

#[test]
fn watch_fails_exec_when_another_client_changed_the_key() {
    let s = Server::start();
    let (mut a, mut b) = (s.conn(), s.conn());
    let _: () = a.set("balance", 10).unwrap();
    let exec = |c: &mut redis::Connection| -> Option<Vec<i64>> {
        let _: () = redis::cmd("MULTI").query(c).unwrap();
        let _: () = redis::cmd("INCRBY").arg("balance").arg(5).query(c).unwrap();
        redis::cmd("EXEC").query(c).unwrap()
    };
    // Untouched: the transaction runs.
    let _: () = redis::cmd("WATCH").arg("balance").query(&mut a).unwrap();
    assert_eq!(exec(&mut a), Some(vec![15]));
    // Another client's write in between: a null reply, nothing ran.
    for change in [
        vec!["SET", "balance", "20"],
        vec!["INCR", "balance"],
        vec!["DEL", "balance"],
        vec!["EXPIRE", "balance", "100"],
    ] {
        let _: () = a.set("balance", 20).unwrap();
        let _: () = redis::cmd("WATCH").arg("balance").query(&mut a).unwrap();
        cmd(&mut b, &change);
        assert_eq!(exec(&mut a), None, "{change:?}");
    }
    // A key absent at WATCH and created meanwhile counts too; UNWATCH forgets.
    let _: () = redis::cmd("WATCH").arg("fresh").query(&mut a).unwrap();
    let _: () = b.set("fresh", 1).unwrap();
    let _: () = redis::cmd("MULTI").query(&mut a).unwrap();
    let _: () = redis::cmd("INCR").arg("fresh").query(&mut a).unwrap();
    assert_eq!(
        redis::cmd("EXEC")
            .query::<Option<Vec<i64>>>(&mut a)
            .unwrap(),
        None
    );
    let _: () = redis::cmd("WATCH").arg("fresh").query(&mut a).unwrap();
    let _: () = b.set("fresh", 5).unwrap();
    let _: () = redis::cmd("UNWATCH").query(&mut a).unwrap();
    let _: () = redis::cmd("MULTI").query(&mut a).unwrap();
    let _: () = redis::cmd("INCR").arg("fresh").query(&mut a).unwrap();
    assert_eq!(
        redis::cmd("EXEC")
            .query::<Option<Vec<i64>>>(&mut a)
            .unwrap(),
        Some(vec![6])
    );
}

#[test]
fn no_command_sees_a_transaction_half_done() {
    // Several I/O threads (this machine's default is one), so that commands really run beside
    // each other and only the gate keeps them out of a transaction.
    let s = Server::start_with(&[], Some("network:\n  io_threads: 3\n"));
    let addr = s.addr;
    let stop = Arc::new(AtomicBool::new(false));
    // Transactions keep a + b == 0; readers on other connections check it with MGET.
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = redis::Client::open(format!("redis://{addr}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    // Work between the two halves, so that a reader let in would land there.
                    let mut p = redis::pipe();
                    p.atomic().incr("a", 1).ignore();
                    for _ in 0..30 {
                        p.incr("filler", 1).ignore();
                    }
                    p.decr("b", 1).ignore();
                    let () = p.query(&mut c).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = redis::Client::open(format!("redis://{addr}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                let mut torn = 0;
                for _ in 0..3000 {
                    let (x, y): (Option<i64>, Option<i64>) =
                        redis::cmd("MGET").arg("a").arg("b").query(&mut c).unwrap();
                    if x.unwrap_or(0) + y.unwrap_or(0) != 0 {
                        torn += 1;
                    }
                }
                torn
            })
        })
        .collect();
    let torn: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    stop.store(true, Ordering::Relaxed);
    let done: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(done > 100, "{done} transactions");
    assert_eq!(
        torn, 0,
        "reads that saw half a transaction, over {done} transactions"
    );
    let mut c = s.conn();
    let (a, b): (i64, i64) = redis::cmd("MGET").arg("a").arg("b").query(&mut c).unwrap();
    assert_eq!((a, -b), (done as i64, done as i64));
}

/// The node owning `key` (the one that runs an in-place write on it without forwarding).
fn owner_of(c: &common::cluster::TestCluster, key: &str) -> usize {
    let forwarded =
        |i: usize| common::cluster::figure(&mut c.conn(i), "hypercache_forwarded_commands");
    let owners: Vec<usize> = (0..3)
        .filter(|&i| {
            let before = forwarded(i);
            let _: i64 = c.conn(i).rpush_exists(key, "probe").unwrap();
            forwarded(i) == before
        })
        .collect();
    assert_eq!(owners.len(), 1, "{key}: {owners:?}");
    owners[0]
}

#[test]
fn in_a_cluster_a_transaction_runs_on_the_owner_of_all_its_keys() {
    let c = common::cluster::TestCluster::start(3, "");
    let owner = owner_of(&c, "{t}a");
    let other_key = (0..100)
        .map(|i| format!("{{o{i}}}x"))
        .find(|k| owner_of(&c, k) != owner)
        .unwrap();
    let tx = |i: usize, keys: &[&str]| -> Result<Vec<i64>, String> {
        let mut con = c.conn(i);
        let () = redis::cmd("MULTI").query(&mut con).unwrap();
        for k in keys {
            let () = redis::cmd("INCR").arg(*k).query(&mut con).unwrap();
        }
        redis::cmd("EXEC")
            .query(&mut con)
            .map_err(|e| e.to_string())
    };
    // On the owner, keys sharing a tag: runs, atomically.
    assert_eq!(tx(owner, &["{t}a", "{t}b", "{t}a"]).unwrap(), vec![1, 1, 2]);
    // Keys of two owners: Redis Cluster's CROSSSLOT, and nothing ran.
    let e = tx(owner, &["{t}a", &other_key]).unwrap_err();
    assert!(e.to_string().contains("don't hash to the same slot"), "{e}");
    // Sent to another node: it travels to the owner whole and runs there.
    let elsewhere = (owner + 1) % 3;
    let forwarded =
        |i: usize| common::cluster::figure(&mut c.conn(i), "hypercache_forwarded_commands");
    let before = forwarded(elsewhere);
    assert_eq!(tx(elsewhere, &["{t}a", "{t}b"]).unwrap(), vec![3, 2]);
    assert_eq!(
        forwarded(elsewhere),
        before + 1,
        "one forward for the whole transaction"
    );
    c.wait_converged();
    for i in 0..3 {
        assert_eq!(
            c.conn(i).get::<_, i64>("{t}a").unwrap(),
            3,
            "node {}",
            i + 1
        );
    }
    // Its replies are the owner's, byte for byte, in the client's protocol: a runtime error
    // inside EXEC, a blocking pop that finds nothing, RESP3 maps.
    let script = |hello: &str| {
        format!(
            "{hello}MULTI\r\nSET {{t}}s x\r\nINCR {{t}}s\r\nBLPOP {{t}}empty 0\r\n\
             HSET {{t}}h f v\r\nHGETALL {{t}}h\r\nEXEC\r\nDEL {{t}}s {{t}}h\r\nPING\r\n"
        )
    };
    for hello in ["", "HELLO 3\r\n"] {
        let replies = |i: usize| {
            let mut raw = common::Raw::connect(c.server(i).addr);
            raw.send(script(hello).as_bytes());
            let n = 9 + usize::from(!hello.is_empty());
            (0..n).map(|_| raw.read_reply()).collect::<Vec<_>>()
        };
        let there = replies(elsewhere);
        // The DEL ran where it was sent; the owner must have it before the same again there.
        c.wait_converged();
        let here = replies(owner);
        c.wait_converged();
        let show = |r: &[Vec<u8>]| {
            r.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect::<Vec<_>>()
        };
        // HELLO's reply names the node.
        let skip = usize::from(!hello.is_empty());
        assert_eq!(show(&there[skip..]), show(&here[skip..]), "{hello:?}");
        assert!(String::from_utf8_lossy(&here[skip + 6]).contains("not an integer"));
    }
}

#[test]
fn watch_on_any_node_sees_writes_made_on_every_node() {
    let c = common::cluster::TestCluster::start(3, "");
    let owner = owner_of(&c, "{w}n");
    let (here, third) = ((owner + 1) % 3, (owner + 2) % 3);
    let _: () = c.conn(owner).set("{w}n", 1).unwrap();
    c.wait_converged();
    // A check-and-set run from a node that does not own the key.
    let cas = |con: &mut redis::Connection, write_between: &mut dyn FnMut()| -> Option<Vec<i64>> {
        let () = redis::cmd("WATCH").arg("{w}n").query(con).unwrap();
        let v: i64 = con.get("{w}n").unwrap();
        write_between();
        let mut p = redis::pipe();
        p.atomic().set("{w}n", v + 10).ignore().incr("{w}count", 1);
        p.query::<Option<Vec<i64>>>(con).unwrap()
    };
    let mut con = c.conn(here);
    // Nothing in between: it runs (on the owner).
    assert_eq!(cas(&mut con, &mut || {}), Some(vec![1]));
    assert_eq!(c.conn(owner).get::<_, i64>("{w}n").unwrap(), 11);
    // A write made on a third node in between: the owner's version moved, EXEC fails.
    let mut other = c.conn(third);
    assert_eq!(
        cas(&mut con, &mut || {
            // (After the last write reached it: a concurrent blind SET may lose to it.)
            c.wait_converged();
            let _: () = other.set("{w}n", 100).unwrap();
            c.wait_converged();
        }),
        None
    );
    // The same from the owner itself.
    let mut on_owner = c.conn(owner);
    assert_eq!(
        cas(&mut con, &mut || {
            let _: i64 = on_owner.incr("{w}n", 1).unwrap();
        }),
        None
    );
    assert_eq!(c.conn(owner).get::<_, i64>("{w}n").unwrap(), 101);
    // UNWATCH forgets the owner's versions: the next transaction runs.
    let () = redis::cmd("WATCH").arg("{w}n").query(&mut con).unwrap();
    let _: i64 = on_owner.incr("{w}n", 1).unwrap();
    let () = redis::cmd("UNWATCH").query(&mut con).unwrap();
    let mut p = redis::pipe();
    p.atomic().incr("{w}n", 1);
    assert_eq!(p.query::<Vec<i64>>(&mut con).unwrap(), vec![103]);
    // Watched keys of one owner and a transaction on another's: CROSSSLOT.
    let foreign = (0..100)
        .map(|i| format!("{{f{i}}}x"))
        .find(|k| owner_of(&c, k) != owner)
        .unwrap();
    let mut raw = common::Raw::connect(c.server(here).addr);
    raw.send(format!("WATCH {{w}}n\r\nMULTI\r\nINCR {foreign}\r\nEXEC\r\n").as_bytes());
    let replies: Vec<String> = (0..4)
        .map(|_| String::from_utf8_lossy(&raw.read_reply()).into_owned())
        .collect();
    assert_eq!(
        replies[3], "-CROSSSLOT Keys in request don't hash to the same slot\r\n",
        "{replies:?}"
    );
    let e = redis::cmd("WATCH")
        .arg("{w}n")
        .arg(&foreign)
        .query::<()>(&mut con)
        .unwrap_err();
    assert!(e.to_string().contains("don't hash to the same slot"), "{e}");
}

#[test]
fn peers_cannot_slip_transactions_or_batches_past_the_gate() {
    let s = Server::start();
    let mut p = common::cluster::peer_conn(s.addr, None).unwrap();
    // A reply through HCFWD is followed by the node's clock.
    let fwd = |c: &mut redis::Connection, args: &[&str]| -> redis::RedisResult<redis::Value> {
        let mut k = redis::cmd(args[0]);
        for a in &args[1..] {
            k.arg(*a);
        }
        let r = k.query::<redis::Value>(c);
        if args[0] == "HCFWD" {
            let clock = c.recv_response().unwrap();
            assert!(matches!(clock, redis::Value::Int(_)), "{clock:?}");
        }
        r
    };
    let err = |c: &mut redis::Connection, args: &[&str]| fwd(c, args).unwrap_err().to_string();
    // A forwarded EXEC, HCREPL inside HCFWD, and malformed HCEXECs are refused.
    assert!(err(&mut p, &["HCFWD", "0", "2", "EXEC"]).contains("cannot be forwarded"));
    assert!(
        err(&mut p, &["HCFWD", "0", "2", "HCREPL", "x", "0", "0", ""])
            .contains("internal commands")
    );
    for bad in [
        &["HCFWD", "0", "2", "HCEXEC", "5"][..],
        &["HCFWD", "0", "2", "HCEXEC", "1", "k", "x", "0"],
        &["HCFWD", "0", "2", "HCEXEC", "1", "k", "1", "-5"],
        &["HCFWD", "0", "2", "HCEXEC", "-1"],
        &["HCFWD", "0", "2", "HCEXEC", "0", "3", "SET", "k"],
        &["HCFWD", "0", "2", "HCEXEC", "0", "0"],
        &["HCFWD", "0", "2", "HCEXEC", "0", "1", "NOSUCHCOMMAND"],
        &["HCFWD", "0", "2", "HCEXEC", "0", "1", "SAVE"],
        &["HCFWD", "0", "2", "HCEXEC", "0", "99999999999999999999"],
    ] {
        assert!(err(&mut p, bad).contains("malformed HCEXEC"), "{bad:?}");
    }
    // A well-formed one runs, judged by the versions it carries.
    let ok = fwd(
        &mut p,
        &[
            "HCFWD", "0", "2", "HCEXEC", "1", "k", "-1", "0", "2", "INCR", "k", "2", "INCR", "k",
        ],
    );
    assert_eq!(
        ok.unwrap(),
        redis::Value::Array(vec![redis::Value::Int(1), redis::Value::Int(2)])
    );
    let moved = fwd(
        &mut p,
        &[
            "HCFWD", "0", "2", "HCEXEC", "1", "k", "-1", "0", "2", "INCR", "k",
        ],
    );
    assert_eq!(moved.unwrap(), redis::Value::Nil);
    // Node ids use all 64 bits.
    let moved = fwd(
        &mut p,
        &[
            "HCFWD",
            "0",
            "2",
            "HCEXEC",
            "1",
            "k",
            "7",
            "18446744073709551615",
            "2",
            "INCR",
            "k",
        ],
    );
    assert_eq!(moved.unwrap(), redis::Value::Nil);
    // Clients cannot use them at all.
    let mut c = s.conn();
    assert!(
        err(&mut c, &["HCEXEC", "0"]).contains("peer"),
        "{}",
        err(&mut c, &["HCEXEC", "0"])
    );
    assert!(err(&mut c, &["HCVERSIONS", "k"]).contains("peer"));
    assert_eq!(c.get::<_, i64>("k").unwrap(), 2);
}

#[test]
fn watched_keys_are_bounded_and_refused_whole() {
    let s = Server::start();
    let mut c = s.conn();
    let keys: Vec<String> = (0..100_001).map(|i| format!("w{i}")).collect();
    let e = redis::cmd("WATCH")
        .arg(&keys)
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("too many watched keys"), "{e}");
    // Nothing of it was watched: a change to one of those keys does not fail the EXEC.
    let _: () = s.conn().set("w7", 1).unwrap();
    let () = redis::cmd("WATCH")
        .arg(&keys[..100_000])
        .query(&mut c)
        .unwrap();
    let e = redis::cmd("WATCH")
        .arg("one-more")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("too many watched keys"), "{e}");
    // The same key again adds nothing, and the watch holds: a change fails the EXEC.
    let () = redis::cmd("WATCH").arg("w5").query(&mut c).unwrap();
    let _: () = s.conn().set("w5", 1).unwrap();
    let _: () = redis::cmd("MULTI").query(&mut c).unwrap();
    let _: () = redis::cmd("INCR").arg("w7").query(&mut c).unwrap();
    assert_eq!(
        redis::cmd("EXEC")
            .query::<Option<Vec<i64>>>(&mut c)
            .unwrap(),
        None
    );
}

/// A writer's transaction: every key of the group `w` set to `seq` (and padding, so that the
/// transaction's records take the AOF writer several rounds).
fn set_group(c: &mut redis::Connection, w: usize, seq: u64, keys: usize) -> redis::RedisResult<()> {
    let mut p = redis::pipe();
    p.atomic();
    for k in 0..keys {
        p.set(
            format!("{{g{w}}}k{k}"),
            format!("{seq}:{}", "x".repeat(1000)),
        )
        .ignore();
    }
    p.query(c)
}

/// The one sequence every key of group `w` holds (None: the group was never written), or a
/// panic naming the keys that disagree.
fn group_value(c: &mut redis::Connection, w: usize, keys: usize) -> Option<u64> {
    let names: Vec<String> = (0..keys).map(|k| format!("{{g{w}}}k{k}")).collect();
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&names).query(c).unwrap();
    let seqs: Vec<Option<u64>> = values
        .iter()
        .map(|v| {
            v.as_ref()
                .map(|v| v.split(':').next().unwrap().parse().unwrap())
        })
        .collect();
    if let Some(k) = seqs.iter().position(|s| *s != seqs[0]) {
        panic!(
            "group {w}: half a transaction: key 0 holds {:?}, key {k} {:?}",
            seqs[0], seqs[k]
        );
    }
    seqs[0]
}

#[test]
fn after_a_kill_9_each_transaction_is_recovered_whole_or_not_at_all() {
    const WRITERS: usize = 3;
    const KEYS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Snapshots and AOF rewrites happen during the transactions too.
    let config =
        "persistence:\n  sync_policy: everysec\n  snapshot_interval: 1s\n  max_log_size: 1MB\n";
    let mut rng = fastrand::Rng::with_seed(11);
    let mut unfinished = 0;
    let mut cycles = 0;
    // Until recovery has met transactions cut by the kill (the case under test) a few times.
    while unfinished < 3 && cycles < 30 {
        cycles += 1;
        let mut s = Server::start_in(&data, Some(config));
        let mut c = s.conn();
        unfinished += common::unfinished_transactions(&mut c);
        for w in 0..WRITERS {
            group_value(&mut c, w, KEYS);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (stop, addr) = (stop.clone(), s.addr);
                std::thread::spawn(move || {
                    let mut c = redis::Client::open(format!("redis://{addr}/"))
                        .unwrap()
                        .get_connection()
                        .unwrap();
                    let mut seq = 0;
                    while !stop.load(Ordering::Relaxed) {
                        seq += 1;
                        if set_group(&mut c, w, seq, KEYS).is_err() {
                            return; // killed
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(rng.u64(200..700)));
        s.kill();
        stop.store(true, Ordering::Relaxed);
        for t in writers {
            t.join().unwrap();
        }
    }
    let s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    unfinished += common::unfinished_transactions(&mut c);
    for w in 0..WRITERS {
        assert!(group_value(&mut c, w, KEYS).is_some(), "group {w} lost");
    }
    assert!(
        unfinished >= 1,
        "no kill landed inside a transaction in {cycles} cycles"
    );
}

#[test]
fn a_replica_never_shows_half_a_transaction() {
    const KEYS: usize = 50;
    // Several I/O threads on every node: a reader could run beside the replica's apply.
    let c = common::cluster::TestCluster::start(3, "network:\n  io_threads: 3\n");
    let owner = owner_of(&c, "{g0}k0");
    let replica = (owner + 1) % 3;
    let mut w = c.conn(owner);
    set_group(&mut w, 0, 1, KEYS).unwrap();
    common::cluster::wait(
        "the first transaction on the replica",
        std::time::Duration::from_secs(10),
        || {
            let mut r = c.conn(replica);
            let n: i64 = redis::cmd("EXISTS")
                .arg((0..KEYS).map(|k| format!("{{g0}}k{k}")).collect::<Vec<_>>())
                .query(&mut r)
                .unwrap();
            n == KEYS as i64
        },
    );
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let mut r = c.conn(replica);
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = std::collections::HashSet::new();
                while !stop.load(Ordering::Relaxed) {
                    seen.insert(group_value(&mut r, 0, KEYS));
                }
                seen.len()
            })
        })
        .collect();
    for seq in 2..400 {
        set_group(&mut w, 0, seq, KEYS).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        // group_value panics on a torn read; each reader must have seen the values move.
        let seen = r.join().expect("a reader saw half a transaction");
        assert!(seen > 5, "the replica's values hardly moved: {seen}");
    }
    let mut r = c.conn(replica);
    assert_eq!(group_value(&mut r, 0, KEYS), Some(399));
}
