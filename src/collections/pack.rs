//! A packed run of byte strings in one allocation — our listpack. Each element starts with a
//! LEB128 header: twice its length, then its bytes; or (odd) twice a shared name's id plus one
//! and nothing else (`names`: a small hash's field names). Small collections live in one of
//! these, so a ten-field hash costs one allocation, not twenty.

use super::names::NAMES;

/// Byte strings one after another in one buffer, kept exactly sized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pack {
    buf: Vec<u8>,
    len: u32,
}

pub(super) fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(super) fn len_size(mut n: usize) -> usize {
    let mut s = 1;
    while n >= 0x80 {
        n >>= 7;
        s += 1;
    }
    s
}

/// A literal element's header.
fn put_literal(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len() << 1);
    out.extend_from_slice(b);
}

/// The element starting at `at`: its bytes and where the next starts.
#[inline]
fn element(buf: &[u8], at: usize) -> (&[u8], usize) {
    let (mut n, mut shift, mut i) = (0usize, 0, at);
    loop {
        // The buffer is only ever written here: a header's bytes are all there.
        let b = buf[i];
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    if n & 1 == 0 {
        let end = i + (n >> 1);
        (&buf[i..end], end)
    } else {
        (NAMES.get(n >> 1), i)
    }
}

impl Pack {
    pub fn new() -> Pack {
        Pack::default()
    }

    /// Elements held.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the encoding.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        crate::util::alloc::size_class(self.buf.capacity())
    }

    /// The encoding's bytes (what a list node compresses).
    pub fn raw(&self) -> &[u8] {
        &self.buf
    }

    /// A pack of `len` elements from bytes [`Pack::raw`] gave. Only for bytes this process
    /// produced: the lengths inside are trusted.
    pub(super) fn from_raw(buf: Vec<u8>, len: u32) -> Pack {
        Pack { buf, len }
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            at: 0,
        }
    }

    /// Appends an element.
    pub fn push(&mut self, b: &[u8]) {
        self.buf.reserve_exact(len_size(b.len() << 1) + b.len());
        put_literal(&mut self.buf, b);
        self.len += 1;
    }

    /// Appends an element that is a field name: a reference when the name is shared.
    pub fn push_name(&mut self, b: &[u8]) {
        match NAMES.intern(b) {
            Some(id) => {
                let h = id << 1 | 1;
                self.buf.reserve_exact(len_size(h));
                put_len(&mut self.buf, h);
                self.len += 1;
            }
            None => self.push(b),
        }
    }

    /// Byte offset of element `i` and of the one after it (or the end).
    pub fn span(&self, i: usize) -> Option<(usize, usize)> {
        let mut at = 0;
        for _ in 0..i {
            if at >= self.buf.len() {
                return None;
            }
            at = element(&self.buf, at).1;
        }
        (at < self.buf.len()).then(|| (at, element(&self.buf, at).1))
    }

    /// Elements from byte offset `at` on, with the offset each starts at.
    pub fn iter_from(&self, at: usize) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        let mut at = at;
        std::iter::from_fn(move || {
            if at >= self.buf.len() {
                return None;
            }
            let start = at;
            let (e, next) = element(&self.buf, at);
            at = next;
            Some((start, e))
        })
    }

    /// The element at byte offset `at` and the offset of the next.
    pub fn at(&self, at: usize) -> (&[u8], usize) {
        element(&self.buf, at)
    }

    /// Replaces the elements in byte range `start..end` (`removed` of them) with `new`.
    pub fn replace(&mut self, start: usize, end: usize, removed: usize, new: &[&[u8]]) {
        let mut enc = Vec::with_capacity(new.iter().map(|b| b.len() + 2).sum());
        for b in new {
            put_literal(&mut enc, b);
        }
        if enc.len() > end - start {
            self.buf.reserve_exact(enc.len() - (end - start));
        }
        self.buf.splice(start..end, enc);
        if self.buf.capacity() > self.buf.len() + self.buf.len() / 4 + 16 {
            self.buf.shrink_to_fit();
        }
        self.len = (self.len as usize - removed + new.len()) as u32;
    }
}

pub struct Iter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.buf.len() {
            return None;
        }
        let (e, next) = element(self.buf, self.at);
        self.at = next;
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_of_any_length_come_back_in_order() {
        let mut p = Pack::new();
        let long = vec![7u8; 300];
        let items: Vec<&[u8]> = vec![b"", b"a", &long, b"last"];
        for i in &items {
            p.push(i);
        }
        assert_eq!(p.len(), 4);
        assert_eq!(p.iter().collect::<Vec<_>>(), items);
        assert_eq!(p.bytes(), 1 + 2 + 302 + 5);
        let (s, e) = p.span(2).unwrap();
        p.replace(s, e, 1, &[b"x", b"y"]);
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            vec![&b""[..], b"a", b"x", b"y", b"last"]
        );
        assert_eq!(p.len(), 5);
        let (s, _) = p.span(1).unwrap();
        let (_, e) = p.span(3).unwrap();
        p.replace(s, e, 3, &[]);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b""[..], b"last"]);
        assert!(p.span(2).is_none());
        assert!(
            p.heap_size() < 64,
            "shrunk after removing: {}",
            p.heap_size()
        );
    }

    #[test]
    fn a_shared_name_is_a_reference_and_reads_back_as_its_bytes() {
        let mut p = Pack::new();
        p.push_name(b"pack-test-email");
        p.push(b"a@example.com");
        p.push_name(b"pack-test-email");
        p.push_name(&[b'n'; 40]);
        let id = NAMES.lookup(b"pack-test-email");
        // One or two header bytes when the name got an id (the table may be full when other
        // tests filled it first), its bytes otherwise; a 40-byte name is never shared.
        let name_bytes = match id {
            Some(id) if id < 64 => 1,
            Some(_) => 2,
            None => 16,
        };
        assert_eq!(p.bytes(), 2 * name_bytes + 14 + 41);
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            vec![
                &b"pack-test-email"[..],
                b"a@example.com",
                b"pack-test-email",
                &[b'n'; 40]
            ]
        );
        let (s, e) = p.span(2).unwrap();
        assert_eq!(p.at(s), (&b"pack-test-email"[..], e));
        p.replace(s, e, 1, &[b"x"]);
        assert_eq!(p.iter().nth(2), Some(&b"x"[..]));
        assert_eq!(p.len(), 4);
    }
}
