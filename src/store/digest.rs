//! Where a key sits in the cluster's hash space, and the per-range digests and key versions
//! anti-entropy compares: they are computed over the data, so they live with it.

use super::db::hash_key;
use super::keyspace::Keyspace;
use super::shard::Access;
use super::stamp::{Stamp, nodes};

/// Ranges the key space is split into for digests (by the top bits of the key's position).
pub const RANGES: usize = 256;

/// A key's position on the consistent-hash ring: xxhash64, seed 0, of the key or of its hash
/// tag — as Redis Cluster, the part between the first `{` and the next `}` when not empty —
/// so `{queue}:pending` and `{queue}:done` share an owner and can be moved between.
#[inline]
pub fn key_position(key: &[u8]) -> u64 {
    xxhash_rust::xxh64::xxh64(hash_tag(key), 0)
}

/// The part of a key that places it (Redis's `keyHashSlot` rule).
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr::memchr(b'{', key)
        && let Some(len) = memchr::memchr(b'}', &key[open + 1..])
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
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

/// A set of digest ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet([u64; RANGES / 64]);

impl RangeSet {
    /// Adds `range` (ignored when out of bounds).
    pub fn insert(&mut self, range: usize) {
        if range < RANGES {
            self.0[range / 64] |= 1 << (range % 64);
        }
    }

    pub fn contains(&self, range: usize) -> bool {
        range < RANGES && self.0[range / 64] & (1 << (range % 64)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..RANGES).filter(|r| self.contains(*r))
    }
}

impl Keyspace {
    /// Per-range digests of `db`'s live keys (for anti-entropy); `include` filters keys, and
    /// versions stamped after `cut` (Lamport time) are left out when it is given: both sides
    /// of a pass leave out what the streams are still carrying, so a steady write load does
    /// not make every range differ.
    pub fn digests(
        &self,
        db: u32,
        now: u64,
        cut: Option<u64>,
        include: impl Fn(&[u8]) -> bool,
    ) -> Vec<u64> {
        let mut d = vec![0u64; RANGES];
        for s in self.db_or_first(db).shards.iter() {
            let s = s.0.lock();
            for e in s.table().iter() {
                if e.is_expired(now) {
                    continue;
                }
                let stamp = nodes::unpack(e.stamp());
                if cut.is_some_and(|c| stamp.lamport > c) || !include(e.key()) {
                    continue;
                }
                let r = range_of(e.key());
                d[r] = d[r].wrapping_add(digest_of(e.key(), stamp));
            }
        }
        d
    }

    /// Every key of the chosen digest ranges with its stamp, tombstones included (true =
    /// tombstone): one walk over the keys whatever the number of ranges.
    pub fn range_versions(
        &self,
        db: u32,
        ranges: &RangeSet,
        now: u64,
        include: impl Fn(&[u8]) -> bool,
    ) -> Vec<(Vec<u8>, crate::store::stamp::Stamp, bool)> {
        let mut out = Vec::new();
        for s in self.db_or_first(db).shards.iter() {
            let s = s.0.lock();
            for e in s.table().iter() {
                if !e.is_expired(now) && ranges.contains(range_of(e.key())) && include(e.key()) {
                    out.push((e.key().to_vec(), nodes::unpack(e.stamp()), false));
                }
            }
            for (k, t) in s.tombstones() {
                if ranges.contains(range_of(k))
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

#[cfg(test)]
mod tests {
    #[test]
    fn hash_tags_follow_redis_cluster() {
        use super::hash_tag;
        assert_eq!(hash_tag(b"{user1000}.following"), b"user1000");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        // An empty tag, or none closed, places the whole key.
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"{{bar}}"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar"), b"foo{bar");
        assert_eq!(hash_tag(b""), b"");
    }

    use super::*;
    use crate::store::ValueRef;
    use crate::store::keyspace::tests::store;
    use crate::store::mutation::{Mutation, Op, Origin};

    fn put(s: &Keyspace, key: &[u8], lamport: u64) {
        let m = Mutation {
            db: 0,
            stamp: Stamp { lamport, node: 9 },
            origin: Origin::Peer,
            trace: None,
            op: Op::Set {
                key,
                value: ValueRef::Str(b"v"),
                expire_at: 0,
            },
        };
        s.apply_remote(&m, 0).unwrap();
    }

    #[test]
    fn a_cut_leaves_out_what_the_streams_still_carry() {
        let (a, b) = (store(), store());
        for i in 0..50u64 {
            let k = format!("k{i}");
            put(&a, k.as_bytes(), 5 + i % 3);
            put(&b, k.as_bytes(), 5 + i % 3);
        }
        // Written on `a` after the cut, not yet on `b`.
        put(&a, b"late", 20);
        put(&a, b"k1", 21);
        assert_ne!(
            a.digests(0, 0, None, |_| true),
            b.digests(0, 0, None, |_| true)
        );
        // `k1` is newer than the cut on `a` only: its older version on `b` still counts.
        let (da, db) = (
            a.digests(0, 0, Some(10), |_| true),
            b.digests(0, 0, Some(10), |_| true),
        );
        let differing: Vec<usize> = (0..RANGES).filter(|r| da[*r] != db[*r]).collect();
        assert_eq!(differing, vec![range_of(b"k1")]);
        put(&b, b"k1", 21);
        assert_eq!(
            a.digests(0, 0, Some(10), |_| true),
            b.digests(0, 0, Some(10), |_| true)
        );
    }

    #[test]
    fn one_walk_gives_the_keys_of_every_range_asked_for() {
        let s = store();
        let keys: Vec<String> = (0..400).map(|i| format!("key:{i}")).collect();
        for k in &keys {
            put(&s, k.as_bytes(), 1);
        }
        let mut ranges = RangeSet::default();
        ranges.insert(range_of(keys[0].as_bytes()));
        ranges.insert(range_of(keys[1].as_bytes()));
        ranges.insert(RANGES); // out of bounds: ignored
        let mut got: Vec<Vec<u8>> = s
            .range_versions(0, &ranges, 0, |_| true)
            .into_iter()
            .map(|(k, _, _)| k)
            .collect();
        got.sort();
        let mut want: Vec<Vec<u8>> = keys
            .iter()
            .filter(|k| ranges.contains(range_of(k.as_bytes())))
            .map(|k| k.as_bytes().to_vec())
            .collect();
        want.sort();
        assert!(want.len() >= 2 && ranges.len() <= 2);
        assert_eq!(got, want);
    }
}
