//! Commands through the `redis` crate against the real binary, in RESP2 and RESP3.

mod common;

use std::time::Duration;

use common::Server;
use redis::{Commands, RedisResult, Value};

fn err_text<T: std::fmt::Debug>(r: RedisResult<T>) -> String {
    let e = r.expect_err("expected an error");
    // The crate splits "CODE detail"; put the reply back together as it was on the wire.
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    }
}

#[test]
fn strings_roundtrip_and_options() {
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    // NX/XX/GET
    let r: Option<String> = redis::cmd("SET")
        .arg("k")
        .arg("w")
        .arg("NX")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, None);
    let r: Option<String> = redis::cmd("SET")
        .arg("k")
        .arg("w")
        .arg("XX")
        .arg("GET")
        .query(&mut c)
        .unwrap();
    assert_eq!(r.as_deref(), Some("v"));
    assert_eq!(c.get::<_, String>("k").unwrap(), "w");
    // EX then KEEPTTL keeps the deadline, plain SET clears it
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("1")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("2")
        .arg("KEEPTTL")
        .query(&mut c)
        .unwrap();
    let ttl: i64 = c.ttl("t").unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let _: () = c.set("t", "3").unwrap();
    assert_eq!(c.ttl::<_, i64>("t").unwrap(), -1);
    // counters
    assert_eq!(c.incr::<_, _, i64>("n", 5).unwrap(), 5);
    assert_eq!(c.decr::<_, _, i64>("n", 7).unwrap(), -2);
    let f: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("0.1")
        .query(&mut c)
        .unwrap();
    assert_eq!(f, "0.1");
    let f: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("0.2")
        .query(&mut c)
        .unwrap();
    assert_eq!(f, "0.3", "long double arithmetic as Redis");
    // APPEND/STRLEN/GETRANGE/SETRANGE
    assert_eq!(c.append::<_, _, i64>("s", "Hello").unwrap(), 5);
    assert_eq!(c.append::<_, _, i64>("s", " World").unwrap(), 11);
    assert_eq!(c.strlen::<_, i64>("s").unwrap(), 11);
    assert_eq!(c.getrange::<_, String>("s", -5, -1).unwrap(), "World");
    assert_eq!(c.setrange::<_, _, i64>("s", 6, "Redis").unwrap(), 11);
    assert_eq!(c.get::<_, String>("s").unwrap(), "Hello Redis");
    let z: i64 = c.setrange("pad", 3, "x").unwrap();
    assert_eq!(z, 4);
    assert_eq!(c.get::<_, Vec<u8>>("pad").unwrap(), b"\0\0\0x");
    // MSET/MGET/MSETNX
    let _: () = c.mset(&[("a", "1"), ("b", "2")]).unwrap();
    let v: Vec<Option<String>> = c.mget(&["a", "b", "nope"]).unwrap();
    assert_eq!(v, vec![Some("1".into()), Some("2".into()), None]);
    let n: i64 = redis::cmd("MSETNX")
        .arg("a")
        .arg("x")
        .arg("c")
        .arg("3")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 0);
    assert!(
        !c.exists::<_, bool>("c").unwrap(),
        "MSETNX is all or nothing"
    );
    // GETDEL/GETEX/GETSET
    assert_eq!(c.get_del::<_, String>("a").unwrap(), "1");
    assert!(!c.exists::<_, bool>("a").unwrap());
    let v: String = redis::cmd("GETEX")
        .arg("b")
        .arg("PX")
        .arg(50_000)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, "2");
    assert!(c.pttl::<_, i64>("b").unwrap() > 40_000);
    let v: String = redis::cmd("GETEX")
        .arg("b")
        .arg("PERSIST")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, "2");
    assert_eq!(c.pttl::<_, i64>("b").unwrap(), -1);
    let old: String = redis::cmd("GETSET")
        .arg("b")
        .arg("3")
        .query(&mut c)
        .unwrap();
    assert_eq!(old, "2");
    // LCS
    let _: () = c.mset(&[("l1", "ohmytext"), ("l2", "mynewtext")]).unwrap();
    let l: String = redis::cmd("LCS").arg("l1").arg("l2").query(&mut c).unwrap();
    assert_eq!(l, "mytext");
    let n: i64 = redis::cmd("LCS")
        .arg("l1")
        .arg("l2")
        .arg("LEN")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 6);
}

#[test]
fn errors_have_redis_text() {
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.set("s", "abc").unwrap();
    assert_eq!(
        err_text(c.incr::<_, _, i64>("s", 1)),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err_text(redis::cmd("GET").query::<()>(&mut c)),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err_text(redis::cmd("NOSUCH").arg("a").arg("b").query::<()>(&mut c)),
        "ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        err_text(
            redis::cmd("SET")
                .arg("k")
                .arg("v")
                .arg("EX")
                .arg(0)
                .query::<()>(&mut c)
        ),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err_text(
            redis::cmd("SET")
                .arg("k")
                .arg("v")
                .arg("NX")
                .arg("XX")
                .query::<()>(&mut c)
        ),
        "ERR syntax error"
    );
    assert_eq!(
        err_text(redis::cmd("CONFIG").arg("NOPE").query::<()>(&mut c)),
        "ERR unknown subcommand 'NOPE'. Try CONFIG HELP."
    );
    assert_eq!(
        err_text(redis::cmd("CONFIG").arg("GET").query::<()>(&mut c)),
        "ERR wrong number of arguments for 'config|get' command"
    );
    assert_eq!(
        err_text(redis::cmd("SELECT").arg(16).query::<()>(&mut c)),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err_text(
            redis::cmd("RENAME")
                .arg("nokey")
                .arg("x")
                .query::<()>(&mut c)
        ),
        "ERR no such key"
    );
    assert_eq!(
        err_text(
            redis::cmd("INCRBYFLOAT")
                .arg("s")
                .arg("1")
                .query::<()>(&mut c)
        ),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err_text(
            redis::cmd("EXPIRE")
                .arg("s")
                .arg(10)
                .arg("NX")
                .arg("XX")
                .query::<()>(&mut c)
        ),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    // The server keeps serving after errors.
    assert_eq!(c.get::<_, String>("s").unwrap(), "abc");
}

#[test]
fn keys_ttl_rename_copy_move_swapdb() {
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.set("a", "1").unwrap();
    assert_eq!(c.expire::<_, i64>("a", 100).unwrap(), 1);
    assert_eq!(
        redis::cmd("EXPIRE")
            .arg("a")
            .arg(50)
            .arg("GT")
            .query::<i64>(&mut c)
            .unwrap(),
        0
    );
    assert_eq!(
        redis::cmd("EXPIRE")
            .arg("a")
            .arg(50)
            .arg("LT")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    let at: i64 = redis::cmd("EXPIRETIME").arg("a").query(&mut c).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now + 49..=now + 51).contains(&at));
    assert_eq!(c.persist::<_, i64>("a").unwrap(), 1);
    assert_eq!(c.ttl::<_, i64>("a").unwrap(), -1);
    assert_eq!(c.ttl::<_, i64>("missing").unwrap(), -2);
    // Expire in the past deletes.
    let _: () = c.set("gone", "x").unwrap();
    assert_eq!(c.expire::<_, i64>("gone", -1).unwrap(), 1);
    assert!(!c.exists::<_, bool>("gone").unwrap());
    // RENAME keeps the TTL; RENAMENX refuses an existing target.
    let _: () = redis::cmd("SET")
        .arg("r")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    let _: () = c.rename("r", "r2").unwrap();
    assert!(c.ttl::<_, i64>("r2").unwrap() > 900);
    let _: () = c.set("r3", "z").unwrap();
    assert_eq!(c.rename_nx::<_, _, i64>("r2", "r3").unwrap(), 0);
    // COPY with REPLACE and DB
    assert_eq!(
        redis::cmd("COPY")
            .arg("r2")
            .arg("r3")
            .query::<i64>(&mut c)
            .unwrap(),
        0
    );
    assert_eq!(
        redis::cmd("COPY")
            .arg("r2")
            .arg("r3")
            .arg("REPLACE")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert_eq!(c.get::<_, String>("r3").unwrap(), "v");
    assert_eq!(
        redis::cmd("COPY")
            .arg("r2")
            .arg("r2")
            .arg("DB")
            .arg(1)
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    // MOVE, SELECT, SWAPDB
    assert_eq!(c.exists::<_, i64>(&["r2", "r3", "r2"]).unwrap(), 3);
    assert_eq!(
        redis::cmd("MOVE")
            .arg("r3")
            .arg(2)
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert!(!c.exists::<_, bool>("r3").unwrap());
    let _: () = redis::cmd("SELECT").arg(2).query(&mut c).unwrap();
    assert_eq!(c.get::<_, String>("r3").unwrap(), "v");
    let _: () = redis::cmd("SWAPDB").arg(2).arg(3).query(&mut c).unwrap();
    assert!(
        !c.exists::<_, bool>("r3").unwrap(),
        "db 2 now holds db 3's (empty) data"
    );
    let _: () = redis::cmd("SELECT").arg(3).query(&mut c).unwrap();
    assert_eq!(c.get::<_, String>("r3").unwrap(), "v");
    // TYPE, DBSIZE, FLUSHDB
    assert_eq!(
        redis::cmd("TYPE")
            .arg("r3")
            .query::<String>(&mut c)
            .unwrap(),
        "string"
    );
    assert_eq!(
        redis::cmd("TYPE")
            .arg("zz")
            .query::<String>(&mut c)
            .unwrap(),
        "none"
    );
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 1);
    let _: () = redis::cmd("FLUSHDB").arg("ASYNC").query(&mut c).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    let _: () = redis::cmd("SELECT").arg(0).query(&mut c).unwrap();
    assert!(c.exists::<_, bool>("r2").unwrap());
    let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
}

#[test]
fn scan_returns_every_key_once_while_the_table_grows() {
    let s = Server::start();
    let mut c = s.conn();
    let keys: Vec<String> = (0..5000).map(|i| format!("key:{i}")).collect();
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.set(k, 1).ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut cursor = 0u64;
    let mut grow = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("key:*")
            .arg("COUNT")
            .arg(100)
            .query(&mut c)
            .unwrap();
        seen.extend(batch);
        // Keep inserting while scanning, forcing resizes.
        for _ in 0..20 {
            let _: () = c.set(format!("other:{grow}"), 1).unwrap();
            grow += 1;
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    for k in &keys {
        assert!(seen.contains(k), "SCAN missed {k}");
    }
    assert!(seen.iter().all(|k| k.starts_with("key:")), "MATCH filters");
    let typed: (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("TYPE")
        .arg("list")
        .arg("COUNT")
        .arg(10000)
        .query(&mut c)
        .unwrap();
    assert!(typed.1.is_empty());
    let mut all: Vec<String> = redis::cmd("KEYS").arg("key:1??").query(&mut c).unwrap();
    all.sort();
    assert_eq!(all.len(), 100);
    assert_eq!(all[0], "key:100");
    let rk: String = redis::cmd("RANDOMKEY").query(&mut c).unwrap();
    assert!(rk.starts_with("key:") || rk.starts_with("other:"));
}

#[test]
fn expiry_lazy_and_active() {
    let s = Server::start();
    let mut c = s.conn();
    // Lazy: an expired key reads as missing.
    let _: () = redis::cmd("SET")
        .arg("lazy")
        .arg("v")
        .arg("PX")
        .arg(50)
        .query(&mut c)
        .unwrap();
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(c.get::<_, Option<String>>("lazy").unwrap(), None);
    // Active: keys disappear from DBSIZE without ever being read.
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.cmd("SET")
            .arg(format!("t:{i}"))
            .arg("v")
            .arg("PX")
            .arg(100)
            .ignore();
    }
    pipe.set("keeper", "v").ignore();
    let _: () = pipe.query(&mut c).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        if n == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expired keys linger: dbsize {n}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    let expired: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("expired_keys:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(expired >= 2001, "expired_keys {expired}");
    assert_eq!(c.get::<_, String>("keeper").unwrap(), "v");
}

#[test]
fn resp3_replies() {
    let s = Server::start();
    let mut c = s.conn3();
    let _: () = c.set("k", "v").unwrap();
    // A missing key is RESP3 null; HELLO/CONFIG GET answer maps.
    let v: Value = redis::cmd("GET").arg("missing").query(&mut c).unwrap();
    assert_eq!(v, Value::Nil);
    let v: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    match v {
        Value::Map(m) => {
            assert_eq!(m.len(), 1);
            assert_eq!(m[0].0, Value::BulkString(b"maxclients".to_vec()));
        }
        other => panic!("expected a map, got {other:?}"),
    }
    let v: Value = redis::cmd("HELLO").arg(3).query(&mut c).unwrap();
    let Value::Map(m) = v else {
        panic!("HELLO map")
    };
    assert!(
        m.iter()
            .any(|(k, v)| *k == Value::BulkString(b"proto".to_vec()) && *v == Value::Int(3))
    );
    let v: Value = redis::cmd("INFO").arg("server").query(&mut c).unwrap();
    match v {
        Value::VerbatimString { text, .. } => assert!(text.contains("redis_version:")),
        other => panic!("INFO is a verbatim string in RESP3, got {other:?}"),
    }
}

#[test]
fn server_commands() {
    let s = Server::start();
    let mut c = s.conn();
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Keyspace",
    ] {
        assert!(info.contains(section), "missing {section}");
    }
    for field in [
        "redis_version:",
        "connected_clients:",
        "used_memory:",
        "maxmemory_policy:",
        "total_commands_processed:",
        "keyspace_hits:",
        "role:master",
        "used_cpu_sys:",
    ] {
        assert!(info.contains(field), "missing {field}");
    }
    let n: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
    assert!(n > 60);
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, vec!["a", "b"]);
    let v: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("get")
        .query(&mut c)
        .unwrap();
    let Value::Array(items) = v else { panic!() };
    let Value::Array(get) = &items[0] else {
        panic!()
    };
    assert_eq!(get[0], Value::BulkString(b"get".to_vec()));
    assert_eq!(get[1], Value::Int(2));
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lfu")
        .query(&mut c)
        .unwrap();
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-p*")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec!["maxmemory-policy", "allkeys-lfu"]);
    let e = err_text(
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg("bogus")
            .query::<()>(&mut c),
    );
    assert!(
        e.starts_with("ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy')"),
        "{e}"
    );
    let t: Vec<String> = redis::cmd("TIME").query(&mut c).unwrap();
    assert_eq!(t.len(), 2);
    let _: () = c.set("m", "hello").unwrap();
    let mem: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("m")
        .query(&mut c)
        .unwrap();
    assert!(mem > 5);
    assert_eq!(
        redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg("m")
            .query::<String>(&mut c)
            .unwrap(),
        "embstr"
    );
    let _: () = c.set("i", 12345).unwrap();
    assert_eq!(
        redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg("i")
            .query::<String>(&mut c)
            .unwrap(),
        "int"
    );
    let _: () = c.append("m", "!").unwrap();
    assert_eq!(
        redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg("m")
            .query::<String>(&mut c)
            .unwrap(),
        "raw"
    );
    let _: i64 = redis::cmd("LASTSAVE").query(&mut c).unwrap();
    // DEBUG is off by default, as in Redis 7 (tests/security.rs turns it on).
    let e = err_text(
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("0")
            .query::<()>(&mut c),
    );
    assert!(e.contains("DEBUG command not allowed"), "{e}");
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
}

#[test]
fn client_commands() {
    let s = Server::start();
    let mut a = s.conn();
    let mut b = s.conn();
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("alpha")
        .query(&mut a)
        .unwrap();
    assert_eq!(
        redis::cmd("CLIENT")
            .arg("GETNAME")
            .query::<String>(&mut a)
            .unwrap(),
        "alpha"
    );
    let bad = err_text(
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg("has space")
            .query::<()>(&mut a),
    );
    assert_eq!(
        bad,
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    let _: () = redis::cmd("CLIENT")
        .arg("SETINFO")
        .arg("LIB-NAME")
        .arg("tests")
        .query(&mut a)
        .unwrap();
    let id_b: i64 = redis::cmd("CLIENT").arg("ID").query(&mut b).unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut a).unwrap();
    assert!(list.contains("name=alpha"), "{list}");
    assert!(list.contains(&format!("id={id_b} ")), "{list}");
    assert!(list.contains("lib-name=tests"), "{list}");
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut a).unwrap();
    assert!(info.contains("cmd=client|info"), "{info}");
    // CLIENT REPLY OFF: no replies until ON.
    let mut raw = s.raw();
    raw.send(&common::Raw::frame(&[b"CLIENT", b"REPLY", b"OFF"]));
    raw.send(&common::Raw::frame(&[b"SET", b"q", b"1"]));
    raw.send(&common::Raw::frame(&[b"CLIENT", b"REPLY", b"ON"]));
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"GET", b"q"]), b"$1\r\n1\r\n");
    raw.send(&common::Raw::frame(&[b"CLIENT", b"REPLY", b"SKIP"]));
    raw.send(&common::Raw::frame(&[b"GET", b"q"]));
    assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
    // CLIENT KILL by id closes the other connection.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id_b)
        .query(&mut a)
        .unwrap();
    assert_eq!(killed, 1);
    assert!(
        redis::cmd("PING").query::<String>(&mut b).is_err(),
        "killed client is disconnected"
    );
    // RESET restores defaults.
    let _: () = redis::cmd("SELECT").arg(5).query(&mut a).unwrap();
    let r: String = redis::cmd("RESET").query(&mut a).unwrap();
    assert_eq!(r, "RESET");
    assert!(
        redis::cmd("CLIENT")
            .arg("GETNAME")
            .query::<Option<String>>(&mut a)
            .unwrap()
            .is_none()
    );
}

#[test]
fn auth_and_hello() {
    let s = Server::start();
    let mut c = s.conn();
    let e = err_text(redis::cmd("AUTH").arg("pw").query::<()>(&mut c));
    assert!(
        e.starts_with("ERR AUTH <password> called without any password configured"),
        "{e}"
    );
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("s3cret")
        .query(&mut c)
        .unwrap();
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd(&[b"GET", b"x"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"AUTH", b"wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"HELLO", b"4"]),
        b"-NOPROTO unsupported protocol version\r\n"
    );
    let r = raw.cmd(&[
        b"HELLO", b"3", b"AUTH", b"default", b"s3cret", b"SETNAME", b"me",
    ]);
    assert!(r.starts_with(b"%7\r\n"), "{}", String::from_utf8_lossy(&r));
    assert_eq!(
        raw.cmd(&[b"GET", b"x"]),
        b"_\r\n",
        "RESP3 null after HELLO 3"
    );
    assert_eq!(raw.cmd(&[b"CLIENT", b"GETNAME"]), b"$2\r\nme\r\n");
}

#[test]
fn maxclients_is_enforced() {
    let s = Server::start_with(&[], Some("cache:\n  maxclients: 2\n"));
    // The harness's own start-up connection may still be closing on the server side.
    let mut a = loop {
        let mut a = s.raw();
        if a.cmd(&[b"PING"]) == b"+PONG\r\n" {
            break a;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut b = s.raw();
    assert_eq!(b.cmd(&[b"PING"]), b"+PONG\r\n");
    let mut c = s.raw();
    assert_eq!(c.read_reply(), b"-ERR max number of clients reached\r\n");
    assert!(c.is_closed());
    assert_eq!(a.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn redis_cli_works_unchanged() {
    let cli = common::redis_cli();
    let s = Server::start();
    let port = s.addr.port().to_string();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&cli)
            .args(["-h", "127.0.0.1", "-p", &port])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    };
    assert_eq!(run(&["PING"]), "PONG");
    assert_eq!(run(&["SET", "greeting", "hello world"]), "OK");
    assert_eq!(run(&["GET", "greeting"]), "hello world");
    assert_eq!(run(&["INCR", "visits"]), "1");
    assert_eq!(run(&["DBSIZE"]), "2");
    assert!(run(&["INFO", "server"]).contains("redis_version:"));
    assert_eq!(run(&["--raw", "EXISTS", "greeting", "nope"]), "1");
    // Commands from stdin, pipelined, as redis-cli --pipe would send them.
    let mut child = std::process::Command::new(&cli)
        .args(["-h", "127.0.0.1", "-p", &port, "--pipe"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..1000 {
            stdin
                .write_all(&common::Raw::frame(&[
                    b"SET",
                    format!("p:{i}").as_bytes(),
                    b"v",
                ]))
                .unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 1000"), "{text}");
    assert_eq!(run(&["DBSIZE"]), "1002");
}

#[test]
fn object_freq_and_idletime_follow_the_policy() {
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.set("k", "v").unwrap();
    let e = err_text(
        redis::cmd("OBJECT")
            .arg("FREQ")
            .arg("k")
            .query::<i64>(&mut c),
    );
    assert!(
        e.starts_with("ERR An LFU maxmemory policy is not selected"),
        "{e}"
    );
    let idle: i64 = redis::cmd("OBJECT")
        .arg("IDLETIME")
        .arg("k")
        .query(&mut c)
        .unwrap();
    assert!((0..=1).contains(&idle));
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lfu")
        .query(&mut c)
        .unwrap();
    let _: () = c.set("f", "v").unwrap();
    assert_eq!(
        redis::cmd("OBJECT")
            .arg("FREQ")
            .arg("f")
            .query::<i64>(&mut c)
            .unwrap(),
        5,
        "new keys start at LFU_INIT_VAL"
    );
    let _: String = c.get("f").unwrap();
    assert_eq!(
        redis::cmd("OBJECT")
            .arg("FREQ")
            .arg("f")
            .query::<i64>(&mut c)
            .unwrap(),
        6,
        "the first hit always counts"
    );
    let _: () = c.set("f", "v2").unwrap();
    assert!(
        redis::cmd("OBJECT")
            .arg("FREQ")
            .arg("f")
            .query::<i64>(&mut c)
            .unwrap()
            >= 6,
        "overwrite keeps the counter"
    );
    for _ in 0..500 {
        let _: String = c.get("f").unwrap();
    }
    let hot: i64 = redis::cmd("OBJECT")
        .arg("FREQ")
        .arg("f")
        .query(&mut c)
        .unwrap();
    assert!(
        (8..60).contains(&hot),
        "logarithmic counter after 500 hits: {hot}"
    );
    let e = err_text(
        redis::cmd("OBJECT")
            .arg("IDLETIME")
            .arg("f")
            .query::<i64>(&mut c),
    );
    assert!(
        e.starts_with("ERR An LFU maxmemory policy is selected"),
        "{e}"
    );
    assert_eq!(
        redis::cmd("OBJECT")
            .arg("FREQ")
            .arg("nokey")
            .query::<Option<i64>>(&mut c)
            .unwrap(),
        None
    );
}

#[test]
fn help_replies_are_whole_and_a_policy_switch_keeps_keys_readable() {
    // Found by fuzzing: HELP replies announced one element fewer than they sent, so the next
    // command's reply was read from the leftover line.
    let s = Server::start();
    let mut raw = s.raw();
    for container in [&b"OBJECT"[..], b"CLIENT", b"CONFIG", b"COMMAND", b"MEMORY"] {
        raw.send(&common::Raw::frame(&[container, b"HELP"]));
        raw.send(&common::Raw::frame(&[b"PING"]));
        let help = raw.read_reply();
        assert!(
            help.starts_with(b"*"),
            "{:?}",
            String::from_utf8_lossy(&help)
        );
        assert!(
            help.ends_with(b"+HELP\r\n+    Prints this help.\r\n"),
            "{}",
            String::from_utf8_lossy(&help)
        );
        assert_eq!(raw.read_reply(), b"+PONG\r\n");
    }
    // Found by fuzzing: keys written under LRU, read under LFU after CONFIG SET, overflowed the
    // decay arithmetic.
    let mut c = s.conn();
    let () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lfu")
        .query(&mut c)
        .unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let _: i64 = redis::cmd("OBJECT")
        .arg("FREQ")
        .arg("k")
        .query(&mut c)
        .unwrap();
}

#[test]
fn info_counts_commands_errors_and_latencies_as_redis_names_them() {
    let s = Server::start();
    let mut c = s.raw();
    for i in 0..40 {
        c.cmd(&[b"SET", b"k", i.to_string().as_bytes()]);
    }
    c.cmd(&[b"GET", b"k"]);
    c.cmd(&[b"LPUSH", b"k", b"x"]); // WRONGTYPE
    c.cmd(&[b"INCRBY", b"k", b"x"]); // ERR
    c.cmd(&[b"CONFIG", b"GET", b"maxmemory"]);
    let info = |c: &mut common::Raw, section: &str| {
        String::from_utf8_lossy(&c.cmd(&[b"INFO", section.as_bytes()])).into_owned()
    };
    let cmds = info(&mut c, "commandstats");
    assert!(cmds.contains("# Commandstats"), "{cmds}");
    let set = cmds
        .lines()
        .find(|l| l.starts_with("cmdstat_set:"))
        .unwrap_or_else(|| panic!("{cmds}"));
    assert!(set.starts_with("cmdstat_set:calls=40,usec="), "{set}");
    assert!(set.ends_with(",rejected_calls=0,failed_calls=0"), "{set}");
    assert!(cmds.contains("cmdstat_lpush:calls=1,"), "{cmds}");
    assert!(cmds.contains("failed_calls=1"), "{cmds}");
    assert!(cmds.contains("cmdstat_config|get:calls=1,"), "{cmds}");
    let errs = info(&mut c, "errorstats");
    assert!(errs.contains("errorstat_WRONGTYPE:count=1"), "{errs}");
    assert!(errs.contains("errorstat_ERR:count=1"), "{errs}");
    // One command in sixteen is timed: forty SETs give a percentile line.
    let lat = info(&mut c, "latencystats");
    let line = lat
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_set:"))
        .unwrap_or_else(|| panic!("{lat}"));
    assert!(
        line.contains("p50=") && line.contains(",p99=") && line.contains(",p99.9="),
        "{line}"
    );
    // Not in the default sections; in `all`; CONFIG RESETSTAT clears them.
    assert!(!info(&mut c, "default").contains("# Commandstats"));
    let everything = info(&mut c, "all");
    assert!(everything.contains("# Errorstats") && everything.contains("# Latencystats"));
    assert_eq!(c.cmd(&[b"CONFIG", b"RESETSTAT"]), b"+OK\r\n");
    assert!(!info(&mut c, "errorstats").contains("errorstat_"));
}
