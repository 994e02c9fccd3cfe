//! The cluster: gossip membership, the consistent-hash ring, replication of every write to the
//! key's replicas, read-repair on a local miss, and anti-entropy after joins and partitions.

pub mod auth;
pub mod membership;
pub mod peer_conn;
pub mod read_index;
pub mod replication;
pub mod ring;
pub mod sync;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

use crate::config::{Config, ConsistencyLevel};
use crate::persist::codec;
use crate::store::mutation::{Mutation, Op, Origin};
use crate::store::stamp::{Stamp, nodes};
use crate::store::{Keyspace, Value};
use crate::util::time::now_ms;
use membership::{Faults, Member, Membership, SelfInfo};
use replication::{Peer, Replicator};
use ring::Ring;

/// Counters for INFO and metrics.
#[derive(Default)]
pub struct ClusterStats {
    pub read_repairs: AtomicU64,
    pub read_repair_queries: AtomicU64,
    /// Commands this node sent to another to run (`HCFWD`): to the keys' owner, or to a
    /// replica when this node holds none.
    pub forwarded: AtomicU64,
    pub stale_rejected: AtomicU64,
    pub applied_remote: AtomicU64,
    pub ring_changes: AtomicU64,
    pub sync_rounds: AtomicU64,
    pub sync_keys_pulled: AtomicU64,
    pub sync_keys_pushed: AtomicU64,
    pub lag_last_ms: AtomicU64,
    pub lag_max_ms: AtomicU64,
    /// Records from peers refused by validation (bad ids, stamps from the future, ...).
    pub records_refused: AtomicU64,
    /// Changes (APPEND/SETRANGE splices) to a version this node did not hold: each made it
    /// fetch the key's full value.
    pub deltas_behind: AtomicU64,
    /// When a refusal was last logged (ms), so a flood of bad records is not a flood of logs.
    refused_logged_ms: AtomicU64,
    lag_samples: crate::util::samples::Samples,
}

impl ClusterStats {
    /// Records how long a replicated batch took from its origin to this node.
    pub fn record_lag(&self, ms: u64) {
        self.lag_last_ms.store(ms, Ordering::Relaxed);
        self.lag_max_ms.fetch_max(ms, Ordering::Relaxed);
        self.lag_samples.record(ms);
    }

    /// p50 and p99 of the recent replication lags (ms).
    pub fn lag_percentiles(&self) -> (u64, u64) {
        self.lag_samples.p50_p99()
    }
}

pub struct Cluster {
    pub node_id: String,
    /// Largest lead a peer's stamp may have over this node's Lamport clock.
    pub max_clock_skew: u64,
    pub consistency: ConsistencyLevel,
    pub write_timeout: Duration,
    /// How long a miss waits for the peers before local data answers it.
    pub read_timeout: Duration,
    pub replicator: Arc<Replicator>,
    pub faults: Arc<Faults>,
    pub stats: ClusterStats,
    /// Connections kept for read-repair and read-index questions.
    pub pool: Arc<peer_conn::Pool>,
    /// What proves a local miss is a miss everywhere (see `read_index`).
    pub index: read_index::ReadIndex,
    members: RwLock<Vec<Member>>,
    membership: tokio::sync::Mutex<Option<Membership>>,
    /// Gossip figures (datagrams refused for a bad MAC), once gossip runs.
    pub gossip: std::sync::OnceLock<Arc<membership::GossipStats>>,
    /// Anti-entropy runs in progress; the node has converged when there are none.
    syncing: std::sync::atomic::AtomicUsize,
    ready: AtomicBool,
    /// The gossip socket the server bound with its other ports, before saying it was ready;
    /// gossip takes it when it starts (after the data directory loaded).
    pub gossip_socket: parking_lot::Mutex<Option<std::net::UdpSocket>>,
}

impl Cluster {
    pub fn new(config: &Config) -> Arc<Cluster> {
        nodes::register_local(&config.node.id);
        let rf = config.cluster.replication_factor.map(|r| r as usize);
        let auth = Arc::new(auth::PeerAuth::new(&config.node.id, peer_secret(config)));
        Arc::new(Cluster {
            node_id: config.node.id.clone(),
            max_clock_skew: config.cluster.max_clock_skew,
            consistency: config.cluster.consistency_level,
            write_timeout: config.cluster.write_timeout,
            read_timeout: config.cluster.read_timeout,
            replicator: Replicator::new(&config.node.id, rf, auth),
            faults: Arc::default(),
            stats: ClusterStats::default(),
            pool: Arc::default(),
            index: read_index::ReadIndex::default(),
            members: RwLock::new(Vec::new()),
            membership: tokio::sync::Mutex::new(None),
            gossip: std::sync::OnceLock::new(),
            syncing: std::sync::atomic::AtomicUsize::new(0),
            ready: AtomicBool::new(false),
            gossip_socket: parking_lot::Mutex::new(None),
        })
    }

    pub fn ring(&self) -> Arc<Ring> {
        self.replicator.ring()
    }

    #[inline]
    pub fn has_peers(&self) -> bool {
        self.replicator.has_peers()
    }

    /// Live members, this node included.
    pub fn live_size(&self) -> usize {
        self.ring().len().max(1)
    }

    /// Waits until enough replicas (by `consistency_level`) acknowledged the `pending` writes;
    /// on timeout, the -TRYAGAIN message to answer with.
    pub async fn wait_acks(&self, pending: Vec<(Arc<Peer>, u64)>) -> Result<(), String> {
        // Against the nodes the cluster should have (dead ones included), not only the live
        // ones: with a majority down a quorum write must fail.
        let known = self.members().len().max(self.live_size());
        let rf = self
            .replicator
            .rf_configured()
            .map_or(known, |r| r.min(known));
        let required = match self.consistency {
            ConsistencyLevel::All => rf,
            _ => rf / 2 + 1,
        };
        let needed = required.saturating_sub(1);
        let mut want: Vec<(Arc<Peer>, u64)> = Vec::new();
        for (p, off) in pending {
            match want.iter_mut().find(|(q, _)| Arc::ptr_eq(q, &p)) {
                Some(w) => w.1 = w.1.max(off),
                None => want.push((p, off)),
            }
        }
        let deadline = tokio::time::Instant::now() + self.write_timeout;
        loop {
            let acked = want
                .iter()
                .filter(|(p, off)| p.acked.load(Ordering::Acquire) >= *off)
                .count();
            if acked >= needed {
                return Ok(());
            }
            let notified: Vec<_> = want
                .iter()
                .map(|(p, _)| p.acked_changed.notified())
                .collect();
            let any = async {
                if notified.is_empty() {
                    std::future::pending::<()>().await;
                }
                let mut futs: Vec<_> = notified.into_iter().map(Box::pin).collect();
                std::future::poll_fn(|cx| {
                    for f in futs.iter_mut() {
                        if f.as_mut().poll(cx).is_ready() {
                            return std::task::Poll::Ready(());
                        }
                    }
                    std::task::Poll::Pending
                })
                .await
            };
            // Re-check at least every 10 ms: an acknowledgement may land between the count
            // and the registration above.
            let tick = tokio::time::sleep(Duration::from_millis(10));
            tokio::select! {
                _ = any => {}
                _ = tick => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(format!(
                        "TRYAGAIN the write was not acknowledged by {required} of {rf} replicas within {} ms; it is applied on this node and may be applied on others",
                        self.write_timeout.as_millis()
                    ));
                }
            }
        }
    }

    /// Whether a peer's record may be applied: its stamp must not run further ahead of this
    /// node's clock than `max_clock_skew` ticks, so no single record can carry the clock (and
    /// with it every key's stamp) to where later writes lose.
    pub fn admit(&self, store: &Keyspace, m: &Mutation<'_>, from: &str) -> Result<(), String> {
        let local = store.bus().clock().now();
        if m.stamp.lamport > local.saturating_add(self.max_clock_skew) {
            return Err(format!(
                "stamp {} from {from} is {} ticks ahead of this node's clock ({local}); cluster.max_clock_skew is {}",
                m.stamp.lamport,
                m.stamp.lamport - local,
                self.max_clock_skew
            ));
        }
        Ok(())
    }

    /// Counts a refused record and logs it (at most once a second).
    pub fn refused(&self, from: &str, op: &str, why: &str) {
        let n = self.stats.records_refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = now_ms();
        let last = self.stats.refused_logged_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000
            && self
                .stats
                .refused_logged_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::error!(component = "replication", action = "refuse", from = %from, op, reason = %why, refused_total = n, "refused a record from a peer");
        }
    }

    /// Every known member (live, and dead ones not yet forgotten).
    pub fn members(&self) -> Vec<Member> {
        self.members.read().clone()
    }

    /// Joins the cluster: starts gossip and follows membership changes. `resp` and `http`
    /// are the listeners' bound addresses (the configured ports when unknown).
    pub async fn start(
        self: &Arc<Self>,
        c: &Config,
        store: &Arc<Keyspace>,
        resp: Option<SocketAddr>,
        http: Option<SocketAddr>,
    ) -> anyhow::Result<()> {
        let resp = resp.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], c.network.resp_port)));
        let bind_ip: std::net::IpAddr = c
            .network
            .resp_bind_addr
            .parse()
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        let advertise_ip = advertise_ip(
            c.network.advertise_addr.as_deref(),
            bind_ip,
            &c.cluster.seeds,
        )
        .await;
        let reserved = self.gossip_socket.lock().take();
        let gossip_port = match (
            reserved.as_ref().map(|s| s.local_addr()),
            c.network.gossip_port,
        ) {
            (Some(Ok(a)), _) => a.port(),
            (_, 0) => membership::free_udp_port(bind_ip),
            (_, p) => p,
        };
        let me = SelfInfo {
            node_id: c.node.id.clone(),
            resp_addr: SocketAddr::new(advertise_ip, resp.port()),
            http_port: http.map_or(c.network.http_port, |a| a.port()),
            gossip_bind: SocketAddr::new(bind_ip, gossip_port),
            gossip_advertise: SocketAddr::new(advertise_ip, gossip_port),
        };
        let seeds =
            membership::seed_list(&c.cluster.seeds, c.cluster.seed_dns.as_deref(), gossip_port);
        if !seeds.is_empty() {
            // Removals must leave tombstones as soon as there may be another replica.
            store.enable_tombstones();
        }
        let m = Membership::start(
            &me,
            seeds,
            c.cluster.gossip_interval,
            c.cluster.forget_dead_after,
            self.faults.clone(),
            membership::gossip_key(peer_secret(c).unwrap_or(b"")),
            reserved,
        )
        .await?;
        tracing::info!(component = "cluster", action = "join", node_id = %me.node_id, gossip = %me.gossip_advertise, resp = %me.resp_addr, "gossip started");
        let mut watcher = m.live_watcher().await;
        let _ = self.gossip.set(m.stats.clone());
        *self.membership.lock().await = Some(m);
        let (cluster, store) = (self.clone(), store.clone());
        tokio::spawn(async move {
            loop {
                let live = watcher.borrow_and_update().clone();
                cluster.on_members(&store, live).await;
                if watcher.changed().await.is_err() {
                    return;
                }
            }
        });
        // Dead members are shown until forgotten; refresh the full list now and then.
        let cluster = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let guard = cluster.membership.lock().await;
                let Some(m) = guard.as_ref() else { return };
                let mut all = m.members().await;
                drop(guard);
                let mut known = cluster.members.write();
                for x in all.iter_mut().filter(|x| !x.live) {
                    x.last_seen = known
                        .iter()
                        .find(|k| k.node_id == x.node_id)
                        .map_or(0, |k| k.last_seen);
                }
                *known = all;
            }
        });
        Ok(())
    }

    /// Reacts to a change of the live set: a new ring, new peers, anti-entropy with newcomers.
    async fn on_members(
        self: &Arc<Self>,
        store: &Arc<Keyspace>,
        live: BTreeMap<chitchat::ChitchatId, chitchat::NodeState>,
    ) {
        let mut ids: Vec<String> = vec![self.node_id.clone()];
        let mut seen = Vec::new();
        for (id, st) in &live {
            let m = membership::member(id, st, true);
            nodes::register(&m.node_id);
            if m.node_id != self.node_id && m.state != "leaving" {
                ids.push(m.node_id.clone());
                seen.push(m);
            }
        }
        let ring = Ring::new(ids);
        let old = self.replicator.ring();
        if old.nodes() != ring.nodes() {
            self.stats.ring_changes.fetch_add(1, Ordering::Relaxed);
            tracing::info!(component = "cluster", action = "ring_change", members = %ring.nodes().join(","), "ring changed");
        }
        self.replicator.set_ring(ring);
        if !seen.is_empty() {
            store.enable_tombstones();
        }
        let mut newcomers = Vec::new();
        for m in &seen {
            let (peer, new) = self.replicator.upsert_peer(&m.node_id, m.resp_addr);
            if new {
                tracing::info!(component = "cluster", action = "member_up", peer = %m.node_id, addr = m.resp_addr.map(|a| a.to_string()), "peer joined");
                tokio::spawn(replication::sender(peer.clone(), self.replicator.clone()));
                newcomers.push(peer);
            }
        }
        let mut left = false;
        for p in self.replicator.peers() {
            if !seen.iter().any(|m| m.node_id == p.node_id) {
                left = true;
                tracing::warn!(component = "cluster", action = "member_down", peer = %p.node_id, "peer left the ring");
                if let Some(a) = p.addr() {
                    self.pool.forget(a);
                }
                self.index.forget(&p.node_id);
                self.replicator.remove_peer(&p.node_id);
            }
        }
        if left {
            // Writes of the node that left may sit here and not yet at the others.
            self.replicator.unvouch_all();
        }
        {
            let mut all = self.members.write();
            for m in &seen {
                if let Some(x) = all.iter_mut().find(|x| x.node_id == m.node_id) {
                    *x = m.clone();
                } else {
                    all.push(m.clone());
                }
            }
            for x in all.iter_mut() {
                x.live = x.node_id == self.node_id || seen.iter().any(|m| m.node_id == x.node_id);
                if x.live {
                    x.last_seen = now_ms();
                }
            }
        }
        if !newcomers.is_empty() {
            self.syncing.fetch_add(1, Ordering::AcqRel);
            let (cluster, store) = (self.clone(), store.clone());
            tokio::spawn(async move {
                for p in newcomers {
                    sync::sync_until_done(&store, &cluster, &p).await;
                }
                cluster.syncing.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }

    /// True when no anti-entropy with a newly joined peer is in progress.
    /// Whether a key missing here must be asked of the other replicas before answering.
    /// Yes, unless the store's cuckoo filter says "definitely absent" and that is safe to
    /// believe: writes are acknowledged only once every replica applied them (`all`), and
    /// this node has caught up with its peers. Under `eventual` or `quorum` a write may be
    /// acknowledged before it reaches this node, so the filter cannot speak for the others.
    pub fn must_repair(&self, store: &Keyspace, db: u32, key: &[u8]) -> bool {
        if self.consistency == ConsistencyLevel::All
            && self.converged()
            && store.may_contain(db, key) == Some(false)
        {
            return false;
        }
        true
    }

    /// Gossip datagrams dropped for a missing or wrong MAC (a wrong secret, forgery, replay).
    pub fn gossip_rejected(&self) -> u64 {
        self.gossip
            .get()
            .map_or(0, |g| g.rejected.load(Ordering::Relaxed))
    }

    pub fn converged(&self) -> bool {
        self.syncing.load(Ordering::Acquire) == 0
    }

    /// Publishes this node's state in gossip.
    pub async fn set_state(&self, state: &str) {
        if let Some(m) = self.membership.lock().await.as_ref() {
            m.set_state(state).await;
        }
        self.ready.store(state == "ready", Ordering::Relaxed);
    }

    /// Leaves the cluster gracefully (on shutdown).
    pub async fn leave(&self) {
        if let Some(m) = self.membership.lock().await.take() {
            m.leave().await;
        }
        for p in self.replicator.peers() {
            self.replicator.remove_peer(&p.node_id);
        }
    }

    /// Fault injection for partition tests: cut this node off from `ids` (empty heals) —
    /// their gossip and replication traffic is dropped in both directions.
    pub fn partition_now(&self, ids: &[String]) {
        self.replicator.set_blocked(ids);
        self.faults.heal();
        let addrs: Vec<SocketAddr> = self
            .members
            .read()
            .iter()
            .filter(|m| ids.contains(&m.node_id))
            .map(|m| m.gossip_addr)
            .collect();
        self.faults.block(addrs);
        tracing::warn!(component = "cluster", action = "fault_injection", blocked = %ids.join(","), "partition switch set");
    }

    /// Installs `v` if it is newer than what the node holds (after the same checks as a
    /// replicated record; `from` names where it came from, for the log).
    pub fn install(
        &self,
        store: &Keyspace,
        v: &Version,
        db: u32,
        key: &[u8],
        now: u64,
        from: &str,
    ) -> bool {
        let op = match &v.value {
            Some(value) => Op::Set {
                key,
                value: value.as_ref(),
                expire_at: v.expire_at,
            },
            None => Op::Del { key },
        };
        let m = Mutation {
            db,
            stamp: v.stamp,
            origin: Origin::Peer,
            trace: None,
            op,
        };
        // Outside any command (read-repair, anti-entropy): enters the transaction gate.
        let r = self.admit(store, &m, from).and_then(|()| {
            let _inside = store.gate.enter();
            store.apply_remote(&m, now).map_err(|e| e.to_string())
        });
        match r {
            Ok(applied) => applied == crate::store::Applied::Yes,
            Err(why) => {
                self.refused(from, m.op.name(), &why);
                false
            }
        }
    }

    /// Before a read answers a miss of `keys` from local data: makes sure no other replica
    /// holds an acknowledged write of them that this node lacks (the read index; see
    /// `read_index`), asking the peers that cannot vouch for that for the keys themselves.
    /// `arrived` is when the read reached this node. Returns once the local data may answer,
    /// or after the read timeout with what it has.
    pub async fn read(
        &self,
        store: &Keyspace,
        db: u32,
        keys: &[Vec<u8>],
        arrived: std::time::Instant,
    ) -> ReadCheck {
        let mut peers: Vec<Arc<Peer>> = Vec::new();
        for k in keys {
            for p in self.replicator.targets_for(db, k) {
                if !self.replicator.is_blocked(&p.node_id)
                    && p.addr().is_some()
                    && !peers.iter().any(|q| q.node_id == p.node_id)
                {
                    peers.push(p);
                }
            }
        }
        if peers.is_empty() {
            return ReadCheck::default();
        }
        // Asking every peer covers any key, not only these.
        let all = self.replicator.peer_count() == peers.len();
        let deadline = tokio::time::Instant::now() + self.read_timeout;
        let checks = peers.iter().map(|p| self.vouched_for(p, arrived, deadline));
        let vouched = tokio::time::timeout_at(deadline, futures_util::future::join_all(checks))
            .await
            .unwrap_or_else(|_| vec![false; peers.len()]);
        let unsure: Vec<Arc<Peer>> = peers
            .into_iter()
            .zip(vouched)
            .filter_map(|(p, ok)| (!ok).then_some(p))
            .collect();
        if unsure.is_empty() {
            self.index.stats.local.fetch_add(1, Ordering::Relaxed);
            return ReadCheck {
                installed: false,
                everyone_vouched: all,
            };
        }
        self.index
            .stats
            .fallbacks
            .fetch_add(unsure.len() as u64, Ordering::Relaxed);
        // Ask every replica, not only the unsure: the version an unsure (or dead) origin
        // wrote may sit on a peer that vouched only for its own writes.
        let addrs: Vec<SocketAddr> = self
            .replicator
            .peers()
            .iter()
            .filter(|p| !self.replicator.is_blocked(&p.node_id))
            .filter_map(|p| p.addr())
            .collect();
        let mut installed = false;
        for k in keys {
            installed |= self.repair_from(store, db, k, &addrs).await;
        }
        ReadCheck {
            installed,
            everyone_vouched: false,
        }
    }

    /// Whether `peer` can hold no acknowledged write this node lacks, for a read that arrived
    /// at `arrived`: its answer to a question sent after that, and this node's stream from it
    /// applied up to the answer.
    async fn vouched_for(
        &self,
        peer: &Peer,
        arrived: std::time::Instant,
        deadline: tokio::time::Instant,
    ) -> bool {
        let Some(addr) = peer.addr() else {
            return false;
        };
        let ask = || async {
            let mine = self.replicator.incarnation.to_string();
            let r = self
                .pool
                .call(
                    addr,
                    &[b"HCINDEX", self.node_id.as_bytes(), mine.as_bytes()],
                    self.read_timeout,
                    &self.replicator.auth,
                )
                .await
                .ok()?;
            read_index::Position::from_reply(&r)
        };
        match self.index.position(&peer.node_id, arrived, ask).await {
            Some(p) if p.ready => self.index.caught_up(&peer.node_id, &p, deadline).await,
            _ => false,
        }
    }

    /// Read-repair: asks the key's other live replicas for their version and installs the
    /// newest locally (with its original stamp and deadline). Returns whether something was
    /// installed.
    pub async fn repair(&self, store: &Keyspace, db: u32, key: &[u8]) -> bool {
        let targets: Vec<_> = self
            .replicator
            .targets_for(db, key)
            .into_iter()
            .filter(|p| !self.replicator.is_blocked(&p.node_id))
            .filter_map(|p| p.addr())
            .collect();
        self.repair_from(store, db, key, &targets).await
    }

    /// Read-repair from these replicas only.
    async fn repair_from(
        &self,
        store: &Keyspace,
        db: u32,
        key: &[u8],
        targets: &[SocketAddr],
    ) -> bool {
        if targets.is_empty() {
            return false;
        }
        self.stats
            .read_repair_queries
            .fetch_add(1, Ordering::Relaxed);
        let calls = targets.iter().map(|addr| {
            let (addr, db_s, key) = (*addr, db.to_string(), key.to_vec());
            let (auth, pool) = (self.replicator.auth.clone(), self.pool.clone());
            let timeout = self.read_timeout;
            async move {
                pool.call(addr, &[b"HCGET", db_s.as_bytes(), &key], timeout, &auth)
                    .await
            }
        });
        let replies = futures_join(calls).await;
        let mut best: Option<Version> = None;
        for r in replies.into_iter().flatten() {
            if let Some(v) = Version::from_reply(&r)
                && best.as_ref().is_none_or(|b| nodes::newer(v.stamp, b.stamp))
            {
                best = Some(v);
            }
        }
        let Some(v) = best else { return false };
        let now = now_ms();
        let applied = self.install(store, &v, db, key, now, "read-repair");
        if applied {
            self.stats.read_repairs.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(component = "cluster", action = "read_repair", key = %String::from_utf8_lossy(key), "installed a newer version from a peer");
        }
        applied
    }
}

/// What [`Cluster::read`] found.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadCheck {
    /// A key was installed from a peer (read-repair).
    pub installed: bool,
    /// Every peer vouched for its stream for a question sent after the read arrived: any other
    /// miss that arrived before it may be answered locally too.
    pub everyone_vouched: bool,
}

/// The secret peers authenticate with: `cluster.secret`, else the password (so a deployment
/// with only `requirepass` is still closed to strangers), else none.
pub fn peer_secret(config: &Config) -> Option<&[u8]> {
    config
        .cluster
        .secret
        .as_ref()
        .or(config.security.requirepass.as_ref())
        .map(|s| s.expose())
}

/// Runs futures concurrently and collects their results in order.
async fn futures_join<F>(fs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

/// One replica's version of a key, as HCGET reports it.
#[derive(Debug, Clone)]
pub struct Version {
    pub stamp: Stamp,
    pub expire_at: u64,
    /// None for a tombstone.
    pub value: Option<Value>,
}

impl Version {
    fn from_reply(r: &peer_conn::Reply) -> Option<Version> {
        let a = r.array()?;
        if a.len() != 4 {
            return None;
        }
        let stamp = Stamp {
            lamport: a[0].int()? as u64,
            node: a[1].int()? as u64,
        };
        let expire_at = a[2].int()? as u64;
        let value = match &a[3] {
            peer_conn::Reply::Bulk(Some(b)) => {
                Some(codec::read_value(&mut codec::Reader::new(b)).ok()?)
            }
            _ => None,
        };
        Some(Version {
            stamp,
            expire_at,
            value,
        })
    }
}

/// How long one name lookup for our own address may take.
const ADVERTISE_LOOKUP: Duration = Duration::from_secs(5);

/// The address peers reach this node at. A configured one may be a name (a container's or
/// pod's hostname). With a wildcard bind and none configured, loopback would be wrong for
/// any peer on another host (a container, a pod), so it is the address the route to the
/// first seed leaves from, else our hostname's, else loopback.
async fn advertise_ip(
    configured: Option<&str>,
    bind_ip: std::net::IpAddr,
    seeds: &[String],
) -> std::net::IpAddr {
    use std::net::IpAddr;
    let loopback = IpAddr::from([127, 0, 0, 1]);
    if let Some(a) = configured {
        let host = advertise_host(a);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return ip;
        }
        match lookup(host).await {
            Some(ip) => return ip,
            None => tracing::warn!(component = "cluster", action = "advertise", name = %host,
                "cannot resolve the advertised name; choosing an address instead"),
        }
    }
    if !bind_ip.is_unspecified() {
        return bind_ip;
    }
    for seed in seeds.iter().take(1) {
        let Ok(Ok(mut addrs)) =
            tokio::time::timeout(ADVERTISE_LOOKUP, tokio::net::lookup_host(seed.as_str())).await
        else {
            continue;
        };
        if let Some(peer) = addrs.next()
            && let Some(ip) = route_source(peer)
        {
            return ip;
        }
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    match lookup(hostname.trim()).await {
        Some(ip) if !ip.is_loopback() => ip,
        _ => loopback,
    }
}

/// The host part of `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
fn advertise_host(a: &str) -> &str {
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match a.rsplit_once(':') {
        Some((h, _)) if !h.contains(':') => h,
        _ => a,
    }
}

/// The first address `host` resolves to, within [`ADVERTISE_LOOKUP`].
async fn lookup(host: &str) -> Option<std::net::IpAddr> {
    if host.is_empty() {
        return None;
    }
    let found = tokio::time::timeout(ADVERTISE_LOOKUP, tokio::net::lookup_host((host, 0))).await;
    found
        .ok()?
        .ok()?
        .map(|a| a.ip())
        .find(|ip| !ip.is_unspecified())
}

/// The local address the kernel would send from to reach `peer` (a UDP connect sends nothing).
fn route_source(peer: SocketAddr) -> Option<std::net::IpAddr> {
    let any: SocketAddr = if peer.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = std::net::UdpSocket::bind(any).ok()?;
    socket.connect(peer).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

#[cfg(test)]
mod advertise_tests {
    use super::*;

    #[test]
    fn host_part_of_every_form() {
        assert_eq!(advertise_host("10.0.0.5"), "10.0.0.5");
        assert_eq!(advertise_host("node-1:7946"), "node-1");
        assert_eq!(advertise_host("[fd00::1]:7946"), "fd00::1");
        assert_eq!(advertise_host("fd00::1"), "fd00::1");
        assert_eq!(advertise_host("node-1"), "node-1");
    }

    #[tokio::test]
    async fn configured_address_or_name_wins() {
        let any = std::net::IpAddr::from([0, 0, 0, 0]);
        assert_eq!(
            advertise_ip(Some("10.1.2.3"), any, &[]).await,
            std::net::IpAddr::from([10, 1, 2, 3])
        );
        assert!(
            advertise_ip(Some("localhost:7946"), any, &[])
                .await
                .is_loopback()
        );
    }

    #[tokio::test]
    async fn wildcard_bind_takes_the_route_to_the_seed() {
        let any = std::net::IpAddr::from([0, 0, 0, 0]);
        // Loopback seeds are reached from loopback: a local cluster advertises 127.0.0.1.
        assert_eq!(
            advertise_ip(None, any, &["127.0.0.1:7946".into()]).await,
            std::net::IpAddr::from([127, 0, 0, 1])
        );
        let bound = std::net::IpAddr::from([127, 0, 0, 2]);
        assert_eq!(
            advertise_ip(None, bound, &["127.0.0.1:7946".into()]).await,
            bound
        );
        // With no seed it is never the wildcard itself.
        assert!(!advertise_ip(None, any, &[]).await.is_unspecified());
        // A seed elsewhere: the address the route to it leaves from, not loopback (what a
        // container or a pod must advertise). Skipped on a machine with no such route.
        let far: std::net::SocketAddr = "10.255.255.1:7946".parse().unwrap();
        if let Some(ip) = route_source(far) {
            let got = advertise_ip(None, any, &[far.to_string()]).await;
            assert_eq!(got, ip);
            assert!(!got.is_loopback(), "{got}");
        }
    }
}
