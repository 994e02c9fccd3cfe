//! Field names shared by every small hash. Object-like hashes (a user's `name`, `email`, ...)
//! repeat the same few field names in every key, and Redis stores them again in each; here a
//! packed hash keeps a name it shares as a one- or two-byte reference instead of its bytes.
//!
//! Append-only and bounded: the first [`MAX_NAMES`] names of at most [`MAX_LEN`] bytes are kept
//! for the life of the process (at most ~200 KB), later ones are stored as bytes as before.
//! Reads take no lock: a name is written once before its id is published.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{LazyLock, OnceLock};

use parking_lot::Mutex;

use super::hash_of;

/// Names kept (ids below 64 take one byte in a pack, the rest two).
pub const MAX_NAMES: usize = 4096;
/// Longer names are not worth a slot: their bytes dwarf the reference saved.
pub const MAX_LEN: usize = 32;

pub struct Names {
    names: Box<[OnceLock<Box<[u8]>>]>,
    /// Open addressing over `hash_of(name)`: 0 empty, else id + 1. At most half full, so a
    /// probe ends; the hash is keyed by the process secret, so clients cannot aim collisions.
    slots: Box<[AtomicU32]>,
    next: Mutex<usize>,
}

/// The process's names.
pub static NAMES: LazyLock<Names> = LazyLock::new(|| Names::new(MAX_NAMES));

impl Names {
    pub fn new(max: usize) -> Names {
        Names {
            names: (0..max).map(|_| OnceLock::new()).collect(),
            slots: (0..(2 * max).next_power_of_two())
                .map(|_| AtomicU32::new(0))
                .collect(),
            next: Mutex::new(0),
        }
    }

    /// The id of `name`, when it has one.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut i = hash_of(name) as usize & mask;
        loop {
            match self.slots[i].load(Ordering::Acquire) {
                0 => return None,
                s if self.get(s as usize - 1) == name => return Some(s as usize - 1),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The id of `name`, given one now if there is room; `None` when it is too long or the
    /// table is full (it then never gets one).
    pub fn intern(&self, name: &[u8]) -> Option<usize> {
        if name.is_empty() || name.len() > MAX_LEN {
            return None;
        }
        if let Some(id) = self.lookup(name) {
            return Some(id);
        }
        let mut next = self.next.lock();
        if let Some(id) = self.lookup(name) {
            return Some(id);
        }
        let id = *next;
        if id == self.names.len() {
            return None;
        }
        // The only writer (under `next`), to a slot nobody has been handed yet.
        let _ = self.names[id].set(name.into());
        let mask = self.slots.len() - 1;
        let mut i = hash_of(name) as usize & mask;
        while self.slots[i].load(Ordering::Relaxed) != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i].store(id as u32 + 1, Ordering::Release);
        *next += 1;
        Some(id)
    }

    /// The name of an id [`Names::intern`] handed out.
    pub fn get(&self, id: usize) -> &[u8] {
        // Ids exist only once their name is set (`intern` sets it before publishing it).
        self.names
            .get(id)
            .and_then(OnceLock::get)
            .expect("an id intern handed out")
    }

    /// Names held.
    pub fn len(&self) -> usize {
        *self.next.lock()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_keeps_its_id_and_the_table_stops_at_its_limit() {
        let n = Names::new(100);
        let a = n.intern(b"email").unwrap();
        assert_eq!(n.intern(b"email"), Some(a));
        assert_eq!(n.lookup(b"email"), Some(a));
        assert_eq!(n.get(a), b"email");
        assert_eq!(n.lookup(b"name"), None);
        assert_eq!(n.intern(b""), None);
        assert_eq!(n.intern(&[b'x'; MAX_LEN + 1]), None);
        for i in 0..200 {
            let name = format!("field{i}");
            let id = n.intern(name.as_bytes());
            assert_eq!(id.is_some(), i < 99, "{name}");
            if let Some(id) = id {
                assert_eq!(n.get(id), name.as_bytes());
            }
        }
        assert_eq!(n.len(), 100);
        // Full: the old names still resolve, new ones never get an id.
        assert_eq!(n.intern(b"email"), Some(a));
        assert_eq!(n.lookup(b"field150"), None);
    }

    #[test]
    fn threads_interning_the_same_names_agree() {
        let n = Names::new(MAX_NAMES);
        let ids: Vec<Vec<usize>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..500)
                            .map(|i| n.intern(format!("f{i}").as_bytes()).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(n.len(), 500);
        for (i, id) in ids[0].iter().enumerate() {
            assert_eq!(n.get(*id), format!("f{i}").as_bytes());
        }
    }
}
