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

/// `hypercache health` (the image's HEALTHCHECK) asks the node its flags and variables name.
#[test]
fn health_subcommand_asks_the_configured_node() {
    let s = Server::start();
    let run = |port: &str| {
        Command::new(env!("CARGO_BIN_EXE_hypercache"))
            .args(["--http-port", port, "health", "--timeout", "2"])
            .env_remove("HYPERCACHE_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&s.http.port().to_string());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("HTTP/1.") && stdout.contains(" 200"),
        "{stdout}"
    );
    // Nothing listening: a non-zero exit that says where it looked.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let out = run(&port);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    // A listener that never answers: bounded by --timeout, not a hang.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let started = std::time::Instant::now();
    let out = run(&silent.local_addr().unwrap().port().to_string());
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no answer"));
}

#[test]
fn port_in_use_is_a_clean_error_that_names_the_port_and_its_role() {
    let s = Server::start();
    let gossip = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let gossip_port = gossip.local_addr().unwrap().port().to_string();
    let (resp, http) = (s.addr.port().to_string(), s.http.port().to_string());
    for (ports, role, port) in [
        (
            [
                "--resp-port",
                &resp,
                "--http-port",
                "0",
                "--gossip-port",
                "0",
            ],
            "RESP",
            &resp,
        ),
        (
            [
                "--resp-port",
                "0",
                "--http-port",
                &http,
                "--gossip-port",
                "0",
            ],
            "HTTP",
            &http,
        ),
        (
            [
                "--resp-port",
                "0",
                "--http-port",
                "0",
                "--gossip-port",
                &gossip_port,
            ],
            "gossip (UDP)",
            &gossip_port,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_hypercache"))
            .args(ports)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{role}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!("cannot bind the {role} port 127.0.0.1:{port}");
        assert!(
            stderr.contains("hypercache:") && stderr.contains(&want),
            "{role}: {stderr}"
        );
        // Found before the node says it is ready, not after.
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains("ready to accept connections"),
            "{role}: {stdout}"
        );
    }
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

#[test]
fn make_cluster_fails_loudly_when_a_node_does_not_come_up() {
    let dir = tempfile::tempdir().unwrap();
    let (configs, logs) = (dir.path().join("configs"), dir.path().join("logs"));
    std::fs::create_dir_all(&configs).unwrap();
    let tcp = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let resp: Vec<u16> = (0..3).map(|_| tcp()).collect();
    let gossip: Vec<u16> = (0..3).map(|_| common::cluster::free_udp()).collect();
    // Node 2's gossip port is taken.
    let _clash = std::net::UdpSocket::bind(("127.0.0.1", gossip[1])).unwrap();
    for n in 0..3 {
        let seeds: String = (0..3)
            .filter(|&m| m != n)
            .map(|m| format!("    - 127.0.0.1:{}\n", gossip[m]))
            .collect();
        let yaml = format!(
            "node:\n  id: node-{id}\n  data_dir: {data}\nnetwork:\n  resp_port: {resp}\n  http_port: 0\n  gossip_port: {g}\ncluster:\n  gossip_interval: 100ms\n  seeds:\n{seeds}persistence:\n  strategy: disabled\n",
            id = n + 1,
            data = dir.path().join(format!("data-{n}")).display(),
            resp = resp[n],
            g = gossip[n],
        );
        std::fs::write(configs.join(format!("node{}-config.yaml", n + 1)), yaml).unwrap();
    }
    let out = Command::new("scripts/cluster.sh")
        .arg("start")
        .env("HYPERCACHE_BIN", env!("CARGO_BIN_EXE_hypercache"))
        .env("CLUSTER_CONFIGS", &configs)
        .env("CLUSTER_LOGS", &logs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let port = resp[1];
    assert!(
        stderr.contains(&format!(
            "node 2 (RESP port {port}) did not come up: it exited"
        )),
        "{stderr}"
    );
    // Its log, naming the port and its role.
    assert!(
        stderr.contains(&format!(
            "cannot bind the gossip (UDP) port 127.0.0.1:{}",
            gossip[1]
        )),
        "{stderr}"
    );
    // The others were stopped.
    assert!(stderr.contains("cluster stopped"), "{stderr}");
    assert!(!logs.join("cluster.pids").exists());
    for p in [resp[0], resp[2]] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", p)).is_err(),
            "a node still serves {p}"
        );
    }
}
