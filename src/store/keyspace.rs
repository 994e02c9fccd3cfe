//! All of a node's data: the `default` store and the named ones, and the way from a database
//! id to a key's shard.

use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::db::{Db, free, hash_key};
use super::evict::{Limits, Thresholds};
use super::mutation::{Bus, Op, Origin};
use super::named::{NAMED, Store, store_id};
use super::shard::{Access, KeyRef, Scope};
use super::value::Kind;

/// The keyspace of a node: the `default` store and the named ones.
pub struct Keyspace {
    default: Store,
    /// Named stores by id. Never freed: a deleted store is emptied and kept, to be reused if
    /// a store of the same name is created again, so lookups hand out plain references.
    named: arc_swap::ArcSwap<std::collections::HashMap<u32, &'static Store>>,
    /// Serialises creations and deletions.
    registry: Mutex<()>,
    shards: usize,
    pub(super) bus: Bus,
    /// Held shared while a snapshot walks the databases, exclusively by SWAPDB, so a snapshot
    /// never sees two databases change places half-way.
    pub(super) structure: parking_lot::RwLock<()>,
    /// The node-wide limit (`cache.max_memory`) over all stores.
    pub node_limits: Limits,
    /// The node's `cache` settings, which stores inherit what they do not set.
    cache: parking_lot::RwLock<crate::config::CacheConfig>,
    tombstones: std::sync::atomic::AtomicBool,
    /// Named stores allowed at once (`cache.max_stores`).
    max_stores: std::sync::atomic::AtomicU32,
    /// Clients blocked on keys, woken by writes to them.
    pub waiters: super::waiters::Waiters,
    /// The transaction gate: every change from outside a transaction enters it (commands,
    /// HTTP writes, replicated and repaired versions, expiry steps); EXEC closes it. Entered
    /// only at those outermost points: a thread inside must never enter again.
    pub gate: crate::util::gate::Gate,
    /// FUNCTION's libraries (`store::libraries`).
    pub(super) libraries: super::libraries::Libraries,
}

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
            waiters: Default::default(),
            gate: Default::default(),
            libraries: Default::default(),
        }
    }

    /// Sets how many named stores may exist at once.
    pub fn set_max_stores(&self, n: u32) {
        self.max_stores.store(n, Ordering::Relaxed);
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
    pub fn store_of(&self, db: u32) -> &Store {
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
    pub(super) fn all_dbs(&self) -> Vec<&Db> {
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
    pub(super) fn db_or_first(&self, index: u32) -> &Db {
        self.store_of(index).db_or_first(index)
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
        let ks = self.store_of(db);
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
        let r = f(&mut k);
        if access == Access::Write {
            self.waiters.touched(db, key);
        }
        r
    }

    /// The type of a key without touching it.
    pub fn kind(&self, db: u32, key: &[u8], now: u64) -> Option<Kind> {
        self.with_key(db, key, now, Access::Peek, |k| k.value().map(|v| v.kind()))
    }

    /// Whether removals leave tombstones (set once the node is part of a cluster).
    pub fn tombstones_enabled(&self) -> bool {
        self.tombstones.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn enable_tombstones(&self) {
        self.tombstones
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
pub(super) mod tests {
    //! What the store's tests share.
    use super::*;
    use crate::store::Value;

    pub(in crate::store) fn store() -> Keyspace {
        Keyspace::new(4, 8, Bus::new(1, Vec::new()))
    }

    pub(in crate::store) fn set(s: &Keyspace, db: u32, key: &[u8], len: usize, expire_at: u64) {
        s.with_key(db, key, 0, Access::Write, |k| {
            k.set(Value::Str(vec![b'x'; len].into()), expire_at)
        });
    }
}
