//! Protocol edge cases over raw TCP against the real binary.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{Raw, Server};

#[test]
fn a_frame_split_at_every_offset_is_understood() {
    let s = Server::start();
    let frame = Raw::frame(&[b"SET", b"split\r\nkey", b"va\0lue\r\n"]);
    let mut raw = s.raw();
    for cut in 1..frame.len() {
        raw.stream.write_all(&frame[..cut]).unwrap();
        raw.stream.flush().unwrap();
        // Give the server a chance to see the partial frame on its own.
        std::thread::sleep(Duration::from_millis(1));
        raw.stream.write_all(&frame[cut..]).unwrap();
        assert_eq!(raw.read_reply(), b"+OK\r\n", "cut at {cut}");
    }
    // And byte by byte.
    for b in &Raw::frame(&[b"GET", b"split\r\nkey"]) {
        raw.stream.write_all(&[*b]).unwrap();
    }
    assert_eq!(raw.read_reply(), b"$8\r\nva\0lue\r\n\r\n");
}

#[test]
fn binary_safe_keys_and_values() {
    let s = Server::start();
    let mut raw = s.raw();
    let key: Vec<u8> = (0u8..=255).collect();
    let val = b"\r\n\0*3\r\n$1\r\n".repeat(100);
    assert_eq!(raw.cmd(&[b"SET", &key, &val]), b"+OK\r\n");
    let mut want = format!("${}\r\n", val.len()).into_bytes();
    want.extend_from_slice(&val);
    want.extend_from_slice(b"\r\n");
    assert_eq!(raw.cmd(&[b"GET", &key]), want);
    assert_eq!(raw.cmd(&[b"EXISTS", &key]), b":1\r\n");
    assert_eq!(
        raw.cmd(&[b"STRLEN", &key]),
        format!(":{}\r\n", val.len()).into_bytes()
    );
}

#[test]
fn protocol_errors_answer_then_close() {
    let s = Server::start();
    let cases: &[(&[u8], &str)] = &[
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*3000000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$999999999999\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n+PING\r\n",
            "-ERR Protocol error: expected '$', got '+'\r\n",
        ),
        (
            b"SET \"unbalanced\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (input, want) in cases {
        let mut raw = s.raw();
        raw.send(input);
        assert_eq!(
            String::from_utf8_lossy(&raw.read_reply()),
            *want,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        assert!(raw.is_closed(), "connection stays open after {input:?}");
    }
    // Replies to commands before the bad frame are still delivered, in order.
    let mut raw = s.raw();
    raw.send(b"*1\r\n$4\r\nPING\r\n*x\r\n");
    assert_eq!(raw.read_reply(), b"+PONG\r\n");
    assert_eq!(
        raw.read_reply(),
        b"-ERR Protocol error: invalid multibulk length\r\n"
    );
    assert!(raw.is_closed());
    // Oversized inline request.
    let mut raw = s.raw();
    raw.send(&vec![b'a'; 70 * 1024]);
    assert_eq!(
        raw.read_reply(),
        b"-ERR Protocol error: too big inline request\r\n"
    );
    // Garbage binary.
    let mut raw = s.raw();
    raw.send(b"*2\r\n$3\r\nGET\r\n\xff\xfe\xfd\r\n");
    assert_eq!(
        raw.read_reply(),
        b"-ERR Protocol error: expected '$', got '\xff'\r\n"
    );
    // The server is fine.
    assert_eq!(s.raw().cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn a_pipeline_of_ten_thousand_commands() {
    let s = Server::start();
    let mut raw = s.raw();
    let mut batch = Vec::new();
    for i in 0..10_000 {
        batch.extend(Raw::frame(&[b"INCR", b"counter"]));
        if i % 2 == 0 {
            batch.extend(Raw::frame(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
        }
    }
    raw.send(&batch);
    let mut n = 0;
    for i in 0..10_000i64 {
        assert_eq!(raw.read_reply(), format!(":{}\r\n", i + 1).into_bytes());
        n += 1;
        if i % 2 == 0 {
            assert_eq!(raw.read_reply(), b"+OK\r\n");
        }
    }
    assert_eq!(n, 10_000);
    assert_eq!(raw.cmd(&[b"DBSIZE"]), b":5001\r\n");
}

#[test]
fn inline_commands() {
    let s = Server::start();
    let mut raw = s.raw();
    raw.send(b"SET inline \"hello world\\n\"\r\n");
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    raw.send(b"GET inline\n");
    assert_eq!(raw.read_reply(), b"$12\r\nhello world\n\r\n");
    raw.send(b"\r\n  \r\nPING\r\n");
    assert_eq!(raw.read_reply(), b"+PONG\r\n");
    raw.send(b"*0\r\n*-1\r\nECHO 'it''s'\r\n");
    assert_eq!(
        raw.read_reply(),
        b"-ERR Protocol error: unbalanced quotes in request\r\n"
    );
}

#[test]
fn clients_that_vanish_mid_frame_do_not_hurt_others() {
    let s = Server::start();
    let mut good = s.raw();
    for _ in 0..20 {
        let mut bad = Raw::connect(s.addr);
        bad.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\npartial");
        drop(bad);
    }
    // A client that announces a huge bulk and then stalls does not block others.
    let mut slow = s.raw();
    slow.send(b"*2\r\n$3\r\nGET\r\n$500000000\r\nxx");
    assert_eq!(good.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(good.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    drop(slow);
    // A client that never reads its replies does not stall others either.
    let mut deaf = s.raw();
    let big = vec![b'x'; 1 << 20];
    assert_eq!(good.cmd(&[b"SET", b"big", &big]), b"+OK\r\n");
    let mut req = Vec::new();
    for _ in 0..64 {
        req.extend(Raw::frame(&[b"GET", b"big"]));
    }
    deaf.send(&req);
    for _ in 0..100 {
        assert_eq!(good.cmd(&[b"PING"]), b"+PONG\r\n");
    }
    drop(deaf);
    assert_eq!(good.cmd(&[b"DBSIZE"]), b":2\r\n");
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let s = Server::start_with(
        &[],
        Some("cache:\n  client_query_buffer_limit: 1MB\n  proto_max_bulk_len: 1MB\n"),
    );
    let mut raw = s.raw();
    // One frame of many arguments that together pass the 1 MB query buffer limit.
    raw.send(b"*100000\r\n");
    let arg = Raw::frame(&[&[b'a'; 1000]]);
    let arg = &arg[4..]; // "$1000\r\n...\r\n"
    let mut closed = false;
    for _ in 0..3000 {
        if raw.stream.write_all(arg).is_err() {
            closed = true;
            break;
        }
    }
    assert!(
        closed || raw.is_closed(),
        "client past the query buffer limit is disconnected"
    );
    // The log line may land a moment after the socket closes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !s.log_text().contains("max query buffer") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = s.log_text();
    assert!(log.contains("max query buffer"), "{log}");
    assert_eq!(s.raw().cmd(&[b"PING"]), b"+PONG\r\n");
    // proto-max-bulk-len is applied to each argument.
    let mut raw = s.raw();
    raw.send(format!("*2\r\n$3\r\nGET\r\n${}\r\n", 2 * 1024 * 1024).as_bytes());
    assert_eq!(
        raw.read_reply(),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
}

#[test]
fn quit_closes_after_the_reply() {
    let s = Server::start();
    let mut raw = s.raw();
    raw.send(b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    assert!(raw.is_closed());
}
