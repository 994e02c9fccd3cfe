//! A cluster of real nodes on 127.0.0.1 for tests: start, kill, restart, add, wait.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::Server;

pub struct Node {
    pub id: String,
    pub gossip: u16,
    pub dir: PathBuf,
    pub server: Option<Server>,
}

pub struct TestCluster {
    pub nodes: Vec<Node>,
    pub yaml: String,
    /// `cluster.secret` of every node, if any.
    pub secret: Option<String>,
    /// `security.requirepass` of every node, if any.
    pub password: Option<String>,
    pub _root: tempfile::TempDir,
}

pub fn free_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestCluster {
    pub fn start(n: usize, extra: &str) -> TestCluster {
        Self::start_secured(n, extra, None, None)
    }

    /// A cluster whose nodes share `cluster.secret` and/or `security.requirepass`.
    pub fn start_secured(
        n: usize,
        extra: &str,
        secret: Option<&str>,
        password: Option<&str>,
    ) -> TestCluster {
        let root = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..n).map(|_| free_udp()).collect();
        let mut nodes = Vec::new();
        for (i, &p) in ports.iter().enumerate() {
            nodes.push(Node {
                id: format!("node-{}", i + 1),
                gossip: p,
                dir: root.path().join(format!("n{}", i + 1)),
                server: None,
            });
        }
        let mut c = TestCluster {
            nodes,
            yaml: extra.to_string(),
            secret: secret.map(str::to_string),
            password: password.map(str::to_string),
            _root: root,
        };
        for i in 0..n {
            c.launch(i, &ports);
        }
        c.wait_size(n);
        c
    }

    pub fn seeds(ports: &[u16]) -> String {
        ports
            .iter()
            .map(|p| format!("    - 127.0.0.1:{p}\n"))
            .collect()
    }

    /// The YAML every node of this cluster starts with (the partition tests need DEBUG).
    pub fn node_yaml(&self, seed_ports: &[u16]) -> String {
        let secret = self
            .secret
            .as_ref()
            .map_or(String::new(), |s| format!("  secret: {s}\n"));
        let password = self
            .password
            .as_ref()
            .map_or(String::new(), |p| format!("  requirepass: {p}\n"));
        format!(
            "cluster:\n  gossip_interval: 100ms\n  seeds:\n{}{}{secret}security:\n  enable_debug_command: local\n{password}",
            Self::seeds(seed_ports),
            self.yaml
        )
    }

    pub fn launch(&mut self, i: usize, seed_ports: &[u16]) {
        let yaml = self.node_yaml(seed_ports);
        let node = &self.nodes[i];
        let gossip = node.gossip.to_string();
        let s = Server::start_in_with(
            &node.dir,
            &["--node-id", &node.id, "--gossip-port", &gossip],
            Some(&yaml),
        );
        self.nodes[i].server = Some(s);
    }

    pub fn add_node(&mut self) -> usize {
        let i = self.nodes.len();
        let root = self.nodes[0].dir.parent().unwrap().to_path_buf();
        self.nodes.push(Node {
            id: format!("node-{}", i + 1),
            gossip: free_udp(),
            dir: root.join(format!("n{}", i + 1)),
            server: None,
        });
        let ports: Vec<u16> = self.nodes.iter().map(|n| n.gossip).collect();
        self.launch(i, &ports);
        i
    }

    pub fn restart(&mut self, i: usize) {
        let ports: Vec<u16> = self.nodes.iter().map(|n| n.gossip).collect();
        self.launch(i, &ports);
    }

    pub fn server(&self, i: usize) -> &Server {
        self.nodes[i].server.as_ref().expect("node running")
    }

    pub fn conn(&self, i: usize) -> redis::Connection {
        match &self.password {
            None => self.server(i).conn(),
            Some(p) => redis::Client::open(format!("redis://:{p}@{}/", self.server(i).addr))
                .unwrap()
                .get_connection()
                .unwrap(),
        }
    }

    /// A connection that passed the peer handshake, for the internal commands.
    pub fn peer_conn(&self, i: usize) -> redis::Connection {
        let key = self.secret.as_deref().or(self.password.as_deref());
        peer_conn(self.server(i).addr, key)
            .unwrap_or_else(|e| panic!("peer handshake with node {}: {e}", i + 1))
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut s) = self.nodes[i].server.take() {
            s.kill();
        }
    }

    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].server.is_some())
            .collect()
    }

    /// Waits until every running node sees `n` live members.
    pub fn wait_size(&self, n: usize) {
        for i in self.running() {
            wait(
                &format!("node {} to see {n} members", i + 1),
                Duration::from_secs(30),
                || info(&mut self.conn(i), "hypercache_cluster_size") == n.to_string(),
            );
        }
    }

    /// Waits until every running node has the same digests (and the same key stamps).
    pub fn wait_converged(&self) {
        wait("convergence", Duration::from_secs(60), || {
            let digests: Vec<String> = self
                .running()
                .iter()
                .map(|&i| digest(&mut self.peer_conn(i)))
                .collect();
            digests.windows(2).all(|w| w[0] == w[1])
        });
    }
}

pub fn wait(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn info(c: &mut redis::Connection, field: &str) -> String {
    let text: String = redis::cmd("INFO").arg("cluster").query(c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// A numeric field of `INFO cluster`; panics naming it when it is absent.
pub fn figure(c: &mut redis::Connection, field: &str) -> u64 {
    let v = info(c, field);
    v.parse()
        .unwrap_or_else(|_| panic!("INFO cluster {field}: {v:?}"))
}

/// Opens a connection like `base`'s (same server) and runs the peer handshake on it with the
/// key derived from `secret`, as a node would.
pub fn peer_conn(
    addr: std::net::SocketAddr,
    secret: Option<&str>,
) -> Result<redis::Connection, String> {
    use hypercache::cluster::auth::{PeerAuth, nonce};
    use hypercache::util::hex::hex;
    let mut c = redis::Client::open(format!("redis://{addr}/"))
        .and_then(|c| c.get_connection())
        .map_err(|e| e.to_string())?;
    let me = PeerAuth::new("test-probe", secret.map(str::as_bytes));
    let nonce_a = nonce();
    let reply: Vec<Vec<u8>> = redis::cmd("HCHELLO")
        .arg("test-probe")
        .arg(hex(&nonce_a))
        .query(&mut c)
        .map_err(|e| e.to_string())?;
    let [server, nonce_b, proof_b] = &reply[..] else {
        return Err(format!("bad HCHELLO reply {reply:?}"));
    };
    let proof = me
        .answer(&nonce_a, server, nonce_b, proof_b)
        .ok_or("the node does not hold our secret")?;
    let ok: String = redis::cmd("HCAUTH")
        .arg(hex(&proof))
        .query(&mut c)
        .map_err(|e| e.to_string())?;
    if ok != "OK" {
        return Err(ok);
    }
    Ok(c)
}

/// All of db 0's range digests, as one comparable string.
pub fn digest(c: &mut redis::Connection) -> String {
    let d: Vec<i64> = redis::cmd("HCDIGEST").arg(0).arg("-").query(c).unwrap();
    format!("{d:?}")
}
