//! Sorted sets through real clients: both encodings and the conversion between them, ranges
//! by rank, score and lex, the store/aggregate commands, RESP3's doubles, type errors, the
//! HTTP view, persistence and replication by edits.

mod common;

use std::time::Duration;

use common::cluster::{TestCluster, wait};
use common::{Server, encoding, http};
use redis::Commands;

fn range(c: &mut redis::Connection, key: &str) -> Vec<(String, f64)> {
    c.zrange_withscores(key, 0, -1).unwrap()
}

#[test]
fn sorted_sets_answer_as_redis_in_both_encodings() {
    let s = Server::start();
    let mut c = s.conn();
    for (key, big) in [("small", false), ("big", true)] {
        if big {
            let () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("zset-max-listpack-entries")
                .arg(4)
                .query(&mut c)
                .unwrap();
        }
        let added: i64 = c
            .zadd_multiple(key, &[(1.0, "a"), (2.0, "b"), (2.0, "c"), (0.5, "d")])
            .unwrap();
        assert_eq!(added, 4);
        let _: i64 = c.zadd(key, "e", 10).unwrap();
        assert_eq!(
            encoding(&mut c, key),
            if big { "skiplist" } else { "listpack" }
        );
        assert_eq!(
            c.zrange::<_, Vec<String>>(key, 0, -1).unwrap(),
            ["d", "a", "b", "c", "e"]
        );
        assert_eq!(c.zrank::<_, _, Option<i64>>(key, "c").unwrap(), Some(3));
        assert_eq!(c.zrevrank::<_, _, Option<i64>>(key, "c").unwrap(), Some(1));
        assert_eq!(c.zrank::<_, _, Option<i64>>(key, "zz").unwrap(), None);
        assert_eq!(c.zscore::<_, _, Option<f64>>(key, "b").unwrap(), Some(2.0));
        assert_eq!(c.zcount::<_, _, _, i64>(key, "(1", "+inf").unwrap(), 3);
        assert_eq!(
            c.zrangebyscore_limit::<_, _, _, Vec<String>>(key, "-inf", "+inf", 1, 2)
                .unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            c.zrevrangebyscore::<_, _, _, Vec<String>>(key, 2, "(0.5")
                .unwrap(),
            ["c", "b", "a"]
        );
        // ZINCRBY and ZADD's options.
        assert_eq!(c.zincr::<_, _, _, f64>(key, "a", 1.5).unwrap(), 2.5);
        let gt: i64 = redis::cmd("ZADD")
            .arg(key)
            .arg("GT")
            .arg("CH")
            .arg(1)
            .arg("a")
            .arg(3)
            .arg("b")
            .query(&mut c)
            .unwrap();
        assert_eq!(gt, 1, "only b rose");
        let e = redis::cmd("ZADD")
            .arg(key)
            .arg("NX")
            .arg("XX")
            .arg(1)
            .arg("a")
            .query::<i64>(&mut c)
            .unwrap_err();
        assert!(e.to_string().contains("XX and NX options"), "{e}");
        let nan = redis::cmd("ZINCRBY")
            .arg(key)
            .arg("-inf")
            .arg("inf-member")
            .query::<f64>(&mut c);
        assert!(nan.is_ok());
        let e = redis::cmd("ZINCRBY")
            .arg(key)
            .arg("+inf")
            .arg("inf-member")
            .query::<f64>(&mut c)
            .unwrap_err();
        assert!(e.to_string().contains("not a number (NaN)"), "{e}");
        assert_eq!(c.zrem::<_, _, i64>(key, "inf-member").unwrap(), 1);
        assert_eq!(
            range(&mut c, key),
            [
                ("d".to_string(), 0.5),
                ("c".to_string(), 2.0),
                ("a".to_string(), 2.5),
                ("b".to_string(), 3.0),
                ("e".to_string(), 10.0)
            ]
        );
        // Pops from both ends, with RESP2's flat pairs.
        let min: Vec<(String, f64)> = c.zpopmin(key, 1).unwrap();
        assert_eq!(min, [("d".to_string(), 0.5)]);
        let max: Vec<(String, f64)> = c.zpopmax(key, 2).unwrap();
        assert_eq!(max, [("e".to_string(), 10.0), ("b".to_string(), 3.0)]);
        assert_eq!(c.zremrangebyrank::<_, i64>(key, 0, 0).unwrap(), 1);
        assert_eq!(c.zcard::<_, i64>(key).unwrap(), 1);
        assert_eq!(
            c.zrembyscore::<_, _, _, i64>(key, "-inf", "+inf").unwrap(),
            1
        );
        assert!(!c.exists::<_, bool>(key).unwrap(), "emptied, deleted");
    }
}

#[test]
fn lex_ranges_store_and_aggregate_commands() {
    let s = Server::start();
    let mut c = s.conn();
    let names = ["alpha", "bravo", "charlie", "delta", "echo"];
    for n in names {
        let _: i64 = c.zadd("lex", n, 0).unwrap();
    }
    assert_eq!(
        c.zrangebylex::<_, _, _, Vec<String>>("lex", "[bravo", "(delta")
            .unwrap(),
        ["bravo", "charlie"]
    );
    assert_eq!(c.zlexcount::<_, _, _, i64>("lex", "-", "+").unwrap(), 5);
    let rev: Vec<String> = redis::cmd("ZRANGE")
        .arg("lex")
        .arg("+")
        .arg("-")
        .arg("BYLEX")
        .arg("REV")
        .arg("LIMIT")
        .arg(1)
        .arg(2)
        .query(&mut c)
        .unwrap();
    assert_eq!(rev, ["delta", "charlie"]);
    assert_eq!(
        c.zrembylex::<_, _, _, i64>("lex", "(alpha", "[charlie")
            .unwrap(),
        2
    );
    let e = c
        .zrangebylex::<_, _, _, Vec<String>>("lex", "alpha", "+")
        .unwrap_err();
    assert!(e.to_string().contains("not valid string range item"), "{e}");
    let e = redis::cmd("ZRANGE")
        .arg("lex")
        .arg(0)
        .arg(-1)
        .arg("LIMIT")
        .arg(0)
        .arg(1)
        .query::<Vec<String>>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("LIMIT is only supported"), "{e}");

    let _: i64 = c
        .zadd_multiple("z1", &[(1, "a"), (2, "b"), (3, "c")])
        .unwrap();
    let _: i64 = c
        .zadd_multiple("z2", &[(10, "b"), (20, "c"), (30, "d")])
        .unwrap();
    let _: i64 = c.sadd("plain", &["c", "d"]).unwrap();
    let union: Vec<(String, f64)> = redis::cmd("ZUNION")
        .arg(2)
        .arg("z1")
        .arg("z2")
        .arg("WEIGHTS")
        .arg(2)
        .arg(1)
        .arg("WITHSCORES")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        union,
        [
            ("a".to_string(), 2.0),
            ("b".to_string(), 14.0),
            ("c".to_string(), 26.0),
            ("d".to_string(), 30.0)
        ]
    );
    let n: i64 = redis::cmd("ZINTERSTORE")
        .arg("inter")
        .arg(3)
        .arg("z1")
        .arg("z2")
        .arg("plain")
        .arg("AGGREGATE")
        .arg("MAX")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1, "a plain set is a source with scores of 1");
    assert_eq!(range(&mut c, "inter"), [("c".to_string(), 20.0)]);
    let diff: Vec<String> = redis::cmd("ZDIFF")
        .arg(2)
        .arg("z1")
        .arg("z2")
        .query(&mut c)
        .unwrap();
    assert_eq!(diff, ["a"]);
    let card: i64 = redis::cmd("ZINTERCARD")
        .arg(2)
        .arg("z1")
        .arg("z2")
        .arg("LIMIT")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(card, 1);
    let stored: i64 = redis::cmd("ZRANGESTORE")
        .arg("top")
        .arg("z2")
        .arg("+inf")
        .arg("(10")
        .arg("BYSCORE")
        .arg("REV")
        .query(&mut c)
        .unwrap();
    assert_eq!(stored, 2);
    assert_eq!(
        c.zrange::<_, Vec<String>>("top", 0, -1).unwrap(),
        ["c", "d"]
    );
    // An empty result deletes the destination.
    let stored: i64 = redis::cmd("ZRANGESTORE")
        .arg("top")
        .arg("z2")
        .arg(5)
        .arg(9)
        .query(&mut c)
        .unwrap();
    assert_eq!(stored, 0);
    assert!(!c.exists::<_, bool>("top").unwrap());
    let popped: redis::Value = redis::cmd("ZMPOP")
        .arg(2)
        .arg("nothing")
        .arg("z1")
        .arg("MAX")
        .arg("COUNT")
        .arg(2)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        format!("{popped:?}"),
        format!(
            "{:?}",
            redis::Value::Array(vec![
                redis::Value::BulkString(b"z1".to_vec()),
                redis::Value::Array(vec![
                    redis::Value::Array(vec![
                        redis::Value::BulkString(b"c".to_vec()),
                        redis::Value::BulkString(b"3".to_vec())
                    ]),
                    redis::Value::Array(vec![
                        redis::Value::BulkString(b"b".to_vec()),
                        redis::Value::BulkString(b"2".to_vec())
                    ])
                ])
            ])
        )
    );
    // Type errors, for every key of a multi-key command.
    let () = c.set("str", "v").unwrap();
    let e = c.zadd::<_, _, _, i64>("str", "m", 1).unwrap_err();
    assert!(e.to_string().contains("WRONGTYPE"), "{e}");
    let e = redis::cmd("ZUNION")
        .arg(2)
        .arg("z2")
        .arg("str")
        .query::<Vec<String>>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("WRONGTYPE"), "{e}");
}

#[test]
fn resp3_replies_scores_as_doubles_and_pairs() {
    let s = Server::start();
    let mut c = s.conn3();
    let _: i64 = c.zadd_multiple("z", &[(1.5, "a"), (2.0, "b")]).unwrap();
    let v: redis::Value = redis::cmd("ZSCORE")
        .arg("z")
        .arg("a")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, redis::Value::Double(1.5));
    let v: redis::Value = redis::cmd("ZRANGE")
        .arg("z")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        v,
        redis::Value::Array(vec![
            redis::Value::Array(vec![
                redis::Value::BulkString(b"a".to_vec()),
                redis::Value::Double(1.5)
            ]),
            redis::Value::Array(vec![
                redis::Value::BulkString(b"b".to_vec()),
                redis::Value::Double(2.0)
            ]),
        ])
    );
    let v: redis::Value = redis::cmd("ZPOPMIN").arg("z").query(&mut c).unwrap();
    assert_eq!(
        v,
        redis::Value::Array(vec![
            redis::Value::BulkString(b"a".to_vec()),
            redis::Value::Double(1.5)
        ]),
        "no count: flat even in RESP3"
    );
}

/// Many members and many random changes, checked against a model, survive a restart (AOF
/// replay of edits over a snapshot) and read back identical.
#[test]
fn a_big_sorted_set_is_exact_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), None);
    let mut c = s.conn();
    let mut model = std::collections::BTreeMap::new();
    let mut rng = 7u64;
    for batch in 0..20 {
        let mut pairs = Vec::new();
        for _ in 0..500 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let m = format!("member-{:06}", (rng >> 33) % 20_000);
            let score = ((rng >> 20) % 1000) as f64 / 8.0;
            pairs.push((score, m.clone()));
            model.insert(m, score);
        }
        let _: i64 = c.zadd_multiple("big", &pairs).unwrap();
        if batch % 5 == 4 {
            let gone: Vec<String> = c.zrangebyscore("big", 40, 45).unwrap();
            let _: i64 = c.zrembyscore("big", 40, 45).unwrap();
            for m in gone {
                model.remove(&m);
            }
        }
    }
    let mut want: Vec<(String, f64)> = model.into_iter().collect();
    want.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    assert_eq!(encoding(&mut c, "big"), "skiplist");
    assert_eq!(range(&mut c, "big"), want);
    let mid = want.len() / 2;
    assert_eq!(
        c.zrank::<_, _, Option<usize>>("big", &want[mid].0).unwrap(),
        Some(mid)
    );
    s.terminate();
    let s = Server::start_in(dir.path(), None);
    s.wait_loaded();
    let mut c = s.conn();
    assert_eq!(range(&mut c, "big"), want);
    let r = http::get(&format!("{}/api/cache/big", s.http_url())).json();
    assert_eq!(r["data"]["type"], "zset");
    assert_eq!(r["data"]["value"][0][0], want[0].0.as_str());
    assert_eq!(r["data"]["value"][0][1].as_f64(), Some(want[0].1));
}

/// ZADD into a large sorted set costs the AOF and a replica's stream about what it wrote.
#[test]
fn sorted_sets_replicate_by_edits() {
    let c = TestCluster::start(2, "");
    let (mut a, mut b) = (c.conn(0), c.conn(1));
    for batch in 0..10 {
        let pairs: Vec<(f64, String)> = (0..10_000)
            .map(|i| {
                (
                    (batch * 10_000 + i) as f64,
                    format!("member-{:09}", batch * 10_000 + i),
                )
            })
            .collect();
        let _: i64 = a.zadd_multiple("lb", &pairs).unwrap();
    }
    // The writes run on the key's owner, which may be either node: both must hold it all
    // and have logged it before anything is measured, and both are measured.
    for con in [&mut a, &mut b] {
        wait("the set on both nodes", Duration::from_secs(30), || {
            con.zcard::<_, i64>("lb").unwrap() == 100_000
        });
    }
    let aof0 = [
        common::settled_aof_bytes(&mut a),
        common::settled_aof_bytes(&mut b),
    ];
    for i in 0..1000 {
        let _: i64 = a.zadd("lb", format!("new-{i:06}"), -i).unwrap();
        let _: Vec<(String, f64)> = a.zpopmax("lb", 1).unwrap();
    }
    let per_write = (common::settled_aof_bytes(&mut a) - aof0[0])
        .max(common::settled_aof_bytes(&mut b) - aof0[1])
        / 2000;
    assert!(per_write <= 64, "{per_write} AOF bytes per ZADD/ZPOPMAX");
    wait("node 2 to converge", Duration::from_secs(30), || {
        b.zrange_withscores::<_, Vec<(String, f64)>>("lb", 0, 0)
            .unwrap()
            == [("new-000999".to_string(), -999.0)]
            && b.zcard::<_, i64>("lb").unwrap() == 100_000
            && b.zscore::<_, _, Option<f64>>("lb", "member-000099999")
                .unwrap()
                .is_none()
    });
    assert_eq!(
        common::info_field(&mut b, "cluster", "hypercache_replication_deltas_behind"),
        "0"
    );
}
