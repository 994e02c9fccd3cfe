//! The client examples against a real node: examples/python/*.py with redis-py, and
//! examples/client_patterns.rs with the `redis` crate. Each example checks what it claims
//! and exits non-zero when a check fails.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Server, python};

fn run(cmd: &mut Command, what: &str, want: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: {stdout}{stderr}");
    assert!(stdout.contains(want), "{what}: {stdout}");
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
