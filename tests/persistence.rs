//! Persistence with the real binary: restarts, recovery of every value and TTL, the Lamport
//! clock, snapshots and rewrites, torn and corrupt files, and the file tools.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Raw, Server, info_field, wait_until};
use redis::Commands;

const ALWAYS: &str = "persistence:\n  sync_policy: always\n";

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(prefix) && !n.ends_with(".tmp"))
    });
    v.sort();
    v
}

fn tool(args: &[&str], file: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hypercache"))
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes a mix of values and TTLs and returns what must come back.
fn write_dataset(c: &mut redis::Connection) {
    let _: () = c.set("plain", "hello").unwrap();
    let _: () = c.set("int", 42).unwrap();
    let _: () = c.set("bin", b"\x00\r\n\xff".as_slice()).unwrap();
    let _: () = c.set("big", "x".repeat(100_000)).unwrap();
    let _: () = redis::cmd("SET")
        .arg("ttl")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query(c)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(300)
        .query(c)
        .unwrap();
    let _: i64 = c.incr("counter", 10).unwrap();
    let _: i64 = c.incr("counter", 5).unwrap();
    let _: i64 = c.append("appended", "ab").unwrap();
    let _: i64 = c.append("appended", "cd").unwrap();
    let _: String = redis::cmd("INCRBYFLOAT")
        .arg("float")
        .arg("0.1")
        .query(c)
        .unwrap();
    let _: () = c.set("deleted", "x").unwrap();
    let _: i64 = c.del("deleted").unwrap();
    // Hashes: packed, then one past the packed limit (a table), then one emptied (deleted).
    let () = c
        .hset_multiple("hash", &[("f", "1"), ("g", "two")])
        .unwrap();
    let _: i64 = c.hincr("hash", "f", 41).unwrap();
    let big: Vec<(String, String)> = (0..600)
        .map(|i| (format!("f{i}"), format!("v{i}")))
        .collect();
    let () = c.hset_multiple("bighash", &big).unwrap();
    let _: i64 = c.hdel("bighash", "f7").unwrap();
    // Lists: one spanning many nodes, changed at both ends and in the middle.
    for i in 0..3000 {
        let _: i64 = c.rpush("queue", format!("job-{i:05}")).unwrap();
    }
    let _: Option<String> = c.lpop("queue", None).unwrap();
    let _: i64 = c.lpush("queue", "urgent").unwrap();
    let () = c.lset("queue", 1500, "changed").unwrap();
    let _: i64 = c.hset("gone", "f", "v").unwrap();
    let _: i64 = c.hdel("gone", "f").unwrap();
    let _: () = c.set("renamed-from", "moved").unwrap();
    let _: () = c.rename("renamed-from", "renamed-to").unwrap();
    let _: () = redis::cmd("SELECT").arg(5).query(c).unwrap();
    let _: () = c.set("in-db5", "five").unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
}

fn check_dataset(c: &mut redis::Connection, ttl_before: i64) {
    assert_eq!(c.get::<_, String>("plain").unwrap(), "hello");
    assert_eq!(c.get::<_, i64>("int").unwrap(), 42);
    assert_eq!(
        redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg("int")
            .query::<String>(c)
            .unwrap(),
        "int"
    );
    assert_eq!(c.get::<_, Vec<u8>>("bin").unwrap(), b"\x00\r\n\xff");
    assert_eq!(c.get::<_, String>("big").unwrap().len(), 100_000);
    let pttl: i64 = c.pttl("ttl").unwrap();
    assert!(
        pttl > 0 && pttl <= ttl_before,
        "deadline kept as an absolute time: {pttl} vs {ttl_before}"
    );
    assert_eq!(
        c.get::<_, Option<String>>("short").unwrap(),
        None,
        "expired while down"
    );
    assert_eq!(c.get::<_, i64>("counter").unwrap(), 15);
    assert_eq!(c.get::<_, String>("appended").unwrap(), "abcd");
    assert_eq!(c.get::<_, String>("float").unwrap(), "0.1");
    assert!(!c.exists::<_, bool>("deleted").unwrap());
    let hash: std::collections::HashMap<String, String> = c.hgetall("hash").unwrap();
    assert_eq!(hash.len(), 2);
    assert_eq!((hash["f"].as_str(), hash["g"].as_str()), ("42", "two"));
    assert_eq!(c.hlen::<_, i64>("bighash").unwrap(), 599);
    assert_eq!(
        c.hget::<_, _, Option<String>>("bighash", "f7").unwrap(),
        None
    );
    assert_eq!(c.hget::<_, _, String>("bighash", "f599").unwrap(), "v599");
    for (key, encoding) in [("hash", "listpack"), ("bighash", "hashtable")] {
        let e: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(key)
            .query(c)
            .unwrap();
        assert_eq!(e, encoding, "{key}");
    }
    assert!(!c.exists::<_, bool>("gone").unwrap());
    assert_eq!(c.llen::<_, i64>("queue").unwrap(), 3000);
    assert_eq!(c.lindex::<_, String>("queue", 0).unwrap(), "urgent");
    assert_eq!(c.lindex::<_, String>("queue", 1).unwrap(), "job-00001");
    assert_eq!(c.lindex::<_, String>("queue", 1500).unwrap(), "changed");
    assert_eq!(c.lindex::<_, String>("queue", -1).unwrap(), "job-02999");
    assert!(!c.exists::<_, bool>("renamed-from").unwrap());
    assert_eq!(c.get::<_, String>("renamed-to").unwrap(), "moved");
    let _: () = redis::cmd("SELECT").arg(5).query(c).unwrap();
    assert_eq!(c.get::<_, String>("in-db5").unwrap(), "five");
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
}

#[test]
fn every_value_and_ttl_survives_a_crash_and_the_clock_never_goes_back() {
    for (name, config) in [
        ("aof+snapshot, always", ALWAYS.to_string()),
        (
            "aof only, always",
            "persistence:\n  strategy: aof\n  sync_policy: always\n".to_string(),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut s = Server::start_in(&data, Some(&config));
        let mut c = s.conn();
        write_dataset(&mut c);
        let ttl_before: i64 = c.pttl("ttl").unwrap();
        let clock: u64 = info_field(&mut c, "persistence", "hypercache_lamport_clock")
            .parse()
            .unwrap();
        assert!(clock > 10, "{name}: clock {clock}");
        s.kill();
        std::thread::sleep(Duration::from_millis(350)); // let "short" expire while down
        let s = Server::start_in(&data, Some(&config));
        let mut c = s.conn();
        check_dataset(&mut c, ttl_before);
        let after: u64 = info_field(&mut c, "persistence", "hypercache_lamport_clock")
            .parse()
            .unwrap();
        assert!(
            after >= clock,
            "{name}: clock went back from {clock} to {after}"
        );
        let replayed: u64 = info_field(
            &mut c,
            "persistence",
            "hypercache_recovery_records_replayed",
        )
        .parse()
        .unwrap();
        assert!(replayed >= 15, "{name}: replayed {replayed}");
    }
}

#[test]
fn snapshots_rewrites_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = "persistence:\n  retain: 2\n  sync_policy: always\n";
    let mut s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    write_dataset(&mut c);
    let ttl_before: i64 = c.pttl("ttl").unwrap();
    let before: i64 = redis::cmd("LASTSAVE").query(&mut c).unwrap();
    assert_eq!(info_field(&mut c, "persistence", "aof_enabled"), "1");
    let changes: u64 = info_field(&mut c, "persistence", "rdb_changes_since_last_save")
        .parse()
        .unwrap();
    assert!(changes > 10, "{changes}");
    // SAVE replies once the snapshot is on disk.
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    assert_eq!(files(&data, "snapshot-").len(), 1);
    assert_eq!(info_field(&mut c, "persistence", "rdb_saves"), "1");
    assert_eq!(
        info_field(&mut c, "persistence", "rdb_changes_since_last_save"),
        "0"
    );
    assert!(redis::cmd("LASTSAVE").query::<i64>(&mut c).unwrap() >= before);
    // Writes after the snapshot go to the new AOF generation.
    let _: () = c.set("after-save", "1").unwrap();
    let r: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
    assert_eq!(r, "Background append only file rewriting started");
    wait_until("the condition", || {
        info_field(&mut c, "persistence", "aof_rewrite_in_progress") == "0"
            && info_field(&mut c, "persistence", "aof_rewrites") == "2"
    });
    let r: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(r, "Background saving started");
    wait_until("the condition", || {
        info_field(&mut c, "persistence", "rdb_saves") == "3"
    });
    let _: () = c.set("after-bgsave", "2").unwrap();
    // retain: 2 snapshots kept, and only the AOFs recovery can still need.
    let snaps = files(&data, "snapshot-");
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let aofs = files(&data, "aof-");
    assert!(aofs.len() <= 3, "{aofs:?}");
    // The snapshot tool reads what the server wrote.
    let (code, out, err) = tool(&["snapshot", "dump"], snaps.last().unwrap());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("SET \"plain\" string \"hello\""), "{out}");
    assert!(out.contains("SET \"after-save\""), "{out}");
    s.kill();
    std::thread::sleep(Duration::from_millis(350)); // let "short" expire while down
    let s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    check_dataset(&mut c, ttl_before);
    assert_eq!(c.get::<_, String>("after-save").unwrap(), "1");
    assert_eq!(c.get::<_, String>("after-bgsave").unwrap(), "2");
    assert!(
        info_field(&mut c, "persistence", "hypercache_recovery_snapshot_keys")
            .parse::<u64>()
            .unwrap()
            >= 10
    );
}

#[test]
fn the_aof_is_rewritten_when_it_outgrows_max_log_size() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = "persistence:\n  max_log_size: 64KB\n  strategy: aof\n";
    let mut s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    for i in 0..2000 {
        let _: () = c.set(format!("k{}", i % 50), "v".repeat(100)).unwrap();
    }
    wait_until("the condition", || {
        info_field(&mut c, "persistence", "aof_rewrites")
            .parse::<u64>()
            .unwrap()
            >= 1
    });
    let size: u64 = info_field(&mut c, "persistence", "aof_current_size")
        .parse()
        .unwrap();
    assert!(
        size < 64 * 1024 + 20_000,
        "AOF {size} bytes after a rewrite"
    );
    s.kill();
    let s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 50);
}

/// The AOF of the newest generation in `data`.
fn last_aof(data: &Path) -> PathBuf {
    files(data, "aof-").pop().expect("an AOF file")
}

#[test]
fn a_torn_last_record_is_truncated_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, Some(ALWAYS));
    let mut c = s.conn();
    for i in 0..100 {
        let _: () = c.set(format!("k{i}"), i).unwrap();
    }
    s.kill();
    // A crash in the middle of writing one more record.
    let aof = last_aof(&data);
    let mut bytes = std::fs::read(&aof).unwrap();
    let good_len = bytes.len();
    bytes.extend_from_slice(&[0x40, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 1, 2, 3]);
    std::fs::write(&aof, &bytes).unwrap();
    let (code, out, _) = tool(&["aof", "check"], &aof);
    assert_eq!(code, 1);
    assert!(out.contains(&format!("offset {good_len}")), "{out}");
    let s = Server::start_in(&data, Some(ALWAYS));
    let mut c = s.conn();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 100);
    assert_eq!(
        info_field(&mut c, "persistence", "hypercache_recovery_truncated_bytes"),
        "11"
    );
    assert!(s.log_text().contains("torn record"));
    assert_eq!(std::fs::metadata(&aof).unwrap().len() as usize, good_len);
    let _: () = c.set("after", "ok").unwrap();
    assert_eq!(
        tool(&["aof", "check"], &aof).0,
        0,
        "the file is whole again"
    );
}

#[test]
fn a_corrupt_record_in_the_middle_stops_startup_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, Some(ALWAYS));
    let mut c = s.conn();
    for i in 0..100 {
        let _: () = c.set(format!("k{i}"), format!("value-{i}")).unwrap();
    }
    s.kill();
    let aof = last_aof(&data);
    let mut bytes = std::fs::read(&aof).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&aof, &bytes).unwrap();
    // Refuses to start, naming the file and the offset.
    let out = common::command(
        &data,
        &[],
        Some(&{
            let p = dir.path().join("always.yaml");
            std::fs::write(&p, ALWAYS).unwrap();
            p
        }),
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&aof.display().to_string()) && err.contains("offset"),
        "{err}"
    );
    assert!(err.contains("allow_partial_recovery"), "{err}");
    // The check tool finds the same place.
    let (code, report, _) = tool(&["aof", "check"], &aof);
    assert_eq!(code, 1);
    assert!(report.contains("corrupt record"), "{report}");
    // With allow_partial_recovery every valid record is loaded and the skip is reported.
    let partial = "persistence:\n  sync_policy: always\n  allow_partial_recovery: true\n";
    let s = Server::start_in(&data, Some(partial));
    let mut c = s.conn();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 99);
    assert_eq!(
        info_field(&mut c, "persistence", "hypercache_recovery_skipped_records"),
        "1"
    );
    // (The log is read by another thread: it may come a moment after the data.)
    common::wait_until("the skip to be logged", || {
        s.log_text().contains("skipped a corrupt record")
    });
}

#[test]
fn aof_tools_dump_check_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, Some(ALWAYS));
    let mut c = s.conn();
    let _: () = c.set("a\nb", "1").unwrap();
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("v")
        .arg("PXAT")
        .arg(4_000_000_000_000u64)
        .query(&mut c)
        .unwrap();
    let _: i64 = c.del("a\nb").unwrap();
    let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    s.terminate();
    let aof = last_aof(&data);
    let (code, out, err) = tool(&["aof", "dump"], &aof);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("SET \"a\\nb\" int 1"), "{out}");
    assert!(
        out.contains("SET \"t\" string \"v\" expire_at=4000000000000"),
        "{out}"
    );
    assert!(out.contains("DEL \"a\\nb\""), "{out}");
    assert!(out.contains("FLUSHALL"), "{out}");
    assert!(out.contains("# 4 records"), "{out}");
    let (code, out, _) = tool(&["aof", "check"], &aof);
    assert_eq!(code, 0, "{out}");
    // Tear the last record; check reports it and --fix cuts it.
    let len = std::fs::metadata(&aof).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&aof).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let (code, out, _) = tool(&["aof", "check"], &aof);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("truncated record"), "{out}");
    let (code, out, _) = Command::new(env!("CARGO_BIN_EXE_hypercache"))
        .args(["aof", "check", "--fix"])
        .arg(&aof)
        .output()
        .map(|o| {
            (
                o.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                (),
            )
        })
        .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Successfully truncated"), "{out}");
    let (code, out, _) = tool(&["aof", "dump"], &aof);
    assert_eq!(code, 0);
    assert!(out.contains("# 3 records"), "{out}");
}

#[test]
fn commands_answer_loading_until_the_data_is_in() {
    use hypercache::client::ClientState;
    use hypercache::config::Config;
    use hypercache::node::Node;
    use hypercache::resp::{Out, Protocol};
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.node.data_dir = Some(dir.path().to_path_buf());
    let node = Node::new(config, Vec::new());
    let addr = "127.0.0.1:1".parse().unwrap();
    let mut client = ClientState::opened(node.clients.register(addr, addr, -1), &node.acl);
    let run = |client: &mut ClientState, argv: &[&[u8]]| {
        let mut out = Out::new(Protocol::Resp2);
        hypercache::command::run(&node, client, &mut out, argv, 0);
        String::from_utf8_lossy(&out.buf).into_owned()
    };
    assert!(node.is_loading());
    assert_eq!(
        run(&mut client, &[b"GET", b"k"]),
        "-LOADING Redis is loading the dataset in memory\r\n"
    );
    assert_eq!(
        run(&mut client, &[b"SET", b"k", b"v"]),
        "-LOADING Redis is loading the dataset in memory\r\n"
    );
    // Commands flagged as safe while loading still answer.
    assert!(run(&mut client, &[b"INFO", b"persistence"]).contains("loading:1"));
    assert_eq!(run(&mut client, &[b"ECHO", b"x"]), "$1\r\nx\r\n");
    node.recover().unwrap();
    assert!(!node.is_loading());
    assert_eq!(run(&mut client, &[b"SET", b"k", b"v"]), "+OK\r\n");
    assert!(run(&mut client, &[b"INFO", b"persistence"]).contains("loading:0"));
}

#[test]
fn shutdown_save_and_nosave() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = "persistence:\n  strategy: snapshot\n";
    // Snapshots only: a plain shutdown saves, so nothing is lost.
    let mut s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(info_field(&mut c, "persistence", "aof_enabled"), "0");
    assert!(s.terminate().success());
    assert_eq!(files(&data, "snapshot-").len(), 1);
    assert!(files(&data, "aof-").is_empty());
    let mut s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    // SHUTDOWN NOSAVE loses what the last snapshot does not have.
    let _: () = c.set("k2", "v2").unwrap();
    let mut raw = s.raw();
    raw.send(&Raw::frame(&[b"SHUTDOWN", b"NOSAVE"]));
    assert!(raw.is_closed());
    assert!(s.wait().success());
    let s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    assert!(!c.exists::<_, bool>("k2").unwrap());
}
