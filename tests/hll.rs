//! HyperLogLog through a real client: every command, replies and bytes recorded from Redis
//! 7.0.15 for the same inputs, values copied from Redis, corrupt values, the promotion to
//! dense, and what a write to a dense HLL costs the AOF.

mod common;

use std::time::Duration;

use common::cluster::{TestCluster, wait};
use common::{Server, info_field};
use redis::Commands;
use sha2::Digest;

/// `GET` of a key from Redis 7.0.15 after `PFADD` of e0 .. e4999 (in batches of 1000).
const DENSE_FROM_REDIS: &[u8] = include_bytes!("data/hll-dense-e0-e4999.bin");
/// The same for e0 .. e99: still sparse.
const SPARSE_FROM_REDIS: &[u8] = include_bytes!("data/hll-sparse-e0-e99.bin");

fn sha256(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn get(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    c.get(key).unwrap()
}

fn pfadd(c: &mut redis::Connection, key: &str, prefix: &str, n: usize) -> i64 {
    let mut any = 0;
    let all: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    for batch in all.chunks(1000) {
        any |= redis::cmd("PFADD")
            .arg(key)
            .arg(batch)
            .query::<i64>(c)
            .unwrap();
    }
    any
}

fn pfcount(c: &mut redis::Connection, keys: &[&str]) -> i64 {
    redis::cmd("PFCOUNT").arg(keys).query(c).unwrap()
}

fn error(c: &mut redis::Connection, args: &[&[u8]]) -> String {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(c) {
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
        Ok(v) => panic!("{args:?} answered {v:?}"),
    }
}

#[test]
fn commands_answer_with_redis_replies_and_bytes() {
    let s = Server::start();
    let mut c = s.conn();
    // A new key: created sparse, its cache stale; then counted and the cache filled in.
    let five = ["e0", "e1", "e2", "e3", "e4"];
    assert_eq!(c.pfadd::<_, _, i64>("five", &five).unwrap(), 1);
    assert_eq!(c.pfadd::<_, _, i64>("five", &five).unwrap(), 0);
    let stale = hex("48594c4c010000000000000000000080452580656084430d844fbe8440f48441b1");
    assert_eq!(get(&mut c, "five"), stale);
    assert_eq!(pfcount(&mut c, &["five"]), 5);
    let fresh = hex("48594c4c010000000500000000000000452580656084430d844fbe8440f48441b1");
    assert_eq!(get(&mut c, "five"), fresh);
    // PFADD of nothing creates an empty HLL, once.
    assert_eq!(
        redis::cmd("PFADD").arg("e").query::<i64>(&mut c).unwrap(),
        1
    );
    assert_eq!(
        redis::cmd("PFADD").arg("e").query::<i64>(&mut c).unwrap(),
        0
    );
    assert_eq!(
        get(&mut c, "e"),
        b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff"
    );
    assert_eq!(pfcount(&mut c, &["e"]), 0);
    assert_eq!(pfcount(&mut c, &["missing"]), 0);
    assert_eq!(pfcount(&mut c, &["five", "e", "missing"]), 5);
    let t: String = redis::cmd("TYPE").arg("five").query(&mut c).unwrap();
    assert_eq!(t, "string");
    // PFDEBUG, as Redis words it.
    let decoded: String = redis::cmd("PFDEBUG")
        .arg("DECODE")
        .arg("five")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        decoded,
        "Z:1318 v:1,1 Z:9569 v:2,1 Z:782 v:2,1 Z:4031 v:2,1 Z:245 v:2,1 Z:434"
    );
    let enc: String = redis::cmd("PFDEBUG")
        .arg("ENCODING")
        .arg("five")
        .query(&mut c)
        .unwrap();
    assert_eq!(enc, "sparse");
    let regs: Vec<i64> = redis::cmd("PFDEBUG")
        .arg("GETREG")
        .arg("e")
        .query(&mut c)
        .unwrap();
    assert_eq!((regs.len(), regs.iter().sum::<i64>()), (16384, 0));
    // GETREG made it dense, as in Redis.
    assert_eq!(c.strlen::<_, i64>("e").unwrap(), 12304);
    for want in [1, 0] {
        let n: i64 = redis::cmd("PFDEBUG")
            .arg("TODENSE")
            .arg("five")
            .query(&mut c)
            .unwrap();
        assert_eq!(n, want);
    }
    assert_eq!(c.strlen::<_, i64>("five").unwrap(), 12304);
    assert_eq!(pfcount(&mut c, &["five"]), 5);
    assert_eq!(
        error(&mut c, &[b"PFDEBUG", b"NOPE", b"five"]),
        "ERR Unknown PFDEBUG subcommand 'NOPE'"
    );
    assert_eq!(
        error(&mut c, &[b"PFDEBUG", b"GETREG", b"missing"]),
        "ERR The specified key does not exist"
    );
    assert_eq!(
        error(&mut c, &[b"PFADD"]),
        "ERR wrong number of arguments for 'pfadd' command"
    );
    assert_eq!(
        error(&mut c, &[b"PFCOUNT"]),
        "ERR wrong number of arguments for 'pfcount' command"
    );
    // PFMERGE: the destination is a source too; a dense source makes it dense.
    assert_eq!(pfadd(&mut c, "a", "e", 100), 1);
    assert_eq!(pfadd(&mut c, "b", "x", 100), 1);
    let _: () = redis::cmd("PFMERGE")
        .arg("m")
        .arg("a")
        .arg("b")
        .query(&mut c)
        .unwrap();
    let m = pfcount(&mut c, &["m"]);
    assert_eq!(m, pfcount(&mut c, &["a", "b"]));
    assert!((190..=210).contains(&m), "{m}");
    assert!(c.strlen::<_, i64>("m").unwrap() < 3000, "still sparse");
    let _: () = redis::cmd("PFMERGE")
        .arg("m")
        .arg("five")
        .query(&mut c)
        .unwrap();
    assert_eq!(c.strlen::<_, i64>("m").unwrap(), 12304);
    assert_eq!(
        pfcount(&mut c, &["m"]),
        pfcount(&mut c, &["a", "b", "five"])
    );
    // PFMERGE of nothing but a missing key creates an empty HLL with a stale cache.
    let _: () = redis::cmd("PFMERGE").arg("z").query(&mut c).unwrap();
    assert_eq!(
        get(&mut c, "z"),
        b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff"
    );
    // A deadline survives every kind of write to the value.
    let _: () = c.expire("m", 1000).unwrap();
    assert_eq!(pfadd(&mut c, "m", "late", 50), 1);
    assert_eq!(
        pfcount(&mut c, &["m"]),
        pfcount(&mut c, &["a", "b", "five", "m"])
    );
    assert!(c.ttl::<_, i64>("m").unwrap() > 990);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `PFADD k e0 .. e{n-1}` in batches of 1000, then PFCOUNT and GET: what Redis 7.0.15 gave.
#[test]
fn counts_and_bytes_equal_redis_for_fixed_inputs() {
    let s = Server::start();
    let mut c = s.conn();
    for (n, card, len, sha) in [
        (
            300,
            302,
            713,
            "5c5ae406a720663ee52d40494c2524c28b6a11e991e72ee5280d5c0ccea416c5",
        ),
        (
            1000,
            1008,
            1906,
            "ab6313e24c05ff993730105e09ef76d5c0c4fcde58406d6a29d1889220a056e4",
        ),
        (
            2000,
            2000,
            12304,
            "934a6aaa45ebe9f4d7eb83d8de87a5e1a80bedb95a800a5d53c7008670f21c56",
        ),
        (
            100_000,
            100_853,
            12304,
            "548dba672576d8a299d51943c2728e21beda0aea57391bd87567dba08eed8e4e",
        ),
    ] {
        let key = format!("n{n}");
        assert_eq!(pfadd(&mut c, &key, "e", n), 1);
        assert_eq!(pfcount(&mut c, &[&key]), card, "n={n}");
        let v = get(&mut c, &key);
        assert_eq!((v.len(), sha256(&v)), (len, sha.to_string()), "n={n}");
    }
}

/// A value read from Redis with GET and written here with SET: counted, added to and merged
/// as Redis does with it (replies and bytes recorded from Redis 7.0.15).
#[test]
fn values_copied_from_redis_work_here() {
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.set("r", DENSE_FROM_REDIS).unwrap();
    let _: () = c.set("s", SPARSE_FROM_REDIS).unwrap();
    assert_eq!(pfcount(&mut c, &["s", "r"]), 4968);
    assert_eq!(pfcount(&mut c, &["r"]), 4968);
    assert_eq!(
        sha256(&get(&mut c, "r")),
        "bd470063c39f632ff0572b22d3ae558cdc523a5ae6f47e7324ed636dcc84e2ec"
    );
    assert_eq!(pfcount(&mut c, &["s"]), 100);
    assert_eq!(
        sha256(&get(&mut c, "s")),
        "aebee27e50c672722325ed27d2acb1011cc7138f9a0f43d52abc23308a822a44"
    );
    assert_eq!(pfadd(&mut c, "r", "f", 100), 1);
    assert_eq!(pfcount(&mut c, &["r"]), 5067);
    assert_eq!(
        sha256(&get(&mut c, "r")),
        "882dc20446ccd284fd51f5f36f9f4e3f2697d0b7fe9999c5f01a80b1d4d81fc0"
    );
    assert_eq!(pfadd(&mut c, "s", "f", 10), 1);
    assert_eq!(pfcount(&mut c, &["s"]), 110);
    assert_eq!(c.strlen::<_, i64>("s").unwrap(), 308);
    assert_eq!(
        sha256(&get(&mut c, "s")),
        "8d9e364f5010805b760288ed5584bee25ab203a55303bf673d8027546b13f711"
    );
    let _: () = redis::cmd("PFMERGE")
        .arg("d")
        .arg("s")
        .arg("r")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        sha256(&get(&mut c, "d")),
        "95bac7e8ca167de260f9cedfff7a6d89d542e45dcb8b0e56d66f773be2fe33d7"
    );
    assert_eq!(pfcount(&mut c, &["d"]), 5067);
    let _: () = redis::cmd("PFMERGE")
        .arg("d2")
        .arg("s")
        .arg("nokey")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        sha256(&get(&mut c, "d2")),
        "67f072e43368ac4f1f214e62bed052079ddd536e332f4b52135a6b8b9143dd41"
    );
    assert_eq!(pfcount(&mut c, &["d2"]), 110);
}

#[test]
fn sparse_becomes_dense_at_hll_sparse_max_bytes() {
    let s = Server::start();
    let mut c = s.conn();
    let limit: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hll-sparse-max-bytes")
        .query(&mut c)
        .unwrap();
    assert_eq!(limit, ["hll-sparse-max-bytes", "3000"]);
    let mut was_sparse = 0;
    for i in 0..3000 {
        let _: i64 = c.pfadd("h", format!("e{i}")).unwrap();
        let len: i64 = c.strlen("h").unwrap();
        if len == 12304 {
            break;
        }
        assert!(len <= 3000, "{len}");
        was_sparse = i;
    }
    assert!(was_sparse > 1000, "{was_sparse}");
    assert_eq!(c.strlen::<_, i64>("h").unwrap(), 12304);
    // At 0 bytes, the first change promotes.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("hll-sparse-max-bytes")
        .arg("0")
        .query(&mut c)
        .unwrap();
    let _: i64 = c.pfadd("tiny", "a").unwrap();
    assert_eq!(c.strlen::<_, i64>("tiny").unwrap(), 12304);
    assert_eq!(pfcount(&mut c, &["tiny"]), 1);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("hll-sparse-max-bytes")
        .arg("3000")
        .query(&mut c)
        .unwrap();
}

#[test]
fn corrupt_values_get_redis_errors_and_the_server_keeps_answering() {
    let s = Server::start();
    let mut c = s.conn();
    let not_hll = "WRONGTYPE Key is not a valid HyperLogLog string value.";
    let corrupt = "INVALIDOBJ Corrupted HLL object detected";
    let header = |enc: u8| {
        let mut h = b"HYLL".to_vec();
        h.push(enc);
        h.extend_from_slice(&[0; 10]);
        h.push(0x80);
        h
    };
    let mut dense_short = header(0);
    dense_short.resize(12303, 0);
    let mut too_few = header(1);
    too_few.extend_from_slice(&[0x7f, 0xfe]);
    let mut too_many = header(1);
    too_many.extend_from_slice(&[0x7f, 0xff, 0x00]);
    let mut past_end = header(1);
    past_end.extend_from_slice(&[0x7f, 0xfe, 0x81]);
    let mut huge = header(1);
    huge.resize(1 << 20, 0x7f);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"HYLL".to_vec(), not_hll),
        (b"12345".to_vec(), not_hll),
        (b"just a plain string value".to_vec(), not_hll),
        (header(2), not_hll),
        (dense_short, not_hll),
        (header(1), corrupt),
        (too_few, corrupt),
        (too_many, corrupt),
        (past_end, corrupt),
        (huge, corrupt),
    ];
    for (value, want) in &cases {
        let _: () = c.set("bad", value.as_slice()).unwrap();
        assert_eq!(
            error(&mut c, &[b"PFCOUNT", b"bad"]),
            *want,
            "{:?}",
            &value[..5]
        );
        assert_eq!(error(&mut c, &[b"PFCOUNT", b"bad", b"x"]), *want);
        assert_eq!(error(&mut c, &[b"PFMERGE", b"dst", b"bad"]), *want);
        if *want == not_hll {
            assert_eq!(error(&mut c, &[b"PFADD", b"bad", b"a"]), *want);
        }
        assert!(!c.exists::<_, bool>("dst").unwrap());
    }
    // Every register past the estimator's range: Redis's LLONG_MIN, not a crash.
    let mut ff = header(0);
    ff.resize(12304, 0xff);
    let _: () = c.set("ff", ff).unwrap();
    assert_eq!(pfcount(&mut c, &["ff"]), i64::MIN);
    let _: i64 = c.lpush("list", "x").unwrap();
    assert_eq!(
        error(&mut c, &[b"PFADD", b"list", b"a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

/// A PFADD that changes a register or two of a dense HLL writes a few bytes to the AOF, not
/// the 12 KB value; PFCOUNT's cache refresh likewise. Replayed, the AOF gives the same bytes.
#[test]
fn a_write_to_a_dense_hll_is_a_small_record_and_replays_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = "persistence:\n  sync_policy: always\n";
    let mut s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    assert_eq!(pfadd(&mut c, "big", "e", 20_000), 1);
    assert_eq!(c.strlen::<_, i64>("big").unwrap(), 12304);
    let aof = |c: &mut redis::Connection| -> u64 {
        info_field(c, "persistence", "hypercache_aof_written_bytes")
            .parse()
            .unwrap()
    };
    let (mut writes, mut counts) = (0u64, 0u64);
    let before = aof(&mut c);
    let mut i = 0;
    while writes < 200 {
        i += 1;
        if c.pfadd::<_, _, i64>("big", format!("new-{i}")).unwrap() == 1 {
            writes += 1;
            // Every other change, a count refreshes the cache (another record).
            if writes % 2 == 0 {
                let _ = pfcount(&mut c, &["big"]);
                counts += 1;
            }
        }
    }
    let per_command = (aof(&mut c) - before) / (writes + counts);
    eprintln!("{per_command} AOF bytes per PFADD or PFCOUNT that changed a 12304-byte HLL");
    assert!(per_command <= 120, "{per_command} AOF bytes per command");
    while c.pfadd::<_, _, i64>("big", format!("new-{i}")).unwrap() == 0 {
        i += 1;
    }
    let stale = get(&mut c, "big");
    let card = pfcount(&mut c, &["big"]);
    let counted = get(&mut c, "big");
    assert!(stale[15] & 0x80 != 0 && counted[15] & 0x80 == 0);
    assert_eq!(stale[16..], counted[16..]);
    s.terminate();
    let s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    assert!(
        get(&mut c, "big") == counted,
        "the AOF replays to other bytes"
    );
    assert_eq!(pfcount(&mut c, &["big"]), card);
}

/// Every node ends up with the same bytes: splices of a dense PFADD and PFCOUNT's cache
/// refresh replicate like any other change.
#[test]
fn hlls_replicate_byte_for_byte() {
    let c = TestCluster::start(2, "");
    let (mut a, mut b) = (c.conn(0), c.conn(1));
    assert_eq!(pfadd(&mut a, "h", "e", 5000), 1);
    // The writes run on the key's owner, whichever node is asked: both must end up equal.
    let same = |a: &mut redis::Connection, b: &mut redis::Connection| {
        wait(
            "node 2 to hold node 1's bytes",
            Duration::from_secs(20),
            || b.get::<_, Vec<u8>>("h").unwrap() == get(a, "h"),
        );
    };
    same(&mut a, &mut b);
    assert_eq!(pfcount(&mut a, &["h"]), 4968);
    same(&mut a, &mut b);
    assert_eq!(c.conn(1).pfadd::<_, _, i64>("h", "one more").unwrap(), 1);
    same(&mut b, &mut a);
    assert_eq!(pfcount(&mut b, &["h"]), pfcount(&mut a, &["h"]));
}
