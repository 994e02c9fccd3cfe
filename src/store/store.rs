//! The node's keyspace: numbered databases, each split into shards, and the mutation bus.

use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::store::mutation::{Bus, Mutation, Op, Origin};
use crate::util::glob::glob_match;

use super::entry::EntryRef;
use super::evict::{AccessPolicy, Limits, Pool, Pressure, Thresholds};
use super::shard::{Access, KeyRef, Scope, Shard, ShardStats};
use super::value::Kind;
use crate::store::stamp::nodes;

/// Keeps each shard's lock on its own cache lines so that two cores working on neighbouring
/// shards do not slow each other down.
#[repr(align(128))]
#[derive(Debug, Default)]
struct Padded<T>(T);

#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// One database: `2^bits` shards.
#[derive(Debug)]
pub struct Db {
    pub index: u32,
    shards: Box<[Padded<Mutex<Shard>>]>,
    bits: u32,
    /// Bytes and keys of all shards, kept by [`Locked`] as shards are released.
    size: Padded<DbSize>,
}

#[derive(Debug, Default)]
struct DbSize {
    bytes: AtomicI64,
    keys: AtomicI64,
}

/// A locked shard that, when released, adds the change of its byte and key counts to its
/// database's totals — so every path that changes data keeps them exact without thinking of it,
/// and the memory limit is checked without visiting the shards.
pub struct Locked<'a> {
    guard: MutexGuard<'a, Shard>,
    bytes: usize,
    keys: usize,
    size: &'a DbSize,
}

impl std::ops::Deref for Locked<'_> {
    type Target = Shard;
    fn deref(&self) -> &Shard {
        &self.guard
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Shard {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    #[inline]
    fn drop(&mut self) {
        let bytes = self.guard.bytes();
        if bytes != self.bytes {
            let d = bytes as i64 - self.bytes as i64;
            self.size.bytes.fetch_add(d, Ordering::Relaxed);
        }
        let keys = self.guard.len();
        if keys != self.keys {
            let d = keys as i64 - self.keys as i64;
            self.size.keys.fetch_add(d, Ordering::Relaxed);
        }
    }
}

impl Db {
    fn new(index: u32, shards: usize) -> Db {
        let n = shards.max(1).next_power_of_two();
        Db {
            index,
            shards: (0..n).map(|_| Padded::default()).collect(),
            bits: n.trailing_zeros(),
            size: Padded::default(),
        }
    }

    /// Bytes charged to this database's keys and tables.
    #[inline]
    pub fn used(&self) -> u64 {
        self.size.0.bytes.load(Ordering::Relaxed).max(0) as u64
    }

    /// Keys, as last released (DBSIZE without locking).
    #[inline]
    pub fn key_count(&self) -> u64 {
        self.size.0.keys.load(Ordering::Relaxed).max(0) as u64
    }

    /// The shard a hash belongs to (its top bits; the table uses the low bits).
    #[inline]
    fn shard_of(&self, h: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (h >> (64 - self.bits)) as usize
        }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    #[inline]
    fn lock(&self, i: usize) -> Locked<'_> {
        let guard = self.shards[i].0.lock();
        Locked {
            bytes: guard.bytes(),
            keys: guard.len(),
            guard,
            size: &self.size.0,
        }
    }

    fn lock_all(&self) -> Vec<Locked<'_>> {
        (0..self.shards.len()).map(|i| self.lock(i)).collect()
    }

    /// Number of keys (expired ones not yet removed included, as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.key_count() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Summed figures of one database, for INFO.
#[derive(Debug, Default, Clone, Copy)]
pub struct DbFigures {
    pub keys: usize,
    pub volatile: usize,
    pub used: usize,
    pub avg_ttl_ms: u64,
    pub stats: ShardStats,
}

/// A database's filter, summed over its shards.
#[derive(Debug, Default, Clone, Copy)]
pub struct FilterFigures {
    pub size: u64,
    pub capacity: u64,
    pub memory: u64,
    pub fingerprint_bits: u32,
    pub bucket_size: usize,
    /// Most layers any shard's filter has.
    pub layers: usize,
    /// Expected false-positive rate at the current fill, key-weighted over the shards.
    pub expected_fpp: f64,
    /// The filters' own counters, summed.
    pub ops: crate::filter::cuckoo::Ops,
    /// Lookups answered "definitely absent".
    pub negatives: u64,
    /// Lookups answered "maybe" for absent keys.
    pub false_positives: u64,
}

impl FilterFigures {
    /// False positives among lookups of absent keys.
    pub fn observed_fpp(&self) -> f64 {
        let absent = self.negatives + self.false_positives;
        self.false_positives as f64 / absent.max(1) as f64
    }

    pub fn load_factor(&self) -> f64 {
        self.size as f64 / self.capacity.max(1) as f64
    }
}

/// Named stores have ids with this bit set (the numbered databases of `default` are below it).
pub const NAMED: u32 = 1 << 31;

/// The id of a named store: a hash of its name, the same on every node.
pub fn store_id(name: &str) -> u32 {
    NAMED | (xxhash_rust::xxh3::xxh3_64(name.as_bytes()) as u32 & !NAMED)
}

/// One store: its databases (the numbered ones for `default`, one for a named store) and its
/// policies — memory limit, eviction, access tracking, cuckoo filter.
pub struct Store {
    pub name: Box<str>,
    dbs: Box<[Db]>,
    /// LRU or LFU access tracking, for every key of the store.
    pub access: AccessPolicy,
    /// The store's memory limit, its policy and pressure level.
    pub limits: Limits,
    pool: Mutex<Pool>,
    /// The filter's configured false-positive rate (f64 bits); 0 = no filter.
    filter_fpp: std::sync::atomic::AtomicU64,
    /// What the store was created with (named stores), for the HTTP API and snapshots.
    pub spec: parking_lot::RwLock<Option<crate::config::StoreConfig>>,
    /// Whether its changes are persisted: 0 everything, 1 snapshots only, 2 nothing.
    persist: std::sync::atomic::AtomicU8,
    /// Set while the store is deleted (named stores are kept to be reused by name).
    pub dropped: std::sync::atomic::AtomicBool,
    /// Declared in the configuration file: records from the AOF or peers leave it alone.
    pub from_config: std::sync::atomic::AtomicBool,
}

impl Store {
    fn new(name: &str, ids: impl Iterator<Item = u32>, shards: usize) -> Store {
        Store {
            name: name.into(),
            dbs: ids.map(|i| Db::new(i, shards)).collect(),
            access: AccessPolicy::default(),
            limits: Limits::new(
                0,
                crate::config::EvictionPolicy::Lru,
                5,
                Thresholds::default(),
            ),
            pool: Mutex::new(Pool::default()),
            filter_fpp: Default::default(),
            spec: parking_lot::RwLock::new(None),
            persist: Default::default(),
            dropped: Default::default(),
            from_config: Default::default(),
        }
    }

    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    pub fn dbs(&self) -> &[Db] {
        &self.dbs
    }

    /// The database `index` addresses in this store (its only one for a named store).
    #[inline]
    fn db_or_first(&self, index: u32) -> &Db {
        if index & NAMED != 0 {
            return &self.dbs[0];
        }
        self.dbs.get(index as usize).unwrap_or(&self.dbs[0])
    }

    /// Bytes charged to every key and table of the store (what its memory limit bounds).
    pub fn used(&self) -> u64 {
        self.dbs.iter().map(|d| d.used()).sum()
    }

    pub fn keys(&self) -> u64 {
        self.dbs.iter().map(|d| d.key_count()).sum()
    }

    /// Changes the eviction policy, switching access tracking between LRU and LFU with it.
    pub fn set_policy(&self, p: crate::config::EvictionPolicy) {
        use crate::config::EvictionPolicy as P;
        self.limits.set_policy(p);
        self.access.set_lfu(matches!(p, P::Lfu | P::VolatileLfu));
        self.pool.lock().clear();
    }

    /// The filter's configured false-positive rate; `None` when it is off.
    pub fn filter_fpp(&self) -> Option<f64> {
        let v = f64::from_bits(self.filter_fpp.load(Ordering::Relaxed));
        (v > 0.0).then_some(v)
    }

    /// Turns the store's cuckoo filter on (with this false-positive rate) or off.
    pub fn set_filter(&self, fpp: Option<f64>) {
        self.filter_fpp
            .store(fpp.unwrap_or(0.0).to_bits(), Ordering::Relaxed);
        for d in self.dbs.iter() {
            for i in 0..d.shard_count() {
                d.lock(i).set_filter(fpp);
            }
        }
    }

    /// How the store is persisted.
    pub fn set_persistence(&self, p: crate::config::PersistenceStrategy) {
        use crate::config::PersistenceStrategy as P;
        let v = match p {
            P::AofAndSnapshot | P::Aof => 0,
            P::Snapshot => 1,
            P::Disabled => 2,
        };
        self.persist.store(v, Ordering::Relaxed);
    }

    /// Whether the AOF records this store's changes.
    #[inline]
    pub fn in_aof(&self) -> bool {
        self.persist.load(Ordering::Relaxed) == 0
    }

    /// Whether snapshots hold this store's data.
    #[inline]
    pub fn in_snapshots(&self) -> bool {
        self.persist.load(Ordering::Relaxed) < 2
    }

    /// Offers up to `samples` keys of each database of `ks` to its pool (only keys with a TTL
    /// when `volatile`); false when none was found.
    fn sample(
        &self,
        pool: &mut Pool,
        policy: crate::config::EvictionPolicy,
        mode: super::evict::AccessMode,
        samples: usize,
        now: u64,
        volatile: bool,
    ) -> bool {
        let mut found = false;
        for d in self.dbs.iter() {
            if d.key_count() == 0 {
                continue;
            }
            let n = d.shard_count();
            let start = fastrand::usize(..n);
            for i in 0..n {
                let s = d.lock((start + i) % n);
                if s.is_empty() || (volatile && s.volatile == 0) {
                    continue;
                }
                let t = s.table();
                let cap = t.capacity();
                let mut at = fastrand::usize(..cap);
                let mut taken = 0;
                let mut looked = 0;
                // A run of neighbouring slots, as Redis's dictGetSomeKeys.
                while taken < samples && looked < cap {
                    if let Some(e) = t.get(at)
                        && (!volatile || e.expire_at() != 0)
                        && let Some(sc) = super::evict::score(policy, mode, e, now)
                    {
                        pool.offer(sc, d.index, e.key());
                        taken += 1;
                        found = true;
                    }
                    at = (at + 1) % cap;
                    looked += 1;
                }
                break;
            }
        }
        found
    }

    /// Applies a store's configuration; what it leaves unset comes from the node's `cache`.
    pub fn configure(&self, spec: &crate::config::StoreConfig, cache: &crate::config::CacheConfig) {
        self.limits.set_max(spec.max_memory);
        self.limits.set_samples(cache.maxmemory_samples);
        self.limits.set_thresholds(Thresholds {
            warning: cache.memory_warning,
            critical: cache.memory_critical,
            panic: cache.memory_panic,
        });
        self.set_policy(spec.eviction_policy.unwrap_or(cache.eviction_policy));
        let fpp = spec.cuckoo_filter_fpp.unwrap_or(cache.cuckoo_filter_fpp);
        if self.filter_fpp() != spec.cuckoo_filter.then_some(fpp) {
            self.set_filter(spec.cuckoo_filter.then_some(fpp));
        }
        self.set_persistence(spec.persistence.unwrap_or_default());
        *self.spec.write() = Some(spec.clone());
    }

    /// The TTL of keys written over HTTP without one: the store's, else the node's.
    pub fn default_ttl(&self, cache: &crate::config::CacheConfig) -> Option<u64> {
        match self.spec.read().as_ref().and_then(|s| s.default_ttl) {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d.as_millis() as u64),
            None => cache.default_ttl.map(|d| d.as_millis() as u64),
        }
    }

    /// The filter figures of the store, summed over its shards (`None` without a filter).
    pub fn filter_figures(&self) -> Option<FilterFigures> {
        let mut out: Option<FilterFigures> = None;
        for d in self.dbs.iter() {
            for s in d.shards.iter() {
                let s = s.0.lock();
                let Some(f) = s.filter() else { continue };
                let o = out.get_or_insert_with(|| FilterFigures {
                    fingerprint_bits: f.bits(),
                    bucket_size: f.slots(),
                    expected_fpp: 0.0,
                    ..Default::default()
                });
                o.size += f.len() as u64;
                o.capacity += f.capacity() as u64;
                o.memory += f.memory() as u64;
                o.layers = o.layers.max(f.layers());
                o.expected_fpp += f.expected_fpp() * f.len() as f64;
                o.ops += f.ops;
                o.negatives += s.filter_stats.negatives;
                o.false_positives += s.filter_stats.false_positives;
            }
        }
        if let Some(o) = out.as_mut() {
            o.expected_fpp /= o.size.max(1) as f64;
        }
        out
    }
}

/// The keyspace of a node: the `default` store and the named ones.
pub struct Keyspace {
    default: Store,
    /// Named stores by id. Never freed: a deleted store is emptied and kept, to be reused if
    /// a store of the same name is created again, so lookups hand out plain references.
    named: arc_swap::ArcSwap<std::collections::HashMap<u32, &'static Store>>,
    /// Serialises creations and deletions.
    registry: Mutex<()>,
    shards: usize,
    bus: Bus,
    /// Held shared while a snapshot walks the databases, exclusively by SWAPDB, so a snapshot
    /// never sees two databases change places half-way.
    structure: parking_lot::RwLock<()>,
    /// The node-wide limit (`cache.max_memory`) over all stores.
    pub node_limits: Limits,
    /// The node's `cache` settings, which stores inherit what they do not set.
    cache: parking_lot::RwLock<crate::config::CacheConfig>,
    tombstones: std::sync::atomic::AtomicBool,
    /// Named stores allowed at once (`cache.max_stores`).
    max_stores: std::sync::atomic::AtomicU32,
}

/// Why a record (from a peer or a file) was refused before it touched anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadRecord {
    #[error("database {0} does not exist")]
    NoSuchDb(u32),
    #[error("store {0:#x} does not exist")]
    NoSuchStore(u32),
    #[error("SWAPDB of databases {0} and {1}")]
    BadSwap(u32, u32),
    #[error("a node-wide change addressed to database {0}")]
    NotNodeWide(u32),
    #[error("Lamport time {0} is beyond the largest a stamp may hold")]
    StampTooLarge(u64),
    #[error("deadline {0} is out of range")]
    BadDeadline(u64),
    #[error("a string change reaching byte {0}, beyond the largest string")]
    TooLong(u64),
}

/// The largest string a record may produce (Redis's `proto-max-bulk-len` ceiling).
pub const MAX_STRING: u64 = 512 << 20;

/// What applying a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Yes,
    /// Not newer than what the key holds (last writer wins), or already there.
    Stale,
    /// A change to a version this node does not hold (it missed an earlier write): the
    /// full value must be fetched instead.
    Behind,
}

/// The largest Lamport time a record may carry: half of the 48 bits an entry keeps, so that
/// no record, however forged, can push the clock to where stamps stop increasing.
pub const MAX_LAMPORT: u64 = 1 << 47;

impl Keyspace {
    pub fn new(databases: usize, shards: usize, bus: Bus) -> Keyspace {
        Keyspace {
            default: Store::new("default", 0..databases.max(1) as u32, shards),
            named: Default::default(),
            registry: Mutex::new(()),
            shards,
            bus,
            structure: parking_lot::RwLock::new(()),
            node_limits: Limits::new(
                0,
                crate::config::EvictionPolicy::Lru,
                5,
                Thresholds::default(),
            ),
            cache: Default::default(),
            tombstones: std::sync::atomic::AtomicBool::new(false),
            max_stores: std::sync::atomic::AtomicU32::new(256),
        }
    }

    /// Sets how many named stores may exist at once.
    pub fn set_max_stores(&self, n: u32) {
        self.max_stores.store(n, Ordering::Relaxed);
    }

    /// Checks every field of a record from a peer or a file against this node before it is
    /// applied: databases and stores that exist, a SWAPDB of two distinct numbered databases,
    /// node-wide changes addressed as they are made, stamps and deadlines in range.
    pub fn check_record(&self, m: &Mutation<'_>) -> Result<(), BadRecord> {
        if m.stamp.lamport > MAX_LAMPORT {
            return Err(BadRecord::StampTooLarge(m.stamp.lamport));
        }
        let numbered = |db: u32| db & NAMED == 0 && (db as usize) < self.databases();
        let exists = |db: u32| {
            if db & NAMED != 0 {
                self.find(db).map(|_| ()).ok_or(BadRecord::NoSuchStore(db))
            } else if numbered(db) {
                Ok(())
            } else {
                Err(BadRecord::NoSuchDb(db))
            }
        };
        match m.op {
            Op::Set { expire_at, .. } | Op::Expire { at: expire_at, .. } => {
                if expire_at > i64::MAX as u64 {
                    return Err(BadRecord::BadDeadline(expire_at));
                }
                exists(m.db)
            }
            Op::Splice { offset, bytes, .. } => {
                let end = offset.saturating_add(bytes.len() as u64);
                if end > MAX_STRING {
                    return Err(BadRecord::TooLong(end));
                }
                exists(m.db)
            }
            Op::Del { .. }
            | Op::Expired { .. }
            | Op::Evicted { .. }
            | Op::Persist { .. }
            | Op::FlushDb => exists(m.db),
            Op::SwapDb { other } => {
                if numbered(m.db) && numbered(other) && m.db != other {
                    Ok(())
                } else {
                    Err(BadRecord::BadSwap(m.db, other))
                }
            }
            Op::FlushAll | Op::CreateStore { .. } | Op::DropStore { .. } => {
                if m.db == 0 {
                    Ok(())
                } else {
                    Err(BadRecord::NotNodeWide(m.db))
                }
            }
        }
    }

    /// The node's `cache` settings, inherited by stores.
    pub fn set_cache_defaults(&self, c: crate::config::CacheConfig) {
        *self.cache.write() = c;
    }

    /// Creates a named store, or reconfigures it, and publishes the change (the AOF records it,
    /// every peer applies it). `from_config`: declared in the configuration file; `trace`: the
    /// correlation id of the request that asked.
    pub fn define_store(
        &self,
        spec: &crate::config::StoreConfig,
        from_config: bool,
        trace: Option<&str>,
    ) -> Result<&Store, String> {
        if spec.name == "default" {
            self.configure_store(&self.default, spec);
            return Ok(&self.default);
        }
        let ks = match self.create_store(&spec.name) {
            Ok(ks) => ks,
            Err("exists") => self
                .by_name(&spec.name)
                .ok_or_else(|| "the store is being deleted".to_string())?,
            Err(why) => return Err(why.to_string()),
        };
        self.configure_store(ks, spec);
        if from_config {
            ks.from_config.store(true, Ordering::Relaxed);
        } else {
            let json = spec.to_json().to_string();
            self.bus.emit_traced(
                0,
                Origin::Local,
                Op::CreateStore {
                    name: spec.name.as_bytes(),
                    spec: json.as_bytes(),
                },
                trace,
            );
        }
        Ok(ks)
    }

    /// Deletes a named store with its data and publishes it. `Err` names why not.
    pub fn delete_store(&self, name: &str, trace: Option<&str>) -> Result<(), &'static str> {
        let ks = self.by_name(name).ok_or("not found")?;
        if name == "default" || ks.from_config.load(Ordering::Relaxed) {
            return Err("declared in the configuration file");
        }
        if !self.drop_store(name) {
            return Err("not found");
        }
        self.bus.emit_traced(
            0,
            Origin::Local,
            Op::DropStore {
                name: name.as_bytes(),
            },
            trace,
        );
        Ok(())
    }

    /// Applies a store's configuration, and keeps its changes off the AOF if it says so.
    pub fn configure_store(&self, ks: &Store, spec: &crate::config::StoreConfig) {
        ks.configure(spec, &self.cache.read());
        let id = ks.dbs[0].index & NAMED;
        let id = if id == 0 { 0 } else { ks.dbs[0].index };
        self.bus.set_off_disk(id, !ks.in_aof());
        self.bus.store_configured(id, spec);
    }

    /// The records that recreate the runtime-created stores (written first in a snapshot).
    pub fn store_records(&self) -> Vec<(String, String)> {
        self.stores()
            .into_iter()
            .filter(|k| &*k.name != "default" && !k.from_config.load(Ordering::Relaxed))
            .filter_map(|k| {
                let spec = k.spec.read().clone()?;
                Some((spec.name.clone(), spec.to_json().to_string()))
            })
            .collect()
    }

    /// The `default` store (numbered databases).
    pub fn default_store(&self) -> &Store {
        &self.default
    }

    /// The store `db` belongs to; `None` for a named store that does not exist.
    #[inline]
    pub fn find(&self, db: u32) -> Option<&Store> {
        if db & NAMED == 0 {
            return Some(&self.default);
        }
        let ks: &'static Store = *self.named.load().get(&db)?;
        (!ks.dropped.load(Ordering::Relaxed)).then_some(ks)
    }

    /// The store a name designates.
    pub fn by_name(&self, name: &str) -> Option<&Store> {
        if name == "default" {
            return Some(&self.default);
        }
        self.find(store_id(name)).filter(|ks| &*ks.name == name)
    }

    /// The store `db` belongs to. A database of a store deleted meanwhile resolves to `default`'s
    /// first database only if the callers did not check first — they do (commands check their
    /// client's store, records of unknown stores are dropped).
    #[inline]
    pub fn keyspace(&self, db: u32) -> &Store {
        self.find(db).unwrap_or(&self.default)
    }

    /// Every live store, `default` first.
    pub fn stores(&self) -> Vec<&Store> {
        let mut v = vec![&self.default];
        let named = self.named.load();
        let mut others: Vec<&Store> = named
            .values()
            .copied()
            .filter(|k| !k.dropped.load(Ordering::Relaxed))
            .collect();
        others.sort_by(|a, b| a.name.cmp(&b.name));
        v.extend(others);
        v
    }

    /// Creates (or revives) a named store; `Err` when a different store already holds its id
    /// or the name is taken. Its policies are applied by the caller.
    pub fn create_store(&self, name: &str) -> Result<&Store, &'static str> {
        let _g = self.registry.lock();
        let id = store_id(name);
        let map = self.named.load_full();
        let max = self.max_stores.load(Ordering::Relaxed) as usize;
        let live = map
            .values()
            .filter(|k| !k.dropped.load(Ordering::Relaxed))
            .count();
        if let Some(ks) = map.get(&id) {
            if &*ks.name != name {
                return Err("the name collides with another store's; choose another name");
            }
            if !ks.dropped.load(Ordering::Relaxed) {
                return Err("exists");
            }
            if live >= max {
                return Err("too many stores (cache.max_stores)");
            }
            ks.dropped.store(false, Ordering::Relaxed);
            return Ok(*ks);
        }
        if live >= max {
            return Err("too many stores (cache.max_stores)");
        }
        // Deleted stores are kept for reuse by name; new names past this bound would only
        // accumulate them.
        if map.len() >= max.saturating_mul(2).max(64) {
            return Err("too many stores were created and deleted; reuse a name or restart");
        }
        let ks: &'static Store =
            Box::leak(Box::new(Store::new(name, std::iter::once(id), self.shards)));
        let mut next = (*map).clone();
        next.insert(id, ks);
        self.named.store(std::sync::Arc::new(next));
        Ok(ks)
    }

    /// Deletes a named store: empties it and hides it. False when there is no such store.
    pub fn drop_store(&self, name: &str) -> bool {
        let _g = self.registry.lock();
        let Some(ks) = self.find(store_id(name)).filter(|k| &*k.name == name) else {
            return false;
        };
        ks.dropped.store(true, Ordering::Relaxed);
        for d in ks.dbs.iter() {
            let mut guards = d.lock_all();
            let old: Vec<_> = guards.iter_mut().map(|g| g.clear()).collect();
            drop(guards);
            free(old, true);
        }
        *ks.spec.write() = None;
        true
    }

    /// Bytes charged to every store (what `cache.max_memory` bounds). Checked on every write
    /// under a node limit, so it walks the map without collecting or sorting it.
    pub fn used(&self) -> u64 {
        let named: u64 = self
            .named
            .load()
            .values()
            .filter(|k| !k.dropped.load(Ordering::Relaxed))
            .map(|k| k.used())
            .sum();
        self.default.used() + named
    }

    /// Every database of every store, in order.
    fn all_dbs(&self) -> Vec<&Db> {
        self.stores()
            .into_iter()
            .flat_map(|k| k.dbs.iter())
            .collect()
    }

    /// What the filter says of a key: `None` without a filter, else whether it may be present.
    pub fn may_contain(&self, db: u32, key: &[u8]) -> Option<bool> {
        let d = self.db_or_first(db);
        let h = hash_key(key);
        let s = d.shards[d.shard_of(h)].0.lock();
        s.filter().map(|f| f.peek(h))
    }

    /// Before a write to `db`'s store that may grow memory: keeps the store within its own
    /// limit and the node within `cache.max_memory`. At a limit's critical level, evicts keys
    /// (the store's own, by its policy; for the node limit, the largest store's) until usage is
    /// back under it; at panic, when nothing more can be evicted (noeviction, or a volatile
    /// policy without keys with a TTL), refuses the write. Records the levels, logging each
    /// change once.
    pub fn make_room(&self, db: u32, now: u64) -> Result<(), Pressure> {
        let ks = self.keyspace(db);
        let own = if ks.limits.max() > 0 {
            self.keep_within(&ks.limits, &ks.name, || ks.used(), || ks, now)
        } else {
            Ok(())
        };
        let node = if self.node_limits.max() > 0 {
            self.keep_within(
                &self.node_limits,
                "node",
                || self.used(),
                || {
                    // The store that holds the most gives memory back.
                    self.stores()
                        .into_iter()
                        .filter(|k| k.limits.policy() != crate::config::EvictionPolicy::NoEviction)
                        .max_by_key(|k| k.used())
                        .unwrap_or(ks)
                },
                now,
            )
        } else {
            Ok(())
        };
        own.and(node)
    }

    /// Before a write that will add about `bytes` to `db`'s store (a SET's value, the room
    /// SETRANGE pads, an APPEND's tail): evicts until it fits under the store's and the node's
    /// limits, or refuses it — so no single write, however large, carries usage past a limit,
    /// and it is refused before anything is allocated for it.
    pub fn reserve(&self, db: u32, bytes: u64, now: u64) -> Result<(), Pressure> {
        if bytes == 0 {
            return Ok(());
        }
        let ks = self.keyspace(db);
        self.fit(&ks.limits, bytes, || ks.used(), || ks, now)?;
        self.fit(
            &self.node_limits,
            bytes,
            || self.used(),
            || self.largest_evictable().unwrap_or(ks),
            now,
        )
    }

    /// Whether `db`'s store or the node has a memory limit (else [`Keyspace::reserve`] is moot).
    pub fn limited(&self, db: u32) -> bool {
        self.node_limits.max() > 0 || self.keyspace(db).limits.max() > 0
    }

    fn largest_evictable(&self) -> Option<&Store> {
        self.stores()
            .into_iter()
            .filter(|k| k.limits.policy() != crate::config::EvictionPolicy::NoEviction)
            .max_by_key(|k| k.used())
    }

    fn fit<'a>(
        &'a self,
        limits: &Limits,
        bytes: u64,
        used_now: impl Fn() -> u64,
        victim_store: impl Fn() -> &'a Store,
        now: u64,
    ) -> Result<(), Pressure> {
        let max = limits.max();
        if max == 0 {
            return Ok(());
        }
        if bytes > max {
            return Err(Pressure::Panic);
        }
        let started = std::time::Instant::now();
        let mut n = 0u32;
        while used_now().saturating_add(bytes) > max {
            if !self.evict_one(victim_store(), now) {
                return Err(Pressure::Panic);
            }
            n += 1;
            // As for `make_room`: a write is not refused while eviction makes progress; what
            // one write's time budget does not evict, the background cycle does.
            if n.is_multiple_of(32) && started.elapsed() >= std::time::Duration::from_millis(25) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn keep_within<'a>(
        &'a self,
        limits: &Limits,
        name: &str,
        used_now: impl Fn() -> u64,
        victim_store: impl Fn() -> &'a Store,
        now: u64,
    ) -> Result<(), Pressure> {
        let mut used = used_now();
        let met = limits.level_of(used);
        let mut stuck = false;
        if met >= Pressure::Critical {
            let target = limits.bytes_at(Pressure::Critical);
            // Bounded in time so one client's latency stays short; the cron carries on.
            let budget = if met == Pressure::Panic {
                std::time::Duration::from_millis(25)
            } else {
                std::time::Duration::from_millis(2)
            };
            let started = std::time::Instant::now();
            let mut n = 0u32;
            while used >= target {
                if !self.evict_one(victim_store(), now) {
                    stuck = true;
                    break;
                }
                n += 1;
                used = used_now();
                if n.is_multiple_of(32) && started.elapsed() >= budget {
                    break;
                }
            }
        }
        note_pressure(limits, name, met, used);
        // As Redis: a write is refused when nothing more can be evicted, not while eviction
        // is still making progress (the cron goes on with it).
        if stuck && limits.level_of(used) == Pressure::Panic {
            Err(Pressure::Panic)
        } else {
            Ok(())
        }
    }

    /// Every store's and the node's limits, from the background cycle: evicts what writes
    /// from peers brought in, and notes levels falling after deletes.
    pub fn maintain_memory(&self, now: u64) {
        for ks in self.stores() {
            if ks.limits.max() > 0 {
                let _ = self.keep_within(&ks.limits, &ks.name, || ks.used(), || ks, now);
            }
        }
        if self.node_limits.max() > 0 {
            let _ = self.make_room(0, now);
        }
    }

    /// Evicts one key of `ks` chosen by its policy; false when there is none to evict.
    fn evict_one(&self, ks: &Store, now: u64) -> bool {
        use super::evict::{score, volatile_only};
        let policy = ks.limits.policy();
        if policy == crate::config::EvictionPolicy::NoEviction {
            return false;
        }
        let mode = ks.access.mode();
        let samples = ks.limits.samples() as usize;
        let mut pool = ks.pool.lock();
        // `session` samples sessions (keys with a TTL) first, other keys only when none is left.
        let volatile_first =
            volatile_only(policy) || policy == crate::config::EvictionPolicy::Session;
        if !ks.sample(&mut pool, policy, mode, samples, now, volatile_first)
            && !volatile_only(policy)
            && volatile_first
        {
            ks.sample(&mut pool, policy, mode, samples, now, false);
        }
        let mut rescored = 0;
        while let Some(c) = pool.take_best() {
            let d = ks.db_or_first(c.db);
            let h = hash_key(&c.key);
            let mut s = d.lock(d.shard_of(h));
            let Some(idx) = s.table().find(h as u32, &c.key) else {
                continue;
            };
            let Some(sc) = s.table().get(idx).and_then(|e| score(policy, mode, e, now)) else {
                continue;
            };
            // Touched since it was sampled: put it back at its true rank.
            if sc < c.score && rescored < super::evict::POOL_SIZE {
                rescored += 1;
                pool.offer(sc, c.db, &c.key);
                continue;
            }
            let tombstones = self.tombstones_enabled();
            s.evict_at(idx, &self.bus, d.index, now, tombstones);
            return true;
        }
        false
    }

    /// Visits every shard of every database in order: `under_lock` runs with the shard locked,
    /// `after` with what it returned once the lock is released. Writes wait for at most one
    /// shard at a time.
    pub fn for_each_shard<T>(
        &self,
        mut under_lock: impl FnMut(u32, &Shard) -> T,
        mut after: impl FnMut(T),
    ) {
        let _structure = self.structure.read();
        // Stores kept out of snapshots (persistence: aof-only is in; disabled is not).
        let dbs: Vec<&Db> = self
            .stores()
            .into_iter()
            .filter(|k| k.in_snapshots())
            .flat_map(|k| k.dbs.iter())
            .collect();
        for d in dbs {
            for s in d.shards.iter() {
                let t = {
                    let g = s.0.lock();
                    under_lock(d.index, &g)
                };
                after(t);
            }
        }
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The numbered databases (of `default`).
    pub fn databases(&self) -> usize {
        self.default.dbs.len()
    }

    pub fn db(&self, index: u32) -> Option<&Db> {
        let ks = self.find(index)?;
        if index & NAMED != 0 {
            ks.dbs.first()
        } else {
            ks.dbs.get(index as usize)
        }
    }

    #[inline]
    fn db_or_first(&self, index: u32) -> &Db {
        self.keyspace(index).db_or_first(index)
    }

    /// Runs `f` on one key with its shard locked. The lock is held only for `f`, which must not
    /// block or await.
    #[inline]
    pub fn with_key<R>(
        &self,
        db: u32,
        key: &[u8],
        now: u64,
        access: Access,
        f: impl FnOnce(&mut KeyRef<'_>) -> R,
    ) -> R {
        self.with_key_traced(db, key, now, access, None, f)
    }

    /// [`Keyspace::with_key`] for a request with a correlation id (`trace`), which the changes'
    /// Mutations carry to the replicas.
    #[inline]
    pub fn with_key_traced<R>(
        &self,
        db: u32,
        key: &[u8],
        now: u64,
        access: Access,
        trace: Option<&str>,
        f: impl FnOnce(&mut KeyRef<'_>) -> R,
    ) -> R {
        let ks = self.keyspace(db);
        let d = ks.db_or_first(db);
        let h = hash_key(key);
        let mut shard = d.lock(d.shard_of(h));
        let at = Scope {
            bus: &self.bus,
            db: d.index,
            now,
            mode: ks.access.mode(),
            tombstones: self.tombstones_enabled(),
            trace,
        };
        let mut k = KeyRef::open(&mut shard, at, key, h, access);
        f(&mut k)
    }

    /// Runs `f` with the shards of all `keys` (db, key) locked, for commands that must see and
    /// change several keys atomically. Locks are taken in (db, shard) order, so two such
    /// commands can never deadlock.
    pub fn with_keys<'k, R>(
        &self,
        keys: impl IntoIterator<Item = (u32, &'k [u8])>,
        now: u64,
        f: impl FnOnce(&mut Multi<'_>) -> R,
    ) -> R {
        let mut wanted: Vec<(u32, usize)> = keys
            .into_iter()
            .map(|(db, k)| {
                let d = self.db_or_first(db);
                (d.index, d.shard_of(hash_key(k)))
            })
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let guards = wanted
            .into_iter()
            .map(|(db, s)| (db, s, self.db_or_first(db).lock(s)))
            .collect();
        let mut m = Multi {
            store: self,
            guards,
            now,
        };
        f(&mut m)
    }

    /// Figures of one database, summed over its shards.
    pub fn figures(&self, db: u32, now: u64) -> DbFigures {
        let mut f = DbFigures::default();
        let mut expire_sum: u128 = 0;
        for s in self.db_or_first(db).shards.iter() {
            let s = s.0.lock();
            f.keys += s.len();
            f.volatile += s.volatile;
            f.used += s.used;
            if let Some(avg) = s.avg_expire_at() {
                expire_sum += avg as u128 * s.volatile as u128;
            }
            f.stats.hits += s.stats.hits;
            f.stats.misses += s.stats.misses;
            f.stats.expired += s.stats.expired;
            f.stats.evicted += s.stats.evicted;
        }
        if f.volatile > 0 {
            let avg = (expire_sum / f.volatile as u128) as u64;
            f.avg_ttl_ms = avg.saturating_sub(now);
        }
        f
    }

    /// Figures of every database, summed.
    pub fn totals(&self, now: u64) -> DbFigures {
        let mut t = DbFigures::default();
        for d in self.all_dbs() {
            let f = self.figures(d.index, now);
            t.keys += f.keys;
            t.volatile += f.volatile;
            t.used += f.used;
            t.stats.hits += f.stats.hits;
            t.stats.misses += f.stats.misses;
            t.stats.expired += f.stats.expired;
            t.stats.evicted += f.stats.evicted;
        }
        t
    }

    /// Clears the hit/miss/expiry counters (CONFIG RESETSTAT).
    pub fn reset_stats(&self) {
        for d in self.all_dbs() {
            for s in d.shards.iter() {
                s.0.lock().stats = ShardStats::default();
            }
        }
    }

    pub fn dbsize(&self, db: u32) -> usize {
        self.db_or_first(db).len()
    }

    /// Removes every key of `db`. With `lazy`, the memory is freed on another thread.
    pub fn flushdb(&self, db: u32, lazy: bool) {
        let d = self.db_or_first(db);
        let mut guards = d.lock_all();
        let old: Vec<_> = guards.iter_mut().map(|g| g.clear()).collect();
        self.bus.emit(d.index, Origin::Local, Op::FlushDb);
        drop(guards);
        free(old, lazy);
    }

    /// Removes every key of every database.
    pub fn flushall(&self, lazy: bool) {
        let dbs = self.all_dbs();
        let mut guards: Vec<_> = dbs.iter().flat_map(|d| d.lock_all()).collect();
        let old: Vec<_> = guards.iter_mut().map(|g| g.clear()).collect();
        self.bus.emit(0, Origin::Local, Op::FlushAll);
        drop(guards);
        free(old, lazy);
    }

    /// Swaps the contents of two databases (SWAPDB).
    pub fn swapdb(&self, a: u32, b: u32) {
        let (lo, hi) = (a.min(b), a.max(b));
        let (Some(dl), Some(dh)) = (self.db(lo), self.db(hi)) else {
            return;
        };
        // Two indexes that resolve to one database would lock its shards twice.
        if std::ptr::eq(dl, dh) {
            return;
        }
        let _structure = self.structure.write();
        let mut gl = dl.lock_all();
        let mut gh = dh.lock_all();
        for (x, y) in gl.iter_mut().zip(gh.iter_mut()) {
            std::mem::swap(&mut **x, &mut **y);
        }
        self.bus.emit(a, Origin::Local, Op::SwapDb { other: b });
    }

    /// One step of SCAN over `db`. The cursor carries the shard in its low bits and that shard's
    /// table cursor above them, so it stays valid while shards resize.
    pub fn scan(
        &self,
        db: u32,
        cursor: u64,
        count: usize,
        now: u64,
        mut f: impl FnMut(EntryRef<'_>),
    ) -> u64 {
        let d = self.db_or_first(db);
        let bits = d.bits;
        let mut shard = (cursor & ((1u64 << bits) - 1)) as usize;
        let mut inner = cursor >> bits;
        let mut emitted = 0;
        let mut visits = 0;
        // As Redis: stop after about `count` entries, or ten times as many empty buckets.
        while emitted < count && visits < count.saturating_mul(10).max(10) {
            {
                let s = d.lock(shard);
                inner = s.table().scan(inner, |e| {
                    if !e.is_expired(now) {
                        emitted += 1;
                        f(e);
                    }
                });
            }
            visits += 1;
            if inner == 0 {
                shard += 1;
                if shard >= d.shard_count() {
                    return 0;
                }
            }
        }
        (inner << bits) | shard as u64
    }

    /// Every live key of `db` matching `pattern` (KEYS).
    pub fn keys(&self, db: u32, pattern: &[u8], now: u64) -> Vec<Vec<u8>> {
        let all = pattern == b"*";
        let mut out = Vec::new();
        for s in self.db_or_first(db).shards.iter() {
            let s = s.0.lock();
            for e in s.table().iter() {
                if !e.is_expired(now) && (all || glob_match(pattern, e.key(), false)) {
                    out.push(e.key().to_vec());
                }
            }
        }
        out
    }

    /// A random live key of `db`, or None when it is empty (RANDOMKEY).
    pub fn random_key(&self, db: u32, now: u64) -> Option<Vec<u8>> {
        let d = self.db_or_first(db);
        let n = d.shard_count();
        // Pick shards by weight of their size so keys are (roughly) uniformly chosen.
        for _ in 0..100 {
            let sizes: Vec<usize> = d.shards.iter().map(|s| s.0.lock().len()).collect();
            let total: usize = sizes.iter().sum();
            if total == 0 {
                return None;
            }
            let mut pick = fastrand::usize(..total);
            let mut si = 0;
            while si < n && pick >= sizes[si] {
                pick -= sizes[si];
                si += 1;
            }
            let mut s = d.lock(si.min(n - 1));
            let cap = s.table().capacity();
            if cap == 0 {
                continue;
            }
            let Some(idx) = s.table().occupied_from(fastrand::usize(..cap)) else {
                continue;
            };
            let Some(e) = s.table().get(idx) else {
                continue;
            };
            if !e.is_expired(now) {
                return Some(e.key().to_vec());
            }
            // Expired: remove it as Redis's lazy expiry would, and try again.
            let key = e.key().to_vec();
            if s.remove_at(idx).is_some() {
                s.stats.expired += 1;
                self.bus
                    .emit(d.index, Origin::Local, Op::Expired { key: &key });
            }
        }
        None
    }

    /// The type of a key without touching it.
    pub fn kind(&self, db: u32, key: &[u8], now: u64) -> Option<Kind> {
        self.with_key(db, key, now, Access::Peek, |k| k.value().map(|v| v.kind()))
    }

    /// One pass of active expiry over every database: sweeps shards until `budget_slots`
    /// slots have been examined. Returns the number of keys removed.
    pub fn expire_cycle(&self, now: u64, budget_slots: usize) -> usize {
        const STEP: usize = 1024; // slots per lock hold: keeps each pause short
        let mut removed = 0;
        let mut left = budget_slots;
        for d in self.all_dbs() {
            for i in 0..d.shard_count() {
                loop {
                    if left == 0 {
                        return removed;
                    }
                    let mut g = d.lock(i);
                    if g.volatile == 0 {
                        break;
                    }
                    let cap = g.table().capacity();
                    let (seen, r) = g.sweep_expired(
                        &self.bus,
                        d.index,
                        now,
                        self.tombstones_enabled(),
                        STEP.min(left),
                    );
                    drop(g);
                    removed += r;
                    left = left.saturating_sub(seen.max(1));
                    // One full lap per cycle at most.
                    if seen < STEP || seen >= cap {
                        break;
                    }
                }
            }
        }
        removed
    }

    /// Applies a mutation from the node's own AOF or snapshot, in log order, with its stamp.
    pub fn apply(&self, m: &Mutation<'_>, now: u64) -> Result<(), BadRecord> {
        self.check_record(m)?;
        self.apply_inner(m, now, false);
        Ok(())
    }

    /// Applies a mutation from a peer: a keyed change is applied only when its stamp is newer
    /// than the key's (or its tombstone's) — last writer wins, ties to the higher node id — so
    /// every replica ends with the same value whatever order changes arrive in. Returns whether
    /// it was applied.
    pub fn apply_remote(&self, m: &Mutation<'_>, now: u64) -> Result<Applied, BadRecord> {
        self.check_record(m)?;
        Ok(self.apply_inner(m, now, true))
    }

    fn apply_inner(&self, m: &Mutation<'_>, now: u64, lww: bool) -> Applied {
        if let Op::Splice {
            key,
            offset,
            bytes,
            base,
        } = m.op
        {
            self.bus.clock().observe(m.stamp.lamport);
            // In log order (replay) as from peers: the change applies to its base version
            // only. A replayed change the snapshot already holds is stale; one whose base is
            // gone (its key expired meanwhile) is skipped.
            return self.with_key_at(m.db, key, now, |k| {
                let cur = k.stamp().unwrap_or_default();
                if cur != base && !nodes::newer(m.stamp, cur) {
                    return Applied::Stale;
                }
                if cur != base
                    || k.splice_stamped(offset, bytes, m.stamp, m.origin, base)
                        .is_none()
                {
                    return Applied::Behind;
                }
                Applied::Yes
            });
        }
        if self.apply_whole(m, now, lww) {
            Applied::Yes
        } else {
            Applied::Stale
        }
    }

    fn apply_whole(&self, m: &Mutation<'_>, now: u64, lww: bool) -> bool {
        self.bus.clock().observe(m.stamp.lamport);
        let db = m.db;
        let newer = |k: &KeyRef<'_>| !lww || k.stamp().is_none_or(|s| nodes::newer(m.stamp, s));
        match m.op {
            Op::Splice { .. } => false,
            Op::Set {
                key,
                value,
                expire_at,
            } => self.with_key_at(db, key, now, |k| {
                if !newer(k) {
                    return false;
                }
                if expire_at != 0 && expire_at < now {
                    // Already dead: what remains is its absence.
                    k.delete_stamped(m.stamp, m.origin);
                } else {
                    k.install_from(value.to_value(), expire_at, m.stamp, m.origin);
                }
                true
            }),
            Op::Del { key } | Op::Evicted { key } => self.with_key_at(db, key, now, |k| {
                if !newer(k) {
                    return false;
                }
                k.delete_stamped(m.stamp, m.origin);
                true
            }),
            // Each node expires its own copies at the shared deadline.
            Op::Expired { key } => self.with_key_at(db, key, now, |k| {
                if !lww {
                    k.delete_stamped(m.stamp, m.origin);
                }
                !lww
            }),
            // Older nodes' partial changes; this version publishes full states instead.
            Op::Expire { key, at } => {
                self.with_key_at(db, key, now, |k| newer(k) && k.exists() && k.set_expire(at))
            }
            Op::Persist { key } => self.with_key_at(db, key, now, |k| newer(k) && k.persist()),
            Op::FlushDb => {
                let d = self.db_or_first(db);
                let mut guards = d.lock_all();
                let old: Vec<_> = guards.iter_mut().map(|g| g.clear()).collect();
                self.bus.deliver_if_active(m);
                drop(guards);
                free(old, false);
                true
            }
            Op::FlushAll => {
                let dbs = self.all_dbs();
                let mut guards: Vec<_> = dbs.iter().flat_map(|d| d.lock_all()).collect();
                let old: Vec<_> = guards.iter_mut().map(|g| g.clear()).collect();
                self.bus.deliver_if_active(m);
                drop(guards);
                free(old, false);
                true
            }
            // Stores declared in the configuration file are the file's to define.
            Op::CreateStore { name, spec } => {
                let Some(spec) = serde_json::from_slice(spec)
                    .ok()
                    .and_then(|j| crate::config::StoreConfig::from_json(&j).ok())
                    .filter(|s| s.name.as_bytes() == name && s.name != "default")
                else {
                    tracing::warn!(component = "store", "ignored a malformed store record");
                    return false;
                };
                if self
                    .by_name(&spec.name)
                    .is_some_and(|k| k.from_config.load(Ordering::Relaxed))
                {
                    return false;
                }
                let ks = match self.create_store(&spec.name) {
                    Ok(ks) => Some(ks),
                    Err("exists") => self.by_name(&spec.name),
                    Err(_) => None,
                };
                let Some(ks) = ks else { return false };
                self.configure_store(ks, &spec);
                self.bus.deliver_if_active(m);
                true
            }
            Op::DropStore { name } => {
                let name = String::from_utf8_lossy(name);
                if self
                    .by_name(&name)
                    .is_none_or(|k| k.from_config.load(Ordering::Relaxed))
                {
                    return false;
                }
                let dropped = self.drop_store(&name);
                if dropped {
                    self.bus.deliver_if_active(m);
                }
                dropped
            }
            Op::SwapDb { other } => {
                let (lo, hi) = (db.min(other), db.max(other));
                let (Some(dl), Some(dh)) = (self.db(lo), self.db(hi)) else {
                    return false;
                };
                if !std::ptr::eq(dl, dh) {
                    let _structure = self.structure.write();
                    let mut gl = dl.lock_all();
                    let mut gh = dh.lock_all();
                    for (x, y) in gl.iter_mut().zip(gh.iter_mut()) {
                        std::mem::swap(&mut **x, &mut **y);
                    }
                    self.bus.deliver_if_active(m);
                }
                true
            }
        }
    }

    /// A key handle without access tracking (for applying records).
    fn with_key_at<R>(
        &self,
        db: u32,
        key: &[u8],
        now: u64,
        f: impl FnOnce(&mut KeyRef<'_>) -> R,
    ) -> R {
        self.with_key(db, key, now, Access::Peek, f)
    }

    /// Per-range digests of `db`'s live keys (for anti-entropy); `include` filters keys.
    pub fn digests(&self, db: u32, now: u64, include: impl Fn(&[u8]) -> bool) -> Vec<u64> {
        use super::digest::{RANGES, digest_of, range_of};
        let mut d = vec![0u64; RANGES];
        for s in self.db_or_first(db).shards.iter() {
            let s = s.0.lock();
            for e in s.table().iter() {
                if e.is_expired(now) || !include(e.key()) {
                    continue;
                }
                let r = range_of(e.key());
                d[r] = d[r].wrapping_add(digest_of(e.key(), nodes::unpack(e.stamp())));
            }
        }
        d
    }

    /// Every key of one digest range with its stamp, tombstones included (true = tombstone).
    pub fn range_versions(
        &self,
        db: u32,
        range: usize,
        now: u64,
        include: impl Fn(&[u8]) -> bool,
    ) -> Vec<(Vec<u8>, crate::store::stamp::Stamp, bool)> {
        use super::digest::range_of;
        let mut out = Vec::new();
        for s in self.db_or_first(db).shards.iter() {
            let s = s.0.lock();
            for e in s.table().iter() {
                if !e.is_expired(now) && range_of(e.key()) == range && include(e.key()) {
                    out.push((e.key().to_vec(), nodes::unpack(e.stamp()), false));
                }
            }
            for (k, t) in s.tombstones() {
                if range_of(k) == range
                    && include(k)
                    && s.table().find(hash_key(k) as u32, k).is_none()
                {
                    out.push((k.to_vec(), nodes::unpack(t.stamp), true));
                }
            }
        }
        out
    }

    /// This node's version of a key: its stamp, deadline and value (None for a tombstone).
    #[allow(clippy::type_complexity)]
    pub fn version_of(
        &self,
        db: u32,
        key: &[u8],
        now: u64,
    ) -> Option<(crate::store::stamp::Stamp, u64, Option<super::Value>)> {
        self.with_key(db, key, now, Access::Peek, |k| match k.entry() {
            Some(e) => Some((
                nodes::unpack(e.stamp()),
                e.expire_at(),
                Some(e.value().to_value()),
            )),
            None => k.stamp().map(|s| (s, 0, None)),
        })
    }

    /// Whether removals leave tombstones (set once the node is part of a cluster).
    pub fn tombstones_enabled(&self) -> bool {
        self.tombstones.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn enable_tombstones(&self) {
        self.tombstones
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Forgets tombstones older than `before` (ms); returns how many.
    pub fn collect_tombstones(&self, before: u64) -> usize {
        let mut n = 0;
        for d in self.all_dbs() {
            for s in d.shards.iter() {
                n += s.0.lock().collect_tombstones(before);
            }
        }
        n
    }
}

/// Records the level a write met against `limits`, logging each change once. A level is left
/// downwards only once usage is 2% of the limit below it, so a cache that hovers at a threshold
/// (as one that evicts does) does not flap.
fn note_pressure(limits: &Limits, store: &str, met: Pressure, used: u64) {
    let prev = limits.level();
    let level = if met >= prev || used + limits.max() / 50 < limits.bytes_at(prev) {
        met
    } else {
        prev
    };
    if let Some(before) = limits.note_level(level) {
        let max = limits.max();
        if level > before && level >= Pressure::Critical {
            tracing::warn!(
                component = "memory",
                action = "pressure",
                store,
                from = before.name(),
                to = level.name(),
                used,
                max,
                "memory pressure changed"
            );
        } else {
            tracing::info!(
                component = "memory",
                action = "pressure",
                store,
                from = before.name(),
                to = level.name(),
                used,
                max,
                "memory pressure changed"
            );
        }
    }
}

/// Frees dropped tables, on a helper thread when asked (FLUSHALL ASYNC) so the caller's latency
/// does not depend on the data size.
fn free(old: Vec<super::table::Table>, lazy: bool) {
    if lazy && old.iter().map(|t| t.capacity()).sum::<usize>() > 1024 {
        std::thread::spawn(move || drop(old));
    } else {
        drop(old);
    }
}

/// Several shards locked together; hands out one key at a time.
pub struct Multi<'a> {
    store: &'a Keyspace,
    guards: Vec<(u32, usize, Locked<'a>)>,
    now: u64,
}

impl Multi<'_> {
    pub fn now(&self) -> u64 {
        self.now
    }

    /// A handle on `key` of `db`, whose shard must be among those locked.
    pub fn key<'b>(&'b mut self, db: u32, key: &'b [u8], access: Access) -> KeyRef<'b> {
        let d = self.store.db_or_first(db);
        let h = hash_key(key);
        let s = d.shard_of(h);
        let pos = self
            .guards
            .iter()
            .position(|(gd, gs, _)| *gd == d.index && *gs == s);
        let Some(pos) = pos else {
            // A caller bug; fail loudly in tests, and never touch an unlocked shard.
            panic!("Multi::key on a shard that was not locked");
        };
        let shard = &mut *self.guards[pos].2;
        let at = Scope {
            bus: &self.store.bus,
            db: d.index,
            now: self.now,
            mode: self.store.keyspace(db).access.mode(),
            tombstones: self.store.tombstones_enabled(),
            trace: None,
        };
        KeyRef::open(shard, at, key, h, access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EvictionPolicy;
    use crate::store::Value;

    fn store() -> Keyspace {
        Keyspace::new(4, 8, Bus::new(1, Vec::new()))
    }

    /// The exact figures, by visiting every shard.
    fn recount(s: &Keyspace) -> (u64, u64) {
        let mut bytes = 0;
        let mut keys = 0;
        s.for_each_shard(
            |_, sh| (sh.bytes(), sh.len()),
            |(b, k)| {
                bytes += b as u64;
                keys += k as u64;
            },
        );
        (bytes, keys)
    }

    fn set(s: &Keyspace, db: u32, key: &[u8], len: usize, expire_at: u64) {
        s.with_key(db, key, 0, Access::Write, |k| {
            k.set(Value::Str(vec![b'x'; len].into()), expire_at)
        });
    }

    fn splice<'a>(key: &'a [u8], offset: u64, bytes: &'a [u8], base: u64, at: u64) -> Mutation<'a> {
        let st = |l| crate::store::stamp::Stamp {
            lamport: l,
            node: 9,
        };
        Mutation {
            db: 0,
            stamp: st(at),
            origin: Origin::Peer,
            trace: None,
            op: Op::Splice {
                key,
                offset,
                bytes,
                base: if base == 0 {
                    Default::default()
                } else {
                    st(base)
                },
            },
        }
    }

    fn get(s: &Keyspace, key: &[u8]) -> Option<Vec<u8>> {
        s.with_key(0, key, 0, Access::Peek, |k| {
            k.value().and_then(|v| v.to_bytes())
        })
    }

    #[test]
    fn a_splice_applies_to_its_base_version_only() {
        let s = store();
        // Created from nothing, zero-padded.
        assert_eq!(
            s.apply_remote(&splice(b"k", 3, b"ab", 0, 10), 0),
            Ok(Applied::Yes)
        );
        assert_eq!(get(&s, b"k").unwrap(), b"\0\0\0ab");
        // On top of that version, in place and past the end.
        assert_eq!(
            s.apply_remote(&splice(b"k", 4, b"XYZ", 10, 11), 0),
            Ok(Applied::Yes)
        );
        assert_eq!(get(&s, b"k").unwrap(), b"\0\0\0aXYZ");
        // The same record again, and an older one: stale, nothing changes.
        assert_eq!(
            s.apply_remote(&splice(b"k", 4, b"XYZ", 10, 11), 0),
            Ok(Applied::Stale)
        );
        assert_eq!(
            s.apply_remote(&splice(b"k", 0, b"!", 3, 5), 0),
            Ok(Applied::Stale)
        );
        // A newer change to a version this node never saw: it must fetch the value.
        assert_eq!(
            s.apply_remote(&splice(b"k", 0, b"!", 12, 13), 0),
            Ok(Applied::Behind)
        );
        assert_eq!(get(&s, b"k").unwrap(), b"\0\0\0aXYZ");
        // Replayed in log order over a snapshot that already holds it: skipped.
        assert_eq!(s.apply(&splice(b"k", 4, b"XYZ", 10, 11), 0), Ok(()));
        assert_eq!(get(&s, b"k").unwrap(), b"\0\0\0aXYZ");
        // Not a string: behind as well (the versions disagree).
        s.with_key(0, b"f", 0, Access::Write, |k| {
            k.install_from(
                Value::Cuckoo(Box::new(crate::filter::CuckooFilter::new(64, 2, 8, 20, 1))),
                0,
                crate::store::stamp::Stamp {
                    lamport: 20,
                    node: 9,
                },
                Origin::Peer,
            )
        });
        assert_eq!(
            s.apply_remote(&splice(b"f", 0, b"x", 20, 21), 0),
            Ok(Applied::Behind)
        );
        // Past the largest string: refused before anything is allocated.
        assert_eq!(
            s.apply_remote(&splice(b"z", MAX_STRING, b"x", 0, 30), 0),
            Err(BadRecord::TooLong(MAX_STRING + 1))
        );
        assert_eq!(get(&s, b"z"), None);
    }

    #[test]
    fn records_naming_what_does_not_exist_are_refused() {
        let s = store();
        let st = crate::store::stamp::Stamp {
            lamport: 1,
            node: 9,
        };
        let m = |db, op| Mutation {
            db,
            stamp: st,
            origin: Origin::Peer,
            trace: None,
            op,
        };
        assert_eq!(
            s.apply_remote(&m(16, Op::SwapDb { other: 0 }), 0),
            Err(BadRecord::BadSwap(16, 0))
        );
        assert_eq!(
            s.apply_remote(&m(2, Op::SwapDb { other: 2 }), 0),
            Err(BadRecord::BadSwap(2, 2))
        );
        assert_eq!(
            s.apply_remote(&m(4, Op::Del { key: b"k" }), 0),
            Err(BadRecord::NoSuchDb(4))
        );
        assert_eq!(
            s.apply_remote(&m(NAMED | 5, Op::FlushDb), 0),
            Err(BadRecord::NoSuchStore(NAMED | 5))
        );
        assert_eq!(
            s.apply_remote(&m(1, Op::FlushAll), 0),
            Err(BadRecord::NotNodeWide(1))
        );
        let far = Mutation {
            stamp: crate::store::stamp::Stamp {
                lamport: MAX_LAMPORT + 1,
                node: 9,
            },
            ..m(0, Op::Del { key: b"k" })
        };
        assert_eq!(
            s.apply_remote(&far, 0),
            Err(BadRecord::StampTooLarge(MAX_LAMPORT + 1))
        );
        assert_eq!(s.bus().clock().now(), 0, "a refused record moved the clock");
        // And SWAPDB itself never locks one database twice, whatever it is asked.
        s.swapdb(0, 16);
        s.swapdb(16, 0);
        assert_eq!(
            s.apply_remote(&m(0, Op::SwapDb { other: 1 }), 0),
            Ok(Applied::Yes)
        );
    }

    #[test]
    fn byte_and_key_totals_stay_exact() {
        byte_and_key_totals_with(None);
        byte_and_key_totals_with(Some(0.01));
    }

    fn byte_and_key_totals_with(filter: Option<f64>) {
        let s = store();
        s.default_store().set_filter(filter);
        for round in 0..3u64 {
            for i in 0..2000u32 {
                let key = format!("k{i}");
                let db = i % 4;
                match fastrand::u8(..6) {
                    0 => s.with_key(db, key.as_bytes(), 0, Access::Write, |k| {
                        k.delete();
                    }),
                    1 => s.with_key(db, key.as_bytes(), 0, Access::Write, |k| {
                        k.update(|v| v.make_raw().extend_from_slice(b"appended"));
                    }),
                    2 => s.with_key(db, key.as_bytes(), 0, Access::Write, |k| {
                        k.set_expire(10_000 + round);
                    }),
                    3 => s.with_keys([(db, key.as_bytes()), (0, &b"other"[..])], 0, |m| {
                        m.key(db, key.as_bytes(), Access::Write)
                            .set(Value::Int(i as i64), 0);
                        m.key(0, b"other", Access::Write).delete();
                    }),
                    _ => set(&s, db, key.as_bytes(), fastrand::usize(..300), 0),
                }
            }
            // Lazy and active expiry change the figures too.
            s.expire_cycle(20_000, usize::MAX);
            s.flushdb(3, false);
            let (bytes, keys) = recount(&s);
            assert_eq!(s.used(), bytes);
            assert_eq!(s.all_dbs().iter().map(|d| d.key_count()).sum::<u64>(), keys);
            if filter.is_some() {
                // The filter holds exactly one fingerprint per key: every key is found.
                s.for_each_shard(
                    |_, sh| {
                        let f = sh.filter().expect("filter on");
                        assert_eq!(f.len(), sh.len());
                        sh.table().iter().all(|e| f.peek(hash_key(e.key())))
                    },
                    |all| assert!(all, "false negative"),
                );
            }
        }
        s.flushall(false);
        assert_eq!(s.used(), recount(&s).0);
        if filter.is_none() {
            assert_eq!(s.used(), 0);
        }
    }

    fn limited(policy: EvictionPolicy, max: u64) -> Keyspace {
        let s = store();
        s.default_store().limits.set_max(max);
        s.default_store().set_policy(policy);
        s
    }

    /// Writes keys as a client would: room first, then the write.
    fn fill(s: &Keyspace, prefix: &str, n: usize, expire_at: impl Fn(usize) -> u64) -> usize {
        let mut refused = 0;
        for i in 0..n {
            if s.make_room(0, 1_000).is_err() {
                refused += 1;
                continue;
            }
            set(s, 0, format!("{prefix}{i}").as_bytes(), 100, expire_at(i));
        }
        refused
    }

    #[test]
    fn eviction_keeps_usage_under_the_limit() {
        let s = limited(EvictionPolicy::Lru, 200_000);
        assert_eq!(fill(&s, "k", 10_000, |_| 0), 0);
        let max = s.default_store().limits.max();
        assert!(s.used() < max, "{} >= {max}", s.used());
        let evicted: u64 = s.totals(0).stats.evicted;
        assert!(evicted > 5_000, "{evicted}");
        assert!(s.default_store().limits.level() <= Pressure::Critical);
    }

    #[test]
    fn noeviction_refuses_at_panic() {
        let s = limited(EvictionPolicy::NoEviction, 100_000);
        let refused = fill(&s, "k", 5_000, |_| 0);
        assert!(refused > 0);
        assert_eq!(s.totals(0).stats.evicted, 0);
        assert_eq!(s.default_store().limits.level(), Pressure::Panic);
        // Reads and deletes still work, and a delete brings the level down.
        assert!(s.with_key(0, b"k1", 0, Access::Read, |k| k.exists()));
        let all = s.keys(0, b"*", 0);
        for k in all.iter().take(all.len() / 2) {
            s.with_key(0, k, 0, Access::Write, |k| k.delete());
        }
        assert!(s.make_room(0, 1_000).is_ok());
        assert!(s.default_store().limits.level() < Pressure::Critical);
    }

    #[test]
    fn volatile_policies_spare_keys_without_ttl() {
        let s = limited(EvictionPolicy::VolatileLru, 300_000);
        // Persistent keys take about half the room, sessions the rest and more.
        fill(&s, "p", 1_000, |_| 0);
        fill(&s, "v", 5_000, |_| 1_000_000);
        for i in 0..1_000 {
            let key = format!("p{i}");
            assert!(
                s.with_key(0, key.as_bytes(), 0, Access::Peek, |k| k.exists()),
                "{key}"
            );
        }
        assert!(s.totals(0).stats.evicted > 0);
    }

    #[test]
    fn ttl_evicts_the_nearest_deadline_first() {
        let s = limited(EvictionPolicy::Ttl, 300_000);
        // Deadlines rise with i: the survivors are the latest deadlines.
        fill(&s, "v", 5_000, |i| 1_000_000 + i as u64);
        let alive: Vec<usize> = (0..5_000)
            .filter(|i| {
                s.with_key(0, format!("v{i}").as_bytes(), 0, Access::Peek, |k| {
                    k.exists()
                })
            })
            .collect();
        let early = alive.iter().filter(|&&i| i < 2_500).count();
        assert!(early * 10 < alive.len(), "{early} of {}", alive.len());
    }

    #[test]
    fn session_evicts_sessions_before_other_keys() {
        let s = limited(EvictionPolicy::Session, 300_000);
        fill(&s, "p", 1_000, |_| 0);
        fill(&s, "v", 5_000, |_| 1_000_000);
        let persistent = (0..1_000)
            .filter(|i| {
                s.with_key(0, format!("p{i}").as_bytes(), 0, Access::Peek, |k| {
                    k.exists()
                })
            })
            .count();
        assert_eq!(persistent, 1_000);
        // With no session left, other keys go too, unlike volatile-lru.
        let s = limited(EvictionPolicy::Session, 100_000);
        assert_eq!(fill(&s, "p", 5_000, |_| 0), 0);
        assert!(s.totals(0).stats.evicted > 0);
    }

    #[test]
    fn lru_spares_the_recently_used() {
        // About 2,000 keys of this size fit: the 4,000 written must evict.
        let s = limited(EvictionPolicy::Lru, 250_000);
        let mut now = 0;
        let put = |s: &Keyspace, key: &str, now: u64| {
            assert!(s.make_room(0, now).is_ok());
            s.with_key(0, key.as_bytes(), now, Access::Write, |k| {
                k.set(Value::Str(vec![b'x'; 100].into()), 0)
            });
        };
        for i in 0..1_000 {
            now += 20;
            put(&s, &format!("k{i}"), now);
        }
        // The first hundred are read again: now the most recent.
        for i in 0..100 {
            now += 20;
            s.with_key(0, format!("k{i}").as_bytes(), now, Access::Read, |_| ());
        }
        for i in 0..3_000 {
            now += 20;
            put(&s, &format!("n{i}"), now);
            // Keep them in use, as a working set would be.
            if i % 10 == 0 {
                for j in 0..100 {
                    s.with_key(0, format!("k{j}").as_bytes(), now, Access::Read, |_| ());
                }
            }
        }
        let kept = (0..100)
            .filter(|i| {
                s.with_key(0, format!("k{i}").as_bytes(), now, Access::Peek, |k| {
                    k.exists()
                })
            })
            .count();
        let old_kept = (100..1_000)
            .filter(|i| {
                s.with_key(0, format!("k{i}").as_bytes(), now, Access::Peek, |k| {
                    k.exists()
                })
            })
            .count();
        assert!(kept >= 95, "{kept} of the working set kept");
        assert!(old_kept < 100, "{old_kept} idle keys kept");
    }

    /// Zipf(0.99) ranks over `n` keys, by inverse transform of the cumulative weights.
    fn zipf(n: usize) -> impl FnMut() -> usize {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for r in 1..=n {
            sum += 1.0 / (r as f64).powf(0.99);
            cdf.push(sum);
        }
        move || {
            let x = fastrand::f64() * sum;
            cdf.partition_point(|&c| c < x).min(n - 1)
        }
    }

    /// GET, SET on a miss, over a Zipf trace; returns the hit ratio of the second half.
    fn zipf_hit_ratio(policy: EvictionPolicy) -> (f64, Keyspace) {
        // Room for about a tenth of 20k keys of ~200 bytes.
        let s = limited(policy, 450_000);
        let mut next = zipf(20_000);
        let (mut hits, mut lookups) = (0u64, 0u64);
        for i in 0..200_000u64 {
            let now = i / 10;
            let key = format!("key:{}", next());
            let hit = s.with_key(0, key.as_bytes(), now, Access::Read, |k| k.exists());
            if i >= 100_000 {
                lookups += 1;
                hits += hit as u64;
            }
            if !hit {
                assert!(s.make_room(0, now).is_ok());
                s.with_key(0, key.as_bytes(), now, Access::Write, |k| {
                    k.set(Value::Str(vec![b'v'; 100].into()), 0)
                });
            }
        }
        (hits as f64 / lookups as f64, s)
    }

    #[test]
    fn lfu_keeps_hot_keys_under_zipf() {
        let (lfu, s) = zipf_hit_ratio(EvictionPolicy::Lfu);
        let hot = (0..100)
            .filter(|i| {
                s.with_key(0, format!("key:{i}").as_bytes(), 0, Access::Peek, |k| {
                    k.exists()
                })
            })
            .count();
        assert!(hot >= 95, "{hot} of the 100 hottest keys kept");
        let (random, _) = zipf_hit_ratio(EvictionPolicy::Random);
        assert!(lfu > random + 0.03, "lfu {lfu:.3} vs random {random:.3}");
        assert!(s.used() <= s.default_store().limits.max());
    }

    #[test]
    fn the_filter_answers_misses_and_counts_its_mistakes() {
        let s = store();
        s.default_store().set_filter(Some(0.01));
        for i in 0..20_000 {
            set(&s, 0, format!("k{i}").as_bytes(), 10, 0);
        }
        // Growth stacked layers and they were rebuilt into one.
        let f = s.default_store().filter_figures().unwrap();
        assert_eq!(f.size, 20_000);
        assert!(f.ops.resizes > 0 && f.layers <= 2, "{f:?}");
        for i in 0..20_000 {
            let key = format!("k{i}");
            assert_eq!(s.may_contain(0, key.as_bytes()), Some(true));
            assert!(s.with_key(0, key.as_bytes(), 0, Access::Read, |k| k.exists()));
        }
        for i in 0..20_000 {
            let key = format!("absent{i}");
            assert!(!s.with_key(0, key.as_bytes(), 0, Access::Read, |k| k.exists()));
        }
        let f = s.default_store().filter_figures().unwrap();
        assert_eq!(f.negatives + f.false_positives, 20_000);
        assert!(f.observed_fpp() < 0.012, "{}", f.observed_fpp());
        // Deleted keys leave the filter; evicted and expired ones too (remove_at).
        for i in 0..10_000 {
            s.with_key(0, format!("k{i}").as_bytes(), 0, Access::Write, |k| {
                k.delete()
            });
        }
        assert_eq!(s.default_store().filter_figures().unwrap().size, 10_000);
        s.flushall(false);
        assert_eq!(s.default_store().filter_figures().unwrap().size, 0);
        assert_eq!(s.may_contain(0, b"k10001"), Some(false));
    }
}
