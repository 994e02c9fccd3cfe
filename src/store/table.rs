//! The keyspace hash table of one shard.
//!
//! Ours rather than hashbrown's because the keyspace needs what a general map does not give:
//! a SCAN cursor that stays valid across resizes (Redis's reverse-binary cursor over home buckets),
//! uniform random sampling of slots for eviction, and a sequential sweep for active expiry.
//! Robin Hood linear probing with backward-shift deletion: no tombstones, short probe sequences
//! at high load, and entries kept ordered by home bucket inside each cluster — which is what
//! makes the bucket cursor work.

use std::ptr::NonNull;

use super::entry::{Entry, EntryRef};

const MIN_CAPACITY: usize = 8;

/// One slot: the entry's hash beside a thin pointer to it, 12 bytes (packed to 4-byte
/// alignment). Probing compares hashes without touching the entries, and an empty slot costs
/// 12 bytes instead of a whole entry — which is what keeps a half-full table (right after it
/// doubled, or under eviction churn) from doubling the memory per key.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Default)]
pub struct Cell {
    hash: u32,
    item: Option<NonNull<u8>>,
}

impl Cell {
    /// The entry pointer, copied out (a packed field cannot be borrowed).
    #[inline]
    fn ptr(&self) -> Option<NonNull<u8>> {
        self.item
    }
}

/// Bytes of one slot.
pub const CELL_BYTES: usize = std::mem::size_of::<Cell>();

/// The keyspace table: owns the entries its slots point to.
#[derive(Default)]
pub struct Table {
    slots: Vec<Cell>,
    len: usize,
}

// SAFETY: the table owns its entries as a Vec<Box<_>> would; nothing else points into them.
unsafe impl Send for Table {}
// SAFETY: as for Send: `&Table` only reads its slots and entries.
unsafe impl Sync for Table {}

impl Drop for Table {
    fn drop(&mut self) {
        for c in &self.slots {
            if let Some(p) = c.ptr() {
                // SAFETY: every occupied slot owns the entry it points to.
                drop(unsafe { Entry::from_raw(p) });
            }
        }
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("len", &self.len)
            .field("capacity", &self.slots.len())
            .finish()
    }
}

/// A mutable handle on the entry in one slot; changes that move the entry's block update the
/// slot.
pub struct EntryMut<'a> {
    cell: &'a mut Cell,
}

impl EntryMut<'_> {
    /// Runs `f` on the entry as an owned value, then stores back where it now lives.
    #[inline]
    pub fn with<R>(&mut self, f: impl FnOnce(&mut Entry) -> R) -> R {
        let Some(p) = self.cell.ptr() else {
            unreachable!("an EntryMut is only made for an occupied slot")
        };
        // SAFETY: the slot owns the entry; ManuallyDrop keeps ownership with the slot even if
        // `f` panics (before any move of the block, as Entry's methods only move it last).
        let mut e = std::mem::ManuallyDrop::new(unsafe { Entry::from_raw(p) });
        let r = f(&mut e);
        self.cell.item = Some(std::mem::ManuallyDrop::into_inner(e).into_raw());
        r
    }

    #[inline]
    pub fn get(&self) -> EntryRef<'_> {
        let Some(p) = self.cell.ptr() else {
            unreachable!("an EntryMut is only made for an occupied slot")
        };
        // SAFETY: the slot owns a live entry, borrowed through `self`.
        unsafe { EntryRef::from_raw(p) }
    }
}

impl Table {
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

    #[inline]
    fn entry_at(&self, idx: usize) -> Option<EntryRef<'_>> {
        let p = self.slots.get(idx)?.ptr()?;
        // SAFETY: occupied slots own live entries, borrowed through `self`.
        Some(unsafe { EntryRef::from_raw(p) })
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
            let c = self.slots[idx];
            let p = c.ptr()?;
            let h = c.hash;
            // SAFETY: occupied slots own live entries.
            if h == hash && unsafe { EntryRef::from_raw(p) }.key() == key {
                return Some(idx);
            }
            // Robin Hood invariant: a richer entry means ours is not further on.
            if self.dist(idx, h) < d {
                return None;
            }
            idx = (idx + 1) & mask;
            d += 1;
        }
    }

    #[inline]
    pub fn get(&self, idx: usize) -> Option<EntryRef<'_>> {
        self.entry_at(idx)
    }

    #[inline]
    pub fn get_mut(&mut self, idx: usize) -> Option<EntryMut<'_>> {
        let cell = self.slots.get_mut(idx)?;
        cell.ptr()?;
        Some(EntryMut { cell })
    }

    /// Inserts an entry whose key is known to be absent; returns its slot index.
    pub fn insert_new(&mut self, hash: u32, entry: Entry) -> usize {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            let cap = (self.slots.len() * 2).max(MIN_CAPACITY);
            self.resize(cap);
        }
        self.len += 1;
        self.place(Cell {
            hash,
            item: Some(entry.into_raw()),
        })
    }

    fn place(&mut self, cell: Cell) -> usize {
        let mask = self.mask();
        let mut cur = cell;
        let mut idx = cur.hash as usize & mask;
        let mut d = 0;
        let mut placed_at = None;
        loop {
            let slot = &mut self.slots[idx];
            if slot.ptr().is_none() {
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
    pub fn remove_at(&mut self, idx: usize) -> Option<Entry> {
        let cell = self.slots.get_mut(idx)?;
        let p = cell.ptr()?;
        cell.item = None;
        // SAFETY: the slot owned the entry and no longer points to it.
        let removed = unsafe { Entry::from_raw(p) };
        self.len -= 1;
        let mask = self.mask();
        let mut hole = idx;
        loop {
            let next = (hole + 1) & mask;
            let c = self.slots[next];
            if c.ptr().is_some() && self.dist(next, c.hash) > 0 {
                self.slots[hole] = c;
                self.slots[next] = Cell::default();
                hole = next;
            } else {
                break;
            }
        }
        // Shrink to about half full once under a quarter full: far enough from the growth
        // point (7/8) that a table does not flap, near enough that memory freed by deletes
        // and eviction comes back.
        if self.slots.len() > MIN_CAPACITY && self.len * 4 < self.slots.len() {
            let cap = (self.len * 2).next_power_of_two().max(MIN_CAPACITY);
            self.resize(cap);
        }
        Some(removed)
    }

    fn resize(&mut self, cap: usize) {
        let old = std::mem::replace(&mut self.slots, vec![Cell::default(); cap]);
        for c in old.into_iter().filter(|c| c.ptr().is_some()) {
            self.place(c);
        }
    }

    /// Takes every entry out, leaving the table empty; the returned table owns them, so the
    /// caller can free them elsewhere (FLUSHALL ASYNC).
    pub fn clear(&mut self) -> Table {
        std::mem::take(self)
    }

    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> {
        self.slots.iter().filter_map(|c| {
            // SAFETY: occupied slots own live entries, borrowed through `self`.
            c.ptr().map(|p| unsafe { EntryRef::from_raw(p) })
        })
    }

    /// The occupied slot at or after `idx` (wrapping), for random sampling and sweeps.
    pub fn occupied_from(&self, idx: usize) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = idx & mask;
        loop {
            if self.slots[i].ptr().is_some() {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Calls `f` for every entry whose home bucket is `cursor`'s, then returns the next cursor
    /// (0 when the scan is complete). Entries present for the whole scan are visited at least
    /// once even if the table grows or shrinks between calls, as with Redis's SCAN.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(EntryRef<'_>)) -> u64 {
        if self.len == 0 {
            return 0;
        }
        let mask = self.mask();
        let bucket = cursor as usize & mask;
        let mut idx = bucket;
        let mut offset = 0;
        while let Some(e) = self.entry_at(idx) {
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

    use crate::store::Value;

    /// A hash and a key, to insert or look up.
    #[derive(Debug, Clone)]
    struct E(u32, Vec<u8>);

    impl Table {
        fn add(&mut self, e: E) -> usize {
            self.insert_new(e.0, Entry::new(&e.1, Value::Int(1), 0, 0, 0))
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
            t.add(e(i));
        }
        assert_eq!(t.len(), 10_000);
        for i in 0..10_000 {
            let k = e(i);
            assert!(t.find(k.0, &k.1).is_some(), "{i}");
        }
        for i in (0..10_000).step_by(2) {
            let k = e(i);
            let idx = t.find(k.0, &k.1).unwrap();
            assert_eq!(t.remove_at(idx).unwrap().key(), &k.1[..]);
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
    fn deletes_give_memory_back_without_flapping() {
        let mut t = Table::default();
        for i in 0..10_000 {
            t.add(e(i));
        }
        assert_eq!(t.capacity(), 16_384);
        for i in 0..7_000 {
            let k = e(i);
            let idx = t.find(k.0, &k.1).unwrap();
            t.remove_at(idx);
        }
        // 3,000 left: under a quarter of 16,384, so halved once, and half full or less.
        assert_eq!(t.capacity(), 8_192);
        for i in 7_000..10_000 {
            let k = e(i);
            assert!(t.find(k.0, &k.1).is_some(), "{i}");
        }
        // Growing back by a few keys does not resize again.
        for i in 10_000..10_100 {
            t.add(e(i));
        }
        assert_eq!(t.capacity(), 8_192);
    }

    #[test]
    fn colliding_hashes_still_work() {
        let mut t = Table::default();
        for i in 0..100u32 {
            t.add(E(7, i.to_be_bytes().to_vec()));
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
        t: &Table,
        mut between: impl FnMut(&mut Table),
        t2: &mut Table,
    ) -> HashSet<Vec<u8>> {
        let _ = t;
        let mut seen = HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = t2.scan(cursor, |x| {
                seen.insert(x.key().to_vec());
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
            t.add(e(i));
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
                        t.add(e(next));
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
            t.add(e(i));
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
