//! A set: sorted integers while every member is one and there are few (Redis's intset), a
//! table of one-allocation members once not.

use hashbrown::HashTable;

use super::{LIMITS, hash_of};
use crate::util::num::parse_i64;

#[derive(Debug, Clone)]
pub enum Set {
    /// Sorted, distinct (Redis's "intset").
    Ints(Vec<i64>),
    /// Redis's "hashtable", with the bytes its members hold (kept as they change).
    Table(HashTable<Box<[u8]>>, usize),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(Vec::new())
    }
}

impl Drop for Set {
    fn drop(&mut self) {
        if let Set::Table(t, _) = self
            && t.len() > super::lazyfree::THRESHOLD
        {
            super::lazyfree::later(std::mem::take(t));
        }
    }
}

impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.len() == other.len() && self.members().all(|m| other.contains(&m.to_vec()))
    }
}

impl Eq for Set {}

/// A member as the set holds it: an integer of an intset, or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// Its bytes (an integer in its canonical decimal form).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Member::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
            Member::Bytes(b) => b.to_vec(),
        }
    }
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Table(t, _) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(..) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self {
            Set::Ints(v) => crate::util::alloc::size_class(v.capacity() * 8),
            Set::Table(t, bytes) => {
                crate::util::alloc::size_class(
                    t.capacity() * (std::mem::size_of::<Box<[u8]>>() + 1),
                ) + bytes
            }
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => parse_i64(m).is_some_and(|n| v.binary_search(&n).is_ok()),
            Set::Table(t, _) => t.find(hash_of(m), |e| &e[..] == m).is_some(),
        }
    }

    /// Adds a member; true when it is new.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        if let Set::Ints(v) = self {
            match parse_i64(m) {
                Some(n) => match v.binary_search(&n) {
                    Ok(_) => return false,
                    Err(at) if v.len() < LIMITS.set_entries() => {
                        v.insert(at, n);
                        return true;
                    }
                    Err(_) => self.convert_to_table(),
                },
                None => self.convert_to_table(),
            }
        }
        let Set::Table(t, bytes) = self else {
            unreachable!("converted to a table above")
        };
        let h = hash_of(m);
        if t.find(h, |e| &e[..] == m).is_some() {
            return false;
        }
        *bytes += crate::util::alloc::size_class(m.len());
        t.insert_unique(h, m.into(), |e| hash_of(e));
        true
    }

    /// Removes a member; true when it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => match parse_i64(m).map(|n| v.binary_search(&n)) {
                Some(Ok(at)) => {
                    v.remove(at);
                    true
                }
                _ => false,
            },
            Set::Table(t, bytes) => match t.find_entry(hash_of(m), |e| &e[..] == m) {
                Ok(e) => {
                    *bytes -= crate::util::alloc::size_class(e.get().len());
                    e.remove();
                    if t.capacity() > 64 && t.len() * 8 < t.capacity() {
                        t.shrink_to_fit(|e| hash_of(e));
                    }
                    true
                }
                Err(_) => false,
            },
        }
    }

    fn convert_to_table(&mut self) {
        let mut t = HashTable::with_capacity(self.len() + 1);
        let mut bytes = 0;
        for m in self.members() {
            let b: Box<[u8]> = m.to_vec().into();
            bytes += crate::util::alloc::size_class(b.len());
            t.insert_unique(hash_of(&b), b, |e| hash_of(e));
        }
        *self = Set::Table(t, bytes);
    }

    /// A member at random, each equally likely, in O(1) expected: a table is sampled by
    /// bucket (it is kept at least an eighth full, so a few tries find one).
    pub fn random(&self) -> Option<Member<'_>> {
        match self {
            Set::Ints(v) => (!v.is_empty()).then(|| Member::Int(v[fastrand::usize(..v.len())])),
            Set::Table(t, _) => {
                if t.is_empty() {
                    return None;
                }
                loop {
                    if let Some(m) = t.get_bucket(fastrand::usize(..t.num_buckets())) {
                        return Some(Member::Bytes(m));
                    }
                }
            }
        }
    }

    /// Every member, in the encoding's order.
    pub fn members(&self) -> Box<dyn Iterator<Item = Member<'_>> + '_> {
        match self {
            Set::Ints(v) => Box::new(v.iter().map(|n| Member::Int(*n))),
            Set::Table(t, _) => Box::new(t.iter().map(|e| Member::Bytes(e))),
        }
    }

    /// Every member's bytes, copied.
    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.members().map(Member::to_vec).collect()
    }

    pub fn from_members<'a>(members: impl IntoIterator<Item = &'a [u8]>) -> Set {
        let mut s = Set::new();
        for m in members {
            s.insert(m);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_stay_packed_until_a_string_or_the_limit() {
        let mut s = Set::new();
        for i in (0..100).rev() {
            assert!(s.insert(i.to_string().as_bytes()));
        }
        assert!(!s.insert(b"42"));
        assert_eq!(s.encoding(), "intset");
        assert!(s.contains(b"42") && !s.contains(b"042") && !s.contains(b"x"));
        assert_eq!(s.members().next(), Some(Member::Int(0)), "sorted");
        assert!(s.insert(b"x"));
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 101);
        assert!(s.contains(b"42") && s.contains(b"x"));
        assert!(s.remove(b"42") && !s.remove(b"42"));
        for m in s.to_vecs() {
            assert!(s.remove(&m));
        }
        assert!(matches!(s, Set::Table(_, 0)));
        assert_eq!(s.random(), None);
    }

    #[test]
    fn random_members_are_members_and_every_one_comes_up() {
        // An intset, then a table.
        for (start, n) in [(0, 300), (1000, 600)] {
            let mut s = Set::new();
            let want: Vec<Vec<u8>> = (start..start + n)
                .map(|i| format!("{i}").into_bytes())
                .collect();
            for m in &want {
                s.insert(m);
            }
            if start == 1000 {
                s.insert(b"x");
                s.remove(b"x");
            }
            let mut seen = std::collections::HashSet::new();
            for _ in 0..20_000 {
                let m = s.random().unwrap().to_vec();
                assert!(s.contains(&m));
                seen.insert(m);
            }
            assert_eq!(seen.len(), n, "{}", s.encoding());
        }
    }
}
