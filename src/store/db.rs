//! A database: its shards, each behind its own lock, whose release keeps the database's byte
//! and key totals, so memory limits are checked without visiting the shards.

use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::{Mutex, MutexGuard};

use super::shard::{Shard, ShardStats};

/// Keeps each shard's lock on its own cache lines so that two cores working on neighbouring
/// shards do not slow each other down.
#[repr(align(128))]
#[derive(Debug, Default)]
pub(super) struct Padded<T>(pub(super) T);

#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// One database: `2^bits` shards.
#[derive(Debug)]
pub struct Db {
    pub index: u32,
    pub(super) shards: Box<[Padded<Mutex<Shard>>]>,
    pub(super) bits: u32,
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
    pub(super) fn new(index: u32, shards: usize) -> Db {
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
    pub(super) fn shard_of(&self, h: u64) -> usize {
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
    pub(super) fn lock(&self, i: usize) -> Locked<'_> {
        let guard = self.shards[i].0.lock();
        Locked {
            bytes: guard.bytes(),
            keys: guard.len(),
            guard,
            size: &self.size.0,
        }
    }

    pub(super) fn lock_all(&self) -> Vec<Locked<'_>> {
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

/// Frees dropped tables, on a helper thread when asked (FLUSHALL ASYNC) so the caller's latency
/// does not depend on the data size.
pub(super) fn free(old: Vec<super::table::Table>, lazy: bool) {
    if lazy && old.iter().map(|t| t.capacity()).sum::<usize>() > 1024 {
        std::thread::spawn(move || drop(old));
    } else {
        drop(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Keyspace;
    use crate::store::Value;
    use crate::store::keyspace::tests::{set, store};
    use crate::store::shard::Access;

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
}
