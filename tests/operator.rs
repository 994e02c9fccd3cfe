//! The operator's commands against the real binary: SLOWLOG and LATENCY, their replies
//! compared byte for byte with a real redis-server where they do not depend on timing.

mod common;

use common::{Raw, Reference, Server};
use redis::Value;

/// The same commands to redis-server and to us: replies that do not depend on time or on
/// what ran before must be the same bytes.
#[test]
fn slowlog_and_latency_answer_as_redis_does() {
    let redis = Reference::start();
    let hc = Server::start();
    let mut want = Raw::connect(redis.addr);
    let mut got = Raw::connect(hc.addr);
    let script: &[&[&[u8]]] = &[
        &[b"SLOWLOG", b"HELP"],
        &[b"SLOWLOG", b"GET", b"-2"],
        &[b"SLOWLOG", b"GET", b"x"],
        &[b"SLOWLOG", b"LEN", b"x"],
        &[b"SLOWLOG", b"RESET"],
        &[b"SLOWLOG", b"BOGUS"],
        &[b"SLOWLOG"],
        &[b"LATENCY", b"HISTORY"],
        &[b"LATENCY", b"HISTORY", b"command"],
        &[b"LATENCY", b"LATEST"],
        &[b"LATENCY", b"RESET", b"command", b"nope"],
        &[b"LATENCY", b"DOCTOR"],
        // One at a time: redis-server lists a pattern's matches in its hash order.
        &[b"CONFIG", b"GET", b"slowlog-log-slower-than"],
        &[b"CONFIG", b"GET", b"slowlog-max-len"],
        &[b"CONFIG", b"GET", b"latency-monitor-threshold"],
        &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-5"],
        &[b"CONFIG", b"SET", b"slowlog-max-len", b"-1"],
        &[b"CONFIG", b"SET", b"latency-monitor-threshold", b"100"],
        &[b"LATENCY", b"DOCTOR"],
        &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"],
        &[b"SET", b"k", b"v"],
        &[b"SLOWLOG", b"GET"],
        &[b"SLOWLOG", b"LEN"],
        // Neither was started with a config file.
        &[b"CONFIG", b"REWRITE"],
        &[b"CONFIG", b"HELP"],
    ];
    for cmd in script {
        let (w, g) = (want.cmd(cmd), got.cmd(cmd));
        assert_eq!(
            String::from_utf8_lossy(&w),
            String::from_utf8_lossy(&g),
            "{:?}",
            cmd.iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>()
        );
    }
}

fn entries(c: &mut redis::Connection, n: i64) -> Vec<Vec<Value>> {
    let v: Vec<Value> = redis::cmd("SLOWLOG").arg("GET").arg(n).query(c).unwrap();
    v.into_iter()
        .map(|e| match e {
            Value::Array(items) => items,
            other => panic!("an entry is an array: {other:?}"),
        })
        .collect()
}

fn args_of(e: &[Value]) -> Vec<String> {
    match &e[3] {
        Value::Array(a) => a
            .iter()
            .map(|v| match v {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn slow_commands_are_logged_with_their_client_cut_and_redacted() {
    let s = Server::start();
    let mut c = s.conn();
    let () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("billing")
        .query(&mut c)
        .unwrap();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(0)
        .query(&mut c)
        .unwrap();
    let () = redis::cmd("SLOWLOG").arg("RESET").query(&mut c).unwrap();
    let long = "x".repeat(200);
    let mut push = redis::cmd("RPUSH");
    push.arg("list");
    for _ in 0..40 {
        push.arg(&long);
    }
    let _: i64 = push.query(&mut c).unwrap();
    let (): () = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("a")
        .arg(1)
        .ignore()
        .cmd("INCR")
        .arg("a")
        .ignore()
        .query(&mut c)
        .unwrap();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("hunter2")
        .query(&mut c)
        .unwrap();
    let () = redis::cmd("AUTH").arg("hunter2").query(&mut c).unwrap();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("")
        .query(&mut c)
        .unwrap();
    let _: Value = redis::cmd("HELLO")
        .arg(2)
        .arg("AUTH")
        .arg("default")
        .arg("anything")
        .query(&mut c)
        .unwrap_or(Value::Nil);
    let all = entries(&mut c, -1);
    let logged: Vec<Vec<String>> = all.iter().map(|e| args_of(e)).collect();
    let heads: Vec<&str> = logged.iter().map(|a| a[0].as_str()).collect();
    // Newest first; EXEC's commands one by one (and MULTI, not EXEC); passwords redacted.
    assert_eq!(
        heads,
        [
            "HELLO", "CONFIG", "AUTH", "CONFIG", "INCR", "SET", "MULTI", "RPUSH", "SLOWLOG"
        ],
        "{logged:?}"
    );
    assert_eq!(
        logged[0],
        ["HELLO", "2", "AUTH", "(redacted)", "(redacted)"]
    );
    assert_eq!(logged[1], ["CONFIG", "SET", "requirepass", "(redacted)"]);
    assert_eq!(logged[2], ["AUTH", "(redacted)"]);
    assert_eq!(logged[3], ["CONFIG", "SET", "requirepass", "(redacted)"]);
    let rpush = &logged[7];
    assert_eq!(rpush.len(), 32);
    assert_eq!(rpush[2], format!("{}... (72 more bytes)", &long[..128]));
    assert_eq!(rpush[31], "... (11 more arguments)");
    // id, time, µs, args, addr, name.
    let e = &all[7];
    let (Value::Int(id), Value::Int(time), Value::Int(us)) = (&e[0], &e[1], &e[2]) else {
        panic!("{e:?}")
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - time).abs() <= 5, "{time} vs {now}");
    assert!(*us >= 0 && *id >= 1);
    let addr = match &e[4] {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_eq!(e[5], Value::BulkString(b"billing".to_vec()));
    assert_eq!(entries(&mut c, 2).len(), 2);
    let len: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut c).unwrap();
    assert_eq!(len, all.len() as i64 + 2, "the GET -1 and GET 2 themselves");
    // A shorter log keeps the newest; -1 stops logging.
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-max-len")
        .arg(2)
        .query(&mut c)
        .unwrap();
    let len: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut c).unwrap();
    assert_eq!(len, 2);
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(-1)
        .query(&mut c)
        .unwrap();
    let () = redis::cmd("SLOWLOG").arg("RESET").query(&mut c).unwrap();
    let _: () = redis::cmd("SET").arg("q").arg(1).query(&mut c).unwrap();
    let len: i64 = redis::cmd("SLOWLOG").arg("LEN").query(&mut c).unwrap();
    assert_eq!(len, 0);
}

#[test]
fn a_latency_spike_is_recorded_for_its_event() {
    let s = Server::start();
    let mut c = s.conn();
    // A list to sort: SORT is not a fast command, so its spike is a `command` event.
    for chunk in 0..20 {
        let mut push = redis::cmd("RPUSH");
        push.arg("big");
        for i in 0..10_000 {
            push.arg((chunk * 10_000 + i) * 7919 % 200_003);
        }
        let _: i64 = push.query(&mut c).unwrap();
    }
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("latency-monitor-threshold")
        .arg(1)
        .query(&mut c)
        .unwrap();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    let sorted: Vec<i64> = redis::cmd("SORT").arg("big").query(&mut c).unwrap();
    assert_eq!(sorted.len(), 200_000);
    let latest: Vec<(String, i64, i64, i64)> =
        redis::cmd("LATENCY").arg("LATEST").query(&mut c).unwrap();
    let command = latest.iter().find(|l| l.0 == "command");
    let Some((_, _, ms, max)) = command else {
        panic!("no command spike: {latest:?}")
    };
    assert!(*ms >= 1 && max >= ms, "{latest:?}");
    // The same command is in the slow log, with its time.
    let slow = entries(&mut c, -1);
    assert!(
        slow.iter().any(|e| args_of(e) == ["SORT", "big"]),
        "{slow:?}"
    );
    let history: Vec<(i64, i64)> = redis::cmd("LATENCY")
        .arg("HISTORY")
        .arg("command")
        .query(&mut c)
        .unwrap();
    assert!(!history.is_empty());
    let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(&mut c).unwrap();
    assert!(doctor.contains(". command: "), "{doctor}");
    let n: i64 = redis::cmd("LATENCY").arg("RESET").query(&mut c).unwrap();
    assert_eq!(n as usize, latest.len());
    let latest: Vec<Value> = redis::cmd("LATENCY").arg("LATEST").query(&mut c).unwrap();
    assert!(latest.is_empty());
}

/// What a monitor sees of `commands`, with each line's time and client port taken out.
fn monitor_lines(addr: std::net::SocketAddr, commands: &[&[&[u8]]], want: usize) -> Vec<String> {
    use std::io::{Read, Write};
    let mut mon = std::net::TcpStream::connect(addr).unwrap();
    mon.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    mon.write_all(b"MONITOR\r\n").unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(b"+OK\r\n") {
        let n = mon.read(&mut chunk).unwrap();
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.clear();
    let mut other = Raw::connect(addr);
    for c in commands {
        other.cmd(c);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while buf.iter().filter(|&&b| b == b'\n').count() < want && std::time::Instant::now() < deadline
    {
        if let Ok(n) = mon.read(&mut chunk) {
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .map(|l| {
            // "+<secs>.<usecs> [<db> <addr>] args" -> "[<db>] args"
            let (head, rest) = l.split_once("] ").unwrap_or((l, ""));
            let db = head
                .split('[')
                .nth(1)
                .and_then(|d| d.split(' ').next())
                .unwrap_or("?");
            assert!(l.starts_with('+') && head.contains("127.0.0.1:"), "{l}");
            format!("[{db}] {rest}")
        })
        .collect()
}

#[test]
fn monitor_shows_what_redis_shows() {
    let redis = Reference::start();
    let hc = Server::start();
    let script: &[&[&[u8]]] = &[
        &[b"SET", b"k", b"a b\"c\n\x01"],
        &[b"GET", b"k"],
        &[b"MULTI"],
        &[b"INCR", b"n"],
        &[b"EXEC"],
        &[b"AUTH", b"nobody-has-this"],
        &[b"CONFIG", b"GET", b"maxmemory"],
        &[b"SELECT", b"2"],
        &[b"SET", b"x", b"1"],
        &[b"PING"],
    ];
    let want = monitor_lines(redis.addr, script, 9);
    let got = monitor_lines(hc.addr, script, 9);
    assert!(want.len() >= 8, "{want:?}");
    assert_eq!(got, want);
}

/// CONFIG REWRITE: what CONFIG SET changed goes into the node's file, in place, and the node
/// starts again with it.
#[test]
fn config_rewrite_writes_the_changes_into_the_file() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("node");
    let file = dir.with_extension("yaml");
    let yaml = "# the operator's own notes\ncache:\n  max_memory: 1GB   # sized for the box\n  maxclients: 500\npersistence:\n  strategy: disabled\n";
    let s = Server::start_in(&dir, Some(yaml));
    let mut c = s.conn();
    for (name, value) in [
        ("maxmemory", "64mb"),
        ("maxmemory-policy", "allkeys-lfu"),
        ("hz", "20"),
        ("loglevel", "debug"),
        ("notify-keyspace-events", "KEA"),
        ("protected-mode", "no"),
    ] {
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query(&mut c)
            .unwrap();
    }
    let () = redis::cmd("CONFIG").arg("REWRITE").query(&mut c).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# the operator's own notes\ncache:\n"),
        "{text}"
    );
    assert!(
        text.contains("  max_memory: 67108864   # sized for the box\n"),
        "{text}"
    );
    assert!(
        text.contains("  maxclients: 500\n"),
        "unchanged keys stay: {text}"
    );
    for line in [
        "  eviction_policy: lfu\n",
        "  cleanup_interval: 50ms\n",
        "  notify_keyspace_events: AKE\n",
        "  protected_mode: false\n",
        "  level: debug\n",
    ] {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
    drop(c);
    drop(s);
    // The node comes back with what was rewritten.
    let s = Server::start_in(&dir, Some(&text));
    let mut c = s.conn();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query(&mut c)
        .unwrap();
    assert_eq!(got, ["maxmemory-policy", "allkeys-lfu"]);
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hz")
        .query(&mut c)
        .unwrap();
    assert_eq!(got, ["hz", "20"]);
}

/// A monitor that never reads is cut off at the replica output-buffer limit; the node and
/// its other clients go on.
#[test]
fn a_monitor_that_does_not_read_is_cut_off() {
    let s = Server::start();
    let mut c = s.conn();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("replica 65536 0 0")
        .query(&mut c)
        .unwrap();
    let mut mon = Raw::connect(s.addr);
    assert_eq!(mon.cmd(&[b"MONITOR"]), b"+OK\r\n");
    // More than the kernel's socket buffers take, so the rest waits in the mailbox.
    let big = "x".repeat(4096);
    for i in 0..4000 {
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(&big)
            .query(&mut c)
            .unwrap();
    }
    // What reached the socket before the cut is still there to read; then the end.
    assert!(
        mon.drains_to_end(std::time::Duration::from_secs(20)),
        "the monitor was not cut off"
    );
    let v: String = redis::cmd("GET").arg("k3999").query(&mut c).unwrap();
    assert_eq!(v.len(), 4096);
}
