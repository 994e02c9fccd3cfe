//! Hardening: every way a client, a peer or an HTTP caller once crashed, froze, poisoned or
//! exhausted a node, replayed against the real binary — and the password and cluster secret
//! protecting RESP, HTTP and peer traffic.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::cluster::{TestCluster, peer_conn};
use common::http::request;
use common::{Raw, Server, info_field};
use hypercache::persist::codec;
use hypercache::store::ValueRef;
use hypercache::store::mutation::{Mutation, Op, Origin};
use hypercache::store::stamp::Stamp;

/// A process's resident set (VmRSS) or its peak (VmHWM), in MB.
fn mem_mb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        / 1024
}

fn rss_mb(pid: u32) -> u64 {
    mem_mb(pid, "VmRSS:")
}

fn authed(s: &Server, pw: &str) -> redis::Connection {
    redis::Client::open(format!("redis://:{pw}@{}/", s.addr))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// `HCREPL` arguments carrying these records, as a peer named `test-probe` sends them.
fn hcrepl(records: &[Mutation<'_>]) -> redis::Cmd {
    let mut batch = Vec::new();
    for m in records {
        codec::encode_mutation(&mut batch, m);
    }
    let mut c = redis::cmd("HCREPL");
    c.arg("test-probe").arg(1).arg(0).arg(batch);
    c
}

fn set_record<'a>(key: &'a [u8], value: &'a [u8], lamport: u64) -> Mutation<'a> {
    Mutation {
        db: 0,
        stamp: Stamp {
            lamport,
            node: hypercache::store::stamp::nodes::hash("test-probe"),
        },
        origin: Origin::Local,
        trace: None,
        op: Op::Set {
            key,
            value: ValueRef::Str(value),
            expire_at: 0,
        },
    }
}

/// A non-loopback address of this machine (the one a default route would use, else any
/// configured IPv4 address that is not 127.x).
fn outside_ip() -> std::net::IpAddr {
    if let Ok(s) = std::net::UdpSocket::bind("0.0.0.0:0")
        && s.connect("192.0.2.255:9").is_ok()
        && let Ok(a) = s.local_addr()
        && !a.ip().is_loopback()
        && !a.ip().is_unspecified()
    {
        return a.ip();
    }
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .expect("ip addr");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.split('/').next()?.parse::<std::net::IpAddr>().ok())
        .find(|ip| !ip.is_loopback())
        .expect("this test needs a non-loopback IPv4 address on the machine")
}

#[test]
fn an_hcfwd_flood_from_an_unauthenticated_client_is_refused_without_recursion() {
    // The original crash: 10,000 nested HCFWDs overflowed the stack before the auth check.
    let s = Server::start_with(&[], Some("security:\n  requirepass: pw\n"));
    let mut args: Vec<String> = Vec::new();
    for _ in 0..10_000 {
        args.push("HCFWD".into());
        args.push("0".into());
    }
    args.push("PING".into());
    let out = std::process::Command::new(common::redis_cli())
        .args(["-p", &s.addr.port().to_string()])
        .args(&args)
        .output()
        .unwrap();
    // Behind a password, Redis 7's limits refuse it before anything is parsed (20,001
    // arguments from a client that has not authenticated)...
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Protocol error: unauthenticated multibulk length"),
        "{text}"
    );
    // ...and without one, HCFWD is for peers: refused before its payload is looked at.
    let open = Server::start();
    let out = std::process::Command::new(common::redis_cli())
        .args(["-p", &open.addr.port().to_string()])
        .args(&args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NOPERM this command is only for authenticated cluster peers"),
        "{text}"
    );
    let mut c = open.conn();
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    // The node is alive and well.
    let mut c = authed(&s, "pw");
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    // Even a real peer gets one hop only.
    let mut p = peer_conn(s.addr, Some("pw")).unwrap();
    let pong: String = redis::cmd("HCFWD")
        .arg(0)
        .arg(2)
        .arg("PING")
        .query(&mut p)
        .unwrap();
    assert_eq!(pong, "PONG");
    // A forwarded reply is followed by the node's Lamport time.
    let clock = p.recv_response().unwrap();
    assert!(matches!(clock, redis::Value::Int(t) if t >= 0), "{clock:?}");
    let e = redis::cmd("HCFWD")
        .arg(0)
        .arg(2)
        .arg("HCFWD")
        .arg(0)
        .arg(2)
        .arg("PING")
        .query::<String>(&mut p)
        .unwrap_err();
    assert!(e.to_string().contains("HCFWD cannot be nested"), "{e}");
}

#[test]
fn internal_commands_are_for_authenticated_peers_only() {
    let s = Server::start();
    let mut c = s.conn();
    for cmd in [
        redis::cmd("HCREPL")
            .arg("x")
            .arg(1)
            .arg(0)
            .arg("junk")
            .clone(),
        redis::cmd("HCGET").arg(0).arg("k").clone(),
        redis::cmd("HCDIGEST").arg(0).arg("x").clone(),
        redis::cmd("HCRANGE").arg(0).arg(0).arg("x").clone(),
        redis::cmd("HCINDEX").arg("x").arg(1).clone(),
        redis::cmd("HCFWD")
            .arg(0)
            .arg("SET")
            .arg("k")
            .arg("v")
            .clone(),
    ] {
        let e = cmd.query::<redis::Value>(&mut c).unwrap_err();
        assert!(
            e.to_string()
                .contains("this command is only for authenticated cluster peers"),
            "{e}"
        );
    }
    let () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    // A wrong proof is refused, counted, and closes the connection.
    let mut raw = s.raw();
    let hello = raw.cmd(&[
        b"HCHELLO",
        b"intruder",
        hypercache::util::hex::hex(&[7u8; 16]).as_bytes(),
    ]);
    assert!(hello.starts_with(b"*3\r\n"), "{hello:?}");
    let r = raw.cmd(&[b"HCAUTH", "00".repeat(32).as_bytes()]);
    assert!(r.starts_with(b"-NOPERM"), "{}", String::from_utf8_lossy(&r));
    assert!(raw.is_closed());
    assert_eq!(
        info_field(&mut c, "stats", "hypercache_auth_failures_peer"),
        "1"
    );
    // A peer with a different secret cannot get in either; one with the right one can.
    assert!(peer_conn(s.addr, Some("not-the-secret")).is_err());
    let mut p = peer_conn(s.addr, None).unwrap();
    let v: Vec<redis::Value> = redis::cmd("HCGET").arg(0).arg("k").query(&mut p).unwrap();
    assert_eq!(v.len(), 4);
    // The read index answers a peer about its own stream only, with a well-formed incarnation;
    // a stranger to the ring gets no word (ready 0).
    let e = redis::cmd("HCINDEX")
        .arg("node-x")
        .arg(1)
        .query::<redis::Value>(&mut p)
        .unwrap_err();
    assert!(e.to_string().contains("names another node"), "{e}");
    let e = redis::cmd("HCINDEX")
        .arg("test-probe")
        .arg("not-a-number")
        .query::<redis::Value>(&mut p)
        .unwrap_err();
    assert!(e.to_string().contains("not an integer"), "{e}");
    let (_incarnation, offset, ready): (i64, i64, i64) = redis::cmd("HCINDEX")
        .arg("test-probe")
        .arg(1)
        .query(&mut p)
        .unwrap();
    assert_eq!((offset, ready), (0, 0));
    // A batch's incarnation must be a number, and nothing may follow it; refused batches
    // apply nothing.
    let record = set_record(b"inc", b"v", 5);
    let e = hcrepl(std::slice::from_ref(&record))
        .arg("not-a-number")
        .query::<redis::Value>(&mut p)
        .unwrap_err();
    assert!(e.to_string().contains("not an integer"), "{e}");
    let e = hcrepl(std::slice::from_ref(&record))
        .arg(1)
        .arg("extra")
        .query::<redis::Value>(&mut p)
        .unwrap_err();
    assert!(e.to_string().contains("wrong number of arguments"), "{e}");
    let v: Option<String> = redis::cmd("GET").arg("inc").query(&mut c).unwrap();
    assert_eq!(v, None);
    // Anti-entropy's questions: a cut must be a Lamport time, ranges must exist, and one
    // question may name many ranges.
    for (cmd, why) in [
        (
            redis::cmd("HCDIGEST").arg(0).arg("x").arg(-1).clone(),
            "bad cut",
        ),
        (
            redis::cmd("HCDIGEST").arg(0).arg("x").arg(1).arg(2).clone(),
            "wrong number of arguments",
        ),
        (
            redis::cmd("HCRANGE")
                .arg(0)
                .arg(1)
                .arg("x")
                .arg(256)
                .clone(),
            "range out of bounds",
        ),
    ] {
        let e = cmd.query::<redis::Value>(&mut p).unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }
    let digests: Vec<i64> = redis::cmd("HCDIGEST")
        .arg(0)
        .arg("x")
        .arg(u64::MAX / 2)
        .query(&mut p)
        .unwrap();
    assert_eq!(digests.len(), 256);
    let all: Vec<redis::Value> = redis::cmd("HCRANGE")
        .arg(0)
        .arg(0)
        .arg("x")
        .arg((1..256).collect::<Vec<i64>>())
        .query(&mut p)
        .unwrap();
    assert_eq!(all.len(), 1, "every key (k) of every range: {all:?}");
    // RESET makes it a stranger again.
    let _: String = redis::cmd("RESET").query(&mut p).unwrap();
    let e = redis::cmd("HCGET")
        .arg(0)
        .arg("k")
        .query::<redis::Value>(&mut p)
        .unwrap_err();
    assert!(e.to_string().contains("authenticated cluster peers"), "{e}");
}

#[test]
fn a_swapdb_record_for_a_missing_database_is_refused_and_the_node_stays_up() {
    // The original freeze: SwapDb with db 16 locked database 0's shards twice.
    let mut s = Server::start();
    let mut p = peer_conn(s.addr, None).unwrap();
    let bad = Mutation {
        db: 16,
        stamp: Stamp {
            lamport: 1,
            node: hypercache::store::stamp::nodes::hash("test-probe"),
        },
        origin: Origin::Local,
        trace: None,
        op: Op::SwapDb { other: 0 },
    };
    let same = Mutation {
        db: 3,
        op: Op::SwapDb { other: 3 },
        ..bad
    };
    let ack: i64 = hcrepl(&[bad, same]).query(&mut p).unwrap();
    assert_eq!(ack, 1);
    let mut c = s.conn();
    let () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    assert_eq!(
        info_field(&mut c, "cluster", "hypercache_replication_refused"),
        "2"
    );
    let started = Instant::now();
    assert!(s.terminate().success());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(s.log_text().contains("refused a record from a peer"));
}

#[test]
fn a_stamp_from_the_future_cannot_poison_the_clock() {
    let s = Server::start_with(&[], Some("cluster:\n  max_clock_skew: 100000\n"));
    let mut c = s.conn();
    let mut p = peer_conn(s.addr, None).unwrap();
    // 2^48 - 2: far beyond the skew allowed (and beyond what a stamp may hold).
    let forged = set_record(b"k", b"forged", (1 << 48) - 2);
    let _: i64 = hcrepl(&[forged]).query(&mut p).unwrap();
    // Within the skew, a peer's write is taken as usual.
    let fine = set_record(b"j", b"from-peer", 50_000);
    let _: i64 = hcrepl(&[fine]).query(&mut p).unwrap();
    assert_eq!(
        info_field(&mut c, "cluster", "hypercache_replication_refused"),
        "1"
    );
    let got: Option<String> = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(got, None);
    let got: String = redis::cmd("GET").arg("j").query(&mut c).unwrap();
    assert_eq!(got, "from-peer");
    // Later local writes still win and carry sane stamps.
    let () = redis::cmd("SET")
        .arg("j")
        .arg("local")
        .query(&mut c)
        .unwrap();
    let got: String = redis::cmd("GET").arg("j").query(&mut c).unwrap();
    assert_eq!(got, "local");
    let (lamport, _node): (u64, String) =
        redis::cmd("HCSTAMP").arg(0).arg("j").query(&mut c).unwrap();
    assert!(lamport > 50_000 && lamport < 60_000, "{lamport}");
    let clock: u64 = info_field(&mut c, "persistence", "hypercache_lamport_clock")
        .parse()
        .unwrap();
    assert!(clock < 1 << 20, "clock {clock}");
}

#[test]
fn the_password_comes_from_yaml_env_or_a_file_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pwfile = dir.path().join("pw");
    std::fs::write(&pwfile, "from-file\n").unwrap();
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "security:\n  requirepass: from-yaml\n".into(),
            vec![],
            "from-yaml",
        ),
        (
            format!("security:\n  requirepass_file: {}\n", pwfile.display()),
            vec![],
            "from-file",
        ),
        (
            String::new(),
            vec![("HYPERCACHE_REQUIREPASS", "from-env")],
            "from-env",
        ),
    ];
    for (yaml, env, pw) in cases {
        let cfg = dir.path().join("c.yaml");
        std::fs::write(&cfg, &yaml).unwrap();
        let data = dir.path().join(format!("data-{}", pw.len() + yaml.len()));
        for _round in 0..2 {
            let mut cmd = common::command(&data, &[], Some(&cfg));
            for (k, v) in &env {
                cmd.env(k, v);
            }
            let s = Server::launch(cmd);
            let mut raw = s.raw();
            assert_eq!(
                raw.cmd(&[b"GET", b"k"]),
                b"-NOAUTH Authentication required.\r\n"
            );
            assert!(raw.cmd(&[b"AUTH", b"wrong"]).starts_with(b"-WRONGPASS"));
            assert_eq!(raw.cmd(&[b"AUTH", pw.as_bytes()]), b"+OK\r\n");
            assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
            let mut c = authed(&s, pw);
            assert_eq!(info_field(&mut c, "stats", "acl_access_denied_auth"), "1");
            // Never in the logs.
            assert!(!s.log_text().contains(pw), "the password was logged");
        }
    }
}

#[test]
fn http_needs_the_token_except_for_health() {
    let s = Server::start_with(&[], Some("security:\n  requirepass: s3cret\n"));
    let url = s.http_url();
    let bearer = [("Authorization", "Bearer s3cret")];
    let wrong = [("Authorization", "Bearer nope")];
    let put = br#"{"value":"v"}"#;
    for (method, path, body) in [
        ("PUT", "/api/cache/k", Some(&put[..])),
        ("GET", "/api/cache/k", None),
        ("DELETE", "/api/cache/k", None),
        ("POST", "/api/admin/snapshot", None),
        ("GET", "/api/admin/persistence-stats", None),
        ("POST", "/api/stores", Some(&br#"{"name":"x"}"#[..])),
        ("DELETE", "/api/stores/x", None),
        ("GET", "/stats", None),
        ("GET", "/api/cluster/members", None),
    ] {
        let r = request(method, &format!("{url}{path}"), body, &[]);
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text);
        let j = r.json();
        assert_eq!(j["success"], false);
        assert!(j["error"].as_str().unwrap().starts_with("NOAUTH"), "{j}");
        assert!(j["correlation_id"].as_str().is_some());
        let r = request(method, &format!("{url}{path}"), body, &wrong);
        assert_eq!(r.status, 401, "{method} {path} with a wrong token");
    }
    let r = request("PUT", &format!("{url}/api/cache/k"), Some(put), &bearer);
    assert_eq!(r.status, 200, "{}", r.text);
    let r = request("GET", &format!("{url}/api/cache/k"), None, &bearer);
    assert_eq!(r.json()["data"]["value"], "v");
    assert_eq!(
        request("GET", &format!("{url}/health"), None, &[]).status,
        200
    );
    assert_eq!(
        request("GET", &format!("{url}/metrics"), None, &[]).status,
        200
    );
    let mut c = authed(&s, "s3cret");
    assert_eq!(
        info_field(&mut c, "stats", "hypercache_auth_failures_http"),
        "18"
    );

    // A separate token replaces the password on HTTP; /metrics can be closed too.
    let s = Server::start_with(
        &[],
        Some("security:\n  requirepass: pw\n  http_token: tok\n  metrics_auth: true\n"),
    );
    let url = s.http_url();
    let r = request(
        "GET",
        &format!("{url}/stats"),
        None,
        &[("Authorization", "Bearer pw")],
    );
    assert_eq!(r.status, 401);
    let r = request(
        "GET",
        &format!("{url}/stats"),
        None,
        &[("Authorization", "Bearer tok")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        request("GET", &format!("{url}/metrics"), None, &[]).status,
        401
    );
    assert_eq!(
        request("GET", &format!("{url}/health"), None, &[]).status,
        200
    );
}

#[test]
fn protected_mode_refuses_remote_clients_without_a_password() {
    let ip = outside_ip();
    let s = Server::start_with(&["--bind", "0.0.0.0"], None);
    let remote = SocketAddr::new(ip, s.addr.port());
    let mut raw = Raw::connect(remote);
    let r = raw.read_reply();
    assert!(
        r.starts_with(b"-DENIED Redis is running in protected mode"),
        "{r:?}"
    );
    assert!(raw.is_closed());
    let http = format!("http://{}:{}", ip, s.http.port());
    let r = request("GET", &format!("{http}/stats"), None, &[]);
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.json()["error"].as_str().unwrap().starts_with("DENIED"));
    // Loopback clients are served as always.
    let mut local = Raw::connect(SocketAddr::from(([127, 0, 0, 1], s.addr.port())));
    assert_eq!(local.cmd(&[b"PING"]), b"+PONG\r\n");
    // Turning it off (or setting a password) lets remote clients in.
    assert_eq!(
        local.cmd(&[b"CONFIG", b"SET", b"protected-mode", b"no"]),
        b"+OK\r\n"
    );
    let mut raw = Raw::connect(remote);
    assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
    let s = Server::start_with(
        &["--bind", "0.0.0.0"],
        Some("security:\n  requirepass: pw\n"),
    );
    let mut raw = Raw::connect(SocketAddr::new(ip, s.addr.port()));
    assert_eq!(raw.cmd(&[b"PING"]), b"-NOAUTH Authentication required.\r\n");
}

#[test]
fn unauthenticated_clients_cannot_make_the_node_allocate() {
    let s = Server::start_with(&[], Some("security:\n  requirepass: pw\n"));
    let base = rss_mb(s.pid());
    let mut conns = Vec::new();
    for _ in 0..20 {
        let mut raw = s.raw();
        raw.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n");
        let r = raw.read_reply();
        assert_eq!(r, b"-ERR Protocol error: unauthenticated bulk length\r\n");
        assert!(raw.is_closed());
        conns.push(raw);
    }
    let mut raw = s.raw();
    raw.send(b"*11\r\n");
    assert_eq!(
        raw.read_reply(),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert!(rss_mb(s.pid()) < base + 50, "RSS grew from {base} MB");

    // Without a password every client is trusted, yet a 512 MB header alone costs nothing:
    // memory follows the bytes that actually arrive.
    let s = Server::start();
    let base = rss_mb(s.pid());
    let mut open = Vec::new();
    for _ in 0..20 {
        let mut raw = s.raw();
        raw.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n");
        raw.send(&vec![b'x'; 256 * 1024]);
        open.push(raw);
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_mb(s.pid());
    assert!(rss < base + 100, "RSS {rss} MB from {base} MB");
    let mut c = s.conn();
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
}

#[test]
fn a_value_cannot_grow_past_the_memory_limit() {
    let s = Server::start_with(
        &[],
        Some("cache:\n  max_memory: 64MB\n  eviction_policy: noeviction\n"),
    );
    let mut c = s.conn();
    let e = redis::cmd("SETRANGE")
        .arg("k")
        .arg(536_870_000)
        .arg("x")
        .query::<i64>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("OOM"), "{e}");
    let () = redis::cmd("SET")
        .arg("big")
        .arg(vec![b'a'; 40 << 20])
        .query(&mut c)
        .unwrap();
    let e = redis::cmd("APPEND")
        .arg("big")
        .arg(vec![b'b'; 30 << 20])
        .query::<i64>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("OOM"), "{e}");
    let e = redis::cmd("SET")
        .arg("other")
        .arg(vec![b'c'; 30 << 20])
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("OOM"), "{e}");
    let len: i64 = redis::cmd("STRLEN").arg("big").query(&mut c).unwrap();
    assert_eq!(len, 40 << 20);
    let used: u64 = info_field(&mut c, "memory", "used_memory_keyspace")
        .parse()
        .unwrap();
    assert!(used <= 64 << 20, "{used}");
    assert!(rss_mb(s.pid()) < 400, "RSS {} MB", rss_mb(s.pid()));
    // Small writes still go in.
    let () = redis::cmd("SET")
        .arg("small")
        .arg("1")
        .query(&mut c)
        .unwrap();
}

#[test]
fn a_client_that_never_reads_holds_one_chunk_of_replies() {
    let s = Server::start();
    let mut c = s.conn();
    let () = redis::cmd("SET")
        .arg("v")
        .arg(vec![b'x'; 1 << 20])
        .query(&mut c)
        .unwrap();
    let base = rss_mb(s.pid());
    // 2,000 GETs of a 1 MB value, never read: 2 GB of replies if they were all buffered.
    let mut stuck = TcpStream::connect(s.addr).unwrap();
    let mut reqs = Vec::new();
    for _ in 0..2000 {
        reqs.extend_from_slice(&Raw::frame(&[b"GET", b"v"]));
    }
    stuck.write_all(&reqs).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let rss = rss_mb(s.pid());
    assert!(rss < base + 64, "RSS {rss} MB from {base} MB");
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    // It is still served, in order, once it reads.
    stuck
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = [0u8; 16];
    stuck.read_exact(&mut head).unwrap();
    assert!(head.starts_with(b"$1048576\r\n"));

    // With limits, as Redis: one reply over the hard limit disconnects at once; replies that
    // stay above the soft limit for its seconds because the client does not read, too.
    let () = redis::cmd("SET")
        .arg("v8")
        .arg(vec![b'y'; 8 << 20])
        .query(&mut c)
        .unwrap();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("normal 4mb 0 0")
        .query(&mut c)
        .unwrap();
    let mut raw = s.raw();
    raw.send(&Raw::frame(&[b"GET", b"v8"]));
    assert!(raw.is_closed());
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("normal 0 1mb 1")
        .query(&mut c)
        .unwrap();
    let mut reqs = Vec::new();
    for _ in 0..200 {
        reqs.extend_from_slice(&Raw::frame(&[b"GET", b"v8"]));
    }
    let mut slow = TcpStream::connect(s.addr).unwrap();
    slow.write_all(&reqs).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut sink = vec![0u8; 1 << 20];
    let mut total = 0usize;
    loop {
        match slow.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => panic!("expected the server to close the connection: {e}"),
        }
    }
    assert!(total < 100 << 20, "read {total} bytes before the close");
    assert!(s.log_text().contains("output buffer limits"));
}

#[test]
fn a_big_json_body_is_checked_without_a_tree_and_not_echoed() {
    let s = Server::start_with(&[], Some("network:\n  http_max_body: 32MB\n"));
    let mut body = String::from("{\"value\":[");
    let mut i = 0u64;
    while body.len() < 14 << 20 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&(i % 10).to_string());
        i += 1;
    }
    body.push_str("]}");
    let base = mem_mb(s.pid(), "VmHWM:");
    let r = request(
        "PUT",
        &format!("{}/api/cache/arr", s.http_url()),
        Some(body.as_bytes()),
        &[],
    );
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(300)]);
    assert!(r.text.len() < 1024, "the value was echoed");
    let size = r.json()["data"]["size"].as_u64().unwrap();
    assert_eq!(size as usize, body.len() - "{\"value\":}".len());
    let peak = mem_mb(s.pid(), "VmHWM:");
    assert!(peak < base + 200, "peak RSS {peak} MB from {base} MB");
    let r = request("GET", &format!("{}/api/cache/arr", s.http_url()), None, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["data"]["value"].as_array().unwrap().len() as u64,
        i
    );
    // Nesting costs no stack (the text is checked, not built into a tree), both ways.
    let deep = format!(
        "{{\"value\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let r = request(
        "PUT",
        &format!("{}/api/cache/deep", s.http_url()),
        Some(deep.as_bytes()),
        &[],
    );
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(200)]);
    let r = request(
        "GET",
        &format!("{}/api/cache/deep", s.http_url()),
        None,
        &[],
    );
    assert_eq!(r.status, 200);
    assert!(r.text.contains(&"[".repeat(100_000)));
    // Malformed bodies are a 400.
    for bad in [
        &b"{\"value\":[1,2"[..],
        b"[1]",
        b"{\"value\":tru}",
        b"\xff\xfe",
    ] {
        let r = request(
            "PUT",
            &format!("{}/api/cache/m", s.http_url()),
            Some(bad),
            &[],
        );
        assert_eq!(
            r.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(bad),
            r.text
        );
    }
    let mut c = s.conn();
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
}

#[test]
fn the_number_of_stores_is_bounded() {
    let s = Server::start_with(&[], Some("cache:\n  max_stores: 8\n"));
    let url = format!("{}/api/stores", s.http_url());
    for i in 0..8 {
        let r = request(
            "POST",
            &url,
            Some(format!(r#"{{"name":"s{i}"}}"#).as_bytes()),
            &[],
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = request("POST", &url, Some(br#"{"name":"s8"}"#), &[]);
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("too many stores"), "{}", r.text);
    // Deleting makes room; creating and deleting new names forever does not grow the node.
    let mut refused = false;
    for i in 0..100 {
        let del = request("DELETE", &format!("{url}/s{i}"), None, &[]);
        assert_eq!(del.status, 200, "{}", del.text);
        let r = request(
            "POST",
            &url,
            Some(format!(r#"{{"name":"s{}"}}"#, i + 8).as_bytes()),
            &[],
        );
        if r.status == 409 {
            assert!(r.text.contains("created and deleted"), "{}", r.text);
            refused = true;
            break;
        }
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert!(refused, "store churn was never bounded");
}

#[test]
fn half_sent_requests_and_idle_http_connections_time_out() {
    let s = Server::start_with(
        &[],
        Some("network:\n  request_timeout: 1s\n  http_idle_timeout: 1s\n"),
    );
    let started = Instant::now();
    let mut half = s.raw();
    half.send(b"*2\r\n$3\r\nGET\r\n$1");
    let mut idle = s.raw();
    assert!(half.is_closed());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // A client idle between requests is not a half-sent request.
    assert_eq!(idle.cmd(&[b"PING"]), b"+PONG\r\n");
    // HTTP: a half-sent head, a stalled body, and an idle keep-alive connection all close.
    for partial in [
        &b"GET /health HTTP/1.1\r\nHost: x\r\n"[..],
        &b"PUT /api/cache/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"val"[..],
        &b""[..],
    ] {
        let mut t = TcpStream::connect(s.http).unwrap();
        t.write_all(partial).unwrap();
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        let r = t.read_to_end(&mut buf);
        assert!(
            r.is_ok(),
            "{:?} not closed: {r:?}",
            String::from_utf8_lossy(partial)
        );
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}

#[test]
fn http_connections_are_capped_and_resp_keeps_working() {
    let s = Server::start_with(
        &[],
        Some("network:\n  http_max_connections: 50\n  http_idle_timeout: 2s\n"),
    );
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(s.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut c = s.conn();
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    // The node holds at most the cap (plus its own descriptors), not 300 connections.
    let fds = std::fs::read_dir(format!("/proc/{}/fd", s.pid()))
        .unwrap()
        .count();
    assert!(fds < 200, "{fds} descriptors open");
    // Once they go, new requests are served.
    drop(idle);
    let r = request("GET", &format!("{}/health", s.http_url()), None, &[]);
    assert_eq!(r.status, 200);
}

#[test]
fn maxclients_is_fitted_to_the_open_files_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = common::command(&dir.path().join("d"), &[], None);
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit,
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 512,
                rlim_max: 512,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let s = Server::launch(cmd);
    let mut c = s.conn();
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    let max: u64 = v[1].parse().unwrap();
    assert!(max < 512 && max > 100, "maxclients {max}");
    assert!(s.log_text().contains("open-files limit is too low"));
}

#[test]
fn debug_is_off_by_default_local_when_asked_and_sleep_replies_after_sleeping() {
    let s = Server::start();
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd(&[b"DEBUG", b"SLEEP", b"0"]),
        b"-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n".to_vec()
    );
    let r = raw.cmd(&[b"CONFIG", b"SET", b"enable-debug-command", b"yes"]);
    assert!(
        String::from_utf8_lossy(&r).contains("can't set immutable config"),
        "{r:?}"
    );
    let s = Server::start_with(&[], Some("security:\n  enable_debug_command: local\n"));
    let mut raw = s.raw();
    let started = Instant::now();
    raw.send(&Raw::frame(&[b"DEBUG", b"SLEEP", b"0.4"]));
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    assert!(started.elapsed() >= Duration::from_millis(400));
    // `local` refuses clients from other addresses.
    let s = Server::start_with(
        &["--bind", "0.0.0.0"],
        Some("security:\n  enable_debug_command: local\n  requirepass: pw\n"),
    );
    let mut remote = Raw::connect(SocketAddr::new(outside_ip(), s.addr.port()));
    assert_eq!(remote.cmd(&[b"AUTH", b"pw"]), b"+OK\r\n");
    let r = remote.cmd(&[b"DEBUG", b"SLEEP", b"0"]);
    assert!(r.starts_with(b"-ERR DEBUG command not allowed"), "{r:?}");
}

#[test]
fn a_secured_cluster_replicates_forwards_repairs_and_rejoins() {
    let mut c = TestCluster::start_secured(
        3,
        "  replication_factor: 2\n",
        Some("cluster-secret-1"),
        Some("pw"),
    );
    let mut a = c.conn(0);
    for i in 0..50 {
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut a)
            .unwrap();
    }
    // Every key through every node: forwarded where the node holds no replica.
    for n in 0..3 {
        let mut x = c.conn(n);
        for i in 0..50 {
            let v: i64 = redis::cmd("GET")
                .arg(format!("k{i}"))
                .query(&mut x)
                .unwrap();
            assert_eq!(v, i);
        }
    }
    // HTTP relays carry the caller's token.
    for n in 0..3 {
        let r = request(
            "GET",
            &format!("{}/api/cache/k7", c.server(n).http_url()),
            None,
            &[("Authorization", "Bearer pw")],
        );
        assert_eq!(r.status, 200, "node {}: {}", n + 1, r.text);
    }
    // A node restarted from its files rejoins and catches up.
    c.kill(1);
    let () = redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut a)
        .unwrap();
    c.restart(1);
    c.wait_size(3);
    c.wait_converged();
    let mut b = c.conn(1);
    let v: Option<String> = redis::cmd("GET").arg("after").query(&mut b).unwrap();
    assert_eq!(v.as_deref(), Some("1"));
    for n in 0..3 {
        let mut x = c.conn(n);
        assert_eq!(
            info_field(&mut x, "stats", "hypercache_auth_failures_peer"),
            "0"
        );
        assert_eq!(
            info_field(&mut x, "cluster", "hypercache_gossip_rejected"),
            "0"
        );
    }
    assert!(
        !c.server(0).log_text().contains("cluster-secret-1"),
        "the secret was logged"
    );
}

#[test]
fn a_node_with_a_wrong_secret_is_kept_out() {
    let mut c = TestCluster::start_secured(2, "", Some("right"), None);
    // A third node, seeded to the others, with another secret.
    c.secret = Some("wrong".into());
    let i = c.add_node();
    std::thread::sleep(Duration::from_secs(3));
    for n in 0..2 {
        let mut x = c.conn(n);
        assert_eq!(
            common::cluster::info(&mut x, "hypercache_cluster_size"),
            "2",
            "node {} let the stranger in",
            n + 1
        );
        let rejected: u64 = info_field(&mut x, "cluster", "hypercache_gossip_rejected")
            .parse()
            .unwrap();
        assert!(rejected > 0, "node {} saw no bad datagram", n + 1);
    }
    let mut stranger = c.conn(i);
    assert_eq!(
        common::cluster::info(&mut stranger, "hypercache_cluster_size"),
        "1"
    );
    let () = redis::cmd("SET")
        .arg("intrusion")
        .arg("1")
        .query(&mut stranger)
        .unwrap();
    let mut a = c.conn(0);
    let () = redis::cmd("SET")
        .arg("secret-data")
        .arg("1")
        .query(&mut a)
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let v: Option<String> = redis::cmd("GET").arg("intrusion").query(&mut a).unwrap();
    assert_eq!(v, None);
    let v: Option<String> = redis::cmd("GET")
        .arg("secret-data")
        .query(&mut stranger)
        .unwrap();
    assert_eq!(v, None);
    // Its peer handshake fails too.
    assert!(peer_conn(c.server(0).addr, Some("wrong")).is_err());
    assert!(peer_conn(c.server(0).addr, Some("right")).is_ok());
}

fn aof_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("aof-"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// Waits until a file size stops changing for a while, and returns it.
fn settled(f: impl Fn() -> u64) -> u64 {
    let mut last = f();
    let mut stable = 0;
    while stable < 5 {
        std::thread::sleep(Duration::from_millis(200));
        let now = f();
        if now == last {
            stable += 1;
        } else {
            stable = 0;
            last = now;
        }
    }
    last
}

#[test]
fn small_changes_to_a_big_value_are_small_records_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let yaml = "persistence:\n  max_log_size: 1GB\n";
    let mut s = Server::start_in(&data, Some(yaml));
    let mut c = s.conn();
    let () = redis::cmd("SET")
        .arg("v")
        .arg(vec![b'x'; 64 << 20])
        .query(&mut c)
        .unwrap();
    let before = settled(|| aof_bytes(&data));
    assert!(before > 64 << 20);
    for i in 0..1000u64 {
        let _: i64 = redis::cmd("SETRANGE")
            .arg("v")
            .arg(i * 65_536)
            .arg("y")
            .query(&mut c)
            .unwrap();
    }
    let after = settled(|| aof_bytes(&data));
    assert!(
        after - before < 1 << 20,
        "1,000 one-byte SETRANGEs wrote {} bytes to the AOF",
        after - before
    );
    // And the value comes back whole from those records.
    assert!(s.terminate().success());
    let s = Server::start_in(&data, Some(yaml));
    let mut c = s.conn();
    let v: Vec<u8> = redis::cmd("GET").arg("v").query(&mut c).unwrap();
    assert_eq!(v.len(), 64 << 20);
    for (i, b) in v.iter().enumerate() {
        let want = if i % 65_536 == 0 && i / 65_536 < 1000 {
            b'y'
        } else {
            b'x'
        };
        assert_eq!(*b, want, "byte {i}");
    }
}

#[test]
fn small_changes_to_a_big_value_are_small_records_on_the_wire() {
    let c = TestCluster::start(2, "");
    let mut a = c.conn(0);
    let mut b = c.conn(1);
    let () = redis::cmd("SET")
        .arg("v")
        .arg(vec![b'x'; 8 << 20])
        .query(&mut a)
        .unwrap();
    common::cluster::wait("the value on node 2", Duration::from_secs(20), || {
        redis::cmd("STRLEN").arg("v").query::<i64>(&mut b).unwrap() == 8 << 20
    });
    let sent = |a: &mut redis::Connection| -> u64 {
        let text: String = redis::cmd("INFO").arg("cluster").query(a).unwrap();
        text.split([',', '\n'])
            .filter_map(|f| f.trim().strip_prefix("sent_bytes="))
            .map(|v| v.parse::<u64>().unwrap())
            .sum()
    };
    // APPEND and SETRANGE run on the key's owner, either node: both nodes' streams count.
    let before = sent(&mut a) + sent(&mut b);
    for i in 0..1000u64 {
        let _: i64 = redis::cmd("APPEND")
            .arg("v")
            .arg("z")
            .query(&mut a)
            .unwrap();
        let _: i64 = redis::cmd("SETRANGE")
            .arg("v")
            .arg(i * 8_192)
            .arg("y")
            .query(&mut a)
            .unwrap();
    }
    common::cluster::wait("node 2 to converge", Duration::from_secs(20), || {
        let want: Vec<u8> = redis::cmd("GET").arg("v").query(&mut a).unwrap();
        want.len() == (8 << 20) + 1000
            && redis::cmd("GET").arg("v").query::<Vec<u8>>(&mut b).unwrap() == want
    });
    let grew = sent(&mut a) + sent(&mut b) - before;
    let cluster_info = |c: &mut redis::Connection| -> String {
        redis::cmd("INFO").arg("cluster").query(c).unwrap()
    };
    assert!(
        grew < 1 << 20,
        "2,000 small changes sent {grew} bytes to the replica\nnode 1: {}\nnode 2: {}",
        cluster_info(&mut a),
        cluster_info(&mut b)
    );
    assert_eq!(
        info_field(&mut b, "cluster", "hypercache_replication_deltas_behind"),
        "0"
    );
}

#[test]
fn a_change_to_a_version_a_replica_never_saw_makes_it_fetch_the_value() {
    let c = TestCluster::start(2, "");
    let mut a = c.conn(0);
    let () = redis::cmd("SET")
        .arg("k")
        .arg("hello")
        .query(&mut a)
        .unwrap();
    let mut b = c.conn(1);
    common::cluster::wait("the key on node 2", Duration::from_secs(10), || {
        redis::cmd("GET")
            .arg("k")
            .query::<Option<String>>(&mut b)
            .unwrap()
            .is_some()
    });
    let queries: u64 = info_field(&mut b, "cluster", "hypercache_read_repair_queries")
        .parse()
        .unwrap();
    // A splice on top of a version node 2 does not hold.
    let mut p = c.peer_conn(1);
    let m = Mutation {
        db: 0,
        stamp: Stamp {
            lamport: 1_000,
            node: hypercache::store::stamp::nodes::hash("node-1"),
        },
        origin: Origin::Local,
        trace: None,
        op: Op::Splice {
            key: b"k",
            offset: 0,
            bytes: b"J",
            base: Stamp {
                lamport: 999,
                node: hypercache::store::stamp::nodes::hash("node-1"),
            },
        },
    };
    let _: i64 = hcrepl(&[m]).query(&mut p).unwrap();
    assert_eq!(
        info_field(&mut b, "cluster", "hypercache_replication_deltas_behind"),
        "1"
    );
    common::cluster::wait("node 2 to ask its peer", Duration::from_secs(5), || {
        info_field(&mut b, "cluster", "hypercache_read_repair_queries")
            .parse::<u64>()
            .unwrap()
            > queries
    });
    let v: String = redis::cmd("GET").arg("k").query(&mut b).unwrap();
    assert_eq!(v, "hello", "the splice was applied to the wrong version");
}

#[test]
fn a_secured_pair_read_repairs_a_key_only_one_node_holds() {
    let c = TestCluster::start_secured(2, "", Some("pair-secret"), Some("pw"));
    // A version only node 1 holds: applied there as a peer's write, so never streamed on.
    let mut p = c.peer_conn(0);
    let _: i64 = hcrepl(&[set_record(b"only-on-1", b"v", 100)])
        .query(&mut p)
        .unwrap();
    let mut a = c.conn(0);
    let v: String = redis::cmd("GET").arg("only-on-1").query(&mut a).unwrap();
    assert_eq!(v, "v");
    // Node 2 gets it on its miss, over authenticated connections: node 1 no longer vouches
    // for its stream (it holds a write from outside its ring), so node 2 asks for the key —
    // or node 1's anti-entropy pass already pushed it.
    let mut b = c.conn(1);
    let v: Option<String> = redis::cmd("GET").arg("only-on-1").query(&mut b).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let figure = |c: &mut redis::Connection, f: &str| -> u64 {
        info_field(c, "cluster", f).parse().unwrap()
    };
    assert!(
        figure(&mut b, "hypercache_read_repairs")
            + figure(&mut a, "hypercache_anti_entropy_keys_pushed")
            >= 1
    );
    assert_eq!(
        info_field(&mut a, "stats", "hypercache_auth_failures_peer"),
        "0"
    );
}

#[test]
fn a_collection_edit_to_a_version_a_replica_never_saw_makes_it_fetch_the_value() {
    let c = TestCluster::start(2, "");
    let mut a = c.conn(0);
    let _: i64 = redis::cmd("RPUSH")
        .arg("l")
        .arg("a")
        .arg("b")
        .query(&mut a)
        .unwrap();
    let mut b = c.conn(1);
    common::cluster::wait("the list on node 2", Duration::from_secs(10), || {
        redis::cmd("LLEN").arg("l").query::<i64>(&mut b).unwrap() == 2
    });
    let node1 = hypercache::store::stamp::nodes::hash("node-1");
    let push = |base: u64, edit: &[u8]| {
        let m = Mutation {
            db: 0,
            stamp: Stamp {
                lamport: 1_000,
                node: node1,
            },
            origin: Origin::Local,
            trace: None,
            op: Op::Edit {
                key: b"l",
                edit,
                base: Stamp {
                    lamport: base,
                    node: node1,
                },
            },
        };
        hcrepl(&[m])
    };
    let mut edit = Vec::new();
    hypercache::collections::edit::push(&mut edit, true, [&b"x"[..]].into_iter());
    // A forged edit (its count promises more than it holds) is refused, not half applied.
    let mut forged = edit.clone();
    forged[1] = 5;
    let mut p = c.peer_conn(1);
    let _: i64 = push(999, &forged).query(&mut p).unwrap();
    assert_eq!(
        info_field(&mut b, "cluster", "hypercache_replication_refused"),
        "1"
    );
    // A good edit on top of a version node 2 does not hold: it fetches the value instead.
    let _: i64 = push(999, &edit).query(&mut p).unwrap();
    assert_eq!(
        info_field(&mut b, "cluster", "hypercache_replication_deltas_behind"),
        "1"
    );
    common::cluster::wait("node 2 to ask its peer", Duration::from_secs(5), || {
        info_field(&mut b, "cluster", "hypercache_read_repair_queries")
            .parse::<u64>()
            .unwrap()
            > 0
    });
    let v: Vec<String> = redis::cmd("LRANGE")
        .arg("l")
        .arg(0)
        .arg(-1)
        .query(&mut b)
        .unwrap();
    assert_eq!(v, ["a", "b"], "the edit was applied to the wrong version");
}

/// Scoped HTTP tokens: read, write and admin, each refused (403, JSON) past its scope, an
/// unknown or missing token 401, and each request's identity in its log line.
#[test]
fn http_tokens_have_scopes() {
    let hash = |t: &str| hypercache::config::sha256_hex(t.as_bytes());
    let yaml = format!(
        "security:\n  metrics_auth: true\n  http_tokens:\n    - {{name: reader, scope: read, sha256: {}}}\n    - {{name: writer, scope: write, sha256: {}}}\n    - {{name: ops, scope: admin, sha256: {}}}\n",
        hash("r-secret"),
        hash("w-secret"),
        hash("a-secret")
    );
    let s = Server::start_with(&[], Some(&yaml));
    let base = s.http_url();
    let call = |method: &str, path: &str, token: Option<&str>, body: Option<&str>| {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        request(
            method,
            &format!("{base}{path}"),
            body.map(str::as_bytes),
            &headers,
        )
    };
    let put = Some(r#"{"value":"v"}"#);
    // Open routes stay open; the metrics need a token here (metrics_auth).
    assert_eq!(call("GET", "/health", None, None).status, 200);
    assert_eq!(call("GET", "/metrics", None, None).status, 401);
    assert_eq!(call("GET", "/metrics", Some("r-secret"), None).status, 200);
    let r = call("GET", "/api/cache/k", None, None);
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.json()["error"].as_str().unwrap().starts_with("NOAUTH"));
    let r = call("GET", "/api/cache/k", Some("nope"), None);
    assert_eq!(r.status, 401);
    assert!(r.json()["error"].as_str().unwrap().starts_with("WRONGPASS"));
    // (method, path, body, the least scope that may)
    let store = Some(r#"{"name":"scoped"}"#);
    let cases: &[(&str, &str, Option<&str>, usize)] = &[
        ("GET", "/api/cache/k", None, 0),
        ("GET", "/api/stores", None, 0),
        ("GET", "/api/cluster/members", None, 0),
        ("GET", "/stats", None, 0),
        ("PUT", "/api/cache/k", put, 1),
        (
            "POST",
            "/api/pubsub/news",
            Some(r#"{"message":"hello"}"#),
            1,
        ),
        ("DELETE", "/api/cache/k", None, 1),
        ("POST", "/api/stores", store, 2),
        ("PUT", "/api/stores/scoped/cache/k", put, 1),
        ("DELETE", "/api/stores/scoped", None, 2),
        ("GET", "/api/admin/persistence-stats", None, 2),
        ("GET", "/api/admin/log-level", None, 2),
    ];
    let tokens = ["r-secret", "w-secret", "a-secret"];
    for &(method, path, body, least) in cases {
        for (rank, token) in tokens.iter().enumerate() {
            if rank >= least {
                continue;
            }
            let r = call(method, path, Some(token), body);
            assert_eq!(r.status, 403, "{method} {path} with {token}: {}", r.text);
            let e = r.json()["error"].as_str().unwrap().to_string();
            assert!(e.starts_with("NOPERM") && e.contains("scope"), "{e}");
        }
        // The least scope that may does (the store is made before it is written to).
        let r = call(method, path, Some(tokens[least]), body);
        assert!(
            r.status < 400 || r.status == 404,
            "{method} {path} with {}: {} {}",
            tokens[least],
            r.status,
            r.text
        );
    }
    // Every request's log line names who made it.
    let log = s.log_text();
    for who in ["reader", "writer", "ops"] {
        assert!(
            log.lines().any(|l| l.contains(r#""action":"request""#)
                && l.contains(&format!(r#""identity":"{who}""#))),
            "no request line of {who}"
        );
    }
    assert!(!log.contains("r-secret") && !log.contains("a-secret"));
}
