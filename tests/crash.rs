//! Crash safety with the real binary: writers on many connections record every acknowledged
//! write; the node is killed with SIGKILL at random moments (also during snapshots and AOF
//! rewrites) and restarted, over and over. With `always` no acknowledged write may be lost; with
//! `everysec` nothing older than about two seconds; and never a value that was not written.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;

const WRITERS: usize = 8;
const KEYS_PER_WRITER: usize = 25;

/// Per key: the last value sequence acknowledged (with when), and the last one sent.
#[derive(Default, Clone, Copy)]
struct KeyLog {
    acked: Option<(u64, Instant)>,
    sent: u64,
}

type Log = Arc<Mutex<HashMap<String, KeyLog>>>;

fn writer(addr: std::net::SocketAddr, id: usize, start_seq: u64, stop: Arc<AtomicBool>, log: Log) {
    let Ok(client) = redis::Client::open(format!("redis://{addr}/")) else {
        return;
    };
    let Ok(mut c) = client.get_connection() else {
        return;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut seq = start_seq;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let key = format!("w{id}:k{}", seq as usize % KEYS_PER_WRITER);
        let value = format!("w{id}:{seq}");
        log.lock().unwrap().entry(key.clone()).or_default().sent = seq;
        let r: redis::RedisResult<()> = redis::cmd("SET").arg(&key).arg(&value).query(&mut c);
        match r {
            Ok(()) => {
                log.lock().unwrap().entry(key).or_default().acked = Some((seq, Instant::now()));
            }
            Err(_) => return, // killed
        }
    }
}

/// Checks every key against the log; returns the largest loss window seen.
fn verify(s: &Server, log: &Log, killed_at: Instant, max_loss: Duration) {
    let mut c = s.conn();
    let log = log.lock().unwrap();
    for (key, k) in log.iter() {
        let v: Option<String> = redis::cmd("GET").arg(key).query(&mut c).unwrap();
        let (writer, _) = key.split_once(':').unwrap();
        let got = match &v {
            None => 0,
            Some(v) => {
                let (w, seq) = v
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{key}: foreign value {v}"));
                assert_eq!(w, writer, "{key}: a value written to another key: {v}");
                let seq: u64 = seq
                    .parse()
                    .unwrap_or_else(|_| panic!("{key}: garbled value {v}"));
                assert_eq!(
                    seq as usize % KEYS_PER_WRITER,
                    key.rsplit_once('k').unwrap().1.parse::<usize>().unwrap(),
                    "{key}: a value of another key: {v}"
                );
                seq
            }
        };
        assert!(
            got <= k.sent,
            "{key}: {got} was never written (last sent {})",
            k.sent
        );
        if let Some((acked, at)) = k.acked
            && got < acked
        {
            let age = killed_at.saturating_duration_since(at);
            assert!(
                age <= max_loss && !max_loss.is_zero(),
                "{key}: acknowledged write {acked} lost (recovered {got}), acknowledged {age:?} before the crash"
            );
        }
    }
}

fn crash_cycles(policy: &str, cycles: usize, max_loss: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Small limits so snapshots and rewrites happen during the runs.
    let config = format!(
        "persistence:\n  sync_policy: {policy}\n  snapshot_interval: 1s\n  max_log_size: 256KB\n  retain: 2\n"
    );
    let log: Log = Arc::default();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut next_seq = 0u64;
    let mut snapshot_kills = 0;
    let mut last_kill = Instant::now();
    for cycle in 0..cycles {
        let mut s = Server::start_in(&data, Some(&config));
        if cycle == 0 {
            // Some bulk so a snapshot takes long enough to be killed in the middle of.
            let mut c = s.conn();
            let mut pipe = redis::pipe();
            for i in 0..20_000 {
                pipe.set(format!("bulk:{i}"), "b".repeat(200)).ignore();
            }
            let _: () = pipe.query(&mut c).unwrap();
        } else {
            verify(&s, &log, last_kill, max_loss);
            let mut c = s.conn();
            let bulk: i64 = redis::cmd("EXISTS")
                .arg("bulk:19999")
                .query(&mut c)
                .unwrap();
            assert_eq!(
                bulk,
                1,
                "cycle {cycle}: bulk data lost; logs:\n{}",
                s.log_text()
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (stop, log, addr) = (stop.clone(), log.clone(), s.addr);
                // Sequences keep growing across cycles so values are never reused.
                let start = next_seq;
                std::thread::spawn(move || writer(addr, w, start, stop, log))
            })
            .collect();
        next_seq += 10_000_000;
        std::thread::sleep(Duration::from_millis(rng.u64(100..500)));
        // Every other cycle: kill while a snapshot / AOF rewrite is running.
        if cycle % 2 == 1 {
            let mut c = s.conn();
            let cmd = if cycle % 4 == 1 {
                "BGREWRITEAOF"
            } else {
                "BGSAVE"
            };
            let r: redis::RedisResult<String> = redis::cmd(cmd).query(&mut c);
            if r.is_ok() {
                snapshot_kills += 1;
            }
            std::thread::sleep(Duration::from_millis(rng.u64(0..30)));
        }
        last_kill = Instant::now();
        s.kill();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
        let acked = log
            .lock()
            .unwrap()
            .values()
            .filter(|k| k.acked.is_some())
            .count();
        assert!(acked > 0, "cycle {cycle}: no write was acknowledged");
    }
    let s = Server::start_in(&data, Some(&config));
    verify(&s, &log, last_kill, max_loss);
    assert!(
        snapshot_kills >= cycles / 4,
        "kills during snapshots: {snapshot_kills}"
    );
}

#[test]
fn always_loses_no_acknowledged_write_across_twenty_crashes() {
    crash_cycles("always", 20, Duration::ZERO);
}

#[test]
fn everysec_loses_at_most_about_two_seconds() {
    crash_cycles("everysec", 10, Duration::from_millis(2500));
}

/// One writer per type appends element `n` after element `n - 1` (an RPUSH, HSET, SADD, ZADD,
/// SETBIT, PFADD); what survives a SIGKILL under `always` must be exactly the first `n`
/// elements, `n` at least every acknowledged write's and at most every sent one's.
#[test]
fn always_keeps_every_acknowledged_write_to_every_type() {
    const KINDS: [&str; 6] = ["list", "hash", "set", "zset", "bits", "hll"];
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = "persistence:\n  sync_policy: always\n  snapshot_interval: 1s\n  max_log_size: 256KB\n  retain: 2\n";
    // Per kind: elements known present (the start of the next cycle), acknowledged, sent.
    let mut have = [0u64; 6];
    let mut rng = fastrand::Rng::with_seed(11);
    for cycle in 0..6 {
        let mut s = Server::start_in(&data, Some(config));
        let mut c = s.conn();
        for (i, kind) in KINDS.iter().enumerate() {
            let n = recovered(&mut c, kind);
            assert_eq!(
                n, have[i],
                "cycle {cycle}: {kind} holds {n}, {} were acknowledged",
                have[i]
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = KINDS
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                let (stop, addr, start) = (stop.clone(), s.addr, have[i]);
                std::thread::spawn(move || append_until_killed(addr, kind, start, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.u64(200..600)));
        if cycle % 2 == 1 {
            let _: redis::RedisResult<String> = redis::cmd("BGREWRITEAOF").query(&mut c);
            std::thread::sleep(Duration::from_millis(rng.u64(0..30)));
        }
        s.kill();
        stop.store(true, Ordering::Relaxed);
        let counts: Vec<(u64, u64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let s = Server::start_in(&data, Some(config));
        let mut c = s.conn();
        for (i, kind) in KINDS.iter().enumerate() {
            let (acked, sent) = counts[i];
            assert!(
                acked > have[i],
                "cycle {cycle}: no {kind} write acknowledged"
            );
            let n = recovered(&mut c, kind);
            assert!(
                (acked..=sent).contains(&n),
                "cycle {cycle}: {kind} recovered {n} elements; {acked} acknowledged, {sent} sent"
            );
            have[i] = n;
        }
        drop(s);
    }
}

/// Appends elements from `n` on until the connection dies: (acknowledged, sent) counts.
fn append_until_killed(
    addr: std::net::SocketAddr,
    kind: &str,
    mut n: u64,
    stop: Arc<AtomicBool>,
) -> (u64, u64) {
    let mut c = redis::Client::open(format!("redis://{addr}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut acked = n;
    while !stop.load(Ordering::Relaxed) {
        let e = format!("e{n:08}");
        let cmd = match kind {
            "list" => redis::cmd("RPUSH").arg("c:list").arg(&e).clone(),
            "hash" => redis::cmd("HSET").arg("c:hash").arg(&e).arg(n).clone(),
            "set" => redis::cmd("SADD").arg("c:set").arg(&e).clone(),
            "zset" => redis::cmd("ZADD").arg("c:zset").arg(n).arg(&e).clone(),
            "bits" => redis::cmd("SETBIT").arg("c:bits").arg(n).arg(1).clone(),
            _ => redis::cmd("PFADD")
                .arg(format!("c:hll:{n}"))
                .arg(&e)
                .clone(),
        };
        let r: redis::RedisResult<redis::Value> = cmd.query(&mut c);
        if r.is_err() {
            return (acked, n + 1);
        }
        n += 1;
        acked = n;
    }
    (acked, n)
}

/// How many elements of `kind` are there, checking they are exactly the first ones.
fn recovered(c: &mut redis::Connection, kind: &str) -> u64 {
    let first = |n: u64| -> Vec<String> { (0..n).map(|i| format!("e{i:08}")).collect() };
    match kind {
        "list" => {
            let items: Vec<String> = redis::cmd("LRANGE")
                .arg("c:list")
                .arg(0)
                .arg(-1)
                .query(c)
                .unwrap();
            assert_eq!(
                items,
                first(items.len() as u64),
                "the list is not the pushes in order"
            );
            items.len() as u64
        }
        "hash" => {
            let mut fields: Vec<String> = redis::cmd("HKEYS").arg("c:hash").query(c).unwrap();
            fields.sort();
            assert_eq!(fields, first(fields.len() as u64));
            fields.len() as u64
        }
        "set" => {
            let mut members: Vec<String> = redis::cmd("SMEMBERS").arg("c:set").query(c).unwrap();
            members.sort();
            assert_eq!(members, first(members.len() as u64));
            members.len() as u64
        }
        "zset" => {
            let items: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg("c:zset")
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query(c)
                .unwrap();
            let want: Vec<(String, f64)> = first(items.len() as u64)
                .into_iter()
                .enumerate()
                .map(|(i, e)| (e, i as f64))
                .collect();
            assert_eq!(items, want);
            items.len() as u64
        }
        "bits" => {
            let n: u64 = redis::cmd("BITCOUNT").arg("c:bits").query(c).unwrap();
            if n > 0 {
                let last: i64 = redis::cmd("BITPOS").arg("c:bits").arg(0).query(c).unwrap();
                assert_eq!(last as u64, n, "the bits set are not the first ones");
            }
            n
        }
        _ => {
            let keys: Vec<String> = redis::cmd("KEYS").arg("c:hll:*").query(c).unwrap();
            let n = keys.len() as u64;
            for i in 0..n {
                let one: i64 = redis::cmd("PFCOUNT")
                    .arg(format!("c:hll:{i}"))
                    .query(c)
                    .unwrap();
                assert_eq!(one, 1, "c:hll:{i}");
            }
            n
        }
    }
}
