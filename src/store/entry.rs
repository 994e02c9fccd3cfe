//! Keyspace entries: one heap block per key.
//!
//! Ours, and unsafe, because memory per key is what a cache sells: Redis spends a dict entry,
//! an object header and two strings per key; a Rust struct with a boxed key and an enum value
//! spends three blocks and a fat pointer. Here an [`Entry`] is a thin pointer to one block:
//!
//! ```text
//! narrow (key and value < 256 bytes): [access:u32][flags:u8][klen:u8][vlen:u8] key value trailer
//! wide:                                [access:u32][flags:u8][klen:u32][vlen:u32] key value trailer
//! boxed (collections, filters, APPENDed strings):
//!   key < 256 bytes:                  [access:u32][flags:u8][klen:u8][pad:2][Value:24] key trailer
//!   wide:                             [access:u32][flags:u8][pad:3][Value:24][klen:u32] key trailer
//! trailer: [deadline:u64 if set][stamp as two varints if set]
//! ```
//!
//! Strings and integers live inside the block; values that change in place (a string grown
//! by APPEND, a cuckoo filter) keep a [`Value`] at an aligned offset so they can be borrowed
//! mutably. The deadline and the write stamp are absent when zero (most keys have no TTL;
//! a node without persistence or peers stamps nothing), and a stamp's Lamport counter takes
//! as many bytes as it needs — which is what keeps a 16-byte key with a 100-byte value inside
//! jemalloc's 128-byte class.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error, realloc};
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::value::{Value, ValueRef};

const MODE_STR: u8 = 0;
const MODE_JSON: u8 = 1;
const MODE_INT: u8 = 2;
const MODE_BOXED: u8 = 3;
const MODE_MASK: u8 = 3;
const WIDE: u8 = 4;
const HAS_EXPIRE: u8 = 8;
const HAS_STAMP: u8 = 16;

const ALIGN: usize = 8;
const FLAGS: usize = 4;
const LENS: usize = 5;
const NARROW_KEY: usize = 7;
const WIDE_KEY: usize = 13;
const BOXED_VALUE: usize = 8;
const BOXED_KLEN: usize = BOXED_VALUE + std::mem::size_of::<Value>();
const BOXED_KEY: usize = BOXED_KLEN + 4;

/// Strings longer than this keep their own allocation (moved in, not copied).
const INLINE_MAX: usize = 4096;

/// An owned keyspace entry.
pub struct Entry(NonNull<u8>);

// SAFETY: an Entry owns its block exactly as a Box owns its contents (no sharing, no interior
// mutability through `&Entry`), so it moves and is shared between threads as a Box would.
unsafe impl Send for Entry {}
// SAFETY: as for Send: `&Entry` only reads the block.
unsafe impl Sync for Entry {}

/// A borrowed entry (what a table lookup hands out).
#[derive(Clone, Copy)]
pub struct EntryRef<'a>(NonNull<u8>, PhantomData<&'a Entry>);

/// How a value is laid into a block.
enum Payload<'v> {
    Inline(u8, &'v [u8]),
    Boxed(Value),
}

/// How an inline value is stored: its mode and bytes (`int` holds an integer's). `None` for
/// values kept boxed.
fn inline<'v>(value: &'v Value, int: &'v mut [u8; 8]) -> Option<(u8, &'v [u8])> {
    match value {
        Value::Int(n) => {
            *int = n.to_le_bytes();
            Some((MODE_INT, &int[..]))
        }
        Value::Small(s) => Some((MODE_STR, s.as_bytes())),
        Value::Str(s) if s.len() <= INLINE_MAX => Some((MODE_STR, s)),
        Value::Json(s) if s.len() <= INLINE_MAX => Some((MODE_JSON, s)),
        _ => None,
    }
}

fn varint_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn stamp_len(stamp: u64) -> usize {
    varint_len(stamp >> 16) + varint_len(stamp & 0xFFFF)
}

fn trailer_len(expire_at: u64, stamp: u64) -> usize {
    (if expire_at != 0 { 8 } else { 0 }) + if stamp != 0 { stamp_len(stamp) } else { 0 }
}

fn layout(size: usize) -> Layout {
    match Layout::from_size_align(size, ALIGN) {
        Ok(l) => l,
        // Only a size beyond isize::MAX fails, which no key or value can reach.
        Err(_) => handle_alloc_error(Layout::new::<u64>()),
    }
}

impl Entry {
    /// A new entry for `key` holding `value`; `expire_at` and `stamp` 0 when unset.
    pub fn new(key: &[u8], value: Value, expire_at: u64, stamp: u64, access: u32) -> Entry {
        let mut int = [0; 8];
        match inline(&value, &mut int) {
            Some((mode, bytes)) => {
                Entry::build(key, Payload::Inline(mode, bytes), expire_at, stamp, access)
            }
            None => Entry::build(key, Payload::Boxed(value), expire_at, stamp, access),
        }
    }

    fn build(key: &[u8], p: Payload<'_>, expire_at: u64, stamp: u64, access: u32) -> Entry {
        let (mut flags, head, vlen) = match &p {
            Payload::Inline(mode, b) if key.len() <= 255 && b.len() <= 255 => {
                (*mode, NARROW_KEY, b.len())
            }
            Payload::Inline(mode, b) => (*mode | WIDE, WIDE_KEY, b.len()),
            // A short key's length sits in the padding before the Value: 4 bytes less per
            // collection, which keeps a small hash's entry in jemalloc's 48-byte class.
            Payload::Boxed(_) if key.len() <= 255 => (MODE_BOXED, BOXED_KLEN, 0),
            Payload::Boxed(_) => (MODE_BOXED | WIDE, BOXED_KEY, 0),
        };
        if expire_at != 0 {
            flags |= HAS_EXPIRE;
        }
        if stamp != 0 {
            flags |= HAS_STAMP;
        }
        let tail = head + key.len() + vlen;
        let size = tail + trailer_len(expire_at, stamp);
        let lay = layout(size);
        // SAFETY: `size` > 0 (the header alone is 7 bytes); every byte up to `size` is written
        // below before the block is read.
        unsafe {
            let Some(ptr) = NonNull::new(alloc(lay)) else {
                handle_alloc_error(lay)
            };
            let b = ptr.as_ptr();
            b.cast::<[u8; 4]>().write(access.to_le_bytes());
            *b.add(FLAGS) = flags;
            match p {
                Payload::Inline(_, v) if head == NARROW_KEY => {
                    *b.add(LENS) = key.len() as u8;
                    *b.add(LENS + 1) = v.len() as u8;
                    std::ptr::copy_nonoverlapping(v.as_ptr(), b.add(head + key.len()), v.len());
                }
                Payload::Inline(_, v) => {
                    b.add(LENS)
                        .cast::<[u8; 4]>()
                        .write((key.len() as u32).to_le_bytes());
                    b.add(LENS + 4)
                        .cast::<[u8; 4]>()
                        .write((v.len() as u32).to_le_bytes());
                    std::ptr::copy_nonoverlapping(v.as_ptr(), b.add(head + key.len()), v.len());
                }
                Payload::Boxed(v) if head == BOXED_KLEN => {
                    *b.add(LENS) = key.len() as u8;
                    b.add(BOXED_VALUE).cast::<Value>().write(v);
                }
                Payload::Boxed(v) => {
                    b.add(BOXED_KLEN)
                        .cast::<[u8; 4]>()
                        .write((key.len() as u32).to_le_bytes());
                    b.add(BOXED_VALUE).cast::<Value>().write(v);
                }
            }
            std::ptr::copy_nonoverlapping(key.as_ptr(), b.add(head), key.len());
            let mut e = Entry(ptr);
            e.write_trailer(tail, expire_at, stamp);
            e
        }
    }

    /// Writes the trailer at `tail` and sets the flags that announce it. The block must be
    /// large enough.
    unsafe fn write_trailer(&mut self, tail: usize, expire_at: u64, stamp: u64) {
        let b = self.0.as_ptr();
        // SAFETY: the caller sized the block for this trailer.
        unsafe {
            let mut flags = *b.add(FLAGS) & !(HAS_EXPIRE | HAS_STAMP);
            let mut at = tail;
            if expire_at != 0 {
                flags |= HAS_EXPIRE;
                b.add(at).cast::<[u8; 8]>().write(expire_at.to_le_bytes());
                at += 8;
            }
            if stamp != 0 {
                flags |= HAS_STAMP;
                for mut n in [stamp >> 16, stamp & 0xFFFF] {
                    while n >= 0x80 {
                        *b.add(at) = (n as u8) | 0x80;
                        n >>= 7;
                        at += 1;
                    }
                    *b.add(at) = n as u8;
                    at += 1;
                }
            }
            *b.add(FLAGS) = flags;
        }
    }

    #[inline]
    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef(self.0, PhantomData)
    }

    /// Gives up ownership of the block (for a table slot).
    pub(super) fn into_raw(self) -> NonNull<u8> {
        let p = self.0;
        std::mem::forget(self);
        p
    }

    /// # Safety
    /// `p` must come from [`Entry::into_raw`] and not be owned by anything else.
    pub(super) unsafe fn from_raw(p: NonNull<u8>) -> Entry {
        Entry(p)
    }

    #[inline]
    pub fn key(&self) -> &[u8] {
        self.as_ref().key()
    }

    #[inline]
    pub fn value(&self) -> ValueRef<'_> {
        self.as_ref().value()
    }

    #[inline]
    pub fn expire_at(&self) -> u64 {
        self.as_ref().expire_at()
    }

    #[inline]
    pub fn stamp(&self) -> u64 {
        self.as_ref().stamp()
    }

    #[inline]
    pub fn access(&self) -> u32 {
        self.as_ref().access()
    }

    #[inline]
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.as_ref().is_expired(now_ms)
    }

    pub fn mem_size(&self) -> usize {
        self.as_ref().mem_size()
    }

    #[inline]
    pub fn set_access(&mut self, access: u32) {
        // SAFETY: the first four bytes are the access word.
        unsafe {
            self.0
                .as_ptr()
                .cast::<[u8; 4]>()
                .write(access.to_le_bytes())
        }
    }

    /// Changes the deadline and stamp, resizing the block when the trailer's size changes.
    pub fn set_meta(&mut self, expire_at: u64, stamp: u64) {
        let r = self.as_ref();
        let tail = r.tail();
        let old = r.size();
        let new = tail + trailer_len(expire_at, stamp);
        if new != old {
            // SAFETY: the block was allocated with `layout(old)`; the bytes up to `tail` (the
            // header, key and value) are preserved by realloc and the trailer is rewritten.
            unsafe {
                let Some(p) = NonNull::new(realloc(self.0.as_ptr(), layout(old), new)) else {
                    handle_alloc_error(layout(new))
                };
                self.0 = p;
            }
        }
        // SAFETY: the block now has room for this trailer.
        unsafe { self.write_trailer(tail, expire_at, stamp) }
    }

    /// A new entry holding the string `s` (the caller has ruled out an integer), laid into the
    /// block straight from `s`: no owned copy of the value is made first.
    pub fn new_str(key: &[u8], s: &[u8], expire_at: u64, stamp: u64, access: u32) -> Entry {
        if s.len() <= INLINE_MAX {
            Entry::build(key, Payload::Inline(MODE_STR, s), expire_at, stamp, access)
        } else {
            Entry::build(
                key,
                Payload::Boxed(Value::Str(s.into())),
                expire_at,
                stamp,
                access,
            )
        }
    }

    /// Replaces the value (keeping the key and its access history).
    pub fn set_value(&mut self, value: Value, expire_at: u64, stamp: u64) {
        let mut int = [0; 8];
        if let Some((mode, bytes)) = inline(&value, &mut int)
            && self.rewrite_inline(mode, bytes, expire_at, stamp)
        {
            return;
        }
        let e = Entry::new(self.key(), value, expire_at, stamp, self.access());
        *self = e;
    }

    /// Replaces the value with the string `s` (the caller has ruled out an integer), copying
    /// `s` once: over the old bytes when the length is the same, else into the new block.
    pub fn set_str(&mut self, s: &[u8], expire_at: u64, stamp: u64) {
        if s.len() <= INLINE_MAX {
            if self.rewrite_inline(MODE_STR, s, expire_at, stamp) {
                return;
            }
        } else if self.mode() == MODE_BOXED {
            // SAFETY: boxed blocks hold an initialised Value at BOXED_VALUE, owned by us.
            let v = unsafe { &mut *self.0.as_ptr().add(BOXED_VALUE).cast::<Value>() };
            if let Value::Str(b) = v
                && b.len() == s.len()
            {
                b.copy_from_slice(s);
                self.set_meta(expire_at, stamp);
                return;
            }
        }
        let e = Entry::new_str(self.key(), s, expire_at, stamp, self.access());
        *self = e;
    }

    /// Writes an inline value over the old one when it has the same length (with a trailer of
    /// the same size): rewriting a key then costs no allocation. False when it does not fit.
    fn rewrite_inline(&mut self, mode: u8, bytes: &[u8], expire_at: u64, stamp: u64) -> bool {
        if self.mode() == MODE_BOXED {
            return false;
        }
        let r = self.as_ref();
        let (h, k, v) = r.shape();
        let tail = h + k + v;
        if v != bytes.len() || r.size() - tail != trailer_len(expire_at, stamp) {
            return false;
        }
        let b = self.0.as_ptr();
        // SAFETY: the block has `v` value bytes at `h + k` and room for this trailer; an
        // inline block holds no Value to drop.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), b.add(h + k), v);
            *b.add(FLAGS) = (*b.add(FLAGS) & !MODE_MASK) | mode;
            self.write_trailer(tail, expire_at, stamp);
        }
        true
    }

    /// Changes the value through `f`: in place when it is boxed, else on a copy that becomes
    /// the new value. The stamp is `stamp` afterwards.
    pub fn update<R>(&mut self, stamp: u64, f: impl FnOnce(&mut Value) -> R) -> R {
        let expire_at = self.expire_at();
        if self.mode() == MODE_BOXED {
            // SAFETY: boxed blocks hold an initialised Value at BOXED_VALUE, owned by us.
            let r = f(unsafe { &mut *self.0.as_ptr().add(BOXED_VALUE).cast::<Value>() });
            self.set_meta(expire_at, stamp);
            r
        } else {
            let mut v = self.value().to_value();
            let r = f(&mut v);
            self.set_value(v, expire_at, stamp);
            r
        }
    }

    /// Like [`Entry::update`] but leaves the stamp alone when `f` reports no change.
    pub fn modify<R>(&mut self, f: impl FnOnce(&mut Value) -> (R, bool)) -> (R, bool) {
        if self.mode() == MODE_BOXED {
            // SAFETY: as in `update`.
            f(unsafe { &mut *self.0.as_ptr().add(BOXED_VALUE).cast::<Value>() })
        } else {
            let mut v = self.value().to_value();
            let (r, changed) = f(&mut v);
            if changed {
                let (expire_at, stamp) = (self.expire_at(), self.stamp());
                self.set_value(v, expire_at, stamp);
            }
            (r, changed)
        }
    }

    /// The value, owned (the entry is consumed).
    pub fn into_value(self) -> Value {
        if self.mode() == MODE_BOXED {
            let size = self.as_ref().size();
            let p = self.into_raw();
            // SAFETY: the Value is moved out exactly once and the block freed without
            // dropping it again.
            unsafe {
                let v = p.as_ptr().add(BOXED_VALUE).cast::<Value>().read();
                dealloc(p.as_ptr(), layout(size));
                v
            }
        } else {
            self.value().to_value()
        }
    }

    #[inline]
    fn mode(&self) -> u8 {
        self.as_ref().flags() & MODE_MASK
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let size = self.as_ref().size();
        // SAFETY: we own the block; a boxed block holds one initialised Value.
        unsafe {
            if self.mode() == MODE_BOXED {
                std::ptr::drop_in_place(self.0.as_ptr().add(BOXED_VALUE).cast::<Value>());
            }
            dealloc(self.0.as_ptr(), layout(size));
        }
    }
}

impl Clone for Entry {
    fn clone(&self) -> Entry {
        let r = self.as_ref();
        Entry::new(
            r.key(),
            r.value().to_value(),
            r.expire_at(),
            r.stamp(),
            r.access(),
        )
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_ref().fmt(f)
    }
}

impl std::fmt::Debug for EntryRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value())
            .field("expire_at", &self.expire_at())
            .field("stamp", &self.stamp())
            .field("access", &self.access())
            .finish()
    }
}

impl<'a> EntryRef<'a> {
    /// # Safety
    /// `p` must point to a live entry block that outlives `'a` and is not changed during it.
    pub(super) unsafe fn from_raw(p: NonNull<u8>) -> EntryRef<'a> {
        EntryRef(p, PhantomData)
    }

    #[inline]
    fn byte(&self, at: usize) -> u8 {
        // SAFETY: callers read only header bytes, which every block has.
        unsafe { *self.0.as_ptr().add(at) }
    }

    #[inline]
    fn u32_at(&self, at: usize) -> u32 {
        // SAFETY: as `byte`.
        u32::from_le_bytes(unsafe { self.0.as_ptr().add(at).cast::<[u8; 4]>().read() })
    }

    #[inline]
    fn flags(&self) -> u8 {
        self.byte(FLAGS)
    }

    /// Header length (where the key starts), key length, inline value length.
    #[inline]
    fn shape(&self) -> (usize, usize, usize) {
        let f = self.flags();
        if f & MODE_MASK == MODE_BOXED {
            if f & WIDE != 0 {
                (BOXED_KEY, self.u32_at(BOXED_KLEN) as usize, 0)
            } else {
                (BOXED_KLEN, self.byte(LENS) as usize, 0)
            }
        } else if f & WIDE != 0 {
            (
                WIDE_KEY,
                self.u32_at(LENS) as usize,
                self.u32_at(LENS + 4) as usize,
            )
        } else {
            (
                NARROW_KEY,
                self.byte(LENS) as usize,
                self.byte(LENS + 1) as usize,
            )
        }
    }

    /// Where the trailer starts.
    #[inline]
    fn tail(&self) -> usize {
        let (h, k, v) = self.shape();
        h + k + v
    }

    /// The block's size in bytes.
    fn size(&self) -> usize {
        let tail = self.tail();
        let f = self.flags();
        let mut at = tail + if f & HAS_EXPIRE != 0 { 8 } else { 0 };
        if f & HAS_STAMP != 0 {
            for _ in 0..2 {
                while self.byte(at) & 0x80 != 0 {
                    at += 1;
                }
                at += 1;
            }
        }
        at
    }

    #[inline]
    pub fn key(&self) -> &'a [u8] {
        let (h, k, _) = self.shape();
        // SAFETY: the key's bytes are at `h..h + k` of the block, alive for 'a.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(h), k) }
    }

    #[inline]
    pub fn value(&self) -> ValueRef<'a> {
        let (h, k, v) = self.shape();
        let b = self.0.as_ptr();
        // SAFETY: inline values are at `h + k..h + k + v`; a boxed value is an initialised,
        // aligned Value at BOXED_VALUE; both alive for 'a.
        unsafe {
            let bytes = || std::slice::from_raw_parts(b.add(h + k), v);
            match self.flags() & MODE_MASK {
                MODE_STR => ValueRef::Str(bytes()),
                MODE_JSON => ValueRef::Json(bytes()),
                MODE_INT => {
                    ValueRef::Int(i64::from_le_bytes(b.add(h + k).cast::<[u8; 8]>().read()))
                }
                _ => (*b.add(BOXED_VALUE).cast::<Value>()).as_ref(),
            }
        }
    }

    /// Absolute deadline in ms since the epoch; 0 = no TTL.
    #[inline]
    pub fn expire_at(&self) -> u64 {
        if self.flags() & HAS_EXPIRE == 0 {
            return 0;
        }
        let at = self.tail();
        // SAFETY: a block with HAS_EXPIRE has 8 deadline bytes at its tail.
        u64::from_le_bytes(unsafe { self.0.as_ptr().add(at).cast::<[u8; 8]>().read() })
    }

    /// The stamp of the write that produced this state, packed (`cluster::clock::nodes`).
    pub fn stamp(&self) -> u64 {
        let f = self.flags();
        if f & HAS_STAMP == 0 {
            return 0;
        }
        let mut at = self.tail() + if f & HAS_EXPIRE != 0 { 8 } else { 0 };
        let mut parts = [0u64; 2];
        for part in &mut parts {
            let mut shift = 0;
            loop {
                let b = self.byte(at);
                at += 1;
                *part |= ((b & 0x7F) as u64) << shift;
                if b & 0x80 == 0 {
                    break;
                }
                shift += 7;
            }
        }
        parts[0] << 16 | parts[1]
    }

    /// Last access (LRU clock) or LFU word.
    #[inline]
    pub fn access(&self) -> u32 {
        self.u32_at(0)
    }

    /// Past its deadline. As in Redis, a key is still alive during its deadline's millisecond.
    #[inline]
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.flags() & HAS_EXPIRE != 0 && self.expire_at() < now_ms
    }

    /// Bytes charged to this entry: its table slot, its block and what its value holds
    /// outside the block.
    pub fn mem_size(&self) -> usize {
        let outside = match self.flags() & MODE_MASK {
            MODE_BOXED => self.value_heap(),
            _ => 0,
        };
        super::table::CELL_BYTES + crate::util::alloc::size_class(self.size()) + outside
    }

    fn value_heap(&self) -> usize {
        // SAFETY: only called for boxed blocks.
        unsafe { (*self.0.as_ptr().add(BOXED_VALUE).cast::<Value>()).heap_size() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(key: &[u8], v: Value, exp: u64, stamp: u64) {
        let mut e = Entry::new(key, v.clone(), exp, stamp, 0x1234_5678);
        assert_eq!(e.key(), key);
        assert_eq!(e.value().to_value().as_ref(), v.as_ref());
        assert_eq!(e.expire_at(), exp);
        assert_eq!(e.stamp(), stamp);
        assert_eq!(e.access(), 0x1234_5678);
        e.set_access(0xFFFF_FFFF);
        assert_eq!(e.access(), 0xFFFF_FFFF);
        assert_eq!((e.expire_at(), e.stamp()), (exp, stamp));
        for (x, s) in [
            (0, 0),
            (99, 0),
            (0, 1 << 40 | 3),
            (7, 1 << 16),
            (exp, stamp),
        ] {
            e.set_meta(x, s);
            assert_eq!((e.expire_at(), e.stamp()), (x, s));
            assert_eq!(e.key(), key);
            assert_eq!(e.value().to_value().as_ref(), v.as_ref());
            assert_eq!(e.access(), 0xFFFF_FFFF);
        }
        let c = e.clone();
        assert_eq!(c.key(), key);
        assert_eq!(c.into_value().as_ref(), v.as_ref());
    }

    #[test]
    fn every_shape_keeps_what_it_was_given() {
        let long = vec![b'x'; 300];
        let huge = vec![b'y'; INLINE_MAX + 1];
        let values = [
            Value::Int(-5),
            Value::Int(i64::MAX),
            Value::string(b""),
            Value::string(b"short"),
            Value::string(&[b'v'; 100]),
            Value::string(&long),
            Value::string(&huge),
            Value::Json(b"{\"a\":1}".to_vec().into()),
            Value::Raw(Box::new(b"raw".to_vec())),
            Value::Cuckoo(Box::new(crate::filter::CuckooFilter::for_keys(64, 0.01))),
        ];
        for key in [&b""[..], b"k", &[b'k'; 255], &[b'k'; 256]] {
            for v in &values {
                for (exp, stamp) in [
                    (0, 0),
                    (1_700_000_000_000, 0),
                    (0, 5 << 16 | 1),
                    (9, u64::MAX),
                ] {
                    roundtrip(key, v.clone(), exp, stamp);
                }
            }
        }
    }

    #[test]
    fn a_short_entry_is_one_small_block() {
        // A collection under a short key: 8 header bytes + the Value + 13: jemalloc's 48.
        let e = Entry::new(b"user:00000001", Value::Hash(Box::default()), 0, 0, 0);
        assert_eq!(e.as_ref().size(), 45);
        assert_eq!(e.key(), b"user:00000001");
        let e = Entry::new(b"key:000000000001", Value::string(&[b'v'; 100]), 0, 0, 0);
        // 7 header bytes + 16 + 100: inside jemalloc's 128-byte class.
        assert_eq!(e.as_ref().size(), 123);
        let e = Entry::new(
            b"key:000000000001",
            Value::string(&[b'v'; 100]),
            0,
            1_000_000 << 16,
            0,
        );
        assert!(e.as_ref().size() <= 128, "{}", e.as_ref().size());
    }

    #[test]
    fn set_value_in_place_or_anew() {
        let key = b"key";
        let mut e = Entry::new(key, Value::string(b"aaaa"), 0, 1 << 16, 7);
        let before = e.0;
        e.set_value(Value::string(b"bbbb"), 0, 2 << 16);
        assert_eq!(e.0, before, "same length: written over");
        assert_eq!(
            (e.value(), e.stamp(), e.access()),
            (ValueRef::Str(b"bbbb"), 2 << 16, 7)
        );
        e.set_value(Value::Json(b"[1,2]"[..4].into()), 0, 3 << 16);
        assert_eq!(e.value(), ValueRef::Json(b"[1,2"));
        e.set_value(Value::Int(-1), 0, 4 << 16);
        assert_eq!(e.value(), ValueRef::Int(-1));
        e.set_value(Value::string(b"12345678"), 0, 4 << 16);
        assert_eq!(e.value(), ValueRef::Str(b"12345678"));
        e.set_value(Value::string(b"longer value"), 99, 1 << 40);
        assert_eq!(
            (e.value(), e.expire_at(), e.stamp()),
            (ValueRef::Str(b"longer value"), 99, 1 << 40)
        );
        e.set_value(Value::Raw(Box::new(b"r".to_vec())), 0, 0);
        assert_eq!(
            (e.value(), e.expire_at(), e.stamp()),
            (ValueRef::Raw(b"r"), 0, 0)
        );
        e.set_value(Value::string(b"s"), 5, 0);
        assert_eq!(
            (e.key(), e.value(), e.expire_at()),
            (&key[..], ValueRef::Str(b"s"), 5)
        );
    }

    #[test]
    fn set_str_copies_once_in_place_or_anew() {
        let mut e = Entry::new_str(b"k", b"aaaa", 0, 1 << 16, 3);
        let block = e.0;
        e.set_str(b"bbbb", 0, 2 << 16);
        assert_eq!(e.0, block, "same length: written over");
        assert_eq!((e.value(), e.access()), (ValueRef::Str(b"bbbb"), 3));
        let big = vec![1u8; INLINE_MAX + 10];
        e.set_str(&big, 0, 3 << 16);
        let boxed = |e: &Entry| match e.value() {
            ValueRef::Str(s) => s.as_ptr(),
            v => panic!("{v:?}"),
        };
        let (block, bytes) = (e.0, boxed(&e));
        let other = vec![2u8; INLINE_MAX + 10];
        e.set_str(&other, 0, 4 << 16);
        assert_eq!(
            (e.0, boxed(&e)),
            (block, bytes),
            "same length: written over"
        );
        assert_eq!((e.value(), e.stamp()), (ValueRef::Str(&other), 4 << 16));
        e.set_str(&other, 77, 1 << 40);
        assert_eq!(boxed(&e), bytes, "a longer trailer keeps the value");
        assert_eq!((e.expire_at(), e.stamp()), (77, 1 << 40));
        e.set_str(&other[1..], 0, 0);
        assert_eq!((e.value(), e.expire_at()), (ValueRef::Str(&other[1..]), 0));
        e.set_str(b"12", 0, 0);
        assert_eq!((e.key(), e.value()), (&b"k"[..], ValueRef::Str(b"12")));
    }

    mod model {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Step {
            Set(Value, u64, u64),
            SetStr(Vec<u8>, u64, u64),
            Meta(u64, u64),
            Access(u32),
            Append(Vec<u8>, u64),
            Incr(u64),
            Unchanged,
        }

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                any::<i64>().prop_map(Value::Int),
                vec(any::<u8>(), 0..300).prop_map(|v| Value::string(&v)),
                // As long as an integer's 8 bytes: rewritten in place, with another mode.
                vec(any::<u8>(), 8..9).prop_map(|v| Value::string(&v)),
                vec(any::<u8>(), 0..40).prop_map(|v| Value::Json(v.into())),
                vec(any::<u8>(), 0..40).prop_map(|v| Value::Raw(Box::new(v))),
                Just(Value::string(&[7; INLINE_MAX + 1])),
            ]
        }

        /// Strings SET lays in from its argument, the long ones boxed (same length: in place).
        fn string() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                vec(any::<u8>(), 0..300),
                vec(any::<u8>(), INLINE_MAX - 1..INLINE_MAX + 3),
                Just(vec![9; INLINE_MAX + 1]),
            ]
        }

        fn stamp() -> impl Strategy<Value = u64> {
            prop_oneof![
                Just(0),
                (1u64..1 << 24).prop_map(|l| l << 16 | 1),
                any::<u64>()
            ]
        }

        fn deadline() -> impl Strategy<Value = u64> {
            prop_oneof![Just(0), any::<u64>()]
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                (value(), deadline(), stamp()).prop_map(|(v, x, s)| Step::Set(v, x, s)),
                (string(), deadline(), stamp()).prop_map(|(b, x, s)| Step::SetStr(b, x, s)),
                (deadline(), stamp()).prop_map(|(x, s)| Step::Meta(x, s)),
                any::<u32>().prop_map(Step::Access),
                (vec(any::<u8>(), 0..20), stamp()).prop_map(|(b, s)| Step::Append(b, s)),
                stamp().prop_map(Step::Incr),
                Just(Step::Unchanged),
            ]
        }

        proptest! {
            // Few cases under Miri, which runs each step thousands of times slower.
            #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 6 } else { 256 }))]

            /// Any sequence of changes leaves the block saying what a plain struct says.
            #[test]
            fn an_entry_behaves_like_its_fields(
                key in vec(any::<u8>(), 0..300),
                first in value(),
                steps in vec(step(), 0..24),
            ) {
                let mut e = Entry::new(&key, first.clone(), 0, 0, 0);
                let (mut v, mut exp, mut st, mut acc) = (first, 0u64, 0u64, 0u32);
                for s in steps {
                    match s {
                        Step::Set(nv, x, ns) => {
                            e.set_value(nv.clone(), x, ns);
                            (v, exp, st) = (nv, x, ns);
                        }
                        Step::SetStr(b, x, ns) => {
                            e.set_str(&b, x, ns);
                            (v, exp, st) = (Value::string(&b), x, ns);
                        }
                        Step::Meta(x, ns) => {
                            e.set_meta(x, ns);
                            (exp, st) = (x, ns);
                        }
                        Step::Access(a) => {
                            e.set_access(a);
                            acc = a;
                        }
                        Step::Append(b, ns) => {
                            let f = |x: &mut Value| x.make_raw().extend_from_slice(&b);
                            e.update(ns, f);
                            f(&mut v);
                            st = ns;
                        }
                        Step::Incr(ns) => {
                            let f = |x: &mut Value| *x = Value::Int(x.as_ref().str_len().unwrap_or(0) as i64);
                            e.update(ns, f);
                            f(&mut v);
                            st = ns;
                        }
                        Step::Unchanged => {
                            let (r, changed) = e.modify(|_| (1, false));
                            prop_assert_eq!((r, changed), (1, false));
                        }
                    }
                    prop_assert_eq!(e.key(), &key[..]);
                    prop_assert_eq!(e.value(), v.as_ref());
                    prop_assert_eq!((e.expire_at(), e.stamp(), e.access()), (exp, st, acc));
                    prop_assert!(e.mem_size() >= key.len() + v.as_ref().str_len().unwrap_or(0));
                }
                let c = e.clone();
                prop_assert_eq!(c.key(), &key[..]);
                let owned = e.into_value();
                prop_assert_eq!(owned.as_ref(), v.as_ref());
            }
        }
    }

    #[test]
    fn update_changes_inline_and_boxed_values() {
        let mut e = Entry::new(b"k", Value::Int(1), 0, 0, 0);
        e.update(1 << 16, |v| *v = Value::Int(2));
        assert_eq!(e.value(), ValueRef::Int(2));
        assert_eq!(e.stamp(), 1 << 16);
        e.update(2 << 16, |v| v.make_raw().extend_from_slice(b"3"));
        assert_eq!(e.value(), ValueRef::Raw(b"23"));
        e.update(3 << 16, |v| v.make_raw().extend_from_slice(b"4"));
        assert_eq!(e.value(), ValueRef::Raw(b"234"));
        assert_eq!(e.stamp(), 3 << 16);
        let (r, changed) = e.modify(|_| (5, false));
        assert_eq!((r, changed, e.stamp()), (5, false, 3 << 16));
    }
}
