//! The write gate, one for RESP and HTTP: [`admit`] is every check a write must pass before it
//! runs, and a [`Receipt`] is what it leaves to settle before its reply may leave — the AOF
//! offset that must be durable (`appendfsync always`) and the replicas that must acknowledge it
//! (`consistency_level: quorum|all`). [`settle`] waits for both and says which failed.
//!
//! A receipt is read from the outside of the write, not handed through thread-locals: the
//! AOF's and each peer stream's published offsets are taken before the write ([`Mark`]) and
//! compared after it. An offset read after a record was published covers that record; if other
//! connections published meanwhile, the write waits for their records too, which group commit
//! makes all but free.

use std::sync::Arc;

use crate::cluster::replication::Peer;
use crate::config::ConsistencyLevel;
use crate::error::{Error, Result};
use crate::node::Node;
use crate::store::NAMED;

/// What a write is about to do, for [`admit`].
#[derive(Debug, Clone, Copy)]
pub struct Intent {
    /// The database or store it writes to.
    pub db: u32,
    /// It may run while the data directory loads (peers' records do).
    pub while_loading: bool,
    /// It may grow memory by about this many bytes (the OOM check applies); `None` for writes
    /// that only shrink (DEL, EXPIRE, ...).
    pub grows: Option<u64>,
}

/// Every check a write must pass, once: the node has loaded its data, the disk takes writes,
/// the selected store still exists, and memory has room (evicting to make it).
pub fn admit(node: &Node, w: Intent, now: u64) -> Result<()> {
    if !w.while_loading && node.is_loading() {
        return Err(Error::Loading);
    }
    if let Some(msg) = node.persistence.as_ref().and_then(|p| p.refuses_writes()) {
        return Err(Error::Misconf(msg));
    }
    if w.db & NAMED != 0 && node.store.find(w.db).is_none() {
        return Err(Error::msg(
            "the selected store no longer exists (SELECT another)",
        ));
    }
    if let Some(bytes) = w.grows {
        let store = &node.store;
        // As Redis's performEvictions: make room before a write that may grow memory; and
        // refuse one larger than the room that can be made, before it allocates anything.
        if store.make_room(w.db, now).is_err()
            || (store.limited(w.db) && store.reserve(w.db, bytes, now).is_err())
        {
            return Err(Error::Oom);
        }
    }
    Ok(())
}

/// What the replies of writes wait for, fixed by the configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Waits {
    /// `appendfsync always`: the AOF must be fsynced past the write's records.
    pub durable: bool,
    /// `quorum` / `all`: enough replicas must acknowledge the write.
    pub acks: bool,
}

impl Waits {
    pub fn of(node: &Node) -> Waits {
        Waits {
            durable: node
                .persistence
                .as_ref()
                .is_some_and(|p| p.sync_always() && p.aof().is_some()),
            acks: node.cluster.consistency != ConsistencyLevel::Eventual,
        }
    }

    pub fn any(&self) -> bool {
        self.durable || self.acks
    }
}

/// The published offsets of the AOF and of every peer's stream, taken before a write.
pub struct Mark {
    aof: u64,
    peers: Vec<(Arc<Peer>, u64)>,
}

impl Mark {
    /// Where the AOF and the streams stand now (`peers`: whether to look at the streams).
    pub fn take(node: &Node, peers: bool) -> Mark {
        Mark {
            aof: aof_published(node),
            peers: if peers && node.cluster.has_peers() {
                node.cluster
                    .replicator
                    .peers()
                    .into_iter()
                    .map(|p| {
                        let at = p.queued();
                        (p, at)
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// What the write since this mark left to settle: the AOF offset if it moved, and the
    /// peers whose stream it moved, each with the offset to be acknowledged.
    pub fn receipt(self, node: &Node) -> Receipt {
        let now = aof_published(node);
        let acks: Vec<(Arc<Peer>, u64)> = self
            .peers
            .into_iter()
            .filter_map(|(p, before)| {
                let at = p.queued();
                (at > before).then_some((p, at))
            })
            .collect();
        Receipt {
            aof: if now > self.aof { now } else { 0 },
            replicated: !acks.is_empty(),
            acks,
            wrote: true,
        }
    }
}

fn aof_published(node: &Node) -> u64 {
    node.persistence
        .as_ref()
        .and_then(|p| p.aof())
        .map_or(0, |a| a.published())
}

/// What a batch of writes leaves to settle before its replies leave.
#[derive(Default)]
pub struct Receipt {
    /// The AOF offset that must be durable (0: none).
    pub aof: u64,
    /// The peers that must acknowledge, with the offset each must reach.
    pub acks: Vec<(Arc<Peer>, u64)>,
    /// Some write was queued on a peer's stream.
    pub replicated: bool,
    /// Some write ran (under quorum, even one queued nowhere must find its replicas).
    pub wrote: bool,
}

impl Receipt {
    /// Adds another write's receipt to this one.
    pub fn merge(&mut self, other: Receipt) {
        self.aof = self.aof.max(other.aof);
        self.replicated |= other.replicated;
        self.wrote |= other.wrote;
        self.acks.extend(other.acks);
    }

    pub fn is_empty(&self) -> bool {
        !self.wrote && self.aof == 0
    }
}

/// Where the task that settles waits for the AOF: an I/O thread has its own relay of the
/// writer's progress (one wake-up per thread, not per connection); any other task waits on the
/// AOF itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOn {
    IoThread,
    Any,
}

/// Waits until the receipt's writes are durable and acknowledged as the configuration asks.
/// `Err(Misconf)` when the AOF cannot be written (the data stays in memory and queued for the
/// disk, but is not acknowledged), `Err(TryAgain)` when too few replicas acknowledged in time
/// (the write is applied here and possibly on some replicas; retrying is safe).
pub async fn settle(node: &Node, receipt: Receipt, on: WaitOn) -> Result<()> {
    durable(node, receipt.aof, on).await?;
    acknowledged(node, receipt).await
}

/// The durability half of [`settle`] (an I/O thread keeps polling while it waits, so it is
/// awaited on its own there).
pub async fn durable(node: &Node, offset: u64, on: WaitOn) -> Result<()> {
    let Some(aof) = node
        .persistence
        .as_ref()
        .filter(|p| p.sync_always())
        .and_then(|p| p.aof())
    else {
        return Ok(());
    };
    if offset == 0 {
        return Ok(());
    }
    let ok = match on {
        WaitOn::IoThread => aof.wait_durable_local(offset).await,
        WaitOn::Any => aof.wait_durable(offset).await,
    };
    if ok {
        return Ok(());
    }
    let msg = node
        .persistence
        .as_ref()
        .and_then(|p| p.refuses_writes())
        .unwrap_or_else(|| "MISCONF Errors writing to the AOF file".to_string());
    Err(Error::Misconf(msg))
}

/// The replication half of [`settle`].
pub async fn acknowledged(node: &Node, receipt: Receipt) -> Result<()> {
    if node.cluster.consistency == ConsistencyLevel::Eventual || !receipt.wrote {
        return Ok(());
    }
    node.cluster
        .wait_acks(receipt.acks)
        .await
        .map_err(Error::TryAgain)
}
