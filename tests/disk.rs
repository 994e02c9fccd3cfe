//! A full disk: writes get -MISCONF, reads keep working, nothing on disk is corrupted, and
//! writes resume when space comes back. Runs on a small tmpfs (needs root to mount one); as a
//! non-root user the same checks run against a directory made read-only.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, wait_until};
use redis::Commands;

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid takes nothing and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Fills the file system until a write fails; returns the filler's path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    // Byte by byte to the very last free byte.
    while f.write_all(&[0]).is_ok() {}
    let _ = f.sync_all();
    path
}

fn err_text<T>(r: redis::RedisResult<T>) -> String {
    match r {
        Ok(_) => "OK".into(),
        Err(e) => match (e.code(), e.detail()) {
            (Some(c), Some(d)) => format!("{c} {d}"),
            _ => e.to_string(),
        },
    }
}

#[test]
fn a_full_disk_refuses_writes_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(_fs) = Tmpfs::mount(&data, "4m") else {
        assert!(!is_root(), "running as root but cannot mount a tmpfs");
        return read_only_directory_variant(&data);
    };
    let config = "persistence:\n  sync_policy: always\n  snapshot_interval: 1h\n";
    let mut s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    for i in 0..50 {
        let _: () = c.set(format!("before:{i}"), "x".repeat(1000)).unwrap();
    }
    let filler = fill(&data);
    // The write that hits the full disk is not acknowledged...
    let r = err_text(c.set::<_, _, ()>("victim", "y".repeat(10_000)));
    assert_eq!(
        r,
        "MISCONF Errors writing to the AOF file: No space left on device"
    );
    // ...and the writes after it are refused up front, as in Redis (PING included).
    let r = err_text(c.set::<_, _, ()>("refused", "z"));
    assert_eq!(
        r,
        "MISCONF Errors writing to the AOF file: No space left on device"
    );
    assert!(err_text(redis::cmd("PING").query::<String>(&mut c)).starts_with("MISCONF"));
    // Over HTTP: unhealthy with the reason, writes refused with 507, reads served.
    let h = common::http::get(&format!("{}/health", s.http_url()));
    assert_eq!(h.status, 503, "{}", h.text);
    assert_eq!(h.json()["healthy"], serde_json::json!(false));
    assert!(
        h.json()["reason"].as_str().unwrap().starts_with("MISCONF"),
        "{}",
        h.text
    );
    let url = format!("{}/api/cache/http-refused", s.http_url());
    let r = common::http::put_json(&url, &serde_json::json!({"value": 1}));
    assert_eq!(r.status, 507, "{}", r.text);
    assert_eq!(
        common::http::get(&format!("{}/api/cache/before:7", s.http_url())).status,
        200
    );
    // Reads keep working.
    assert_eq!(c.get::<_, String>("before:7").unwrap().len(), 1000);
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
    assert!(info.contains("aof_last_write_status:err"), "{info}");
    assert!(
        s.log_text().matches("AOF write failed").count() == 1,
        "logged once per state change"
    );
    // Space comes back: the queued record is written and writes resume.
    std::fs::remove_file(&filler).unwrap();
    wait_until("writes to resume", || {
        c.set::<_, _, ()>("after", "ok").is_ok()
    });
    assert!(s.log_text().contains("AOF writes succeed again"));
    assert_eq!(
        common::http::get(&format!("{}/health", s.http_url())).status,
        200
    );
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
    assert!(info.contains("aof_last_write_status:ok"), "{info}");
    s.kill();
    // Nothing on disk is corrupt, and everything that was acknowledged is there.
    for aof in std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
    {
        if aof.extension().is_some_and(|e| e == "hca") {
            let out = Command::new(env!("CARGO_BIN_EXE_hypercache"))
                .args(["aof", "check"])
                .arg(&aof)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    let s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    assert_eq!(c.get::<_, String>("after").unwrap(), "ok");
    assert_eq!(c.get::<_, String>("before:49").unwrap().len(), 1000);
    assert!(!c.exists::<_, bool>("refused").unwrap());
}

#[test]
fn a_failed_snapshot_refuses_writes_until_one_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(_fs) = Tmpfs::mount(&data, "2m") else {
        assert!(!is_root(), "running as root but cannot mount a tmpfs");
        return;
    };
    let config = "persistence:\n  strategy: snapshot\n  snapshot_interval: 1h\n";
    let s = Server::start_in(&data, Some(config));
    let mut c = s.conn();
    for i in 0..100 {
        let _: () = c.set(format!("k{i}"), "v".repeat(2000)).unwrap();
    }
    let filler = fill(&data);
    let r: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(r, "Background saving started");
    wait_until("the snapshot to fail", || {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
        info.contains("rdb_last_bgsave_status:err")
    });
    let r = err_text(c.set::<_, _, ()>("x", "y"));
    assert!(
        r.starts_with("MISCONF Redis is configured to save RDB snapshots"),
        "{r}"
    );
    assert_eq!(
        c.get::<_, String>("k1").unwrap().len(),
        2000,
        "reads keep working"
    );
    // No half-written snapshot is left behind as a valid one.
    assert!(
        std::fs::read_dir(&data)
            .unwrap()
            .filter_map(|e| e.ok())
            .all(|e| !e.file_name().to_string_lossy().starts_with("snapshot-"))
    );
    std::fs::remove_file(&filler).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    let _: () = c.set("x", "y").unwrap();
}

/// Without root: a read-only data directory makes snapshots fail the same way.
fn read_only_directory_variant(data: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let config = "persistence:\n  strategy: snapshot\n  snapshot_interval: 1h\n";
    let s = Server::start_in(data, Some(config));
    let mut c = s.conn();
    let _: () = c.set("k", "v").unwrap();
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o555)).unwrap();
    let r = err_text(redis::cmd("SAVE").query::<()>(&mut c));
    assert!(r.starts_with("ERR"), "{r}");
    let r = err_text(c.set::<_, _, ()>("x", "y"));
    assert!(r.starts_with("MISCONF"), "{r}");
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    let _: () = c.set("x", "y").unwrap();
}
