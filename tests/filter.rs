//! Cuckoo filters against the real binary: the store's key filter over HTTP (stats, check,
//! metrics, off switch, after a restart) and RedisBloom's CF.* commands with their replies,
//! errors, persistence and replication.

mod common;

use std::time::Duration;

use common::Server;
use common::cluster::{TestCluster, wait};
use common::http::{self, encode};
use redis::Commands;
use serde_json::Value;

/// The default store's filter is off unless configured.
const FILTER_ON: &str = "stores:\n  - name: default\n    cuckoo_filter: true\n";

fn filter_stats(s: &Server) -> Value {
    let r = http::get(&format!("{}/api/filter/stats", s.http_url()));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

fn check(s: &Server, key: &[u8]) -> Value {
    let r = http::get(&format!(
        "{}/api/filter/check/{}",
        s.http_url(),
        encode(key)
    ));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

#[test]
fn the_key_filter_answers_misses_and_reports_itself() {
    let s = Server::start_with(&["--node-id", "f1"], Some(FILTER_ON));
    let mut c = s.conn();
    let mut p = redis::pipe();
    for i in 0..5_000 {
        p.set(format!("k{i}"), i).ignore();
    }
    p.query::<()>(&mut c).unwrap();
    let st = filter_stats(&s);
    assert_eq!(st["store"], "default");
    assert_eq!(st["size"], 5_000);
    assert_eq!(st["node"], "f1");
    assert!(st["capacity"].as_u64().unwrap() >= 5_000);
    assert_eq!(st["fingerprint_bits"], 11);
    assert_eq!(st["false_positive_rate"]["configured"], 0.01);
    assert!(st["memory_usage"].as_u64().unwrap() > 0);
    let lf = st["load_factor"].as_f64().unwrap();
    assert!(lf > 0.0 && lf <= 1.0, "{lf}");
    // Misses over RESP and HTTP are answered by the filter.
    for i in 0..2_000 {
        let v: Option<String> = c.get(format!("absent{i}")).unwrap();
        assert_eq!(v, None);
    }
    let r = http::get(&format!("{}/api/cache/nope", s.http_url()));
    assert_eq!(r.status, 404);
    let st = filter_stats(&s);
    let negatives = st["negatives"].as_u64().unwrap();
    let fps = st["false_positives"].as_u64().unwrap();
    assert_eq!(negatives + fps, 2_001);
    assert!(st["false_positive_rate"]["observed"].as_f64().unwrap() < 0.02);
    assert!(st["operations"]["lookups"].as_u64().unwrap() >= 2_001);
    // The same figures under the original HyperCache's names (its Postman collection reads
    // `stats.size`, `stats.successful_adds`, ...).
    let o = &st["stats"];
    assert_eq!(o["size"], st["size"]);
    assert_eq!(o["capacity"], st["capacity"]);
    assert_eq!(o["load_factor"], st["load_factor"]);
    assert_eq!(o["memory_usage"], st["memory_usage"]);
    assert_eq!(o["false_positive_rate"], 0.01);
    assert_eq!(o["lookup_operations"], st["operations"]["lookups"]);
    assert_eq!(o["add_operations"], st["operations"]["adds"]);
    assert_eq!(o["successful_adds"].as_u64().unwrap(), 5_000);
    assert_eq!(o["failed_adds"], 0);
    // Hits are still found, every one of them.
    let got: Vec<i64> = redis::cmd("MGET")
        .arg((0..5_000).map(|i| format!("k{i}")).collect::<Vec<_>>())
        .query(&mut c)
        .unwrap();
    assert_eq!(got, (0..5_000).collect::<Vec<i64>>());
    // check: present, absent, deleted.
    let r = check(&s, b"k1");
    assert_eq!(
        (r["filter_says"].clone(), r["actually_exists"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(r["false_positive"], false);
    let r = check(&s, b"never-written");
    assert_eq!(r["actually_exists"], false);
    assert_eq!(r["false_positive"], r["filter_says"]);
    let _: i64 = c.del("k1").unwrap();
    assert_eq!(check(&s, b"k1")["actually_exists"], false);
    assert_eq!(filter_stats(&s)["size"], 4_999);
    // Expiry removes the fingerprint too.
    let () = c.pset_ex("short", 1, 20).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let v: Option<i64> = c.get("short").unwrap();
    assert_eq!(v, None);
    assert_eq!(filter_stats(&s)["size"], 4_999);
    // Exported.
    let m = http::get(&format!("{}/metrics", s.http_url())).text;
    assert!(
        m.lines()
            .any(|l| l.starts_with("hypercache_filter_items{") && l.ends_with(" 4999.0")),
        "{m}"
    );
    // Errors.
    let r = http::get(&format!("{}/api/filter/stats?store=nosuch", s.http_url()));
    assert_eq!(r.status, 404);
    assert!(r.text.contains("Store 'nosuch' not found"), "{}", r.text);
    let r = http::get(&format!("{}/api/filter/check/", s.http_url()));
    assert_eq!(r.status, 400);
}

#[test]
fn the_filter_can_be_off_and_is_rebuilt_after_a_restart() {
    // On by default for the default store.
    let s = Server::start_with(&[], None);
    let r = http::get(&format!("{}/api/filter/stats", s.http_url()));
    assert_eq!(r.status, 200, "{}", r.text);
    drop(s);
    // Off when the default store's entry says so.
    let s = Server::start_with(
        &[],
        Some("stores:\n  - name: default\n    cuckoo_filter: false\n"),
    );
    let r = http::get(&format!("{}/api/filter/stats", s.http_url()));
    assert_eq!(r.status, 404);
    assert!(r.text.contains("off"), "{}", r.text);
    drop(s);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let yaml = "cache:\n  cuckoo_filter_fpp: 0.001\npersistence:\n  sync_policy: always\nstores:\n  - name: default\n    cuckoo_filter: true\n";
    let s = Server::start_in(&data, Some(yaml));
    let mut c = s.conn();
    for i in 0..300 {
        let () = c.set(format!("k{i}"), "v").unwrap();
    }
    drop(c);
    drop(s);
    let s = Server::start_in(&data, Some(yaml));
    let st = filter_stats(&s);
    assert_eq!(st["size"], 300);
    assert_eq!(st["fingerprint_bits"], 14);
    for i in 0..300 {
        assert_eq!(check(&s, format!("k{i}").as_bytes())["filter_says"], true);
    }
}

fn cf(c: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
}

fn err(c: &mut redis::Connection, args: &[&str]) -> String {
    match cf(c, args) {
        Err(e) => {
            // The crate splits "CODE detail"; RedisBloom's texts are free-form.
            let code = e.code().unwrap_or_default().to_string();
            match e.detail() {
                Some(d) => format!("{code} {d}"),
                None => code,
            }
        }
        Ok(v) => panic!("{args:?} answered {v:?}"),
    }
}

#[test]
fn cf_commands_reply_as_redisbloom() {
    let s = Server::start();
    let mut c = s.conn();
    let int = |c: &mut redis::Connection, a: &[&str]| -> i64 {
        redis::from_redis_value(cf(c, a).unwrap()).unwrap()
    };
    assert_eq!(
        cf(&mut c, &["CF.RESERVE", "f", "100"]).unwrap(),
        redis::Value::Okay
    );
    assert_eq!(int(&mut c, &["CF.ADD", "f", "a"]), 1);
    assert_eq!(int(&mut c, &["CF.ADD", "f", "a"]), 1);
    assert_eq!(int(&mut c, &["CF.ADDNX", "f", "a"]), 0);
    assert_eq!(int(&mut c, &["CF.ADDNX", "f", "b"]), 1);
    assert_eq!(int(&mut c, &["CF.EXISTS", "f", "a"]), 1);
    assert_eq!(int(&mut c, &["CF.COUNT", "f", "a"]), 2);
    assert_eq!(int(&mut c, &["CF.DEL", "f", "a"]), 1);
    assert_eq!(int(&mut c, &["CF.COUNT", "f", "a"]), 1);
    let m: Vec<i64> =
        redis::from_redis_value(cf(&mut c, &["CF.MEXISTS", "f", "a", "b", "nope-xyz"]).unwrap())
            .unwrap();
    assert_eq!(&m[..2], &[1, 1]);
    let info: Vec<redis::Value> =
        redis::from_redis_value(cf(&mut c, &["CF.INFO", "f"]).unwrap()).unwrap();
    let names: Vec<String> = info
        .iter()
        .step_by(2)
        .map(|v| redis::from_redis_value(v.clone()).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Size",
            "Number of buckets",
            "Number of filters",
            "Number of items inserted",
            "Number of items deleted",
            "Bucket size",
            "Expansion rate",
            "Max iterations"
        ]
    );
    let vals: Vec<i64> = info
        .iter()
        .skip(1)
        .step_by(2)
        .map(|v| redis::from_redis_value(v.clone()).unwrap())
        .collect();
    // 100 / bucket size 2 = 50 buckets, rounded up to 64; 2 items now, 1 deleted.
    assert_eq!(&vals[1..], &[64, 1, 2, 1, 2, 1, 20]);
    let r: Vec<i64> = redis::from_redis_value(
        cf(
            &mut c,
            &["CF.INSERT", "g", "CAPACITY", "10", "ITEMS", "x", "y"],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(r, [1, 1]);
    let r: Vec<i64> =
        redis::from_redis_value(cf(&mut c, &["CF.INSERTNX", "g", "ITEMS", "x", "z"]).unwrap())
            .unwrap();
    assert_eq!(r, [0, 1]);
    let t: String = redis::cmd("TYPE").arg("f").query(&mut c).unwrap();
    assert_eq!(t, "MBbloomCF");
    // A full filter that may not grow.
    cf(
        &mut c,
        &[
            "CF.RESERVE",
            "tiny",
            "4",
            "BUCKETSIZE",
            "1",
            "EXPANSION",
            "0",
        ],
    )
    .unwrap();
    let mut full = None;
    for i in 0..100 {
        if let Err(e) = cf(&mut c, &["CF.ADD", "tiny", &format!("i{i}")]) {
            full = Some(e);
            break;
        }
    }
    let e = full.expect("never full");
    assert_eq!(
        format!(
            "{} {}",
            e.code().unwrap_or_default(),
            e.detail().unwrap_or_default()
        ),
        "Filter is full"
    );
    // Errors, RedisBloom's texts.
    let () = c.set("s", "v").unwrap();
    assert_eq!(err(&mut c, &["CF.RESERVE", "f", "100"]), "ERR item exists");
    assert_eq!(
        err(&mut c, &["CF.INSERT", "h", "NOCREATE", "ITEMS", "x"]),
        "ERR not found"
    );
    assert_eq!(err(&mut c, &["CF.INFO", "nokey"]), "ERR not found");
    assert_eq!(err(&mut c, &["CF.DEL", "nokey", "x"]), "Not found");
    assert_eq!(err(&mut c, &["CF.DEL", "s", "x"]), "Not found");
    assert!(err(&mut c, &["CF.ADD", "s", "x"]).starts_with("WRONGTYPE"));
    assert_eq!(int(&mut c, &["CF.EXISTS", "s", "x"]), 0);
    assert_eq!(int(&mut c, &["CF.COUNT", "nokey", "x"]), 0);
    assert_eq!(err(&mut c, &["CF.RESERVE", "k", "abc"]), "Bad capacity");
    assert_eq!(
        err(&mut c, &["CF.RESERVE", "k", "1"]),
        "Capacity must be in the range [2 * BUCKETSIZE, 1073741824]"
    );
    assert_eq!(
        err(&mut c, &["CF.RESERVE", "k", "10", "BUCKETSIZE", "0"]),
        "BUCKETSIZE: value must be in the range [1, 255]"
    );
    assert_eq!(
        err(&mut c, &["CF.INSERT", "g", "FOO", "x"]),
        "Unknown argument received"
    );
    assert!(err(&mut c, &["CF.INSERT", "g", "ITEMS"]).contains("wrong number of arguments"));
    assert!(
        err(&mut c, &["CF.RESERVE", "k", "10", "EXPANSION"]).contains("wrong number of arguments")
    );
    // The value's type shows over HTTP as a clear 409.
    let r = http::get(&format!("{}/api/cache/f", s.http_url()));
    assert_eq!(r.status, 409, "{}", r.text);

    // RESP3: booleans where RedisBloom sends them.
    let mut c3 = s.conn3();
    let v = cf(&mut c3, &["CF.EXISTS", "f", "b"]).unwrap();
    assert_eq!(v, redis::Value::Boolean(true));
    let v = cf(&mut c3, &["CF.ADDNX", "f", "b"]).unwrap();
    assert_eq!(v, redis::Value::Boolean(false));
    let v = cf(&mut c3, &["CF.COUNT", "f", "b"]).unwrap();
    assert_eq!(v, redis::Value::Int(1));
}

#[test]
fn cf_filters_survive_a_restart_and_replicate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Killed, not shut down: every acknowledged write must be on disk.
    let always = "persistence:\n  sync_policy: always\n";
    let s = Server::start_in(&data, Some(always));
    let mut c = s.conn();
    for i in 0..2_000 {
        cf(&mut c, &["CF.ADD", "users", &format!("u{i}")]).unwrap();
    }
    cf(&mut c, &["CF.DEL", "users", "u0"]).unwrap();
    drop(c);
    drop(s);
    let s = Server::start_in(&data, Some(always));
    let mut c = s.conn();
    for i in 1..2_000 {
        let v: i64 =
            redis::from_redis_value(cf(&mut c, &["CF.EXISTS", "users", &format!("u{i}")]).unwrap())
                .unwrap();
        assert_eq!(v, 1, "u{i} lost");
    }
    let info: Vec<redis::Value> =
        redis::from_redis_value(cf(&mut c, &["CF.INFO", "users"]).unwrap()).unwrap();
    let inserted: i64 = redis::from_redis_value(info[7].clone()).unwrap();
    let deleted: i64 = redis::from_redis_value(info[9].clone()).unwrap();
    assert_eq!((inserted, deleted), (1_999, 1));
    drop(c);
    drop(s);

    let cl = TestCluster::start(2, "");
    let mut a = cl.conn(0);
    let mut b = cl.conn(1);
    for i in 0..50 {
        cf(&mut a, &["CF.ADD", "shared", &format!("x{i}")]).unwrap();
    }
    wait("the filter replicated", Duration::from_secs(10), || {
        (0..50).all(|i| {
            cf(&mut b, &["CF.EXISTS", "shared", &format!("x{i}")])
                .ok()
                .and_then(|v| redis::from_redis_value::<i64>(v).ok())
                == Some(1)
        })
    });
    // A change on the other node comes back.
    cf(&mut b, &["CF.DEL", "shared", "x7"]).unwrap();
    wait("the delete replicated", Duration::from_secs(10), || {
        cf(&mut a, &["CF.COUNT", "shared", "x7"])
            .ok()
            .and_then(|v| redis::from_redis_value::<i64>(v).ok())
            == Some(0)
    });
}
