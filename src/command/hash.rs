//! Hash commands (HSET ... HSCAN), with Redis 7.0's replies and error texts.
//!
//! A change publishes the key's whole new hash for now (as a filter does); an emptied hash is
//! deleted, as Redis deletes empty collections.

use super::{Ctx, collection, int_arg, is};
use crate::collections::{Hash, edit};
use crate::error::{Error, Result};
use crate::resp::Args;
use crate::store::KeyRef;
use crate::util::num::{IncrFloatError, incr_by_float, parse_i64};

fn hash_of<'k>(k: &'k KeyRef<'_>) -> Result<Option<&'k Hash>> {
    collection::of(k)
}

fn change<R>(
    k: &mut KeyRef<'_>,
    f: impl FnOnce(&mut Hash, &mut Vec<u8>) -> Result<(R, bool)>,
) -> Result<R> {
    collection::change(k, f)
}

use collection::write;

fn read<R>(
    cx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut crate::resp::Out, Option<&Hash>) -> Result<R>,
) -> Result<R> {
    collection::read(cx, key, f)
}

fn check_pairs(args: &Args<'_>, name: &str) -> Result<()> {
    if args.len() < 4 || !args.len().is_multiple_of(2) {
        return Err(Error::Arity(name.into()));
    }
    Ok(())
}

fn set_pairs(k: &mut KeyRef<'_>, args: &Args<'_>) -> Result<usize> {
    change(k, |h, e| {
        let pairs = || (2..args.len()).step_by(2).map(|i| (&args[i], &args[i + 1]));
        let added = pairs().filter(|(f, v)| h.insert(f, v)).count();
        edit::hash_set(e, pairs());
        Ok((added, true))
    })
}

pub fn hset(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    check_pairs(&args, "hset")?;
    let added = write(cx, &args[1], |k| set_pairs(k, &args))?;
    cx.out.int(added as i64);
    Ok(())
}

pub fn hmset(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    check_pairs(&args, "hmset")?;
    write(cx, &args[1], |k| set_pairs(k, &args))?;
    cx.out.ok();
    Ok(())
}

pub fn hsetnx(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let added = write(cx, &args[1], |k| {
        change(k, |h, e| {
            if h.contains(&args[2]) {
                return Ok((false, false));
            }
            h.insert(&args[2], &args[3]);
            edit::hash_set(e, std::iter::once((&args[2], &args[3])));
            Ok((true, true))
        })
    })?;
    cx.out.int(added as i64);
    Ok(())
}

pub fn hget(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    read(cx, &args[1], |out, h| {
        match h.and_then(|h| h.get(&args[2])) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
        Ok(())
    })
}

pub fn hmget(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    read(cx, &args[1], |out, h| {
        out.array(args.len() - 2);
        for f in args.iter().skip(2) {
            match h.and_then(|h| h.get(f)) {
                Some(v) => out.bulk(v),
                None => out.null(),
            }
        }
        Ok(())
    })
}

pub fn hdel(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let removed = write(cx, &args[1], |k| {
        if hash_of(k)?.is_none() {
            return Ok(0);
        }
        change(k, |h, e| {
            let n = args.iter().skip(2).filter(|f| h.remove(f)).count();
            edit::hash_del(e, args.iter().skip(2));
            Ok((n, n > 0))
        })
    })?;
    cx.out.int(removed as i64);
    Ok(())
}

/// Replies a figure of the hash (0 when absent).
fn figure(cx: &mut Ctx<'_>, key: &[u8], f: impl FnOnce(&Hash) -> usize) -> Result<()> {
    read(cx, key, |out, h| {
        out.int(h.map_or(0, f) as i64);
        Ok(())
    })
}

pub fn hlen(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    figure(cx, &args[1], Hash::len)
}

pub fn hstrlen(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    figure(cx, &args[1], |h| h.get(&args[2]).map_or(0, <[u8]>::len))
}

pub fn hexists(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    figure(cx, &args[1], |h| h.contains(&args[2]) as usize)
}

#[derive(Clone, Copy)]
enum Part {
    Fields,
    Values,
    Both,
}

fn all(cx: &mut Ctx<'_>, key: &[u8], part: Part) -> Result<()> {
    read(cx, key, |out, h| {
        let Some(h) = h else {
            match part {
                Part::Both => out.map(0),
                _ => out.array(0),
            }
            return Ok(());
        };
        match part {
            Part::Both => out.map(h.len()),
            _ => out.array(h.len()),
        }
        for (f, v) in h.iter() {
            match part {
                Part::Fields => out.bulk(f),
                Part::Values => out.bulk(v),
                Part::Both => {
                    out.bulk(f);
                    out.bulk(v);
                }
            }
        }
        Ok(())
    })
}

pub fn hkeys(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    all(cx, &args[1], Part::Fields)
}

pub fn hvals(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    all(cx, &args[1], Part::Values)
}

pub fn hgetall(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    all(cx, &args[1], Part::Both)
}

pub fn hincrby(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let incr = int_arg(&args[3])?;
    let n = write(cx, &args[1], |k| {
        change(k, |h, e| {
            let cur = match h.get(&args[2]) {
                Some(v) => {
                    parse_i64(v).ok_or_else(|| Error::msg("hash value is not an integer"))?
                }
                None => 0,
            };
            let n = cur.checked_add(incr).ok_or(Error::Overflow)?;
            let mut text = itoa::Buffer::new();
            let text = text.format(n).as_bytes();
            h.insert(&args[2], text);
            edit::hash_set(e, std::iter::once((&args[2], text)));
            Ok((n, true))
        })
    })?;
    cx.out.int(n);
    Ok(())
}

pub fn hincrbyfloat(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    // The increment alone first: Redis refuses a bad one before it looks at the key.
    match incr_by_float(None, &args[3]) {
        Ok(_) => {}
        Err(IncrFloatError::NanOrInf) => return Err(Error::msg("value is NaN or Infinity")),
        Err(_) => return Err(Error::NotFloat),
    }
    let new = write(cx, &args[1], |k| {
        change(k, |h, e| {
            let new = incr_by_float(h.get(&args[2]), &args[3]).map_err(|e| match e {
                IncrFloatError::ValueNotFloat => Error::msg("hash value is not a float"),
                IncrFloatError::IncrNotFloat => Error::NotFloat,
                IncrFloatError::NanOrInf => Error::msg("increment would produce NaN or Infinity"),
            })?;
            h.insert(&args[2], &new);
            edit::hash_set(e, std::iter::once((&args[2], &new[..])));
            Ok((new, true))
        })
    })?;
    cx.out.bulk(&new);
    Ok(())
}

/// HRANDFIELD key [count [WITHVALUES]]: as Redis 7.0 — a positive count gives distinct fields
/// (at most all of them), a negative one |count| fields that may repeat.
pub fn hrandfield(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (count, with_values) = match args.len() {
        2 => (None, false),
        3 => (Some(int_arg(&args[2])?), false),
        4 if is(&args[3], "withvalues") => (Some(int_arg(&args[2])?), true),
        _ => return Err(Error::Syntax),
    };
    // Redis's own bounds, and ours: a negative count sizes the reply, and a client's number
    // must not size an allocation without a limit.
    if let Some(c) = count
        && (c == i64::MIN
            || (with_values && c < -(i64::MAX / 2))
            || c.unsigned_abs() > super::set::MAX_RANDOM_REPLY)
    {
        return Err(Error::msg("value is out of range"));
    }
    let resp3 = cx.out.resp3();
    read(cx, &args[1], |out, h| {
        let Some(count) = count else {
            match h.and_then(Hash::random) {
                Some((f, _)) => out.bulk(f),
                None => out.null(),
            }
            return Ok(());
        };
        let Some(h) = h else {
            out.array(0);
            return Ok(());
        };
        let wanted = count.unsigned_abs() as usize;
        let pairs: Vec<(&[u8], &[u8])> = if count < 0 {
            // Repeats allowed: each pick is one random draw (O(1) on a table).
            (0..wanted).filter_map(|_| h.random()).collect()
        } else if wanted >= h.len() {
            h.iter().collect()
        } else if wanted * 3 < h.len() {
            // Few of many (Redis's case 4): draw until `wanted` distinct fields, never a walk
            // of the whole hash.
            let mut seen = std::collections::HashSet::with_capacity(wanted);
            let mut v = Vec::with_capacity(wanted);
            while v.len() < wanted {
                match h.random() {
                    Some((f, val)) if seen.insert(f) => v.push((f, val)),
                    Some(_) => {}
                    None => break,
                }
            }
            v
        } else {
            // Most of them: a shuffled choice of positions, then one walk.
            let mut all: Vec<usize> = (0..h.len()).collect();
            fastrand::shuffle(&mut all);
            all.truncate(wanted);
            all.sort_unstable();
            let mut it = h.iter().enumerate();
            all.iter()
                .filter_map(|p| it.find(|(i, _)| i == p).map(|(_, fv)| fv))
                .collect()
        };
        match (with_values, resp3) {
            (true, true) => out.array(pairs.len()),
            (true, false) => out.array(pairs.len() * 2),
            (false, _) => out.array(pairs.len()),
        }
        for (f, v) in pairs {
            if with_values && resp3 {
                out.array(2);
            }
            out.bulk(f);
            if with_values {
                out.bulk(v);
            }
        }
        Ok(())
    })
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]. A packed hash comes whole (cursor 0); a
/// table is walked `count` fields at a time, the cursor being how many were walked.
pub fn hscan(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let scan = collection::Scan::parse(&args)?;
    collection::read(cx, &args[1], |out, h: Option<&Hash>| {
        let packed = matches!(h, Some(Hash::Pack(_)));
        let (start, take, next) = scan.window(packed, h.map_or(0, Hash::len));
        let found: Vec<(&[u8], &[u8])> = h
            .map(|h| {
                h.iter()
                    .skip(start)
                    .take(take)
                    .filter(|(f, _)| scan.matches(f))
                    .collect()
            })
            .unwrap_or_default();
        out.array(2);
        out.bulk(itoa::Buffer::new().format(next).as_bytes());
        out.array(found.len() * 2);
        for (f, v) in found {
            out.bulk(f);
            out.bulk(v);
        }
        Ok(())
    })
}
