//! MULTI, EXEC, DISCARD, WATCH, UNWATCH. Between MULTI and EXEC a client's commands are
//! checked and queued (`dispatch` answers `+QUEUED`); EXEC runs them with the node's gate
//! closed (`util::gate`), so no other command — another client's, a replicated write — runs
//! between them. WATCH remembers each key's version (the stamp of its last write, or its
//! absence); EXEC answers a null array when any of them moved.

use super::{Ctx, OwnerRoute, execute_queued, is, owner_route, table};
use crate::client::Transaction;
use crate::error::{Error, Result};
use crate::resp::Args;
use crate::store::Access;

/// Commands that act on the transaction itself instead of being queued.
pub fn controls(name: &[u8]) -> bool {
    ["exec", "discard", "multi", "watch", "quit", "reset"]
        .iter()
        .any(|c| is(name, c))
}

pub fn multi(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    if cx.client.multi.is_some() {
        return Err(Error::msg("MULTI calls can not be nested"));
    }
    cx.client.multi = Some(Transaction::default());
    cx.out.ok();
    Ok(())
}

pub fn discard(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    if cx.client.multi.take().is_none() {
        return Err(Error::msg("DISCARD without MULTI"));
    }
    cx.client.watched.clear();
    cx.out.ok();
    Ok(())
}

pub fn watch(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if cx.client.multi.is_some() {
        return Err(Error::msg("WATCH inside MULTI is not allowed"));
    }
    let db = cx.client.db;
    // A key watched twice keeps the version it had the first time, as in Redis.
    let mut new: Vec<(u32, Box<[u8]>)> = args
        .iter()
        .skip(1)
        .map(|k| (db, k.into()))
        .filter(|k| !cx.client.watched.contains_key(k))
        .collect();
    new.sort_unstable();
    new.dedup();
    // Refused whole rather than watching some: a key silently not watched would let an EXEC
    // through that must fail.
    if cx.client.watched.len() + new.len() > MAX_WATCHED {
        return Err(Error::msg(format!(
            "too many watched keys (at most {MAX_WATCHED} per client)"
        )));
    }
    for key in new {
        let version = version(cx, db, &key.1);
        cx.client.watched.insert(key, version);
    }
    cx.out.ok();
    Ok(())
}

/// Keys one client may watch at once: each costs its bytes until EXEC, DISCARD or UNWATCH.
pub const MAX_WATCHED: usize = 100_000;

pub fn unwatch(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.client.watched.clear();
    cx.out.ok();
    Ok(())
}

/// What a watched key is now: the stamp of its last write, or none (absent or expired).
fn version(cx: &Ctx<'_>, db: u32, key: &[u8]) -> Option<(u64, u64)> {
    cx.node.store.with_key(db, key, cx.now, Access::Peek, |r| {
        r.exists()
            .then(|| r.stamp().map_or((0, 0), |s| (s.lamport, s.node)))
    })
}

pub fn exec(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    // Only a client's own EXEC closes the gate: a forwarded one runs inside it already.
    if cx.client.forwarded {
        return Err(Error::msg("EXEC cannot be forwarded"));
    }
    let Some(tx) = cx.client.multi.take() else {
        return Err(Error::msg("EXEC without MULTI"));
    };
    let watched = std::mem::take(&mut cx.client.watched);
    if tx.failed {
        return Err(Error::coded(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    placed_here(cx, &tx)?;
    let node = cx.node;
    node.store.gate.exclusive(|| {
        if watched
            .iter()
            .any(|((db, key), was)| version(cx, *db, key) != *was)
        {
            cx.out.null_array();
            return;
        }
        cx.out.array(tx.queued.len());
        // One atomic group of records for the AOF and the replicas.
        node.store.bus().group(|| {
            for queued in &tx.queued {
                execute_queued(cx, queued.args());
            }
        });
    });
    Ok(())
}

/// In a cluster, a transaction's keys must all have one owner, and it must be this node:
/// otherwise its commands would change values another node orders (an INCR here racing the
/// owner's). Keys of several owners get Redis Cluster's CROSSSLOT; a transaction owned by
/// another node is refused with where to send it (forwarding it whole is still to come).
fn placed_here(cx: &Ctx<'_>, tx: &Transaction) -> Result<()> {
    if !cx.node.cluster.has_peers() {
        return Ok(());
    }
    #[derive(PartialEq)]
    enum Place {
        Here,
        Peer(Option<std::net::SocketAddr>),
    }
    let mut owner: Option<Place> = None;
    for queued in &tx.queued {
        let args = queued.args();
        let Some(cmd) = table::lookup(&args[0]) else {
            continue;
        };
        let idx = cmd.key_indexes(&args);
        if idx.is_empty() {
            continue;
        }
        let place = match owner_route(cx.node, cx.client.db, &args, &idx) {
            OwnerRoute::Here => Place::Here,
            OwnerRoute::Peer(addr) => Place::Peer(addr),
            OwnerRoute::Split => return Err(cross_slot()),
        };
        match &owner {
            Some(o) if *o != place => return Err(cross_slot()),
            _ => owner = Some(place),
        }
    }
    match owner {
        Some(Place::Peer(addr)) => Err(Error::coded(format!(
            "TRYAGAIN the keys of this transaction are owned by {}: run it there",
            addr.map_or("another node".to_string(), |a| a.to_string())
        ))),
        _ => Ok(()),
    }
}

fn cross_slot() -> Error {
    Error::coded("CROSSSLOT Keys in request don't hash to the same slot")
}
