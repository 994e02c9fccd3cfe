//! Named stores against the real binary: management over HTTP, data over HTTP and RESP,
//! isolation, per-store limits and policies, persistence across restarts, replication across a
//! 3-node cluster.

mod common;

use std::time::Duration;

use common::Server;
use common::cluster::{TestCluster, wait};
use common::http;
use redis::Commands;
use serde_json::{Value, json};

fn post(s: &Server, body: &Value) -> http::Reply {
    http::request(
        "POST",
        &format!("{}/api/stores", s.http_url()),
        Some(body.to_string().as_bytes()),
        &[("content-type", "application/json")],
    )
}

fn select(c: &mut redis::Connection, name: &str) {
    let () = redis::cmd("SELECT").arg(name).query(c).unwrap();
}

#[test]
fn stores_are_managed_over_http_and_hold_their_own_data() {
    let yaml = "stores:\n  - name: fixed\n    eviction_policy: lfu\n";
    let s = Server::start_with(&["--node-id", "s1"], Some(yaml));
    let base = s.http_url();
    // Create.
    let r = post(
        &s,
        &json!({"name": "sessions", "max_memory": 8 * 1024 * 1024, "eviction_policy": "session",
                "default_ttl_ms": 3_600_000, "cuckoo_filter": false, "persistence": "aof"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let st = &r.json()["store"];
    assert_eq!(st["name"], "sessions");
    assert_eq!(st["max_memory"], 8 * 1024 * 1024);
    assert_eq!(st["eviction_policy"], "session");
    assert_eq!(st["default_ttl_ms"], 3_600_000);
    assert_eq!(st["cuckoo_filter"], false);
    assert_eq!(st["persistence"], "aof");
    // Conflicts and bad fields, named.
    assert_eq!(post(&s, &json!({"name": "sessions"})).status, 409);
    assert_eq!(post(&s, &json!({"name": "default"})).status, 409);
    for (body, field) in [
        (
            json!({"name": "x1", "eviction_policy": "bogus"}),
            "eviction_policy",
        ),
        (json!({"name": "x1", "max_memory": "lots"}), "max_memory"),
        (
            json!({"name": "x1", "eviction_policy": "LRU"}),
            "eviction_policy",
        ),
        (
            json!({"name": "x1", "replication_factor": 0}),
            "replication_factor",
        ),
        (
            json!({"name": "x1", "cuckoo_filter_fpp": 2}),
            "cuckoo_filter_fpp",
        ),
        (json!({"name": "x1", "colour": "red"}), "colour"),
        (json!({"name": "bad name!"}), "name"),
        (json!({"max_memory": 1}), "name"),
        (json!([1, 2]), "body"),
    ] {
        let r = post(&s, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(
            r.json()["error"].as_str().unwrap().starts_with(field),
            "{}",
            r.text
        );
    }
    // List and inspect.
    let list = http::get(&format!("{base}/api/stores")).json();
    assert_eq!(list["total_count"], 3, "the original's name");
    let names: Vec<&str> = list["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "fixed", "sessions"]);
    let one = http::get(&format!("{base}/api/stores/fixed")).json();
    assert_eq!(one["store"]["eviction_policy"], "lfu");
    assert_eq!(one["store"]["from_config"], true);
    assert_eq!(http::get(&format!("{base}/api/stores/nope")).status, 404);
    // Data: the same semantics as /api/cache, isolated from the default store.
    let url = format!("{base}/api/stores/sessions/cache/user%3A1");
    let r = http::put_json(&url, &json!({"value": {"id": 1}}));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = http::get(&url);
    assert_eq!(r.json()["data"]["value"], json!({"id": 1}));
    // The store's default TTL applied.
    let ttl = r.json()["data"]["ttl_remaining_ms"].as_u64().unwrap();
    assert!(ttl > 3_500_000 && ttl <= 3_600_000, "{ttl}");
    assert_eq!(http::get(&format!("{base}/api/cache/user%3A1")).status, 404);
    assert_eq!(
        http::get(&format!("{base}/api/stores/nope/cache/k")).status,
        404
    );
    // RESP sees the same data under SELECT <name>.
    let mut c = s.conn();
    let v: Option<String> = c.get("user:1").unwrap();
    assert_eq!(v, None);
    select(&mut c, "sessions");
    let v: String = c.get("user:1").unwrap();
    assert_eq!(v, r#"{"id":1}"#);
    let () = c.set("other", "x").unwrap();
    let n: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 2);
    let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("COUNT")
        .arg(100)
        .query(&mut c)
        .unwrap();
    assert_eq!(keys.len(), 2);
    let stores: Vec<String> = redis::cmd("STORES").query(&mut c).unwrap();
    assert_eq!(stores, ["default", "fixed", "sessions"]);
    let info: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(info.contains("store_sessions:keys=2,"), "{info}");
    let info: String = redis::cmd("INFO").arg("stores").query(&mut c).unwrap();
    assert!(
        info.contains("store_sessions:keys=2,") && info.contains("policy=session"),
        "{info}"
    );
    // FLUSHDB empties only this store.
    let mut d = s.conn();
    let () = d.set("kept", "1").unwrap();
    let () = redis::cmd("FLUSHDB").query(&mut c).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<u64>(&mut c).unwrap(), 0);
    assert_eq!(d.get::<_, String>("kept").unwrap(), "1");
    // An unknown name is Redis's error for a bad index.
    let e = redis::cmd("SELECT")
        .arg("nosuch")
        .query::<()>(&mut d)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("value is not an integer or out of range"),
        "{e}"
    );
    // Delete: gone, its data with it; the client that selected it is told.
    let () = c.set("again", "1").unwrap();
    let r = http::delete(&format!("{base}/api/stores/sessions"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        http::get(&format!("{base}/api/stores/sessions")).status,
        404
    );
    assert_eq!(http::get(&url).status, 404);
    let e = c.get::<_, Option<String>>("again").unwrap_err();
    assert!(e.to_string().contains("no longer exists"), "{e}");
    assert_eq!(
        http::delete(&format!("{base}/api/stores/fixed")).status,
        409
    );
    assert_eq!(
        http::delete(&format!("{base}/api/stores/default")).status,
        409
    );
    assert_eq!(
        http::delete(&format!("{base}/api/stores/sessions")).status,
        404
    );
    // Re-created, it starts empty.
    assert_eq!(post(&s, &json!({"name": "sessions"})).status, 201);
    select(&mut c, "sessions");
    assert_eq!(redis::cmd("DBSIZE").query::<u64>(&mut c).unwrap(), 0);
}

/// The original HyperCache's request and answer shapes: sizes and TTLs as text, its
/// persistence names, and its `stats` figures of a store.
#[test]
fn stores_speak_the_original_shapes_too() {
    let s = Server::start();
    let base = s.http_url();
    let r = post(
        &s,
        &json!({"name": "sessions", "eviction_policy": "ttl", "max_memory": "1GB",
                "default_ttl": "30m", "cuckoo_filter": true, "persistence": "aof_only"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let b = r.json();
    assert_eq!(b["store"]["max_memory"], 1024 * 1024 * 1024);
    assert_eq!(b["store"]["default_ttl_ms"], 30 * 60 * 1000);
    assert_eq!(b["store"]["persistence"], "aof");
    assert_eq!(b["stats"]["total_items"], 0);
    let r = post(
        &s,
        &json!({"name": "scratch", "max_memory": "512MB", "default_ttl": "0", "persistence": "hybrid"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json()["store"]["default_ttl_ms"].is_null(), "0 is none");
    assert_eq!(r.json()["store"]["persistence"], "aof+snapshot");
    // Text outside the documented pattern is refused, naming the field.
    for (body, field) in [
        (json!({"name": "y1", "max_memory": "512KB"}), "max_memory"),
        (json!({"name": "y1", "max_memory": "0512MB"}), "max_memory"),
        (json!({"name": "y1", "max_memory": "10000GB"}), "max_memory"),
        (json!({"name": "y1", "default_ttl": "30 m"}), "default_ttl"),
        (json!({"name": "y1", "default_ttl": "1w"}), "default_ttl"),
        (json!({"name": "y1", "default_ttl": 30}), "default_ttl"),
    ] {
        let r = post(&s, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(
            r.json()["error"].as_str().unwrap().starts_with(field),
            "{}",
            r.text
        );
    }
    // Its per-store figures: two hits and two misses (a GET each, then the loop's) on this
    // store only.
    let put = http::put_json(
        &format!("{base}/api/stores/sessions/cache/a"),
        &json!({"value": "x"}),
    );
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.json()["store"], "sessions", "the original's field");
    assert_eq!(
        http::get(&format!("{base}/api/stores/sessions/cache/a")).status,
        200
    );
    assert_eq!(
        http::get(&format!("{base}/api/stores/sessions/cache/b")).status,
        404
    );
    for (method, key, status) in [("GET", "a", 200), ("GET", "b", 404), ("DELETE", "b", 200)] {
        let r = http::request(
            method,
            &format!("{base}/api/stores/sessions/cache/{key}"),
            None,
            &[],
        );
        assert_eq!(
            (r.status, &r.json()["store"]),
            (status, &json!("sessions")),
            "{method} {key}"
        );
    }
    // The plain routes name no store.
    assert!(
        http::get(&format!("{base}/api/cache/nope"))
            .json()
            .get("store")
            .is_none()
    );
    let st = http::get(&format!("{base}/api/stores/sessions")).json();
    let stats = &st["stats"];
    assert_eq!(stats["total_items"], 1, "{st}");
    assert!(stats["total_memory"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(
        (stats["hit_count"].as_u64(), stats["miss_count"].as_u64()),
        (Some(2), Some(2)),
        "{st}"
    );
    assert_eq!(stats["hit_rate"], 0.5, "{st}");
    let other = http::get(&format!("{base}/api/stores/scratch")).json();
    assert_eq!(other["stats"]["hit_count"], 0, "{other}");
}

#[test]
fn each_store_keeps_its_own_limit_and_policy() {
    let yaml = "persistence:\n  enabled: false\nstores:\n  - name: tight\n    max_memory: 1MB\n    eviction_policy: noeviction\n  - name: cache\n    max_memory: 1MB\n    eviction_policy: lru\n";
    let s = Server::start_with(&[], Some(yaml));
    let mut d = s.conn();
    for i in 0..100 {
        let () = d.set(format!("d{i}"), "v").unwrap();
    }
    // noeviction: refused once full, the default store unaffected.
    let mut t = s.conn();
    select(&mut t, "tight");
    let mut refused = None;
    for i in 0..20_000 {
        if let Err(e) = t.set::<_, _, ()>(format!("k{i}"), vec![b'x'; 200]) {
            refused = Some(e);
            break;
        }
    }
    let e = refused.expect("never refused");
    assert_eq!(e.code(), Some("OOM"));
    let () = d.set("still", "ok").unwrap();
    // lru: evicts its own keys only.
    let mut c = s.conn();
    select(&mut c, "cache");
    for i in 0..20_000 {
        let () = c.set(format!("k{i}"), vec![b'x'; 200]).unwrap();
    }
    let n: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert!(n < 20_000, "{n}");
    assert_eq!(redis::cmd("DBSIZE").query::<u64>(&mut d).unwrap(), 101);
    let stores = http::get(&format!("{}/api/stores", s.http_url())).json();
    for st in stores["stores"].as_array().unwrap() {
        if st["name"] != "default" {
            assert!(st["memory_bytes"].as_u64().unwrap() <= 1024 * 1024, "{st}");
        }
    }
    let m = http::get(&format!("{}/metrics", s.http_url())).text;
    assert!(
        m.lines()
            .any(|l| l.starts_with("hypercache_memory_pressure{")
                && l.contains("store=\"tight\"")
                && l.ends_with(" 3.0")),
        "{m}"
    );
}

#[test]
fn stores_survive_a_restart_with_their_persistence_policy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let yaml = "persistence:\n  sync_policy: always\n";
    let s = Server::start_in(&data, Some(yaml));
    assert_eq!(
        post(&s, &json!({"name": "kept", "eviction_policy": "lfu"})).status,
        201
    );
    assert_eq!(
        post(&s, &json!({"name": "volatile", "persistence": "disabled"})).status,
        201
    );
    assert_eq!(post(&s, &json!({"name": "gone"})).status, 201);
    let mut c = s.conn();
    for store in ["kept", "volatile", "gone"] {
        select(&mut c, store);
        let () = c.set("k", store).unwrap();
    }
    assert_eq!(
        http::delete(&format!("{}/api/stores/gone", s.http_url())).status,
        200
    );
    // Through a snapshot and the AOF after it.
    let () = redis::cmd("SAVE").query(&mut c).unwrap();
    select(&mut c, "kept");
    let () = c.set("after", "snapshot").unwrap();
    drop(c);
    drop(s);
    let s = Server::start_in(&data, Some(yaml));
    let stores = http::get(&format!("{}/api/stores", s.http_url())).json();
    let names: Vec<&str> = stores["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "kept", "volatile"]);
    let kept = http::get(&format!("{}/api/stores/kept", s.http_url())).json();
    assert_eq!(kept["store"]["eviction_policy"], "lfu");
    let mut c = s.conn();
    select(&mut c, "kept");
    assert_eq!(c.get::<_, String>("k").unwrap(), "kept");
    assert_eq!(c.get::<_, String>("after").unwrap(), "snapshot");
    // `persistence: disabled`: the store is defined again, its data was never written.
    select(&mut c, "volatile");
    assert_eq!(redis::cmd("DBSIZE").query::<u64>(&mut c).unwrap(), 0);
}

#[test]
fn stores_replicate_across_the_cluster() {
    let cl = TestCluster::start(3, "");
    let urls: Vec<String> = (0..3).map(|i| cl.server(i).http_url()).collect();
    let r = post(
        cl.server(0),
        &json!({"name": "shared", "eviction_policy": "lru"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    for u in &urls {
        wait("the store on every node", Duration::from_secs(10), || {
            http::get(&format!("{u}/api/stores/shared")).status == 200
        });
    }
    let r = http::put_json(
        &format!("{}/api/stores/shared/cache/greeting", urls[0]),
        &json!({"value": "hello"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // Read on another node (read-repair bridges the replication window).
    let r = http::get(&format!("{}/api/stores/shared/cache/greeting", urls[2]));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["data"]["value"], "hello");
    let mut c = cl.conn(1);
    select(&mut c, "shared");
    wait("the key on node 2", Duration::from_secs(10), || {
        c.get::<_, Option<String>>("greeting").unwrap().as_deref() == Some("hello")
    });
    // Not in the default store anywhere.
    assert_eq!(
        http::get(&format!("{}/api/cache/greeting", urls[1])).status,
        404
    );
    // Deleted on one node, gone everywhere.
    assert_eq!(
        http::delete(&format!("{}/api/stores/shared", urls[1])).status,
        200
    );
    for u in &urls {
        wait("the store gone everywhere", Duration::from_secs(10), || {
            http::get(&format!("{u}/api/stores/shared")).status == 404
        });
    }
}

#[test]
fn a_store_keeps_its_own_replication_factor() {
    let cl = TestCluster::start(3, "");
    let urls: Vec<String> = (0..3).map(|i| cl.server(i).http_url()).collect();
    let r = post(
        cl.server(0),
        &json!({"name": "single", "replication_factor": 1}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    for u in &urls {
        wait("the store on every node", Duration::from_secs(10), || {
            http::get(&format!("{u}/api/stores/single")).status == 200
        });
    }
    // Written through every node, over HTTP and RESP: each key lands on one node only.
    for i in 0..30 {
        let via = &urls[i % 3];
        let r = http::put_json(
            &format!("{via}/api/stores/single/cache/h{i}"),
            &json!({"value": i}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let mut conns: Vec<redis::Connection> = (0..3).map(|i| cl.conn(i)).collect();
    for c in conns.iter_mut() {
        select(c, "single");
    }
    for i in 0..30 {
        let () = conns[i % 3].set(format!("r{i}"), i).unwrap();
    }
    // Every node answers every key (relayed to its owner)...
    for i in 0..30 {
        for (n, c) in conns.iter_mut().enumerate() {
            let v: i64 = c.get(format!("r{i}")).unwrap();
            assert_eq!(v, i as i64, "r{i} via node {n}");
            let r = http::get(&format!("{}/api/stores/single/cache/h{i}", urls[n]));
            assert_eq!(r.json()["data"]["value"], json!(i), "h{i} via node {n}");
        }
    }
    // ...but only one holds it, while the default store keeps full replication.
    let held: u64 = urls
        .iter()
        .map(|u| {
            http::get(&format!("{u}/api/stores/single")).json()["store"]["keys"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(held, 60);
    let mut d = cl.conn(0);
    let () = d.set("everywhere", "1").unwrap();
    for u in &urls {
        wait(
            "full replication in default",
            Duration::from_secs(10),
            || http::get(&format!("{u}/api/stores/default")).json()["store"]["keys"] == 1,
        );
    }
}
