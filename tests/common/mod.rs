//! Test harness: starts the real `hypercache` binary on an ephemeral port and talks to it.
#![allow(dead_code)]

pub mod cluster;
pub mod http;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// The HTTP API's address.
    pub http: SocketAddr,
    pub logs: Arc<Mutex<Vec<String>>>,
    _dir: Option<tempfile::TempDir>,
}

/// What a started node is given.
pub fn command(
    data_dir: &std::path::Path,
    args: &[&str],
    config: Option<&std::path::Path>,
) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hypercache"));
    // Ephemeral ports unless the caller chose them.
    for flag in ["--resp-port", "--http-port", "--gossip-port"] {
        if !args.contains(&flag) {
            cmd.args([flag, "0"]);
        }
    }
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("HYPERCACHE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd
}

impl Server {
    /// Starts a node on 127.0.0.1 with an ephemeral RESP port and extra arguments.
    pub fn start_with(args: &[&str], config_yaml: Option<&str>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = config_yaml.map(|yaml| {
            let path = dir.path().join("config.yaml");
            std::fs::write(&path, yaml).expect("write config");
            path
        });
        let mut s = Server::launch(command(&dir.path().join("data"), args, config.as_deref()));
        s._dir = Some(dir);
        s
    }

    /// Starts a node on a data directory the caller keeps (for restarts).
    pub fn start_in(data_dir: &std::path::Path, config_yaml: Option<&str>) -> Server {
        let config = config_yaml.map(|yaml| {
            let path = data_dir.with_extension("yaml");
            std::fs::write(&path, yaml).expect("write config");
            path
        });
        Server::launch(command(data_dir, &[], config.as_deref()))
    }

    /// Starts a node with extra flags on a data directory the caller keeps.
    pub fn start_in_with(
        data_dir: &std::path::Path,
        args: &[&str],
        config_yaml: Option<&str>,
    ) -> Server {
        let config = config_yaml.map(|yaml| {
            let path = data_dir.with_extension("yaml");
            std::fs::write(&path, yaml).expect("write config");
            path
        });
        Server::launch(command(data_dir, args, config.as_deref()))
    }

    /// Starts a prepared command and waits until it serves.
    pub fn launch(mut cmd: Command) -> Server {
        let mut child = cmd.spawn().expect("start hypercache");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("ready to accept connections") {
                        let _ = tx.send(line.clone());
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let ready = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; logs: {:?}", logs.lock().unwrap());
            }
        };
        let addr = ready
            .split("\"addr\":\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no addr in {ready}"));
        let http = ready
            .split("\"http_addr\":\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no http_addr in {ready}"));
        let s = Server {
            child: Some(child),
            addr,
            http,
            logs,
            _dir: None,
        };
        s.wait_loaded();
        s
    }

    /// Waits until the node has loaded its data (PING stops answering -LOADING).
    pub fn wait_loaded(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // A node that stopped while loading (a port taken, a corrupt file): say why.
            if let Err(e) = TcpStream::connect(self.addr) {
                let logs = self.logs.lock().unwrap();
                let tail = logs.len().saturating_sub(20);
                panic!(
                    "the node at {} stopped while loading ({e}); its last log lines:\n{}",
                    self.addr,
                    logs[tail..].join("\n")
                );
            }
            let mut raw = Raw::connect(self.addr);
            let r = raw.cmd(&[b"PING"]);
            if r == b"+PONG\r\n" {
                return;
            }
            // Behind a password, /health (always open) tells when loading is over.
            if r.starts_with(b"-NOAUTH") {
                let h = http::request("GET", &format!("{}/health", self.http_url()), None, &[]);
                if h.status == 200 {
                    return;
                }
                assert!(Instant::now() < deadline, "still loading after 60s");
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            assert!(
                r.starts_with(b"-LOADING"),
                "unexpected PING reply {:?}",
                String::from_utf8_lossy(&r)
            );
            assert!(Instant::now() < deadline, "still loading after 60s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn start() -> Server {
        Server::start_with(&[], None)
    }

    /// `http://host:port` of the HTTP API.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    pub fn conn(&self) -> redis::Connection {
        self.client().get_connection().expect("connect")
    }

    /// A RESP3 connection (HELLO 3 is sent by the client).
    pub fn conn3(&self) -> redis::Connection {
        redis::Client::open(format!("{}?protocol=resp3", self.url()))
            .expect("client")
            .get_connection()
            .expect("connect")
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill() takes plain integers; the pid is our own child, not yet reaped.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let st = wait_exit(&mut child, Duration::from_secs(15));
        if !st.success() {
            // What the node said before it failed, for the failure's report.
            let logs = self.logs.lock().unwrap();
            let tail = logs.len().saturating_sub(30);
            eprintln!(
                "node exited with {st:?}; last log lines:\n{}",
                logs[tail..].join("\n")
            );
        }
        st
    }

    /// SIGKILL: the process dies at once, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit by itself (e.g. after SHUTDOWN).
    pub fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        wait_exit(&mut child, Duration::from_secs(15))
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            panic!("server did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A raw TCP connection for protocol-level tests.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Encodes a command as a multibulk frame.
    pub fn frame(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&Self::frame(args));
        self.read_reply()
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }

    fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..p + 2).collect();
                return line;
            }
            assert!(self.fill(), "connection closed while reading a reply");
        }
    }

    /// Reads one complete reply and returns its raw bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        let line = self.line();
        let mut out = line.clone();
        let body = &line[1..line.len() - 2];
        let n = || -> i64 { std::str::from_utf8(body).unwrap().parse().unwrap() };
        match line[0] {
            b'$' | b'=' if n() >= 0 => {
                let len = n() as usize + 2;
                while self.buf.len() < len {
                    assert!(self.fill(), "closed inside a bulk");
                }
                out.extend(self.buf.drain(..len));
            }
            b'*' | b'~' | b'>' if n() >= 0 => {
                for _ in 0..n() {
                    out.extend(self.read_reply());
                }
            }
            b'%' => {
                for _ in 0..2 * n() {
                    out.extend(self.read_reply());
                }
            }
            _ => {}
        }
        out
    }

    /// True when nothing more arrives within `wait` (no reply or message is pending).
    pub fn quiet_for(&mut self, wait: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut b = [0u8; 1];
        let quiet = self.stream.read(&mut b).is_err();
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        quiet
    }

    /// True when the server has closed the connection (reads EOF).
    /// Reads whatever is pending until the node closes the connection (true) or `within`
    /// passes with it still open (false).
    pub fn drains_to_end(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut chunk = [0u8; 65536];
        self.stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        while Instant::now() < deadline {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }

    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

/// Path to redis-cli, which the tests require (CI installs redis-tools).
pub fn redis_cli() -> String {
    let path = "redis-cli";
    let ok = Command::new(path).arg("--version").output().is_ok();
    assert!(
        ok,
        "redis-cli is required for these tests: apt-get install -y redis-tools"
    );
    path.to_string()
}

/// OBJECT ENCODING of a key.
pub fn encoding(c: &mut redis::Connection, key: &str) -> String {
    redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .query(c)
        .unwrap()
}

/// One field of an INFO section, trimmed; panics naming it when the section lacks it.
pub fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> String {
    let text: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}: {text}"))
        .trim()
        .to_string()
}

/// Transactions (or scripts) the node's last recovery found cut off by a crash (0 before any
/// recovery report).
pub fn unfinished_transactions(c: &mut redis::Connection) -> u64 {
    let text: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("hypercache_recovery_unfinished_transactions:"))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// The node's AOF bytes written, once they stop growing (what it received is all logged).
pub fn settled_aof_bytes(c: &mut redis::Connection) -> u64 {
    let read = |c: &mut redis::Connection| -> u64 {
        info_field(c, "persistence", "hypercache_aof_written_bytes")
            .parse()
            .unwrap()
    };
    let mut last = read(c);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = read(c);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Polls `f` until it holds; fails the test naming `what` after 20 s.
pub fn wait_until(what: &str, f: impl FnMut() -> bool) {
    cluster::wait(what, Duration::from_secs(20), f);
}

/// A real redis-server on a free loopback port, without persistence: the reference for the
/// tests that compare behaviour with Redis (CI installs the redis-server package).
pub struct Reference {
    child: Child,
    pub addr: SocketAddr,
}

impl Reference {
    /// A redis-server on a free port. The port is picked before the server binds it, so
    /// another test may take it meanwhile: then the server exits, and another port is tried.
    pub fn start() -> Reference {
        for _ in 0..5 {
            if let Some(r) = Self::try_start() {
                return r;
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    fn try_start() -> Option<Reference> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir", "/tmp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is required (apt-get install -y redis-server)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let started = Instant::now();
        // Ready when it answers PING itself (not whatever else holds the port).
        loop {
            if child.try_wait().ok().flatten().is_some() {
                return None;
            }
            if let Ok(mut s) = TcpStream::connect(addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    && &buf == b"+PONG\r\n"
                    && child.try_wait().ok().flatten().is_none()
                {
                    return Some(Reference { child, addr });
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}/", self.addr))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python with redis-py: `python3` or Debian's when either has it, else a venv made in
/// `target/` from PyPI.
pub fn python() -> String {
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
    let venv = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/redis-py-venv");
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
