//! TLS with certificates made by openssl. On the HTTP API: HTTPS beside plain HTTP, a real
//! client (curl) and a rustls client, a certificate rotated by SIGHUP while a connection stays
//! open, a bad file on reload, a client that does not trust the node, and a start that names
//! the missing file. On RESP (`tls.port`, Redis's `tls-port`): redis-cli --tls, redis-py
//! with ssl=True and a rustls client beside the plain port, a rotation under an open
//! connection, mutual TLS, scripts on a TLS connection, and handshakes that fail or never
//! come.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::Server;
use common::cluster::{TestCluster, wait};
use hypercache::tls::rustls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is required");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (once) and a server certificate for 127.0.0.1 signed by it, named `name`.
fn certificate(dir: &Path, name: &str) {
    if !dir.join("ca.pem").exists() {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=HyperCache test CA",
            ],
        );
    }
    std::fs::write(dir.join("san.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            "san.cnf",
        ],
    );
}

/// A new certificate `name`, put where the node reads its own (`node.pem`, `node.key`).
fn install(dir: &Path, name: &str) {
    certificate(dir, name);
    std::fs::copy(dir.join(format!("{name}.pem")), dir.join("node.pem")).unwrap();
    std::fs::copy(dir.join(format!("{name}.key")), dir.join("node.key")).unwrap();
}

fn client_config(ca: Option<&Path>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        for c in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A TLS connection to 127.0.0.1:`port`; Err when the handshake fails.
fn connect(
    port: u16,
    config: Arc<rustls::ClientConfig>,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, sock);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).map_err(|e| e.to_string())?;
    }
    Ok(s)
}

/// GET /health on a kept-alive connection: the status code.
fn health(s: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>) -> u16 {
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Head, then the body its Content-Length gives.
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return text[9..12].parse().unwrap();
            }
        }
    }
}

fn served_cert(s: &rustls::StreamOwned<rustls::ClientConnection, TcpStream>) -> Vec<u8> {
    s.conn.peer_certificates().unwrap()[0].as_ref().to_vec()
}

fn pem_der(path: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(path)
        .unwrap()
        .as_ref()
        .to_vec()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn https_serves_beside_http_and_rotates_its_certificate_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    install(d, "first");
    let port = free_port();
    let yaml = format!(
        "tls:\n  cert_file: {}\n  key_file: {}\n  https_port: {port}\n",
        d.join("node.pem").display(),
        d.join("node.key").display()
    );
    let s = Server::start_with(&[], Some(&yaml));
    let trusted = client_config(Some(&d.join("ca.pem")));
    let mut kept = connect(port, trusted.clone()).expect("handshake");
    assert_eq!(health(&mut kept), 200);
    assert_eq!(served_cert(&kept), pem_der(&d.join("first.pem")));
    // A real client, and the plain port beside it.
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(d.join("ca.pem"))
        .arg(format!("https://127.0.0.1:{port}/health"))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        common::http::get(&format!("{}/health", s.http_url())).status,
        200
    );
    // A client that does not trust the node's authority fails, and the node serves on.
    assert!(connect(port, client_config(None)).is_err());
    // Rotation: new files, SIGHUP; the open connection goes on, new ones get the new one.
    install(d, "second");
    let hup = |s: &Server| {
        let ok = Command::new("kill")
            .args(["-HUP", &s.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    hup(&s);
    wait("the reload", std::time::Duration::from_secs(10), || {
        s.log_text().contains("TLS certificate reloaded")
    });
    assert_eq!(
        health(&mut kept),
        200,
        "the connection made before the rotation"
    );
    let fresh = connect(port, trusted.clone()).expect("handshake after rotation");
    assert_eq!(served_cert(&fresh), pem_der(&d.join("second.pem")));
    // A broken file on reload keeps the current certificate.
    std::fs::write(d.join("node.pem"), "not a certificate").unwrap();
    hup(&s);
    wait(
        "the failed reload",
        std::time::Duration::from_secs(10),
        || s.log_text().contains("TLS reload failed"),
    );
    let after = connect(port, trusted).expect("handshake after a bad reload");
    assert_eq!(served_cert(&after), pem_der(&d.join("second.pem")));
}

/// A client that opens the HTTPS port and never starts its handshake is closed after
/// `http_idle_timeout`; the port serves others meanwhile.
#[test]
fn a_silent_client_is_closed_at_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificate(d, "node");
    let port = free_port();
    let yaml = format!(
        "network:\n  http_idle_timeout: 1s\ntls:\n  cert_file: {}\n  key_file: {}\n  https_port: {port}\n",
        d.join("node.pem").display(),
        d.join("node.key").display()
    );
    let _s = Server::start_with(&[], Some(&yaml));
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut other = connect(port, client_config(Some(&d.join("ca.pem")))).expect("handshake");
    assert_eq!(health(&mut other), 200);
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut b = [0u8; 1];
    let read = silent.read(&mut b);
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "closed by the node, not by our read timeout"
    );
}

#[test]
fn a_missing_key_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificate(d, "only");
    let config = d.join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "tls:\n  cert_file: {}\n  key_file: {}\n  https_port: {}\n",
            d.join("only.pem").display(),
            d.join("missing.key").display(),
            free_port()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hypercache"))
        .args([
            "--resp-port",
            "0",
            "--http-port",
            "0",
            "--gossip-port",
            "0",
            "--data-dir",
        ])
        .arg(d.join("data"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tls.key_file") && err.contains("missing.key"),
        "{err}"
    );
}

/// One RESP command over a rustls stream: the reply's first line.
fn resp_line(
    s: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    args: &[&str],
) -> String {
    let mut frame = format!("*{}\r\n", args.len());
    for a in args {
        frame.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(frame.as_bytes()).unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "closed");
        line.push(b[0]);
    }
    String::from_utf8_lossy(&line).trim_end().to_string()
}

fn tls_yaml(d: &Path, port: u16, extra: &str) -> String {
    format!(
        "tls:\n  cert_file: {}\n  key_file: {}\n  port: {port}\n{extra}",
        d.join("node.pem").display(),
        d.join("node.key").display()
    )
}

fn redis_cli_tls(d: &Path, port: u16, extra: &[&str], args: &[&str]) -> std::process::Output {
    Command::new(common::redis_cli())
        .args(["-p", &port.to_string(), "--tls", "--cacert"])
        .arg(d.join("ca.pem"))
        .args(extra)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn resp_over_tls_beside_the_plain_port_and_rotated_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    install(d, "first");
    let port = free_port();
    let s = Server::start_with(&[], Some(&tls_yaml(d, port, "")));
    // redis-cli --tls, and the plain port beside it on the same data.
    let out = redis_cli_tls(d, port, &[], &["SET", "k", "over-tls"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK", "{out:?}");
    let mut plain = s.conn();
    let v: String = redis::cmd("GET").arg("k").query(&mut plain).unwrap();
    assert_eq!(v, "over-tls");
    let out = redis_cli_tls(d, port, &[], &["CONFIG", "GET", "tls-port"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&port.to_string()));
    // redis-py with ssl=True: commands, a pipeline, scripts (a TLS connection stays on its
    // thread while its scripts run on the script thread).
    let script = r#"
import sys, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), ssl=True, ssl_ca_certs=sys.argv[2])
assert r.get("k") == b"over-tls"
p = r.pipeline(transaction=False)
for i in range(200):
    p.set(f"p{i}", i)
p.execute()
for i in range(50):
    assert r.eval("return redis.call('incr', KEYS[1])", 1, "n") == i + 1
assert r.get("p199") == b"199"
print("py-tls: ok")
"#;
    let out = Command::new(common::python())
        .args(["-c", script, &port.to_string()])
        .arg(d.join("ca.pem"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("py-tls: ok"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A plain client on the TLS port: refused by the handshake, and the node serves on.
    let mut wrong = TcpStream::connect(("127.0.0.1", port)).unwrap();
    wrong.write_all(b"PING\r\n").unwrap();
    wrong
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut junk = Vec::new();
    let _ = wrong.read_to_end(&mut junk);
    assert!(!junk.starts_with(b"+PONG"));
    // Rotation while a client stays connected.
    let trusted = client_config(Some(&d.join("ca.pem")));
    let mut kept = connect(port, trusted.clone()).expect("handshake");
    assert_eq!(resp_line(&mut kept, &["PING"]), "+PONG");
    assert_eq!(served_cert(&kept), pem_der(&d.join("first.pem")));
    install(d, "second");
    let ok = Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    wait("the reload", std::time::Duration::from_secs(10), || {
        s.log_text().contains("TLS certificate reloaded")
    });
    assert_eq!(resp_line(&mut kept, &["GET", "k"]), "$8");
    let fresh = connect(port, trusted).expect("handshake after rotation");
    assert_eq!(served_cert(&fresh), pem_der(&d.join("second.pem")));
    assert!(connect(port, client_config(None)).is_err());
}

#[test]
fn mutual_tls_on_resp_needs_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificate(d, "node");
    certificate(d, "app");
    let port = free_port();
    let extra = format!(
        "  ca_cert_file: {}\n  auth_clients: yes\n",
        d.join("ca.pem").display()
    );
    let _s = Server::start_with(&[], Some(&tls_yaml(d, port, &extra)));
    let with_cert = [
        "--cert",
        &d.join("app.pem").display().to_string(),
        "--key",
        &d.join("app.key").display().to_string(),
    ]
    .map(String::from);
    let with_cert: Vec<&str> = with_cert.iter().map(String::as_str).collect();
    let out = redis_cli_tls(d, port, &with_cert, &["PING"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "PONG",
        "{out:?}"
    );
    let out = redis_cli_tls(d, port, &[], &["PING"]);
    assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), "PONG");
}

/// A client that opens the TLS port and never completes its handshake is closed after the
/// handshake timeout (10 s); others are served meanwhile.
#[test]
fn a_resp_client_that_never_handshakes_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificate(d, "node");
    let port = free_port();
    let _s = Server::start_with(&[], Some(&tls_yaml(d, port, "")));
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut other = connect(port, client_config(Some(&d.join("ca.pem")))).expect("handshake");
    assert_eq!(resp_line(&mut other, &["PING"]), "+PONG");
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut b = [0u8; 1];
    let read = silent.read(&mut b);
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_secs(8) && took < std::time::Duration::from_secs(15),
        "closed at the handshake timeout: {took:?}"
    );
}

/// At most `maxclients` handshakes run at once: one more is closed at once, not held.
#[test]
fn handshakes_past_maxclients_are_closed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificate(d, "node");
    let port = free_port();
    let _s = Server::start_with(&[], Some(&tls_yaml(d, port, "cache:\n  maxclients: 2\n")));
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // The two are pending (each waits for its handshake); give the node time to see them.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut third = TcpStream::connect(("127.0.0.1", port)).unwrap();
    third
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut b = [0u8; 1];
    let read = third.read(&mut b);
    assert!(matches!(read, Ok(0)), "{read:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    drop(held);
}

/// Three nodes whose peers call each other over TLS (`tls.cluster`, mutual: each shows its
/// certificate): writes on one reach the others, and the peers' connections are on the TLS
/// port.
#[test]
fn a_three_node_tls_cluster_converges() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificate(d, "node");
    let tls = format!(
        "tls:\n  cert_file: {}\n  key_file: {}\n  ca_cert_file: {}\n  auth_clients: yes\n  port: 0\n  cluster: true\n",
        d.join("node.pem").display(),
        d.join("node.key").display(),
        d.join("ca.pem").display()
    );
    let c = TestCluster::start(3, &tls);
    let mut first = c.conn(0);
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut first)
            .unwrap();
    }
    for n in [1, 2] {
        let mut other = c.conn(n);
        wait(
            "the writes reach every node",
            std::time::Duration::from_secs(20),
            || {
                (0..100).all(|i| {
                    redis::cmd("GET")
                        .arg(format!("k{i}"))
                        .query::<Option<i64>>(&mut other)
                        .ok()
                        .flatten()
                        == Some(i)
                })
            },
        );
    }
    // The peers came in on the TLS port.
    let mut third = c.conn(2);
    let tls_port: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("tls-port")
        .query(&mut third)
        .unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut third).unwrap();
    let on_tls = list
        .lines()
        .filter(|l| l.contains(&format!("laddr=127.0.0.1:{} ", tls_port[1])))
        .count();
    assert!(
        on_tls >= 1,
        "no peer on the TLS port {}: {list}",
        tls_port[1]
    );
}
