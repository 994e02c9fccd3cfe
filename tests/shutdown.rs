//! Graceful shutdown and start-up behaviour of the real binary.

mod common;

use std::process::Command;

use common::{Raw, Server};

#[test]
fn sigterm_finishes_in_flight_replies_and_exits_zero() {
    let mut s = Server::start_with(&[], Some("security:\n  enable_debug_command: local\n"));
    let mut raw = s.raw();
    // A command still running (DEBUG SLEEP) when the signal arrives gets its reply, and so do
    // the commands pipelined behind it.
    raw.send(&Raw::frame(&[b"DEBUG", b"SLEEP", b"0.5"]));
    raw.send(&Raw::frame(&[b"SET", b"k", b"v"]));
    raw.send(&Raw::frame(&[b"GET", b"k"]));
    std::thread::sleep(std::time::Duration::from_millis(100));
    // SAFETY: kill() takes plain integers; the pid is the server we started.
    unsafe {
        libc::kill(s.pid() as i32, libc::SIGTERM);
    }
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    assert_eq!(raw.read_reply(), b"$1\r\nv\r\n");
    let status = s.wait();
    assert!(status.success(), "exit status {status:?}");
    assert!(s.log_text().contains("shutting down"));
}

#[test]
fn shutdown_command_stops_the_node() {
    let mut s = Server::start();
    let mut other = s.raw();
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&[b"SHUTDOWN", b"BOGUS"]), b"-ERR syntax error\r\n");
    raw.send(&Raw::frame(&[b"SHUTDOWN", b"NOSAVE"]));
    assert!(raw.is_closed());
    assert!(other.is_closed(), "idle clients are disconnected");
    assert!(s.wait().success());
}

#[test]
fn idle_client_does_not_block_sigterm() {
    let mut s = Server::start();
    let mut idle = s.raw();
    assert_eq!(idle.cmd(&[b"PING"]), b"+PONG\r\n");
    let status = s.terminate();
    assert!(status.success());
    assert!(idle.is_closed());
}

#[test]
fn bad_config_is_rejected_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "network:\n  resp_port: 8080\n  bogus_key: 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hypercache"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("bogus_key"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_hypercache"))
        .args(["config", "validate"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "cache:\n  max_memory: 1GB\n  default_ttl: 5m\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hypercache"))
        .args(["config", "validate"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));
}

#[test]
fn port_in_use_is_a_clean_error() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hypercache"))
        .args(["--resp-port", &s.addr.port().to_string(), "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hypercache:"));
}

#[test]
fn env_and_flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "node:\n  id: from-file\ncache:\n  databases: 4\n").unwrap();
    let s = Server::start_with(
        &["--node-id", "from-flag"],
        Some("node:\n  id: from-file\ncache:\n  databases: 4\n"),
    );
    let mut raw = s.raw();
    let info = raw.cmd(&[b"INFO", b"server"]);
    assert!(String::from_utf8_lossy(&info).contains("hypercache_node_id:from-flag"));
    assert_eq!(
        raw.cmd(&[b"SELECT", b"4"]),
        b"-ERR DB index is out of range\r\n"
    );
    assert_eq!(raw.cmd(&[b"SELECT", b"3"]), b"+OK\r\n");
}
