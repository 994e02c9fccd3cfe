//! Membership and failure detection through gossip (chitchat, over UDP on the gossip port).
//!
//! Each node publishes its id, the address clients and peers reach its RESP port at, its HTTP
//! port, its state (joining / ready / leaving) and its version; chitchat's phi-accrual failure
//! detector decides who is alive. A fault-injection switch in the transport lets tests cut a
//! node off from chosen peers (a partition) without touching the host's network.

use std::collections::{BTreeMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpTransport};
use chitchat::{
    ChitchatConfig, ChitchatEnvelope, ChitchatHandle, ChitchatId, FailureDetectorConfig, NodeState,
    ProtocolVersion, spawn_chitchat,
};
use parking_lot::RwLock;
use tokio::sync::watch;

pub const KEY_RESP: &str = "resp";
pub const KEY_HTTP: &str = "http";
pub const KEY_STATE: &str = "state";
pub const KEY_VERSION: &str = "version";

/// What this node tells the others about itself.
#[derive(Debug, Clone)]
pub struct SelfInfo {
    pub node_id: String,
    /// Address peers and forwarded clients use for this node's RESP port.
    pub resp_addr: SocketAddr,
    pub http_port: u16,
    pub gossip_bind: SocketAddr,
    pub gossip_advertise: SocketAddr,
}

/// A member as seen through gossip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub node_id: String,
    pub resp_addr: Option<SocketAddr>,
    pub http_port: Option<u16>,
    pub gossip_addr: SocketAddr,
    pub state: String,
    pub version: String,
    pub generation: u64,
    pub live: bool,
    /// Unix ms this node last saw the member alive (0: never).
    pub last_seen: u64,
}

/// Gossip traffic to or from these addresses is dropped (fault injection for partition tests).
#[derive(Debug, Default)]
pub struct Faults {
    blocked: RwLock<HashSet<SocketAddr>>,
}

impl Faults {
    pub fn block(&self, addrs: impl IntoIterator<Item = SocketAddr>) {
        self.blocked.write().extend(addrs);
    }

    pub fn heal(&self) {
        self.blocked.write().clear();
    }

    pub fn is_blocked(&self, a: &SocketAddr) -> bool {
        let b = self.blocked.read();
        !b.is_empty() && b.contains(a)
    }

    pub fn any(&self) -> bool {
        !self.blocked.read().is_empty()
    }
}

struct FaultyTransport(Arc<Faults>);

struct FaultySocket {
    inner: Box<dyn Socket>,
    faults: Arc<Faults>,
}

#[async_trait]
impl Transport for FaultyTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let inner = UdpTransport.open(listen_addr).await?;
        Ok(Box::new(FaultySocket {
            inner,
            faults: self.0.clone(),
        }))
    }
}

#[async_trait]
impl Socket for FaultySocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        if self.faults.is_blocked(&to) {
            return Ok(SendOutcome { num_bytes_sent: 0 });
        }
        self.inner.send(to, envelope).await
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        loop {
            let r = self.inner.recv().await?;
            if !self.faults.is_blocked(&r.from_addr) {
                return Ok(r);
            }
        }
    }
}

/// A running gossip membership.
pub struct Membership {
    handle: ChitchatHandle,
    pub self_id: ChitchatId,
    pub faults: Arc<Faults>,
}

/// Resolves `host:port` seeds (and a DNS name, for a Kubernetes headless service).
pub fn seed_list(seeds: &[String], seed_dns: Option<&str>, gossip_port: u16) -> Vec<String> {
    let mut out: Vec<String> = seeds.to_vec();
    if let Some(name) = seed_dns {
        let target = if name.contains(':') {
            name.to_string()
        } else {
            format!("{name}:{gossip_port}")
        };
        // chitchat re-resolves names periodically, so new pods are found as they appear.
        out.push(target);
    }
    out
}

/// A free UDP port on `ip`, for an ephemeral gossip port.
pub fn free_udp_port(ip: std::net::IpAddr) -> u16 {
    std::net::UdpSocket::bind((ip, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

impl Membership {
    pub async fn start(
        me: &SelfInfo,
        seeds: Vec<String>,
        gossip_interval: Duration,
        forget_dead_after: Duration,
        faults: Arc<Faults>,
    ) -> anyhow::Result<Membership> {
        let generation = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let self_id = ChitchatId::new(me.node_id.clone(), generation, me.gossip_advertise);
        // Never gossip with ourselves.
        let seeds: Vec<String> = seeds
            .into_iter()
            .filter(|s| {
                s.to_socket_addrs()
                    .map(|mut a| !a.any(|a| a == me.gossip_advertise))
                    .unwrap_or(true)
            })
            .collect();
        let config = ChitchatConfig {
            chitchat_id: self_id.clone(),
            cluster_id: "hypercache".to_string(),
            gossip_interval,
            listen_addr: me.gossip_bind,
            seed_nodes: seeds,
            failure_detector_config: FailureDetectorConfig {
                phi_threshold: 8.0,
                sampling_window_size: 1000,
                max_interval: Duration::from_secs(10),
                initial_interval: gossip_interval,
                dead_node_grace_period: forget_dead_after,
            },
            marked_for_deletion_grace_period: Duration::from_secs(3600),
            catchup_callback: None,
            extra_liveness_predicate: None,
            protocol_version: ProtocolVersion::V0,
        };
        let kv = vec![
            (KEY_RESP.to_string(), me.resp_addr.to_string()),
            (KEY_HTTP.to_string(), me.http_port.to_string()),
            (KEY_STATE.to_string(), "joining".to_string()),
            (
                KEY_VERSION.to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
        ];
        let handle = spawn_chitchat(config, kv, &FaultyTransport(faults.clone())).await?;
        Ok(Membership {
            handle,
            self_id,
            faults,
        })
    }

    /// Publishes this node's state (joining / ready / leaving).
    pub async fn set_state(&self, state: &str) {
        let chitchat = self.handle.chitchat();
        let mut c = chitchat.lock().await;
        c.self_node_state().set(KEY_STATE, state);
    }

    /// Watches the set of live nodes (this one included).
    pub async fn live_watcher(&self) -> watch::Receiver<BTreeMap<ChitchatId, NodeState>> {
        self.handle.chitchat().lock().await.live_nodes_watcher()
    }

    /// Every member known: live ones, and dead ones not yet forgotten.
    pub async fn members(&self) -> Vec<Member> {
        let chitchat = self.handle.chitchat();
        let c = chitchat.lock().await;
        let live: HashSet<ChitchatId> = c.live_nodes().cloned().collect();
        c.node_states()
            .iter()
            .map(|(id, st)| member(id, st, live.contains(id)))
            .collect()
    }

    /// Gossip addresses of members with these node ids (for fault injection).
    pub async fn gossip_addrs(&self, node_ids: &[String]) -> Vec<SocketAddr> {
        self.members()
            .await
            .into_iter()
            .filter(|m| node_ids.contains(&m.node_id))
            .map(|m| m.gossip_addr)
            .collect()
    }

    /// Announces that this node leaves, lets the announcement spread, then stops gossiping.
    pub async fn leave(self) {
        self.set_state("leaving").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = self.handle.shutdown().await;
    }
}

pub fn member(id: &ChitchatId, st: &NodeState, live: bool) -> Member {
    Member {
        node_id: id.node_id.to_string(),
        resp_addr: st.get(KEY_RESP).and_then(|s| s.parse().ok()),
        http_port: st.get(KEY_HTTP).and_then(|s| s.parse().ok()),
        gossip_addr: id.gossip_advertise_addr,
        state: st.get(KEY_STATE).unwrap_or("unknown").to_string(),
        version: st.get(KEY_VERSION).unwrap_or("").to_string(),
        generation: id.generation_id,
        live,
        last_seen: if live { crate::node::now_ms() } else { 0 },
    }
}
