//! One store, `default` or one created by name: what a memory limit, an eviction policy, a
//! filter and a persistence mode apply to.

use crate::util::atomic::{AtomicEnum, Code};
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::db::Db;
use super::evict::{AccessPolicy, Limits, Pool, Thresholds};

/// Named stores have ids with this bit set (the numbered databases of `default` are below it).
pub const NAMED: u32 = 1 << 31;

/// The id of a named store: a hash of its name, the same on every node.
pub fn store_id(name: &str) -> u32 {
    NAMED | (xxhash_rust::xxh3::xxh3_64(name.as_bytes()) as u32 & !NAMED)
}

/// One store: its databases (the numbered ones for `default`, one for a named store) and its
/// policies — memory limit, eviction, access tracking, cuckoo filter.
/// What of a store reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnDisk {
    /// The AOF and snapshots.
    Everything,
    SnapshotsOnly,
    Nothing,
}

impl Code for OnDisk {
    fn code(self) -> u8 {
        self as u8
    }

    fn decode(c: u8) -> Self {
        match c {
            0 => OnDisk::Everything,
            1 => OnDisk::SnapshotsOnly,
            _ => OnDisk::Nothing,
        }
    }
}

pub struct Store {
    pub name: Box<str>,
    pub(super) dbs: Box<[Db]>,
    /// LRU or LFU access tracking, for every key of the store.
    pub access: AccessPolicy,
    /// The store's memory limit, its policy and pressure level.
    pub limits: Limits,
    pub(super) pool: Mutex<Pool>,
    /// The filter's configured false-positive rate (f64 bits); 0 = no filter.
    filter_fpp: std::sync::atomic::AtomicU64,
    /// What the store was created with (named stores), for the HTTP API and snapshots.
    pub spec: parking_lot::RwLock<Option<crate::config::StoreConfig>>,
    /// What of it reaches the disk.
    persist: AtomicEnum<OnDisk>,
    /// Set while the store is deleted (named stores are kept to be reused by name).
    pub dropped: std::sync::atomic::AtomicBool,
    /// Declared in the configuration file: records from the AOF or peers leave it alone.
    pub from_config: std::sync::atomic::AtomicBool,
}

impl Store {
    pub(super) fn new(name: &str, ids: impl Iterator<Item = u32>, shards: usize) -> Store {
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
            persist: AtomicEnum::new(OnDisk::Everything),
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
    pub(super) fn db_or_first(&self, index: u32) -> &Db {
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

    /// Lookups of the store's keys that found one, and that did not.
    pub fn hits_misses(&self) -> (u64, u64) {
        let mut t = (0, 0);
        for d in self.dbs.iter() {
            for s in d.shards.iter() {
                let s = s.0.lock();
                t.0 += s.stats.hits;
                t.1 += s.stats.misses;
            }
        }
        t
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
        self.persist.store(match p {
            P::AofAndSnapshot | P::Aof => OnDisk::Everything,
            P::Snapshot => OnDisk::SnapshotsOnly,
            P::Disabled => OnDisk::Nothing,
        });
    }

    /// Whether the AOF records this store's changes.
    #[inline]
    pub fn in_aof(&self) -> bool {
        self.persist.load() == OnDisk::Everything
    }

    /// Whether snapshots hold this store's data.
    #[inline]
    pub fn in_snapshots(&self) -> bool {
        self.persist.load() != OnDisk::Nothing
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

#[cfg(test)]
mod tests {
    use crate::store::keyspace::tests::{set, store};
    use crate::store::shard::Access;

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
