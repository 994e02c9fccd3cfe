//! The cluster with real binaries on 127.0.0.1: replication, read-repair, convergence after
//! concurrent writes, crashes and partitions, joins, and quorum writes.
//!
//! Partitions use the fault-injection switch (`DEBUG PARTITION`), which drops gossip and
//! replication traffic between chosen nodes inside the transport.

mod common;

use std::time::Duration;

use common::cluster::{TestCluster, figure, info, wait};
use redis::Commands;

fn stamp(c: &mut redis::Connection, key: &str) -> Option<(i64, String)> {
    redis::cmd("HCSTAMP").arg(0).arg(key).query(c).unwrap()
}

#[test]
fn a_write_is_readable_everywhere_at_once_and_deletes_and_ttls_replicate() {
    let c = TestCluster::start(3, "");
    let mut n1 = c.conn(0);
    let _: () = n1.set("greeting", "hello").unwrap();
    // Read-repair makes it visible on the others even if replication has not landed yet.
    assert_eq!(c.conn(1).get::<_, String>("greeting").unwrap(), "hello");
    assert_eq!(c.conn(2).get::<_, String>("greeting").unwrap(), "hello");
    // TTLs travel as the same absolute deadline.
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("v")
        .arg("PX")
        .arg(100_000)
        .query(&mut n1)
        .unwrap();
    let at: i64 = redis::cmd("PEXPIRETIME").arg("t").query(&mut n1).unwrap();
    for i in 1..3 {
        let mut c2 = c.conn(i);
        wait("the TTL to replicate", Duration::from_secs(10), || {
            redis::cmd("PEXPIRETIME")
                .arg("t")
                .query::<i64>(&mut c2)
                .unwrap()
                == at
        });
    }
    // A delete on node 3 removes it everywhere.
    let _: i64 = c.conn(2).del("greeting").unwrap();
    for i in 0..3 {
        let mut ci = c.conn(i);
        wait("the delete to replicate", Duration::from_secs(10), || {
            !ci.exists::<_, bool>("greeting").unwrap()
        });
    }
    // A replicated delete of a missing key is a no-op, not an error.
    let _: i64 = c.conn(1).del("never-existed").unwrap();
    c.wait_converged();
    // The misses on node 2 were checked with the peers: by the read index, or by asking for
    // the key itself while the index could not vouch yet.
    let mut n2 = c.conn(1);
    assert!(
        figure(&mut n2, "hypercache_read_repair_queries")
            + figure(&mut n2, "hypercache_read_index_questions")
            >= 1
    );
}

/// Node 2's misses are answered locally once every peer vouched for its stream.
fn wait_vouched(c: &TestCluster, i: usize) {
    let mut conn = c.conn(i);
    let mut probe = 0u64;
    wait(
        "the peers to vouch for their streams",
        Duration::from_secs(20),
        || {
            probe += 1;
            let before: u64 = figure(&mut conn, "hypercache_read_index_local");
            let _: Option<String> = conn.get(format!("probe-{probe}")).unwrap();
            let after: u64 = figure(&mut conn, "hypercache_read_index_local");
            after > before
        },
    );
}

#[test]
fn acknowledged_writes_are_never_missed_while_misses_pour_in() {
    let c = TestCluster::start(3, "");
    wait_vouched(&c, 1);
    wait_vouched(&c, 2);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A load of misses on unrelated keys on the readers' nodes.
    let mut load = Vec::new();
    for t in 0..4 {
        let (url, stop) = (c.server(1 + t % 2).url(), stop.clone());
        load.push(std::thread::spawn(move || {
            let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut p = redis::pipe();
                for i in 0..16 {
                    p.get(format!("absent-{t}-{n}-{i}"));
                }
                let got: Vec<Option<String>> = p.query(&mut conn).unwrap();
                assert!(got.iter().all(Option::is_none));
                n += 1;
            }
            n
        }));
    }
    let writer_url = c.server(0).url();
    let reader_urls = [c.server(1).url(), c.server(2).url()];
    let mut clients = Vec::new();
    for t in 0..50 {
        let (w, r) = (writer_url.clone(), reader_urls[t % 2].clone());
        clients.push(std::thread::spawn(move || {
            let mut w = redis::Client::open(w).unwrap().get_connection().unwrap();
            let mut r = redis::Client::open(r).unwrap().get_connection().unwrap();
            let mut missed = Vec::new();
            for i in 0..40 {
                let (k, v) = (format!("ryw-{t}-{i}"), format!("v{i}"));
                let () = w.set(&k, &v).unwrap();
                let got: Option<String> = r.get(&k).unwrap();
                if got.as_deref() != Some(v.as_str()) {
                    missed.push((k, got));
                }
            }
            missed
        }));
    }
    let missed: Vec<_> = clients
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let batches: u64 = load.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(
        missed.is_empty(),
        "acknowledged writes read as missing or old: {missed:?}"
    );
    assert!(batches > 0);
    // The misses were settled by the read index, not by asking for each key.
    for i in 1..3 {
        let mut conn = c.conn(i);
        let questions: u64 = figure(&mut conn, "hypercache_read_index_questions");
        let reads: u64 = figure(&mut conn, "hypercache_read_index_reads");
        let local: u64 = figure(&mut conn, "hypercache_read_index_local");
        let fallbacks: u64 = figure(&mut conn, "hypercache_read_index_fallbacks");
        assert!(local > 0, "node {i}: no miss answered on the peers' word");
        // A question can time out on a loaded machine (then the keys are asked for); most
        // misses are settled on the peers' word.
        assert!(
            local > fallbacks,
            "node {i}: {local} local answers, {fallbacks} fallbacks"
        );
        assert!(
            reads > questions,
            "node {i}: {reads} checks over {questions} questions"
        );
    }
}

#[test]
fn a_peer_that_stops_answering_costs_a_read_timeout_not_a_hang() {
    let c = TestCluster::start(3, "");
    wait_vouched(&c, 0);
    let fds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    let pid = c.server(0).pid();
    let fds_before = fds(pid);
    // Node 3 freezes: it still holds its sockets, it answers nothing.
    let frozen = c.server(2).pid();
    // SAFETY: kill() takes plain integers; the pid is a node this test started.
    unsafe {
        libc::kill(frozen as i32, libc::SIGSTOP);
    }
    let mut conn = c.conn(0);
    for round in 0..20 {
        let t = std::time::Instant::now();
        let mut p = redis::pipe();
        for i in 0..16 {
            p.get(format!("gone-{round}-{i}"));
        }
        let got: Vec<Option<String>> = p.query(&mut conn).unwrap();
        assert!(got.iter().all(Option::is_none));
        // One read timeout for the question, then one per key asked of the frozen peer at
        // most: well under the seconds a hang would take.
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "a pipeline of misses took {:?}",
            t.elapsed()
        );
    }
    // The frozen peer was asked, did not answer in time, and the reads went on without it
    // (until gossip took it out of the ring).
    let fallbacks: u64 = figure(&mut conn, "hypercache_read_index_fallbacks");
    assert!(fallbacks >= 1);
    // SAFETY: as above.
    unsafe {
        libc::kill(frozen as i32, libc::SIGCONT);
    }
    // No connection left behind per miss: a handful more descriptors at most.
    let fds_after = fds(pid);
    assert!(
        fds_after <= fds_before + 8,
        "descriptors {fds_before} -> {fds_after}"
    );
    let () = c.conn(2).set("after", "thaw").unwrap();
    let mut n1 = c.conn(0);
    wait(
        "the thawed node to replicate",
        Duration::from_secs(20),
        || n1.get::<_, Option<String>>("after").unwrap().as_deref() == Some("thaw"),
    );
}

#[test]
fn concurrent_writers_converge_to_the_highest_stamp() {
    let c = TestCluster::start(3, "");
    let addrs: Vec<_> = (0..3).map(|i| c.server(i).addr).collect();
    let threads: Vec<_> = addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let addr = *addr;
            std::thread::spawn(move || {
                let mut con = redis::Client::open(format!("redis://{addr}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                for j in 0..300 {
                    let key = format!("k{}", j % 20);
                    let _: () = con.set(&key, format!("n{i}-{j}")).unwrap();
                    let _: i64 = con.incr(format!("ctr{}", j % 5), 1).unwrap();
                    if j % 50 == 0 {
                        let _: i64 = con.del(format!("k{}", (j + 7) % 20)).unwrap();
                    }
                    // Every collection type, written on every node at once: concurrent
                    // edits to one key conflict, and the newest whole value must win.
                    let m = format!("n{i}-{}", j % 40);
                    let _: i64 = con.rpush(format!("list{}", j % 3), &m).unwrap();
                    let _: i64 = con.hset(format!("hash{}", j % 3), &m, j).unwrap();
                    let _: i64 = con.sadd(format!("set{}", j % 3), &m).unwrap();
                    let _: i64 = con.zadd(format!("zset{}", j % 3), &m, j).unwrap();
                    let _: i64 = redis::cmd("SETBIT")
                        .arg(format!("bits{}", j % 3))
                        .arg(j * 3 + i)
                        .arg(1)
                        .query(&mut con)
                        .unwrap();
                    let _: i64 = redis::cmd("PFADD")
                        .arg(format!("hll{}", j % 3))
                        .arg(&m)
                        .query(&mut con)
                        .unwrap();
                    if j % 7 == 0 {
                        let _: Option<String> = con.lpop(format!("list{}", j % 3), None).unwrap();
                        let _: Vec<(String, f64)> =
                            con.zpopmin(format!("zset{}", j % 3), 1).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    c.wait_converged();
    for k in (0..20)
        .map(|j| format!("k{j}"))
        .chain((0..5).map(|j| format!("ctr{j}")))
    {
        let stamps: Vec<_> = (0..3).map(|i| stamp(&mut c.conn(i), &k)).collect();
        assert!(stamps.windows(2).all(|w| w[0] == w[1]), "{k}: {stamps:?}");
        let values: Vec<Option<String>> = (0..3).map(|i| c.conn(i).get(&k).unwrap()).collect();
        assert!(values.windows(2).all(|w| w[0] == w[1]), "{k}: {values:?}");
    }
    // Each collection reads the same on every node.
    let view = |con: &mut redis::Connection, k: &str| -> String {
        let kind: String = redis::cmd("TYPE").arg(k).query(con).unwrap();
        match kind.as_str() {
            "list" => format!("{:?}", con.lrange::<_, Vec<String>>(k, 0, -1).unwrap()),
            "hash" => format!(
                "{:?}",
                con.hgetall::<_, std::collections::BTreeMap<String, String>>(k)
                    .unwrap()
            ),
            "set" => format!(
                "{:?}",
                con.smembers::<_, std::collections::BTreeSet<String>>(k)
                    .unwrap()
            ),
            "zset" => format!(
                "{:?}",
                con.zrange_withscores::<_, Vec<(String, f64)>>(k, 0, -1)
                    .unwrap()
            ),
            _ => format!("{:?}", con.get::<_, Option<Vec<u8>>>(k).unwrap()),
        }
    };
    for kind in ["list", "hash", "set", "zset", "bits", "hll"] {
        for n in 0..3 {
            let k = format!("{kind}{n}");
            let views: Vec<String> = (0..3).map(|i| view(&mut c.conn(i), &k)).collect();
            assert!(views[0].len() > 10, "{k}: {}", views[0]);
            assert!(views.windows(2).all(|w| w[0] == w[1]), "{k}: {views:?}");
        }
    }
}

#[test]
fn a_killed_node_restarts_from_its_aof_and_catches_up() {
    let mut c = TestCluster::start(3, "");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|i| {
            let addr = c.server(i).addr;
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(format!("redis://{addr}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Clients of the surviving nodes see no errors.
                    let _: () = con
                        .set(format!("w{i}:{}", n % 500), n)
                        .expect("write during the crash");
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    c.kill(2);
    std::thread::sleep(Duration::from_millis(1500));
    c.restart(2);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let counts: Vec<i32> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(counts.iter().all(|&n| n > 100), "{counts:?}");
    c.wait_size(3);
    c.wait_converged();
    wait(
        "node 3 to report convergence",
        Duration::from_secs(30),
        || info(&mut c.conn(2), "hypercache_converged") == "1",
    );
    let pulled: u64 = info(&mut c.conn(2), "hypercache_anti_entropy_keys_pulled")
        .parse()
        .unwrap();
    let pushed: u64 = (0..2)
        .map(|i| {
            info(&mut c.conn(i), "hypercache_anti_entropy_keys_pushed")
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert!(
        pulled + pushed > 0,
        "the restarted node caught up by anti-entropy"
    );
}

#[test]
fn both_sides_of_a_partition_converge_after_healing() {
    let c = TestCluster::start(3, "");
    let _: () = c.conn(0).set("before", "1").unwrap();
    c.wait_converged();
    // Cut node 3 off from nodes 1 and 2, on every side.
    let _: () = redis::cmd("DEBUG")
        .arg("PARTITION")
        .arg("node-1")
        .arg("node-2")
        .query(&mut c.conn(2))
        .unwrap();
    for i in 0..2 {
        let _: () = redis::cmd("DEBUG")
            .arg("PARTITION")
            .arg("node-3")
            .query(&mut c.conn(i))
            .unwrap();
    }
    wait("the partition to be seen", Duration::from_secs(30), || {
        info(&mut c.conn(0), "hypercache_cluster_size") == "2"
            && info(&mut c.conn(2), "hypercache_cluster_size") == "1"
    });
    // Writes on both sides, some to the same keys.
    for j in 0..50 {
        let _: () = c.conn(0).set(format!("a{j}"), "left").unwrap();
        let _: () = c.conn(2).set(format!("b{j}"), "right").unwrap();
    }
    let _: () = c.conn(0).set("same", "left").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let _: () = c.conn(2).set("same", "right-later").unwrap();
    let _: i64 = c.conn(2).del("before").unwrap();
    for i in 0..3 {
        let _: () = redis::cmd("DEBUG")
            .arg("HEAL")
            .query(&mut c.conn(i))
            .unwrap();
    }
    c.wait_size(3);
    c.wait_converged();
    for i in 0..3 {
        let mut ci = c.conn(i);
        assert_eq!(ci.get::<_, String>("a49").unwrap(), "left");
        assert_eq!(ci.get::<_, String>("b49").unwrap(), "right");
        assert!(
            !ci.exists::<_, bool>("before").unwrap(),
            "the delete wins: it is newer"
        );
    }
    let same: Vec<String> = (0..3).map(|i| c.conn(i).get("same").unwrap()).collect();
    assert!(same.windows(2).all(|w| w[0] == w[1]), "{same:?}");
}

#[test]
fn a_new_node_receives_the_data() {
    let mut c = TestCluster::start(3, "");
    let mut pipe = redis::pipe();
    for j in 0..2000 {
        pipe.set(format!("key:{j}"), j).ignore();
    }
    let _: () = pipe.query(&mut c.conn(0)).unwrap();
    c.wait_converged();
    let i = c.add_node();
    c.wait_size(4);
    c.wait_converged();
    let n: i64 = redis::cmd("DBSIZE").query(&mut c.conn(i)).unwrap();
    assert_eq!(n, 2000);
}

#[test]
fn quorum_writes_fail_cleanly_without_a_majority_and_recover() {
    let mut c = TestCluster::start(3, "  consistency_level: quorum\n  write_timeout: 1s\n");
    let _: () = c.conn(0).set("q", "1").unwrap();
    c.kill(1);
    c.kill(2);
    let err = c
        .conn(0)
        .set::<_, _, ()>("q", "2")
        .expect_err("no majority");
    assert_eq!(err.code(), Some("TRYAGAIN"), "{err:?}");
    // The HTTP API takes the same path: 503 with the same error.
    let url = format!("{}/api/cache/q", c.server(0).http_url());
    let r = common::http::put_json(&url, &serde_json::json!({"value": "h"}));
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(
        r.json()["error"].as_str().unwrap().starts_with("TRYAGAIN"),
        "{}",
        r.text
    );
    c.restart(1);
    c.wait_size(2);
    wait(
        "quorum writes to succeed again",
        Duration::from_secs(20),
        || c.conn(0).set::<_, _, ()>("q", "3").is_ok(),
    );
    assert_eq!(c.conn(1).get::<_, String>("q").unwrap(), "3");
    let r = common::http::put_json(&url, &serde_json::json!({"value": "4"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(c.conn(1).get::<_, String>("q").unwrap(), "4");
}

/// A pass that meets a steady write load compares what the streams have delivered and stops:
/// it does not run again and again (each run walks every key on both nodes).
#[test]
fn anti_entropy_under_a_write_load_does_not_chase_the_streams() {
    let c = TestCluster::start(2, "");
    c.wait_converged();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, mut w) = (stop.clone(), c.conn(0));
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut pipe = redis::pipe();
                for _ in 0..50 {
                    pipe.set(format!("k{}", n % 500), n).ignore();
                    n += 1;
                }
                let () = pipe.query(&mut w).unwrap();
            }
        })
    };
    // A partition and its healing make both nodes compare while the writes go on.
    let _: () = redis::cmd("DEBUG")
        .arg("PARTITION")
        .arg("node-2")
        .query(&mut c.conn(0))
        .unwrap();
    let _: () = redis::cmd("DEBUG")
        .arg("PARTITION")
        .arg("node-1")
        .query(&mut c.conn(1))
        .unwrap();
    c.wait_size(1);
    std::thread::sleep(Duration::from_millis(300));
    let rounds = |i: usize| figure(&mut c.conn(i), "hypercache_anti_entropy_rounds");
    let before = [rounds(0), rounds(1)];
    for i in 0..2 {
        let _: () = redis::cmd("DEBUG")
            .arg("HEAL")
            .query(&mut c.conn(i))
            .unwrap();
    }
    c.wait_size(2);
    wait("a pass on each node", Duration::from_secs(30), || {
        rounds(0) > before[0] && rounds(1) > before[1]
    });
    // A pass that chased the streams would run again every few hundred milliseconds.
    std::thread::sleep(Duration::from_secs(4));
    let passes = [rounds(0) - before[0], rounds(1) - before[1]];
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(passes.iter().all(|p| (1..=4).contains(p)), "{passes:?}");
    c.wait_converged();
}

#[test]
fn a_node_that_stops_is_seen_leaving_then_dead() {
    let mut c = TestCluster::start(2, "");
    let url = format!("http://{}/api/cluster/members", c.server(0).http);
    let state_of_2 = || {
        let v = common::http::get(&url).json();
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["node_id"] == "node-2")
            .map(|m| (m["status"].to_string(), m["state"].to_string()))
    };
    assert_eq!(
        state_of_2(),
        Some((r#""alive""#.into(), r#""ready""#.into()))
    );
    let st = c.nodes[1].server.as_mut().unwrap().terminate();
    assert!(st.success(), "{st:?}");
    // It said it was leaving before it stopped gossiping: its last state is that, not ready.
    wait(
        "node-1 to see node-2 dead, leaving",
        Duration::from_secs(15),
        || state_of_2() == Some((r#""dead""#.into(), r#""leaving""#.into())),
    );
}
