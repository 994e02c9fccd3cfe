//! Pub/sub through real clients: Redis's replies in RESP2 and RESP3, patterns and shard
//! channels, messages published on any node of a cluster reaching every subscriber once and in
//! order, a subscriber that does not read cut off, and the HTTP API's event stream.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use common::{Raw, Server};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn replies(raw: &mut Raw, n: usize) -> Vec<String> {
    (0..n).map(|_| text(&raw.read_reply())).collect()
}

#[test]
fn subscribers_get_redis_replies_in_both_protocols() {
    let s = Server::start();
    // Byte for byte as redis-server 7.0 answers (checked side by side).
    let mut raw = Raw::connect(s.addr);
    raw.send(b"SUBSCRIBE a b\r\nGET x\r\nPING\r\nPING hi\r\nPUBLISH a m\r\nUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nPING\r\n");
    assert_eq!(
        replies(&mut raw, 6),
        [
            "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n",
            "*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
            "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
            "*2\r\n$4\r\npong\r\n$0\r\n\r\n",
            "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n",
            "-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
        ]
    );
    // UNSUBSCRIBE of all: one confirmation per channel (in the order of the server's table),
    // counting down; then one with a null channel.
    let mut all = replies(&mut raw, 3);
    assert!(
        all[0].ends_with(":1\r\n") && all[1].ends_with(":0\r\n"),
        "{all:?}"
    );
    all[0] = all[0].replace(":1\r\n", "");
    all[1] = all[1].replace(":0\r\n", "");
    all[..2].sort();
    assert_eq!(
        all,
        [
            "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n",
            "*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n",
            "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
        ]
    );
    assert_eq!(text(&raw.read_reply()), "+PONG\r\n");
    // RESP3: pushes, and any command between them; a message to oneself comes before
    // PUBLISH's reply.
    let mut raw = Raw::connect(s.addr);
    raw.send(
        b"HELLO 3\r\nSUBSCRIBE a\r\nGET x\r\nPUBLISH a m\r\nPSUBSCRIBE a*\r\nPUBLISH ab n\r\n",
    );
    raw.read_reply();
    assert_eq!(
        replies(&mut raw, 7),
        [
            ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n",
            "_\r\n",
            ">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n",
            ":1\r\n",
            ">3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:2\r\n",
            ">4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$2\r\nab\r\n$1\r\nn\r\n",
            ":1\r\n",
        ]
    );
}

#[test]
fn patterns_shard_channels_and_introspection() {
    let s = Server::start();
    let mut sub = Raw::connect(s.addr);
    sub.send(b"SUBSCRIBE news.1 news.2\r\nPSUBSCRIBE news.* n?ws.1\r\nSSUBSCRIBE orders\r\n");
    let confirms = replies(&mut sub, 5);
    assert!(
        confirms[4].contains("ssubscribe") && confirms[4].ends_with(":1\r\n"),
        "{confirms:?}"
    );
    let mut c = s.conn();
    // news.1: its channel and both patterns.
    let n: i64 = redis::cmd("PUBLISH")
        .arg("news.1")
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 3);
    let got = replies(&mut sub, 3);
    assert_eq!(got[0], "*3\r\n$7\r\nmessage\r\n$6\r\nnews.1\r\n$1\r\nx\r\n");
    let mut patterns: Vec<&str> = got[1..].iter().map(String::as_str).collect();
    patterns.sort();
    assert_eq!(
        patterns,
        [
            "*4\r\n$8\r\npmessage\r\n$6\r\nn?ws.1\r\n$6\r\nnews.1\r\n$1\r\nx\r\n",
            "*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$6\r\nnews.1\r\n$1\r\nx\r\n",
        ]
    );
    // A shard channel is separate: PUBLISH does not reach it, SPUBLISH does.
    let n: i64 = redis::cmd("PUBLISH")
        .arg("orders")
        .arg("y")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 0);
    let n: i64 = redis::cmd("SPUBLISH")
        .arg("orders")
        .arg("z")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        text(&sub.read_reply()),
        "*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$1\r\nz\r\n"
    );
    let mut channels: Vec<String> = redis::cmd("PUBSUB").arg("CHANNELS").query(&mut c).unwrap();
    channels.sort();
    assert_eq!(channels, ["news.1", "news.2"]);
    let only: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .arg("*2")
        .query(&mut c)
        .unwrap();
    assert_eq!(only, ["news.2"]);
    let numsub: Vec<redis::Value> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("news.1")
        .arg("none")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        format!("{numsub:?}"),
        r#"[bulk-string('"news.1"'), int(1), bulk-string('"none"'), int(0)]"#
    );
    let numpat: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query(&mut c).unwrap();
    assert_eq!(numpat, 2);
    let shard: Vec<String> = redis::cmd("PUBSUB")
        .arg("SHARDCHANNELS")
        .query(&mut c)
        .unwrap();
    assert_eq!(shard, ["orders"]);
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
    assert!(list.contains("flags=P db=0 sub=2 psub=2 ssub=1"), "{list}");
    let e = redis::cmd("PUBSUB")
        .arg("NUMPAT")
        .arg("x")
        .query::<i64>(&mut c)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("wrong number of arguments for 'pubsub|numpat'"),
        "{e}"
    );
    // A subscriber that leaves is forgotten.
    drop(sub);
    common::cluster::wait(
        "the subscriber to be forgotten",
        Duration::from_secs(5),
        || {
            redis::cmd("PUBSUB")
                .arg("NUMPAT")
                .query::<i64>(&mut c)
                .unwrap()
                == 0
        },
    );
    let channels: Vec<String> = redis::cmd("PUBSUB").arg("CHANNELS").query(&mut c).unwrap();
    assert!(channels.is_empty(), "{channels:?}");
}

#[test]
fn a_subscriber_that_does_not_read_is_cut_off() {
    let s = Server::start();
    let mut c = s.conn();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 1mb 256kb 1")
        .query(&mut c)
        .unwrap();
    let mut slow = Raw::connect(s.addr);
    // A small receive buffer, so that the kernel does not hold what the mailbox should.
    slow.send(b"SUBSCRIBE firehose\r\n");
    slow.read_reply();
    let mut fast = Raw::connect(s.addr);
    fast.send(b"SUBSCRIBE firehose\r\n");
    fast.read_reply();
    let payload = "x".repeat(64 * 1024);
    let started = Instant::now();
    let mut cut = false;
    let mut received = 0;
    while started.elapsed() < Duration::from_secs(20) {
        let _: i64 = redis::cmd("PUBLISH")
            .arg("firehose")
            .arg(&payload)
            .query(&mut c)
            .unwrap();
        // The fast subscriber keeps up.
        let m = fast.read_reply();
        assert!(m.ends_with(format!("{payload}\r\n").as_bytes()));
        received += 1;
        let n: i64 = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("firehose")
            .query::<Vec<redis::Value>>(&mut c)
            .map(|v| match v[1] {
                redis::Value::Int(n) => n,
                _ => -1,
            })
            .unwrap();
        if n == 1 {
            cut = true;
            break;
        }
    }
    assert!(
        cut,
        "the slow subscriber is still there after {received} messages"
    );
    // Cut off well before all of it could have piled up, and the node serves on.
    assert!(received < 2000, "{received}");
    // What reached its socket before the cut, then the end.
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut sink = vec![0u8; 1 << 20];
    let closed = loop {
        match std::io::Read::read(&mut slow.stream, &mut sink) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) => break e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    };
    assert!(closed, "the slow subscriber's connection is still open");
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let log = s.log_text();
    assert!(log.contains("output_buffer_limit"), "{log}");
}

#[test]
fn messages_reach_every_node_once_and_in_order() {
    let c = common::cluster::TestCluster::start(3, "");
    // A subscriber on each node, to a channel and a pattern.
    let mut subs: Vec<Raw> = (0..3)
        .map(|i| {
            let mut r = Raw::connect(c.server(i).addr);
            r.send(b"SUBSCRIBE events\r\nPSUBSCRIBE ev*\r\n");
            replies(&mut r, 2);
            r
        })
        .collect();
    // Each node publishes its own sequence.
    let mut pubs: Vec<redis::Connection> = (0..3).map(|i| c.conn(i)).collect();
    const N: usize = 50;
    for k in 0..N {
        for (i, p) in pubs.iter_mut().enumerate() {
            let n: i64 = redis::cmd("PUBLISH")
                .arg("events")
                .arg(format!("{i}:{k}"))
                .query(p)
                .unwrap();
            // This node's receivers: its subscriber, by channel and by pattern.
            assert_eq!(n, 2);
        }
    }
    for (at, sub) in subs.iter_mut().enumerate() {
        let mut next = [0usize; 3];
        let mut next_p = [0usize; 3];
        for _ in 0..2 * 3 * N {
            let m = text(&sub.read_reply());
            let body = m.rsplit("\r\n").nth(1).unwrap().to_string();
            let (from, k) = body.split_once(':').unwrap();
            let (from, k): (usize, usize) = (from.parse().unwrap(), k.parse().unwrap());
            let seen = if m.contains("pmessage") {
                &mut next_p
            } else {
                &mut next
            };
            assert_eq!(
                k, seen[from],
                "node {at}: from node {from}, out of order or twice"
            );
            seen[from] += 1;
        }
        assert_eq!((next, next_p), ([N; 3], [N; 3]), "node {at}");
    }
    // Nothing more: each once.
    for sub in &mut subs {
        assert!(
            sub.quiet_for(Duration::from_millis(300)),
            "a message came twice"
        );
    }
}

/// Reads Server-Sent Events from `GET /api/pubsub/{channel}` until `n` messages came.
fn sse(url: &str, ready: std::sync::mpsc::Sender<()>, n: usize) -> Vec<serde_json::Value> {
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let path = url.splitn(4, '/').nth(3).unwrap().to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(s).lines();
    let mut events = Vec::new();
    let mut event = String::new();
    while events.len() < n {
        let line = lines.next().unwrap().unwrap();
        if let Some(e) = line.strip_prefix("event: ") {
            event = e.to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            if event == "subscribe" {
                ready.send(()).unwrap();
            } else {
                events.push(serde_json::from_str(d).unwrap());
            }
        }
    }
    events
}

#[test]
fn http_streams_and_publishes_across_the_cluster() {
    let c = common::cluster::TestCluster::start(2, "");
    let url = format!("{}/api/pubsub/chat%2Froom", c.server(1).http_url());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || sse(&url, tx, 2));
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // Published over RESP on one node and over HTTP on the other.
    let _: i64 = redis::cmd("PUBLISH")
        .arg("chat/room")
        .arg("hi")
        .query(&mut c.conn(0))
        .unwrap();
    let r = common::http::request(
        "POST",
        &format!("{}/api/pubsub/chat%2Froom", c.server(0).http_url()),
        Some(br#"{"message": {"n": 1}}"#),
        &[("content-type", "application/json")],
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["channel"], "chat/room");
    let events = reader.join().unwrap();
    assert_eq!(events[0]["message"], "hi");
    assert_eq!(events[0]["channel"], "chat/room");
    assert_eq!(events[1]["message"], r#"{"n":1}"#);
    let bad = common::http::request(
        "POST",
        &format!("{}/api/pubsub/x", c.server(0).http_url()),
        Some(b"not json"),
        &[],
    );
    assert_eq!(bad.status, 400);
    let _ = std::io::stdout().flush();
}

#[test]
fn a_peer_message_record_that_does_not_decode_is_refused() {
    let s = Server::start();
    let mut sub = Raw::connect(s.addr);
    sub.send(b"SUBSCRIBE ch\r\n");
    sub.read_reply();
    let mut p = common::cluster::peer_conn(s.addr, None).unwrap();
    let batch = |payload: &[u8]| {
        let mut b = Vec::new();
        hypercache::persist::codec::frame(&mut b, |p| p.extend_from_slice(payload));
        b
    };
    let hcrepl = |p: &mut redis::Connection, records: Vec<u8>, end: i64| {
        redis::cmd("HCREPL")
            .arg("test-probe")
            .arg(end)
            .arg(0)
            .arg(records)
            .arg(7)
            .query::<i64>(p)
    };
    // A message tag with a length past its end, and one with bytes left over.
    for bad in [&[0xC1, 0, 0xff, 0xff][..], &[0xC1, 0, 1, b'c', 1, b'm', 9]] {
        let e = hcrepl(&mut p, batch(bad), 10).unwrap_err();
        assert!(e.to_string().contains("bad replication record"), "{e}");
    }
    // A good one is delivered, once: the same batch again (a resend) is not.
    let mut good = vec![0xC1, 0];
    for part in [&b"ch"[..], b"hello"] {
        good.push(part.len() as u8);
        good.extend_from_slice(part);
    }
    assert_eq!(hcrepl(&mut p, batch(&good), 20).unwrap(), 20);
    assert_eq!(hcrepl(&mut p, batch(&good), 20).unwrap(), 20);
    assert_eq!(
        text(&sub.read_reply()),
        "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n"
    );
    assert!(sub.quiet_for(Duration::from_millis(300)), "delivered twice");
}
