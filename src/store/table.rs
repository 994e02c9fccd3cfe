//! The keyspace hash table of one shard.
//!
//! Ours rather than hashbrown's because the keyspace needs what a general map does not give:
//! a SCAN cursor that stays valid across resizes (Redis's reverse-binary cursor over home buckets),
//! uniform random sampling of slots for eviction, and a sequential sweep for active expiry.
//! Robin Hood linear probing with backward-shift deletion: no tombstones, short probe sequences
//! at high load, and entries kept ordered by home bucket inside each cluster — which is what
//! makes the bucket cursor work.

const MIN_CAPACITY: usize = 8;

/// What a table stores: anything that knows its (low 32 bits of) hash and its key.
pub trait Slot {
    fn hash(&self) -> u32;
    fn key(&self) -> &[u8];
}

/// One slot: the entry's hash beside a pointer to it, 16 bytes. Probing compares hashes
/// without touching the entries, and an empty slot costs 16 bytes instead of a whole entry —
/// which is what keeps a half-full table (right after it doubled, or under eviction churn)
/// from doubling the memory per key.
#[derive(Debug)]
pub struct Cell<T> {
    hash: u32,
    item: Option<Box<T>>,
}

impl<T> Default for Cell<T> {
    fn default() -> Self {
        Cell {
            hash: 0,
            item: None,
        }
    }
}

/// Bytes of one slot.
pub const CELL_BYTES: usize = 16;

#[derive(Debug)]
pub struct Table<T> {
    slots: Vec<Cell<T>>,
    len: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Slot> Table<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    #[inline]
    fn dist(&self, idx: usize, hash: u32) -> usize {
        idx.wrapping_sub(hash as usize) & self.mask()
    }

    /// The slot index holding `key`, if present.
    #[inline]
    pub fn find(&self, hash: u32, key: &[u8]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut idx = hash as usize & mask;
        let mut d = 0;
        loop {
            let c = &self.slots[idx];
            let e = c.item.as_ref()?;
            if c.hash == hash && e.key() == key {
                return Some(idx);
            }
            // Robin Hood invariant: a richer entry means ours is not further on.
            if self.dist(idx, c.hash) < d {
                return None;
            }
            idx = (idx + 1) & mask;
            d += 1;
        }
    }

    #[inline]
    pub fn get(&self, idx: usize) -> Option<&T> {
        self.slots.get(idx).and_then(|c| c.item.as_deref())
    }

    #[inline]
    pub fn get_mut(&mut self, idx: usize) -> Option<&mut T> {
        self.slots.get_mut(idx).and_then(|c| c.item.as_deref_mut())
    }

    /// Inserts an entry whose key is known to be absent; returns its slot index.
    pub fn insert_new(&mut self, entry: T) -> usize {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            let cap = (self.slots.len() * 2).max(MIN_CAPACITY);
            self.resize(cap);
        }
        self.len += 1;
        let hash = entry.hash();
        self.place(Cell {
            hash,
            item: Some(Box::new(entry)),
        })
    }

    fn place(&mut self, cell: Cell<T>) -> usize {
        let mask = self.mask();
        let mut cur = cell;
        let mut idx = cur.hash as usize & mask;
        let mut d = 0;
        let mut placed_at = None;
        loop {
            let slot = &mut self.slots[idx];
            if slot.item.is_none() {
                *slot = cur;
                return placed_at.unwrap_or(idx);
            }
            let ed = idx.wrapping_sub(slot.hash as usize) & mask;
            if ed < d {
                std::mem::swap(slot, &mut cur);
                placed_at.get_or_insert(idx);
                d = ed;
            }
            idx = (idx + 1) & mask;
            d += 1;
        }
    }

    /// Removes and returns the entry at `idx`, shifting its followers back.
    pub fn remove_at(&mut self, idx: usize) -> Option<T> {
        let removed = self.slots.get_mut(idx)?.item.take()?;
        self.len -= 1;
        let mask = self.mask();
        let mut hole = idx;
        loop {
            let next = (hole + 1) & mask;
            let c = &self.slots[next];
            if c.item.is_some() && self.dist(next, c.hash) > 0 {
                self.slots[hole] = std::mem::take(&mut self.slots[next]);
                hole = next;
            } else {
                break;
            }
        }
        if self.slots.len() > MIN_CAPACITY && self.len * 10 < self.slots.len() {
            let cap = (self.len * 2).next_power_of_two().max(MIN_CAPACITY);
            self.resize(cap);
        }
        Some(*removed)
    }

    fn resize(&mut self, cap: usize) {
        let old = std::mem::take(&mut self.slots);
        self.slots = Vec::with_capacity(cap);
        self.slots.resize_with(cap, Cell::default);
        for c in old.into_iter().filter(|c| c.item.is_some()) {
            self.place(c);
        }
    }

    /// Drops every entry and the allocation; returns the old slots, so the caller can free
    /// them elsewhere (FLUSHALL ASYNC).
    pub fn clear(&mut self) -> Vec<Cell<T>> {
        self.len = 0;
        std::mem::take(&mut self.slots)
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|c| c.item.as_deref())
    }

    /// The occupied slot at or after `idx` (wrapping), for random sampling and sweeps.
    pub fn occupied_from(&self, idx: usize) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = idx & mask;
        loop {
            if self.slots[i].item.is_some() {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Calls `f` for every entry whose home bucket is `cursor`'s, then returns the next cursor
    /// (0 when the scan is complete). Entries present for the whole scan are visited at least
    /// once even if the table grows or shrinks between calls, as with Redis's SCAN.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&T)) -> u64 {
        if self.len == 0 {
            return 0;
        }
        let mask = self.mask();
        let bucket = cursor as usize & mask;
        let mut idx = bucket;
        let mut offset = 0;
        while let Some(e) = self.slots[idx].item.as_deref() {
            let d = self.dist(idx, self.slots[idx].hash);
            if d == offset {
                f(e);
            } else if d < offset {
                break; // homes after ours begin: entries are ordered by home.
            }
            idx = (idx + 1) & mask;
            offset += 1;
            if offset > mask {
                break;
            }
        }
        // Increment the reversed cursor over the mask's bits (Redis's reverse-binary iteration).
        let m = mask as u64;
        let mut v = cursor | !m;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[derive(Debug, Clone)]
    struct E(u32, Vec<u8>);
    impl Slot for E {
        fn hash(&self) -> u32 {
            self.0
        }
        fn key(&self) -> &[u8] {
            &self.1
        }
    }

    fn h(k: &[u8]) -> u32 {
        xxhash_rust::xxh3::xxh3_64(k) as u32
    }

    fn e(i: u32) -> E {
        let k = i.to_string().into_bytes();
        E(h(&k), k)
    }

    #[test]
    fn insert_find_remove_many() {
        let mut t = Table::default();
        for i in 0..10_000 {
            t.insert_new(e(i));
        }
        assert_eq!(t.len(), 10_000);
        for i in 0..10_000 {
            let k = e(i);
            assert!(t.find(k.0, &k.1).is_some(), "{i}");
        }
        for i in (0..10_000).step_by(2) {
            let k = e(i);
            let idx = t.find(k.0, &k.1).unwrap();
            assert_eq!(t.remove_at(idx).unwrap().1, k.1);
        }
        for i in 0..10_000 {
            let k = e(i);
            assert_eq!(t.find(k.0, &k.1).is_some(), i % 2 == 1, "{i}");
        }
        for i in 0..10_000 {
            let k = e(i);
            if let Some(idx) = t.find(k.0, &k.1) {
                t.remove_at(idx);
            }
        }
        assert!(t.is_empty());
        assert!(t.capacity() <= 16, "shrinks when emptied: {}", t.capacity());
    }

    #[test]
    fn colliding_hashes_still_work() {
        let mut t = Table::default();
        for i in 0..100u32 {
            t.insert_new(E(7, i.to_be_bytes().to_vec()));
        }
        for i in 0..100u32 {
            assert!(t.find(7, &i.to_be_bytes()).is_some());
        }
        let idx = t.find(7, &50u32.to_be_bytes()).unwrap();
        t.remove_at(idx);
        assert!(t.find(7, &50u32.to_be_bytes()).is_none());
        assert!(t.find(7, &99u32.to_be_bytes()).is_some());
    }

    fn full_scan(
        t: &Table<E>,
        mut between: impl FnMut(&mut Table<E>),
        t2: &mut Table<E>,
    ) -> HashSet<Vec<u8>> {
        let _ = t;
        let mut seen = HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = t2.scan(cursor, |x| {
                seen.insert(x.1.clone());
            });
            between(t2);
            if cursor == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn scan_visits_everything_across_growth_and_shrink() {
        let mut t = Table::default();
        for i in 0..1000 {
            t.insert_new(e(i));
        }
        // Grow during the scan: the original keys must all be seen.
        let mut next = 1000;
        let dummy = Table::default();
        let seen = full_scan(
            &dummy,
            |t| {
                // Grow through several doublings, then let the scan finish.
                if next < 9000 {
                    for _ in 0..50 {
                        t.insert_new(e(next));
                        next += 1;
                    }
                }
            },
            &mut t,
        );
        for i in 0..1000 {
            assert!(
                seen.contains(i.to_string().as_bytes()),
                "missed {i} while growing"
            );
        }
        // Shrink during the scan: keys never deleted must still be seen.
        let mut del = 1000;
        let seen = full_scan(
            &dummy,
            |t| {
                for _ in 0..100 {
                    if del >= 9000 {
                        break;
                    }
                    let k = e(del);
                    if let Some(idx) = t.find(k.0, &k.1) {
                        t.remove_at(idx);
                    }
                    del += 1;
                }
            },
            &mut t,
        );
        for i in 0..1000 {
            assert!(
                seen.contains(i.to_string().as_bytes()),
                "missed {i} while shrinking"
            );
        }
    }

    #[test]
    fn scan_of_a_stable_table_returns_each_once() {
        let mut t = Table::default();
        for i in 0..777 {
            t.insert_new(e(i));
        }
        let mut count = 0;
        let mut cursor = 0;
        loop {
            cursor = t.scan(cursor, |_| count += 1);
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(count, 777);
    }
}
