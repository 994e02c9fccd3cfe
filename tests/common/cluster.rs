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

    pub fn launch(&mut self, i: usize, seed_ports: &[u16]) {
        let node = &self.nodes[i];
        let yaml = format!(
            "cluster:\n  gossip_interval: 100ms\n  seeds:\n{}{}",
            Self::seeds(seed_ports),
            self.yaml
        );
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
        self.server(i).conn()
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
                .map(|&i| digest(&mut self.conn(i)))
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

/// All of db 0's range digests, as one comparable string.
pub fn digest(c: &mut redis::Connection) -> String {
    let d: Vec<i64> = redis::cmd("HCDIGEST").arg(0).arg("-").query(c).unwrap();
    format!("{d:?}")
}
