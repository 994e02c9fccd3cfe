//! MULTI, EXEC, DISCARD, WATCH, UNWATCH. Between MULTI and EXEC a client's commands are
//! checked and queued (`dispatch` answers `+QUEUED`); EXEC runs them with the node's gate
//! closed (`util::gate`), so no other command — another client's, a replicated write — runs
//! between them. WATCH remembers each key's version (the stamp of its last write, or its
//! absence); EXEC answers a null array when any of them moved.
//!
//! In a cluster a transaction runs on the one node that owns all its keys. Sent to another
//! node, it travels there whole: EXEC becomes one `HCFWD … HCEXEC` carrying the queued
//! commands and the watched versions, which the owner checks against its own. WATCH of keys
//! another node owns asks that node for their versions (`HCVERSIONS`), so the transaction is
//! judged by the owner's versions, not by a replica's copy that may lag.

use super::{Ctx, execute_queued, is, owner_of, table};
use crate::client::{Action, Transaction, Watched};
use crate::error::{Error, Result};
use crate::resp::{Args, OwnedArgs};
use crate::store::Access;
use std::net::SocketAddr;

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
    cx.client.unwatch();
    cx.out.ok();
    Ok(())
}

pub fn watch(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if cx.client.multi.is_some() {
        return Err(Error::msg("WATCH inside MULTI is not allowed"));
    }
    // Where the keys' versions live: every watched key must have one owner, the one the
    // transaction will run on.
    let owner = match place_of(cx, &args, &(1..args.len()).collect::<Vec<_>>())? {
        Place::Here => None,
        Place::Peer(addr) => Some(addr),
    };
    if !cx.client.watched.is_empty() && cx.client.watch_owner != owner {
        return Err(cross_slot());
    }
    let new = unwatched(cx.client, &args);
    // Refused whole rather than watching some: a key silently not watched would let an EXEC
    // through that must fail.
    if cx.client.watched.len() + new.len() > MAX_WATCHED {
        return Err(Error::msg(format!(
            "too many watched keys (at most {MAX_WATCHED} per client)"
        )));
    }
    if let Some(addr) = owner {
        // The connection asks the owner (`watch_at`), then records what it answered.
        cx.client.action = Some(Action::WatchAt(addr));
        return Ok(());
    }
    for key in new {
        let version = version(cx, key.0, &key.1);
        cx.client.watched.insert(key, version);
    }
    cx.out.ok();
    Ok(())
}

/// WATCH's keys not watched yet, once each: a key watched twice keeps the version it had the
/// first time, as in Redis.
pub fn unwatched(client: &crate::client::ClientState, args: &Args<'_>) -> Vec<(u32, Box<[u8]>)> {
    let db = client.db;
    let mut new: Vec<(u32, Box<[u8]>)> = args
        .iter()
        .skip(1)
        .map(|k| (db, k.into()))
        .filter(|k| !client.watched.contains_key(k))
        .collect();
    new.sort_unstable();
    new.dedup();
    new
}

/// Keys one client may watch at once: each costs its bytes until EXEC, DISCARD or UNWATCH.
pub const MAX_WATCHED: usize = 100_000;

pub fn unwatch(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.client.unwatch();
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
    // A transaction travels between nodes as HCEXEC, never as its EXEC.
    if cx.client.forwarded {
        return Err(Error::msg("EXEC cannot be forwarded"));
    }
    let Some(tx) = cx.client.multi.take() else {
        return Err(Error::msg("EXEC without MULTI"));
    };
    let watched = std::mem::take(&mut cx.client.watched);
    let watch_owner = cx.client.watch_owner.take();
    if tx.failed {
        return Err(Error::coded(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let runs_at = match (tx_place(cx, &tx)?, watch_owner) {
        (None, w) => w,
        (Some(Place::Here), None) => None,
        (Some(Place::Peer(addr)), None) if watched.is_empty() => Some(addr),
        (Some(Place::Peer(addr)), Some(w)) if addr == w => Some(addr),
        _ => return Err(cross_slot()),
    };
    match runs_at {
        Some(addr) => {
            let args = hcexec_args(&tx, &watched, cx.client.db)?;
            cx.client.action = Some(Action::ForwardAs(addr, args));
            Ok(())
        }
        None => {
            run(cx, &watched, tx.queued.iter().map(|q| q.args()));
            Ok(())
        }
    }
}

/// Runs a transaction's commands with every other command kept out, unless a watched key
/// moved (a null array then). Their records are one atomic group for the AOF and replicas.
fn run<'a>(cx: &mut Ctx<'_>, watched: &Watched, commands: impl ExactSizeIterator<Item = Args<'a>>) {
    let node = cx.node;
    node.store.gate.exclusive(|| {
        // One time for the whole transaction, as Redis 7.2's command time snapshot: a key
        // set with PX inside it has all of its TTL at a PTTL after it, however slow the node.
        cx.now = crate::util::time::now_ms();
        if watched
            .iter()
            .any(|((db, key), was)| version(cx, *db, key) != *was)
        {
            cx.out.null_array();
            return;
        }
        cx.out.array(commands.len());
        node.store.bus().group(|| {
            for args in commands {
                execute_queued(cx, args);
            }
        });
    });
}

/// `HCEXEC <watched> [<key> <lamport> <node>]… [<argc> <arg>…]…` — a transaction this node
/// owns, queued by a client of another node (lamport -1: the key was absent).
fn hcexec_args(tx: &Transaction, watched: &Watched, db: u32) -> Result<OwnedArgs> {
    // It runs in one database there: SELECT inside it would change the owner's side only.
    if tx.queued.iter().any(|q| is(&q.args()[0], "select")) || watched.keys().any(|k| k.0 != db) {
        return Err(Error::coded(
            "TRYAGAIN a transaction across databases runs only on the node owning its keys",
        ));
    }
    let mut text: Vec<Vec<u8>> = vec![b"HCEXEC".to_vec(), watched.len().to_string().into()];
    for ((_, key), version) in watched {
        text.push(key.to_vec());
        let (l, n) = match version {
            Some((l, n)) => (l.to_string(), n.to_string()),
            None => ("-1".to_string(), "0".to_string()),
        };
        text.push(l.into());
        text.push(n.into());
    }
    for q in &tx.queued {
        let args = q.args();
        text.push(args.len().to_string().into());
        text.extend(args.iter().map(<[u8]>::to_vec));
    }
    Ok(OwnedArgs::of(text.iter().map(Vec::as_slice)))
}

/// HCEXEC (see [`hcexec_args`]), in the forwarding client's database and protocol: runs the
/// transaction as EXEC would, judged by the versions its client watched.
pub fn hcexec(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let bad = || Error::msg("malformed HCEXEC");
    if cx.client.multi.is_some() {
        return Err(Error::msg("HCEXEC inside MULTI is not allowed"));
    }
    let int = |i: usize| -> Result<i64> {
        crate::util::num::parse_i64(args.get(i).ok_or_else(bad)?).ok_or_else(bad)
    };
    let n = int(1)?;
    if !(0..=MAX_WATCHED as i64).contains(&n) || args.len() < 2 + 3 * n as usize {
        return Err(bad());
    }
    let db = cx.client.db;
    let mut watched = Watched::default();
    let mut at = 2;
    for _ in 0..n {
        // Node ids use all 64 bits.
        let node = crate::util::num::parse_u64(args.get(at + 2).ok_or_else(bad)?);
        let version = match (int(at + 1)?, node) {
            (-1, _) => None,
            (l, Some(node)) if l >= 0 => Some((l as u64, node)),
            _ => return Err(bad()),
        };
        watched.insert((db, args[at].into()), version);
        at += 3;
    }
    let mut commands = Vec::new();
    while at < args.len() {
        let argc = int(at)?;
        if argc < 1 || argc as usize > args.len() - at - 1 {
            return Err(bad());
        }
        commands.push(args.slice(at + 1, at + 1 + argc as usize));
        at += 1 + argc as usize;
    }
    // The forwarding node checked the queue; what it sent must still be commands.
    if commands
        .iter()
        .any(|c| table::lookup(&c[0]).is_none_or(|cmd| cmd.has(table::NO_MULTI)))
    {
        return Err(bad());
    }
    if !placed(cx, commands.iter())?.is_none_or(|p| p == Place::Here) {
        return Err(Error::coded(
            "TRYAGAIN the keys of this transaction moved to another node",
        ));
    }
    run(cx, &watched, commands.into_iter());
    Ok(())
}

/// HCVERSIONS <key>… — the versions of keys a client of another node WATCHes: a bulk of, per
/// key, 0 (absent) or 1 followed by its stamp (Lamport time, node; little-endian u64s).
pub fn hcversions(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let db = cx.client.db;
    let mut blob = Vec::with_capacity(17 * (args.len() - 1));
    for key in args.iter().skip(1) {
        match version(cx, db, key) {
            None => blob.push(0),
            Some((l, n)) => {
                blob.push(1);
                blob.extend_from_slice(&l.to_le_bytes());
                blob.extend_from_slice(&n.to_le_bytes());
            }
        }
    }
    cx.out.bulk(&blob);
    Ok(())
}

/// Reads [`hcversions`]'s blob for `count` keys.
pub fn parse_versions(blob: &[u8], count: usize) -> Option<Vec<Option<(u64, u64)>>> {
    let mut out = Vec::with_capacity(count.min(MAX_WATCHED));
    let mut at = 0;
    for _ in 0..count {
        match *blob.get(at)? {
            0 => {
                out.push(None);
                at += 1;
            }
            1 => {
                let l = u64::from_le_bytes(blob.get(at + 1..at + 9)?.try_into().ok()?);
                let n = u64::from_le_bytes(blob.get(at + 9..at + 17)?.try_into().ok()?);
                out.push(Some((l, n)));
                at += 17;
            }
            _ => return None,
        }
    }
    (at == blob.len()).then_some(out)
}

/// Where a set of keys is owned: here (also outside a cluster) or on a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Here,
    Peer(SocketAddr),
}

/// The owner of the keys at `idx` of `args`; CROSSSLOT when they have several.
fn place_of(cx: &Ctx<'_>, args: &Args<'_>, idx: &[usize]) -> Result<Place> {
    if cx.client.forwarded || !cx.node.cluster.has_peers() || idx.is_empty() {
        return Ok(Place::Here);
    }
    Ok(owner_of(cx.node, cx.client.db, args, idx)?.map_or(Place::Here, Place::Peer))
}

/// The one owner of a transaction's keys (`None`: it has none); CROSSSLOT when they have
/// several. In a cluster a transaction's keys must all have one owner: otherwise its commands
/// would change values another node orders (an INCR here racing the owner's).
fn tx_place(cx: &Ctx<'_>, tx: &Transaction) -> Result<Option<Place>> {
    let commands: Vec<Args<'_>> = tx.queued.iter().map(|q| q.args()).collect();
    placed(cx, commands.iter())
}

fn placed<'a, 'b: 'a>(
    cx: &Ctx<'_>,
    commands: impl Iterator<Item = &'a Args<'b>>,
) -> Result<Option<Place>> {
    if !cx.node.cluster.has_peers() {
        return Ok(None);
    }
    let mut owner: Option<Place> = None;
    for args in commands {
        let Some(cmd) = table::lookup(&args[0]) else {
            continue;
        };
        let idx = cmd.key_indexes(args);
        if idx.is_empty() {
            continue;
        }
        let place = owner_of(cx.node, cx.client.db, args, &idx)?.map_or(Place::Here, Place::Peer);
        match owner {
            Some(o) if o != place => return Err(cross_slot()),
            _ => owner = Some(place),
        }
    }
    Ok(owner)
}

fn cross_slot() -> Error {
    Error::coded("CROSSSLOT Keys in request don't hash to the same slot")
}
