//! Anti-entropy: two replicas compare per-range digests of what they both hold and exchange
//! only the keys of the ranges that differ — the newer version of each key wins, tombstones
//! included. Runs when a peer (re)joins (after a restart or a healed partition) and every
//! [`PERIOD`] as a safety net.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::peer_conn::{self, Reply};
use super::replication::Peer;
use super::{Cluster, Version};
use crate::store::Keyspace;
use crate::store::digest::RangeSet;
use crate::store::mutation::{Mutation, Op, Origin};
use crate::store::stamp::{Stamp, nodes};
use crate::util::time::now_ms;

pub const PERIOD: Duration = Duration::from_secs(30);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Digest ranges asked for in one HCRANGE (of 256).
const RANGES_PER_CALL: usize = 32;

/// Result of one pass.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pass {
    pub differing_ranges: usize,
    pub pulled: usize,
    pub pushed: usize,
}

/// Synchronises with `peer` until a pass finds nothing to exchange (or a few passes ran).
pub async fn sync_until_done(store: &Arc<Keyspace>, cluster: &Arc<Cluster>, peer: &Arc<Peer>) {
    for attempt in 0..10 {
        if peer_gone(cluster, peer) {
            return;
        }
        match sync_once(store, cluster, peer).await {
            Ok(p) => {
                cluster.stats.sync_rounds.fetch_add(1, Ordering::Relaxed);
                if p.differing_ranges > 0 {
                    tracing::info!(component = "cluster", action = "anti_entropy", peer = %peer.node_id, ranges = p.differing_ranges, pulled = p.pulled, pushed = p.pushed, "exchanged differing keys");
                }
                if p.differing_ranges == 0 {
                    peer.overflowed.store(false, Ordering::Relaxed);
                    return;
                }
                // Differences left only where the stream carries newer versions: under a
                // steady write load there always are some, and comparing again would walk
                // every key on both nodes for nothing.
                if p.pulled == 0 && p.pushed == 0 && !peer.overflowed.load(Ordering::Relaxed) {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(component = "cluster", action = "anti_entropy", peer = %peer.node_id, error = %e, attempt, "anti-entropy pass failed");
            }
        }
        // Let pushed records reach the peer before comparing again.
        tokio::time::sleep(Duration::from_millis(200 + 100 * attempt)).await;
    }
}

fn peer_gone(cluster: &Cluster, peer: &Peer) -> bool {
    cluster.replicator.peer(&peer.node_id).is_none()
}

/// Whether both this node and `peer` hold replicas of `key` of `db`.
fn shared(cluster: &Cluster, peer: &str, db: u32, key: &[u8]) -> bool {
    let ring = cluster.ring();
    let rf = cluster.replicator.rf_for(db);
    rf >= ring.len() || {
        let reps = ring.replicas(key, rf);
        reps.contains(&cluster.node_id.as_str()) && reps.contains(&peer)
    }
}

pub async fn sync_once(
    store: &Arc<Keyspace>,
    cluster: &Arc<Cluster>,
    peer: &Arc<Peer>,
) -> std::io::Result<Pass> {
    let Some(addr) = peer.addr() else {
        return Ok(Pass::default());
    };
    if cluster.replicator.is_blocked(&peer.node_id) {
        return Err(std::io::Error::other("partitioned"));
    }
    let mut pass = Pass::default();
    let overflows = peer.overflows.load(Ordering::Acquire);
    let cut = stream_cut(store, peer).await?;
    let mut conn =
        peer_conn::PeerConn::connect(addr, CALL_TIMEOUT, &cluster.replicator.auth).await?;
    let me = cluster.node_id.clone();
    // Which run of the peer this pass compares with: the stream vouches for that one only.
    let mine = cluster.replicator.incarnation.to_string();
    let r = timeout(conn.call(&[b"HCINDEX", me.as_bytes(), mine.as_bytes()])).await?;
    let theirs = super::read_index::Position::from_reply(&r)
        .ok_or_else(|| std::io::Error::other(format!("bad HCINDEX reply: {r:?}")))?
        .incarnation;
    // Store definitions first, through the stream, so the peer has somewhere to put the data.
    for (name, spec) in store.store_records() {
        cluster.replicator.send_to(
            peer,
            &crate::store::mutation::Mutation {
                db: 0,
                stamp: store.bus().next_stamp(),
                origin: crate::store::mutation::Origin::Local,
                trace: None,
                op: crate::store::mutation::Op::CreateStore {
                    name: name.as_bytes(),
                    spec: spec.as_bytes(),
                },
            },
        );
    }
    // FUNCTION's libraries with the stamp of their last change: the peer keeps the newer set.
    let (_, stamp, libraries) = store.libraries();
    if stamp != Default::default() {
        cluster.replicator.send_to(
            peer,
            &crate::store::mutation::Mutation {
                db: 0,
                stamp,
                origin: crate::store::mutation::Origin::Local,
                trace: None,
                op: crate::store::mutation::Op::Functions {
                    libraries: &libraries,
                },
            },
        );
    }
    let named: Vec<u32> = store
        .stores()
        .iter()
        .skip(1)
        .map(|k| k.dbs()[0].index)
        .collect();
    let cut_s = cut.map(|c| c.to_string());
    for db in (0..store.databases() as u32).chain(named) {
        let now = now_ms();
        let peer_id = peer.node_id.clone();
        let include = |k: &[u8]| shared(cluster, &peer_id, db, k);
        let local = store.digests(db, now, cut, include);
        let db_s = db.to_string();
        let mut ask: Vec<&[u8]> = vec![b"HCDIGEST", db_s.as_bytes(), me.as_bytes()];
        if let Some(c) = &cut_s {
            ask.push(c.as_bytes());
        }
        let r = timeout(conn.call(&ask)).await?;
        let Some(remote) = r.array() else {
            // A store the peer has not created yet: the next pass compares it.
            if db & crate::store::NAMED != 0 {
                continue;
            }
            return Err(std::io::Error::other(format!("bad HCDIGEST reply: {r:?}")));
        };
        let differing: Vec<usize> = (0..local.len())
            .filter(|i| remote.get(*i).and_then(|x| x.int()).unwrap_or(0) as u64 != local[*i])
            .collect();
        pass.differing_ranges += differing.len();
        // A few ranges per call: one walk over the keys on each side serves them all, and a
        // reply holds a bounded share of the keys.
        for chunk in differing.chunks(RANGES_PER_CALL) {
            let mut ranges = RangeSet::default();
            let names: Vec<String> = chunk.iter().map(|r| r.to_string()).collect();
            let mut ask: Vec<&[u8]> = vec![b"HCRANGE", db_s.as_bytes(), names[0].as_bytes()];
            ask.push(me.as_bytes());
            for (r, n) in chunk.iter().zip(&names) {
                ranges.insert(*r);
                if *r != chunk[0] {
                    ask.push(n.as_bytes());
                }
            }
            let r = timeout(conn.call(&ask)).await?;
            let mut remote_versions: HashMap<Vec<u8>, Stamp> = HashMap::new();
            for item in r.array().unwrap_or(&[]) {
                let Some(a) = item.array() else { continue };
                if let (Some(k), Some(l), Some(n)) = (
                    a.first().and_then(|x| x.bytes()),
                    a.get(1).and_then(|x| x.int()),
                    a.get(2).and_then(|x| x.int()),
                ) {
                    remote_versions.insert(
                        k.to_vec(),
                        Stamp {
                            lamport: l as u64,
                            node: n as u64,
                        },
                    );
                }
            }
            let local_versions = store.range_versions(db, &ranges, now_ms(), include);
            let (pull, push_keys) = plan(&local_versions, &remote_versions, cut);
            for k in pull {
                let r = timeout(conn.call(&[b"HCGET", db_s.as_bytes(), k])).await?;
                if let Some(v) = version(&r)
                    && cluster.install(store, &v, db, k, now_ms(), &peer.node_id)
                {
                    pass.pulled += 1;
                }
            }
            for k in push_keys {
                if push(store, cluster, peer, db, k) {
                    pass.pushed += 1;
                }
            }
        }
    }
    // Everything this node held at the cut is at the peer or queued for it, and what came
    // later is in the stream: the stream now vouches for this node (unless it dropped records
    // since the pass began).
    peer.vouch(overflows, theirs);
    cluster
        .stats
        .sync_keys_pulled
        .fetch_add(pass.pulled as u64, Ordering::Relaxed);
    cluster
        .stats
        .sync_keys_pushed
        .fetch_add(pass.pushed as u64, Ordering::Relaxed);
    Ok(pass)
}

/// What a pass exchanges for a group of ranges: the keys to pull (the peer's version is
/// newer) and to push (this node's is). Versions stamped after `cut` are left to the streams
/// either way: pushing a whole value for a key a stream is changing by small splices would
/// multiply the bytes a write sends, and pulling what a stream is bringing would only make
/// the pass run again under a steady write load (the peer's own pass pushes it, should the
/// stream fail).
fn plan<'a>(
    local: &'a [(Vec<u8>, Stamp, bool)],
    remote: &'a HashMap<Vec<u8>, Stamp>,
    cut: Option<u64>,
) -> (Vec<&'a [u8]>, Vec<&'a [u8]>) {
    let in_stream = |s: &Stamp| cut.is_some_and(|c| s.lamport > c);
    let mine: HashMap<&[u8], Stamp> = local.iter().map(|(k, s, _)| (k.as_slice(), *s)).collect();
    let pull = remote
        .iter()
        .filter(|(k, rs)| {
            !in_stream(rs)
                && mine
                    .get(k.as_slice())
                    .is_none_or(|ls| nodes::newer(**rs, *ls))
        })
        .map(|(k, _)| k.as_slice())
        .collect();
    let push = local
        .iter()
        .filter(|(k, ls, _)| {
            !in_stream(ls) && remote.get(k).is_none_or(|rs| nodes::newer(*ls, *rs))
        })
        .map(|(k, _, _)| k.as_slice())
        .collect();
    (pull, push)
}

/// The Lamport time up to which the stream has delivered what it carries: versions stamped
/// later were queued for the peer after this pass began and are the stream's to deliver (a
/// later pass pushes them if the stream fails — an overflow sets the flag that runs one).
/// `None` when the stream dropped records, so every newer version is pushed.
///
/// First waits for the peer to acknowledge what is queued, so versions written just before
/// the pass are not pushed a second time either. A stream that cannot catch up within
/// [`CALL_TIMEOUT`] fails the pass: pushing whole values onto a stream that is behind would
/// only put it further behind; a later pass compares again.
async fn stream_cut(store: &Keyspace, peer: &Peer) -> std::io::Result<Option<u64>> {
    if peer.overflowed.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let cut = store.bus().clock().now();
    let queued = peer.queued();
    let caught_up = tokio::time::timeout(CALL_TIMEOUT, async {
        loop {
            let changed = peer.acked_changed.notified();
            if peer.acked.load(Ordering::Acquire) >= queued {
                return;
            }
            changed.await;
        }
    })
    .await;
    if peer.overflowed.load(Ordering::Relaxed) {
        return Ok(None);
    }
    match caught_up {
        Ok(()) => Ok(Some(cut)),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the replication stream to the peer is behind",
        )),
    }
}

async fn timeout<T>(
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(CALL_TIMEOUT, f)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "peer call timed out"))?
}

fn version(r: &Reply) -> Option<Version> {
    Version::from_reply(r)
}

/// Queues this node's version of `key` (value or tombstone, with its stamp) for `peer`.
fn push(store: &Keyspace, cluster: &Cluster, peer: &Peer, db: u32, key: &[u8]) -> bool {
    let Some((stamp, expire_at, value)) = store.version_of(db, key, now_ms()) else {
        return false;
    };
    let op = match &value {
        Some(v) => Op::Set {
            key,
            value: v.as_ref(),
            expire_at,
        },
        None => Op::Del { key },
    };
    cluster.replicator.send_to(
        peer,
        &Mutation {
            db,
            stamp,
            origin: Origin::Local,
            trace: None,
            op,
        },
    );
    true
}

/// Keeps every peer in step every [`PERIOD`], and repairs peers that overflowed sooner.
pub async fn periodic(store: Arc<Keyspace>, cluster: Arc<Cluster>) {
    let mut since = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let due = since.elapsed() >= PERIOD;
        for p in cluster.replicator.peers() {
            if due
                || p.overflowed.load(Ordering::Relaxed)
                || p.resync.swap(false, Ordering::Relaxed)
            {
                sync_until_done(&store, &cluster, &p).await;
            }
        }
        if due {
            since = std::time::Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<&[u8]>) -> Vec<&[u8]> {
        v.sort();
        v
    }

    fn st(lamport: u64) -> Stamp {
        Stamp { lamport, node: 1 }
    }

    #[test]
    fn a_pass_exchanges_only_what_the_streams_do_not_carry() {
        let local = vec![
            (b"same".to_vec(), st(5), false),
            (b"mine-newer".to_vec(), st(8), false),
            (b"theirs-newer".to_vec(), st(3), false),
            (b"only-mine".to_vec(), st(4), false),
            (b"mine-in-stream".to_vec(), st(12), false),
            (b"theirs-in-stream".to_vec(), st(6), false),
        ];
        let remote: HashMap<Vec<u8>, Stamp> = [
            (b"same".to_vec(), st(5)),
            (b"mine-newer".to_vec(), st(7)),
            (b"theirs-newer".to_vec(), st(9)),
            (b"only-theirs".to_vec(), st(2)),
            (b"mine-in-stream".to_vec(), st(1)),
            (b"theirs-in-stream".to_vec(), st(11)),
            (b"only-theirs-in-stream".to_vec(), st(15)),
        ]
        .into_iter()
        .collect();
        let (pull, push) = plan(&local, &remote, Some(10));
        assert_eq!(sorted(pull), vec![&b"only-theirs"[..], b"theirs-newer"]);
        assert_eq!(sorted(push), vec![&b"mine-newer"[..], b"only-mine"]);
        // A stream that dropped records (no cut) carries nothing for sure: all of it moves.
        let (pull, push) = plan(&local, &remote, None);
        assert_eq!(
            sorted(pull),
            vec![
                &b"only-theirs"[..],
                b"only-theirs-in-stream",
                b"theirs-in-stream",
                b"theirs-newer"
            ]
        );
        assert_eq!(
            sorted(push),
            vec![&b"mine-in-stream"[..], b"mine-newer", b"only-mine"]
        );
    }
}
