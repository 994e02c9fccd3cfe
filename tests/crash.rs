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
