//! Where a key sits in the cluster's hash space, and the per-range digests and key versions
//! anti-entropy compares: they are computed over the data, so they live with it.

use super::db::hash_key;
use super::keyspace::Keyspace;
use super::shard::Access;
use super::stamp::{Stamp, nodes};

/// Ranges the key space is split into for digests (by the top bits of the key's position).
pub const RANGES: usize = 256;

/// A key's position on the consistent-hash ring: xxhash64, seed 0.
#[inline]
pub fn key_position(key: &[u8]) -> u64 {
    xxhash_rust::xxh64::xxh64(key, 0)
}

/// The range a key falls in.
#[inline]
pub fn range_of(key: &[u8]) -> usize {
    (key_position(key) >> 56) as usize
}

/// Contribution of one live key version to its range's digest.
#[inline]
pub fn digest_of(key: &[u8], stamp: Stamp) -> u64 {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    h.update(key);
    h.update(&stamp.lamport.to_le_bytes());
    h.update(&stamp.node.to_le_bytes());
    h.digest()
}

impl Keyspace {
    /// Per-range digests of `db`'s live keys (for anti-entropy); `include` filters keys.
    pub fn digests(&self, db: u32, now: u64, include: impl Fn(&[u8]) -> bool) -> Vec<u64> {
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
}
