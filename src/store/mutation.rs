//! Mutations: the one record of every change to data.
//!
//! The store applies a change and then publishes it as a [`Mutation`] carrying its deterministic
//! *effect* (INCR publishes the resulting value, EXPIRE an absolute deadline), so the AOF,
//! snapshots, replication and recovery all consume the same records.

use std::sync::Arc;

use crate::store::stamp::{LamportClock, Stamp};
use crate::store::value::{Value, ValueRef};

/// Where a change came from; sinks use it to avoid echoes (the AOF does not re-log a replay,
/// replication does not send a peer's change back to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client command or an internal event (expiry, eviction) of this node.
    Local,
    /// Loading from the node's own AOF or snapshot at start.
    Replay,
    /// Received from a peer.
    Peer,
}

/// The effect of one change. Keyed effects carry the full resulting state of the key, so applying
/// one is idempotent and independent of what the receiver held before.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op<'a> {
    /// The key now holds `value`, with deadline `expire_at` (ms since the epoch, 0 = none).
    Set {
        key: &'a [u8],
        value: ValueRef<'a>,
        expire_at: u64,
    },
    /// The key was deleted by a command.
    Del { key: &'a [u8] },
    /// The string at `key` had `bytes` written at `offset` (zero-padded past its end, created
    /// when absent) — APPEND and SETRANGE record what changed, not the whole value. It applies
    /// only to the version stamped `base` (the key's stamp before the change, zero for none):
    /// a receiver holding anything else asks for the full value instead.
    Splice {
        key: &'a [u8],
        offset: u64,
        bytes: &'a [u8],
        base: Stamp,
    },
    /// The collection at `key` was changed by `edit` (a `collections::edit` record: elements
    /// pushed or popped, fields set or removed) — a write to a collection records what it
    /// did, not the whole collection. Applies only to the version stamped `base`, as a splice.
    Edit {
        key: &'a [u8],
        edit: &'a [u8],
        base: Stamp,
    },
    /// The key's deadline passed and it was removed (lazily or by the active cycle).
    Expired { key: &'a [u8] },
    /// The key was evicted to stay within the memory limit.
    Evicted { key: &'a [u8] },
    /// The key now expires at `at` (ms since the epoch).
    Expire { key: &'a [u8], at: u64 },
    /// The key no longer has a deadline.
    Persist { key: &'a [u8] },
    /// Every key of the database was removed.
    FlushDb,
    /// Every key of every database was removed.
    FlushAll,
    /// This database and `other` swapped contents.
    SwapDb { other: u32 },
    /// A named store was created (or reconfigured), with its configuration as JSON.
    CreateStore { name: &'a [u8], spec: &'a [u8] },
    /// A named store was deleted with its data.
    DropStore { name: &'a [u8] },
    /// The node's FUNCTION libraries are now `libraries` (FUNCTION DUMP's payload; empty:
    /// none). The whole set, so a node that applies the newest record holds what its writer
    /// held: concurrent changes on two nodes resolve by stamp, as a key's do.
    Functions { libraries: &'a [u8] },
}

impl Op<'_> {
    pub fn key(&self) -> Option<&[u8]> {
        match *self {
            Op::Set { key, .. }
            | Op::Splice { key, .. }
            | Op::Edit { key, .. }
            | Op::Del { key }
            | Op::Expired { key }
            | Op::Evicted { key }
            | Op::Expire { key, .. }
            | Op::Persist { key } => Some(key),
            Op::FlushDb
            | Op::FlushAll
            | Op::SwapDb { .. }
            | Op::CreateStore { .. }
            | Op::DropStore { .. }
            | Op::Functions { .. } => None,
        }
    }

    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Set { .. } => "set",
            Op::Splice { .. } => "splice",
            Op::Edit { .. } => "edit",
            Op::Del { .. } => "del",
            Op::Expired { .. } => "expired",
            Op::Evicted { .. } => "evicted",
            Op::Expire { .. } => "expire",
            Op::Persist { .. } => "persist",
            Op::FlushDb => "flushdb",
            Op::FlushAll => "flushall",
            Op::SwapDb { .. } => "swapdb",
            Op::CreateStore { .. } => "create_store",
            Op::DropStore { .. } => "drop_store",
            Op::Functions { .. } => "functions",
        }
    }
}

/// One change to one database, stamped with the node's Lamport clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mutation<'a> {
    pub db: u32,
    pub stamp: Stamp,
    pub origin: Origin,
    pub op: Op<'a>,
    /// The correlation id of the request that made it (HTTP writes): it travels with the
    /// record to every replica, which logs it. Not part of the AOF.
    pub trace: Option<&'a str>,
}

/// An owned copy of a keyed or database effect, for records that outlive the store's lock.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedOp {
    Set {
        key: Vec<u8>,
        value: Value,
        expire_at: u64,
    },
    Splice {
        key: Vec<u8>,
        offset: u64,
        bytes: Vec<u8>,
        base: Stamp,
    },
    Edit {
        key: Vec<u8>,
        edit: Vec<u8>,
        base: Stamp,
    },
    Del {
        key: Vec<u8>,
    },
    Expired {
        key: Vec<u8>,
    },
    Evicted {
        key: Vec<u8>,
    },
    Expire {
        key: Vec<u8>,
        at: u64,
    },
    Persist {
        key: Vec<u8>,
    },
    FlushDb,
    FlushAll,
    SwapDb {
        other: u32,
    },
    CreateStore {
        name: Vec<u8>,
        spec: Vec<u8>,
    },
    DropStore {
        name: Vec<u8>,
    },
    Functions {
        libraries: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OwnedMutation {
    pub db: u32,
    pub stamp: Stamp,
    pub origin: Origin,
    pub op: OwnedOp,
}

impl Mutation<'_> {
    pub fn to_owned(&self) -> OwnedMutation {
        let op = match self.op {
            Op::Set {
                key,
                value,
                expire_at,
            } => OwnedOp::Set {
                key: key.to_vec(),
                value: value.to_value(),
                expire_at,
            },
            Op::Splice {
                key,
                offset,
                bytes,
                base,
            } => OwnedOp::Splice {
                key: key.to_vec(),
                offset,
                bytes: bytes.to_vec(),
                base,
            },
            Op::Edit { key, edit, base } => OwnedOp::Edit {
                key: key.to_vec(),
                edit: edit.to_vec(),
                base,
            },
            Op::Del { key } => OwnedOp::Del { key: key.to_vec() },
            Op::Expired { key } => OwnedOp::Expired { key: key.to_vec() },
            Op::Evicted { key } => OwnedOp::Evicted { key: key.to_vec() },
            Op::Expire { key, at } => OwnedOp::Expire {
                key: key.to_vec(),
                at,
            },
            Op::Persist { key } => OwnedOp::Persist { key: key.to_vec() },
            Op::FlushDb => OwnedOp::FlushDb,
            Op::FlushAll => OwnedOp::FlushAll,
            Op::SwapDb { other } => OwnedOp::SwapDb { other },
            Op::CreateStore { name, spec } => OwnedOp::CreateStore {
                name: name.to_vec(),
                spec: spec.to_vec(),
            },
            Op::DropStore { name } => OwnedOp::DropStore {
                name: name.to_vec(),
            },
            Op::Functions { libraries } => OwnedOp::Functions {
                libraries: libraries.to_vec(),
            },
        };
        OwnedMutation {
            db: self.db,
            stamp: self.stamp,
            origin: self.origin,
            op,
        }
    }
}

impl OwnedMutation {
    pub fn as_mutation(&self) -> Mutation<'_> {
        let op = match &self.op {
            OwnedOp::Set {
                key,
                value,
                expire_at,
            } => Op::Set {
                key,
                value: value.as_ref(),
                expire_at: *expire_at,
            },
            OwnedOp::Splice {
                key,
                offset,
                bytes,
                base,
            } => Op::Splice {
                key,
                offset: *offset,
                bytes,
                base: *base,
            },
            OwnedOp::Edit { key, edit, base } => Op::Edit {
                key,
                edit,
                base: *base,
            },
            OwnedOp::Del { key } => Op::Del { key },
            OwnedOp::Expired { key } => Op::Expired { key },
            OwnedOp::Evicted { key } => Op::Evicted { key },
            OwnedOp::Expire { key, at } => Op::Expire { key, at: *at },
            OwnedOp::Persist { key } => Op::Persist { key },
            OwnedOp::FlushDb => Op::FlushDb,
            OwnedOp::FlushAll => Op::FlushAll,
            OwnedOp::SwapDb { other } => Op::SwapDb { other: *other },
            OwnedOp::CreateStore { name, spec } => Op::CreateStore { name, spec },
            OwnedOp::DropStore { name } => Op::DropStore { name },
            OwnedOp::Functions { libraries } => Op::Functions { libraries },
        };
        Mutation {
            db: self.db,
            stamp: self.stamp,
            origin: self.origin,
            trace: None,
            op,
        }
    }
}

/// A consumer of mutations (the AOF, the replicator, tests). Called with the key's shard lock
/// held, right after the change was applied, so records arrive in apply order per key; a sink
/// must be quick and must never call back into the store.
pub trait MutationSink: Send + Sync {
    fn publish(&self, m: &Mutation<'_>);

    /// Whether this sink writes to disk (and so skips the stores kept off the AOF).
    fn is_disk(&self) -> bool {
        false
    }

    /// A store was configured (created, reconfigured, or loaded): `db` is its id.
    fn store_configured(&self, _db: u32, _spec: &crate::config::StoreConfig) {}

    /// The records published until [`MutationSink::group_end`] are one atomic group (see
    /// [`Bus::group`]); a sink that outlives the process or feeds another node keeps them
    /// together.
    fn group_begin(&self) {}

    fn group_end(&self) {}
}

/// Delivers mutations to the node's sinks and stamps them.
pub struct Bus {
    sinks: Vec<Arc<dyn MutationSink>>,
    clock: LamportClock,
    /// Stores (by id; `default` as 0) whose changes stay off the AOF.
    off_disk: arc_swap::ArcSwap<std::collections::HashSet<u32>>,
    /// `!off_disk.is_empty()`, read first: most nodes keep every store on disk, and a relaxed
    /// load is cheaper than an ArcSwap guard on every write.
    any_off_disk: std::sync::atomic::AtomicBool,
    /// Keyspace notifications are on: every change is handed to `note` (`pubsub::notify`,
    /// set by the node: the store knows nothing of pub/sub), so records are made even without
    /// a sink.
    notes: std::sync::atomic::AtomicBool,
    note: std::sync::OnceLock<fn(&Mutation<'_>, bool)>,
    /// Reads that miss are handed to `miss` (keyspace notifications' `m` class).
    misses: std::sync::atomic::AtomicBool,
    miss: std::sync::OnceLock<fn(u32, &[u8])>,
}

impl Bus {
    pub fn new(node: u64, sinks: Vec<Arc<dyn MutationSink>>) -> Bus {
        Bus {
            sinks,
            clock: LamportClock::new(node),
            off_disk: Default::default(),
            any_off_disk: Default::default(),
            notes: Default::default(),
            note: Default::default(),
            misses: Default::default(),
            miss: Default::default(),
        }
    }

    pub fn clock(&self) -> &LamportClock {
        &self.clock
    }

    /// True when some sink listens (or keyspace notifications are on); without one, building
    /// records is skipped entirely.
    #[inline]
    pub fn active(&self) -> bool {
        !self.sinks.is_empty() || self.notes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether changes are noted for keyspace notifications.
    #[inline]
    pub fn notes_on(&self) -> bool {
        self.notes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Turns the noting of changes for keyspace notifications on or off; `note` gets each,
    /// and whether it created its key.
    pub fn set_notes(&self, on: bool, note: fn(&Mutation<'_>, bool)) {
        let _ = self.note.set(note);
        self.notes.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Turns the noting of reads that miss on or off; `miss` gets each.
    pub fn set_miss_notes(&self, on: bool, miss: fn(u32, &[u8])) {
        let _ = self.miss.set(miss);
        self.misses.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// A read of `key` found nothing.
    #[inline]
    pub fn missed(&self, db: u32, key: &[u8]) {
        if self.misses.load(std::sync::atomic::Ordering::Relaxed)
            && let Some(miss) = self.miss.get()
        {
            miss(db, key);
        }
    }

    /// Stamps and delivers a local change. Without sinks nothing is stamped: a stamp nobody
    /// can observe is not worth a contended atomic on every write.
    #[inline]
    pub fn emit(&self, db: u32, origin: Origin, op: Op<'_>) {
        self.emit_traced(db, origin, op, None);
    }

    /// [`Bus::emit`] for a change a request with a correlation id made.
    pub fn emit_traced(&self, db: u32, origin: Origin, op: Op<'_>, trace: Option<&str>) {
        if !self.active() {
            return;
        }
        let stamp = self.clock.tick();
        self.deliver(&Mutation {
            db,
            stamp,
            origin,
            trace,
            op,
        });
    }

    /// The stamp for a local write: the next Lamport time, or zero when nothing listens.
    #[inline]
    pub fn next_stamp(&self) -> Stamp {
        if !self.active() {
            Stamp::default()
        } else {
            self.clock.tick()
        }
    }

    /// Delivers a change that carries its stamp, if anything listens.
    #[inline]
    pub fn deliver_if_active(&self, m: &Mutation<'_>) {
        if self.active() {
            self.deliver(m);
        }
    }

    /// Delivers a change that already carries its stamp (replay, peers).
    pub fn deliver(&self, m: &Mutation<'_>) {
        self.deliver_created(m, false);
    }

    /// [`Bus::deliver`] for a whole value, saying whether it created its key (keyspace
    /// notifications name that `new`; the record itself does not carry it).
    pub fn deliver_created(&self, m: &Mutation<'_>, created: bool) {
        // Keyed changes only: store definitions and flushes are always recorded.
        let skip_disk = self.any_off_disk.load(std::sync::atomic::Ordering::Relaxed)
            && m.op.key().is_some()
            && {
                let id = if m.db & crate::store::NAMED == 0 {
                    0
                } else {
                    m.db
                };
                self.off_disk.load().contains(&id)
            };
        for s in &self.sinks {
            if skip_disk && s.is_disk() {
                continue;
            }
            s.publish(m);
        }
        if self.notes.load(std::sync::atomic::Ordering::Relaxed)
            && let Some(note) = self.note.get()
        {
            note(m, created);
        }
    }

    /// Runs `f`, whose records form one atomic group: the AOF brackets them so recovery
    /// applies all or none, and each replica applies them at once, with its readers kept out.
    /// The caller keeps every other writer out meanwhile (the transaction gate, exclusive), so
    /// no one else's records fall inside the bracket.
    pub fn group<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.sinks.is_empty() {
            return f();
        }
        // Ends the group even if `f` unwinds: records after it must not join a group that
        // never closes.
        struct End<'a>(&'a [Arc<dyn MutationSink>]);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                for s in self.0 {
                    s.group_end();
                }
            }
        }
        for s in &self.sinks {
            s.group_begin();
        }
        let _end = End(&self.sinks);
        f()
    }

    /// Tells the sinks a store's configuration (replication uses its replication factor).
    pub fn store_configured(&self, db: u32, spec: &crate::config::StoreConfig) {
        for s in &self.sinks {
            s.store_configured(db, spec);
        }
    }

    /// Keeps a store's changes off the AOF (`persistence: snapshot` or `disabled`), or not.
    pub fn set_off_disk(&self, store: u32, off: bool) {
        let mut next = (**self.off_disk.load()).clone();
        if off {
            next.insert(store);
        } else {
            next.remove(&store);
        }
        self.any_off_disk
            .store(!next.is_empty(), std::sync::atomic::Ordering::Relaxed);
        self.off_disk.store(Arc::new(next));
    }
}

/// A sink that keeps every mutation, for tests and tools.
#[derive(Default)]
pub struct RecordingSink {
    pub records: parking_lot::Mutex<Vec<OwnedMutation>>,
}

impl RecordingSink {
    pub fn take(&self) -> Vec<OwnedMutation> {
        std::mem::take(&mut *self.records.lock())
    }
}

impl MutationSink for RecordingSink {
    fn publish(&self, m: &Mutation<'_>) {
        self.records.lock().push(m.to_owned());
    }
}
