//! Memory limits against the real binary: eviction on the write path, pressure levels in logs,
//! INFO and metrics, OOM under noeviction with reads still served, Redis's policy names.

mod common;

use common::http;
use common::{Server, info_field};
use redis::Commands;

const LIMITED: &str =
    "cache:\n  max_memory: 4MB\n  eviction_policy: lru\npersistence:\n  enabled: false\n";

fn keyspace_used(c: &mut redis::Connection) -> u64 {
    info_field(c, "memory", "used_memory_keyspace")
        .parse()
        .unwrap()
}

#[test]
fn a_write_storm_stays_under_the_limit_and_reports_pressure() {
    let s = Server::start_with(&["--node-id", "m1"], Some(LIMITED));
    let max: u64 = 4 * 1024 * 1024;
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let client = s.client();
            std::thread::spawn(move || {
                let mut c = client.get_connection().unwrap();
                let mut peak = 0u64;
                for batch in 0..40 {
                    let mut p = redis::pipe();
                    for i in 0..500 {
                        p.set(format!("t{t}:{batch}:{i}"), vec![b'v'; 200]).ignore();
                    }
                    p.query::<()>(&mut c).unwrap();
                    peak = peak.max(keyspace_used(&mut c));
                }
                peak
            })
        })
        .collect();
    let peak = writers
        .into_iter()
        .map(|w| w.join().unwrap())
        .max()
        .unwrap();
    assert!(peak <= max, "keyspace reached {peak} > {max}");
    let mut c = s.conn();
    let evicted: u64 = info_field(&mut c, "stats", "evicted_keys").parse().unwrap();
    assert!(evicted > 10_000, "evicted {evicted}");
    let keys: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert!(
        keys > 1_000 && keys + evicted == 80_000,
        "{keys} + {evicted}"
    );
    assert!(keyspace_used(&mut c) <= max);
    // The transitions were logged once each, as structured events.
    let logs = s.logs.lock().unwrap().clone();
    let events: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("\"action\":\"pressure\""))
        .collect();
    assert!(
        events.iter().any(|l| l.contains("\"to\":\"warning\""))
            && events.iter().any(|l| l.contains("\"to\":\"critical\"")),
        "{events:?}"
    );
    assert!(events.len() < 20, "logged per write: {}", events.len());
    // And exported.
    let m = http::get(&format!("{}/metrics", s.http_url())).text;
    let level = m
        .lines()
        .find(|l| l.starts_with("hypercache_memory_pressure{") && l.contains("store=\"default\""))
        .unwrap_or_else(|| panic!("no pressure gauge in {m}"));
    let v: f64 = level.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(v >= 1.0, "{level}");
    assert!(
        m.lines()
            .any(|l| l.starts_with("hypercache_evictions_total{") && !l.ends_with(" 0")),
        "evictions not exported"
    );
    assert_eq!(info_field(&mut c, "memory", "maxmemory"), max.to_string());
}

#[test]
fn noeviction_answers_oom_while_reads_and_deletes_work() {
    let yaml = "cache:\n  max_memory: 2MB\n  eviction_policy: noeviction\npersistence:\n  enabled: false\n";
    let s = Server::start_with(&[], Some(yaml));
    let mut c = s.conn();
    let mut written = Vec::new();
    let mut oom = None;
    for i in 0..50_000 {
        let key = format!("k{i}");
        match c.set::<_, _, ()>(&key, vec![b'x'; 200]) {
            Ok(()) => written.push(key),
            Err(e) => {
                oom = Some(e);
                break;
            }
        }
    }
    let e = oom.expect("writes never refused");
    assert_eq!(e.code(), Some("OOM"), "{e:?}");
    assert_eq!(
        e.detail(),
        Some("command not allowed when used memory > 'maxmemory'.")
    );
    assert_eq!(info_field(&mut c, "memory", "memory_pressure"), "panic");
    assert_eq!(info_field(&mut c, "stats", "evicted_keys"), "0");
    // Reads keep working, every acknowledged write is there.
    let v: Vec<u8> = c.get(&written[0]).unwrap();
    assert_eq!(v.len(), 200);
    let n: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, written.len() as u64);
    // So does HTTP, which refuses the write with 507.
    let r = http::get(&format!("{}/api/cache/{}", s.http_url(), written[1]));
    assert_eq!(r.status, 200);
    let r = http::put_json(
        &format!("{}/api/cache/new", s.http_url()),
        &serde_json::json!({"value": "x"}),
    );
    assert_eq!(r.status, 507, "{}", r.text);
    assert!(r.text.contains("OOM"), "{}", r.text);
    // Deletes work and make room again.
    let half: Vec<&String> = written.iter().take(written.len() / 2).collect();
    let removed: u64 = c.del(&half).unwrap();
    assert_eq!(removed, half.len() as u64);
    let () = c.set("again", "ok").unwrap();
    assert_eq!(c.get::<_, String>("again").unwrap(), "ok");
}

#[test]
fn redis_policy_names_and_runtime_limits() {
    let s = Server::start_with(&[], Some("persistence:\n  enabled: false\n"));
    let mut c = s.conn();
    for (set, get) in [
        ("allkeys-lfu", "allkeys-lfu"),
        ("volatile-ttl", "volatile-ttl"),
        ("volatile-lru", "volatile-lru"),
        ("allkeys-random", "allkeys-random"),
    ] {
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg(set)
            .query(&mut c)
            .unwrap();
        let got: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query(&mut c)
            .unwrap();
        assert_eq!(got[1], get);
        assert_eq!(info_field(&mut c, "memory", "maxmemory_policy"), get);
    }
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("most-recent")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(
        err.to_string().contains("must be one of the following"),
        "{err}"
    );
    // Fill, then lower the limit at run time: the next writes evict down to it.
    let mut p = redis::pipe();
    for i in 0..20_000 {
        p.set(format!("k{i}"), vec![b'x'; 100]).ignore();
    }
    p.query::<()>(&mut c).unwrap();
    let before = keyspace_used(&mut c);
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(before / 2)
        .query(&mut c)
        .unwrap();
    // The write that finds the limit crossed is not refused while eviction makes progress;
    // what one write's time budget does not evict, the background cycle does.
    let () = c.set("trigger", "1").unwrap();
    common::cluster::wait(
        "eviction down to the new limit",
        std::time::Duration::from_secs(20),
        || keyspace_used(&mut c) <= before / 2,
    );
    // MEMORY STATS and USAGE speak Redis's names.
    let stats: Vec<redis::Value> = redis::cmd("MEMORY").arg("STATS").query(&mut c).unwrap();
    let names: Vec<String> = stats
        .iter()
        .step_by(2)
        .map(|v| redis::from_redis_value(v.clone()).unwrap())
        .collect();
    for want in [
        "peak.allocated",
        "total.allocated",
        "keys.count",
        "dataset.bytes",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    // Lifting the limit stops the (random) eviction that could take the probe.
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(0)
        .query(&mut c)
        .unwrap();
    let () = c.set("probe", "1").unwrap();
    let usage: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("probe")
        .query(&mut c)
        .unwrap();
    assert!(usage > 0);
}

/// The limit holds in the allocator's terms: with 64 MB and allkeys-lru, writing four times
/// that in 1 KiB strings — then in small hashes, sorted sets, sets and lists — leaves
/// `used_memory` (what jemalloc has handed out) within 5 % of the limit, because a key is
/// charged the size classes its blocks really take, not the bytes asked for.
#[test]
fn used_memory_stays_within_five_percent_of_maxmemory() {
    let s = Server::start();
    let mut c = s.conn();
    let limit: u64 = 64 << 20;
    for (k, v) in [("maxmemory", "64mb"), ("maxmemory-policy", "allkeys-lru")] {
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(k)
            .arg(v)
            .query(&mut c)
            .unwrap();
    }
    let used = |c: &mut redis::Connection| -> u64 {
        info_field(c, "memory", "used_memory").parse().unwrap()
    };
    let value = "v".repeat(1024);
    for batch in 0..256 {
        let mut p = redis::pipe();
        for i in 0..1024 {
            p.set(format!("str:{batch}:{i}"), &value).ignore();
        }
        let () = p.query(&mut c).unwrap();
    }
    let after_strings = used(&mut c);
    for batch in 0..200 {
        let mut p = redis::pipe();
        for i in 0..1000 {
            let n = batch * 1000 + i;
            p.hset(
                format!("h:{n}"),
                format!("field-{n}"),
                "a-value-of-some-forty-bytes-in-length-xx",
            )
            .ignore();
            p.zadd(format!("z:{n}"), format!("member-{n}"), n).ignore();
            p.sadd(format!("s:{}", n % 5000), format!("member-{n}"))
                .ignore();
            p.rpush(format!("l:{}", n % 100), format!("element-{n}-element"))
                .ignore();
        }
        let () = p.query(&mut c).unwrap();
    }
    let after_collections = used(&mut c);
    let evicted: u64 = info_field(&mut c, "stats", "evicted_keys").parse().unwrap();
    assert!(
        evicted > 100_000,
        "the limit was reached: {evicted} evicted"
    );
    for (what, u) in [
        ("strings", after_strings),
        ("collections", after_collections),
    ] {
        assert!(
            u <= limit + limit / 20,
            "after {what}: used_memory {u} > 105 % of {limit}"
        );
    }
}
