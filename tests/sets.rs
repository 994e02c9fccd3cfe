//! Sets through real clients: encodings, the multi-key operations, type errors, the HTTP
//! view and replication.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::cluster::{TestCluster, wait};
use common::{Server, encoding, http};
use redis::Commands;

fn members(c: &mut redis::Connection, key: &str) -> HashSet<String> {
    c.smembers(key).unwrap()
}

#[test]
fn sets_answer_as_redis_and_change_encoding_at_the_limit() {
    let s = Server::start();
    let mut c = s.conn();
    assert_eq!(c.sadd::<_, _, i64>("s", &["1", "2", "3", "2"]).unwrap(), 3);
    assert_eq!(encoding(&mut c, "s"), "intset");
    assert_eq!(c.sadd::<_, _, i64>("s", "x").unwrap(), 1);
    assert_eq!(encoding(&mut c, "s"), "hashtable");
    assert!(c.sismember::<_, _, bool>("s", "2").unwrap());
    assert_eq!(c.scard::<_, i64>("s").unwrap(), 4);
    let many: Vec<String> = (0..513).map(|i| i.to_string()).collect();
    let _: i64 = c.sadd("ints", &many[..512]).unwrap();
    assert_eq!(encoding(&mut c, "ints"), "intset");
    let _: i64 = c.sadd("ints", &many[512]).unwrap();
    assert_eq!(encoding(&mut c, "ints"), "hashtable");
    // SSCAN over the table walks every member once; MATCH filters what comes back.
    let (mut seen, mut cursor, mut matched) = (HashSet::new(), 0u64, 0);
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg("ints")
            .arg(cursor)
            .arg("COUNT")
            .arg(50)
            .query(&mut c)
            .unwrap();
        for m in batch {
            assert!(seen.insert(m.clone()), "{m} twice");
        }
        let (_, only): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg("ints")
            .arg(cursor)
            .arg("COUNT")
            .arg(50)
            .arg("MATCH")
            .arg("1*")
            .query(&mut c)
            .unwrap();
        assert!(only.iter().all(|m| m.starts_with('1')), "{only:?}");
        matched += only.len();
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 513);
    assert_eq!(matched, many.iter().filter(|m| m.starts_with('1')).count());
    let _: i64 = c.sadd("t", &["2", "3", "9"]).unwrap();
    assert_eq!(
        c.sinter::<_, HashSet<String>>(&["s", "t"]).unwrap(),
        HashSet::from(["2".into(), "3".into()])
    );
    assert_eq!(
        c.sunion::<_, HashSet<String>>(&["s", "t"]).unwrap().len(),
        5
    );
    assert_eq!(
        c.sdiff::<_, HashSet<String>>(&["s", "t"]).unwrap(),
        HashSet::from(["1".into(), "x".into()])
    );
    assert_eq!(c.sinterstore::<_, _, i64>("dst", &["s", "t"]).unwrap(), 2);
    assert_eq!(
        members(&mut c, "dst"),
        HashSet::from(["2".into(), "3".into()])
    );
    // An empty result deletes the destination.
    assert_eq!(
        c.sinterstore::<_, _, i64>("dst", &["s", "nope"]).unwrap(),
        0
    );
    assert!(!c.exists::<_, bool>("dst").unwrap());
    let card: i64 = redis::cmd("SINTERCARD")
        .arg(2)
        .arg("s")
        .arg("t")
        .arg("LIMIT")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(card, 1);
    assert!(c.smove::<_, _, _, bool>("s", "t", "x").unwrap());
    assert!(!c.sismember::<_, _, bool>("s", "x").unwrap());
    let popped: Vec<String> = redis::cmd("SPOP").arg("t").arg(10).query(&mut c).unwrap();
    assert_eq!(popped.len(), 4);
    assert!(!c.exists::<_, bool>("t").unwrap(), "emptied, deleted");
    // Random members: distinct for a positive count, repeats for a negative one, and a
    // count too large to answer is refused rather than allocated.
    let _: i64 = c.sadd("r", &["a", "b", "c"]).unwrap();
    let two: HashSet<String> = redis::cmd("SRANDMEMBER")
        .arg("r")
        .arg(2)
        .query(&mut c)
        .unwrap();
    assert_eq!(two.len(), 2);
    let five: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("r")
        .arg(-5)
        .query(&mut c)
        .unwrap();
    assert_eq!(five.len(), 5);
    for cmd in [
        redis::cmd("SRANDMEMBER")
            .arg("r")
            .arg(-(1i64 << 40))
            .clone(),
        redis::cmd("HRANDFIELD").arg("r").arg(-(1i64 << 40)).clone(),
    ] {
        let e = cmd.query::<redis::Value>(&mut c).unwrap_err();
        assert!(e.to_string().contains("value is out of range"), "{e}");
    }
    let one: String = redis::cmd("SPOP").arg("r").query(&mut c).unwrap();
    assert!(["a", "b", "c"].contains(&one.as_str()));
    assert_eq!(c.scard::<_, i64>("r").unwrap(), 2);
    let () = c.set("str", "v").unwrap();
    let e = c.sadd::<_, _, i64>("str", "m").unwrap_err();
    assert!(e.to_string().contains("WRONGTYPE"), "{e}");
    let e = c
        .sinter::<_, HashSet<String>>(&["nope", "str"])
        .unwrap_err();
    assert!(
        e.to_string().contains("WRONGTYPE"),
        "every key's type is checked: {e}"
    );
}

#[test]
fn http_shows_a_set_and_sets_replicate() {
    let s = Server::start();
    let mut c = s.conn();
    let _: i64 = c.sadd("tags", &["a", "b"]).unwrap();
    let r = http::get(&format!("{}/api/cache/tags", s.http_url())).json();
    assert_eq!(r["data"]["type"], "set");
    let mut got: Vec<String> = serde_json::from_value(r["data"]["value"].clone()).unwrap();
    got.sort();
    assert_eq!(got, ["a", "b"]);

    let cl = TestCluster::start(3, "");
    let _: i64 = cl.conn(0).sadd("s", &["a", "b", "c"]).unwrap();
    let _: i64 = cl.conn(0).srem("s", "b").unwrap();
    let want = HashSet::from(["a".to_string(), "c".to_string()]);
    for i in 1..3 {
        wait("the set to replicate", Duration::from_secs(10), || {
            members(&mut cl.conn(i), "s") == want
        });
    }
}
