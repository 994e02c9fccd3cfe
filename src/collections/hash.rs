//! A hash (field → value): packed while small, a table once it passes the limits.

use hashbrown::HashTable;

use super::pack::{Pack, len_size, put_len};
use super::{LIMITS, hash_of};

/// A table entry: the field's length, the field, then the value, in one allocation.
type Pair = Box<[u8]>;

fn pair(field: &[u8], value: &[u8]) -> Pair {
    // Exactly sized: `into_boxed_slice` of a larger Vec would reallocate.
    let mut v = Vec::with_capacity(len_size(field.len()) + field.len() + value.len());
    put_len(&mut v, field.len());
    v.extend_from_slice(field);
    v.extend_from_slice(value);
    v.into_boxed_slice()
}

#[inline]
fn split(p: &[u8]) -> (&[u8], &[u8]) {
    let (mut n, mut shift, mut i) = (0usize, 0, 0);
    loop {
        let b = p[i];
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (&p[i..i + n], &p[i + n..])
}

#[derive(Debug, Clone)]
pub enum Hash {
    /// Field, value, field, value, ... (Redis's "listpack").
    Pack(Pack),
    /// Redis's "hashtable" (boxed: a small hash's `Hash` stays 32 bytes).
    Table(Box<Fields>),
}

/// A large hash's table, with the bytes its entries hold (kept as they change, so a write's
/// memory accounting does not walk the table).
#[derive(Debug, Clone, Default)]
pub struct Fields {
    t: HashTable<Pair>,
    bytes: usize,
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Pack::new())
    }
}

impl Drop for Hash {
    fn drop(&mut self) {
        if let Hash::Table(f) = self
            && f.t.len() > super::lazyfree::THRESHOLD
        {
            super::lazyfree::later(std::mem::take(&mut f.t));
        }
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl Eq for Hash {}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    /// Fields held.
    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(p) => p.len() / 2,
            Hash::Table(f) => f.t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// Heap bytes held (the table's slots, its entries' allocations).
    pub fn heap_size(&self) -> usize {
        match self {
            Hash::Pack(p) => p.heap_size(),
            Hash::Table(f) => {
                crate::util::alloc::size_class(std::mem::size_of::<Fields>())
                    + crate::util::alloc::size_class(
                        f.t.capacity() * (std::mem::size_of::<Pair>() + 1),
                    )
                    + f.bytes
            }
        }
    }

    /// Byte offsets in the pack of the pair whose field is `field`: (start, end).
    fn pack_find(p: &Pack, field: &[u8]) -> Option<(usize, usize, usize)> {
        let mut it = p.iter_from(0);
        while let Some((start, f)) = it.next() {
            let (value_at, _) = it.next()?;
            if f == field {
                let (_, end) = p.at(value_at);
                return Some((start, value_at, end));
            }
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(p) => Self::pack_find(p, field).map(|(_, v, _)| p.at(v).0),
            Hash::Table(f) => {
                f.t.find(hash_of(field), |e| split(e).0 == field)
                    .map(|e| split(e).1)
            }
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets a field; true when it is new. Leaves the packed encoding past the configured
    /// limits (`hash-max-listpack-*`).
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.insert_within(field, value, LIMITS.hash_entries(), LIMITS.hash_value())
    }

    /// [`Hash::insert`] with the limits given: at most `entries` fields of at most `bytes`
    /// bytes (field and value) stay packed.
    pub fn insert_within(
        &mut self,
        field: &[u8],
        value: &[u8],
        entries: usize,
        bytes: usize,
    ) -> bool {
        if let Hash::Pack(p) = self {
            let fits = field.len() <= bytes && value.len() <= bytes;
            match Self::pack_find(p, field) {
                Some((_, v, end)) if fits => {
                    p.replace(v, end, 1, &[value]);
                    return false;
                }
                None if fits && p.len() / 2 < entries => {
                    p.push_name(field);
                    p.push(value);
                    return true;
                }
                _ => self.convert_to_table(),
            }
        }
        let Hash::Table(f) = self else {
            unreachable!("converted to a table above")
        };
        let Fields { t, bytes } = &mut **f;
        let h = hash_of(field);
        if let Some(e) = t.find_mut(h, |e| split(e).0 == field) {
            let at = e.len() - split(e).1.len();
            if e.len() - at == value.len() {
                // Same length: the value is overwritten where it is, no allocation.
                e[at..].copy_from_slice(value);
            } else {
                let new = pair(field, value);
                *bytes = *bytes - crate::util::alloc::size_class(e.len())
                    + crate::util::alloc::size_class(new.len());
                *e = new;
            }
            return false;
        }
        let new = pair(field, value);
        *bytes += crate::util::alloc::size_class(new.len());
        t.insert_unique(h, new, |e| hash_of(split(e).0));
        true
    }

    /// Removes a field; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => match Self::pack_find(p, field) {
                Some((start, _, end)) => {
                    p.replace(start, end, 2, &[]);
                    true
                }
                None => false,
            },
            Hash::Table(f) => match f.t.find_entry(hash_of(field), |e| split(e).0 == field) {
                Ok(e) => {
                    f.bytes -= crate::util::alloc::size_class(e.get().len());
                    e.remove();
                    if f.t.capacity() > 64 && f.t.len() * 8 < f.t.capacity() {
                        f.t.shrink_to_fit(|e| hash_of(split(e).0));
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
        for (f, v) in self.iter() {
            let p = pair(f, v);
            bytes += crate::util::alloc::size_class(p.len());
            t.insert_unique(hash_of(f), p, |e: &Pair| hash_of(split(e).0));
        }
        *self = Hash::Table(Box::new(Fields { t, bytes }));
    }

    /// Every (field, value), in the encoding's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Pack(p) => {
                let mut it = p.iter();
                Box::new(std::iter::from_fn(move || Some((it.next()?, it.next()?))))
            }
            Hash::Table(f) => Box::new(f.t.iter().map(|e| split(e))),
        }
    }

    /// The `i`-th (field, value) in iteration order.
    pub fn nth(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.iter().nth(i)
    }

    /// A field and its value at random, each field equally likely: a table is sampled by
    /// bucket (O(1) expected while it is kept at least an eighth full), a pack walked.
    pub fn random(&self) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Pack(p) if !p.is_empty() => self.nth(fastrand::usize(..self.len())),
            Hash::Table(f) if !f.t.is_empty() => loop {
                if let Some(p) = f.t.get_bucket(fastrand::usize(..f.t.num_buckets())) {
                    return Some(split(p));
                }
            },
            _ => None,
        }
    }

    /// Builds a hash from pairs (a snapshot's, a record's), in the encoding the limits choose.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Hash {
        let mut h = Hash::new();
        for (f, v) in pairs {
            h.insert(f, v);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_32_bytes() {
        // With its box, what a small hash costs besides its pack: jemalloc's 32-byte class.
        assert_eq!(std::mem::size_of::<Hash>(), 32);
    }

    #[test]
    fn random_fields_are_fields_and_every_one_comes_up() {
        for n in [10, 500] {
            let mut h = Hash::new();
            for i in 0..n {
                h.insert(format!("f{i}").as_bytes(), format!("v{i}").as_bytes());
            }
            let mut seen = std::collections::HashSet::new();
            for _ in 0..20_000 {
                let (f, v) = h.random().unwrap();
                assert_eq!(h.get(f), Some(v));
                seen.insert(f.to_vec());
            }
            assert_eq!(seen.len(), n, "{}", h.encoding());
        }
        assert_eq!(Hash::new().random(), None);
    }

    fn insert(h: &mut Hash, f: &[u8], v: &[u8]) -> bool {
        h.insert_within(f, v, 128, 64)
    }

    #[test]
    fn a_hash_leaves_its_pack_past_either_limit_and_keeps_its_fields() {
        let mut h = Hash::new();
        for i in 0..128 {
            assert!(insert(&mut h, format!("f{i}").as_bytes(), b"v"));
        }
        assert_eq!(h.encoding(), "listpack");
        assert!(!insert(&mut h, b"f3", b"changed"));
        assert_eq!(h.get(b"f3"), Some(&b"changed"[..]));
        assert!(insert(&mut h, b"f128", b"v"));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 129);
        assert_eq!(h.get(b"f3"), Some(&b"changed"[..]));
        assert!(h.remove(b"f3"));
        assert!(!h.remove(b"f3"));
        assert_eq!(h.len(), 128);
        // The table's byte count follows every change, to zero.
        let fields: Vec<Vec<u8>> = h.iter().map(|(f, _)| f.to_vec()).collect();
        for f in &fields {
            assert!(h.remove(f));
        }
        assert!(matches!(&h, Hash::Table(f) if f.bytes == 0));
        let mut small = Hash::new();
        insert(&mut small, b"a", b"1");
        insert(&mut small, b"b", &[b'x'; 65]);
        assert_eq!(small.encoding(), "hashtable");
        assert_eq!(small.get(b"a"), Some(&b"1"[..]));
        let mut fields: Vec<&[u8]> = small.iter().map(|(f, _)| f).collect();
        fields.sort();
        assert_eq!(fields, vec![&b"a"[..], b"b"]);
    }

    #[test]
    fn pack_fields_are_replaced_and_removed_in_place() {
        let mut h = Hash::new();
        insert(&mut h, b"a", b"1");
        insert(&mut h, b"b", b"2");
        insert(&mut h, b"c", b"3");
        insert(&mut h, b"b", b"two");
        assert!(h.remove(b"a"));
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            vec![(&b"b"[..], &b"two"[..]), (&b"c"[..], &b"3"[..])]
        );
        assert_eq!(
            h,
            Hash::from_pairs([(&b"c"[..], &b"3"[..]), (b"b", b"two")])
        );
    }
}
