//! Replication: every local write is streamed to the key's other replicas as the same records
//! the AOF holds, over one persistent connection per peer.
//!
//! Publishing (under the key's shard lock) only appends the encoded record to each target
//! peer's buffer. A sender task per peer drains its buffer every millisecond into one
//! `HCREPL <from> <end> <sent_ms> <records> <incarnation>` command on the peer's RESP port,
//! keeps what the peer has not acknowledged, and resends it after a reconnect (applying a
//! record twice is harmless: the second time its stamp is not newer). A peer that falls more than
//! [`MAX_BACKLOG`] behind loses its backlog and is marked for anti-entropy instead of making
//! writers wait.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use super::peer_conn::{self, PeerConn, Reply};
use super::ring::Ring;
use crate::persist::codec;
use crate::store::mutation::{Mutation, MutationSink, Op, Origin};

/// Buffered bytes per peer beyond which its backlog is dropped (anti-entropy repairs it).
pub const MAX_BACKLOG: usize = 256 << 20;
/// How often a sender drains its buffer.
const DRAIN_EVERY: Duration = Duration::from_millis(1);

/// Payload tag of a marker record: the correlation id of the mutation record that follows it.
/// Only the replication stream carries it (the AOF does not), and peers log it.
pub const CORRELATION_TAG: u8 = 0xC0;

/// Payload tag of a pub/sub message record: `<shard:u8> <channel> <message>`. Not a change to
/// data: each node delivers it to its own subscribers.
pub const MESSAGE_TAG: u8 = 0xC1;

/// A pub/sub message carried by the stream: channel, message, whether to a shard channel.
pub type Message<'a> = (&'a [u8], &'a [u8], bool);

/// A pub/sub message record's channel, message and whether it is a shard channel's. `Err`:
/// a message record that does not decode; `Ok(None)`: another record.
pub fn message_of(payload: &[u8]) -> Result<Option<Message<'_>>, codec::DecodeError> {
    let Some((&MESSAGE_TAG, rest)) = payload.split_first() else {
        return Ok(None);
    };
    let mut r = codec::Reader::new(rest);
    let shard = r.u8()? != 0;
    let channel = r.bytes()?;
    let message = r.bytes()?;
    r.finish()?;
    Ok(Some((channel, message, shard)))
}

/// Payload tag of a script record: `<source>`, for the peer's script cache. Not data.
pub const SCRIPT_TAG: u8 = 0xC2;

/// A script record's source. `Err`: one that does not decode; `Ok(None)`: another record.
pub fn script_of(payload: &[u8]) -> Result<Option<&[u8]>, codec::DecodeError> {
    let Some((&SCRIPT_TAG, rest)) = payload.split_first() else {
        return Ok(None);
    };
    let mut r = codec::Reader::new(rest);
    let source = r.bytes()?;
    r.finish()?;
    Ok(Some(source))
}

/// The correlation id a marker payload carries, or None when it is not a marker.
pub fn correlation_of(payload: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = payload.split_first()?;
    if tag != CORRELATION_TAG {
        return None;
    }
    let mut r = codec::Reader::new(rest);
    r.bytes().ok()
}

/// A replica this node streams to.
pub struct Peer {
    pub node_id: String,
    addr: RwLock<Option<SocketAddr>>,
    buf: Mutex<PeerBuf>,
    /// Logical offset acknowledged by the peer.
    pub acked: AtomicU64,
    pub acked_changed: tokio::sync::Notify,
    stopped: AtomicBool,
    /// Records were dropped (backlog too long): the peer needs anti-entropy.
    pub overflowed: AtomicBool,
    /// Times records were dropped.
    pub overflows: AtomicU64,
    /// `overflows + 1` as of the start of the last anti-entropy pass that completed with the
    /// peer (0 before one), and the peer's incarnation it ran against: while both are current,
    /// the stream carries every write this node holds that the peer may lack, and the peer may
    /// answer its misses locally (the read index).
    pub vouched: AtomicU64,
    pub vouched_for: AtomicU64,
    /// The peer asked with an incarnation this node has not synchronised with (it restarted):
    /// run anti-entropy with it soon.
    pub resync: AtomicBool,
    pub connected: AtomicBool,
    /// The logical offset of the last record queued (`buf.end`, readable without the lock).
    queued: AtomicU64,
    pub sent_records: AtomicU64,
    /// Bytes of record batches written to the peer (resends included).
    pub sent_bytes: AtomicU64,
    pub sent_batches: AtomicU64,
}

#[derive(Default)]
struct PeerBuf {
    bytes: Vec<u8>,
    records: u64,
    /// Logical offset at the end of `bytes`.
    end: u64,
    /// The atomic group under way in `bytes`: its number and where its begin marker is.
    /// Nothing from there on is sent until its end marker follows, so a batch never carries
    /// half a group.
    open: Option<(u64, usize)>,
    /// Records of `records` inside the open group.
    open_records: u64,
}

impl Peer {
    fn new(node_id: &str, addr: Option<SocketAddr>) -> Arc<Peer> {
        Arc::new(Peer {
            node_id: node_id.to_string(),
            addr: RwLock::new(addr),
            buf: Mutex::new(PeerBuf::default()),
            acked: AtomicU64::new(0),
            acked_changed: tokio::sync::Notify::new(),
            stopped: AtomicBool::new(false),
            overflowed: AtomicBool::new(false),
            overflows: AtomicU64::new(0),
            vouched: AtomicU64::new(0),
            vouched_for: AtomicU64::new(0),
            resync: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            queued: AtomicU64::new(0),
            sent_records: AtomicU64::new(0),
            sent_bytes: AtomicU64::new(0),
            sent_batches: AtomicU64::new(0),
        })
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        *self.addr.read()
    }

    /// Encodes one record (after its correlation marker, if it carries one) straight into the
    /// peer's buffer; returns the offset just past it. Each peer's copy is encoded on its own,
    /// which copies the value as often as copying one encoding would, with no buffer between.
    fn append(&self, m: &Mutation<'_>, group: u64) -> u64 {
        self.append_with(group, |bytes| {
            if let Some(id) = m.trace {
                codec::frame_unsealed(bytes, |p| {
                    p.push(CORRELATION_TAG);
                    codec::put_bytes(p, id.as_bytes());
                });
            }
            codec::encode_mutation_unsealed(bytes, m);
        })
    }

    /// Appends one record written by `write` (in atomic group `group`, 0 for none); returns
    /// the offset just past it.
    fn append_with(&self, group: u64, write: impl FnOnce(&mut Vec<u8>)) -> u64 {
        let mut b = self.buf.lock();
        if b.bytes.len() > MAX_BACKLOG {
            self.overflows.fetch_add(1, Ordering::AcqRel);
            if !self.overflowed.swap(true, Ordering::Relaxed) {
                tracing::warn!(component = "replication", action = "overflow", peer = %self.node_id, "peer is too far behind; dropping its backlog, anti-entropy will repair it");
            }
            b.bytes.clear();
            b.records = 0;
            b.open = None;
            b.open_records = 0;
        }
        let before = b.bytes.len();
        if group != 0 && b.open.map(|o| o.0) != Some(group) {
            b.open = Some((group, before));
            b.open_records = 0;
            codec::encode_marker_unsealed(&mut b.bytes, codec::Marker::Begin);
        }
        if b.open.is_some() {
            b.open_records += 1;
        }
        write(&mut b.bytes);
        b.records += 1;
        b.end += (b.bytes.len() - before) as u64;
        self.queued.store(b.end, Ordering::Release);
        b.end
    }

    /// The logical offset of the last record queued; a write's record is covered by the
    /// acknowledgement of any offset read after it was published.
    #[inline]
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Acquire)
    }

    /// Closes group `group` in this peer's buffer, if it has records of it.
    fn end_group(&self, group: u64) {
        let mut b = self.buf.lock();
        if b.open.map(|o| o.0) != Some(group) {
            return;
        }
        b.open = None;
        b.open_records = 0;
        let before = b.bytes.len();
        codec::encode_marker_unsealed(&mut b.bytes, codec::Marker::End);
        b.end += (b.bytes.len() - before) as u64;
        self.queued.store(b.end, Ordering::Release);
    }

    /// Takes what may be sent: everything buffered, but an open group's records stay until
    /// it ends. Returns the offset just past what was taken and its record count.
    fn take(&self, into: &mut Vec<u8>) -> (u64, u64) {
        let mut b = self.buf.lock();
        into.clear();
        match b.open {
            None => {
                std::mem::swap(into, &mut b.bytes);
                let n = b.records;
                b.records = 0;
                (b.end, n)
            }
            Some((group, at)) => {
                into.extend_from_slice(&b.bytes[..at]);
                b.bytes.drain(..at);
                b.open = Some((group, 0));
                let n = b.records - b.open_records;
                b.records = b.open_records;
                (b.end - b.bytes.len() as u64, n)
            }
        }
    }

    /// Whether the stream vouches for everything this node holds that the peer — in its
    /// incarnation `incarnation` — may lack.
    pub fn vouches(&self, incarnation: u64) -> bool {
        self.vouched.load(Ordering::Acquire) == self.overflows.load(Ordering::Acquire) + 1
            && self.vouched_for.load(Ordering::Acquire) == incarnation
    }

    /// Records a completed anti-entropy pass, begun at `overflows`, with the peer's
    /// `incarnation`.
    pub fn vouch(&self, overflows: u64, incarnation: u64) {
        self.vouched_for.store(incarnation, Ordering::Release);
        self.vouched.store(overflows + 1, Ordering::Release);
    }

    /// Bytes waiting to be sent (queue depth).
    pub fn backlog(&self) -> usize {
        self.buf.lock().bytes.len()
    }
}

/// The replication sink and the set of peers.
pub struct Replicator {
    pub self_id: String,
    /// This process's incarnation: stream offsets restart with it, so a peer tells offsets of
    /// different runs apart.
    pub incarnation: u64,
    /// This node's identity towards peers (the handshake every peer connection opens with).
    pub auth: Arc<super::auth::PeerAuth>,
    rf: Option<usize>,
    peers: RwLock<HashMap<String, Arc<Peer>>>,
    /// `peers.len()`, kept beside it so that every write and command of a node without
    /// peers can skip the lock (changed only under the write lock).
    peer_count: AtomicUsize,
    ring: RwLock<Arc<Ring>>,
    blocked: RwLock<HashSet<String>>,
    /// Named stores with a replication factor of their own (store id → factor).
    store_rf: RwLock<HashMap<u32, usize>>,
    /// The atomic group under way (0: none), numbered from `groups`.
    group: AtomicU64,
    groups: AtomicU64,
}

impl Replicator {
    pub fn new(
        self_id: &str,
        rf: Option<usize>,
        auth: Arc<super::auth::PeerAuth>,
    ) -> Arc<Replicator> {
        Arc::new(Replicator {
            self_id: self_id.to_string(),
            incarnation: fastrand::u64(1..u64::MAX >> 1),
            auth,
            rf,
            peers: RwLock::new(HashMap::new()),
            peer_count: AtomicUsize::new(0),
            ring: RwLock::new(Arc::new(Ring::new(vec![self_id.to_string()]))),
            blocked: RwLock::new(HashSet::new()),
            store_rf: RwLock::new(HashMap::new()),
            group: AtomicU64::new(0),
            groups: AtomicU64::new(0),
        })
    }

    pub fn ring(&self) -> Arc<Ring> {
        self.ring.read().clone()
    }

    pub fn set_ring(&self, ring: Ring) {
        *self.ring.write() = Arc::new(ring);
    }

    /// The replication factor configured (None = every node).
    pub fn rf_configured(&self) -> Option<usize> {
        self.rf
    }

    /// The effective replication factor for the current ring.
    pub fn rf(&self) -> usize {
        let n = self.ring.read().len().max(1);
        self.rf.map_or(n, |r| r.min(n))
    }

    /// The replication factor configured for `db`'s store (its own, else the cluster's).
    #[inline]
    fn rf_configured_for(&self, db: u32) -> Option<usize> {
        if db & crate::store::NAMED != 0
            && let Some(r) = self.store_rf.read().get(&db)
        {
            return Some(*r);
        }
        self.rf
    }

    /// The effective replication factor of `db`'s store for the current ring.
    pub fn rf_for(&self, db: u32) -> usize {
        let n = self.ring.read().len().max(1);
        self.rf_configured_for(db).map_or(n, |r| r.min(n))
    }

    pub fn peers(&self) -> Vec<Arc<Peer>> {
        self.peers.read().values().cloned().collect()
    }

    pub fn peer(&self, id: &str) -> Option<Arc<Peer>> {
        self.peers.read().get(id).cloned()
    }

    /// Peers known (live members other than this node).
    #[inline]
    pub fn peer_count(&self) -> usize {
        self.peer_count.load(Ordering::Acquire)
    }

    #[inline]
    pub fn has_peers(&self) -> bool {
        self.peer_count.load(Ordering::Acquire) != 0
    }

    /// Adds a peer (returns it and whether it is new) or updates its address.
    pub fn upsert_peer(&self, id: &str, addr: Option<SocketAddr>) -> (Arc<Peer>, bool) {
        if let Some(p) = self.peers.read().get(id) {
            *p.addr.write() = addr;
            return (p.clone(), false);
        }
        let p = Peer::new(id, addr);
        let mut peers = self.peers.write();
        if let Some(q) = peers.get(id) {
            // Added by another caller between the two locks.
            *q.addr.write() = addr;
            return (q.clone(), false);
        }
        peers.insert(id.to_string(), p.clone());
        self.peer_count.store(peers.len(), Ordering::Release);
        (p, true)
    }

    pub fn remove_peer(&self, id: &str) {
        let mut peers = self.peers.write();
        if let Some(p) = peers.remove(id) {
            p.stopped.store(true, Ordering::Relaxed);
        }
        self.peer_count.store(peers.len(), Ordering::Release);
    }

    /// The other replicas of `key` of `db` (all peers under full replication).
    pub fn targets_for(&self, db: u32, key: &[u8]) -> Vec<Arc<Peer>> {
        let rf = self.rf_configured_for(db).unwrap_or(usize::MAX);
        let peers = self.peers.read();
        let ring = self.ring.read();
        if rf >= ring.len() {
            return peers.values().cloned().collect();
        }
        ring.replicas(key, rf)
            .into_iter()
            .filter(|n| *n != self.self_id)
            .filter_map(|n| peers.get(n).cloned())
            .collect()
    }

    /// Whether this node holds a replica of `key` of `db`.
    pub fn holds(&self, db: u32, key: &[u8]) -> bool {
        let rf = self.rf_configured_for(db).unwrap_or(usize::MAX);
        let ring = self.ring.read();
        ring.holds(&self.self_id, key, rf)
    }

    /// Fault injection: stop exchanging data with these nodes (empty heals).
    pub fn set_blocked(&self, ids: &[String]) {
        *self.blocked.write() = ids.iter().cloned().collect();
    }

    pub fn is_blocked(&self, id: &str) -> bool {
        let b = self.blocked.read();
        !b.is_empty() && b.contains(id)
    }

    /// Withdraws this node's word to every peer (the read index): it may now hold writes their
    /// streams from elsewhere will not bring — of a node that left, or that it received from a
    /// node outside its ring. Each peer gets it back after the next anti-entropy pass, which
    /// `resync` runs within a second.
    pub fn unvouch_all(&self) {
        for p in self.peers.read().values() {
            p.vouched.store(0, Ordering::Release);
            p.resync.store(true, Ordering::Relaxed);
        }
    }

    /// Sends a pub/sub message to every peer, in the stream's order: it arrives after the
    /// writes made before it.
    pub fn publish_message(&self, channel: &[u8], message: &[u8], shard: bool) {
        if !self.has_peers() {
            return;
        }
        let group = self.group.load(Ordering::Relaxed);
        for p in self.peers() {
            p.append_with(group, |bytes| {
                codec::frame_unsealed(bytes, |p| {
                    p.push(MESSAGE_TAG);
                    p.push(shard as u8);
                    codec::put_bytes(p, channel);
                    codec::put_bytes(p, message);
                })
            });
        }
    }

    /// Sends a script's source to every peer's script cache (SCRIPT LOAD, a new EVAL).
    pub fn publish_script(&self, source: &[u8]) {
        if !self.has_peers() {
            return;
        }
        for p in self.peers() {
            p.append_with(0, |bytes| {
                codec::frame_unsealed(bytes, |p| {
                    p.push(SCRIPT_TAG);
                    codec::put_bytes(p, source);
                })
            });
        }
    }

    /// Queues an already-stamped record for one peer (anti-entropy pushes).
    pub fn send_to(&self, peer: &Peer, m: &Mutation<'_>) {
        peer.append(m, 0);
    }
}

impl MutationSink for Replicator {
    fn store_configured(&self, db: u32, spec: &crate::config::StoreConfig) {
        let mut map = self.store_rf.write();
        match spec.replication_factor {
            Some(r) if db & crate::store::NAMED != 0 => {
                map.insert(db, r as usize);
            }
            _ => {
                map.remove(&db);
            }
        }
    }

    fn publish(&self, m: &Mutation<'_>) {
        // Only this node's own writes travel; each replica expires keys on its own.
        if m.origin != Origin::Local || matches!(m.op, Op::Expired { .. }) {
            return;
        }
        if !self.has_peers() {
            return;
        }
        let targets = {
            let peers = self.peers.read();
            if peers.is_empty() {
                return;
            }
            match m.op.key() {
                Some(k) if self.rf_configured_for(m.db).is_some() => {
                    drop(peers);
                    self.targets_for(m.db, k)
                }
                _ => peers.values().cloned().collect::<Vec<_>>(),
            }
        };
        let group = self.group.load(Ordering::Relaxed);
        for p in targets {
            p.append(m, group);
        }
    }

    fn group_begin(&self) {
        let n = self.groups.fetch_add(1, Ordering::Relaxed) + 1;
        self.group.store(n, Ordering::Relaxed);
    }

    fn group_end(&self) {
        let n = self.group.swap(0, Ordering::Relaxed);
        if n != 0 && self.has_peers() {
            for p in self.peers() {
                p.end_group(n);
            }
        }
    }
}

/// `HCREPL <from> <end> <sent_ms> <records> <incarnation>`: a batch of records ending at
/// stream offset `end` (an empty one only tells the peer where the stream stands).
fn hcrepl_frame(out: &mut Vec<u8>, repl: &Replicator, end: u64, records: &[u8]) {
    let (end, sent) = (end.to_string(), crate::util::time::now_ms().to_string());
    let incarnation = repl.incarnation.to_string();
    peer_conn::encode_command(
        out,
        &[
            b"HCREPL",
            repl.self_id.as_bytes(),
            end.as_bytes(),
            sent.as_bytes(),
            records,
            incarnation.as_bytes(),
        ],
    );
}

/// Streams one peer's buffer to it until the peer leaves the cluster.
pub async fn sender(peer: Arc<Peer>, repl: Arc<Replicator>) {
    let mut inflight: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let mut batch = Vec::new();
    let mut backoff = Duration::from_millis(50);
    let mut last_error: Option<String> = None;
    let mut last_logged = std::time::Instant::now();
    // The end of the last batch taken from the buffer (all of it sent, or kept to resend).
    let mut last_end = 0u64;
    while !peer.stopped.load(Ordering::Relaxed) {
        let addr = match peer.addr() {
            Some(a) if !repl.is_blocked(&peer.node_id) => a,
            _ => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let conn = match PeerConn::connect(addr, Duration::from_secs(1), &repl.auth).await {
            Ok(c) => c,
            Err(e) => {
                // Once per cause (and once a minute while it lasts), not once per attempt.
                let why = e.to_string();
                if last_error.as_deref() != Some(why.as_str())
                    || last_logged.elapsed() >= Duration::from_secs(60)
                {
                    tracing::warn!(component = "replication", action = "connect", peer = %peer.node_id, addr = %addr, error = %why, "cannot open the replication stream; retrying");
                    last_error = Some(why);
                    last_logged = std::time::Instant::now();
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        last_error = None;
        let (mut w, mut replies) = conn.split();
        // Acknowledgements arrive on their own task: reading must not be cancelled mid-reply.
        let acker = {
            let peer = peer.clone();
            tokio::spawn(async move {
                loop {
                    match replies.next_line().await {
                        Ok(Reply::Int(n)) if n >= 0 => {
                            peer.acked.fetch_max(n as u64, Ordering::AcqRel);
                            peer.acked_changed.notify_waiters();
                        }
                        _ => return,
                    }
                }
            })
        };
        peer.connected.store(true, Ordering::Relaxed);
        tracing::info!(component = "replication", action = "connect", peer = %peer.node_id, addr = %addr, resend = inflight.len(), "replication stream connected");
        let mut ok = true;
        for (_, frame) in &inflight {
            if w.send(frame).await.is_err() {
                ok = false;
                break;
            }
        }
        // An empty batch ending where the last one taken ended: the peer learns how far it has
        // the stream of this incarnation even when no write follows (the read index needs it).
        if ok {
            let mut frame = Vec::new();
            hcrepl_frame(&mut frame, &repl, last_end, b"");
            ok = w.send(&frame).await.is_ok();
        }
        while ok
            && !peer.stopped.load(Ordering::Relaxed)
            && !repl.is_blocked(&peer.node_id)
            && !acker.is_finished()
        {
            tokio::time::sleep(DRAIN_EVERY).await;
            let acked = peer.acked.load(Ordering::Acquire);
            while inflight.front().is_some_and(|(end, _)| *end <= acked) {
                inflight.pop_front();
            }
            let (end, records) = peer.take(&mut batch);
            if records == 0 {
                continue;
            }
            last_end = end;
            codec::seal(&mut batch);
            let mut frame = Vec::with_capacity(batch.len() + 96);
            hcrepl_frame(&mut frame, &repl, end, &batch);
            if w.send(&frame).await.is_err() {
                ok = false;
            }
            peer.sent_bytes
                .fetch_add(frame.len() as u64, Ordering::Relaxed);
            inflight.push_back((end, frame));
            peer.sent_records.fetch_add(records, Ordering::Relaxed);
            peer.sent_batches.fetch_add(1, Ordering::Relaxed);
            // Bound what we keep for resending, as the publish side bounds its buffer.
            let kept: usize = inflight.iter().map(|(_, f)| f.len()).sum();
            if kept > MAX_BACKLOG {
                inflight.clear();
                peer.overflows.fetch_add(1, Ordering::AcqRel);
                peer.overflowed.store(true, Ordering::Relaxed);
            }
        }
        acker.abort();
        peer.connected.store(false, Ordering::Relaxed);
        if !peer.stopped.load(Ordering::Relaxed) {
            tracing::warn!(component = "replication", action = "disconnect", peer = %peer.node_id, pending = inflight.len(), "replication stream lost; reconnecting");
            tokio::time::sleep(backoff).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ValueRef;

    fn record(n: u64) -> Mutation<'static> {
        Mutation {
            db: 0,
            stamp: crate::store::stamp::Stamp {
                lamport: n,
                node: 1,
            },
            origin: Origin::Local,
            trace: None,
            op: Op::Set {
                key: b"k",
                value: ValueRef::Int(n as i64),
                expire_at: 0,
            },
        }
    }

    /// What a batch holds: mutation stamps and markers.
    fn read(batch: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut b = batch.to_vec();
        codec::seal(&mut b);
        let mut at = 0;
        while at < b.len() {
            let (p, used) = codec::unframe(&b[at..]).unwrap();
            out.push(match codec::marker_of(p) {
                Some(m) => format!("{m:?}"),
                None => codec::decode_mutation(p, Origin::Peer)
                    .unwrap()
                    .stamp
                    .lamport
                    .to_string(),
            });
            at += used;
        }
        out
    }

    #[test]
    fn a_batch_never_carries_half_a_group() {
        let p = Peer::new("n2", None);
        let mut batch = Vec::new();
        p.append(&record(1), 0);
        p.append(&record(2), 7);
        p.append(&record(3), 7);
        // The group is open: only what came before it may go.
        let (end, n) = p.take(&mut batch);
        assert_eq!((read(&batch), n), (vec!["1".to_string()], 1));
        assert_eq!(end, p.queued() - p.backlog() as u64);
        p.append(&record(4), 7);
        p.end_group(7);
        p.append(&record(5), 0);
        let (end, n) = p.take(&mut batch);
        assert_eq!(read(&batch), ["Begin", "2", "3", "4", "End", "5"]);
        assert_eq!((end, n), (p.queued(), 4));
        // Another group's end does not close this one.
        p.append(&record(6), 8);
        p.end_group(7);
        p.take(&mut batch);
        assert!(batch.is_empty());
    }
}
