//! Membership and failure detection through gossip (chitchat, over UDP on the gossip port).
//!
//! Each node publishes its id, the address clients and peers reach its RESP port at, its HTTP
//! port, its state (joining / ready / leaving) and its version; chitchat's phi-accrual failure
//! detector decides who is alive. A fault-injection switch in the transport lets tests cut a
//! node off from chosen peers (a partition) without touching the host's network.
//!
//! Every gossip datagram carries a MAC made with a key derived from the cluster secret; a
//! datagram without a valid one, or sent more than a minute away from the local clock, is
//! dropped and counted, so only holders of the secret can join or change gossiped state.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chitchat::transport::{RecvOutcome, SendOutcome, Socket, Transport, UdpSocket};
use chitchat::{
    ChitchatConfig, ChitchatEnvelope, ChitchatHandle, ChitchatId, FailureDetectorConfig, NodeState,
    ProtocolVersion, spawn_chitchat,
};
use hmac::{Hmac, Mac};
use parking_lot::RwLock;
use sha2::Sha256;
use tokio::sync::watch;
use tokio::time::Instant;

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

/// Gossip transport figures (for metrics).
#[derive(Debug, Default)]
pub struct GossipStats {
    /// Datagrams dropped on arrival: too short, bad magic, bad tag, outside the replay window,
    /// or written to the loopback codec socket by another local process.
    pub rejected: AtomicU64,
}

type HmacSha256 = Hmac<Sha256>;

/// Sealed datagram: `MAGIC | sent_ms (u64 LE) | chitchat payload | tag`.
const MAGIC: &[u8; 4] = b"HCG1";
const HEADER_LEN: usize = MAGIC.len() + 8;
/// HMAC-SHA256 truncated to its first 16 bytes.
const TAG_LEN: usize = 16;
/// Largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
/// A datagram whose `sent_ms` is further than this from the local clock is a replay.
const REPLAY_WINDOW_MS: u64 = 60_000;
/// How long a verified payload may take to come out of the loopback decoder; chitchat silently
/// skips a payload it cannot decode, so without a bound recv would wait for the next one.
const DECODE_WAIT: Duration = Duration::from_millis(250);
/// How long the loopback encoder may take to hand back an envelope's bytes.
const ENCODE_WAIT: Duration = Duration::from_secs(1);
/// How long to wait for the bytes of an envelope whose `send` was cancelled.
const DRAIN_WAIT: Duration = Duration::from_millis(100);
/// At most one debug line per this period about rejected datagrams.
const REJECT_LOG_EVERY: Duration = Duration::from_secs(10);

/// The key gossip datagrams are authenticated with, derived from the cluster secret.
pub fn gossip_key(secret: &[u8]) -> [u8; 32] {
    super::auth::derive(secret, "gossip")
}

fn keyed_mac(key: &[u8; 32]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// Fills in the header and tag around a payload already in `buf[HEADER_LEN..HEADER_LEN + len]`;
/// returns the sealed length.
fn seal_in_place(mac: &HmacSha256, sent_ms: u64, buf: &mut [u8], len: usize) -> usize {
    let body = HEADER_LEN + len;
    buf[..MAGIC.len()].copy_from_slice(MAGIC);
    buf[MAGIC.len()..HEADER_LEN].copy_from_slice(&sent_ms.to_le_bytes());
    let mut mac = mac.clone();
    mac.update(&buf[..body]);
    let tag = mac.finalize().into_bytes();
    buf[body..body + TAG_LEN].copy_from_slice(&tag[..TAG_LEN]);
    body + TAG_LEN
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reject {
    Short,
    Magic,
    Tag,
    Stale,
    Stray,
}

/// Checks a sealed datagram and returns its payload.
fn open<'a>(mac: &HmacSha256, datagram: &'a [u8], now_ms: u64) -> Result<&'a [u8], Reject> {
    if datagram.len() < HEADER_LEN + TAG_LEN {
        return Err(Reject::Short);
    }
    if &datagram[..MAGIC.len()] != MAGIC {
        return Err(Reject::Magic);
    }
    let (body, tag) = datagram.split_at(datagram.len() - TAG_LEN);
    let mut mac = mac.clone();
    mac.update(body);
    // Constant-time comparison.
    mac.verify_truncated_left(tag).map_err(|_| Reject::Tag)?;
    let mut sent = [0u8; 8];
    sent.copy_from_slice(&body[MAGIC.len()..HEADER_LEN]);
    if u64::from_le_bytes(sent).abs_diff(now_ms) > REPLAY_WINDOW_MS {
        return Err(Reject::Stale);
    }
    Ok(&body[HEADER_LEN..])
}

/// chitchat over UDP, every datagram sealed with a MAC; also applies the fault injection.
struct GossipTransport {
    faults: Arc<Faults>,
    stats: Arc<GossipStats>,
    key: [u8; 32],
    /// The gossip socket, when the node bound it before saying it was ready (no other
    /// process can take the port between that check and gossip's start).
    reserved: parking_lot::Mutex<Option<std::net::UdpSocket>>,
}

/// chitchat keeps its wire codec crate-private; its `UdpSocket` is the only public way to turn
/// an envelope into bytes and back. So a private chitchat socket on loopback (`codec`) serves
/// as the codec, and `pipe`, connected to it, carries bytes in and out of it, while the
/// datagrams peers see come and go through `public`, sealed.
struct GossipSocket {
    public: tokio::net::UdpSocket,
    codec: UdpSocket,
    /// Connected to `codec`, so it only ever receives what `codec` encodes.
    pipe: tokio::net::UdpSocket,
    pipe_addr: SocketAddr,
    mac: HmacSha256,
    faults: Arc<Faults>,
    stats: Arc<GossipStats>,
    /// A verified payload handed to `codec` and not decoded yet. Kept here, not in `recv`'s
    /// frame, because chitchat cancels `recv` (it runs in a `select!`) and a later call must
    /// still attribute the envelope to its real sender.
    pending: Option<Pending>,
    /// Set while an envelope's bytes are on their way back from `codec`; still set on entry
    /// to `send` if a call was cancelled there, and then those bytes are still coming.
    encoding: bool,
    buf: Box<[u8]>,
    oversize_logged: bool,
    last_reject_log: Option<Instant>,
}

#[derive(Clone, Copy)]
struct Pending {
    from: SocketAddr,
    payload_len: usize,
    wire_len: usize,
    deadline: Instant,
}

#[async_trait]
impl Transport for GossipTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let reserved = self
            .reserved
            .lock()
            .take()
            .filter(|s| s.local_addr().is_ok_and(|a| a == listen_addr));
        let public = match reserved {
            Some(s) => {
                s.set_nonblocking(true)?;
                tokio::net::UdpSocket::from_std(s)?
            }
            None => tokio::net::UdpSocket::bind(listen_addr)
                .await
                .with_context(|| format!("failed to bind to {listen_addr}/UDP for gossip"))?,
        };
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let codec = UdpSocket::open(loopback).await?;
        let pipe = tokio::net::UdpSocket::bind(loopback).await?;
        pipe.connect(codec.local_addr()?).await?;
        let pipe_addr = pipe.local_addr()?;
        Ok(Box::new(GossipSocket {
            public,
            codec,
            pipe,
            pipe_addr,
            mac: keyed_mac(&self.key),
            faults: self.faults.clone(),
            stats: self.stats.clone(),
            pending: None,
            encoding: false,
            buf: vec![0u8; HEADER_LEN + 65_536 + TAG_LEN].into_boxed_slice(),
            oversize_logged: false,
            last_reject_log: None,
        }))
    }
}

impl GossipSocket {
    fn reject(&mut self, from: SocketAddr, why: Reject) {
        let total = self.stats.rejected.fetch_add(1, Ordering::Relaxed) + 1;
        if self
            .last_reject_log
            .is_none_or(|t| t.elapsed() >= REJECT_LOG_EVERY)
        {
            self.last_reject_log = Some(Instant::now());
            tracing::debug!(component = "gossip", action = "reject", from = %from, reason = ?why, rejected_total = total, "dropped an unauthenticated gossip datagram");
        }
    }
}

fn is_transient(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        OutOfMemory | ConnectionReset | ConnectionRefused
    )
}

#[async_trait]
impl Socket for GossipSocket {
    fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.public.local_addr()?)
    }

    async fn send(
        &mut self,
        to: SocketAddr,
        envelope: ChitchatEnvelope,
    ) -> anyhow::Result<SendOutcome> {
        if self.faults.is_blocked(&to) {
            return Ok(SendOutcome { num_bytes_sent: 0 });
        }
        if self.encoding {
            // A cancelled call's bytes must not pass for this envelope's. (`try_recv` would miss
            // them until the runtime has seen them arrive.)
            let _ = tokio::time::timeout(DRAIN_WAIT, self.pipe.recv(&mut self.buf)).await;
        }
        self.encoding = true;
        let sent = match self.codec.send(self.pipe_addr, envelope).await {
            Ok(o) => o.num_bytes_sent,
            Err(e) => {
                // Nothing was sent.
                self.encoding = false;
                return Err(e);
            }
        };
        let room = &mut self.buf[HEADER_LEN..HEADER_LEN + 65_536];
        let len = tokio::time::timeout(ENCODE_WAIT, self.pipe.recv(room))
            .await
            .context("gossip encoder did not answer")??;
        self.encoding = false;
        anyhow::ensure!(
            len == sent,
            "gossip encoder returned {len} bytes, not {sent}"
        );
        if HEADER_LEN + len + TAG_LEN > MAX_DATAGRAM {
            if !self.oversize_logged {
                self.oversize_logged = true;
                tracing::warn!(component = "gossip", action = "oversize", to = %to, len, "a gossip message is too large for one datagram once sealed; dropped (logged once)");
            }
            return Ok(SendOutcome { num_bytes_sent: 0 });
        }
        let n = seal_in_place(&self.mac, crate::util::time::now_ms(), &mut self.buf, len);
        let num_bytes_sent = self
            .public
            .send_to(&self.buf[..n], to)
            .await
            .context("failed to send a gossip datagram")?;
        Ok(SendOutcome { num_bytes_sent })
    }

    async fn recv(&mut self) -> anyhow::Result<RecvOutcome> {
        loop {
            if let Some(p) = self.pending {
                match tokio::time::timeout_at(p.deadline, self.codec.recv()).await {
                    Ok(Ok(out)) => {
                        if out.from_addr != self.pipe_addr {
                            // Another local process writing to the codec socket.
                            self.reject(out.from_addr, Reject::Stray);
                            continue;
                        }
                        if out.num_bytes_received != p.payload_len {
                            // A payload that outlived its wait: its sender is gone.
                            continue;
                        }
                        self.pending = None;
                        return Ok(RecvOutcome {
                            from_addr: p.from,
                            envelope: out.envelope,
                            num_bytes_received: p.wire_len,
                        });
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_) => {
                        self.pending = None;
                        tracing::debug!(component = "gossip", action = "undecodable", from = %p.from, "an authenticated gossip payload could not be decoded");
                    }
                }
            }
            let (n, from) = match self.public.recv_from(&mut self.buf).await {
                Ok(r) => r,
                Err(e) if is_transient(&e) => continue,
                Err(e) => return Err(e).context("gossip socket failed"),
            };
            if self.faults.is_blocked(&from) {
                continue;
            }
            let payload = match open(&self.mac, &self.buf[..n], crate::util::time::now_ms()) {
                Ok(p) => p,
                Err(why) => {
                    self.reject(from, why);
                    continue;
                }
            };
            let payload_len = payload.len();
            match self.pipe.send(payload).await {
                Ok(_) => {}
                Err(e) if is_transient(&e) => continue,
                Err(e) => return Err(e).context("gossip decoder pipe failed"),
            }
            self.pending = Some(Pending {
                from,
                payload_len,
                wire_len: n,
                deadline: Instant::now() + DECODE_WAIT,
            });
        }
    }
}

/// A running gossip membership.
pub struct Membership {
    handle: ChitchatHandle,
    /// The gossip interval: a leaving node gossips two more rounds.
    interval: Duration,
    pub self_id: ChitchatId,
    pub faults: Arc<Faults>,
    pub stats: Arc<GossipStats>,
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
        gossip_key: [u8; 32],
        reserved: Option<std::net::UdpSocket>,
    ) -> anyhow::Result<Membership> {
        let generation = crate::util::time::now_ms();
        let self_id = ChitchatId::new(me.node_id.clone(), generation, me.gossip_advertise);
        // Never gossip with ourselves: an address that is ours is left out. A name is kept
        // even when it answers ours too (a Kubernetes headless Service answers every pod's):
        // chitchat resolves it again each round and skips our own address.
        let seeds: Vec<String> = seeds
            .into_iter()
            .filter(|s| {
                s.parse::<SocketAddr>()
                    .ok()
                    .is_none_or(|a| a != me.gossip_advertise)
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
        let stats = Arc::new(GossipStats::default());
        let transport = GossipTransport {
            faults: faults.clone(),
            stats: stats.clone(),
            key: gossip_key,
            reserved: parking_lot::Mutex::new(reserved),
        };
        let handle = spawn_chitchat(config, kv, &transport).await?;
        Ok(Membership {
            handle,
            interval: gossip_interval,
            self_id,
            faults,
            stats,
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

    /// Announces that this node leaves, lets the announcement spread (two gossip rounds, at
    /// most two seconds), then stops gossiping.
    pub async fn leave(self) {
        self.set_state("leaving").await;
        tokio::time::sleep((self.interval * 2).min(Duration::from_secs(2))).await;
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
        last_seen: if live { crate::util::time::now_ms() } else { 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chitchat::{ChitchatMessage, ProtocolVersion};
    use std::net::IpAddr;

    const INTERVAL: Duration = Duration::from_millis(100);
    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    /// Polls `$cond` every 20 ms until it holds (true) or `$limit` passes (false).
    macro_rules! eventually {
        ($limit:expr, $cond:expr) => {{
            let deadline = Instant::now() + $limit;
            loop {
                if $cond {
                    break true;
                }
                if Instant::now() >= deadline {
                    break false;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }};
    }

    async fn node(id: &str, seeds: &[SocketAddr], key: [u8; 32]) -> Membership {
        let addr = SocketAddr::new(LOOPBACK, free_udp_port(LOOPBACK));
        let me = SelfInfo {
            node_id: id.to_string(),
            resp_addr: SocketAddr::new(LOOPBACK, 1),
            http_port: 1,
            gossip_bind: addr,
            gossip_advertise: addr,
        };
        let seeds = seeds.iter().map(|s| s.to_string()).collect();
        Membership::start(
            &me,
            seeds,
            INTERVAL,
            Duration::from_secs(60),
            Arc::default(),
            key,
            None,
        )
        .await
        .unwrap()
    }

    fn addr(m: &Membership) -> SocketAddr {
        m.self_id.gossip_advertise_addr
    }

    async fn seen(m: &Membership, id: &str) -> Option<Member> {
        m.members().await.into_iter().find(|x| x.node_id == id)
    }

    async fn live(m: &Membership, id: &str) -> bool {
        seen(m, id).await.is_some_and(|x| x.live)
    }

    fn rejected(m: &Membership) -> u64 {
        m.stats.rejected.load(Ordering::Relaxed)
    }

    /// A real chitchat encoding of a harmless message (a peer only logs BadCluster).
    async fn bad_cluster_payload() -> Vec<u8> {
        let lo = SocketAddr::new(LOOPBACK, 0);
        let mut codec = UdpSocket::open(lo).await.unwrap();
        let catcher = tokio::net::UdpSocket::bind(lo).await.unwrap();
        codec
            .send(catcher.local_addr().unwrap(), bad_cluster())
            .await
            .unwrap();
        let mut buf = vec![0u8; 65_536];
        let n = catcher.recv(&mut buf).await.unwrap();
        buf.truncate(n);
        buf
    }

    fn sealed(key: &[u8; 32], sent_ms: u64, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER_LEN + payload.len() + TAG_LEN];
        buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
        let n = seal_in_place(&keyed_mac(key), sent_ms, &mut buf, payload.len());
        assert_eq!(n, buf.len());
        buf
    }

    #[test]
    fn seal_open_and_rejections() {
        let key = gossip_key(b"secret");
        assert_eq!(key, gossip_key(b"secret"));
        assert_ne!(key, gossip_key(b"other"));
        let mac = keyed_mac(&key);
        let now = 1_700_000_000_000;
        let d = sealed(&key, now, b"payload");
        assert_eq!(&d[..4], b"HCG1");
        assert_eq!(open(&mac, &d, now), Ok(&b"payload"[..]));
        assert_eq!(open(&mac, &d, now + REPLAY_WINDOW_MS), Ok(&b"payload"[..]));
        assert_eq!(
            open(&mac, &d, now + REPLAY_WINDOW_MS + 1),
            Err(Reject::Stale)
        );
        assert_eq!(
            open(&mac, &d, now - REPLAY_WINDOW_MS - 1),
            Err(Reject::Stale)
        );
        assert_eq!(
            open(&keyed_mac(&gossip_key(b"other")), &d, now),
            Err(Reject::Tag)
        );
        assert_eq!(open(&mac, &d[..d.len() - 1], now), Err(Reject::Tag));
        assert_eq!(
            open(&mac, &d[..HEADER_LEN + TAG_LEN - 1], now),
            Err(Reject::Short)
        );
        let empty = sealed(&key, now, b"");
        assert_eq!(open(&mac, &empty, now), Ok(&b""[..]));
        for i in 0..d.len() {
            let mut bad = d.clone();
            bad[i] ^= 0x01;
            let want = if i < 4 { Reject::Magic } else { Reject::Tag };
            assert_eq!(open(&mac, &bad, now), Err(want), "byte {i} flipped");
        }
    }

    fn bad_cluster() -> ChitchatEnvelope {
        ChitchatEnvelope {
            version: ProtocolVersion::V0,
            message: ChitchatMessage::BadCluster,
        }
    }

    /// A `recv` cancelled after it handed a payload to the decoder (as chitchat's `select!`
    /// does) must not lose the payload's real sender: the next call returns that envelope with
    /// that sender, then the next datagram with its own.
    #[tokio::test]
    async fn cancelled_recv_keeps_real_sender() {
        let transport = GossipTransport {
            faults: Arc::default(),
            stats: Arc::default(),
            key: gossip_key(b"socket"),
            reserved: Default::default(),
        };
        let lo = SocketAddr::new(LOOPBACK, 0);
        let mut s1 = transport.open(lo).await.unwrap();
        let mut s2 = transport.open(lo).await.unwrap();
        let mut s3 = transport.open(lo).await.unwrap();
        let to = s3.local_addr().unwrap();
        assert!(s1.send(to, bad_cluster()).await.unwrap().num_bytes_sent > 0);
        // Let the runtime see the datagram arrive on the public socket.
        tokio::time::sleep(Duration::from_millis(50)).await;
        {
            // One poll: it verifies and forwards the datagram, but the runtime has not yet
            // seen the decoder become readable, so the call is still waiting; then drop it.
            let mut fut = s3.recv();
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
        assert!(s2.send(to, bad_cluster()).await.unwrap().num_bytes_sent > 0);
        for sender in [&s1, &s2] {
            let r = tokio::time::timeout(Duration::from_secs(2), s3.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(r.from_addr, sender.local_addr().unwrap());
            assert_eq!(r.envelope, bad_cluster());
        }
        assert_eq!(transport.stats.rejected.load(Ordering::Relaxed), 0);
    }

    /// A `send` cancelled after it handed its envelope to the encoder (chitchat does not do
    /// that today, but nothing forbids it) must not make the next `send` seal the old bytes.
    #[tokio::test]
    async fn cancelled_send_does_not_leak_into_the_next() {
        let transport = GossipTransport {
            faults: Arc::default(),
            stats: Arc::default(),
            key: gossip_key(b"socket"),
            reserved: Default::default(),
        };
        let lo = SocketAddr::new(LOOPBACK, 0);
        let mut s1 = transport.open(lo).await.unwrap();
        let mut s2 = transport.open(lo).await.unwrap();
        let to = s2.local_addr().unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let v1 = || ChitchatEnvelope {
            version: ProtocolVersion::V1,
            message: ChitchatMessage::BadCluster,
        };
        {
            // One poll: the V0 envelope goes to the encoder, whose answer the runtime has
            // not seen yet; then drop the call.
            let mut fut = s1.send(to, bad_cluster());
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
        // Same length on the wire as the V0 one, different bytes.
        s1.send(to, v1()).await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(2), s2.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.envelope, v1());
        assert!(
            tokio::time::timeout(Duration::from_millis(300), s2.recv())
                .await
                .is_err()
        );
    }

    /// An authenticated payload chitchat cannot decode is skipped after a short wait, and the
    /// next datagram is attributed to its own sender.
    #[tokio::test]
    async fn undecodable_payload_is_skipped() {
        let key = gossip_key(b"undecodable");
        let transport = GossipTransport {
            faults: Arc::default(),
            stats: Arc::default(),
            key,
            reserved: Default::default(),
        };
        let lo = SocketAddr::new(LOOPBACK, 0);
        let mut s = transport.open(lo).await.unwrap();
        let to = s.local_addr().unwrap();
        let junk_sender = tokio::net::UdpSocket::bind(lo).await.unwrap();
        let good_sender = tokio::net::UdpSocket::bind(lo).await.unwrap();
        let now = crate::util::time::now_ms();
        junk_sender
            .send_to(&sealed(&key, now, b"junk"), to)
            .await
            .unwrap();
        good_sender
            .send_to(&sealed(&key, now, &bad_cluster_payload().await), to)
            .await
            .unwrap();
        let r = tokio::time::timeout(Duration::from_secs(2), s.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.from_addr, good_sender.local_addr().unwrap());
        assert_eq!(r.envelope.message, ChitchatMessage::BadCluster);
    }

    #[tokio::test]
    async fn same_key_nodes_see_each_other() {
        let key = gossip_key(b"test-1");
        let a = node("a", &[], key).await;
        let b = node("b", &[addr(&a)], key).await;
        let t0 = Instant::now();
        assert!(eventually!(
            Duration::from_secs(5),
            live(&a, "b").await && live(&b, "a").await
        ));
        eprintln!("joined in {:?}", t0.elapsed());
        assert_eq!((rejected(&a), rejected(&b)), (0, 0));
    }

    #[tokio::test]
    async fn wrong_key_node_cannot_join() {
        let key = gossip_key(b"test-2");
        let a = node("a", &[], key).await;
        let b = node("b", &[addr(&a)], key).await;
        let c = node("c", &[addr(&a)], gossip_key(b"another secret")).await;
        let t0 = Instant::now();
        assert!(eventually!(
            Duration::from_secs(5),
            live(&a, "b").await && live(&b, "a").await
        ));
        // `c` seeds `a` every round like `b` did; give it many times what `b` needed.
        let joined = t0.elapsed();
        tokio::time::sleep((joined * 5).max(Duration::from_secs(2))).await;
        eprintln!("b joined in {joined:?}; c had {:?}", t0.elapsed());
        assert_eq!(seen(&a, "c").await, None);
        assert_eq!(seen(&b, "c").await, None);
        let c_sees: Vec<String> = c.members().await.into_iter().map(|m| m.node_id).collect();
        assert_eq!(c_sees, ["c"]);
        assert!(rejected(&a) > 0);
        assert_eq!(rejected(&b), 0);
    }

    #[tokio::test]
    async fn forged_truncated_and_stale_datagrams_are_dropped() {
        let key = gossip_key(b"test-3");
        let a = node("a", &[], key).await;
        let b = node("b", &[addr(&a)], key).await;
        assert!(eventually!(
            Duration::from_secs(5),
            live(&a, "b").await && live(&b, "a").await
        ));
        assert_eq!(rejected(&a), 0);

        let payload = bad_cluster_payload().await;
        let now = crate::util::time::now_ms();
        let good = sealed(&key, now, &payload);
        let mut forged = good.clone();
        let last = forged.len() - 1;
        forged[last] ^= 0x80;
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        let stale = sealed(&key, now - 600_000, &payload);
        let bad: [&[u8]; 5] = [
            &forged,
            &good[..HEADER_LEN + TAG_LEN - 1],
            &good[..good.len() - 1],
            &bad_magic,
            &stale,
        ];
        let raw = tokio::net::UdpSocket::bind(SocketAddr::new(LOOPBACK, 0))
            .await
            .unwrap();
        for d in bad {
            raw.send_to(d, addr(&a)).await.unwrap();
        }
        // A correctly sealed fresh datagram is accepted, hence not counted.
        raw.send_to(&good, addr(&a)).await.unwrap();
        assert!(eventually!(Duration::from_secs(2), rejected(&a) >= 5));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rejected(&a), 5);

        // Both still gossip: new state travels both ways and neither peer is dead.
        a.set_state("ready").await;
        b.set_state("ready").await;
        let state = |m: Option<Member>| m.filter(|m| m.live).map(|m| m.state);
        assert!(eventually!(
            Duration::from_secs(3),
            state(seen(&a, "b").await).as_deref() == Some("ready")
                && state(seen(&b, "a").await).as_deref() == Some("ready")
        ));
    }

    #[tokio::test]
    async fn fault_injection_partitions_same_key_nodes() {
        let key = gossip_key(b"test-4");
        let a = node("a", &[], key).await;
        let b = node("b", &[addr(&a)], key).await;
        assert!(eventually!(
            Duration::from_secs(5),
            live(&a, "b").await && live(&b, "a").await
        ));
        a.faults.block([addr(&b)]);
        let t0 = Instant::now();
        assert!(eventually!(
            Duration::from_secs(8),
            !live(&a, "b").await && !live(&b, "a").await
        ));
        eprintln!("partitioned in {:?}", t0.elapsed());
        a.faults.heal();
        assert!(eventually!(
            Duration::from_secs(5),
            live(&a, "b").await && live(&b, "a").await
        ));
        // Blocked traffic is dropped before verification, so it is not counted.
        assert_eq!((rejected(&a), rejected(&b)), (0, 0));
    }
}
