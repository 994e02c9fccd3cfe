//! The HTTP API against the real binary, with a real HTTP client: every route and error path,
//! correlation ids, JSON types, and HTTP ⇄ RESP interoperability on the same data.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use common::http::{self, encode};
use redis::Commands;
use serde_json::{Value, json};

fn key_url(s: &Server, key: &[u8]) -> String {
    format!("{}/api/cache/{}", s.http_url(), encode(key))
}

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b.iter()
            .enumerate()
            .all(|(i, c)| [8, 13, 18, 23].contains(&i) || c.is_ascii_hexdigit())
        && b[14] == b'4'
        && b"89abAB".contains(&b[19])
}

/// Every reply carries the correlation id in its header and its body, the same.
fn correlated(r: &http::Reply) -> String {
    let header = r.correlation.clone().expect("X-Correlation-ID header");
    assert_eq!(r.json()["correlation_id"], json!(header), "{}", r.text);
    header
}

#[test]
fn health_names_the_node_and_makes_a_uuid_correlation_id() {
    let s = Server::start_with(&["--node-id", "h1"], None);
    let r = http::get(&format!("{}/health", s.http_url()));
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("application/json"));
    let b = r.json();
    assert_eq!(b["healthy"], json!(true));
    assert_eq!(b["node"], json!("h1"));
    assert_eq!(b["cluster_size"], json!(1));
    let id = correlated(&r);
    assert!(is_uuid_v4(&id), "{id}");
    // Each request gets its own.
    let again = correlated(&http::get(&format!("{}/health", s.http_url())));
    assert_ne!(id, again);
}

#[test]
fn a_given_correlation_id_is_echoed_in_header_body_and_log() {
    let s = Server::start();
    let r = http::request(
        "PUT",
        &key_url(&s, b"k"),
        Some(br#"{"value":"v"}"#),
        &[("X-Correlation-ID", "trace-me-42")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(correlated(&r), "trace-me-42");
    // The request's log line is JSON and carries the id and a duration.
    let line = wait_for_log(&s, "trace-me-42");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["correlation_id"], json!("trace-me-42"));
    assert_eq!(v["component"], json!("http"));
    assert_eq!(v["level"], json!("info"));
    assert!(v["duration_ms"].as_f64().is_some(), "{line}");
    assert!(
        v["node_id"].is_string() && v["@timestamp"].is_string(),
        "{line}"
    );
    // Errors carry it too.
    let r = http::request(
        "GET",
        &key_url(&s, b"absent"),
        None,
        &[("X-Correlation-ID", "e-1")],
    );
    assert_eq!(r.status, 404);
    assert_eq!(correlated(&r), "e-1");
}

fn wait_for_log(s: &Server, needle: &str) -> String {
    wait_for_log_with(s, &[needle])
}

/// The first log line holding all of `needles`, waiting up to 10 s for it.
fn wait_for_log_with(s: &Server, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = s.log_text();
        if let Some(l) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needles:?}: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_log_line_is_json_with_the_common_fields() {
    let s = Server::start_with(&["--node-id", "logger"], None);
    http::get(&format!("{}/health", s.http_url()));
    wait_for_log(&s, "HTTP request");
    let text = s.log_text();
    let mut n = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for f in ["@timestamp", "level", "message", "node_id"] {
            assert!(v.get(f).is_some(), "{f} missing: {line}");
        }
        assert_eq!(v["node_id"], json!("logger"), "{line}");
        let ts = v["@timestamp"].as_str().unwrap();
        assert!(
            ts.len() == 27 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "{ts}"
        );
        n += 1;
    }
    assert!(n >= 3, "{text}");
}

#[test]
fn json_values_round_trip_with_their_types() {
    let s = Server::start();
    let values = [
        json!("plain text"),
        json!(""),
        json!(42),
        json!(-3.5),
        json!(true),
        json!(false),
        json!([1, "two", [3], {"four": 4}]),
        json!({"name": "Ada", "langs": ["en", "fr"], "age": 36, "nested": {"ok": null}}),
        json!("ünïcödé ✓"),
    ];
    for (i, v) in values.iter().enumerate() {
        let url = key_url(&s, format!("typed:{i}").as_bytes());
        let r = http::put_json(&url, &json!({"value": v}));
        assert_eq!(r.status, 200, "{}", r.text);
        let b = r.json();
        assert_eq!(b["success"], json!(true));
        assert_eq!(b["message"], json!("Key set successfully"));
        assert_eq!(b["data"]["key"], json!(format!("typed:{i}")));
        assert_eq!(b["data"]["value"], *v);
        assert_eq!(b["replicated"], json!(false));
        correlated(&r);
        let r = http::get(&url);
        assert_eq!(r.status, 200, "{}", r.text);
        let b = r.json();
        assert_eq!(b["data"]["value"], *v, "{}", r.text);
        assert_eq!(b["local"], json!(true));
        assert_eq!(b["data"]["ttl_remaining_ms"], Value::Null);
    }
}

#[test]
fn http_and_resp_see_the_same_data() {
    let s = Server::start();
    let mut c = s.conn();
    // A string set over HTTP is its raw bytes to RESP; other JSON values are their JSON text.
    http::put_json(&key_url(&s, b"s"), &json!({"value": "hello"}));
    http::put_json(&key_url(&s, b"o"), &json!({"value": {"a": [1, 2]}}));
    http::put_json(&key_url(&s, b"n"), &json!({"value": 7}));
    assert_eq!(c.get::<_, String>("s").unwrap(), "hello");
    assert_eq!(c.get::<_, String>("o").unwrap(), r#"{"a":[1,2]}"#);
    assert_eq!(c.get::<_, String>("n").unwrap(), "7");
    // The JSON value is a string to RESP: INCR works on the number, then it reads back as text.
    assert_eq!(c.incr::<_, _, i64>("n", 1).unwrap(), 8);
    assert_eq!(
        http::get(&key_url(&s, b"n")).json()["data"]["value"],
        json!("8")
    );
    // Set over RESP: a JSON string over HTTP, even when it looks like JSON.
    let _: () = c.set("r", "[1,2]").unwrap();
    assert_eq!(
        http::get(&key_url(&s, b"r")).json()["data"]["value"],
        json!("[1,2]")
    );
    // Bytes that are not UTF-8 come back base64-encoded, and say so.
    let _: () = c.set("bin", &[0xffu8, 0x00, 0x41][..]).unwrap();
    let b = http::get(&key_url(&s, b"bin")).json();
    assert_eq!(b["data"]["value"], json!("/wBB"));
    assert_eq!(b["data"]["value_encoding"], json!("base64"));
    // Deleting over HTTP deletes for RESP.
    let r = http::delete(&key_url(&s, b"s"));
    assert_eq!(r.status, 200);
    assert!(!c.exists::<_, bool>("s").unwrap());
    // A TTL set over RESP shows over HTTP.
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let ttl = http::get(&key_url(&s, b"t")).json()["data"]["ttl_remaining_ms"]
        .as_i64()
        .unwrap();
    assert!((90_000..=100_000).contains(&ttl), "{ttl}");
    // HTTP writes count in the same keyspace as RESP's.
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 5);
}

#[test]
fn keys_are_url_decoded_and_binary_safe() {
    let s = Server::start();
    let mut c = s.conn();
    for key in [
        &b"a/b c"[..],
        b"%",
        b"\xff\x00bin",
        "ключ".as_bytes(),
        b"x?y#z",
    ] {
        let r = http::put_json(&key_url(&s, key), &json!({"value": "v"}));
        assert_eq!(r.status, 200, "{key:?}: {}", r.text);
        assert_eq!(c.get::<_, Vec<u8>>(key).unwrap(), b"v", "{key:?}");
        assert_eq!(http::get(&key_url(&s, key)).status, 200);
    }
    // An unencoded slash is part of the key.
    let r = http::put_json(
        &format!("{}/api/cache/dir/file", s.http_url()),
        &json!({"value": 1}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"]["key"], json!("dir/file"));
    assert_eq!(c.get::<_, String>("dir/file").unwrap(), "1");
}

#[test]
fn ttls_are_honoured_and_the_default_ttl_applies() {
    let s = Server::start_with(&[], Some("cache:\n  default_ttl: 1h\n"));
    let mut c = s.conn();
    http::put_json(&key_url(&s, b"ms"), &json!({"value": "x", "ttl_ms": 150}));
    http::put_json(
        &key_url(&s, b"sec"),
        &json!({"value": "x", "ttl_seconds": 30}),
    );
    http::put_json(
        &key_url(&s, b"hours"),
        &json!({"value": "x", "ttl_hours": 2}),
    );
    http::put_json(&key_url(&s, b"default"), &json!({"value": "x"}));
    let pttl = |c: &mut redis::Connection, k: &str| c.pttl::<_, i64>(k).unwrap();
    assert!((25_000..=30_000).contains(&pttl(&mut c, "sec")));
    assert!((7_100_000..=7_200_000).contains(&pttl(&mut c, "hours")));
    assert!((3_500_000..=3_600_000).contains(&pttl(&mut c, "default")));
    let deadline = Instant::now() + Duration::from_secs(5);
    while http::get(&key_url(&s, b"ms")).status != 404 {
        assert!(Instant::now() < deadline, "the 150 ms key did not expire");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn delete_says_whether_the_key_existed() {
    let s = Server::start_with(&["--node-id", "d1"], None);
    http::put_json(&key_url(&s, b"gone"), &json!({"value": "v"}));
    let r = http::delete(&key_url(&s, b"gone"));
    assert_eq!(r.status, 200);
    let b = r.json();
    assert_eq!(b["success"], json!(true));
    assert_eq!(b["existed"], json!(true));
    assert_eq!(b["message"], json!("Key deleted"));
    assert_eq!(b["key"], json!("gone"));
    assert_eq!(b["node"], json!("d1"));
    assert_eq!(b["replicated"], json!(false));
    correlated(&r);
    let b = http::delete(&key_url(&s, b"gone")).json();
    assert_eq!(b["existed"], json!(false));
    assert_eq!(b["message"], json!("Key not found"));
    let r = http::get(&key_url(&s, b"gone"));
    assert_eq!(r.status, 404);
    let b = r.json();
    assert_eq!(b["success"], json!(false));
    assert_eq!(b["error"], json!("Key not found"));
    assert_eq!(b["key"], json!("gone"));
    assert_eq!(b["node"], json!("d1"));
}

#[test]
fn bad_requests_get_json_errors_and_the_node_keeps_serving() {
    let s = Server::start_with(&[], Some("network:\n  http_max_body: 2kb\n"));
    let url = key_url(&s, b"k");
    let cases: Vec<(&str, String, Option<Vec<u8>>, u16)> = vec![
        ("PUT", url.clone(), Some(b"{not json".to_vec()), 400),
        ("PUT", url.clone(), Some(b"".to_vec()), 400),
        ("PUT", url.clone(), Some(br#"[1,2]"#.to_vec()), 400),
        (
            "PUT",
            url.clone(),
            Some(br#""just a string""#.to_vec()),
            400,
        ),
        ("PUT", url.clone(), Some(br#"{"val":1}"#.to_vec()), 400),
        ("PUT", url.clone(), Some(br#"{"value":null}"#.to_vec()), 400),
        (
            "PUT",
            url.clone(),
            Some(br#"{"value":1,"ttl_ms":-5}"#.to_vec()),
            400,
        ),
        (
            "PUT",
            url.clone(),
            Some(br#"{"value":1,"ttl_seconds":"10"}"#.to_vec()),
            400,
        ),
        (
            "PUT",
            url.clone(),
            Some(br#"{"value":1,"ttl_hours":0}"#.to_vec()),
            400,
        ),
        ("PUT", url.clone(), Some(vec![b'"'; 3000]), 413),
        (
            "PUT",
            format!("{}/api/cache/", s.http_url()),
            Some(br#"{"value":1}"#.to_vec()),
            400,
        ),
        ("GET", format!("{}/api/cache/", s.http_url()), None, 400),
        ("DELETE", format!("{}/api/cache/", s.http_url()), None, 400),
        ("POST", url.clone(), Some(b"{}".to_vec()), 405),
        ("PATCH", url.clone(), Some(b"{}".to_vec()), 405),
        ("DELETE", format!("{}/health", s.http_url()), None, 405),
        ("GET", format!("{}/no/such/route", s.http_url()), None, 404),
        (
            "PUT",
            format!("{}/api/admin/log-level", s.http_url()),
            Some(br#"{"level":"loud"}"#.to_vec()),
            400,
        ),
        (
            "PUT",
            format!("{}/api/admin/log-level", s.http_url()),
            Some(b"debug".to_vec()),
            400,
        ),
    ];
    for (method, url, body, want) in cases {
        let r = http::request(
            method,
            &url,
            body.as_deref(),
            &[("content-type", "application/json")],
        );
        assert_eq!(r.status, want, "{method} {url} {body:?}: {}", r.text);
        let b = r.json();
        assert_eq!(b["success"], json!(false), "{}", r.text);
        assert!(!b["error"].as_str().unwrap().is_empty());
        correlated(&r);
    }
    // Nothing was stored, and the node still answers both protocols.
    assert_eq!(http::get(&url).status, 404);
    assert_eq!(http::get(&format!("{}/health", s.http_url())).status, 200);
    assert_eq!(
        redis::cmd("PING").query::<String>(&mut s.conn()).unwrap(),
        "PONG"
    );
}

#[test]
fn stats_read_the_same_counters_as_info() {
    let s = Server::start_with(&["--node-id", "st"], None);
    let mut c = s.conn();
    for i in 0..5 {
        let _: () = c.set(format!("k{i}"), "v").unwrap();
    }
    let _: Option<String> = c.get("k1").unwrap();
    let _: Option<String> = c.get("nope").unwrap();
    http::get(&key_url(&s, b"k2"));
    http::get(&key_url(&s, b"nope2"));
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    for path in ["/stats", "/api/cache/stats"] {
        let r = http::get(&format!("{}{path}", s.http_url()));
        assert_eq!(r.status, 200);
        let b = r.json();
        assert_eq!(b["node"], json!("st"));
        assert_eq!(b["keys"], json!(5));
        assert_eq!(b["hits"], json!(field("keyspace_hits")));
        assert_eq!(b["misses"], json!(field("keyspace_misses")));
        assert_eq!(b["hits"], json!(2));
        assert_eq!(b["misses"], json!(2));
        assert_eq!(b["hit_rate"], json!(0.5));
        assert_eq!(b["operations"]["set"], json!(5));
        assert_eq!(b["operations"]["get"], json!(2));
        assert_eq!(b["connected_clients"], json!(field("connected_clients")));
        assert!(b["memory_bytes"].as_u64().unwrap() > 0);
        assert!(b["uptime_seconds"].is_u64());
        for k in ["evictions", "expirations", "commands_processed"] {
            assert!(b[k].is_u64(), "{k}");
        }
        correlated(&r);
    }
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn metrics_are_prometheus_text_labelled_with_the_node() {
    let s = Server::start_with(&["--node-id", "m1"], None);
    let mut c = s.conn();
    for i in 0..20 {
        let _: () = c.set(format!("k{i}"), "v").unwrap();
    }
    let _: Option<String> = c.get("k0").unwrap();
    let _: Option<String> = c.get("missing").unwrap();
    let _ = redis::cmd("NOSUCHCMD").query::<()>(&mut c);
    let r = http::get(&format!("{}/metrics", s.http_url()));
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    let t = &r.text;
    let n = r#"node="m1""#;
    assert_eq!(
        metric(t, &format!("hypercache_up{{{n}}}")),
        Some(1.0),
        "{t}"
    );
    assert_eq!(metric(t, &format!("hypercache_items{{{n}}}")), Some(20.0));
    assert_eq!(
        metric(t, &format!("hypercache_hits_total{{{n}}}")),
        Some(1.0)
    );
    assert_eq!(
        metric(t, &format!("hypercache_misses_total{{{n}}}")),
        Some(1.0)
    );
    assert_eq!(metric(t, &format!("hypercache_hit_rate{{{n}}}")), Some(0.5));
    assert_eq!(
        metric(t, &format!("hypercache_cluster_size{{{n}}}")),
        Some(1.0)
    );
    assert_eq!(
        metric(t, &format!("hypercache_cluster_healthy{{{n}}}")),
        Some(1.0)
    );
    assert_eq!(
        metric(
            t,
            &format!("hypercache_commands_total{{{n},command=\"set\"}}")
        ),
        Some(20.0),
        "{t}"
    );
    assert!(metric(t, &format!("hypercache_errors_total{{{n}}}")).unwrap() >= 1.0);
    for direction in ["pulled", "pushed"] {
        let name = format!("hypercache_anti_entropy_keys_total{{{n},direction=\"{direction}\"}}");
        assert_eq!(metric(t, &name), Some(0.0), "{t}");
    }
    assert!(metric(t, &format!("hypercache_memory_bytes{{{n}}}")).unwrap() > 0.0);
    assert!(metric(t, &format!("hypercache_connected_clients{{{n}}}")).unwrap() >= 1.0);
    assert!(metric(t, &format!("hypercache_net_input_bytes_total{{{n}}}")).unwrap() > 0.0);
    assert!(metric(t, &format!("hypercache_net_output_bytes_total{{{n}}}")).unwrap() > 0.0);
    for family in [
        "hypercache_evictions_total",
        "hypercache_expired_total",
        "hypercache_command_duration_seconds",
        "hypercache_changes_since_last_save",
        "hypercache_replication_lag_p99_seconds",
        "hypercache_aof_fsyncs_total",
    ] {
        assert!(
            t.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{t}"
        );
    }
    // Every sample line has the node label.
    for l in t.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        assert!(l.contains(n), "{l}");
    }
    // The latency histogram is cumulative and its count is what was sampled.
    let buckets: Vec<f64> = t
        .lines()
        .filter(|l| {
            l.starts_with("hypercache_command_duration_seconds_bucket")
                && l.contains(r#"command="set""#)
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(!buckets.is_empty(), "{t}");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    // The +Inf bucket holds every sample: it is the count.
    let count = metric(
        t,
        &format!("hypercache_command_duration_seconds_count{{{n},command=\"set\"}}"),
    );
    assert_eq!(buckets.last().copied(), count, "{t}");
}

#[test]
fn admin_routes_save_rewrite_report_and_change_the_log_level() {
    let s = Server::start();
    let mut c = s.conn();
    for i in 0..10 {
        let _: () = c.set(format!("k{i}"), "v").unwrap();
    }
    let base = s.http_url();
    let r = http::request("POST", &format!("{base}/api/admin/snapshot"), None, &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    let b = r.json();
    assert_eq!(b["success"], json!(true));
    assert_eq!(b["keys"], json!(10));
    assert!(std::path::Path::new(b["path"].as_str().unwrap()).exists());
    let r = http::request("POST", &format!("{base}/api/admin/aof-rewrite"), None, &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    let st = http::get(&format!("{base}/api/admin/persistence-stats")).json();
    assert_eq!(st["enabled"], json!(true));
    assert_eq!(st["saves"], json!(2));
    assert_eq!(st["last_save_keys"], json!(10));
    assert_eq!(st["last_save_ok"], json!(true));
    assert_eq!(st["aof"]["fsync_policy"], json!("everysec"));
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
    assert!(info.contains("rdb_saves:2"), "{info}");
    // The original HyperCache's snapshot histogram: both saves counted, the +Inf bucket too.
    let t = http::get(&format!("{base}/metrics")).text;
    let count = t
        .lines()
        .find(|l| l.starts_with("hypercache_snapshot_duration_seconds_count"))
        .unwrap_or_else(|| panic!("no snapshot histogram:\n{t}"));
    assert!(count.ends_with(" 2"), "{count}");
    let inf = t
        .lines()
        .find(|l| {
            l.starts_with("hypercache_snapshot_duration_seconds_bucket") && l.contains("+Inf")
        })
        .unwrap_or_else(|| panic!("no +Inf bucket:\n{t}"));
    assert!(inf.ends_with(" 2"), "{inf}");
    // The log level, shared with CONFIG SET loglevel: debug shows RESP commands.
    assert!(!s.log_text().contains(r#""action":"command""#));
    let r = http::request(
        "PUT",
        &format!("{base}/api/admin/log-level"),
        Some(br#"{"level":"debug"}"#),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["level"], json!("debug"));
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("loglevel")
        .query(&mut c)
        .unwrap();
    assert_eq!(got, vec!["loglevel", "debug"]);
    let r = http::request("GET", &format!("{base}/api/admin/log-level"), None, &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["level"], json!("debug"));
    let _: Option<String> = c.get("k1").unwrap();
    let line = wait_for_log(&s, r#""action":"command""#);
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["level"], json!("debug"));
    assert!(v["client"].is_u64(), "{line}");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("loglevel")
        .arg("warning")
        .query(&mut c)
        .unwrap();
    // The log is written by a background thread: let the lines of the commands above land.
    std::thread::sleep(Duration::from_millis(200));
    let before = s.log_text().matches(r#""action":"command""#).count();
    let _: Option<String> = c.get("k1").unwrap();
    http::get(&format!("{base}/health"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        s.log_text().matches(r#""action":"command""#).count(),
        before
    );
}

#[test]
fn admin_routes_without_persistence_say_so() {
    let s = Server::start_with(&[], Some("persistence:\n  strategy: disabled\n"));
    let base = s.http_url();
    for path in ["/api/admin/snapshot", "/api/admin/aof-rewrite"] {
        let r = http::request("POST", &format!("{base}{path}"), None, &[]);
        assert_eq!(r.status, 409, "{path}: {}", r.text);
        assert!(r.json()["error"].as_str().unwrap().contains("disabled"));
    }
    let st = http::get(&format!("{base}/api/admin/persistence-stats")).json();
    assert_eq!(st["enabled"], json!(false));
}

#[test]
fn the_openapi_document_describes_every_route_we_serve() {
    let s = Server::start();
    let base = s.http_url();
    let r = http::get(&format!("{base}/openapi.json"));
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented: Vec<String> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let served = [
        "DELETE /api/cache/{key}",
        "DELETE /api/stores/{name}",
        "DELETE /api/stores/{name}/cache/{key}",
        "GET /api/admin/log-level",
        "GET /api/admin/persistence-stats",
        "GET /api/cache/stats",
        "GET /api/cache/{key}",
        "GET /api/cluster/members",
        "GET /api/cluster/status",
        "GET /api/filter/check/{key}",
        "GET /api/filter/stats",
        "GET /api/pubsub/{channel}",
        "GET /api/stores",
        "GET /api/stores/{name}",
        "GET /api/stores/{name}/cache/{key}",
        "GET /dashboard",
        "GET /health",
        "GET /metrics",
        "GET /openapi.json",
        "GET /stats",
        "POST /api/admin/aof-rewrite",
        "POST /api/admin/snapshot",
        "POST /api/pubsub/{channel}",
        "POST /api/stores",
        "PUT /api/admin/log-level",
        "PUT /api/cache/{key}",
        "PUT /api/stores/{name}/cache/{key}",
    ];
    assert_eq!(documented, served);
    // Each documented route is really there (a route we don't serve answers "No such route"),
    // and answers with a status the document lists for it.
    for entry in &served {
        let (method, path) = entry.split_once(' ').unwrap();
        let url = format!(
            "{base}{}",
            path.replace("{key}", "probe").replace("{channel}", "probe")
        );
        let body: Option<&[u8]> = match (method, path) {
            ("PUT", "/api/admin/log-level") => Some(br#"{"level":"info"}"#),
            ("PUT", _) => Some(br#"{"value":1}"#),
            ("POST", "/api/pubsub/{channel}") => Some(br#"{"message":"m"}"#),
            _ => None,
        };
        let r = if path == "/api/pubsub/{channel}" && method == "GET" {
            // An event stream does not end: its head is all there is to check.
            event_stream_head(&url)
        } else {
            http::request(method, &url, body, &[])
        };
        let listed = doc["paths"][path][method.to_lowercase()]["responses"]
            .as_object()
            .unwrap()
            .contains_key(&r.status.to_string());
        assert!(
            listed,
            "{entry} answered {} which the document does not list",
            r.status
        );
        assert!(!r.text.contains("No such route"), "{entry}");
    }
}

/// The status and first event of an event stream (which never ends by itself).
fn event_stream_head(url: &str) -> http::Reply {
    use std::io::{BufRead, BufReader, Write};
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET /{path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut lines = BufReader::new(s).lines().map_while(Result::ok);
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut content_type = String::new();
    let mut text = String::new();
    for line in lines.by_ref() {
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-type: ") {
            content_type = v.to_string();
        }
        if line.starts_with("data: ") {
            text = line;
            break;
        }
    }
    http::Reply {
        status,
        correlation: None,
        content_type,
        text,
    }
}

#[test]
fn a_cluster_serves_http_reads_anywhere_and_traces_writes_to_every_replica() {
    use common::cluster::{TestCluster, wait};
    let c = TestCluster::start(3, "");
    let (n1, n2, n3) = (c.server(0), c.server(1), c.server(2));
    // Written over HTTP on node 1, read over HTTP from node 3 at once (read-repair covers the
    // replication window) and over RESP from node 2.
    let r = http::request(
        "PUT",
        &key_url(n1, b"shared"),
        Some(br#"{"value":{"v":1}}"#),
        &[("X-Correlation-ID", "cross-node-7")],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["replicated"], json!(true));
    let r = http::get(&key_url(n3, b"shared"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["data"]["value"], json!({"v": 1}));
    assert_eq!(r.json()["node"], json!("node-3"));
    wait("replication to node 2", Duration::from_secs(10), || {
        n2.conn()
            .get::<_, Option<String>>("shared")
            .unwrap()
            .as_deref()
            == Some(r#"{"v":1}"#)
    });
    // The request's correlation id is in the logs of the node that took it and of the
    // replicas its mutation reached.
    for (s, what) in [
        (n1, "HTTP request"),
        (n2, "replicated write applied"),
        (n3, "replicated write applied"),
    ] {
        let line = wait_for_log_with(s, &["cross-node-7", what]);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["correlation_id"], json!("cross-node-7"), "{line}");
    }
    let applied = wait_for_log(n2, "replicated write applied");
    let v: Value = serde_json::from_str(&applied).unwrap();
    assert_eq!(v["node_id"], json!("node-2"));
    assert_eq!(v["from"], json!("node-1"));
    assert_eq!(v["key"], json!("shared"));
    // A delete over HTTP on node 2 reaches node 1.
    let r = http::delete(&key_url(n2, b"shared"));
    assert_eq!(r.json()["existed"], json!(true));
    wait("the delete to replicate", Duration::from_secs(10), || {
        !n1.conn().exists::<_, bool>("shared").unwrap()
    });
    // Members and status.
    let m = http::get(&format!("{}/api/cluster/members", n1.http_url())).json();
    assert_eq!(m["cluster_size"], json!(3));
    assert_eq!(m["total_count"], json!(3), "the original's name");
    let members = m["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{m}");
    for (i, x) in members.iter().enumerate() {
        assert_eq!(x["node_id"], json!(format!("node-{}", i + 1)));
        assert_eq!(x["status"], json!("alive"));
        assert_eq!(x["address"], json!("127.0.0.1"));
        assert!(x["last_seen"].as_u64().unwrap() > 1_700_000_000_000, "{x}");
        assert_eq!(x["http_port"], json!(c.server(i).http.port()));
        assert_eq!(x["resp_port"], json!(c.server(i).addr.port()));
    }
    let st = http::get(&format!("{}/api/cluster/status", n1.http_url())).json();
    assert_eq!(st["ring"], json!(["node-1", "node-2", "node-3"]));
    assert_eq!(st["virtual_nodes_per_node"], json!(256));
    assert_eq!(st["replication_factor"], json!(3));
    let peers = st["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2, "{st}");
    assert!(
        peers
            .iter()
            .all(|p| p["sent_records"].as_u64().unwrap() >= 1),
        "{st}"
    );
    let h = http::get(&format!("{}/health", n2.http_url())).json();
    assert_eq!(h["cluster_size"], json!(3));
}

#[test]
fn a_dead_member_is_reported_dead_with_when_it_was_last_seen() {
    use common::cluster::{TestCluster, wait};
    let mut c = TestCluster::start(2, "");
    c.kill(1);
    let url = format!("{}/api/cluster/members", c.server(0).http_url());
    let killed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    wait("node 2 to be seen dead", Duration::from_secs(30), || {
        let m = http::get(&url).json();
        m["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["node_id"] == json!("node-2") && x["status"] == json!("dead"))
    });
    let m = http::get(&url).json();
    let dead = m["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["node_id"] == json!("node-2"))
        .unwrap()
        .clone();
    let seen = dead["last_seen"].as_u64().unwrap();
    assert!(seen > 0 && seen <= killed_at + 5_000, "{dead}");
    assert_eq!(m["cluster_size"], json!(1));
}

#[test]
fn metrics_can_be_turned_off_leaving_the_node_figures() {
    let s = Server::start_with(
        &["--node-id", "quiet"],
        Some("metrics:\n  enabled: false\n"),
    );
    let mut c = s.conn();
    let _: () = c.set("k", "v").unwrap();
    let t = http::get(&format!("{}/metrics", s.http_url())).text;
    assert!(!t.contains("hypercache_commands_total{"), "{t}");
    assert_eq!(metric(&t, r#"hypercache_items{node="quiet"}"#), Some(1.0));
    let st = http::get(&format!("{}/stats", s.http_url())).json();
    assert_eq!(st["operations"], json!({}));
    assert_eq!(st["keys"], json!(1));
}

#[test]
fn logs_go_to_size_rotated_files_too() {
    let logs = tempfile::tempdir().unwrap();
    let yaml = format!(
        "logging:\n  output: [console, file]\n  log_dir: {}\n  max_file_size: 4kb\n  max_files: 2\n",
        logs.path().display()
    );
    let s = Server::start_with(&["--node-id", "filelog"], Some(&yaml));
    for i in 0..60 {
        http::request(
            "GET",
            &format!("{}/health", s.http_url()),
            None,
            &[("X-Correlation-ID", &format!("file-{i}"))],
        );
    }
    wait_for_log(&s, "file-59");
    let live = logs.path().join("hypercache-filelog.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&live)
        .unwrap_or_default()
        .contains("file-59")
    {
        assert!(
            Instant::now() < deadline,
            "file-59 never reached the log file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut files: Vec<String> = std::fs::read_dir(logs.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "hypercache-filelog.log",
            "hypercache-filelog.log.1",
            "hypercache-filelog.log.2"
        ]
    );
    for f in &files {
        let text = std::fs::read_to_string(logs.path().join(f)).unwrap();
        assert!(text.len() <= 4096, "{f} is {} bytes", text.len());
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(v["node_id"], json!("filelog"));
        }
    }
}

#[test]
fn with_rf_1_any_node_serves_any_key_by_relaying_to_its_owner() {
    use common::cluster::TestCluster;
    let c = TestCluster::start(3, "  replication_factor: 1\n");
    let urls: Vec<String> = (0..3).map(|i| c.server(i).http_url()).collect();
    let mut owners = std::collections::HashSet::new();
    for i in 0..30 {
        let key = format!("routed:{i}");
        let via = &urls[i % 3];
        let r = http::request(
            "PUT",
            &format!("{via}/api/cache/{key}"),
            Some(format!(r#"{{"value":{{"n":{i}}}}}"#).as_bytes()),
            &[("X-Correlation-ID", &format!("route-{i}"))],
        );
        assert_eq!(r.status, 200, "{}", r.text);
        // The answer is the owner's, with the caller's correlation id.
        assert_eq!(r.json()["correlation_id"], json!(format!("route-{i}")));
        let owner = r.json()["node"].as_str().unwrap().to_string();
        owners.insert(owner.clone());
        for u in &urls {
            let r = http::get(&format!("{u}/api/cache/{key}"));
            assert_eq!(r.status, 200, "{key} via {u}: {}", r.text);
            assert_eq!(r.json()["data"]["value"], json!({"n": i}));
            assert_eq!(r.json()["node"], json!(owner));
        }
    }
    // 30 keys over 3 nodes with one copy each: more than one owner, so relaying happened.
    assert!(owners.len() > 1, "{owners:?}");
    for (i, u) in urls.iter().enumerate() {
        let r = http::delete(&format!("{u}/api/cache/routed:{i}"));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["existed"], json!(true));
    }
    for u in &urls {
        assert_eq!(http::get(&format!("{u}/api/cache/routed:1")).status, 404);
    }
}
