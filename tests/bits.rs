//! Bitmaps through real clients: every command and option with Redis 7.0's replies and error
//! texts (expected values taken from redis-server 7.0.15), RESP3, type errors, the offset and
//! memory limits, SETBIT/BITFIELD as small records on disk and on the wire, and a restart.

mod common;

use std::time::Duration;

use common::cluster::{TestCluster, wait};
use common::{Raw, Server, encoding, info_field};
use redis::{Commands, Value};

/// A command from its words.
fn cmd(words: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(words[0]);
    for w in &words[1..] {
        c.arg(*w);
    }
    c
}

fn int(c: &mut redis::Connection, words: &[&str]) -> i64 {
    cmd(words)
        .query(c)
        .unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

fn ints(c: &mut redis::Connection, words: &[&str]) -> Vec<Option<i64>> {
    cmd(words)
        .query(c)
        .unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

fn bytes(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    c.get(key).unwrap()
}

/// The exact reply line(s) of a command, as sent on the wire.
fn wire(raw: &mut Raw, words: &[&str]) -> String {
    let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    String::from_utf8_lossy(&raw.cmd(&args)).into_owned()
}

#[test]
fn setbit_and_getbit_count_from_the_top_bit_and_grow_the_string() {
    let s = Server::start();
    let mut c = s.conn();
    assert_eq!(int(&mut c, &["SETBIT", "k", "7", "1"]), 0);
    assert_eq!(bytes(&mut c, "k"), b"\x01");
    assert_eq!(int(&mut c, &["GETBIT", "k", "7"]), 1);
    assert_eq!(int(&mut c, &["GETBIT", "k", "6"]), 0);
    assert_eq!(int(&mut c, &["GETBIT", "k", "100"]), 0, "past the end");
    assert_eq!(int(&mut c, &["GETBIT", "missing", "3"]), 0);
    // The old bit comes back; a far bit pads with zero bytes.
    assert_eq!(int(&mut c, &["SETBIT", "k", "7", "0"]), 1);
    assert_eq!(int(&mut c, &["SETBIT", "k", "100", "1"]), 0);
    assert_eq!(bytes(&mut c, "k"), b"\0\0\0\0\0\0\0\0\0\0\0\0\x08");
    assert_eq!(encoding(&mut c, "k"), "raw");
    // A missing key set to 0 is still created, as in Redis.
    assert_eq!(int(&mut c, &["SETBIT", "z", "9", "0"]), 0);
    assert_eq!(bytes(&mut c, "z"), b"\0\0");
    // An integer value is its decimal text: '1' is 0x31, and setting bit 6 makes it '3'.
    let () = c.set("n", 1).unwrap();
    assert_eq!(encoding(&mut c, "n"), "int");
    assert_eq!(int(&mut c, &["GETBIT", "n", "2"]), 1);
    assert_eq!(int(&mut c, &["SETBIT", "n", "6", "1"]), 0);
    assert_eq!(bytes(&mut c, "n"), b"3");
    assert_eq!(c.incr::<_, _, i64>("n", 1).unwrap(), 4);
    // Even a write that changes nothing leaves the string "raw", as Redis's does.
    let () = c.set("e", "hello").unwrap();
    assert_eq!(int(&mut c, &["SETBIT", "e", "0", "0"]), 0);
    assert_eq!(encoding(&mut c, "e"), "raw");
    // The deadline stays.
    let () = redis::cmd("SET")
        .arg("t")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    assert_eq!(int(&mut c, &["SETBIT", "t", "0", "1"]), 0);
    assert!(c.ttl::<_, i64>("t").unwrap() > 900);
    // The top bit of the last byte a 512 MB string can hold is only read, never allocated.
    assert_eq!(int(&mut c, &["GETBIT", "k", "4294967295"]), 0);
}

#[test]
fn bitcount_and_bitpos_take_byte_and_bit_ranges() {
    let s = Server::start();
    let mut c = s.conn();
    let () = c.set("k", "foobar").unwrap();
    for (args, want) in [
        (&[][..], 26),
        (&["0", "0"][..], 4),
        (&["1", "1"][..], 6),
        (&["1", "1", "BYTE"][..], 6),
        (&["5", "30", "BIT"][..], 17),
        (&["5", "30", "bit"][..], 17),
        (&["-1", "-1"][..], 4),
        (&["-5", "-1", "BIT"][..], 2),
        (&["2", "1"][..], 0),
        (&["-1", "-5"][..], 0),
        (&["-100", "100"][..], 26),
        (
            &["-9223372036854775808", "9223372036854775807", "BIT"][..],
            26,
        ),
    ] {
        let words: Vec<&str> = ["BITCOUNT", "k"].iter().chain(args).copied().collect();
        assert_eq!(int(&mut c, &words), want, "{words:?}");
    }
    assert_eq!(int(&mut c, &["BITCOUNT", "missing"]), 0);
    // A missing key counts 0 before its arguments are looked at, as in Redis.
    assert_eq!(int(&mut c, &["BITCOUNT", "missing", "x"]), 0);

    let () = c.set("p", b"\xff\xf0\x00".as_slice()).unwrap();
    let () = c.set("q", b"\x00\xff\xf0".as_slice()).unwrap();
    let () = c.set("ones", b"\xff\xff".as_slice()).unwrap();
    let () = c.set("empty", "").unwrap();
    for (words, want) in [
        (&["BITPOS", "p", "0"][..], 12),
        (&["BITPOS", "p", "1", "2"][..], -1),
        (&["BITPOS", "p", "0", "2"][..], 16),
        (&["BITPOS", "p", "0", "0", "0"][..], -1),
        (&["BITPOS", "q", "1", "0"][..], 8),
        (&["BITPOS", "q", "1", "2"][..], 16),
        (&["BITPOS", "q", "1", "2", "-1", "BYTE"][..], 16),
        (&["BITPOS", "q", "1", "7", "15", "BIT"][..], 8),
        (&["BITPOS", "q", "1", "7", "-3", "BIT"][..], 8),
        (&["BITPOS", "q", "0", "8", "15", "BIT"][..], -1),
        (&["BITPOS", "q", "0", "0", "-1"][..], 0),
        (&["BITPOS", "q", "0", "1"][..], 20),
        // Without an end, all ones find the zero just past the string; with one, none.
        (&["BITPOS", "ones", "0"][..], 16),
        (&["BITPOS", "ones", "0", "0", "-1"][..], -1),
        (&["BITPOS", "ones", "0", "1"][..], 16),
        (&["BITPOS", "empty", "0"][..], -1),
        (&["BITPOS", "missing", "0"][..], 0),
        (&["BITPOS", "missing", "1"][..], -1),
    ] {
        assert_eq!(int(&mut c, words), want, "{words:?}");
    }
    // Long runs, across word boundaries, at every alignment.
    let mut big = vec![0u8; 10_000];
    big[7_777] = 0x10;
    let () = c.set("big", big.as_slice()).unwrap();
    assert_eq!(int(&mut c, &["BITPOS", "big", "1"]), 7_777 * 8 + 3);
    assert_eq!(
        int(&mut c, &["BITPOS", "big", "1", "3", "-1"]),
        7_777 * 8 + 3
    );
    assert_eq!(
        int(&mut c, &["BITPOS", "big", "1", "62220", "79999", "BIT"]),
        -1
    );
    assert_eq!(int(&mut c, &["BITCOUNT", "big"]), 1);
    assert_eq!(int(&mut c, &["BITCOUNT", "big", "1", "62219", "BIT"]), 1);
    assert_eq!(int(&mut c, &["BITCOUNT", "big", "1", "62218", "BIT"]), 0);
}

#[test]
fn bitop_combines_sources_padded_with_zeros() {
    let s = Server::start();
    let mut c = s.conn();
    let () = c.set("a", b"\xff\x0f".as_slice()).unwrap();
    let () = c.set("b", b"\xf0".as_slice()).unwrap();
    for (op, want) in [
        ("AND", &b"\xf0\x00"[..]),
        ("or", b"\xff\x0f"),
        ("XOR", b"\x0f\x0f"),
    ] {
        assert_eq!(int(&mut c, &["BITOP", op, "d", "a", "b", "missing"]), 2);
        let want_missing = if op == "AND" { &b"\0\0"[..] } else { want };
        assert_eq!(bytes(&mut c, "d"), want_missing, "{op}");
        assert_eq!(int(&mut c, &["BITOP", op, "d", "a", "b"]), 2);
        assert_eq!(bytes(&mut c, "d"), want, "{op}");
    }
    assert_eq!(int(&mut c, &["BITOP", "NOT", "d", "a"]), 2);
    assert_eq!(bytes(&mut c, "d"), b"\x00\xf0");
    // Long enough for the word loops, with a source that is a destination too.
    let x: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let y: Vec<u8> = (0..777u32).map(|i| (i * 13) as u8).collect();
    let () = c.set("x", x.as_slice()).unwrap();
    let () = c.set("y", y.as_slice()).unwrap();
    assert_eq!(int(&mut c, &["BITOP", "XOR", "x", "x", "y"]), 1000);
    let want: Vec<u8> = x
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ y.get(i).copied().unwrap_or(0))
        .collect();
    assert_eq!(bytes(&mut c, "x"), want);
    // The result replaces whatever was there, deadline included; a plain ("raw") string even
    // when it reads as a number.
    let _: i64 = c.hset("h", "f", "v").unwrap();
    let _: bool = c.expire("h", 1000).unwrap();
    let () = c.set("one", "1").unwrap();
    assert_eq!(int(&mut c, &["BITOP", "OR", "h", "one"]), 1);
    assert_eq!(bytes(&mut c, "h"), b"1");
    assert_eq!(c.ttl::<_, i64>("h").unwrap(), -1);
    assert_eq!(encoding(&mut c, "h"), "raw");
    // An empty result deletes the destination.
    assert_eq!(int(&mut c, &["BITOP", "AND", "h", "missing", "gone"]), 0);
    assert!(!c.exists::<_, bool>("h").unwrap());
    // A source of another type fails the command before anything is written.
    let _: i64 = c.sadd("set", "m").unwrap();
    let e = cmd(&["BITOP", "OR", "d", "a", "set"])
        .query::<i64>(&mut c)
        .unwrap_err();
    assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
    assert_eq!(bytes(&mut c, "d"), b"\x00\xf0");
}

#[test]
fn bitfield_reads_writes_and_increments_under_each_overflow_policy() {
    let s = Server::start();
    let mut c = s.conn();
    assert_eq!(
        ints(
            &mut c,
            &[
                "BITFIELD", "mykey", "INCRBY", "i5", "100", "1", "GET", "u4", "0"
            ]
        ),
        [Some(1), Some(0)]
    );
    // Redis's own example: one counter wraps, the other saturates.
    let incr = [
        "BITFIELD", "mykey", "incrby", "u2", "100", "1", "OVERFLOW", "SAT", "incrby", "u2", "102",
        "1",
    ];
    for want in [[1, 1], [2, 2], [3, 3], [0, 3]] {
        assert_eq!(ints(&mut c, &incr), want.map(Some));
    }
    let fail = [
        "BITFIELD", "mykey", "OVERFLOW", "FAIL", "incrby", "u2", "102", "1",
    ];
    assert_eq!(ints(&mut c, &fail), [None]);
    // SET answers the old value; #N counts in fields of the type's width.
    assert_eq!(
        ints(
            &mut c,
            &[
                "BITFIELD", "f", "SET", "i8", "#0", "100", "SET", "i8", "#1", "-100", "GET", "i8",
                "#0", "GET", "i8", "#1", "GET", "u8", "8",
            ]
        ),
        [Some(0), Some(0), Some(100), Some(-100), Some(156)]
    );
    assert_eq!(bytes(&mut c, "f"), b"d\x9c");
    assert_eq!(
        ints(
            &mut c,
            &[
                "BITFIELD",
                "w",
                "SET",
                "i64",
                "0",
                "-9223372036854775808",
                "INCRBY",
                "i64",
                "0",
                "-1",
                "OVERFLOW",
                "SAT",
                "INCRBY",
                "i64",
                "0",
                "1",
                "OVERFLOW",
                "FAIL",
                "INCRBY",
                "i64",
                "0",
                "1",
                "GET",
                "u63",
                "0",
                "SET",
                "u63",
                "0",
                "-1",
            ]
        ),
        [
            Some(0),
            Some(i64::MAX),
            Some(i64::MAX),
            None,
            Some(i64::MAX >> 1),
            None
        ]
    );
    assert_eq!(c.strlen::<_, i64>("w").unwrap(), 8);
    assert_eq!(
        ints(
            &mut c,
            &[
                "BITFIELD", "s", "OVERFLOW", "SAT", "SET", "i8", "0", "300", "SET", "u4", "8",
                "-1", "GET", "i8", "0", "GET", "u4", "8",
            ]
        ),
        [Some(0), Some(0), Some(127), Some(15)]
    );
    // A write that fails still makes room for its field, as Redis does.
    assert_eq!(
        ints(
            &mut c,
            &["BITFIELD", "g", "OVERFLOW", "FAIL", "SET", "u2", "30", "9"]
        ),
        [None]
    );
    assert_eq!(bytes(&mut c, "g"), b"\0\0\0\0");
    // Reads only: BITFIELD_RO, and GETs of a missing key.
    assert_eq!(
        ints(
            &mut c,
            &["BITFIELD_RO", "f", "GET", "u4", "0", "GET", "i4", "12"]
        ),
        [Some(6), Some(-4)]
    );
    assert_eq!(
        ints(&mut c, &["BITFIELD", "missing", "GET", "u8", "0"]),
        [Some(0)]
    );
    assert!(!c.exists::<_, bool>("missing").unwrap());
    assert_eq!(ints(&mut c, &["BITFIELD", "f"]), []);
    let e = cmd(&["BITFIELD_RO", "f", "GET", "u8", "0", "SET", "u8", "0", "1"])
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("BITFIELD_RO only supports the GET subcommand"),
        "{e}"
    );
    assert_eq!(bytes(&mut c, "f"), b"d\x9c", "nothing written");

    // RESP3: the same values; a refused write is RESP3's null rather than RESP2's null bulk.
    let mut c3 = s.conn3();
    assert_eq!(ints(&mut c3, &fail), [None]);
    assert_eq!(
        ints(&mut c3, &["BITFIELD_RO", "f", "GET", "i8", "8"]),
        [Some(-100)]
    );
    let mut raw = s.raw();
    assert_eq!(wire(&mut raw, &fail), "*1\r\n$-1\r\n");
    raw.cmd(&[b"HELLO", b"3"]);
    assert_eq!(wire(&mut raw, &fail), "*1\r\n_\r\n");
    assert_eq!(
        wire(
            &mut raw,
            &["BITFIELD", "f", "GET", "i8", "8", "GET", "u8", "8"]
        ),
        "*2\r\n:-100\r\n:156\r\n"
    );
}

#[test]
fn errors_are_redis_texts_and_other_types_are_refused() {
    let s = Server::start();
    let mut raw = s.raw();
    let offset = "-ERR bit offset is not an integer or out of range\r\n";
    let syntax = "-ERR syntax error\r\n";
    let not_int = "-ERR value is not an integer or out of range\r\n";
    let bad_type = "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n";
    wire(&mut raw, &["SET", "k", "foobar"]);
    for (words, want) in [
        (&["SETBIT", "k", "-1", "1"][..], offset),
        (&["SETBIT", "k", "4294967296", "1"][..], offset),
        (&["SETBIT", "k", "x", "1"][..], offset),
        (
            &["SETBIT", "k", "1", "2"][..],
            "-ERR bit is not an integer or out of range\r\n",
        ),
        (
            &["SETBIT", "k", "1", "-1"][..],
            "-ERR bit is not an integer or out of range\r\n",
        ),
        (
            &["SETBIT", "k", "1"][..],
            "-ERR wrong number of arguments for 'setbit' command\r\n",
        ),
        (&["GETBIT", "k", "4294967296"][..], offset),
        (&["GETBIT", "k", "01"][..], offset),
        (&["BITCOUNT", "k", "0"][..], syntax),
        (&["BITCOUNT", "k", "0", "1", "BITS"][..], syntax),
        (&["BITCOUNT", "k", "0", "1", "BIT", "x"][..], syntax),
        (&["BITCOUNT", "k", "a", "1"][..], not_int),
        (
            &["BITPOS", "k", "2"][..],
            "-ERR The bit argument must be 1 or 0.\r\n",
        ),
        (&["BITPOS", "k", "x"][..], not_int),
        (&["BITPOS", "k", "1", "0", "1", "BYTES"][..], syntax),
        (&["BITPOS", "k", "1", "0", "1", "BIT", "x"][..], syntax),
        (&["BITOP", "NAND", "d", "k"][..], syntax),
        (
            &["BITOP", "NOT", "d", "k", "k"][..],
            "-ERR BITOP NOT must be called with a single source key.\r\n",
        ),
        (
            &["BITOP", "AND", "d"][..],
            "-ERR wrong number of arguments for 'bitop' command\r\n",
        ),
        (&["BITFIELD", "k", "GET", "u64", "0"][..], bad_type),
        (&["BITFIELD", "k", "GET", "i65", "0"][..], bad_type),
        (&["BITFIELD", "k", "GET", "U8", "0"][..], bad_type),
        (&["BITFIELD", "k", "GET", "u8", "-8"][..], offset),
        (&["BITFIELD", "k", "GET", "u8", "#536870912"][..], offset),
        (
            &["BITFIELD", "k", "SET", "i64", "#9223372036854775807", "1"][..],
            offset,
        ),
        (
            &["BITFIELD", "k", "OVERFLOW", "MAYBE"][..],
            "-ERR Invalid OVERFLOW type specified\r\n",
        ),
        (&["BITFIELD", "k", "GET", "u8"][..], syntax),
        (&["BITFIELD", "k", "FLIP", "u8", "0"][..], syntax),
        (&["BITFIELD", "k", "SET", "u8", "0", "x"][..], not_int),
        (
            &["BITFIELD_RO", "k", "INCRBY", "u8", "0", "1"][..],
            "-ERR BITFIELD_RO only supports the GET subcommand\r\n",
        ),
    ] {
        assert_eq!(wire(&mut raw, words), want, "{words:?}");
    }
    assert_eq!(
        wire(&mut raw, &["GET", "k"]),
        "$6\r\nfoobar\r\n",
        "nothing changed"
    );

    // WRONGTYPE from every command against a hash, a list, a set and a cuckoo filter, and
    // none of them touched.
    let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    wire(&mut raw, &["HSET", "hash", "f", "v"]);
    wire(&mut raw, &["RPUSH", "list", "a"]);
    wire(&mut raw, &["SADD", "set", "m"]);
    wire(&mut raw, &["CF.RESERVE", "cf", "100"]);
    for (key, kind) in [
        ("hash", "hash"),
        ("list", "list"),
        ("set", "set"),
        ("cf", "MBbloomCF"),
    ] {
        for words in [
            &["SETBIT", key, "0", "1"][..],
            &["GETBIT", key, "0"],
            &["BITCOUNT", key],
            &["BITCOUNT", key, "0", "-1"],
            &["BITPOS", key, "1"],
            &["BITOP", "OR", "d", "k", key],
            &["BITFIELD", key, "GET", "u8", "0"],
            &["BITFIELD", key, "INCRBY", "u8", "0", "1"],
            &["BITFIELD", key],
            &["BITFIELD_RO", key, "GET", "u8", "0"],
        ] {
            assert_eq!(wire(&mut raw, words), wrong, "{words:?}");
        }
        assert_eq!(
            wire(&mut raw, &["TYPE", key]),
            format!("+{kind}\r\n"),
            "{key} untouched"
        );
    }
    assert_eq!(wire(&mut raw, &["EXISTS", "d"]), ":0\r\n");
}

#[test]
fn huge_offsets_are_refused_and_growth_respects_the_memory_limit() {
    let s = Server::start_with(
        &[],
        Some("cache:\n  max_memory: 64MB\n  eviction_policy: noeviction\n"),
    );
    let mut c = s.conn();
    let oom = |r: redis::RedisResult<Value>| {
        let e = r.unwrap_err();
        assert!(e.to_string().contains("OOM"), "{e}");
    };
    // The last bit of a 512 MB string is a valid offset, but not room this node can make.
    oom(cmd(&["SETBIT", "k", "4294967295", "1"]).query(&mut c));
    oom(cmd(&["BITFIELD", "k", "SET", "u8", "4294967000", "1"]).query(&mut c));
    oom(cmd(&["BITFIELD", "k", "SET", "u8", "#536870000", "1"]).query(&mut c));
    assert!(!c.exists::<_, bool>("k").unwrap());
    // Reading there allocates nothing.
    assert_eq!(int(&mut c, &["GETBIT", "k", "4294967295"]), 0);
    assert_eq!(
        ints(&mut c, &["BITFIELD", "k", "GET", "i64", "4294967232"]),
        [Some(0)]
    );
    // Up to the limit, growth works.
    assert_eq!(int(&mut c, &["SETBIT", "k", "8388607", "1"]), 0);
    assert_eq!(c.strlen::<_, i64>("k").unwrap(), 1 << 20);
    // BITOP makes room for its result before building it.
    let () = c.set("big", vec![0xAAu8; 40 << 20]).unwrap();
    oom(cmd(&["BITOP", "NOT", "dest", "big"]).query(&mut c));
    assert!(!c.exists::<_, bool>("dest").unwrap());
    assert_eq!(int(&mut c, &["BITCOUNT", "big"]), 4 * (40 << 20));
    let _: i64 = c.del("big").unwrap();
    assert_eq!(int(&mut c, &["BITOP", "NOT", "dest", "k"]), 1 << 20);
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");

    // Past 2^32 bits (proto-max-bulk-len, 512 MB) the offset itself is refused, however the
    // node's memory is set; a smaller proto-max-bulk-len lowers the bound.
    let s = Server::start();
    let mut raw = s.raw();
    let offset = "-ERR bit offset is not an integer or out of range\r\n";
    for words in [
        &["SETBIT", "k", "4294967296", "1"][..],
        &["SETBIT", "k", "9223372036854775807", "1"],
        &["SETBIT", "k", "18446744073709551616", "1"],
        &["GETBIT", "k", "4294967296"],
        &["BITFIELD", "k", "SET", "i64", "4294967296", "1"],
        &["BITFIELD", "k", "SET", "u1", "#4294967296", "1"],
    ] {
        assert_eq!(wire(&mut raw, words), offset, "{words:?}");
    }
    // #N wraps in Redis's 64-bit arithmetic: 2^62 fields of 4 bits are bit 0.
    assert_eq!(
        wire(
            &mut raw,
            &["BITFIELD", "w", "SET", "u4", "#4611686018427387904", "15"]
        ),
        "*1\r\n:0\r\n"
    );
    assert_eq!(raw.cmd(&[b"GET", b"w"]), b"$1\r\n\xf0\r\n");
    wire(
        &mut raw,
        &["CONFIG", "SET", "proto-max-bulk-len", "1048576"],
    );
    assert_eq!(wire(&mut raw, &["SETBIT", "k", "8388607", "1"]), ":0\r\n");
    assert_eq!(wire(&mut raw, &["SETBIT", "k", "8388608", "1"]), offset);
    assert_eq!(wire(&mut raw, &["PING"]), "+PONG\r\n");
}

/// A SETBIT or a BITFIELD write into a big string costs the AOF and the replica's stream
/// about the bytes it changed, not the string; one that changes nothing costs nothing.
#[test]
fn a_bit_written_into_a_big_string_is_a_small_record_on_disk_and_on_the_wire() {
    let c = TestCluster::start(2, "");
    let (mut a, mut b) = (c.conn(0), c.conn(1));
    let () = a.set("v", vec![0u8; 8 << 20]).unwrap();
    wait("the value on node 2", Duration::from_secs(30), || {
        b.strlen::<_, i64>("v").unwrap() == 8 << 20
    });
    let sent = |c: &mut redis::Connection| -> u64 {
        let text: String = redis::cmd("INFO").arg("cluster").query(c).unwrap();
        text.split([',', '\n'])
            .filter_map(|f| f.trim().strip_prefix("sent_bytes="))
            .map(|v| v.parse::<u64>().unwrap())
            .sum()
    };
    let aof = |c: &mut redis::Connection| -> u64 {
        info_field(c, "persistence", "hypercache_aof_written_bytes")
            .parse()
            .unwrap()
    };
    // Both figures once the writes before have reached the disk and the peer.
    let settled = |c: &mut redis::Connection| {
        let mut last = (sent(c), aof(c));
        let mut stable = 0;
        while stable < 3 {
            std::thread::sleep(Duration::from_millis(200));
            let now = (sent(c), aof(c));
            stable = if now == last { stable + 1 } else { 0 };
            last = now;
        }
        last
    };
    let mut per_write = Vec::new();
    for (what, n) in [("SETBIT", 1000u64), ("BITFIELD", 1000), ("unchanged", 1000)] {
        let (sent0, aof0) = settled(&mut a);
        for i in 0..n {
            let bit = (i * 65_537) % (64 << 20);
            match what {
                "SETBIT" => assert_eq!(int(&mut a, &["SETBIT", "v", &bit.to_string(), "1"]), 0),
                "BITFIELD" => {
                    let r = ints(
                        &mut a,
                        &[
                            "BITFIELD",
                            "v",
                            "INCRBY",
                            "u16",
                            &(bit + 8).to_string(),
                            "3",
                        ],
                    );
                    assert!(r[0].is_some());
                }
                _ => assert_eq!(int(&mut a, &["SETBIT", "v", &bit.to_string(), "1"]), 1),
            }
        }
        let (sent1, aof1) = settled(&mut a);
        per_write.push((what, (sent1 - sent0) / n, (aof1 - aof0) / n));
    }
    let want: Vec<u8> = a.get("v").unwrap();
    wait("node 2 to converge", Duration::from_secs(30), || {
        b.get::<_, Vec<u8>>("v").unwrap() == want
    });
    for &(what, wire, disk) in &per_write {
        let bound = if what == "unchanged" { 0 } else { 64 };
        assert!(
            wire <= bound && disk <= bound,
            "{per_write:?}: bytes per {what} (wire, AOF)"
        );
    }
}

#[test]
fn bitmaps_come_back_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let yaml = "persistence:\n  sync_policy: always\n";
    let mut s = Server::start_in(&data, Some(yaml));
    let mut c = s.conn();
    for bit in [0u64, 9, 100, 100_000] {
        int(&mut c, &["SETBIT", "bm", &bit.to_string(), "1"]);
    }
    int(&mut c, &["SETBIT", "bm", "9", "0"]);
    ints(
        &mut c,
        &[
            "BITFIELD", "bm", "SET", "i16", "#3", "-2", "INCRBY", "u8", "64", "200",
        ],
    );
    let () = c.set("n", 7).unwrap();
    int(&mut c, &["SETBIT", "n", "7", "0"]);
    int(&mut c, &["BITOP", "XOR", "x", "bm", "n"]);
    let want: Vec<Vec<u8>> = ["bm", "n", "x"].iter().map(|k| bytes(&mut c, k)).collect();
    assert_eq!(want[1], b"6");
    s.kill();
    let s = Server::start_in(&data, Some(yaml));
    let mut c = s.conn();
    let got: Vec<Vec<u8>> = ["bm", "n", "x"].iter().map(|k| bytes(&mut c, k)).collect();
    assert_eq!(got, want);
    assert_eq!(int(&mut c, &["BITCOUNT", "bm"]), {
        let ones: u32 = want[0].iter().map(|b| b.count_ones()).sum();
        i64::from(ones)
    });
}
