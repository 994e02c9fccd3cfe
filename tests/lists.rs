//! Lists through real clients: a queue's both ends, moves between lists, type errors, the
//! HTTP view and replication.

mod common;

use std::time::Duration;

use common::cluster::{TestCluster, wait};
use common::{Server, encoding, http};
use redis::Commands;

#[test]
fn a_list_is_a_queue_at_both_ends_and_indexes_from_either() {
    let s = Server::start();
    let mut c = s.conn();
    assert_eq!(c.rpush::<_, _, i64>("q", &["a", "b", "c"]).unwrap(), 3);
    assert_eq!(c.lpush::<_, _, i64>("q", &["y", "z"]).unwrap(), 5);
    let all: Vec<String> = c.lrange("q", 0, -1).unwrap();
    assert_eq!(all, ["z", "y", "a", "b", "c"]);
    assert_eq!(c.lindex::<_, String>("q", -2).unwrap(), "b");
    assert_eq!(c.lindex::<_, Option<String>>("q", 9).unwrap(), None);
    let two: Vec<String> = redis::cmd("RPOP").arg("q").arg(2).query(&mut c).unwrap();
    assert_eq!(two, ["c", "b"]);
    assert_eq!(
        c.lpop::<_, Option<String>>("q", None).unwrap().unwrap(),
        "z"
    );
    let pos: Option<i64> = redis::cmd("LPOS").arg("q").arg("a").query(&mut c).unwrap();
    assert_eq!(pos, Some(1));
    assert_eq!(c.lpush_exists::<_, _, i64>("nope", "x").unwrap(), 0);
    assert!(!c.exists::<_, bool>("nope").unwrap());
    // Popping the last element deletes the key; a missing key with a count is a null array.
    let _: Vec<String> = redis::cmd("LPOP").arg("q").arg(10).query(&mut c).unwrap();
    assert!(!c.exists::<_, bool>("q").unwrap());
    let none: redis::Value = redis::cmd("LPOP").arg("q").arg(1).query(&mut c).unwrap();
    assert_eq!(none, redis::Value::Nil);
    // Many nodes' worth: the order holds across them.
    let items: Vec<String> = (0..20_000).map(|i| format!("e{i}")).collect();
    let _: i64 = c.rpush("big", &items).unwrap();
    let mid: Vec<String> = c.lrange("big", 9_998, 10_001).unwrap();
    assert_eq!(mid, ["e9998", "e9999", "e10000", "e10001"]);
    assert_eq!(encoding(&mut c, "big"), "quicklist");
}

#[test]
fn lmove_checks_the_destination_before_anything_moves() {
    let s = Server::start();
    let mut c = s.conn();
    let _: i64 = c.rpush("src", &["1", "2", "3"]).unwrap();
    let () = c.set("str", "v").unwrap();
    let e = redis::cmd("LMOVE")
        .arg("src")
        .arg("str")
        .arg("LEFT")
        .arg("RIGHT")
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("WRONGTYPE"), "{e}");
    assert_eq!(c.llen::<_, i64>("src").unwrap(), 3, "nothing moved");
    let moved: String = redis::cmd("RPOPLPUSH")
        .arg("src")
        .arg("dst")
        .query(&mut c)
        .unwrap();
    assert_eq!(moved, "3");
    // The same list: a rotation.
    let rotated: String = redis::cmd("LMOVE")
        .arg("src")
        .arg("src")
        .arg("LEFT")
        .arg("RIGHT")
        .query(&mut c)
        .unwrap();
    assert_eq!(rotated, "1");
    assert_eq!(
        c.lrange::<_, Vec<String>>("src", 0, -1).unwrap(),
        ["2", "1"]
    );
    let (key, items): (String, Vec<String>) = redis::cmd("LMPOP")
        .arg(2)
        .arg("empty")
        .arg("dst")
        .arg("LEFT")
        .query(&mut c)
        .unwrap();
    assert_eq!((key.as_str(), items), ("dst", vec!["3".to_string()]));
    let e = redis::cmd("LSET")
        .arg("src")
        .arg(5)
        .arg("x")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("index out of range"), "{e}");
}

#[test]
fn http_shows_a_list_as_an_array() {
    let s = Server::start();
    let mut c = s.conn();
    let _: i64 = c.rpush("l", &["a", "b"]).unwrap();
    let r = http::get(&format!("{}/api/cache/l", s.http_url())).json();
    assert_eq!(r["data"]["type"], "list");
    assert_eq!(r["data"]["value"], serde_json::json!(["a", "b"]));
    let put = http::put_json(
        &format!("{}/api/cache/l", s.http_url()),
        &serde_json::json!({"value": "x"}),
    );
    assert_eq!(put.status, 409);
}

#[test]
fn lists_replicate_to_every_node() {
    let c = TestCluster::start(3, "");
    let mut a = c.conn(0);
    let _: i64 = a.rpush("jobs", &["j1", "j2", "j3"]).unwrap();
    let _: Option<String> = a.lpop("jobs", None).unwrap();
    // A node that got the push before it reads answers from its copy until the pop arrives
    // (replication is asynchronous; only a miss waits for the peers).
    for i in 1..3 {
        wait("the pop to replicate", Duration::from_secs(10), || {
            c.conn(i).lrange::<_, Vec<String>>("jobs", 0, -1).unwrap() == ["j2", "j3"]
        });
    }
    let _: i64 = c.conn(1).rpush("jobs", "j4").unwrap();
    for i in [0, 2] {
        wait("the push to replicate", Duration::from_secs(10), || {
            c.conn(i).llen::<_, i64>("jobs").unwrap() == 3
        });
    }
}

/// A push into a long list, a pop from it, or a change in its middle (LSET, LINSERT, LREM,
/// LTRIM) costs the AOF and the replica's stream about what it wrote: the record is the edit
/// (elements pushed, a pop's count, a position and an element), not the list.
#[test]
fn a_write_to_a_long_list_is_a_small_record_on_disk_and_on_the_wire() {
    let c = TestCluster::start(2, "");
    let (mut a, mut b) = (c.conn(0), c.conn(1));
    for batch in 0..20 {
        let items: Vec<String> = (0..10_000)
            .map(|i| format!("element-{:08}", batch * 10_000 + i))
            .collect();
        let _: i64 = a.rpush("long", &items).unwrap();
    }
    let sent = |c: &mut redis::Connection| -> u64 {
        let text: String = redis::cmd("INFO").arg("cluster").query(c).unwrap();
        text.split([',', '\n'])
            .filter_map(|f| f.trim().strip_prefix("sent_bytes="))
            .map(|v| v.parse::<u64>().unwrap())
            .sum()
    };
    let aof = |c: &mut redis::Connection| -> u64 {
        common::info_field(c, "persistence", "hypercache_aof_written_bytes")
            .parse()
            .unwrap()
    };
    // Both nodes hold it and have logged it all before anything is measured.
    for con in [&mut a, &mut b] {
        wait("the list on both nodes", Duration::from_secs(30), || {
            con.llen::<_, i64>("long").unwrap() == 200_000
        });
        let mut last = aof(con);
        wait("the AOF to settle", Duration::from_secs(30), || {
            std::thread::sleep(Duration::from_millis(200));
            std::mem::replace(&mut last, aof(con)) == last
        });
    }
    // Each kind of write measured apart, on both nodes: the key's owner runs it and streams
    // it, and both log it.
    let mut per_write = Vec::new();
    for (op, n) in [
        ("lpush", 1000),
        ("rpop", 1000),
        ("lset", 200),
        ("linsert", 100),
        ("lrem", 100),
        ("ltrim", 100),
    ] {
        let (sent0, aof0) = ([sent(&mut a), sent(&mut b)], [aof(&mut a), aof(&mut b)]);
        // In pipelines of 50, as a busy client sends them: a stream batch's framing is then
        // shared, and what remains is the records.
        for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
            let mut pipe = redis::pipe();
            for &i in chunk {
                let elem = format!("new-elem-{i:07}");
                let cmd = pipe.cmd(op).arg("long");
                match op {
                    "lpush" => cmd.arg(&elem),
                    "rpop" => cmd,
                    "lset" => cmd.arg(1000 + i * 7).arg(&elem),
                    "linsert" => cmd
                        .arg("BEFORE")
                        .arg(format!("element-{:08}", 5000 + i))
                        .arg(&elem),
                    "lrem" => cmd.arg(1).arg(format!("element-{:08}", 90_000 + i)),
                    _ => cmd.arg(1).arg(-2),
                };
            }
            let _: Vec<redis::Value> = pipe.query(&mut a).unwrap();
        }
        let n = n as u64;
        per_write.push((
            op,
            ((sent(&mut a) - sent0[0]).max(sent(&mut b) - sent0[1])) / n,
            ((aof(&mut a) - aof0[0]).max(aof(&mut b) - aof0[1])) / n,
        ));
    }
    // Every change reached both nodes as an edit they could apply (whichever owns the key,
    // the other applies its stream a moment later).
    let expected = 200_000 + 100 - 100 - 200;
    wait("both nodes to converge", Duration::from_secs(30), || {
        a.llen::<_, usize>("long").unwrap() == expected
            && a.lrange::<_, Vec<String>>("long", 0, -1).unwrap()
                == b.lrange::<_, Vec<String>>("long", 0, -1).unwrap()
    });
    // The list holds 3.4 MB: any of these sending it whole would show as kilobytes. The
    // middle changes (LSET included) are not `fast`, so a non-owner forwards them one at a
    // time: each may be alone in its stream batch and in its AOF flush, and carry their
    // framing (~90 bytes on the wire, ~20 in the AOF).
    for (op, wire, disk) in &per_write {
        let (wire_max, disk_max) = match *op {
            "lpush" | "rpop" => (64, 64),
            _ => (256, 128),
        };
        assert!(
            *wire <= wire_max && *disk <= disk_max,
            "{op}: {per_write:?} bytes per write (wire, AOF)"
        );
    }
    assert_eq!(
        common::info_field(&mut b, "cluster", "hypercache_replication_deltas_behind"),
        "0"
    );
}

/// `list-max-listpack-size` (and its older name) shapes the nodes a list is made of: one
/// element per node costs far more memory than 8 KB nodes, for the same contents.
#[test]
fn list_max_listpack_size_sets_the_node_size() {
    let s = Server::start();
    let mut c = s.conn();
    let get = |c: &mut redis::Connection, name: &str| -> Vec<String> {
        redis::cmd("CONFIG").arg("GET").arg(name).query(c).unwrap()
    };
    assert_eq!(
        get(&mut c, "list-max-listpack-size"),
        ["list-max-listpack-size", "-2"]
    );
    assert_eq!(
        get(&mut c, "list-max-ziplist-size"),
        ["list-max-ziplist-size", "-2"]
    );
    // A pattern finds the older names too, as Redis's CONFIG GET does.
    let old: Vec<String> = get(&mut c, "*ziplist*");
    let mut names: Vec<&str> = old.iter().step_by(2).map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "hash-max-ziplist-entries",
            "hash-max-ziplist-value",
            "list-max-ziplist-size",
            "zset-max-ziplist-entries",
            "zset-max-ziplist-value"
        ]
    );
    assert_eq!(
        get(&mut c, "hash-max-ziplist-entries"),
        ["hash-max-ziplist-entries", "512"]
    );
    let items: Vec<String> = (0..1000).map(|i| format!("item-{i:05}")).collect();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("list-max-ziplist-size")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        get(&mut c, "list-max-listpack-size"),
        ["list-max-listpack-size", "1"]
    );
    let _: i64 = c.rpush("one-per-node", &items).unwrap();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("list-max-listpack-size")
        .arg(-2)
        .query(&mut c)
        .unwrap();
    let _: i64 = c.rpush("packed", &items).unwrap();
    let usage = |c: &mut redis::Connection, k: &str| -> i64 {
        redis::cmd("MEMORY").arg("USAGE").arg(k).query(c).unwrap()
    };
    let (loose, packed) = (usage(&mut c, "one-per-node"), usage(&mut c, "packed"));
    assert!(loose > 2 * packed, "{loose} vs {packed}");
    let a: Vec<String> = c.lrange("one-per-node", 0, -1).unwrap();
    assert_eq!(a, items);
    // Out of an int's range: Redis's error.
    let e = redis::cmd("CONFIG")
        .arg("SET")
        .arg("list-max-listpack-size")
        .arg("3000000000")
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("argument must be between"), "{e}");
    assert_eq!(encoding(&mut c, "packed"), "quicklist");
}

#[test]
fn the_middle_of_a_long_list_is_compressed_and_reads_back_whole() {
    let s = Server::start();
    let mut c = s.conn();
    let depth: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("list-compress-depth")
        .query(&mut c)
        .unwrap();
    assert_eq!(depth, ["list-compress-depth", "2"]);
    let items: Vec<String> = (0..100_000).map(|i| format!("element-{i:08}")).collect();
    for chunk in items.chunks(1000) {
        let _: i64 = c.rpush("packed", chunk).unwrap();
    }
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("list-compress-depth")
        .arg(0)
        .query(&mut c)
        .unwrap();
    for chunk in items.chunks(1000) {
        let _: i64 = c.rpush("plain", chunk).unwrap();
    }
    let usage = |c: &mut redis::Connection, k: &str| -> i64 {
        redis::cmd("MEMORY").arg("USAGE").arg(k).query(c).unwrap()
    };
    let (packed, plain) = (usage(&mut c, "packed"), usage(&mut c, "plain"));
    assert!(plain > 1_600_000, "{plain}");
    assert!(packed * 2 < plain, "{packed} vs {plain}");
    // Reads in the compressed middle, a write there, and both ends.
    assert_eq!(
        c.lindex::<_, String>("packed", 50_000).unwrap(),
        items[50_000]
    );
    let mid: Vec<String> = c.lrange("packed", 49_000, 51_000).unwrap();
    assert_eq!(mid, items[49_000..=51_000]);
    let () = c.lset("packed", 60_000, "changed").unwrap();
    assert_eq!(c.lindex::<_, String>("packed", 60_000).unwrap(), "changed");
    assert_eq!(c.lpop::<_, String>("packed", None).unwrap(), items[0]);
    assert_eq!(c.rpop::<_, String>("packed", None).unwrap(), items[99_999]);
    let all: Vec<String> = c.lrange("packed", 0, -1).unwrap();
    let mut want = items[1..99_999].to_vec();
    want[59_999] = "changed".into();
    assert_eq!(all, want);
}

#[test]
fn a_list_rotated_onto_itself_keeps_its_ttl() {
    let s = Server::start();
    let mut c = s.conn();
    let _: i64 = c.rpush("r", "only").unwrap();
    let _: bool = c.expire("r", 100).unwrap();
    for (from, to) in [("LEFT", "RIGHT"), ("RIGHT", "RIGHT"), ("LEFT", "LEFT")] {
        let moved: String = redis::cmd("LMOVE")
            .arg("r")
            .arg("r")
            .arg(from)
            .arg(to)
            .query(&mut c)
            .unwrap();
        assert_eq!(moved, "only");
        let ttl: i64 = c.ttl("r").unwrap();
        assert!((1..=100).contains(&ttl), "{from} {to}: ttl {ttl}");
    }
    let moved: String = redis::cmd("BLMOVE")
        .arg("r")
        .arg("r")
        .arg("RIGHT")
        .arg("LEFT")
        .arg(0.01)
        .query(&mut c)
        .unwrap();
    assert_eq!(moved, "only");
    assert!(c.ttl::<_, i64>("r").unwrap() > 0);
    let _: i64 = c.rpush("r", &["a", "b"]).unwrap();
    let moved: String = redis::cmd("RPOPLPUSH")
        .arg("r")
        .arg("r")
        .query(&mut c)
        .unwrap();
    assert_eq!(moved, "b");
    let all: Vec<String> = c.lrange("r", 0, -1).unwrap();
    assert_eq!(all, ["b", "only", "a"]);
    let moved: String = redis::cmd("LMOVE")
        .arg("r")
        .arg("r")
        .arg("LEFT")
        .arg("RIGHT")
        .query(&mut c)
        .unwrap();
    assert_eq!(moved, "b");
    let all: Vec<String> = c.lrange("r", 0, -1).unwrap();
    assert_eq!(all, ["only", "a", "b"]);
}
