//! List commands (LPUSH ... LMPOP), with Redis 7.0's replies, error texts and the order in
//! which Redis checks arguments, key and type. The blocking forms ask the connection to wait
//! (`blocking`) when there is nothing to pop.
//!
//! A change publishes the key's whole new list for now; an emptied list is deleted.

use super::{Ctx, blocking, collection, int_arg, is};
use crate::collections::{List, edit};
use crate::error::{Error, Result};
use crate::resp::{Args, Out};
use crate::store::{Access, KeyRef};

fn list_of<'k>(k: &'k KeyRef<'_>) -> Result<Option<&'k List>> {
    collection::of(k)
}

fn change<R>(
    k: &mut KeyRef<'_>,
    f: impl FnOnce(&mut List, &mut Vec<u8>) -> Result<(R, bool)>,
) -> Result<R> {
    collection::change(k, f)
}

use collection::write;

fn read<R>(
    cx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Out, Option<&List>) -> Result<R>,
) -> Result<R> {
    collection::read(cx, key, f)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

fn end_arg(a: &[u8]) -> Result<End> {
    if is(a, "left") {
        Ok(End::Left)
    } else if is(a, "right") {
        Ok(End::Right)
    } else {
        Err(Error::Syntax)
    }
}

fn push(l: &mut List, end: End, e: &[u8]) {
    match end {
        End::Left => l.push_front(e),
        End::Right => l.push_back(e),
    }
}

fn pop(l: &mut List, end: End) -> Option<Vec<u8>> {
    match end {
        End::Left => l.pop_front(),
        End::Right => l.pop_back(),
    }
}

/// Redis's `getPositiveLongFromObjectOrReply` with its default message.
fn positive(a: &[u8]) -> Result<i64> {
    let n = int_arg(a)?;
    if n < 0 {
        return Err(Error::NotPositive);
    }
    Ok(n)
}

fn push_generic(cx: &mut Ctx<'_>, args: Args<'_>, end: End, only_existing: bool) -> Result<()> {
    let len = write(cx, &args[1], |k| {
        if only_existing && list_of(k)?.is_none() {
            return Ok(0);
        }
        change(k, |l: &mut List, edit| {
            for e in args.iter().skip(2) {
                push(l, end, e);
            }
            edit::push(edit, end == End::Left, args.iter().skip(2));
            Ok((l.len(), true))
        })
    })?;
    cx.out.int(len as i64);
    Ok(())
}

pub fn lpush(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    push_generic(cx, args, End::Left, false)
}

pub fn rpush(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    push_generic(cx, args, End::Right, false)
}

pub fn lpushx(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    push_generic(cx, args, End::Left, true)
}

pub fn rpushx(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    push_generic(cx, args, End::Right, true)
}

fn pop_generic(cx: &mut Ctx<'_>, args: Args<'_>, end: End) -> Result<()> {
    if args.len() > 3 {
        return Err(Error::Arity(
            String::from_utf8_lossy(&args[0]).to_lowercase(),
        ));
    }
    let count = match args.get(2) {
        Some(a) => Some(positive(a)?),
        None => None,
    };
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            if list_of(k)?.is_none() {
                match count {
                    Some(_) => out.null_array(),
                    None => out.null(),
                }
                return Ok(());
            }
            if count == Some(0) {
                out.array(0);
                return Ok(());
            }
            let popped = change(k, |l: &mut List, edit| {
                let n = count.unwrap_or(1).min(l.len() as i64) as usize;
                let v: Vec<Vec<u8>> = (0..n).filter_map(|_| pop(l, end)).collect();
                edit::pop(edit, end == End::Left, v.len());
                Ok((v, true))
            })?;
            if count.is_some() {
                out.array(popped.len());
            }
            for e in &popped {
                out.bulk(e);
            }
            Ok(())
        })
}

pub fn lpop(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    pop_generic(cx, args, End::Left)
}

pub fn rpop(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    pop_generic(cx, args, End::Right)
}

pub fn llen(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    read(cx, &args[1], |out, l| {
        out.int(l.map_or(0, List::len) as i64);
        Ok(())
    })
}

/// A Redis index (negative from the end) as a position, if inside a list of `len`.
fn position(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 {
        index.checked_add(len as i64)?
    } else {
        index
    };
    (0..len as i64).contains(&i).then_some(i as usize)
}

pub fn lindex(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    read(cx, &args[1], |out, l| {
        // The key and its type first, then the index (as Redis).
        let Some(l) = l else {
            out.null();
            return Ok(());
        };
        let index = int_arg(&args[2])?;
        match position(index, l.len()).and_then(|i| l.get(i)) {
            Some(e) => out.bulk(&e),
            None => out.null(),
        }
        Ok(())
    })
}

pub fn lset(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    write(cx, &args[1], |k| {
        if list_of(k)?.is_none() {
            return Err(Error::NoSuchKey);
        }
        let index = int_arg(&args[2])?;
        change(k, |l: &mut List, edit| {
            let i = position(index, l.len()).ok_or(Error::IndexOutOfRange)?;
            l.set(i, &args[3]);
            edit::list_set(edit, i, &args[3]);
            Ok(((), true))
        })
    })?;
    cx.out.ok();
    Ok(())
}

/// LRANGE's and LTRIM's clamping: the inclusive range of positions, or None when empty.
fn clamp(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 {
        start.saturating_add(len)
    } else {
        start
    };
    let end = if end < 0 {
        end.saturating_add(len)
    } else {
        end
    };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

pub fn lrange(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (start, end) = (int_arg(&args[2])?, int_arg(&args[3])?);
    read(cx, &args[1], |out, l| {
        match l.and_then(|l| clamp(start, end, l.len()).map(|r| (l, r))) {
            None => out.array(0),
            Some((l, (s, e))) => {
                out.array(e - s + 1);
                l.visit(s, e, |item| out.bulk(item));
            }
        }
        Ok(())
    })
}

pub fn ltrim(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (start, end) = (int_arg(&args[2])?, int_arg(&args[3])?);
    write(cx, &args[1], |k| {
        if list_of(k)?.is_none() {
            return Ok(());
        }
        change(k, |l: &mut List, edit| {
            match clamp(start, end, l.len()) {
                // Emptied: published as the key's deletion.
                None => *l = List::new(),
                Some((s, e)) if s == 0 && e + 1 == l.len() => return Ok(((), false)),
                Some((s, e)) => {
                    l.trim(s, e);
                    edit::list_trim(edit, s, e);
                }
            }
            Ok(((), true))
        })
    })?;
    cx.out.ok();
    Ok(())
}

pub fn linsert(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return Err(Error::Syntax);
    };
    let n = write(cx, &args[1], |k| {
        if list_of(k)?.is_none() {
            return Ok(0);
        }
        change(k, |l: &mut List, edit| {
            let Some(at) = l.iter().position(|e| e == &args[3][..]) else {
                return Ok((-1, false));
            };
            let at = at + after as usize;
            l.insert(at, &args[4]);
            edit::list_insert(edit, at, &args[4]);
            Ok((l.len() as i64, true))
        })
    })?;
    cx.out.int(n);
    Ok(())
}

pub fn lrem(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let count = int_arg(&args[2])?;
    let removed = write(cx, &args[1], |k| {
        if list_of(k)?.is_none() {
            return Ok(0);
        }
        change(k, |l: &mut List, edit| {
            let removed = l.remove_matching(count, &args[3]);
            if removed > 0 {
                edit::list_rem(edit, count, &args[3]);
            }
            Ok((removed, removed > 0))
        })
    })?;
    cx.out.int(removed as i64);
    Ok(())
}

pub fn lpos(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        if is(&args[j], "rank") && more {
            j += 1;
            rank = int_arg(&args[j])?;
            if rank == i64::MIN {
                return Err(Error::msg(
                    "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            if rank == 0 {
                return Err(Error::msg(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(&args[j], "count") && more {
            j += 1;
            count = Some(
                int_arg(&args[j])
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| Error::msg("COUNT can't be negative"))?,
            );
        } else if is(&args[j], "maxlen") && more {
            j += 1;
            maxlen = int_arg(&args[j])
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| Error::msg("MAXLEN can't be negative"))?;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    read(cx, &args[1], |out, l| {
        let Some(l) = l else {
            match count {
                Some(_) => out.array(0),
                None => out.null(),
            }
            return Ok(());
        };
        let target = &args[2][..];
        let len = l.len();
        let scan = if maxlen == 0 {
            len
        } else {
            (maxlen as usize).min(len)
        };
        let want = match count {
            Some(0) => usize::MAX,
            Some(n) => n as usize,
            None => 1,
        };
        let skip = rank.unsigned_abs() as usize - 1;
        let items: Vec<std::borrow::Cow<'_, [u8]>> = l.iter().collect();
        let order: Box<dyn Iterator<Item = usize>> = if rank > 0 {
            Box::new(0..scan)
        } else {
            Box::new((len - scan..len).rev())
        };
        let found: Vec<usize> = order
            .filter(|&i| items[i] == target)
            .skip(skip)
            .take(want)
            .collect();
        match count {
            Some(_) => {
                out.array(found.len());
                for i in found {
                    out.int(i as i64);
                }
            }
            None => match found.first() {
                Some(i) => out.int(*i as i64),
                None => out.null(),
            },
        }
        Ok(())
    })
}

/// Moves one element from `src`'s `from` end to `dst`'s `to` end (LMOVE, RPOPLPUSH).
/// Moves one element from `src` to `dst`; `None` when `src` is absent.
fn lmove_keys(
    cx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<Vec<u8>>> {
    let db = cx.client.db;
    cx.node.store.with_keys(
        [(db, src), (db, dst)],
        cx.now,
        |m| -> Result<Option<Vec<u8>>> {
            if src == dst {
                // A rotation: push the end element to the other end first, then pop it, so
                // the list is never empty in between (which would drop the key and its TTL).
                let e = {
                    let k = m.key(db, src, Access::Write);
                    let Some(l) = list_of(&k)? else {
                        return Ok(None);
                    };
                    let at = if from == End::Left { 0 } else { l.len() - 1 };
                    match l.get(at) {
                        Some(e) => e.into_owned(),
                        None => return Ok(None),
                    }
                };
                change(&mut m.key(db, src, Access::Write), |l: &mut List, edit| {
                    push(l, to, &e);
                    edit::push(edit, to == End::Left, std::iter::once(&e[..]));
                    Ok(((), true))
                })?;
                change(&mut m.key(db, src, Access::Write), |l: &mut List, edit| {
                    edit::pop(edit, from == End::Left, 1);
                    Ok((pop(l, from), true))
                })?;
                return Ok(Some(e));
            }
            if list_of(&m.key(db, src, Access::Write))?.is_none() {
                return Ok(None);
            }
            // The destination's type is checked before anything moves.
            list_of(&m.key(db, dst, Access::Write))?;
            let Some(e) = change(&mut m.key(db, src, Access::Write), |l: &mut List, edit| {
                edit::pop(edit, from == End::Left, 1);
                Ok((pop(l, from), true))
            })?
            else {
                return Ok(None);
            };
            change(&mut m.key(db, dst, Access::Write), |l: &mut List, edit| {
                push(l, to, &e);
                edit::push(edit, to == End::Left, std::iter::once(&e[..]));
                Ok(((), true))
            })?;
            Ok(Some(e))
        },
    )
}

fn lmove_generic(cx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> Result<()> {
    match lmove_keys(cx, src, dst, from, to)? {
        Some(e) => cx.out.bulk(&e),
        None => cx.out.null(),
    }
    Ok(())
}

pub fn lmove(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (from, to) = (end_arg(&args[3])?, end_arg(&args[4])?);
    lmove_generic(cx, &args[1], &args[2], from, to)
}

pub fn rpoplpush(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    lmove_generic(cx, &args[1], &args[2], End::Right, End::Left)
}

/// The key LMPOP popped from, and what.
type Popped = (Vec<u8>, Vec<Vec<u8>>);

/// LMPOP's (and BLMPOP's) arguments from `numkeys` at `at`: the keys, the end, the count.
fn parse_mpop<'a>(args: &'a Args<'_>, at: usize) -> Result<(Vec<&'a [u8]>, End, usize)> {
    let numkeys = int_arg(&args[at])
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::msg("numkeys should be greater than 0"))? as usize;
    if numkeys > args.len() - at - 1 {
        return Err(Error::Syntax);
    }
    let where_at = at + 1 + numkeys;
    let end = end_arg(args.get(where_at).ok_or(Error::Syntax)?)?;
    let mut count = 1i64;
    let mut j = where_at + 1;
    while j < args.len() {
        if is(&args[j], "count") && j + 1 < args.len() && count == 1 {
            count = int_arg(&args[j + 1])
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::msg("count should be greater than 0"))?;
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let keys = (at + 1..where_at).map(|i| &args[i]).collect();
    Ok((keys, end, count as usize))
}

/// Pops up to `count` elements from the first of `keys` that holds a list (WRONGTYPE when
/// the first key that exists holds something else).
fn mpop(cx: &mut Ctx<'_>, keys: &[&[u8]], end: End, count: usize) -> Result<Option<Popped>> {
    let db = cx.client.db;
    cx.node.store.with_keys(
        keys.iter().map(|k| (db, *k)),
        cx.now,
        |m| -> Result<Option<Popped>> {
            for key in keys {
                let mut k = m.key(db, key, Access::Write);
                if list_of(&k)?.is_none() {
                    continue;
                }
                let v = change(&mut k, |l: &mut List, edit| {
                    let n = count.min(l.len());
                    edit::pop(edit, end == End::Left, n);
                    Ok(((0..n).filter_map(|_| pop(l, end)).collect::<Vec<_>>(), true))
                })?;
                return Ok(Some((key.to_vec(), v)));
            }
            Ok(None)
        },
    )
}

fn reply_mpop(out: &mut Out, popped: &Popped) {
    let (key, items) = popped;
    out.array(2);
    out.bulk(key);
    out.array(items.len());
    for e in items {
        out.bulk(e);
    }
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops from the first non-empty list.
pub fn lmpop(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (keys, end, count) = parse_mpop(&args, 1)?;
    match mpop(cx, &keys, end, count)? {
        None => cx.out.null_array(),
        Some(p) => reply_mpop(cx.out, &p),
    }
    Ok(())
}

fn bpop(cx: &mut Ctx<'_>, args: Args<'_>, end: End) -> Result<()> {
    let timeout = blocking::timeout_arg(&args[args.len() - 1])?;
    let keys: Vec<&[u8]> = (1..args.len() - 1).map(|i| &args[i]).collect();
    match mpop(cx, &keys, end, 1)? {
        Some((key, items)) => {
            cx.out.array(2);
            cx.out.bulk(&key);
            cx.out.bulk(&items[0]);
        }
        None => blocking::block(cx, &keys, timeout, true),
    }
    Ok(())
}

/// BLPOP key [key ...] timeout
pub fn blpop(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    bpop(cx, args, End::Left)
}

/// BRPOP key [key ...] timeout
pub fn brpop(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    bpop(cx, args, End::Right)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn blmpop(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (keys, end, count) = parse_mpop(&args, 2)?;
    let timeout = blocking::timeout_arg(&args[1])?;
    match mpop(cx, &keys, end, count)? {
        None => blocking::block(cx, &keys, timeout, true),
        Some(p) => reply_mpop(cx.out, &p),
    }
    Ok(())
}

fn bmove(cx: &mut Ctx<'_>, args: &Args<'_>, from: End, to: End, timeout: &[u8]) -> Result<()> {
    let timeout = blocking::timeout_arg(timeout)?;
    match lmove_keys(cx, &args[1], &args[2], from, to)? {
        Some(e) => cx.out.bulk(&e),
        // Redis 7.0 answers a null array when the time is up, as for every list wait.
        None => blocking::block(cx, &[&args[1]], timeout, true),
    }
    Ok(())
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
pub fn blmove(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (from, to) = (end_arg(&args[3])?, end_arg(&args[4])?);
    bmove(cx, &args, from, to, &args[5])
}

/// BRPOPLPUSH source destination timeout
pub fn brpoplpush(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    bmove(cx, &args, End::Right, End::Left, &args[3])
}
