//! The client examples against a real node: examples/python/*.py with redis-py, and
//! examples/client_patterns.rs with the `redis` crate. Each example checks what it claims
//! and exits non-zero when a check fails.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Server;

fn run(cmd: &mut Command, what: &str, want: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: {stdout}{stderr}");
    assert!(stdout.contains(want), "{what}: {stdout}");
}

/// A Python with redis-py: `python3` or Debian's when either has it, else a venv made in
/// `target/` from PyPI.
fn python() -> String {
    let has_redis = |py: &str| {
        Command::new(py)
            .args(["-c", "import redis"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    for py in ["python3", "/usr/bin/python3"] {
        if has_redis(py) {
            return py.to_string();
        }
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/redis-py-venv");
    let py = venv.join("bin/python").display().to_string();
    if !has_redis(&py) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(made.success(), "python3 -m venv");
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "redis>=4.3,<6"])
            .status()
            .unwrap();
        assert!(pip.success(), "pip install redis");
    }
    py
}

#[test]
fn the_python_examples_run_unchanged_against_a_node() {
    let py = python();
    let s = Server::start();
    let port = s.addr.port().to_string();
    for (file, name) in [
        ("cache_aside", "cache-aside"),
        ("sessions", "sessions"),
        ("work_queue", "queue"),
        ("lock", "lock"),
    ] {
        run(
            Command::new(&py)
                .arg(format!("examples/python/{file}.py"))
                .args(["--port", &port]),
            file,
            &format!("{name}: ok"),
        );
    }
}

#[test]
fn the_rust_example_runs_unchanged_against_a_node() {
    // Built by `cargo test --all-targets`; built here when the tests were built without it.
    let bin: PathBuf = PathBuf::from(env!("CARGO_BIN_EXE_hypercache"))
        .with_file_name("examples")
        .join("client_patterns");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "--example", "client_patterns"])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let s = Server::start();
    let port = s.addr.port().to_string();
    for name in ["cache-aside", "sessions", "queue", "lock"] {
        run(
            Command::new(&bin).args(["--port", &port]),
            "client_patterns",
            &format!("{name}: ok"),
        );
    }
}
