//! Set commands (SADD ... SSCAN), with Redis 7.0's replies, error texts and checks.
//!
//! SADD and SREM replicate as edits (the members added or removed); SPOP, SMOVE and the STORE
//! forms as whole values.

use super::{Ctx, collection, int_arg, is};
use crate::collections::set::Member;
use crate::collections::{Set, edit};
use crate::error::{Error, Result};
use crate::resp::{Args, Out};
use crate::store::{Access, KeyRef, Multi};

fn set_of<'k>(k: &'k KeyRef<'_>) -> Result<Option<&'k Set>> {
    collection::of(k)
}

fn change<R>(
    k: &mut KeyRef<'_>,
    f: impl FnOnce(&mut Set, &mut Vec<u8>) -> Result<(R, bool)>,
) -> Result<R> {
    collection::change(k, f)
}

use collection::write;

fn read<R>(
    cx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Out, Option<&Set>) -> Result<R>,
) -> Result<R> {
    collection::read(cx, key, f)
}

fn bulk_member(out: &mut Out, m: Member<'_>) {
    match m {
        Member::Int(n) => out.bulk_int(n),
        Member::Bytes(b) => out.bulk(b),
    }
}

pub fn sadd(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let added = write(cx, &args[1], |k| {
        change(k, |s, e| {
            let n = args.iter().skip(2).filter(|m| s.insert(m)).count();
            edit::set_add(e, args.iter().skip(2));
            Ok((n, n > 0))
        })
    })?;
    cx.out.int(added as i64);
    Ok(())
}

pub fn srem(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let removed = write(cx, &args[1], |k| {
        if set_of(k)?.is_none() {
            return Ok(0);
        }
        change(k, |s, e| {
            let n = args.iter().skip(2).filter(|m| s.remove(m)).count();
            edit::set_rem(e, args.iter().skip(2));
            Ok((n, n > 0))
        })
    })?;
    cx.out.int(removed as i64);
    Ok(())
}

pub fn scard(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    read(cx, &args[1], |out, s| {
        out.int(s.map_or(0, Set::len) as i64);
        Ok(())
    })
}

pub fn sismember(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    read(cx, &args[1], |out, s| {
        out.int(s.is_some_and(|s| s.contains(&args[2])) as i64);
        Ok(())
    })
}

pub fn smismember(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    read(cx, &args[1], |out, s| {
        out.array(args.len() - 2);
        for m in args.iter().skip(2) {
            out.int(s.is_some_and(|s| s.contains(m)) as i64);
        }
        Ok(())
    })
}

pub fn smembers(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    read(cx, &args[1], |out, s| {
        out.set(s.map_or(0, Set::len));
        for m in s.into_iter().flat_map(|s| s.members()) {
            bulk_member(out, m);
        }
        Ok(())
    })
}

pub fn spop(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if args.len() > 3 {
        return Err(Error::Syntax);
    }
    let count = match args.get(2) {
        Some(a) => {
            let n = int_arg(a)?;
            if n < 0 {
                return Err(Error::NotPositive);
            }
            Some(n as usize)
        }
        None => None,
    };
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            if set_of(k)?.is_none() {
                match count {
                    Some(_) => out.set(0),
                    None => out.null(),
                }
                return Ok(());
            }
            let popped = change(k, |s, _| {
                let n = count.unwrap_or(1).min(s.len());
                // A few members of a big set: one random pick each, not a walk of the set.
                let popped = if n * 8 < s.len() {
                    let mut popped = Vec::with_capacity(n);
                    while popped.len() < n {
                        let Some(m) = s.random().map(Member::to_vec) else {
                            break;
                        };
                        s.remove(&m);
                        popped.push(m);
                    }
                    popped
                } else {
                    let popped = pick(s, &sample(s.len(), n));
                    for m in &popped {
                        s.remove(m);
                    }
                    popped
                };
                Ok((popped, n > 0))
            })?;
            match count {
                Some(_) => {
                    out.set(popped.len());
                    for m in &popped {
                        out.bulk(m);
                    }
                }
                None => match popped.first() {
                    Some(m) => out.bulk(m),
                    None => out.null(),
                },
            }
            Ok(())
        })
}

pub fn srandmember(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if args.len() > 3 {
        return Err(Error::Syntax);
    }
    let count = match args.get(2) {
        Some(a) => {
            let n = int_arg(a)?;
            if n == i64::MIN {
                return Err(Error::msg(
                    "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            Some(n)
        }
        None => None,
    };
    if count.is_some_and(|c| c.unsigned_abs() > MAX_RANDOM_REPLY) {
        return Err(Error::msg("value is out of range"));
    }
    read(cx, &args[1], |out, s| {
        let len = s.map_or(0, Set::len);
        let Some(count) = count else {
            match s.and_then(Set::random) {
                Some(m) => bulk_member(out, m),
                None => out.null(),
            }
            return Ok(());
        };
        let idx: Vec<usize> = match s {
            None => Vec::new(),
            Some(_) if count < 0 => (0..count.unsigned_abs())
                .map(|_| fastrand::usize(..len))
                .collect(),
            Some(_) => sample(len, count as usize),
        };
        let picks = s.map(|s| pick(s, &idx)).unwrap_or_default();
        out.array(picks.len());
        for m in &picks {
            out.bulk(m);
        }
        Ok(())
    })
}

/// The most members a negative SRANDMEMBER (or HRANDFIELD) count may ask for: each is a reply of its own, and
/// a count from a client must not size an allocation without a bound.
pub(super) const MAX_RANDOM_REPLY: u64 = 1 << 24;

/// `n` distinct positions out of `len`, at random — in O(n) space when `n` is small against
/// `len` (one SPOP of a big set must not build an index of all of it).
pub(super) fn sample(len: usize, n: usize) -> Vec<usize> {
    if n >= len {
        return (0..len).collect();
    }
    if n <= len / 2 {
        let mut picked = std::collections::HashSet::with_capacity(n);
        while picked.len() < n {
            picked.insert(fastrand::usize(..len));
        }
        return picked.into_iter().collect();
    }
    let mut idx: Vec<usize> = (0..len).collect();
    // A partial Fisher-Yates: the first `n` places end up a uniform sample.
    for i in 0..n {
        let j = fastrand::usize(i..len);
        idx.swap(i, j);
    }
    idx.truncate(n);
    idx
}

/// The members at positions `idx` (in that order, repeats allowed), in one walk of the set.
fn pick(s: &Set, idx: &[usize]) -> Vec<Vec<u8>> {
    let mut order: Vec<usize> = (0..idx.len()).collect();
    order.sort_unstable_by_key(|&k| idx[k]);
    let mut found = vec![Vec::new(); idx.len()];
    let mut members = s.members().enumerate().peekable();
    for k in order {
        while members.next_if(|(i, _)| *i < idx[k]).is_some() {}
        if let Some((i, m)) = members.peek()
            && *i == idx[k]
        {
            found[k] = m.to_vec();
        }
    }
    found
}

pub fn smove(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (db, src, dst, m) = (cx.client.db, &args[1], &args[2], &args[3]);
    let moved =
        cx.node
            .store
            .with_keys([(db, src), (db, dst)], cx.now, |multi| -> Result<bool> {
                if set_of(&multi.key(db, src, Access::Write))?.is_none() {
                    return Ok(false);
                }
                set_of(&multi.key(db, dst, Access::Write))?;
                if src == dst {
                    return Ok(
                        set_of(&multi.key(db, src, Access::Write))?.is_some_and(|s| s.contains(m))
                    );
                }
                let removed = change(&mut multi.key(db, src, Access::Write), |s, e| {
                    let r = s.remove(m);
                    edit::set_rem(e, std::iter::once(m));
                    Ok((r, r))
                })?;
                if removed {
                    change(&mut multi.key(db, dst, Access::Write), |s, e| {
                        s.insert(m);
                        edit::set_add(e, std::iter::once(m));
                        Ok(((), true))
                    })?;
                }
                Ok(removed)
            })?;
    cx.out.int(moved as i64);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// The result of an operation over the sets at `keys` (missing keys are empty sets; any key of
/// another type is WRONGTYPE, checked for every key as Redis does).
fn combine(m: &mut Multi<'_>, db: u32, keys: &[&[u8]], op: Op) -> Result<Vec<Vec<u8>>> {
    let mut sets: Vec<Option<Set>> = Vec::with_capacity(keys.len());
    for key in keys {
        sets.push(set_of(&m.key(db, key, Access::Read))?.cloned());
    }
    Ok(match op {
        Op::Inter => {
            if sets.iter().any(Option::is_none) {
                return Ok(Vec::new());
            }
            let mut sets: Vec<Set> = sets.into_iter().flatten().collect();
            sets.sort_by_key(Set::len);
            let (first, rest) = sets.split_first().ok_or(Error::Syntax)?;
            first
                .to_vecs()
                .into_iter()
                .filter(|x| rest.iter().all(|s| s.contains(x)))
                .collect()
        }
        Op::Union => {
            let mut u = Set::new();
            for s in sets.iter().flatten() {
                for x in s.to_vecs() {
                    u.insert(&x);
                }
            }
            u.to_vecs()
        }
        Op::Diff => {
            let Some(Some(first)) = sets.first() else {
                return Ok(Vec::new());
            };
            first
                .to_vecs()
                .into_iter()
                .filter(|x| !sets[1..].iter().flatten().any(|s| s.contains(x)))
                .collect()
        }
    })
}

fn combine_reply(cx: &mut Ctx<'_>, args: Args<'_>, op: Op) -> Result<()> {
    let db = cx.client.db;
    let keys: Vec<&[u8]> = args.iter().skip(1).collect();
    let result = cx
        .node
        .store
        .with_keys(keys.iter().map(|k| (db, *k)), cx.now, |m| {
            combine(m, db, &keys, op)
        })?;
    cx.out.set(result.len());
    for x in &result {
        cx.out.bulk(x);
    }
    Ok(())
}

pub fn sinter(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_reply(cx, args, Op::Inter)
}

pub fn sunion(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_reply(cx, args, Op::Union)
}

pub fn sdiff(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_reply(cx, args, Op::Diff)
}

fn combine_store(cx: &mut Ctx<'_>, args: Args<'_>, op: Op) -> Result<()> {
    let db = cx.client.db;
    let dst = &args[1];
    let keys: Vec<&[u8]> = args.iter().skip(2).collect();
    let n = cx.node.store.with_keys(
        std::iter::once((db, dst)).chain(keys.iter().map(|k| (db, *k))),
        cx.now,
        |m| -> Result<usize> {
            let result = combine(m, db, &keys, op)?;
            let mut k = m.key(db, dst, Access::Write);
            if result.is_empty() {
                k.delete();
                return Ok(0);
            }
            let s = Set::from_members(result.iter().map(Vec::as_slice));
            let n = s.len();
            k.set(crate::store::value::Collection::into_value(s), 0);
            Ok(n)
        },
    )?;
    cx.out.int(n as i64);
    Ok(())
}

pub fn sinterstore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_store(cx, args, Op::Inter)
}

pub fn sunionstore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_store(cx, args, Op::Union)
}

pub fn sdiffstore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_store(cx, args, Op::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let numkeys = int_arg(&args[1])?;
    if numkeys <= 0 {
        return Err(Error::msg("numkeys should be greater than 0"));
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - 2 {
        return Err(Error::msg(
            "Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < args.len() {
        if is(&args[j], "limit") && j + 1 < args.len() {
            let l = int_arg(&args[j + 1])?;
            if l < 0 {
                return Err(Error::msg("LIMIT can't be negative"));
            }
            limit = l as usize;
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let db = cx.client.db;
    let keys: Vec<&[u8]> = (2..2 + numkeys).map(|i| &args[i]).collect();
    let result = cx
        .node
        .store
        .with_keys(keys.iter().map(|k| (db, *k)), cx.now, |m| {
            combine(m, db, &keys, Op::Inter)
        })?;
    let n = if limit == 0 {
        result.len()
    } else {
        result.len().min(limit)
    };
    cx.out.int(n as i64);
    Ok(())
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]: an intset comes whole (cursor 0); a table
/// is walked `count` members at a time, the cursor being how many were walked.
pub fn sscan(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let scan = collection::Scan::parse(&args)?;
    read(cx, &args[1], |out, s| {
        let packed = matches!(s, Some(Set::Ints(_)));
        let (start, take, next) = scan.window(packed, s.map_or(0, Set::len));
        let found: Vec<Vec<u8>> = s
            .map(|s| {
                s.members()
                    .skip(start)
                    .take(take)
                    .map(Member::to_vec)
                    .filter(|m| scan.matches(m))
                    .collect()
            })
            .unwrap_or_default();
        out.array(2);
        out.bulk(itoa::Buffer::new().format(next).as_bytes());
        out.array(found.len());
        for m in &found {
            out.bulk(m);
        }
        Ok(())
    })
}
