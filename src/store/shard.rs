//! One shard of a database: a hash table behind its own lock, with its byte count, TTL index
//! figures and sweep cursor, plus [`KeyRef`], the handle through which commands change a key.

use std::collections::HashMap;

use crate::store::mutation::{Bus, Mutation, Op, Origin};
use crate::store::stamp::{Stamp, nodes};

use super::evict::AccessMode;

use super::entry::{Entry, EntryRef};
use super::table::Table;
use super::value::{Value, ValueRef};
use crate::collections::edit::{self, BadEdit};
use crate::filter::CuckooFilter;

/// How a lookup touches the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A read: counted as a keyspace hit or miss, refreshes the access time.
    Read,
    /// A read by a NO-TOUCH client: counted, but the access time is left alone.
    ReadNoTouch,
    /// A write (or a read on behalf of one): refreshes the access time, not counted.
    Write,
    /// Neither counted nor touched (OBJECT, TYPE-like introspection, NO-TOUCH clients).
    Peek,
}

/// Per-shard counters, updated under the shard's lock so they cost no extra synchronisation.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
    pub evicted: u64,
}

#[derive(Debug, Default)]
pub struct Shard {
    pub(super) table: Table,
    /// Bytes charged to the entries of this shard.
    pub used: usize,
    /// Keys with a deadline, and the sum of their deadlines (for INFO's avg_ttl).
    pub volatile: usize,
    expire_sum: u128,
    pub stats: ShardStats,
    /// Where the active-expiry sweep resumes.
    pub(super) sweep_cursor: usize,
    /// Deleted and expired keys, remembered (with the stamp of their removal) so that an
    /// older write arriving late from a peer cannot bring them back. Kept only in a cluster.
    pub(super) tombstones: HashMap<Box<[u8]>, Tombstone>,
    /// The store's cuckoo filter, this shard's part: a fingerprint per key, consulted before
    /// the table by reads.
    pub(super) filter: Option<Box<CuckooFilter>>,
    pub filter_stats: FilterStats,
}

/// What the filter's answers turned out to be.
#[derive(Debug, Default, Clone, Copy)]
pub struct FilterStats {
    /// "Definitely absent": the table was not even looked at.
    pub negatives: u64,
    /// "Maybe present" for a key the table did not hold.
    pub false_positives: u64,
    /// Filters rebuilt into one right-sized layer.
    pub rebuilds: u64,
}

/// A new shard filter's capacity; it grows (and is rebuilt) with the shard.
const FILTER_INITIAL: usize = 32;

#[derive(Debug, Clone, Copy)]
pub struct Tombstone {
    /// Packed stamp (see `cluster::clock::nodes`).
    pub stamp: u64,
    /// When it was made, ms since the epoch (for collection after `tombstone_ttl`).
    pub at: u64,
}

/// The LRU clock of Redis: seconds, 24 bits.
#[inline]
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) & 0xFF_FFFF) as u32
}

impl Shard {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Bytes charged to this shard: its entries (see [`Entry::mem_size`], which includes the
    /// entry's own slot), the table's empty slots and the filter.
    #[inline]
    pub fn bytes(&self) -> usize {
        let empty = self.table.capacity() - self.table.len();
        let filter = self.filter.as_ref().map_or(0, |f| f.memory());
        self.used + empty * super::table::CELL_BYTES + filter
    }

    /// Turns the filter on (built from the keys held) or off.
    pub(super) fn set_filter(&mut self, fpp: Option<f64>) {
        self.filter = fpp.map(|fpp| {
            let mut f = CuckooFilter::for_keys((self.table.len() * 2).max(FILTER_INITIAL), fpp);
            for e in self.table.iter() {
                let _ = f.insert(super::db::hash_key(e.key()));
            }
            Box::new(f)
        });
    }

    pub fn filter(&self) -> Option<&CuckooFilter> {
        self.filter.as_deref()
    }

    /// Adds a new key's fingerprint. When growth has stacked up layers, which every lookup
    /// must visit, rebuilds the filter as one layer sized for the keys held (amortised like
    /// a table resize: the size doubles each time).
    fn filter_add(&mut self, h: u64) {
        let Some(f) = self.filter.as_mut() else {
            return;
        };
        let _ = f.insert(h);
        if f.layers() >= 3 {
            let ops = f.ops;
            let mut g = f.empty_like(self.table.len() * 2);
            for e in self.table.iter() {
                let _ = g.insert(super::db::hash_key(e.key()));
            }
            // The key being created is not in the table yet.
            let _ = g.insert(h);
            g.ops = ops;
            g.ops.resizes += 1;
            self.filter = Some(Box::new(g));
            self.filter_stats.rebuilds += 1;
        }
    }

    /// Evicts the entry at `idx`: removes it and publishes the eviction, which the AOF and the
    /// replicas see as a delete.
    pub(super) fn evict_at(&mut self, idx: usize, bus: &Bus, db: u32, now: u64, tombstones: bool) {
        let Some(e) = self.remove_at(idx) else {
            return;
        };
        self.stats.evicted += 1;
        let stamp = bus.next_stamp();
        if tombstones {
            self.tombstone(e.key(), nodes::pack(stamp), now);
        }
        bus.deliver_if_active(&Mutation {
            db,
            stamp,
            origin: Origin::Local,
            trace: None,
            op: Op::Evicted { key: e.key() },
        });
    }

    /// Average deadline of the volatile keys (ms since the epoch), if any.
    pub fn avg_expire_at(&self) -> Option<u64> {
        (self.volatile > 0).then(|| (self.expire_sum / self.volatile as u128) as u64)
    }

    /// Removes the entry at `idx`, keeping the figures right.
    pub(super) fn remove_at(&mut self, idx: usize) -> Option<Entry> {
        let e = self.table.remove_at(idx)?;
        self.account_sub(e.meta());
        if let Some(f) = self.filter.as_mut() {
            f.remove(super::db::hash_key(e.key()));
        }
        Some(e)
    }

    /// Empties the shard and returns the old table, which owns the entries, so the caller
    /// can free them outside the lock (FLUSHALL ASYNC).
    pub(super) fn clear(&mut self) -> Table {
        self.used = 0;
        self.volatile = 0;
        self.expire_sum = 0;
        self.sweep_cursor = 0;
        if let Some(f) = self.filter.as_mut() {
            f.clear();
        }
        self.table.clear()
    }

    /// Finds a key, removing it first if its deadline has passed (lazy expiry, which is itself
    /// a published mutation).
    #[inline]
    pub(super) fn lookup(
        &mut self,
        at: &Scope<'_>,
        h: u64,
        key: &[u8],
        access: Access,
    ) -> Option<usize> {
        let Scope {
            bus,
            db,
            now,
            mode,
            tombstones,
            ..
        } = *at;
        let mut idx = match self.filter.as_mut() {
            // Reads ask the filter first: "definitely absent" skips the table.
            Some(f) if access != Access::Write => {
                if f.contains(h) {
                    let i = self.table.find(h as u32, key);
                    if i.is_none() {
                        self.filter_stats.false_positives += 1;
                    }
                    i
                } else {
                    self.filter_stats.negatives += 1;
                    None
                }
            }
            _ => self.table.find(h as u32, key),
        };
        if let Some(i) = idx
            && self.table.get(i).is_some_and(|e| e.is_expired(now))
        {
            if let Some(e) = self.remove_at(i) {
                self.expired(bus, db, now, tombstones, e);
            }
            idx = None;
        }
        match access {
            Access::Read | Access::ReadNoTouch => {
                if idx.is_some() {
                    self.stats.hits += 1;
                } else {
                    self.stats.misses += 1;
                    bus.missed(db, key);
                }
            }
            Access::Write | Access::Peek => {}
        }
        if matches!(access, Access::Read | Access::Write)
            && let Some(mut e) = idx.and_then(|i| self.table.get_mut(i))
        {
            let mut a = e.get().access();
            mode.touch(&mut a, now);
            e.with(|e| e.set_access(a));
        }
        idx
    }

    /// Accounts for an expired entry that was just removed. Expiry is not replicated (every
    /// replica holds the same absolute deadline), but it leaves a tombstone with the entry's
    /// own stamp, so a late copy of an older version cannot reappear.
    fn expired(&mut self, bus: &Bus, db: u32, now: u64, tombstones: bool, e: Entry) {
        self.stats.expired += 1;
        if tombstones {
            self.tombstone(e.key(), e.stamp(), now);
        }
        bus.emit(db, Origin::Local, Op::Expired { key: e.key() });
    }

    /// Remembers that `key` was removed by the write stamped `stamp`.
    pub(super) fn tombstone(&mut self, key: &[u8], stamp: u64, now: u64) {
        match self.tombstones.get_mut(key) {
            Some(t) => {
                if nodes::newer(nodes::unpack(stamp), nodes::unpack(t.stamp)) {
                    *t = Tombstone { stamp, at: now };
                }
            }
            None => {
                self.tombstones
                    .insert(key.into(), Tombstone { stamp, at: now });
            }
        }
    }

    pub fn tombstone_of(&self, key: &[u8]) -> Option<Tombstone> {
        self.tombstones.get(key).copied()
    }

    pub fn tombstones(&self) -> impl Iterator<Item = (&[u8], &Tombstone)> {
        self.tombstones.iter().map(|(k, t)| (&**k, t))
    }

    /// Forgets tombstones made before `before` (ms); returns how many.
    pub(super) fn collect_tombstones(&mut self, before: u64) -> usize {
        let n = self.tombstones.len();
        self.tombstones.retain(|_, t| t.at >= before);
        n - self.tombstones.len()
    }

    /// Removes every expired key among the next `budget` slots of the sweep; returns how many
    /// slots were looked at and how many keys were removed.
    pub(super) fn sweep_expired(
        &mut self,
        bus: &Bus,
        db: u32,
        now: u64,
        tombstones: bool,
        budget: usize,
    ) -> (usize, usize) {
        let cap = self.table.capacity();
        if self.volatile == 0 || cap == 0 {
            return (0, 0);
        }
        let steps = budget.min(cap);
        let mut removed = 0;
        let mut i = self.sweep_cursor % cap;
        let mut seen = 0;
        while seen < steps {
            let expired = self.table.get(i).is_some_and(|e| e.is_expired(now));
            if expired {
                if let Some(e) = self.remove_at(i) {
                    removed += 1;
                    self.expired(bus, db, now, tombstones, e);
                }
                // Backward shift moved a follower into slot i, and the table may have shrunk.
                let cap = self.table.capacity();
                if cap == 0 {
                    break;
                }
                i %= cap;
            } else {
                i = (i + 1) % cap;
            }
            seen += 1;
        }
        self.sweep_cursor = i;
        (seen, removed)
    }
}

/// Where and when a key operation happens: the bus its changes go to, its database, the
/// time, and how accesses are tracked.
#[derive(Clone, Copy)]
pub(super) struct Scope<'a> {
    pub bus: &'a Bus,
    pub db: u32,
    pub now: u64,
    pub mode: AccessMode,
    /// Whether removals leave tombstones (in a cluster).
    pub tombstones: bool,
    /// The correlation id of the request making the changes, carried by their Mutations.
    pub trace: Option<&'a str>,
}

/// A value to install: owned, or a string still in the request (copied once, into the entry).
enum New<'a> {
    Value(Value),
    Str(&'a [u8]),
}

/// A key inside a locked shard. Every change made through it is applied and then published as
/// a mutation — this is the write path of the whole node.
pub struct KeyRef<'a> {
    shard: &'a mut Shard,
    bus: &'a Bus,
    db: u32,
    key: &'a [u8],
    hash: u64,
    idx: Option<usize>,
    now: u64,
    mode: AccessMode,
    tombstones: bool,
    trace: Option<&'a str>,
}

impl<'a> KeyRef<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open(
        shard: &'a mut Shard,
        at: Scope<'a>,
        key: &'a [u8],
        hash: u64,
        access: Access,
    ) -> KeyRef<'a> {
        let idx = shard.lookup(&at, hash, key, access);
        KeyRef {
            shard,
            bus: at.bus,
            db: at.db,
            key,
            hash,
            idx,
            now: at.now,
            mode: at.mode,
            tombstones: at.tombstones,
            trace: at.trace,
        }
    }

    /// How this key's accesses are tracked (OBJECT FREQ needs it).
    pub fn access_mode(&self) -> AccessMode {
        self.mode
    }

    pub fn key(&self) -> &[u8] {
        self.key
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn db(&self) -> u32 {
        self.db
    }

    #[inline]
    pub fn exists(&self) -> bool {
        self.idx.is_some()
    }

    #[inline]
    pub fn entry(&self) -> Option<EntryRef<'_>> {
        self.idx.and_then(|i| self.shard.table.get(i))
    }

    #[inline]
    pub fn value(&self) -> Option<ValueRef<'_>> {
        self.entry().map(|e| e.value())
    }

    /// The key's deadline: `None` without the key, `Some(0)` without a TTL.
    pub fn expire_at(&self) -> Option<u64> {
        self.entry().map(|e| e.expire_at())
    }

    /// The stamp of the write in progress (zero when nothing listens for mutations).
    fn next_stamp(&self) -> Stamp {
        self.bus.next_stamp()
    }

    /// Publishes the key's full resulting state, stamped `stamp`; `created`: the write made
    /// the key.
    fn publish_set(&self, stamp: Stamp, origin: Origin, created: bool) {
        if !self.bus.active() {
            return;
        }
        if let Some(e) = self.entry() {
            self.bus.deliver_created(
                &Mutation {
                    db: self.db,
                    stamp,
                    origin,
                    trace: self.trace,
                    op: Op::Set {
                        key: self.key,
                        value: e.value(),
                        expire_at: e.expire_at(),
                    },
                },
                created,
            );
        }
    }

    /// The stamp of the key's last write (or of its tombstone), if any.
    pub fn stamp(&self) -> Option<Stamp> {
        match self.entry() {
            Some(e) => Some(nodes::unpack(e.stamp())),
            None => self
                .shard
                .tombstone_of(self.key)
                .map(|t| nodes::unpack(t.stamp)),
        }
    }

    /// Stores `value` with deadline `expire_at` (0 = none), replacing what was there.
    pub fn set(&mut self, value: Value, expire_at: u64) {
        let stamp = self.next_stamp();
        let created = self.install(New::Value(value), expire_at, stamp);
        self.publish_set(stamp, Origin::Local, created);
    }

    /// Stores the string SET was given, as [`Value::from_bytes`] would (an integer's text
    /// becomes an integer), copying the bytes once: straight into the entry.
    pub fn set_bytes(&mut self, b: &[u8], expire_at: u64) {
        let new = match Value::int_of(b) {
            Some(n) => New::Value(Value::Int(n)),
            None => New::Str(b),
        };
        let stamp = self.next_stamp();
        let created = self.install(new, expire_at, stamp);
        self.publish_set(stamp, Origin::Local, created);
    }

    /// Stores a value written elsewhere (a peer, the AOF) with its original stamp.
    pub fn install_from(&mut self, value: Value, expire_at: u64, stamp: Stamp, origin: Origin) {
        let created = self.install(New::Value(value), expire_at, stamp);
        self.shard.tombstones.remove(self.key);
        self.publish_set(stamp, origin, created);
    }

    /// [`KeyRef::install_from`] for a value read in place (a record of a peer's stream or of
    /// a file): a string is copied once, into the entry, as a client's SET copies it.
    pub fn install_ref(
        &mut self,
        value: crate::store::ValueRef<'_>,
        expire_at: u64,
        stamp: Stamp,
        origin: Origin,
    ) {
        let new = match value {
            crate::store::ValueRef::Str(s) => New::Str(s),
            v => New::Value(v.to_value()),
        };
        let created = self.install(new, expire_at, stamp);
        self.shard.tombstones.remove(self.key);
        self.publish_set(stamp, origin, created);
    }

    /// Whether it created the key.
    fn install(&mut self, value: New<'_>, expire_at: u64, stamp: Stamp) -> bool {
        let packed = nodes::pack(stamp);
        match self.idx.and_then(|i| self.shard.table.get_mut(i)) {
            Some(mut e) => {
                // An overwrite keeps the key's access history (its LFU counter), as Redis does.
                let (old, new) = e.with(|e| {
                    let old = e.meta();
                    match value {
                        New::Value(v) => e.set_value(v, expire_at, packed),
                        New::Str(s) => e.set_str(s, expire_at, packed),
                    }
                    (old, e.meta())
                });
                self.shard.account_sub(old);
                self.shard.account_add(new);
                false
            }
            None => {
                let access = self.mode.initial(self.now);
                let e = match value {
                    New::Value(v) => Entry::new(self.key, v, expire_at, packed, access),
                    New::Str(s) => Entry::new_str(self.key, s, expire_at, packed, access),
                };
                // Before the key becomes visible, as on replicas: never a false negative.
                self.shard.filter_add(self.hash);
                self.shard.account_add(e.meta());
                self.idx = Some(self.shard.table.insert_new(self.hash as u32, e));
                true
            }
        }
    }

    /// Changes the value in place (INCR on a string, ...) and publishes the result with the
    /// key's current deadline. Does nothing without the key.
    pub fn update<R>(&mut self, f: impl FnOnce(&mut Value) -> R) -> Option<R> {
        let stamp = self.next_stamp();
        let r = self.update_stamped(stamp, f)?;
        self.publish_set(stamp, Origin::Local, false);
        Some(r)
    }

    fn update_stamped<R>(&mut self, stamp: Stamp, f: impl FnOnce(&mut Value) -> R) -> Option<R> {
        let idx = self.idx?;
        let (r, before, after) = self.shard.table.get_mut(idx)?.with(|e| {
            let before = e.mem_size();
            let r = e.update(nodes::pack(stamp), f);
            (r, before, e.mem_size())
        });
        self.shard.used = self.shard.used.saturating_sub(before) + after;
        Some(r)
    }

    /// Writes `bytes` at `offset` of the string at this key — zero-padded past its end, created
    /// when absent — keeping its deadline (APPEND, SETRANGE), and publishes only what changed:
    /// the record is as large as the command's input, not as the value. Returns the new
    /// length; `None` (nothing changed) when the key holds something other than a string.
    pub fn splice(&mut self, offset: u64, bytes: &[u8]) -> Option<usize> {
        let base = self.stamp().unwrap_or_default();
        let stamp = self.next_stamp();
        let len = self.splice_in(offset, bytes, stamp)?;
        self.bus.deliver_if_active(&Mutation {
            db: self.db,
            stamp,
            origin: Origin::Local,
            trace: self.trace,
            op: Op::Splice {
                key: self.key,
                offset,
                bytes,
                base,
            },
        });
        Some(len)
    }

    /// Applies a splice made elsewhere (a peer, the AOF) with its stamp; the caller checked
    /// that the key holds `base`. `None` when it holds something other than a string.
    pub fn splice_stamped(
        &mut self,
        offset: u64,
        bytes: &[u8],
        stamp: Stamp,
        origin: Origin,
        base: Stamp,
    ) -> Option<usize> {
        let len = self.splice_in(offset, bytes, stamp)?;
        self.shard.tombstones.remove(self.key);
        // The same record goes on to this node's own sinks (its AOF).
        self.bus.deliver_if_active(&Mutation {
            db: self.db,
            stamp,
            origin,
            trace: self.trace,
            op: Op::Splice {
                key: self.key,
                offset,
                bytes,
                base,
            },
        });
        Some(len)
    }

    fn splice_in(&mut self, offset: u64, bytes: &[u8], stamp: Stamp) -> Option<usize> {
        let off = offset as usize;
        let end = off + bytes.len();
        if self.idx.is_none() {
            let mut s = vec![0u8; end];
            s[off..].copy_from_slice(bytes);
            self.install(New::Value(Value::Raw(Box::new(s))), 0, stamp);
            return Some(end);
        }
        self.value()?.str_len()?;
        self.update_stamped(stamp, |v| {
            let s = v.make_raw();
            if s.len() < end {
                s.resize(end, 0);
            }
            s[off..end].copy_from_slice(bytes);
            s.len()
        })
    }

    /// Changes the value in place when `f` says it did (its second result): only then is the
    /// change stamped, accounted and published. Does nothing without the key.
    pub fn modify<R>(&mut self, f: impl FnOnce(&mut Value) -> (R, bool)) -> Option<R> {
        self.modify_edited(|v, _| f(v))
    }

    /// Like [`KeyRef::modify`], for a collection: `f` also writes what it did as an edit
    /// (`collections::edit`) into its second argument, and the edit is published instead of
    /// the whole value — unless `f` left it empty (then the whole value goes).
    pub fn modify_edited<R>(
        &mut self,
        f: impl FnOnce(&mut Value, &mut Vec<u8>) -> (R, bool),
    ) -> Option<R> {
        let idx = self.idx?;
        let base = self.stamp().unwrap_or_default();
        let mut edit = Vec::new();
        let mut e = self.shard.table.get_mut(idx)?;
        let before = e.get().mem_size();
        let (r, changed) = e.with(|e| e.modify(|v| f(v, &mut edit)));
        if !changed {
            // Unpublished changes still count (a collection emptied before its deletion).
            let after = e.get().mem_size();
            self.shard.used = self.shard.used.saturating_sub(before) + after;
            return Some(r);
        }
        let stamp = self.bus.next_stamp();
        let after = e.with(|e| {
            e.set_meta(e.expire_at(), nodes::pack(stamp));
            e.mem_size()
        });
        self.shard.used = self.shard.used.saturating_sub(before) + after;
        if edit.is_empty() {
            self.publish_set(stamp, Origin::Local, false);
        } else {
            self.bus.deliver_if_active(&Mutation {
                db: self.db,
                stamp,
                origin: Origin::Local,
                trace: self.trace,
                op: Op::Edit {
                    key: self.key,
                    edit: &edit,
                    base,
                },
            });
        }
        Some(r)
    }

    /// Applies a collection edit made elsewhere (a peer, the AOF) with its stamp; the caller
    /// checked that the key holds `base`. An edit that empties the collection deletes the key.
    pub fn edit_stamped(
        &mut self,
        edit: &[u8],
        stamp: Stamp,
        origin: Origin,
        base: Stamp,
    ) -> Result<(), BadEdit> {
        let idx = self.idx.ok_or(BadEdit::WrongType)?;
        let mut e = self.shard.table.get_mut(idx).ok_or(BadEdit::WrongType)?;
        let before = e.get().mem_size();
        let (r, _) = e.with(|e| {
            e.modify(|v| {
                let r = match v {
                    Value::List(l) => edit::apply_list(edit, l).map(|()| l.is_empty()),
                    Value::Hash(h) => edit::apply_hash(edit, h).map(|()| h.is_empty()),
                    Value::Set(x) => edit::apply_set(edit, x).map(|()| x.is_empty()),
                    Value::ZSet(z) => edit::apply_zset(edit, z).map(|()| z.is_empty()),
                    _ => Err(BadEdit::WrongType),
                };
                let ok = r.is_ok();
                (r, ok)
            })
        });
        let emptied = r?;
        let after = e.with(|e| {
            e.set_meta(e.expire_at(), nodes::pack(stamp));
            e.mem_size()
        });
        self.shard.used = self.shard.used.saturating_sub(before) + after;
        self.shard.tombstones.remove(self.key);
        if emptied {
            self.delete_stamped(stamp, origin);
            return Ok(());
        }
        // The same record goes on to this node's own sinks (its AOF).
        self.bus.deliver_if_active(&Mutation {
            db: self.db,
            stamp,
            origin,
            trace: self.trace,
            op: Op::Edit {
                key: self.key,
                edit,
                base,
            },
        });
        Ok(())
    }

    /// Removes the key, publishing a DEL; returns the removed entry.
    pub fn delete(&mut self) -> Option<Entry> {
        let stamp = self.next_stamp();
        self.delete_stamped(stamp, Origin::Local)
    }

    /// Removes the key for a delete stamped elsewhere (a peer, the AOF), or locally.
    pub fn delete_stamped(&mut self, stamp: Stamp, origin: Origin) -> Option<Entry> {
        let e = self.idx.take().and_then(|i| self.shard.remove_at(i));
        if self.tombstones {
            self.shard.tombstone(self.key, nodes::pack(stamp), self.now);
        }
        e.as_ref()?;
        self.bus.deliver_if_active(&Mutation {
            db: self.db,
            stamp,
            origin,
            trace: self.trace,
            op: Op::Del { key: self.key },
        });
        e
    }

    /// Sets the deadline. A deadline already past deletes the key, as Redis does. Published as
    /// the key's full state, so replicas that never saw an earlier version still converge.
    pub fn set_expire(&mut self, at: u64) -> bool {
        if self.idx.is_none() {
            return false;
        }
        if at <= self.now {
            self.delete();
            return true;
        }
        self.change_deadline(at);
        true
    }

    /// Removes the deadline; false when there was none (or no key).
    pub fn persist(&mut self) -> bool {
        match self.entry() {
            Some(e) if e.expire_at() != 0 => {
                self.change_deadline(0);
                true
            }
            _ => false,
        }
    }

    fn change_deadline(&mut self, at: u64) {
        let Some(idx) = self.idx else { return };
        let stamp = self.next_stamp();
        let Some(mut e) = self.shard.table.get_mut(idx) else {
            return;
        };
        let meta = e.with(|e| {
            let meta = e.meta();
            e.set_meta(at, nodes::pack(stamp));
            meta
        });
        self.shard.account_sub(meta);
        self.shard.account_add(EntryMeta {
            expire_at: at,
            ..meta
        });
        self.publish_set(stamp, Origin::Local, false);
    }
}

/// The accounting-relevant figures of an entry, so they can be adjusted without re-borrowing.
#[derive(Debug, Clone, Copy)]
pub(super) struct EntryMeta {
    size: usize,
    expire_at: u64,
}

impl Entry {
    pub(super) fn meta(&self) -> EntryMeta {
        EntryMeta {
            size: self.mem_size(),
            expire_at: self.expire_at(),
        }
    }
}

impl Shard {
    pub(super) fn account_add(&mut self, m: EntryMeta) {
        self.used += m.size;
        if m.expire_at != 0 {
            self.volatile += 1;
            self.expire_sum += m.expire_at as u128;
        }
    }

    pub(super) fn account_sub(&mut self, m: EntryMeta) {
        self.used = self.used.saturating_sub(m.size);
        if m.expire_at != 0 {
            self.volatile = self.volatile.saturating_sub(1);
            self.expire_sum = self.expire_sum.saturating_sub(m.expire_at as u128);
        }
    }
}
