//! Blocking pops through real clients: first come first served, woken by a push from any
//! connection or a replicated write, timeouts, CLIENT UNBLOCK, type changes and clients that
//! leave while they wait.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::cluster::{TestCluster, wait};
use common::{Server, info_field, wait_until};
use redis::Commands;

fn blocked(c: &mut redis::Connection) -> i64 {
    info_field(c, "clients", "blocked_clients").parse().unwrap()
}

#[test]
fn waiting_clients_are_served_in_the_order_they_came() {
    let s = Server::start();
    let mut c = s.conn();
    let mut waiting = Vec::new();
    for i in 0..3 {
        let mut w = s.conn();
        waiting.push(thread::spawn(move || {
            let got: (String, String) = redis::cmd("BLPOP")
                .arg("q")
                .arg("other")
                .arg(0)
                .query(&mut w)
                .unwrap();
            got
        }));
        // Each waits before the next begins.
        wait_until("the client to block", || blocked(&mut c) == i + 1);
    }
    let _: i64 = c.rpush("q", &["1", "2", "3"]).unwrap();
    let got: Vec<(String, String)> = waiting.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        got,
        [
            ("q".to_string(), "1".to_string()),
            ("q".to_string(), "2".to_string()),
            ("q".to_string(), "3".to_string())
        ]
    );
    assert_eq!(blocked(&mut c), 0);
    assert!(!c.exists::<_, bool>("q").unwrap());
}

#[test]
fn timeouts_unblock_and_type_changes_answer_as_redis() {
    let s = Server::start();
    let mut c = s.conn();
    // Nothing comes: a null array after the timeout, for lists and sorted sets alike.
    let t = Instant::now();
    let v: redis::Value = redis::cmd("BZPOPMIN")
        .arg("z")
        .arg(0.2)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, redis::Value::Nil);
    assert!(
        t.elapsed() >= Duration::from_millis(190),
        "{:?}",
        t.elapsed()
    );
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd(&[b"BLMOVE", b"a", b"b", b"LEFT", b"RIGHT", b"0.05"]),
        b"*-1\r\n"
    );
    let e = redis::cmd("BLPOP")
        .arg("q")
        .arg(-1)
        .query::<redis::Value>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("timeout is negative"), "{e}");
    let e = redis::cmd("BLPOP")
        .arg("q")
        .arg("x")
        .query::<redis::Value>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("timeout is not a float"), "{e}");

    // A client waiting for ever is released by CLIENT UNBLOCK, with a null or an error.
    for (how, want_err) in [("TIMEOUT", false), ("ERROR", true)] {
        let mut w = s.conn();
        let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut w).unwrap();
        let t = thread::spawn(move || {
            redis::cmd("BRPOP")
                .arg("never")
                .arg(0)
                .query::<redis::Value>(&mut w)
        });
        wait_until("the client to block", || blocked(&mut c) == 1);
        let done: i64 = redis::cmd("CLIENT")
            .arg("UNBLOCK")
            .arg(id)
            .arg(how)
            .query(&mut c)
            .unwrap();
        assert_eq!(done, 1);
        match t.join().unwrap() {
            Ok(v) => {
                assert!(!want_err);
                assert_eq!(v, redis::Value::Nil);
            }
            Err(e) => {
                assert!(want_err);
                assert!(
                    e.to_string()
                        .contains("client unblocked via CLIENT UNBLOCK"),
                    "{e}"
                );
            }
        }
    }
    let not: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(99999)
        .query(&mut c)
        .unwrap();
    assert_eq!(not, 0);

    // A key that becomes a string does not serve a waiting BLPOP; a list then does.
    let mut w = s.conn();
    let t = thread::spawn(move || {
        redis::cmd("BLPOP")
            .arg("k")
            .arg(5)
            .query::<(String, String)>(&mut w)
    });
    wait_until("the client to block", || blocked(&mut c) == 1);
    let () = c.set("k", "string").unwrap();
    thread::sleep(Duration::from_millis(100));
    assert_eq!(blocked(&mut c), 1, "still waiting after the string");
    let _: i64 = c.del("k").unwrap();
    let _: i64 = c.rpush("k", "v").unwrap();
    assert_eq!(
        t.join().unwrap().unwrap(),
        ("k".to_string(), "v".to_string())
    );

    // A client that goes away while it waits is forgotten.
    let mut raw = s.raw();
    raw.send(&common::Raw::frame(&[b"BLPOP", b"gone", b"0"]));
    wait_until("the client to block", || blocked(&mut c) == 1);
    drop(raw);
    wait_until("the waiter to be dropped", || blocked(&mut c) == 0);
}

#[test]
fn blocking_pops_of_every_kind_are_woken_by_writes() {
    let s = Server::start();
    let mut c = s.conn();
    let mut w1 = s.conn();
    let mut w2 = s.conn();
    let mut w3 = s.conn();
    let z = thread::spawn(move || {
        redis::cmd("BZPOPMAX")
            .arg("z1")
            .arg("z2")
            .arg(5)
            .query::<(String, String, f64)>(&mut w1)
            .unwrap()
    });
    let m = thread::spawn(move || {
        redis::cmd("BLMOVE")
            .arg("src")
            .arg("dst")
            .arg("RIGHT")
            .arg("LEFT")
            .arg(5)
            .query::<String>(&mut w2)
            .unwrap()
    });
    let mp = thread::spawn(move || {
        redis::cmd("BZMPOP")
            .arg(5)
            .arg(1)
            .arg("zz")
            .arg("MIN")
            .arg("COUNT")
            .arg(2)
            .query::<redis::Value>(&mut w3)
            .unwrap()
    });
    wait_until("three clients to block", || blocked(&mut c) == 3);
    let _: i64 = c.zadd_multiple("z2", &[(1, "a"), (7, "b")]).unwrap();
    let _: i64 = c.rpush("src", &["x", "y"]).unwrap();
    let _: i64 = c
        .zadd_multiple("zz", &[(1, "p"), (2, "q"), (3, "r")])
        .unwrap();
    assert_eq!(z.join().unwrap(), ("z2".to_string(), "b".to_string(), 7.0));
    assert_eq!(m.join().unwrap(), "y");
    assert_eq!(c.lrange::<_, Vec<String>>("dst", 0, -1).unwrap(), ["y"]);
    let got = mp.join().unwrap();
    assert_eq!(
        got,
        redis::Value::Array(vec![
            redis::Value::BulkString(b"zz".to_vec()),
            redis::Value::Array(vec![
                redis::Value::Array(vec![
                    redis::Value::BulkString(b"p".to_vec()),
                    redis::Value::BulkString(b"1".to_vec())
                ]),
                redis::Value::Array(vec![
                    redis::Value::BulkString(b"q".to_vec()),
                    redis::Value::BulkString(b"2".to_vec())
                ]),
            ])
        ])
    );
}

/// A push made on one node wakes a client waiting on another, through replication.
#[test]
fn a_replicated_push_wakes_a_client_on_another_node() {
    let cl = TestCluster::start(2, "");
    let mut w = cl.conn(1);
    let t = thread::spawn(move || {
        redis::cmd("BRPOP")
            .arg("jobs")
            .arg(10)
            .query::<(String, String)>(&mut w)
            .unwrap()
    });
    let mut b = cl.conn(1);
    wait("the client to block", Duration::from_secs(10), || {
        blocked(&mut b) == 1
    });
    let _: i64 = cl.conn(0).lpush("jobs", "job-1").unwrap();
    assert_eq!(t.join().unwrap(), ("jobs".to_string(), "job-1".to_string()));
}
