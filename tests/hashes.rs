//! Hashes through real clients: RESP2 and RESP3 replies, the packed and table encodings and
//! where one becomes the other, type errors both ways, the HTTP view, and replication.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::cluster::{TestCluster, wait};
use common::{Server, encoding, http};
use redis::Commands;

#[test]
fn hash_commands_answer_as_redis_in_resp2_and_resp3() {
    let s = Server::start();
    let mut c = s.conn();
    assert_eq!(c.hset::<_, _, _, i64>("h", "a", "1").unwrap(), 1);
    let added: i64 = redis::cmd("HSET")
        .arg("h")
        .arg("a")
        .arg("2")
        .arg("b")
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(added, 1, "only b is new");
    assert_eq!(c.hget::<_, _, String>("h", "a").unwrap(), "2");
    assert_eq!(c.hlen::<_, i64>("h").unwrap(), 2);
    assert_eq!(
        redis::cmd("HSTRLEN")
            .arg("h")
            .arg("b")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert!(!c.hset_nx::<_, _, _, bool>("h", "a", "9").unwrap());
    assert_eq!(c.hincr::<_, _, _, i64>("h", "a", 40).unwrap(), 42);
    let e = c.hincr::<_, _, _, i64>("h", "b", 1).unwrap_err();
    assert!(
        e.to_string().contains("hash value is not an integer"),
        "{e}"
    );
    let f: String = redis::cmd("HINCRBYFLOAT")
        .arg("h")
        .arg("a")
        .arg("0.5")
        .query(&mut c)
        .unwrap();
    assert_eq!(f, "42.5");
    let got: Vec<Option<String>> = redis::cmd("HMGET")
        .arg("h")
        .arg("a")
        .arg("nope")
        .query(&mut c)
        .unwrap();
    assert_eq!(got, vec![Some("42.5".to_string()), None]);
    // RESP2: HGETALL is a flat array; RESP3: a map.
    let flat: Vec<String> = c.hgetall("h").unwrap();
    assert_eq!(flat.len(), 4);
    let mut c3 = s.conn3();
    let map: redis::Value = redis::cmd("HGETALL").arg("h").query(&mut c3).unwrap();
    assert!(
        matches!(&map, redis::Value::Map(m) if m.len() == 2),
        "{map:?}"
    );
    // HRANDFIELD: distinct fields for a positive count, pairs with WITHVALUES in RESP3.
    let some: Vec<String> = redis::cmd("HRANDFIELD")
        .arg("h")
        .arg(5)
        .query(&mut c)
        .unwrap();
    assert_eq!(some.iter().collect::<HashSet<_>>().len(), 2);
    let repeated: Vec<String> = redis::cmd("HRANDFIELD")
        .arg("h")
        .arg(-7)
        .query(&mut c)
        .unwrap();
    assert_eq!(repeated.len(), 7);
    let pairs: redis::Value = redis::cmd("HRANDFIELD")
        .arg("h")
        .arg(1)
        .arg("WITHVALUES")
        .query(&mut c3)
        .unwrap();
    assert!(
        matches!(&pairs, redis::Value::Array(a) if a.len() == 1 && matches!(&a[0], redis::Value::Array(p) if p.len() == 2)),
        "{pairs:?}"
    );
    // The last field deleted deletes the key.
    assert_eq!(c.hdel::<_, _, i64>("h", &["a", "b", "c"]).unwrap(), 2);
    assert!(!c.exists::<_, bool>("h").unwrap());
    assert_eq!(c.hlen::<_, i64>("h").unwrap(), 0);
}

#[test]
fn types_do_not_mix() {
    let s = Server::start();
    let mut c = s.conn();
    let () = c.set("s", "v").unwrap();
    let e = c.hset::<_, _, _, i64>("s", "f", "v").unwrap_err();
    assert!(e.to_string().contains("WRONGTYPE"), "{e}");
    assert_eq!(c.get::<_, String>("s").unwrap(), "v", "nothing changed");
    let _: i64 = c.hset("h", "f", "v").unwrap();
    for cmd in [
        redis::cmd("GET").arg("h").clone(),
        redis::cmd("APPEND").arg("h").arg("x").clone(),
        redis::cmd("INCR").arg("h").clone(),
        redis::cmd("HGET").arg("s").arg("f").clone(),
    ] {
        let e = cmd.query::<redis::Value>(&mut c).unwrap_err();
        assert!(e.to_string().contains("WRONGTYPE"), "{e}");
    }
    let t: String = redis::cmd("TYPE").arg("h").query(&mut c).unwrap();
    assert_eq!(t, "hash");
    // SET replaces any type, as in Redis.
    let () = c.set("h", "now a string").unwrap();
    assert_eq!(c.get::<_, String>("h").unwrap(), "now a string");
}

#[test]
fn a_hash_is_packed_until_a_limit_and_config_set_moves_the_limits() {
    let s = Server::start();
    let mut c = s.conn();
    // Redis 7.0's default: 512 fields (its sample redis.conf says 128; the server's is 512).
    let fields: Vec<(String, String)> = (0..512).map(|i| (format!("f{i}"), "v".into())).collect();
    let () = c.hset_multiple("h", &fields).unwrap();
    assert_eq!(encoding(&mut c, "h"), "listpack");
    let _: i64 = c.hset("h", "f512", "v").unwrap();
    assert_eq!(encoding(&mut c, "h"), "hashtable");
    let _: i64 = c.hset("long", "f", "x".repeat(65)).unwrap();
    assert_eq!(encoding(&mut c, "long"), "hashtable");
    let _: i64 = c.hset("short", "f", "x".repeat(64)).unwrap();
    assert_eq!(encoding(&mut c, "short"), "listpack");
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("hash-max-listpack-entries")
        .arg(2)
        .query(&mut c)
        .unwrap();
    let () = c.hset_multiple("two", &[("a", "1"), ("b", "2")]).unwrap();
    assert_eq!(encoding(&mut c, "two"), "listpack");
    let _: i64 = c.hset("two", "c", "3").unwrap();
    assert_eq!(encoding(&mut c, "two"), "hashtable");
    let got: HashMap<String, String> = c.hgetall("two").unwrap();
    assert_eq!(got.len(), 3);
    let limit: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hash-max-listpack-entries")
        .query(&mut c)
        .unwrap();
    assert_eq!(limit, vec!["hash-max-listpack-entries", "2"]);
    // HSCAN over a table walks every field exactly once.
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("HSCAN")
            .arg("h")
            .arg(cursor)
            .arg("COUNT")
            .arg(20)
            .query(&mut c)
            .unwrap();
        for pair in batch.chunks(2) {
            assert!(seen.insert(pair[0].clone()), "{} twice", pair[0]);
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 513);
}

#[test]
fn http_shows_a_hash_as_an_object_and_will_not_overwrite_it() {
    let s = Server::start();
    let mut c = s.conn();
    let () = c
        .hset_multiple("user:1", &[("name", "Ada"), ("lang", "en")])
        .unwrap();
    let url = format!("{}/api/cache/user:1", s.http_url());
    let r = http::get(&url).json();
    assert_eq!(r["data"]["type"], "hash");
    assert_eq!(
        r["data"]["value"],
        serde_json::json!({"name": "Ada", "lang": "en"})
    );
    let put = http::put_json(&url, &serde_json::json!({"value": "flat"}));
    assert_eq!(put.status, 409);
    assert!(
        put.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("WRONGTYPE"),
        "{:?}",
        put.json()
    );
    assert_eq!(c.hget::<_, _, String>("user:1", "name").unwrap(), "Ada");
    // Strings keep no "type" field.
    let () = c.set("plain", "v").unwrap();
    let r = http::get(&format!("{}/api/cache/plain", s.http_url())).json();
    assert!(r["data"].get("type").is_none(), "{r}");
}

#[test]
fn hashes_replicate_to_every_node() {
    let c = TestCluster::start(3, "");
    let mut a = c.conn(0);
    let () = a
        .hset_multiple("session", &[("user", "ada"), ("n", "1")])
        .unwrap();
    let _: i64 = a.hincr("session", "n", 5).unwrap();
    let _: i64 = a.hdel("session", "user").unwrap();
    // A node that got the first write before it reads answers from its copy until the later
    // changes arrive (replication is asynchronous; only a miss waits for the peers).
    let want = HashMap::from([("n".to_string(), "6".to_string())]);
    for i in 1..3 {
        wait("the changes to replicate", Duration::from_secs(10), || {
            c.conn(i)
                .hgetall::<_, HashMap<String, String>>("session")
                .unwrap()
                == want
        });
    }
    // Emptied on another node: gone everywhere (a node that holds the key answers from its
    // copy until the delete arrives: replication is asynchronous).
    let _: i64 = c.conn(2).hdel("session", "n").unwrap();
    for i in 0..3 {
        wait("the delete to replicate", Duration::from_secs(10), || {
            !c.conn(i).exists::<_, bool>("session").unwrap()
        });
    }
}

/// A big collection dropped by DEL, UNLINK or an overwrite is freed by the background thread
/// (INFO counts it), not by the I/O thread that served the command.
#[test]
fn big_collections_are_freed_in_the_background() {
    let s = Server::start();
    let mut c = s.conn();
    let freed = |c: &mut redis::Connection| -> u64 {
        common::info_field(c, "memory", "lazyfreed_objects")
            .parse()
            .unwrap()
    };
    let before = freed(&mut c);
    for key in ["h1", "h2", "h3"] {
        for batch in 0..10 {
            let pairs: Vec<(String, String)> = (0..10_000)
                .map(|i| (format!("field-{batch}-{i}"), format!("value-{i}")))
                .collect();
            let () = c.hset_multiple(key, &pairs).unwrap();
        }
    }
    let _: i64 = c.del("h1").unwrap();
    let _: i64 = c.unlink("h2").unwrap();
    let () = c.set("h3", "a string now").unwrap();
    // Small ones are freed in place.
    let _: i64 = c.hset("small", "f", "v").unwrap();
    let _: i64 = c.del("small").unwrap();
    common::wait_until("three big hashes freed in the background", || {
        freed(&mut c) == before + 3
    });
    assert_eq!(
        common::info_field(&mut c, "memory", "lazyfree_pending_objects"),
        "0"
    );
}

/// MEMORY USAGE of `key`.
fn usage(c: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("MEMORY").arg("USAGE").arg(key).query(c).unwrap()
}

fn object(i: usize, names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .enumerate()
        .map(|(j, n)| (n.clone(), format!("value-{i:06}-{j:03}")))
        .collect()
}

#[test]
fn field_names_are_shared_by_small_hashes_up_to_a_limit() {
    let s = Server::start();
    let mut c = s.conn();
    let names: Vec<String> = (0..10).map(|j| format!("field{j}")).collect();
    for i in 0..3 {
        let () = c
            .hset_multiple(format!("user:{i}"), &object(i, &names))
            .unwrap();
    }
    // Ten 16-byte values and ten one-byte references: one 192-byte block, where the names'
    // bytes would take it to 256.
    let shared = usage(&mut c, "user:2");
    assert!(shared <= 310, "{shared}");
    let got: HashMap<String, String> = c.hgetall("user:2").unwrap();
    assert_eq!(got, object(2, &names).into_iter().collect());
    assert_eq!(
        c.hget::<_, _, String>("user:1", "field3").unwrap(),
        "value-000001-003"
    );
    let () = c.hset("user:1", "field3", "changed").unwrap();
    assert!(c.hdel::<_, _, i64>("user:1", "field0").unwrap() == 1);
    assert_eq!(
        c.hget::<_, _, String>("user:1", "field3").unwrap(),
        "changed"
    );
    assert!(!c.hexists::<_, _, bool>("user:1", "field0").unwrap());

    // Fill the table (4096 names) with junk: every field still reads back, and a name first
    // seen after that is stored as bytes.
    for k in 0..50 {
        let junk: Vec<(String, &str)> = (0..100).map(|j| (format!("junk{k}-{j}"), "v")).collect();
        let () = c.hset_multiple(format!("junk:{k}"), &junk).unwrap();
    }
    let late: Vec<String> = (0..10).map(|j| format!("later{j}")).collect();
    let () = c.hset_multiple("late", &object(2, &late)).unwrap();
    let () = c.hset_multiple("again", &object(2, &names)).unwrap();
    let (late_bytes, again) = (usage(&mut c, "late"), usage(&mut c, "again"));
    assert!(late_bytes > again + 40, "{late_bytes} vs {again}");
    let got: HashMap<String, String> = c.hgetall("late").unwrap();
    assert_eq!(got, object(2, &late).into_iter().collect());
    assert_eq!(c.hget::<_, _, String>("junk:49", "junk49-99").unwrap(), "v");
    assert_eq!(c.hget::<_, _, String>("junk:0", "junk0-0").unwrap(), "v");
}

#[test]
fn random_fields_of_a_big_hash_are_distinct_fields_with_their_values() {
    let s = Server::start();
    let mut c = s.conn();
    let fields: Vec<(String, String)> = (0..20_000)
        .map(|i| (format!("f{i}"), format!("v{i}")))
        .collect();
    for chunk in fields.chunks(1000) {
        let () = c.hset_multiple("big", chunk).unwrap();
    }
    assert_eq!(encoding(&mut c, "big"), "hashtable");
    for n in [1usize, 7, 100, 6_000, 15_000] {
        let got: Vec<String> = redis::cmd("HRANDFIELD")
            .arg("big")
            .arg(n)
            .query(&mut c)
            .unwrap();
        assert_eq!(got.len(), n);
        let distinct: HashSet<&String> = got.iter().collect();
        assert_eq!(distinct.len(), n, "count {n}: distinct fields");
        assert!(got.iter().all(|f| f.starts_with('f')));
    }
    let pairs: Vec<String> = redis::cmd("HRANDFIELD")
        .arg("big")
        .arg(-50)
        .arg("WITHVALUES")
        .query(&mut c)
        .unwrap();
    assert_eq!(pairs.len(), 100);
    for fv in pairs.chunks(2) {
        assert_eq!(fv[1], format!("v{}", &fv[0][1..]));
    }
}
