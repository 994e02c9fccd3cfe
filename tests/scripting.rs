//! Lua scripting (EVAL and kin) against a real redis-server: replies and error texts byte for
//! byte; a script that loops for ever stopped with SCRIPT KILL while the node answers -BUSY;
//! a script's writes one atomic unit on replicas.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Raw, Reference, Server};

/// Each command's reply, raw.
fn replies(addr: SocketAddr, commands: &[&[&str]]) -> Vec<String> {
    let mut c = Raw::connect(addr);
    c.cmd(&[b"FLUSHALL"]);
    c.cmd(&[b"SCRIPT", b"FLUSH"]);
    commands
        .iter()
        .map(|args| {
            let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
            format!(
                "{} -> {}",
                args.join(" "),
                String::from_utf8_lossy(&c.cmd(&a))
            )
        })
        .collect()
}

const SCRIPTS: &[&[&str]] = &[
    &["EVAL", "return redis.call('INCR', KEYS[1])", "1", "n"],
    &["EVAL", "return redis.call('GET', KEYS[1])", "1", "n"],
    &["EVAL", "return redis.call('GET', KEYS[1])", "1", "missing"],
    &["EVAL", "return {1, 2, {3, 'x'}, 'y', false, 'after'}", "0"],
    &["EVAL", "return 3.99", "0"],
    &["EVAL", "return -2.5", "0"],
    &["EVAL", "return true", "0"],
    &["EVAL", "return false", "0"],
    &["EVAL", "return nil", "0"],
    &["EVAL", "return redis.status_reply('FINE')", "0"],
    &["EVAL", "return redis.error_reply('MYERR custom')", "0"],
    &["EVAL", "return redis.error_reply('plain')", "0"],
    &["EVAL", "return {err = 'E1 table'}", "0"],
    &["EVAL", "return {ok = 'fine'}", "0"],
    &[
        "EVAL",
        "local n = 0 for i = 1, #ARGV do n = n + redis.call('SADD', KEYS[1], ARGV[i]) end return n",
        "1",
        "s",
        "a",
        "b",
        "a",
    ],
    &["EVAL", "return cjson.encode({a = 1})", "0"],
    &["EVAL", "return cjson.decode('[1,2,3]')[2]", "0"],
    &[
        "EVAL",
        "return cjson.encode(cjson.decode('{\"k\":[true,false,\"s\"]}'))",
        "0",
    ],
    &["EVAL", "return redis.call('NOSUCH')", "0"],
    &["EVAL", "return tonumber(ARGV[1]) + 1", "0", "41"],
    &["EVAL", "return tonumber(ARGV[1]) + 1", "0", "x"],
    &["EVAL", "return redis.call('SET', KEYS[1])", "1", "k"],
    &["EVAL", "x = 1", "0"],
    &["EVAL", "return undefined_global", "0"],
    &[
        "EVAL",
        "local a = 1\nreturn redis.call('LPUSH', KEYS[1], 'a')",
        "1",
        "n",
    ],
    &[
        "EVAL",
        "return redis.pcall('LPUSH', KEYS[1], 'a')",
        "1",
        "n",
    ],
    &[
        "EVAL",
        "local r = redis.pcall('INCRBY', 'n', 'x') return r['err']",
        "0",
    ],
    &["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "n"],
    &[
        "EVAL_RO",
        "return redis.call('SET', KEYS[1], 'x')",
        "1",
        "k",
    ],
    &["EVAL", "return redis.call('MULTI')", "0"],
    &["EVAL", "return redis.call('HGETALL', KEYS[1])", "1", "h"],
    &[
        "EVAL",
        "redis.call('HSET', KEYS[1], 'f', 'v') return redis.call('HGETALL', KEYS[1])",
        "1",
        "h",
    ],
    &[
        "EVAL",
        "return {bit.band(7, 3), bit.bor(1, 2), bit.bxor(5, 1), bit.lshift(1, 4), bit.tohex(255)}",
        "0",
    ],
    &["EVAL", "return redis.sha1hex('')", "0"],
    &["EVAL", "local x =", "0"],
    &["EVAL", "return 1", "-1"],
    &["EVAL", "return 1", "2", "a"],
    &["EVAL", "return 1", "x"],
    &[
        "EVAL",
        "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])",
        "1",
        "n",
    ],
    &[
        "EVAL",
        "#!lua flags=no-writes,allow-oom\nreturn redis.call('SET', KEYS[1], 'x')",
        "1",
        "n",
    ],
    &["EVAL_RO", "#!lua\nreturn 1", "0"],
    &["EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0"],
    &["EVAL", "#!lua flags=bogus\nreturn 1", "0"],
    &["EVAL", "#!lua flags=no-writes,,allow-oom\nreturn 1", "0"],
    &["EVAL", "#!python\nreturn 1", "0"],
    &["EVAL", "#!lua foo=bar\nreturn 1", "0"],
    &["EVAL", "#!lua", "0"],
    &["EVAL", "#!lua flags=\nreturn 2", "0"],
    &["EVAL", "#!lua\nreturn undefined_here", "0"],
    &[
        "EVAL",
        "return cmsgpack.pack({1, 2, 3}, 'abc', -1, -200, 300, 70000, 5000000000, 1.5, 0.1, true, false, nil)",
        "0",
    ],
    &[
        "EVAL",
        "return cmsgpack.pack({a = 1}, string.rep('x', 40), string.rep('y', 300))",
        "0",
    ],
    &[
        "EVAL",
        "local a, b, c = cmsgpack.unpack(cmsgpack.pack({1, {2, 'x'}}, 'y', 3.25)) return {a[2][2], b, tostring(c)}",
        "0",
    ],
    &[
        "EVAL",
        "return cmsgpack.unpack(cmsgpack.pack({k = 'v'})).k",
        "0",
    ],
    &["EVAL", "return cmsgpack.unpack('\\220\\255')", "0"],
    &[
        "EVAL",
        "return struct.pack('>hHiIlLbB', -2, 65535, -70000, 4000000000, -5, 123456789012, -1, 255)",
        "0",
    ],
    &[
        "EVAL",
        "return struct.pack('<i3I5!4bi', -3, 1099511627775, 1, 2)",
        "0",
    ],
    &["EVAL", "return struct.pack('!d!f', 1.5, 2.25)", "0"],
    &[
        "EVAL",
        "return struct.pack('>d<fxc3s c0', -0.1, 3.5, 'abcdef', 'zt', 'rest')",
        "0",
    ],
    &[
        "EVAL",
        "return {struct.unpack('>hHiIlLbB', struct.pack('>hHiIlLbB', -2, 65535, -70000, 4000000000, -5, 123456789012, -1, 255))}",
        "0",
    ],
    &[
        "EVAL",
        "return {struct.unpack('<i3I5', struct.pack('<i3I5', -3, 1099511627775))}",
        "0",
    ],
    &[
        "EVAL",
        "local a, b, n = struct.unpack('>d<f', struct.pack('>d<f', -0.25, 3.5)) return {tostring(a), tostring(b), n}",
        "0",
    ],
    &[
        "EVAL",
        "return {struct.unpack('bc0sc2', '\\003abcxyz\\000qqrest')}",
        "0",
    ],
    &[
        "EVAL",
        "return {struct.unpack('!4bi', struct.pack('!4bi', 7, -9))}",
        "0",
    ],
    &["EVAL", "return {struct.unpack('BB', 'abcd', 3)}", "0"],
    &[
        "EVAL",
        "return {struct.size('>!4bihld'), struct.size('c10xI7'), struct.size('zq')}",
        "0",
    ],
    &["EVAL", "return struct.unpack('i', 'ab')", "0"],
    &["EVAL", "return struct.unpack('B', 'ab', 0)", "0"],
    &["EVAL", "return struct.unpack('c0', 'ab')", "0"],
    &["EVAL", "return struct.unpack('s', 'abc')", "0"],
    &["EVAL", "return struct.pack('c5', 'abc')", "0"],
    &["EVAL", "return struct.pack('i', 'x')", "0"],
    &["EVAL", "return struct.pack('i')", "0"],
    &["EVAL", "return struct.pack('q', 1)", "0"],
    &["EVAL", "return struct.pack('!3b', 1)", "0"],
    &["EVAL", "return struct.pack('i33', 1)", "0"],
    &["EVAL", "return struct.pack('c99999999999', 'a')", "0"],
    &["EVAL", "return struct.size('s')", "0"],
    &["EVAL", "return struct.size('c0')", "0"],
    &["EVAL", "return struct.pack({})", "0"],
    &[
        "EVAL",
        "return {struct.unpack('>I16i16', string.rep('\\255', 32))}",
        "0",
    ],
    &["EVAL", "return {struct.pack('I9', -1)}", "0"],
    &[
        "EVAL",
        "return #{struct.unpack(string.rep('b', 7990), string.rep('a', 9000))}",
        "0",
    ],
    &[
        "EVAL",
        "return #{struct.unpack(string.rep('b', 9000), string.rep('a', 9000))}",
        "0",
    ],
    &["EVAL", "return {struct.unpack('c2c0', '99abc')}", "0"],
    &["EVAL", "return {struct.unpack('B', 'a', -1)}", "0"],
    &["EVALSHA", "0000000000000000000000000000000000000000", "0"],
    &["SCRIPT", "LOAD", "return 'loaded'"],
    &["EVALSHA", "1bec6b0c4bdd0c5cc67d58d00e96a6d1dcd7b2a6", "0"],
    &[
        "EVALSHA_RO",
        "1bec6b0c4bdd0c5cc67d58d00e96a6d1dcd7b2a6",
        "0",
    ],
    &[
        "SCRIPT",
        "EXISTS",
        "1bec6b0c4bdd0c5cc67d58d00e96a6d1dcd7b2a6",
        "ffffffffffffffffffffffffffffffffffffffff",
    ],
    &["SCRIPT", "FLUSH"],
    &[
        "SCRIPT",
        "EXISTS",
        "1bec6b0c4bdd0c5cc67d58d00e96a6d1dcd7b2a6",
    ],
    // The same script again after a flush is cached again.
    &["EVAL", "return 'memo'", "0"],
    &["EVAL", "return 'memo'", "0"],
    &["SCRIPT", "FLUSH"],
    &[
        "SCRIPT",
        "EXISTS",
        "ba2aebda98d1686d5b4d27284feaa0c6380a17ad",
    ],
    &["EVAL", "return 'memo'", "0"],
    &[
        "SCRIPT",
        "EXISTS",
        "ba2aebda98d1686d5b4d27284feaa0c6380a17ad",
    ],
    &["SCRIPT", "KILL"],
    &["SCRIPT", "FLUSH", "BAD"],
    // redis.call's errors caught by pcall are their text, as Redis 7.0.
    &[
        "EVAL",
        "local ok, e = pcall(redis.call, 'nosuch') return {tostring(ok), e, type(e)}",
        "0",
    ],
    &[
        "EVAL",
        "redis.call('SET', KEYS[1], 'str') local ok, e = pcall(redis.call, 'INCR', KEYS[1]) return {type(e), e}",
        "1",
        "wt",
    ],
    // error() as Redis 7: an error table's text is the reply as it is; any error names
    // the line that raised it.
    &[
        "EVAL",
        "local ok, e = pcall(error, {err='X y'}) return e",
        "0",
    ],
    &["EVAL", "error({err='MY'})", "0"],
    &["EVAL", "error({err='lowercase text'})", "0"],
    &["EVAL", "error(redis.error_reply('OOPS it'))", "0"],
    &["EVAL", "error({err='multi\nline'})", "0"],
    &["EVAL", "error('plain')", "0"],
    &["EVAL", "error('lvl0', 0)", "0"],
    &["EVAL", "error('lvl2', 2)", "0"],
    &["EVAL", "error(12)", "0"],
    &["EVAL", "error()", "0"],
    &["EVAL", "error(true)", "0"],
    &["EVAL", "local function f() error('inner2', 2) end f()", "0"],
    &[
        "EVAL",
        "local ok, e = pcall(error, {err='A b'}) return nil + 1",
        "0",
    ],
    &["EVAL", "local ok, e = pcall(error) return tostring(e)", "0"],
    &[
        "EVAL",
        "local ok, e = pcall(error, 'm', 'notanumber') return e",
        "0",
    ],
    // Numbers as arguments: Redis formats them with %.17g.
    &[
        "EVAL",
        "local out = {} for _, v in ipairs({3.5, 1e15, 1e17, 0.1, 0/-1, -7, 2^53, 1/3, 1e300, -1e-300}) do redis.call('SET', KEYS[1], v) out[#out+1] = redis.call('GET', KEYS[1]) end return out",
        "1",
        "num",
    ],
    &["EVAL", "return redis.call('SET', KEYS[1], {})", "1", "k"],
    &["EVAL", "return redis.pcall('SET', KEYS[1], true)", "1", "k"],
    &[
        "EVAL",
        "return redis.pcall('SET', KEYS[1], nil, 'v')",
        "1",
        "k",
    ],
    &["EVAL", "return redis.pcall()", "0"],
    &["EVAL", "return redis.call()", "0"],
    // RESP3 replies as Lua sees them.
    &[
        "EVAL",
        "redis.setresp(3) redis.call('HSET', KEYS[1], 'f', 'v') local m = redis.call('HGETALL', KEYS[1]) return {m.map.f, type(m.map)}",
        "1",
        "h3",
    ],
    &[
        "EVAL",
        "redis.setresp(3) redis.call('SADD', KEYS[1], 'a') local s = redis.call('SMEMBERS', KEYS[1]) return {tostring(s.set.a), tostring(s.set.b)}",
        "1",
        "s3",
    ],
    &[
        "EVAL",
        "redis.setresp(3) redis.call('ZADD', KEYS[1], 1.5, 'm') return tostring(redis.call('ZSCORE', KEYS[1], 'm').double)",
        "1",
        "z3",
    ],
    &[
        "EVAL",
        "redis.setresp(3) return {tostring(redis.call('GET', 'nokey')), redis.call('SET', 'k3', 'v').ok, redis.pcall('INCR', 'k3').err}",
        "0",
    ],
    &[
        "EVAL",
        "return {tostring(redis.call('GET', 'nokey')), redis.call('SET', 'k2', 'v').ok, type(redis.call('LRANGE', 'nokey', 0, -1))}",
        "0",
    ],
];

#[test]
fn scripts_answer_as_redis_does() {
    let redis = Reference::start();
    let hc = Server::start();
    let want = replies(redis.addr, SCRIPTS);
    let got = replies(hc.addr, SCRIPTS);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(g, w);
    }
    assert_eq!(got.len(), want.len());
}

#[test]
fn a_script_that_loops_for_ever_is_killed_and_the_node_serves_on() {
    let s = Server::start();
    let mut c = Raw::connect(s.addr);
    assert_eq!(
        c.cmd(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"200"]),
        b"+OK\r\n"
    );
    let mut looping = Raw::connect(s.addr);
    looping.send(&Raw::frame(&[b"EVAL", b"while true do end", b"0"]));
    std::thread::sleep(Duration::from_millis(500));
    // Past the threshold: others get BUSY, SCRIPT KILL stops it.
    let busy = String::from_utf8(c.cmd(&[b"GET", b"k"])).unwrap();
    assert!(
        busy.starts_with("-BUSY Redis is busy running a script"),
        "{busy}"
    );
    assert_eq!(c.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    let killed = String::from_utf8(looping.read_reply()).unwrap();
    assert!(
        killed.contains("Script killed by user with SCRIPT KILL"),
        "{killed}"
    );
    assert_eq!(c.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(
        c.cmd(&[b"SCRIPT", b"KILL"]),
        b"-NOTBUSY No scripts in execution right now.\r\n"
    );
    // A script that wrote cannot be killed: half its effects would stay.
    let mut writer = Raw::connect(s.addr);
    writer.send(&Raw::frame(&[
        b"EVAL",
        // Two seconds by the server's clock, however fast the machine.
        b"redis.call('SET', 'w', 1) local t0 = redis.call('TIME') while true do local t = redis.call('TIME') if (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > 2000000 then break end end return 'done'",
        b"0",
    ]));
    std::thread::sleep(Duration::from_millis(500));
    let e = String::from_utf8(c.cmd(&[b"SCRIPT", b"KILL"])).unwrap();
    assert!(e.starts_with("-UNKILLABLE"), "{e}");
    assert_eq!(writer.read_reply(), b"$4\r\ndone\r\n");
}

#[test]
fn a_connection_that_keeps_sending_scripts_moves_to_the_script_thread_and_serves_on() {
    let s = Server::start();
    let mut other = Raw::connect(s.addr);
    let stat = |c: &mut Raw, name: &str| -> String {
        let info = String::from_utf8_lossy(&c.cmd(&[b"INFO", b"stats"])).into_owned();
        let prefix = format!("hypercache_script_clients_{name}:");
        info.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or("?")
            .to_string()
    };
    let moved = |c: &mut Raw| stat(c, "moved");
    assert_eq!(moved(&mut other), "0");
    let mut c = Raw::connect(s.addr);
    for i in 1..=6 {
        let n = c.cmd(&[b"EVAL", b"return redis.call('INCR', KEYS[1])", b"1", b"n"]);
        assert_eq!(n, format!(":{i}\r\n").into_bytes());
    }
    assert_eq!(moved(&mut other), "1");
    // A request split across the move, a pipeline of scripts and commands, a transaction:
    // served as before.
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n");
    std::thread::sleep(Duration::from_millis(50));
    c.send(b"$1\r\nv\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");
    let mut pipeline = Vec::new();
    pipeline.extend(Raw::frame(&[
        b"EVAL",
        b"return redis.call('GET', KEYS[1])",
        b"1",
        b"k",
    ]));
    pipeline.extend(Raw::frame(&[b"INCR", b"n"]));
    pipeline.extend(Raw::frame(&[
        b"EVAL",
        b"return redis.call('INCR', KEYS[1])",
        b"1",
        b"n",
    ]));
    c.send(&pipeline);
    assert_eq!(c.read_reply(), b"$1\r\nv\r\n");
    assert_eq!(c.read_reply(), b":7\r\n");
    assert_eq!(c.read_reply(), b":8\r\n");
    assert_eq!(c.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"INCR", b"n"]), b"+QUEUED\r\n");
    assert_eq!(c.cmd(&[b"EXEC"]), b"*1\r\n:9\r\n");
    assert_eq!(other.cmd(&[b"GET", b"n"]), b"$1\r\n9\r\n");
    // A script that loops there holds that thread's connections only: this one gets -BUSY and
    // kills it, and the moved connection serves on.
    assert_eq!(
        other.cmd(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"200"]),
        b"+OK\r\n"
    );
    c.send(&Raw::frame(&[b"EVAL", b"while true do end", b"0"]));
    std::thread::sleep(Duration::from_millis(500));
    let busy = String::from_utf8(other.cmd(&[b"GET", b"k"])).unwrap();
    assert!(busy.starts_with("-BUSY"), "{busy}");
    assert_eq!(other.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    let killed = String::from_utf8(c.read_reply()).unwrap();
    assert!(killed.contains("Script killed by user"), "{killed}");
    assert_eq!(c.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    assert_eq!(
        c.cmd(&[b"EVAL", b"return redis.call('INCR', KEYS[1])", b"1", b"n"]),
        b":10\r\n"
    );
    // Sixteen batches without a script: it moves back to an I/O thread (once the last reply
    // is out), where a script that loops holds it no more: it gets -BUSY as any other.
    for _ in 0..16 {
        assert_eq!(c.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while stat(&mut other, "returned") != "1" && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(stat(&mut other, "returned"), "1");
    let mut looping = Raw::connect(s.addr);
    looping.send(&Raw::frame(&[b"EVAL", b"while true do end", b"0"]));
    std::thread::sleep(Duration::from_millis(500));
    let busy = String::from_utf8(c.cmd(&[b"GET", b"k"])).unwrap();
    assert!(busy.starts_with("-BUSY"), "{busy}");
    assert_eq!(c.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    let killed = String::from_utf8(looping.read_reply()).unwrap();
    assert!(killed.contains("Script killed by user"), "{killed}");
    // Scripts again: it moves again, with its state.
    for i in 11..=15 {
        let n = c.cmd(&[b"EVAL", b"return redis.call('INCR', KEYS[1])", b"1", b"n"]);
        assert_eq!(n, format!(":{i}\r\n").into_bytes());
    }
    assert_eq!(moved(&mut other), "2");
    // CLIENT LIST still lists it, and CLIENT KILL reaches it there.
    let id = String::from_utf8_lossy(&c.cmd(&[b"CLIENT", b"ID"])).into_owned();
    let id = id.trim_start_matches(':').trim();
    let list = String::from_utf8_lossy(&other.cmd(&[b"CLIENT", b"LIST"])).into_owned();
    assert!(list.contains(&format!("id={id} ")), "{list}");
    assert_eq!(
        other.cmd(&[b"CLIENT", b"KILL", b"ID", id.as_bytes()]),
        b":1\r\n"
    );
    assert!(c.is_closed());
}

#[test]
fn a_replica_never_shows_half_a_script() {
    let c = common::cluster::TestCluster::start(2, "network:\n  io_threads: 3\n");
    let mut owner = c.conn(0);
    let script = "for i = 1, 50 do redis.call('SET', '{g}k' .. i, ARGV[1]) end return 50";
    let run = |conn: &mut redis::Connection, n: i64| -> i64 {
        redis::cmd("EVAL")
            .arg(script)
            .arg(0)
            .arg(n)
            .query(conn)
            .unwrap()
    };
    assert_eq!(run(&mut owner, 0), 50);
    c.wait_converged();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let mut r = c.conn(1);
        let stop = stop.clone();
        std::thread::spawn(move || {
            let keys: Vec<String> = (1..=50).map(|i| format!("{{g}}k{i}")).collect();
            let mut seen = std::collections::HashSet::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(&mut r).unwrap();
                assert!(v.iter().all(|x| *x == v[0]), "half a script: {v:?}");
                seen.insert(v[0].clone());
            }
            seen.len()
        })
    };
    for n in 1..200 {
        run(&mut owner, n);
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = reader.join().expect("the reader saw half a script");
    assert!(seen > 3, "{seen}");
}

#[test]
fn after_a_kill_9_each_script_is_recovered_whole_or_not_at_all() {
    const KEYS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = "persistence:\n  sync_policy: everysec\n";
    let script = "for i = 1, tonumber(ARGV[2]) do redis.call('SET', 'k' .. i, ARGV[1] .. ':' .. string.rep('x', 1000)) end return 1";
    let check = |c: &mut redis::Connection| {
        let keys: Vec<String> = (1..=KEYS).map(|i| format!("k{i}")).collect();
        let v: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(c).unwrap();
        let seqs: Vec<Option<&str>> = v
            .iter()
            .map(|x| x.as_deref().map(|s| s.split(':').next().unwrap()))
            .collect();
        assert!(
            seqs.iter().all(|s| *s == seqs[0]),
            "half a script: {:?} vs {:?}",
            seqs[0],
            seqs.iter().find(|s| **s != seqs[0])
        );
    };
    let mut rng = fastrand::Rng::with_seed(5);
    let mut cut = 0;
    let mut cycles = 0;
    while cut < 2 && cycles < 30 {
        cycles += 1;
        let mut s = Server::start_in(&data, Some(config));
        let mut c = s.conn();
        cut += common::unfinished_transactions(&mut c);
        check(&mut c);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (addr, stop) = (s.addr, stop.clone());
            std::thread::spawn(move || {
                let mut c = redis::Client::open(format!("redis://{addr}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                let mut seq = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    seq += 1;
                    let r: redis::RedisResult<i64> = redis::cmd("EVAL")
                        .arg(script)
                        .arg(0)
                        .arg(seq)
                        .arg(KEYS)
                        .query(&mut c);
                    if r.is_err() {
                        return;
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(rng.u64(200..600)));
        s.kill();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
    }
    let s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    cut += common::unfinished_transactions(&mut c);
    check(&mut c);
    assert!(
        cut >= 1,
        "no kill landed inside a script in {cycles} cycles"
    );
}

#[test]
fn hostile_scripts_get_errors_and_the_node_serves_on() {
    let s = Server::start();
    let mut c = Raw::connect(s.addr);
    let eval = |c: &mut Raw, src: &str| {
        String::from_utf8(c.cmd(&[b"EVAL", src.as_bytes(), b"0"])).unwrap()
    };
    // Memory: bounded, an error.
    let e = eval(&mut c, "return string.rep('x', 600 * 1024 * 1024)");
    assert!(
        e.starts_with("-ERR") && e.contains("not enough memory"),
        "{e}"
    );
    // Nesting past the limit, and a table that holds itself: errors, not a crash.
    let e = eval(
        &mut c,
        "local t = {} local x = t for i = 1, 5000 do x[1] = {} x = x[1] end return t",
    );
    assert!(
        e.contains("reached lua stack limit"),
        "{}",
        &e[..e.len().min(200)]
    );
    let e = eval(&mut c, "local t = {} t[1] = t return t");
    assert!(
        e.contains("reached lua stack limit"),
        "{}",
        &e[..e.len().min(200)]
    );
    // MessagePack that claims 4 billion elements, or nests 5000 deep: errors, no allocation
    // or recursion to match.
    let e = eval(
        &mut c,
        "return cmsgpack.unpack('\\221\\255\\255\\255\\255')",
    );
    assert!(e.contains("Missing bytes in input"), "{e}");
    let e = eval(
        &mut c,
        "return #cmsgpack.unpack(string.rep('\\145', 5000) .. '\\1')",
    );
    assert!(e.contains("Bad data format in input"), "{e}");
    // Endless recursion: Lua's own stack overflow.
    let e = eval(&mut c, "local function f() return f() + 1 end return f()");
    assert!(e.starts_with("-ERR") && e.contains("stack overflow"), "{e}");
    // A script that is not UTF-8, and a script of 1 MB.
    assert_eq!(
        c.cmd(&[b"EVAL", b"return '\xff\xfe'", b"0"]),
        b"$2\r\n\xff\xfe\r\n"
    );
    let big = format!("return {}", "1 + ".repeat(250_000) + "1");
    let e = eval(&mut c, &big);
    assert!(
        e.starts_with(':') || e.starts_with("-ERR"),
        "{}",
        &e[..e.len().min(200)]
    );
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(eval(&mut c, "return 7"), ":7\r\n");
}

#[test]
fn a_pipeline_of_scripts_and_commands_answers_in_order_as_redis() {
    let redis = Reference::start();
    let hc = Server::start();
    let frame = |a: &[&str]| Raw::frame(&a.iter().map(|s| s.as_bytes()).collect::<Vec<_>>());
    let incr = ["EVAL", "return redis.call('INCR', KEYS[1])", "1", "n"];
    let mut p = Vec::new();
    for _ in 0..3 {
        p.extend(frame(&incr));
    }
    p.extend(frame(&["EVALSHA", "ffff", "0"]));
    p.extend(frame(&incr));
    p.extend(frame(&["GET", "n"]));
    p.extend(frame(&incr));
    p.extend(frame(&["EVAL", "return 1", "x"]));
    p.extend(frame(&["INCR", "n"]));
    p.extend(frame(&[
        "EVAL",
        "return redis.call('GET', KEYS[1])",
        "1",
        "n",
    ]));
    let answers = |addr: SocketAddr| {
        let mut c = Raw::connect(addr);
        c.cmd(&[b"FLUSHALL"]);
        c.send(&p);
        (0..10)
            .map(|_| String::from_utf8_lossy(&c.read_reply()).into_owned())
            .collect::<Vec<_>>()
    };
    let want = answers(redis.addr);
    assert_eq!(want[9], "$1\r\n6\r\n");
    assert_eq!(answers(hc.addr), want);
}

const LIB: &str = "#!lua name=mylib\nredis.register_function('get1', function(keys, args) return redis.call('GET', keys[1]) end)\nredis.register_function{function_name='ro', callback=function(keys, args) return redis.call('SET', keys[1], args[1]) end, flags={'no-writes'}, description='tries to write'}";

const FUNCTIONS: &[&[&str]] = &[
    &["FUNCTION", "LOAD", LIB],
    &["FUNCTION", "LOAD", LIB],
    &["FUNCTION", "LOAD", "REPLACE", LIB],
    &["SET", "k", "v"],
    &["FCALL", "get1", "1", "k"],
    &["FCALL_RO", "get1", "1", "k"],
    &["FCALL_RO", "ro", "1", "k", "x"],
    &["FCALL", "ro", "1", "k", "x"],
    &["FCALL", "nope", "0"],
    &["FCALL", "get1", "-1"],
    &["FCALL", "get1", "5", "k"],
    &["FUNCTION", "LOAD", "return 1"],
    &["FUNCTION", "LOAD", "#!lua name=bad-name\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=x foo=bar\nreturn 1"],
    &["FUNCTION", "LOAD", "#!js name=x\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=empty\nlocal x = 1"],
    &[
        "FUNCTION",
        "LOAD",
        "#!lua name=dup\nredis.register_function('get1', function() return 1 end)",
    ],
    &[
        "FUNCTION",
        "LOAD",
        "#!lua name=badflag\nredis.register_function{function_name='f', callback=function() return 1 end, flags={'nope'}}",
    ],
    // Library code that never ends is stopped at Redis's 500 ms.
    &["FUNCTION", "LOAD", "#!lua name=spin\nwhile true do end"],
    &["FUNCTION", "DELETE", "nolib"],
    &["FUNCTION", "DELETE", "mylib"],
    &["FCALL", "get1", "1", "k"],
    // One function per library: Redis lists a library's functions in its hash table's order.
    &[
        "FUNCTION",
        "LOAD",
        "#!lua name=one\nredis.register_function{function_name='f1', callback=function() return 1 end, flags={'no-writes', 'allow-stale'}, description='d'}",
    ],
    &["FUNCTION", "LIST"],
    &["FUNCTION", "LIST", "WITHCODE"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "o*"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "other*"],
    &["FUNCTION", "LIST", "BAD"],
    &["FUNCTION", "FLUSH", "BAD"],
    &["FUNCTION", "FLUSH"],
    &["FUNCTION", "STATS"],
    &["FUNCTION", "KILL"],
];

#[test]
fn functions_answer_as_redis_does() {
    let redis = Reference::start();
    let hc = Server::start();
    let run = |addr| {
        let mut c = Raw::connect(addr);
        c.cmd(&[b"FUNCTION", b"FLUSH"]);
        replies(addr, FUNCTIONS)
    };
    let want = run(redis.addr);
    let got = run(hc.addr);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(g, w);
    }
    assert_eq!(got.len(), want.len());
}

#[test]
fn functions_survive_dump_and_restore() {
    let s = Server::start();
    let mut c = Raw::connect(s.addr);
    assert_eq!(
        c.cmd(&[b"FUNCTION", b"LOAD", LIB.as_bytes()]),
        b"$5\r\nmylib\r\n"
    );
    let dump = c.cmd(&[b"FUNCTION", b"DUMP"]);
    let payload = {
        let text = dump.splitn(2, |&b| b == b'\n').nth(1).unwrap();
        text[..text.len() - 2].to_vec()
    };
    assert_eq!(c.cmd(&[b"FUNCTION", b"FLUSH"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"FUNCTION", b"RESTORE", &payload]), b"+OK\r\n");
    c.cmd(&[b"SET", b"k", b"v"]);
    assert_eq!(c.cmd(&[b"FCALL", b"get1", b"1", b"k"]), b"$1\r\nv\r\n");
    // Appending what is there fails whole; a damaged payload is refused.
    let e = String::from_utf8(c.cmd(&[b"FUNCTION", b"RESTORE", &payload])).unwrap();
    assert!(e.contains("already exists"), "{e}");
    let mut bad = payload.clone();
    bad[6] ^= 1;
    let e = String::from_utf8(c.cmd(&[b"FUNCTION", b"RESTORE", &bad])).unwrap();
    assert_eq!(e, "-ERR DUMP payload version or checksum are wrong\r\n");
    assert_eq!(
        c.cmd(&[b"FUNCTION", b"RESTORE", &payload, b"REPLACE"]),
        b"+OK\r\n"
    );
}

#[test]
fn a_script_loaded_on_one_node_runs_on_every_node() {
    let c = common::cluster::TestCluster::start(3, "");
    let mut a = c.conn(0);
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg("return redis.call('INCR', KEYS[1])")
        .query(&mut a)
        .unwrap();
    // From the same connection at once, whichever node owns the key (the forward waits for
    // the script to reach it).
    for i in 0..20 {
        let n: i64 = redis::cmd("EVALSHA")
            .arg(&sha)
            .arg(1)
            .arg(format!("k{i}"))
            .query(&mut a)
            .unwrap();
        assert_eq!(n, 1);
    }
    // And from clients of the other nodes, once the stream has brought it.
    for node in 1..3 {
        common::cluster::wait(
            "the script on another node",
            Duration::from_secs(10),
            || {
                let known: Vec<i64> = redis::cmd("SCRIPT")
                    .arg("EXISTS")
                    .arg(&sha)
                    .query(&mut c.conn(node))
                    .unwrap();
                known == [1]
            },
        );
        let n: i64 = redis::cmd("EVALSHA")
            .arg(&sha)
            .arg(1)
            .arg("k0")
            .query(&mut c.conn(node))
            .unwrap();
        assert_eq!(n, 1 + node as i64);
    }
}

/// The names of a node's libraries, by FUNCTION LIST.
fn library_names(c: &mut redis::Connection) -> Vec<String> {
    let list: Vec<Vec<redis::Value>> = redis::cmd("FUNCTION").arg("LIST").query(c).unwrap();
    let mut names: Vec<String> = list
        .into_iter()
        .map(|fields| {
            let at = fields
                .iter()
                .position(|f| matches!(f, redis::Value::BulkString(b) if b == b"library_name"))
                .expect("library_name");
            redis::from_redis_value(fields[at + 1].clone()).unwrap()
        })
        .collect();
    names.sort();
    names
}

fn counter_lib(name: &str) -> String {
    format!(
        "#!lua name={name}\nredis.register_function('{name}_incr', function(keys, args) return redis.call('INCR', keys[1]) end)"
    )
}

fn libraries_count(c: &mut redis::Connection) -> i64 {
    // The reply's leaves in order: the count follows its name.
    fn leaves(v: redis::Value, out: &mut Vec<redis::Value>) {
        match v {
            redis::Value::Array(items) => items.into_iter().for_each(|i| leaves(i, out)),
            redis::Value::Map(pairs) => pairs.into_iter().for_each(|(k, v)| {
                leaves(k, out);
                leaves(v, out)
            }),
            other => out.push(other),
        }
    }
    let mut all = Vec::new();
    leaves(
        redis::cmd("FUNCTION").arg("STATS").query(c).unwrap(),
        &mut all,
    );
    let at = all
        .iter()
        .position(|v| matches!(v, redis::Value::BulkString(b) if b == b"libraries_count"))
        .expect("libraries_count");
    redis::from_redis_value(all[at + 1].clone()).unwrap()
}

#[test]
fn functions_are_kept_by_the_aof_and_by_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = "persistence:\n  sync_policy: always\n";
    let mut s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    for lib in ["a", "b"] {
        let _: String = redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg(counter_lib(lib))
            .query(&mut c)
            .unwrap();
    }
    let _: () = redis::cmd("FUNCTION")
        .arg("DELETE")
        .arg("b")
        .query(&mut c)
        .unwrap();
    // From the AOF alone.
    s.kill();
    let mut s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    // FUNCTION STATS counts them before any script ran.
    assert_eq!(libraries_count(&mut c), 1);
    assert_eq!(library_names(&mut c), ["a"]);
    let n: i64 = redis::cmd("FCALL")
        .arg("a_incr")
        .arg(1)
        .arg("n")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    // From a snapshot, with a change after it in the new AOF.
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(counter_lib("c"))
        .query(&mut c)
        .unwrap();
    s.kill();
    let mut s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    assert_eq!(library_names(&mut c), ["a", "c"]);
    // A flush is kept too: the snapshot holds no library then.
    let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut c).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    s.kill();
    let s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    assert_eq!(library_names(&mut c), Vec::<String>::new());
    assert_eq!(libraries_count(&mut c), 0);
}

#[test]
fn functions_loaded_on_one_node_reach_every_node() {
    // Each node's libraries on disk at once: the restarted node comes back with its old set.
    let mut c = common::cluster::TestCluster::start(3, "persistence:\n  sync_policy: always\n");
    let mut a = c.conn(0);
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(counter_lib("a"))
        .query(&mut a)
        .unwrap();
    // At once from the same connection, whichever node owns the key: the call goes to the
    // owner, after the library.
    for i in 0..20 {
        let n: i64 = redis::cmd("FCALL")
            .arg("a_incr")
            .arg(1)
            .arg(format!("k{i}"))
            .query(&mut a)
            .unwrap();
        assert_eq!(n, 1);
    }
    for node in 1..3 {
        common::cluster::wait("the library on every node", Duration::from_secs(10), || {
            library_names(&mut c.conn(node)) == ["a"]
        });
        let n: i64 = redis::cmd("FCALL")
            .arg("a_incr")
            .arg(1)
            .arg("k0")
            .query(&mut c.conn(node))
            .unwrap();
        assert_eq!(n, 1 + node as i64);
    }
    // A node that was down while a library was loaded gets it when it comes back, and its
    // own older set (on its disk) replaces nothing.
    c.kill(2);
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(counter_lib("b"))
        .query(&mut c.conn(1))
        .unwrap();
    c.restart(2);
    c.wait_size(3);
    common::cluster::wait(
        "node 3 to get the new library",
        Duration::from_secs(30),
        || library_names(&mut c.conn(2)) == ["a", "b"],
    );
    // Node 3 offers its own set to each peer in its first passes after the restart.
    common::cluster::wait(
        "node 3's passes with both peers",
        Duration::from_secs(60),
        || common::cluster::figure(&mut c.conn(2), "hypercache_anti_entropy_rounds") >= 2,
    );
    std::thread::sleep(Duration::from_millis(500));
    for node in 0..3 {
        assert_eq!(
            library_names(&mut c.conn(node)),
            ["a", "b"],
            "node {}",
            node + 1
        );
    }
    // A deletion reaches every node.
    let _: () = redis::cmd("FUNCTION")
        .arg("DELETE")
        .arg("a")
        .query(&mut c.conn(2))
        .unwrap();
    for node in 0..3 {
        common::cluster::wait(
            "the deletion on every node",
            Duration::from_secs(10),
            || library_names(&mut c.conn(node)) == ["b"],
        );
    }
    let e = redis::cmd("FCALL")
        .arg("a_incr")
        .arg(1)
        .arg("k0")
        .query::<i64>(&mut c.conn(0))
        .unwrap_err();
    assert!(e.to_string().contains("Function not found"), "{e}");
}

#[test]
fn function_changes_on_both_sides_of_a_partition_converge_to_one_set() {
    let c = common::cluster::TestCluster::start(3, "");
    let load = |node: usize, lib: &str| {
        let _: String = redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg(counter_lib(lib))
            .query(&mut c.conn(node))
            .unwrap();
    };
    load(0, "a");
    for node in 1..3 {
        common::cluster::wait("the library on every node", Duration::from_secs(10), || {
            library_names(&mut c.conn(node)) == ["a"]
        });
    }
    let debug = |node: usize, args: &[&str]| {
        let _: () = redis::cmd("DEBUG")
            .arg(args)
            .query(&mut c.conn(node))
            .unwrap();
    };
    debug(2, &["PARTITION", "node-1", "node-2"]);
    debug(0, &["PARTITION", "node-3"]);
    debug(1, &["PARTITION", "node-3"]);
    common::cluster::wait("the partition to be seen", Duration::from_secs(30), || {
        common::cluster::info(&mut c.conn(0), "hypercache_cluster_size") == "2"
            && common::cluster::info(&mut c.conn(2), "hypercache_cluster_size") == "1"
    });
    // Each side changes its set; node 3 more than once, so the sides' clocks differ.
    load(0, "left");
    load(2, "right");
    load(2, "right2");
    for node in 0..3 {
        debug(node, &["HEAL"]);
    }
    c.wait_size(3);
    // Every node ends with the same set, one side's whole: the newer by stamp.
    let sets = || -> Vec<Vec<String>> { (0..3).map(|n| library_names(&mut c.conn(n))).collect() };
    common::cluster::wait("one set on every node", Duration::from_secs(60), || {
        let s = sets();
        s.windows(2).all(|w| w[0] == w[1])
    });
    let s = sets();
    assert!(
        s[0] == ["a", "left"] || s[0] == ["a", "right", "right2"],
        "{s:?}"
    );
}
