//! Internal commands peers use on each other's RESP port (replication stream, read-repair,
//! anti-entropy), and the fault-injection switch for partition tests.

use std::sync::atomic::Ordering;

use super::{Ctx, int_arg};
use crate::cluster::replication;
use crate::error::{Error, Result};
use crate::persist::codec;
use crate::resp::Args;
use crate::store::digest::{RANGES, RangeSet};
use crate::store::mutation::Origin;
use crate::store::stamp::nodes;
use crate::store::{Access, Applied};

fn db_arg(cx: &Ctx<'_>, a: &[u8]) -> Result<u32> {
    let db = int_arg(a)?;
    // A named store's database, when this node has the store.
    if (0..=u32::MAX as i64).contains(&db)
        && db as u32 & crate::store::NAMED != 0
        && cx.node.store.find(db as u32).is_some()
    {
        return Ok(db as u32);
    }
    if db < 0 || db as usize >= cx.node.store.databases() {
        return Err(Error::DbIndexOutOfRange);
    }
    Ok(db as u32)
}

/// HCHELLO <node> <nonce>: the first step of the peer handshake (see `cluster::auth`).
pub fn hchello(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let auth = &cx.node.cluster.replicator.auth;
    let Some((challenge, proof)) = auth.challenge(&args[1], &args[2]) else {
        return Err(Error::msg("malformed HCHELLO"));
    };
    cx.out.array(3);
    cx.out.bulk(auth.node_id.as_bytes());
    cx.out
        .bulk(crate::util::hex::hex(challenge.nonce()).as_bytes());
    cx.out.bulk(crate::util::hex::hex(&proof).as_bytes());
    cx.client.challenge = Some(challenge);
    Ok(())
}

/// HCAUTH <proof>: completes the handshake; the connection then belongs to that peer. A
/// wrong proof is logged, counted and closes the connection.
pub fn hcauth(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let auth = &cx.node.cluster.replicator.auth;
    let Some(challenge) = cx.client.challenge.take() else {
        return Err(Error::msg("HCAUTH without HCHELLO"));
    };
    if !auth.verify_client(&challenge, &args[1]) {
        cx.node.stats.auth_failed(crate::node::AuthFailure::Peer);
        tracing::warn!(component = "cluster", action = "peer_auth", client = cx.client.id, addr = %cx.client.info.addr, claimed = %challenge.peer, "a connection failed the peer handshake (wrong cluster secret)");
        cx.client.close_after_reply = true;
        return Err(Error::coded(
            "NOPERM the proof does not match this cluster's secret",
        ));
    }
    cx.client.peer = Some(challenge.peer);
    cx.client.authenticated = true;
    cx.out.ok();
    Ok(())
}

/// Applies one record of a peer's stream (checked first; a bad one is refused, logged and
/// counted); true when it changed the key.
fn apply_record(
    node: &crate::node::Node,
    from: &str,
    m: &crate::store::mutation::Mutation<'_>,
    now: u64,
    trace: Option<&str>,
) -> bool {
    let stats = &node.cluster.stats;
    let applied = node
        .cluster
        .admit(&node.store, m, from)
        .and_then(|()| node.store.apply_remote(m, now).map_err(|e| e.to_string()));
    let applied = match applied {
        Ok(a) => a,
        Err(why) => {
            node.cluster.refused(from, m.op.name(), &why);
            return false;
        }
    };
    match applied {
        Applied::Yes => {
            stats.applied_remote.fetch_add(1, Ordering::Relaxed);
        }
        Applied::Stale => {
            stats.stale_rejected.fetch_add(1, Ordering::Relaxed);
        }
        // This node missed an earlier write of the key: fetch its full value.
        Applied::Behind => {
            stats.deltas_behind.fetch_add(1, Ordering::Relaxed);
            // (Commands also run outside a runtime: tools, tests; there, no repair.)
            if let (Some(node), Some(key), Ok(rt)) = (
                node.arc(),
                m.op.key(),
                tokio::runtime::Handle::try_current(),
            ) {
                let (db, key) = (m.db, key.to_vec());
                rt.spawn(async move {
                    node.cluster.repair(&node.store, db, &key).await;
                });
            }
        }
    }
    let applied = applied == Applied::Yes;
    // Writes made over HTTP carry their request's correlation id to every replica.
    if let Some(id) = trace {
        let key = m.op.key().map(String::from_utf8_lossy).unwrap_or_default();
        tracing::info!(
            component = "replication",
            action = "apply",
            correlation_id = %id,
            from = %from,
            key = %key,
            applied,
            "replicated write applied"
        );
    }
    applied
}

/// HCREPL <from> <end> <sent_ms> <records> [<incarnation>]: applies a batch of a peer's
/// mutations (last writer wins), notes how far this node applied the peer's stream (the read
/// index) and acknowledges `end`. Every record is checked before it is applied; a bad
/// one is refused, logged and counted, and the rest of the batch goes on.
pub fn hcrepl(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let from = String::from_utf8_lossy(&args[1]).into_owned();
    if cx.client.peer.as_deref() != Some(from.as_str()) {
        return Err(Error::msg(
            "HCREPL names another node than the connection's",
        ));
    }
    if cx.node.cluster.replicator.is_blocked(&from) {
        return Err(Error::msg("partitioned from this peer (fault injection)"));
    }
    if args.len() > 6 {
        return Err(Error::Arity("hcrepl".into()));
    }
    let end = int_arg(&args[2])?;
    let sent = int_arg(&args[3])?.max(0) as u64;
    let incarnation = match args.get(5) {
        Some(a) => int_arg(a)?.max(0) as u64,
        None => 0,
    };
    let mut buf: &[u8] = &args[4];
    let stats = &cx.node.cluster.stats;
    let node = cx.node;
    let now = cx.now;
    let bad = |e: codec::DecodeError| Error::msg(format!("bad replication record: {e}"));
    let mut correlation: Option<String> = None;
    let mut any_applied = false;
    // A transaction's records, held until its end marker: then applied at once, with every
    // command of this node kept out (the gate, exclusive), so no reader sees half of it.
    let mut group: Option<Vec<(&[u8], Option<String>)>> = None;
    // A batch sent again after a reconnect carries messages this node delivered already;
    // writes are idempotent, deliveries are not.
    let fresh = end.max(0) as u64 > cx.node.cluster.index.applied(&from, incarnation);
    let deliver = |channel: &[u8], message: &[u8], shard: bool| {
        if fresh {
            node.deliver_message(channel, message, shard);
        }
    };
    let apply_group = |records: Vec<(&[u8], Option<String>)>| -> Result<bool> {
        // Checked whole before any of it is applied.
        for (payload, _) in &records {
            if replication::message_of(payload).map_err(bad)?.is_none()
                && replication::script_of(payload).map_err(bad)?.is_none()
            {
                codec::decode_mutation_with(payload, Origin::Peer, |_| ()).map_err(bad)?;
            }
        }
        Ok(node.store.gate.exclusive(|| {
            let mut applied = false;
            for (payload, trace) in &records {
                if let Ok(Some((channel, message, shard))) = replication::message_of(payload) {
                    deliver(channel, message, shard);
                    continue;
                }
                if let Ok(Some(source)) = replication::script_of(payload) {
                    let _ = node.scripts.learn(source);
                    continue;
                }
                applied |= codec::decode_mutation_with(payload, Origin::Peer, |m| {
                    apply_record(node, &from, m, now, trace.as_deref())
                })
                .unwrap_or(false);
            }
            applied
        }))
    };
    while !buf.is_empty() {
        let (payload, used) = codec::unframe(buf).map_err(bad)?;
        buf = &buf[used..];
        if let Some(id) = replication::correlation_of(payload) {
            correlation = Some(String::from_utf8_lossy(id).into_owned());
            continue;
        }
        match codec::marker_of(payload) {
            Some(codec::Marker::Begin) => {
                if let Some(g) = group.replace(Vec::new()) {
                    any_applied |= apply_group(g)?;
                }
                continue;
            }
            Some(codec::Marker::End) => {
                if let Some(g) = group.take() {
                    any_applied |= apply_group(g)?;
                }
                continue;
            }
            None => {}
        }
        let trace = correlation.take();
        if let Some(g) = &mut group {
            g.push((payload, trace));
            continue;
        }
        if let Some((channel, message, shard)) = replication::message_of(payload).map_err(bad)? {
            deliver(channel, message, shard);
            continue;
        }
        if let Some(source) = replication::script_of(payload).map_err(bad)? {
            // A full cache refuses it here as SCRIPT LOAD would: EVALSHA then says NOSCRIPT.
            let _ = node.scripts.learn(source);
            continue;
        }
        let _inside = node.store.gate.enter();
        // Decoded in place: the record's key and value are read from the batch itself.
        let applied = codec::decode_mutation_with(payload, Origin::Peer, |m| {
            apply_record(node, &from, m, now, trace.as_deref())
        })
        .map_err(bad)?;
        any_applied |= applied;
    }
    // The sender never splits a group; one cut off all the same is applied as it is.
    if let Some(g) = group.take() {
        any_applied |= apply_group(g)?;
    }
    stats.record_lag(crate::util::time::now_ms().saturating_sub(sent));
    let cluster = &cx.node.cluster;
    if any_applied && cluster.replicator.peer(&from).is_none() {
        // Writes from a node outside this node's ring: the others may not get them from it.
        cluster.replicator.unvouch_all();
    }
    cluster
        .index
        .note_applied(&from, incarnation, end.max(0) as u64);
    cx.out.int(end);
    Ok(())
}

/// HCINDEX <asker> <asker-incarnation>: [incarnation, offset, ready] — this node's
/// incarnation, the offset of the last record it queued for `asker`, and whether its stream
/// vouches for everything it holds that this incarnation of `asker` may lack (the read index;
/// see `cluster::read_index`).
pub fn hcindex(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let asker = String::from_utf8_lossy(&args[1]);
    if cx.client.peer.as_deref() != Some(asker.as_ref()) {
        return Err(Error::msg(
            "HCINDEX names another node than the connection's",
        ));
    }
    let repl = &cx.node.cluster.replicator;
    if repl.is_blocked(&asker) {
        return Err(Error::msg("partitioned from this peer (fault injection)"));
    }
    let incarnation = int_arg(&args[2])?.max(0) as u64;
    let (offset, ready) = match repl.peer(&asker) {
        Some(p) => {
            let ready = p.vouches(incarnation);
            if !ready && p.vouched.load(Ordering::Acquire) != 0 {
                // It restarted since the last pass: compare with it again soon.
                p.resync.store(true, Ordering::Relaxed);
            }
            (p.queued(), ready)
        }
        None => (0, false),
    };
    cx.out.array(3);
    cx.out.int(repl.incarnation as i64);
    cx.out.int(offset.min(i64::MAX as u64) as i64);
    cx.out.int(ready as i64);
    Ok(())
}

/// HCGET <db> <key>: this node's version of a key — [lamport, node, expire_at, value] with a
/// null value for a tombstone — or null.
pub fn hcget(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let db = db_arg(cx, &args[1])?;
    match cx.node.store.version_of(db, &args[2], cx.now) {
        None => cx.out.null_array(),
        Some((stamp, expire_at, value)) => {
            cx.out.array(4);
            cx.out.int(stamp.lamport as i64);
            cx.out.int(stamp.node as i64);
            cx.out.int(expire_at as i64);
            match value {
                Some(v) => {
                    let mut b = Vec::new();
                    codec::put_value(&mut b, v.as_ref());
                    cx.out.bulk(&b);
                }
                None => cx.out.null(),
            }
        }
    }
    Ok(())
}

/// Whether this node and `peer` both hold `key` under the current ring.
fn shared_with(cx: &Ctx<'_>, peer: &str, db: u32, key: &[u8]) -> bool {
    let c = &cx.node.cluster;
    let ring = c.ring();
    let rf = c.replicator.rf_for(db);
    rf >= ring.len() || {
        let reps = ring.replicas(key, rf);
        reps.contains(&c.node_id.as_str()) && reps.contains(&peer)
    }
}

/// HCDIGEST <db> <peer> [<cut>]: per-range digests of the keys this node shares with `peer`,
/// leaving out versions stamped after the Lamport time `cut` when it is given.
pub fn hcdigest(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if args.len() > 4 {
        return Err(Error::Arity("hcdigest".into()));
    }
    let db = db_arg(cx, &args[1])?;
    let peer = String::from_utf8_lossy(&args[2]).into_owned();
    let cut = match args.get(3) {
        Some(a) => Some(u64::try_from(int_arg(a)?).map_err(|_| Error::msg("bad cut"))?),
        None => None,
    };
    let d = cx
        .node
        .store
        .digests(db, cx.now, cut, |k| shared_with(cx, &peer, db, k));
    cx.out.array(d.len());
    for x in d {
        cx.out.int(x as i64);
    }
    Ok(())
}

/// HCRANGE <db> <range> <peer> [<range> ...]: the keys of the given ranges with their stamps,
/// tombstones included, in one walk over the keys.
pub fn hcrange(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let db = db_arg(cx, &args[1])?;
    let mut ranges = RangeSet::default();
    for a in std::iter::once(&args[2]).chain(args.iter().skip(4)) {
        let range = int_arg(a)?;
        if range < 0 || range as usize >= RANGES {
            return Err(Error::msg("range out of bounds"));
        }
        ranges.insert(range as usize);
    }
    let peer = String::from_utf8_lossy(&args[3]).into_owned();
    let v = cx
        .node
        .store
        .range_versions(db, &ranges, cx.now, |k| shared_with(cx, &peer, db, k));
    cx.out.array(v.len());
    for (k, s, tomb) in v {
        cx.out.array(4);
        cx.out.bulk(&k);
        cx.out.int(s.lamport as i64);
        cx.out.int(s.node as i64);
        cx.out.int(tomb as i64);
    }
    Ok(())
}

/// HCSTAMP <db> <key>: the stamp of a key's current version (for tests and operators).
pub fn hcstamp(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let db = db_arg(cx, &args[1])?;
    let s = cx
        .node
        .store
        .with_key(db, &args[2], cx.now, Access::Peek, |k| k.stamp());
    match s {
        Some(s) => {
            cx.out.array(2);
            cx.out.int(s.lamport as i64);
            cx.out
                .bulk(nodes::name(s.node).unwrap_or_default().as_bytes());
        }
        None => cx.out.null_array(),
    }
    Ok(())
}
