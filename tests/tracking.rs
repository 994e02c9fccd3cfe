//! Client-side caching (CLIENT TRACKING) against a real redis-server: the same scenario on
//! both — connections, commands, the invalidations each connection receives — compared byte
//! for byte; and across the cluster, an invalidation for a write made on another node.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use common::{Raw, Reference, Server};

/// What each connection saw: the reply to each of its commands (pushes that came before a
/// reply noted apart), then whatever arrived after the last command.
#[derive(Debug, PartialEq)]
struct Transcript {
    replies: Vec<String>,
    tails: Vec<String>,
}

/// `text` with the connections' client ids written `{idN}` (each server numbers its own).
fn with_ids(mut text: String, ids: &[String]) -> String {
    for (n, id) in ids.iter().enumerate() {
        text = text.replace(&format!(":{id}\r\n"), &format!(":{{id{n}}}\r\n"));
    }
    text
}

/// Runs `steps` (connection, command; `{id0}` is connection 0's client id) on `addr`.
fn run(addr: SocketAddr, conns: usize, steps: &[(usize, &str)]) -> Transcript {
    let mut raws: Vec<Raw> = (0..conns).map(|_| Raw::connect(addr)).collect();
    let ids: Vec<String> = raws
        .iter_mut()
        .map(|r| {
            let id = String::from_utf8(r.cmd(&[b"CLIENT", b"ID"])).unwrap();
            id.trim_start_matches(':').trim_end().to_string()
        })
        .collect();
    let mut replies = Vec::new();
    for (i, cmd) in steps {
        let mut line = cmd.to_string();
        for (n, id) in ids.iter().enumerate() {
            line = line.replace(&format!("{{id{n}}}"), id);
        }
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        raws[*i].send(&Raw::frame(&args));
        loop {
            let r = String::from_utf8_lossy(&raws[*i].read_reply()).into_owned();
            if r.starts_with('>') {
                replies.push(format!("{i} push {r}"));
                continue;
            }
            // HELLO's map names the server and the connection: not compared.
            let shown = if line.starts_with("HELLO") {
                "<hello>".into()
            } else {
                r
            };
            replies.push(format!("{i} {cmd} -> {}", with_ids(shown, &ids)));
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let tails = raws
        .iter_mut()
        .map(|r| {
            r.stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&got).into_owned()
        })
        .collect();
    Transcript { replies, tails }
}

fn same_as_redis(conns: usize, steps: &[(usize, &str)]) -> Transcript {
    let redis = Reference::start();
    let hc = Server::start();
    let want = run(redis.addr, conns, steps);
    let got = run(hc.addr, conns, steps);
    assert_eq!(got, want, "ours (left) and redis-server (right) differ");
    got
}

#[test]
fn a_read_key_is_invalidated_once_when_anyone_changes_it() {
    let t = same_as_redis(
        2,
        &[
            (0, "HELLO 3"),
            (0, "CLIENT TRACKING ON"),
            (0, "GET k"),
            (0, "MGET a b"),
            (1, "SET k 1"),
            (1, "SET k 2"),
            (1, "SET a 1"),
            (0, "PING"),
            (0, "GET k"),
            // Its own write: invalidated after its reply (no NOLOOP).
            (0, "SET k 3"),
            (0, "HGET h f"),
            (1, "HSET h f v"),
            (0, "GET e"),
            (1, "SET e v PX 50"),
            (0, "GET e"),
        ],
    );
    assert!(
        t.replies
            .iter()
            .any(|r| r.contains("push >2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk")),
        "{t:?}"
    );
}

#[test]
fn noloop_optin_optout_and_the_mode_errors() {
    same_as_redis(
        2,
        &[
            (0, "HELLO 3"),
            (0, "CLIENT TRACKING ON NOLOOP"),
            (0, "GET k"),
            (0, "SET k 1"),
            (1, "SET k 2"),
            (0, "CLIENT TRACKING OFF"),
            (0, "CLIENT CACHING YES"),
            (0, "CLIENT TRACKING ON OPTIN"),
            (0, "GET a"),
            (0, "CLIENT CACHING YES"),
            (0, "GET b"),
            (1, "SET a 1"),
            (1, "SET b 1"),
            (0, "CLIENT CACHING NO"),
            (0, "CLIENT TRACKINGINFO"),
            (0, "CLIENT TRACKING ON OPTOUT"),
            (0, "CLIENT TRACKING OFF"),
            (0, "CLIENT TRACKING ON OPTOUT"),
            (0, "CLIENT CACHING NO"),
            (0, "GET c"),
            (0, "GET d"),
            (1, "SET c 1"),
            (1, "SET d 1"),
            (0, "CLIENT TRACKING ON BCAST"),
            (0, "CLIENT TRACKING ON OPTIN OPTOUT"),
            (0, "CLIENT TRACKING ON PREFIX x"),
            (0, "CLIENT TRACKING ON REDIRECT 999999"),
            (0, "CLIENT TRACKING ON FOO"),
            (0, "CLIENT TRACKING MAYBE"),
            (0, "CLIENT GETREDIR"),
            (0, "CLIENT TRACKINGINFO"),
        ],
    );
}

#[test]
fn bcast_prefixes_and_a_redirect_to_a_resp2_subscriber() {
    same_as_redis(
        3,
        &[
            (0, "SUBSCRIBE __redis__:invalidate"),
            (
                1,
                "CLIENT TRACKING ON BCAST PREFIX user: PREFIX cart: REDIRECT {id0}",
            ),
            (1, "CLIENT GETREDIR"),
            (1, "CLIENT TRACKINGINFO"),
            (1, "CLIENT TRACKING ON BCAST PREFIX us"),
            (2, "SET user:1 a"),
            (2, "SET other:1 a"),
            (2, "SET cart:9 a"),
            (2, "FLUSHALL"),
        ],
    );
}

#[test]
fn a_write_on_another_node_invalidates_a_key_cached_here() {
    let c = common::cluster::TestCluster::start(2, "");
    let _: () = redis::cmd("SET")
        .arg("shared")
        .arg("1")
        .query(&mut c.conn(0))
        .unwrap();
    c.wait_converged();
    let mut reader = Raw::connect(c.server(1).addr);
    reader.cmd(&[b"HELLO", b"3"]);
    assert_eq!(reader.cmd(&[b"CLIENT", b"TRACKING", b"ON"]), b"+OK\r\n");
    assert_eq!(reader.cmd(&[b"GET", b"shared"]), b"$1\r\n1\r\n");
    let _: () = redis::cmd("SET")
        .arg("shared")
        .arg("2")
        .query(&mut c.conn(0))
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&reader.read_reply()),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nshared\r\n"
    );
}

#[test]
fn the_tracking_table_is_bounded_and_a_dropped_key_is_invalidated() {
    let s = Server::start();
    let mut c = Raw::connect(s.addr);
    assert_eq!(
        c.cmd(&[b"CONFIG", b"SET", b"tracking-table-max-keys", b"2"]),
        b"+OK\r\n"
    );
    c.cmd(&[b"HELLO", b"3"]);
    c.cmd(&[b"CLIENT", b"TRACKING", b"ON"]);
    // Three keys read, room for two: one is dropped, and its client told to drop it.
    assert_eq!(
        c.cmd(&[b"MGET", b"a", b"b", b"c"]),
        b"*3\r\n_\r\n_\r\n_\r\n"
    );
    let push = String::from_utf8_lossy(&c.read_reply()).into_owned();
    assert!(
        push.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\n"),
        "{push}"
    );
    let dropped = push.rsplit("\r\n").nth(1).unwrap().to_string();
    // The two left are still tracked: a change to each is invalidated, the dropped one not.
    let mut w = s.conn();
    for k in ["a", "b", "c"] {
        let _: () = redis::cmd("SET").arg(k).arg(1).query(&mut w).unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = String::from_utf8_lossy(&c.read_reply()).into_owned();
        got.push(m.rsplit("\r\n").nth(1).unwrap().to_string());
    }
    got.sort();
    let mut want: Vec<String> = ["a", "b", "c"]
        .iter()
        .filter(|k| **k != dropped)
        .map(|k| k.to_string())
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn bcast_prefixes_are_bounded_per_client() {
    let s = Server::start();
    let mut c = Raw::connect(s.addr);
    c.cmd(&[b"HELLO", b"3"]);
    // 1024 prefixes in two calls are taken; one more is refused and changes nothing.
    let names: Vec<Vec<u8>> = (0..1025)
        .map(|i| format!("p{i:05}:").into_bytes())
        .collect();
    for chunk in [&names[..600], &names[600..1024]] {
        let mut args: Vec<&[u8]> = vec![b"CLIENT", b"TRACKING", b"ON", b"BCAST"];
        for n in chunk {
            args.push(b"PREFIX");
            args.push(n);
        }
        assert_eq!(c.cmd(&args), b"+OK\r\n");
    }
    let e = c.cmd(&[
        b"CLIENT",
        b"TRACKING",
        b"ON",
        b"BCAST",
        b"PREFIX",
        &names[1024],
    ]);
    assert_eq!(
        e,
        b"-ERR too many tracking prefixes (at most 1024 per client)\r\n"
    );
    let info = String::from_utf8_lossy(&c.cmd(&[b"CLIENT", b"TRACKINGINFO"])).into_owned();
    assert!(
        info.contains("p01023:") && !info.contains("p01024:"),
        "{info}"
    );
    // The registered ones still work.
    let _: () = redis::cmd("SET")
        .arg("p00007:k")
        .arg(1)
        .query(&mut s.conn())
        .unwrap();
    let push = String::from_utf8_lossy(&c.read_reply()).into_owned();
    assert!(push.contains("p00007:k"), "{push}");
}
