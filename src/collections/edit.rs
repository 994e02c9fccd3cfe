//! Edits: what a write did to a collection, as the record the AOF and replicas receive — the
//! pushed elements, a pop's count, the fields set or removed — so a write costs what it wrote,
//! not the size of the collection. An edit applies to the version it was made on only (the
//! record carries that version's stamp); a receiver holding another fetches the whole value.
//!
//! Encoding: a tag, a count (LEB128), then that many length-prefixed byte strings (none for
//! pops). Read without allocating: an edit is applied straight from the record.

use super::pack::put_len;
use super::{Hash, List, Set, ZSet};

const PUSH_FRONT: u8 = 1;
const PUSH_BACK: u8 = 2;
const POP_FRONT: u8 = 3;
const POP_BACK: u8 = 4;
const HASH_SET: u8 = 5;
const HASH_DEL: u8 = 6;
const SET_ADD: u8 = 7;
const SET_REM: u8 = 8;
const ZSET_ADD: u8 = 9;
const ZSET_REM: u8 = 10;
/// LSET: a position and the element put there.
const LIST_SET: u8 = 11;
/// LINSERT: the position inserted before and the element.
const LIST_INSERT: u8 = 12;
/// LREM: its count (i64) and the element removed.
const LIST_REM: u8 = 13;
/// LTRIM: the first and last positions kept.
const LIST_TRIM: u8 = 14;

/// An edit that cannot be applied: malformed, or made for another type or version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadEdit {
    #[error("malformed collection edit")]
    Malformed,
    #[error("a collection edit for another type")]
    WrongType,
}

fn header(out: &mut Vec<u8>, tag: u8, count: usize) {
    out.push(tag);
    put_len(out, count);
}

fn item(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len());
    out.extend_from_slice(b);
}

/// Elements pushed at one end, in push order.
pub fn push<'a>(out: &mut Vec<u8>, front: bool, items: impl ExactSizeIterator<Item = &'a [u8]>) {
    header(out, if front { PUSH_FRONT } else { PUSH_BACK }, items.len());
    for i in items {
        item(out, i);
    }
}

/// `count` elements popped from one end.
pub fn pop(out: &mut Vec<u8>, front: bool, count: usize) {
    header(out, if front { POP_FRONT } else { POP_BACK }, count);
}

/// Fields set, as (field, value) pairs.
pub fn hash_set<'a>(out: &mut Vec<u8>, pairs: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])>) {
    header(out, HASH_SET, pairs.len());
    for (f, v) in pairs {
        item(out, f);
        item(out, v);
    }
}

/// Fields removed.
pub fn hash_del<'a>(out: &mut Vec<u8>, fields: impl ExactSizeIterator<Item = &'a [u8]>) {
    header(out, HASH_DEL, fields.len());
    for f in fields {
        item(out, f);
    }
}

/// Members added to a set.
pub fn set_add<'a>(out: &mut Vec<u8>, members: impl ExactSizeIterator<Item = &'a [u8]>) {
    header(out, SET_ADD, members.len());
    for m in members {
        item(out, m);
    }
}

/// Members removed from a set.
pub fn set_rem<'a>(out: &mut Vec<u8>, members: impl ExactSizeIterator<Item = &'a [u8]>) {
    header(out, SET_REM, members.len());
    for m in members {
        item(out, m);
    }
}

/// Members given a score, as (member, score) pairs.
pub fn zset_add<'a>(out: &mut Vec<u8>, pairs: impl ExactSizeIterator<Item = (&'a [u8], f64)>) {
    header(out, ZSET_ADD, pairs.len());
    for (m, s) in pairs {
        item(out, m);
        item(out, &s.to_le_bytes());
    }
}

/// Members removed from a sorted set.
pub fn zset_rem<'a>(out: &mut Vec<u8>, members: impl ExactSizeIterator<Item = &'a [u8]>) {
    header(out, ZSET_REM, members.len());
    for m in members {
        item(out, m);
    }
}

/// A list element replaced at position `at` (LSET).
pub fn list_set(out: &mut Vec<u8>, at: usize, e: &[u8]) {
    header(out, LIST_SET, 1);
    item(out, &(at as u64).to_le_bytes());
    item(out, e);
}

/// An element inserted before position `at` (LINSERT).
pub fn list_insert(out: &mut Vec<u8>, at: usize, e: &[u8]) {
    header(out, LIST_INSERT, 1);
    item(out, &(at as u64).to_le_bytes());
    item(out, e);
}

/// LREM's count and element: replayed on the same version, it removes the same elements.
pub fn list_rem(out: &mut Vec<u8>, count: i64, e: &[u8]) {
    header(out, LIST_REM, 1);
    item(out, &count.to_le_bytes());
    item(out, e);
}

/// The positions LTRIM kept, first and last.
pub fn list_trim(out: &mut Vec<u8>, start: usize, end: usize) {
    header(out, LIST_TRIM, 1);
    item(out, &(start as u64).to_le_bytes());
    item(out, &(end as u64).to_le_bytes());
}

/// An eight-byte little-endian number as an edit carries it.
fn word(b: &[u8]) -> Result<u64, BadEdit> {
    Ok(u64::from_le_bytes(
        b.try_into().map_err(|_| BadEdit::Malformed)?,
    ))
}

/// A position, as a `usize` (a 32-bit build refuses what it cannot index).
fn position(b: &[u8]) -> Result<usize, BadEdit> {
    usize::try_from(word(b)?).map_err(|_| BadEdit::Malformed)
}

/// A score as an edit carries it: eight bytes, never NaN.
fn score_of(b: &[u8]) -> Result<f64, BadEdit> {
    let s = f64::from_le_bytes(b.try_into().map_err(|_| BadEdit::Malformed)?);
    if s.is_nan() {
        return Err(BadEdit::Malformed);
    }
    Ok(s)
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn len(&mut self) -> Result<usize, BadEdit> {
        let (mut n, mut shift) = (0usize, 0u32);
        loop {
            let (&byte, rest) = self.b.split_first().ok_or(BadEdit::Malformed)?;
            self.b = rest;
            if shift > 56 {
                return Err(BadEdit::Malformed);
            }
            n |= ((byte & 0x7f) as usize) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
            shift += 7;
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], BadEdit> {
        let n = self.len()?;
        if n > self.b.len() {
            return Err(BadEdit::Malformed);
        }
        let (v, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(v)
    }
}

/// What a collection edit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    List,
    Hash,
    Set,
    ZSet,
}

/// The tag's target and count, with the reader at the first element. Every element the count
/// promises must be in the record: a forged count fails at the first one missing.
fn open(edit: &[u8]) -> Result<(u8, usize, Reader<'_>), BadEdit> {
    let (&tag, rest) = edit.split_first().ok_or(BadEdit::Malformed)?;
    let mut r = Reader { b: rest };
    let count = r.len()?;
    Ok((tag, count, r))
}

/// The type an edit applies to; checks the whole record, so nothing is half applied later.
pub fn check(edit: &[u8]) -> Result<Target, BadEdit> {
    let (tag, count, mut r) = open(edit)?;
    let (target, per) = match tag {
        PUSH_FRONT | PUSH_BACK => (Target::List, 1),
        POP_FRONT | POP_BACK => (Target::List, 0),
        LIST_SET | LIST_INSERT | LIST_REM | LIST_TRIM if count == 1 => (Target::List, 2),
        HASH_SET => (Target::Hash, 2),
        HASH_DEL => (Target::Hash, 1),
        SET_ADD | SET_REM => (Target::Set, 1),
        ZSET_ADD => (Target::ZSet, 2),
        ZSET_REM => (Target::ZSet, 1),
        _ => return Err(BadEdit::Malformed),
    };
    for i in 0..count.saturating_mul(per) {
        let b = r.bytes()?;
        if tag == ZSET_ADD && i % 2 == 1 {
            score_of(b)?;
        }
        if (matches!(tag, LIST_SET | LIST_INSERT | LIST_REM) && i == 0) || tag == LIST_TRIM {
            position(b)?;
        }
    }
    if !r.b.is_empty() {
        return Err(BadEdit::Malformed);
    }
    Ok(target)
}

/// Applies a checked list edit.
pub fn apply_list(edit: &[u8], l: &mut List) -> Result<(), BadEdit> {
    let (tag, count, mut r) = open(edit)?;
    match tag {
        PUSH_FRONT | PUSH_BACK => {
            for _ in 0..count {
                let e = r.bytes()?;
                if tag == PUSH_FRONT {
                    l.push_front(e);
                } else {
                    l.push_back(e);
                }
            }
        }
        POP_FRONT | POP_BACK => {
            for _ in 0..count.min(l.len()) {
                if tag == POP_FRONT {
                    l.pop_front();
                } else {
                    l.pop_back();
                }
            }
        }
        // Made on this very version: a position out of range means a forged record.
        LIST_SET => {
            let (at, e) = (position(r.bytes()?)?, r.bytes()?);
            if !l.set(at, e) {
                return Err(BadEdit::Malformed);
            }
        }
        LIST_INSERT => {
            let (at, e) = (position(r.bytes()?)?, r.bytes()?);
            if !l.insert(at, e) {
                return Err(BadEdit::Malformed);
            }
        }
        LIST_REM => {
            let (count, e) = (word(r.bytes()?)? as i64, r.bytes()?);
            l.remove_matching(count, e);
        }
        LIST_TRIM => {
            let (start, end) = (position(r.bytes()?)?, position(r.bytes()?)?);
            if !l.trim(start, end) {
                return Err(BadEdit::Malformed);
            }
        }
        _ => return Err(BadEdit::WrongType),
    }
    Ok(())
}

/// Applies a checked hash edit.
pub fn apply_hash(edit: &[u8], h: &mut Hash) -> Result<(), BadEdit> {
    let (tag, count, mut r) = open(edit)?;
    match tag {
        HASH_SET => {
            for _ in 0..count {
                let (f, v) = (r.bytes()?, r.bytes()?);
                h.insert(f, v);
            }
        }
        HASH_DEL => {
            for _ in 0..count {
                h.remove(r.bytes()?);
            }
        }
        _ => return Err(BadEdit::WrongType),
    }
    Ok(())
}

/// Applies a checked set edit.
pub fn apply_set(edit: &[u8], s: &mut Set) -> Result<(), BadEdit> {
    let (tag, count, mut r) = open(edit)?;
    match tag {
        SET_ADD => {
            for _ in 0..count {
                s.insert(r.bytes()?);
            }
        }
        SET_REM => {
            for _ in 0..count {
                s.remove(r.bytes()?);
            }
        }
        _ => return Err(BadEdit::WrongType),
    }
    Ok(())
}

/// Applies a checked sorted-set edit.
pub fn apply_zset(edit: &[u8], z: &mut ZSet) -> Result<(), BadEdit> {
    let (tag, count, mut r) = open(edit)?;
    match tag {
        ZSET_ADD => {
            for _ in 0..count {
                let (m, s) = (r.bytes()?, score_of(r.bytes()?)?);
                z.insert(m, s);
            }
        }
        ZSET_REM => {
            for _ in 0..count {
                z.remove(r.bytes()?);
            }
        }
        _ => return Err(BadEdit::WrongType),
    }
    Ok(())
}

/// A line for `aof dump`.
/// The Redis event an edit is, and its family (`l`ist, `h`ash, `s`et, `z`set), for keyspace
/// notifications of changes that arrive without their command.
pub fn tag_name(tag: u8) -> Option<(&'static str, char)> {
    Some(match tag {
        PUSH_FRONT => ("lpush", 'l'),
        PUSH_BACK => ("rpush", 'l'),
        POP_FRONT => ("lpop", 'l'),
        POP_BACK => ("rpop", 'l'),
        LIST_SET => ("lset", 'l'),
        LIST_INSERT => ("linsert", 'l'),
        LIST_REM => ("lrem", 'l'),
        LIST_TRIM => ("ltrim", 'l'),
        HASH_SET => ("hset", 'h'),
        HASH_DEL => ("hdel", 'h'),
        SET_ADD => ("sadd", 's'),
        SET_REM => ("srem", 's'),
        ZSET_ADD => ("zadd", 'z'),
        ZSET_REM => ("zrem", 'z'),
        _ => return None,
    })
}

pub fn describe(edit: &[u8]) -> String {
    match open(edit) {
        Ok((tag, count, _)) => {
            let what = match tag {
                PUSH_FRONT => "push-front",
                PUSH_BACK => "push-back",
                POP_FRONT => "pop-front",
                POP_BACK => "pop-back",
                HASH_SET => "hash-set",
                HASH_DEL => "hash-del",
                SET_ADD => "set-add",
                SET_REM => "set-rem",
                ZSET_ADD => "zset-add",
                ZSET_REM => "zset-rem",
                _ => "unknown",
            };
            format!("{what} {count}")
        }
        Err(_) => "malformed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_replay_what_the_write_did() {
        let mut l = List::from_items([&b"a"[..], b"b"]);
        let mut e = Vec::new();
        push(&mut e, true, [&b"x"[..], b"y"].into_iter());
        assert_eq!(check(&e), Ok(Target::List));
        apply_list(&e, &mut l).unwrap();
        let mut p = Vec::new();
        pop(&mut p, false, 1);
        apply_list(&p, &mut l).unwrap();
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![&b"y"[..], b"x", b"a"]);
        let mut h = Hash::new();
        let mut s = Vec::new();
        hash_set(&mut s, [(&b"f"[..], &b"1"[..]), (b"g", b"2")].into_iter());
        assert_eq!(check(&s), Ok(Target::Hash));
        apply_hash(&s, &mut h).unwrap();
        let mut d = Vec::new();
        hash_del(&mut d, [&b"f"[..]].into_iter());
        apply_hash(&d, &mut h).unwrap();
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![(&b"g"[..], &b"2"[..])]);
        assert_eq!(apply_hash(&e, &mut h), Err(BadEdit::WrongType));
    }

    #[test]
    fn middle_list_edits_replay_on_the_same_version() {
        let items: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("e{}", i % 7).into_bytes())
            .collect();
        let mut mine = List::from_items(items.iter().map(|v| &v[..]));
        let mut theirs = List::from_items(items.iter().map(|v| &v[..]));
        let mut edits = Vec::new();
        let mut e = Vec::new();
        assert!(mine.set(10, b"x"));
        list_set(&mut e, 10, b"x");
        edits.push(std::mem::take(&mut e));
        assert!(mine.insert(299, b"y"));
        list_insert(&mut e, 299, b"y");
        edits.push(std::mem::take(&mut e));
        assert_eq!(mine.remove_matching(-5, b"e3"), 5);
        list_rem(&mut e, -5, b"e3");
        edits.push(std::mem::take(&mut e));
        assert!(mine.trim(3, 200));
        list_trim(&mut e, 3, 200);
        edits.push(std::mem::take(&mut e));
        for e in &edits {
            assert_eq!(check(e), Ok(Target::List));
            apply_list(e, &mut theirs).unwrap();
        }
        assert_eq!(mine.len(), 198);
        assert!(mine.iter().eq(theirs.iter()));
        // A position past the end is a forged record: refused, the list untouched.
        let mut bad = Vec::new();
        list_set(&mut bad, 198, b"z");
        assert_eq!(apply_list(&bad, &mut theirs), Err(BadEdit::Malformed));
        let mut bad = Vec::new();
        list_trim(&mut bad, 5, 4);
        assert_eq!(apply_list(&bad, &mut theirs), Err(BadEdit::Malformed));
        assert!(mine.iter().eq(theirs.iter()));
        // A position of the wrong width fails the check.
        let mut short = vec![LIST_SET];
        put_len(&mut short, 1);
        item(&mut short, &[1, 2, 3]);
        item(&mut short, b"v");
        assert_eq!(check(&short), Err(BadEdit::Malformed));
    }

    #[test]
    fn forged_edits_are_refused_whole() {
        let mut e = Vec::new();
        push(&mut e, false, [&b"x"[..]].into_iter());
        // The count promises more than the record holds; a trailing byte; an unknown tag.
        let mut forged = vec![PUSH_BACK];
        put_len(&mut forged, usize::MAX >> 8);
        assert_eq!(check(&forged), Err(BadEdit::Malformed));
        let mut trailing = e.clone();
        trailing.push(0);
        assert_eq!(check(&trailing), Err(BadEdit::Malformed));
        assert_eq!(check(&[99, 0]), Err(BadEdit::Malformed));
        assert_eq!(check(&[]), Err(BadEdit::Malformed));
        assert_eq!(
            check(&[
                PUSH_BACK, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
            ]),
            Err(BadEdit::Malformed)
        );
        assert_eq!(check(&e), Ok(Target::List));
        let mut z = Vec::new();
        zset_add(&mut z, [(&b"m"[..], 1.5)].into_iter());
        assert_eq!(check(&z), Ok(Target::ZSet));
        let mut nan = Vec::new();
        zset_add(&mut nan, [(&b"m"[..], f64::NAN)].into_iter());
        assert_eq!(check(&nan), Err(BadEdit::Malformed), "a NaN score");
        let short = [ZSET_ADD, 1, 1, b'm', 2, 0, 0];
        assert_eq!(
            check(&short),
            Err(BadEdit::Malformed),
            "a score not 8 bytes"
        );
    }
}
