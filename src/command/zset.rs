//! Sorted set commands (ZADD ... ZSCAN), with Redis 7.0's replies, error texts and the order
//! in which Redis checks arguments, key and type. The blocking pops ask the connection to
//! wait (`blocking`) when there is nothing to pop.
//!
//! ZADD, ZINCRBY, ZREM, the pops and the range removals replicate as edits (members given a
//! score, members removed); the STORE forms as whole values.

use super::{Ctx, blocking, collection, int_arg, is};
use crate::collections::{Set, ZSet, edit};
use crate::error::{Error, Result};
use crate::resp::{Args, Out};
use crate::store::value::Collection;
use crate::store::{Access, KeyRef, Multi};
use crate::util::num::{fmt_double, parse_f64};

fn zset_of<'k>(k: &'k KeyRef<'_>) -> Result<Option<&'k ZSet>> {
    collection::of(k)
}

fn change<R>(
    k: &mut KeyRef<'_>,
    f: impl FnOnce(&mut ZSet, &mut Vec<u8>) -> Result<(R, bool)>,
) -> Result<R> {
    collection::change(k, f)
}

use collection::write;

fn read<R>(
    cx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Out, Option<&ZSet>) -> Result<R>,
) -> Result<R> {
    collection::read(cx, key, f)
}

/// A score or increment given by a client (`getDoubleFromObjectOrReply`).
fn score_arg(a: &[u8]) -> Result<f64> {
    parse_f64(a).ok_or(Error::NotFloat)
}

/// Members with their scores, as replies write them: RESP2 flat (member, score as a bulk),
/// RESP3 pairs (member, double).
fn reply_entries<'a>(
    out: &mut Out,
    entries: impl ExactSizeIterator<Item = (f64, &'a [u8])>,
    with_scores: bool,
) {
    let n = entries.len();
    let resp3 = out.resp3();
    out.array(if with_scores && !resp3 { n * 2 } else { n });
    for (s, m) in entries {
        if with_scores && resp3 {
            out.array(2);
        }
        out.bulk(m);
        if with_scores {
            out.double(s);
        }
    }
}

// --- ZADD / ZINCRBY / ZREM ---

#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

fn zadd_generic(cx: &mut Ctx<'_>, args: Args<'_>, mut fl: AddFlags) -> Result<()> {
    let mut at = 2;
    while at < args.len() {
        let a = &args[at];
        match () {
            _ if is(a, "nx") => fl.nx = true,
            _ if is(a, "xx") => fl.xx = true,
            _ if is(a, "ch") => fl.ch = true,
            _ if is(a, "incr") => fl.incr = true,
            _ if is(a, "gt") => fl.gt = true,
            _ if is(a, "lt") => fl.lt = true,
            _ => break,
        }
        at += 1;
    }
    let rest = args.len() - at;
    if rest == 0 || rest % 2 == 1 {
        return Err(Error::Syntax);
    }
    if fl.nx && fl.xx {
        return Err(Error::msg(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (fl.nx && (fl.gt || fl.lt)) || (fl.gt && fl.lt) {
        return Err(Error::msg(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if fl.incr && rest > 2 {
        return Err(Error::msg(
            "INCR option supports a single increment-element pair",
        ));
    }
    let pairs: Vec<(f64, &[u8])> = (at..args.len())
        .step_by(2)
        .map(|i| Ok((score_arg(&args[i])?, &args[i + 1][..])))
        .collect::<Result<_>>()?;
    let (added, updated, last) = write(cx, &args[1], |k| {
        if zset_of(k)?.is_none() && fl.xx {
            return Ok((0, 0, None));
        }
        change(k, |z, e| {
            let (mut added, mut updated, mut last) = (0, 0, None);
            let mut changed: Vec<(&[u8], f64)> = Vec::new();
            for &(score, m) in &pairs {
                let mut score = score;
                match z.score(m) {
                    Some(cur) => {
                        if fl.nx {
                            continue;
                        }
                        if fl.incr {
                            score += cur;
                            if score.is_nan() {
                                return Err(Error::msg("resulting score is not a number (NaN)"));
                            }
                        }
                        if (fl.lt && score >= cur) || (fl.gt && score <= cur) {
                            continue;
                        }
                        if score != cur {
                            z.insert_known(m, score, Some(cur));
                            changed.push((m, score));
                            updated += 1;
                        }
                        last = Some(if score != cur { score } else { cur });
                    }
                    None => {
                        if fl.xx {
                            continue;
                        }
                        z.insert_known(m, score, None);
                        changed.push((m, score));
                        added += 1;
                        last = Some(score);
                    }
                }
            }
            edit::zset_add(e, changed.iter().copied());
            Ok(((added, updated, last), added + updated > 0))
        })
    })?;
    if fl.incr {
        match last {
            Some(s) => cx.out.double(s),
            None => cx.out.null(),
        }
    } else {
        cx.out
            .int(if fl.ch { added + updated } else { added } as i64);
    }
    Ok(())
}

pub fn zadd(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    zadd_generic(cx, args, AddFlags::default())
}

pub fn zincrby(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    zadd_generic(
        cx,
        args,
        AddFlags {
            incr: true,
            ..AddFlags::default()
        },
    )
}

pub fn zrem(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let removed = write(cx, &args[1], |k| {
        if zset_of(k)?.is_none() {
            return Ok(0);
        }
        change(k, |z, e| {
            let n = args
                .iter()
                .skip(2)
                .filter(|m| z.remove(m).is_some())
                .count();
            edit::zset_rem(e, args.iter().skip(2));
            Ok((n, n > 0))
        })
    })?;
    cx.out.int(removed as i64);
    Ok(())
}

// --- single-member reads ---

pub fn zcard(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    read(cx, &args[1], |out, z| {
        out.int(z.map_or(0, ZSet::len) as i64);
        Ok(())
    })
}

pub fn zscore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    read(cx, &args[1], |out, z| {
        match z.and_then(|z| z.score(&args[2])) {
            Some(s) => out.double(s),
            None => out.null(),
        }
        Ok(())
    })
}

pub fn zmscore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    read(cx, &args[1], |out, z| {
        out.array(args.len() - 2);
        for m in args.iter().skip(2) {
            match z.and_then(|z| z.score(m)) {
                Some(s) => out.double(s),
                None => out.null(),
            }
        }
        Ok(())
    })
}

fn rank_generic(cx: &mut Ctx<'_>, args: Args<'_>, rev: bool) -> Result<()> {
    read(cx, &args[1], |out, z| {
        match z.and_then(|z| Some((z.len(), z.rank(&args[2])?))) {
            Some((len, r)) => out.int(if rev { len - 1 - r } else { r } as i64),
            None => out.null(),
        }
        Ok(())
    })
}

pub fn zrank(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    rank_generic(cx, args, false)
}

pub fn zrevrank(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    rank_generic(cx, args, true)
}

// --- ranges ---

/// One end of a score range: `1.5`, `(1.5`, `-inf`, `+inf`.
#[derive(Debug, Clone, Copy)]
struct ScoreBound {
    v: f64,
    ex: bool,
}

/// Redis's `zslParseRange` takes libc `strtod` as it comes (leading blanks, "" as 0, overflow
/// to infinity), refusing only leftovers and NaN.
fn score_bound(a: &[u8]) -> Option<ScoreBound> {
    let (ex, num) = match a.first() {
        Some(b'(') => (true, &a[1..]),
        _ => (false, a),
    };
    let v = crate::util::num::parse_f64_lax(num)?;
    Some(ScoreBound { v, ex })
}

#[derive(Debug, Clone, Copy)]
struct ScoreRange {
    min: ScoreBound,
    max: ScoreBound,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange> {
        match (score_bound(min), score_bound(max)) {
            (Some(min), Some(max)) => Ok(ScoreRange { min, max }),
            _ => Err(Error::msg("min or max is not a float")),
        }
    }

    fn empty(&self) -> bool {
        self.min.v > self.max.v || (self.min.v == self.max.v && (self.min.ex || self.max.ex))
    }

    fn above_min(&self, s: f64) -> bool {
        if self.min.ex {
            s > self.min.v
        } else {
            s >= self.min.v
        }
    }

    fn below_max(&self, s: f64) -> bool {
        if self.max.ex {
            s < self.max.v
        } else {
            s <= self.max.v
        }
    }

    /// The ranks in range, `start..end`.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        if self.empty() {
            return (0, 0);
        }
        let start = z.count_below(|s, _| !self.above_min(s));
        let end = z.count_below(|s, _| self.below_max(s));
        (start, end.max(start))
    }
}

/// One end of a lex range: `-`, `+`, `[member`, `(member`.
#[derive(Debug, Clone, Copy)]
enum LexBound<'a> {
    Lowest,
    Highest,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

impl<'a> LexBound<'a> {
    fn parse(a: &'a [u8]) -> Option<LexBound<'a>> {
        match a.first()? {
            b'+' if a.len() == 1 => Some(LexBound::Highest),
            b'-' if a.len() == 1 => Some(LexBound::Lowest),
            b'(' => Some(LexBound::Excl(&a[1..])),
            b'[' => Some(LexBound::Incl(&a[1..])),
            _ => None,
        }
    }

    /// `-` and `+` count as exclusive, as in Redis.
    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }

    fn cmp(&self, other: &LexBound<'_>) -> std::cmp::Ordering {
        use LexBound::*;
        use std::cmp::Ordering::*;
        match (self, other) {
            (Lowest, Lowest) | (Highest, Highest) => Equal,
            (Lowest, _) | (_, Highest) => Less,
            (Highest, _) | (_, Lowest) => Greater,
            (Incl(a) | Excl(a), Incl(b) | Excl(b)) => a.cmp(b),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct LexRange<'a> {
    min: LexBound<'a>,
    max: LexBound<'a>,
}

impl<'a> LexRange<'a> {
    fn parse(min: &'a [u8], max: &'a [u8]) -> Result<LexRange<'a>> {
        match (LexBound::parse(min), LexBound::parse(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(Error::msg("min or max not valid string range item")),
        }
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        match self.min {
            LexBound::Lowest => true,
            LexBound::Highest => false,
            LexBound::Incl(x) => m >= x,
            LexBound::Excl(x) => m > x,
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        match self.max {
            LexBound::Lowest => false,
            LexBound::Highest => true,
            LexBound::Incl(x) => m <= x,
            LexBound::Excl(x) => m < x,
        }
    }

    /// Redis's `zslIsInLexRange`: a range that cannot hold anything, or lies past the set.
    fn misses(&self, z: &ZSet) -> bool {
        let c = self.min.cmp(&self.max);
        if c.is_gt() || (c.is_eq() && (self.min.exclusive() || self.max.exclusive())) {
            return true;
        }
        match (z.get(0), z.get(z.len().wrapping_sub(1))) {
            (Some((_, first)), Some((_, last))) => !self.gte_min(last) || !self.lte_max(first),
            _ => true,
        }
    }

    /// Whether members are in lex order: every score is the same (the only case Redis
    /// specifies). Otherwise lex ranges walk the set as Redis's listpack does.
    fn searchable(z: &ZSet) -> bool {
        !z.is_packed()
            && matches!((z.get(0), z.get(z.len().wrapping_sub(1))), (Some((a, _)), Some((b, _))) if a == b)
    }

    /// Rank of the first member in range walking up, as Redis finds it: the first not below
    /// min (a walk, or a search when members are in lex order), which must not be above max.
    fn first(&self, z: &ZSet) -> Option<usize> {
        if self.misses(z) {
            return None;
        }
        let r = if !Self::searchable(z) {
            z.iter().position(|(_, m)| self.gte_min(m))?
        } else {
            z.count_below(|_, m| !self.gte_min(m))
        };
        let (_, m) = z.get(r)?;
        self.lte_max(m).then_some(r)
    }

    /// Rank of the first member in range walking down.
    fn last(&self, z: &ZSet) -> Option<usize> {
        if self.misses(z) {
            return None;
        }
        let r = if !Self::searchable(z) {
            z.len()
                - 1
                - z.iter_rev_from(z.len() - 1)
                    .position(|(_, m)| self.lte_max(m))?
        } else {
            z.count_below(|_, m| self.lte_max(m)).checked_sub(1)?
        };
        let (_, m) = z.get(r)?;
        self.gte_min(m).then_some(r)
    }

    /// The ranks in range walking up from [`first`](Self::first), `start..end`.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        match self.first(z) {
            None => (0, 0),
            Some(start) => {
                let n = z
                    .iter_from(start)
                    .take_while(|(_, m)| self.lte_max(m))
                    .count();
                (start, start + n)
            }
        }
    }

    /// The ranks ZREMRANGEBYLEX removes: as [`ranks`](Self::ranks) for a packed set; a large
    /// one is not first checked against its ends (Redis's `zslDeleteRangeByLex`), which only
    /// differs where scores differ.
    fn removal_ranks(&self, z: &ZSet) -> (usize, usize) {
        if z.is_packed() {
            return self.ranks(z);
        }
        let start = if Self::searchable(z) {
            z.count_below(|_, m| !self.gte_min(m))
        } else {
            match z.iter().position(|(_, m)| self.gte_min(m)) {
                Some(r) => r,
                None => return (0, 0),
            }
        };
        let n = z
            .iter_from(start)
            .take_while(|(_, m)| self.lte_max(m))
            .count();
        (start, start + n)
    }
}

#[derive(Debug, Clone, Copy)]
enum Spec<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// A parsed ZRANGE (or one of its older forms).
struct Range<'a> {
    spec: Spec<'a>,
    rev: bool,
    offset: i64,
    /// Negative: no limit.
    limit: i64,
    with_scores: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// Redis's `zrangeGenericCommand` parsing: `src` is the source key's index; `by` and `rev`
/// are fixed by the older commands, `None` where ZRANGE's options choose.
fn parse_range<'a>(
    args: &'a Args<'_>,
    src: usize,
    store: bool,
    by: Option<By>,
    rev: Option<bool>,
) -> Result<Range<'a>> {
    let (mut by_opt, mut rev_opt) = (by, rev);
    let (mut with_scores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = src + 3;
    while j < args.len() {
        let a = &args[j];
        let left = args.len() - j - 1;
        if !store && is(a, "withscores") {
            with_scores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = int_arg(&args[j + 1])?;
            limit = int_arg(&args[j + 2])?;
            j += 2;
        } else if rev.is_none() && is(a, "rev") {
            rev_opt = Some(true);
        } else if by.is_none() && is(a, "bylex") {
            by_opt = Some(By::Lex);
        } else if by.is_none() && is(a, "byscore") {
            by_opt = Some(By::Score);
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let by = by_opt.unwrap_or(By::Rank);
    let rev = rev_opt.unwrap_or(false);
    if limit != -1 && by == By::Rank {
        return Err(Error::msg(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by == By::Lex {
        return Err(Error::msg(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (&args[src + 1], &args[src + 2]);
    if rev && by != By::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    let spec = match by {
        By::Rank => Spec::Rank(int_arg(lo)?, int_arg(hi)?),
        By::Score => Spec::Score(ScoreRange::parse(lo, hi)?),
        By::Lex => Spec::Lex(LexRange::parse(lo, hi)?),
    };
    Ok(Range {
        spec,
        rev,
        offset,
        limit,
        with_scores: with_scores || store,
    })
}

/// Redis's rank clamping: the inclusive ranks `start..=end` of `len`, or `None` when empty.
fn clamp_ranks(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { start + len } else { start }.max(0);
    let end = if end < 0 { end + len } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

/// The entries a range selects, in reply order.
fn select<'z>(z: &'z ZSet, r: &Range<'_>) -> Vec<(f64, &'z [u8])> {
    let len = z.len();
    // A negative offset walks off the end in Redis; a negative limit is no limit.
    let skip = |offset: i64| usize::try_from(offset).ok();
    let take = usize::try_from(r.limit).unwrap_or(usize::MAX);
    match r.spec {
        Spec::Rank(start, end) => {
            let Some((start, end)) = clamp_ranks(start, end, len) else {
                return Vec::new();
            };
            let n = end - start + 1;
            if r.rev {
                z.iter_rev_from(len - 1 - start).take(n).collect()
            } else {
                z.iter_from(start).take(n).collect()
            }
        }
        Spec::Score(range) => {
            let Some(skip) = skip(r.offset) else {
                return Vec::new();
            };
            let (start, end) = range.ranks(z);
            if start >= end {
                return Vec::new();
            }
            if r.rev {
                z.iter_rev_from(end - 1)
                    .skip(skip)
                    .take(take)
                    .take_while(|(s, _)| range.above_min(*s))
                    .collect()
            } else {
                z.iter_from(start)
                    .skip(skip)
                    .take(take)
                    .take_while(|(s, _)| range.below_max(*s))
                    .collect()
            }
        }
        Spec::Lex(range) => {
            let Some(skip) = skip(r.offset) else {
                return Vec::new();
            };
            if r.rev {
                let Some(at) = range.last(z) else {
                    return Vec::new();
                };
                z.iter_rev_from(at)
                    .skip(skip)
                    .take(take)
                    .take_while(|(_, m)| range.gte_min(m))
                    .collect()
            } else {
                let Some(at) = range.first(z) else {
                    return Vec::new();
                };
                z.iter_from(at)
                    .skip(skip)
                    .take(take)
                    .take_while(|(_, m)| range.lte_max(m))
                    .collect()
            }
        }
    }
}

fn range_reply(cx: &mut Ctx<'_>, args: Args<'_>, by: Option<By>, rev: Option<bool>) -> Result<()> {
    let r = parse_range(&args, 1, false, by, rev)?;
    read(cx, &args[1], |out, z| {
        match z {
            None => out.array(0),
            Some(z) => {
                let picked = select(z, &r);
                reply_entries(out, picked.into_iter(), r.with_scores);
            }
        }
        Ok(())
    })
}

pub fn zrange(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    range_reply(cx, args, None, None)
}

pub fn zrevrange(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    range_reply(cx, args, Some(By::Rank), Some(true))
}

pub fn zrangebyscore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    range_reply(cx, args, Some(By::Score), Some(false))
}

pub fn zrevrangebyscore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    range_reply(cx, args, Some(By::Score), Some(true))
}

pub fn zrangebylex(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    range_reply(cx, args, Some(By::Lex), Some(false))
}

pub fn zrevrangebylex(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    range_reply(cx, args, Some(By::Lex), Some(true))
}

/// Writes `entries` to `dst` as a new sorted set (deleting it when there are none); the size.
fn store(m: &mut Multi<'_>, db: u32, dst: &[u8], entries: Vec<(f64, Vec<u8>)>) -> usize {
    let mut k = m.key(db, dst, Access::Write);
    if entries.is_empty() {
        k.delete();
        return 0;
    }
    let z = ZSet::from_entries(entries.iter().map(|(s, m)| (m.as_slice(), *s)));
    let n = z.len();
    k.set(z.into_value(), 0);
    n
}

/// ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let r = parse_range(&args, 2, true, None, None)?;
    let db = cx.client.db;
    let (dst, src) = (&args[1], &args[2]);
    let n = cx
        .node
        .store
        .with_keys([(db, dst), (db, src)], cx.now, |m| -> Result<usize> {
            let picked: Vec<(f64, Vec<u8>)> = match zset_of(&m.key(db, src, Access::Read))? {
                None => Vec::new(),
                Some(z) => select(z, &r)
                    .into_iter()
                    .map(|(s, m)| (s, m.to_vec()))
                    .collect(),
            };
            Ok(store(m, db, dst, picked))
        })?;
    cx.out.int(n as i64);
    Ok(())
}

pub fn zcount(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let range = ScoreRange::parse(&args[2], &args[3])?;
    read(cx, &args[1], |out, z| {
        let (start, end) = z.map_or((0, 0), |z| range.ranks(z));
        out.int((end - start) as i64);
        Ok(())
    })
}

pub fn zlexcount(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let range = LexRange::parse(&args[2], &args[3])?;
    read(cx, &args[1], |out, z| {
        let (start, end) = z.map_or((0, 0), |z| range.ranks(z));
        out.int((end - start) as i64);
        Ok(())
    })
}

/// Removes the ranks `ranks(z)` picks, recording the members removed as the edit.
fn remove_ranks(
    cx: &mut Ctx<'_>,
    key: &[u8],
    ranks: impl FnOnce(&ZSet) -> (usize, usize),
) -> Result<()> {
    let n = write(cx, key, |k| {
        if zset_of(k)?.is_none() {
            return Ok(0);
        }
        change(k, |z, e| {
            let (start, end) = ranks(z);
            let mut gone: Vec<Vec<u8>> = Vec::new();
            z.remove_range(start, end, |_, m| gone.push(m.to_vec()));
            edit::zset_rem(e, gone.iter().map(Vec::as_slice));
            Ok((gone.len(), !gone.is_empty()))
        })
    })?;
    cx.out.int(n as i64);
    Ok(())
}

pub fn zremrangebyrank(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (start, end) = (int_arg(&args[2])?, int_arg(&args[3])?);
    remove_ranks(cx, &args[1], |z| match clamp_ranks(start, end, z.len()) {
        Some((s, e)) => (s, e + 1),
        None => (0, 0),
    })
}

pub fn zremrangebyscore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let range = ScoreRange::parse(&args[2], &args[3])?;
    remove_ranks(cx, &args[1], |z| range.ranks(z))
}

pub fn zremrangebylex(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let range = LexRange::parse(&args[2], &args[3])?;
    remove_ranks(cx, &args[1], |z| range.removal_ranks(z))
}

// --- pops ---

/// Pops up to `count` entries from the low (or high) end of `k`'s set, in pop order.
fn pop(k: &mut KeyRef<'_>, max: bool, count: usize) -> Result<Vec<(f64, Vec<u8>)>> {
    change(k, |z, e| {
        let len = z.len();
        let (start, end) = if max {
            (len.saturating_sub(count), len)
        } else {
            (0, count.min(len))
        };
        let mut popped = Vec::with_capacity(end - start);
        z.remove_range(start, end, |s, m| popped.push((s, m.to_vec())));
        if max {
            popped.reverse();
        }
        edit::zset_rem(e, popped.iter().map(|(_, m)| m.as_slice()));
        let n = popped.len();
        Ok((popped, n > 0))
    })
}

fn pop_generic(cx: &mut Ctx<'_>, args: Args<'_>, max: bool) -> Result<()> {
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
    let popped = write(cx, &args[1], |k| {
        if zset_of(k)?.is_none() || count == Some(0) {
            return Ok(Vec::new());
        }
        pop(k, max, count.unwrap_or(1))
    })?;
    // RESP3 nests pairs once a count is given.
    let nested = cx.out.resp3() && count.is_some();
    let out = &mut *cx.out;
    out.array(if nested {
        popped.len()
    } else {
        popped.len() * 2
    });
    for (s, m) in &popped {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        out.double(*s);
    }
    Ok(())
}

pub fn zpopmin(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    pop_generic(cx, args, false)
}

pub fn zpopmax(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    pop_generic(cx, args, true)
}

/// The key popped from, and its entries in pop order.
type Popped = (Vec<u8>, Vec<(f64, Vec<u8>)>);

/// ZMPOP's (and BZMPOP's) arguments from `numkeys` at `at`: the keys, MAX?, the count.
fn parse_mpop<'a>(args: &'a Args<'_>, at: usize) -> Result<(Vec<&'a [u8]>, bool, usize)> {
    let numkeys = int_arg(&args[at]).map_err(|_| Error::msg("numkeys should be greater than 0"))?;
    if numkeys < 1 {
        return Err(Error::msg("numkeys should be greater than 0"));
    }
    let where_at = (numkeys as usize).saturating_add(at + 1);
    let Some(where_arg) = args.get(where_at) else {
        return Err(Error::Syntax);
    };
    let max = if is(where_arg, "min") {
        false
    } else if is(where_arg, "max") {
        true
    } else {
        return Err(Error::Syntax);
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "count") && j + 1 < args.len() {
            let c = int_arg(&args[j + 1])
                .ok()
                .filter(|c| *c >= 1)
                .ok_or_else(|| Error::msg("count should be greater than 0"))?;
            count = Some(c as usize);
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let keys = (at + 1..where_at).map(|i| &args[i][..]).collect();
    Ok((keys, max, count.unwrap_or(1)))
}

/// Pops from the first of `keys` that holds a sorted set (WRONGTYPE when the first key that
/// exists holds something else).
fn mpop(cx: &mut Ctx<'_>, keys: &[&[u8]], max: bool, count: usize) -> Result<Option<Popped>> {
    let db = cx.client.db;
    cx.node.store.with_keys(
        keys.iter().map(|k| (db, *k)),
        cx.now,
        |m| -> Result<Option<Popped>> {
            for key in keys {
                let mut k = m.key(db, key, Access::Write);
                if zset_of(&k)?.is_some() {
                    return Ok(Some((key.to_vec(), pop(&mut k, max, count)?)));
                }
            }
            Ok(None)
        },
    )
}

fn reply_mpop(out: &mut Out, (key, popped): &Popped) {
    out.array(2);
    out.bulk(key);
    out.array(popped.len());
    for (s, m) in popped {
        out.array(2);
        out.bulk(m);
        out.double(*s);
    }
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (keys, max, count) = parse_mpop(&args, 1)?;
    match mpop(cx, &keys, max, count)? {
        None => cx.out.null_array(),
        Some(p) => reply_mpop(cx.out, &p),
    }
    Ok(())
}

fn bpop(cx: &mut Ctx<'_>, args: Args<'_>, max: bool) -> Result<()> {
    let timeout = blocking::timeout_arg(&args[args.len() - 1])?;
    let keys: Vec<&[u8]> = (1..args.len() - 1).map(|i| &args[i][..]).collect();
    match mpop(cx, &keys, max, 1)? {
        // Flat, in RESP3 too: key, member, score.
        Some((key, popped)) => {
            cx.out.array(1 + popped.len() * 2);
            cx.out.bulk(&key);
            for (s, m) in &popped {
                cx.out.bulk(m);
                cx.out.double(*s);
            }
        }
        None => blocking::block(cx, &keys, timeout, true),
    }
    Ok(())
}

/// BZPOPMIN key [key ...] timeout
pub fn bzpopmin(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    bpop(cx, args, false)
}

/// BZPOPMAX key [key ...] timeout
pub fn bzpopmax(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    bpop(cx, args, true)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub fn bzmpop(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (keys, max, count) = parse_mpop(&args, 2)?;
    let timeout = blocking::timeout_arg(&args[1])?;
    match mpop(cx, &keys, max, count)? {
        None => blocking::block(cx, &keys, timeout, true),
        Some(p) => reply_mpop(cx.out, &p),
    }
    Ok(())
}

// --- random members ---

/// ZRANDMEMBER key [count [WITHSCORES]]
pub fn zrandmember(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (count, with_scores) = match args.len() {
        2 => (None, false),
        3 => (Some(int_arg(&args[2])?), false),
        4 => {
            let c = int_arg(&args[2])?;
            if !is(&args[3], "withscores") {
                return Err(Error::Syntax);
            }
            (Some(c), true)
        }
        _ => return Err(Error::Syntax),
    };
    // Redis's bounds, and ours: a negative count sizes the reply.
    if let Some(c) = count
        && (c == i64::MIN
            || (with_scores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&c))
            || c.unsigned_abs() > super::set::MAX_RANDOM_REPLY)
    {
        return Err(Error::msg("value is out of range"));
    }
    read(cx, &args[1], |out, z| {
        let Some(count) = count else {
            match z.and_then(|z| z.get(fastrand::usize(..z.len()))) {
                Some((_, m)) => out.bulk(m),
                None => out.null(),
            }
            return Ok(());
        };
        let Some(z) = z else {
            out.array(0);
            return Ok(());
        };
        let ranks: Vec<usize> = if count < 0 {
            (0..count.unsigned_abs())
                .map(|_| fastrand::usize(..z.len()))
                .collect()
        } else {
            let mut r = super::set::sample(z.len(), count as usize);
            // Distinct members come in the set's order, as a walk of it gives them.
            r.sort_unstable();
            r
        };
        let picked: Vec<(f64, &[u8])> = ranks.iter().filter_map(|&r| z.get(r)).collect();
        reply_entries(out, picked.into_iter(), with_scores);
        Ok(())
    })
}

// --- ZUNION / ZINTER / ZDIFF ---

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(acc: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *acc += v;
            // inf + -inf: Redis keeps 0.
            if acc.is_nan() {
                *acc = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *acc {
                *acc = v;
            }
        }
        Aggregate::Max => {
            if v > *acc {
                *acc = v;
            }
        }
    }
}

/// A source of ZUNION and friends: a sorted set, or a set (every score 1), copied out.
struct Source {
    entries: Vec<(f64, Vec<u8>)>,
    weight: f64,
}

fn source_of(k: &KeyRef<'_>) -> Result<Vec<(f64, Vec<u8>)>> {
    let Some(v) = k.value() else {
        return Ok(Vec::new());
    };
    if let Some(z) = ZSet::of(v) {
        return Ok(z.iter().map(|(s, m)| (s, m.to_vec())).collect());
    }
    if let Some(s) = Set::of(v) {
        return Ok(s.to_vecs().into_iter().map(|m| (1.0, m)).collect());
    }
    Err(Error::WrongType)
}

struct Combine {
    op: SetOp,
    /// The command's name, for the "at least 1 input key" error.
    name: &'static str,
    store: bool,
    card: bool,
}

struct Combined {
    entries: Vec<(f64, Vec<u8>)>,
    with_scores: bool,
}

/// Redis's `zunionInterDiffGenericCommand`: parses from `numkeys` at `at`, reads the sources
/// (WRONGTYPE before any option error, as Redis), and computes the result, sorted.
fn combine(
    m: &mut Multi<'_>,
    db: u32,
    args: &Args<'_>,
    at: usize,
    how: &Combine,
    limit: &mut usize,
) -> Result<Combined> {
    let n = int_arg(&args[at])?;
    if n < 1 {
        return Err(Error::msg(format!(
            "at least 1 input key is needed for '{}' command",
            how.name
        )));
    }
    if n as u64 > (args.len() - at - 1) as u64 {
        return Err(Error::Syntax);
    }
    let n = n as usize;
    let mut sources = Vec::with_capacity(n);
    for i in 0..n {
        let k = m.key(db, &args[at + 1 + i], Access::Read);
        sources.push(Source {
            entries: source_of(&k)?,
            weight: 1.0,
        });
    }
    let (mut agg, mut with_scores) = (Aggregate::Sum, false);
    let mut j = at + 1 + n;
    while j < args.len() {
        let left = args.len() - j;
        let a = &args[j];
        if how.op != SetOp::Diff && !how.card && left > n && is(a, "weights") {
            for (i, s) in sources.iter_mut().enumerate() {
                s.weight = parse_f64(&args[j + 1 + i])
                    .ok_or_else(|| Error::msg("weight value is not a float"))?;
            }
            j += 1 + n;
        } else if how.op != SetOp::Diff && !how.card && left >= 2 && is(a, "aggregate") {
            let v = &args[j + 1];
            agg = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(Error::Syntax);
            };
            j += 2;
        } else if !how.store && !how.card && is(a, "withscores") {
            with_scores = true;
            j += 1;
        } else if how.card && left >= 2 && is(a, "limit") {
            let l = int_arg(&args[j + 1])?;
            if l < 0 {
                return Err(Error::msg("LIMIT can't be negative"));
            }
            *limit = l as usize;
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    if how.op != SetOp::Diff {
        // Smallest first (a stable sort: the order of sums is Redis's).
        sources.sort_by_key(|s| s.entries.len());
    }
    let index = |s: &Source| -> std::collections::HashMap<Vec<u8>, f64> {
        s.entries.iter().map(|(sc, m)| (m.clone(), *sc)).collect()
    };
    let weighted = |w: f64, s: f64| {
        let v = w * s;
        if v.is_nan() { 0.0 } else { v }
    };
    let mut out: Vec<(f64, Vec<u8>)> = Vec::new();
    match how.op {
        SetOp::Inter => {
            let rest: Vec<std::collections::HashMap<Vec<u8>, f64>> =
                sources[1..].iter().map(index).collect();
            'members: for (s, mem) in &sources[0].entries {
                let mut score = weighted(sources[0].weight, *s);
                for (i, idx) in rest.iter().enumerate() {
                    match idx.get(mem) {
                        Some(v) => aggregate(&mut score, *v * sources[i + 1].weight, agg),
                        None => continue 'members,
                    }
                }
                out.push((score, mem.clone()));
                if how.card && *limit > 0 && out.len() >= *limit {
                    break;
                }
            }
        }
        SetOp::Union => {
            let mut acc: std::collections::HashMap<&[u8], f64> = std::collections::HashMap::new();
            for src in &sources {
                for (s, mem) in &src.entries {
                    let v = weighted(src.weight, *s);
                    match acc.get_mut(mem.as_slice()) {
                        Some(cur) => aggregate(cur, v, agg),
                        None => {
                            acc.insert(mem, v);
                        }
                    }
                }
            }
            out = acc.into_iter().map(|(mem, s)| (s, mem.to_vec())).collect();
        }
        SetOp::Diff => {
            let rest: Vec<std::collections::HashMap<Vec<u8>, f64>> =
                sources[1..].iter().map(index).collect();
            for (s, mem) in &sources[0].entries {
                if !rest.iter().any(|idx| idx.contains_key(mem)) {
                    out.push((*s, mem.clone()));
                }
            }
        }
    }
    out.sort_by(|a, b| crate::collections::zset::key_cmp(a.0, &a.1, b.0, &b.1));
    Ok(Combined {
        entries: out,
        with_scores,
    })
}

fn combine_reply(cx: &mut Ctx<'_>, args: Args<'_>, op: SetOp, name: &'static str) -> Result<()> {
    let db = cx.client.db;
    let keys = numkeys_keys(&args, 1);
    let how = Combine {
        op,
        name,
        store: false,
        card: false,
    };
    let r = cx
        .node
        .store
        .with_keys(keys.iter().map(|k| (db, *k)), cx.now, |m| {
            combine(m, db, &args, 1, &how, &mut 0)
        })?;
    reply_entries(
        cx.out,
        r.entries.iter().map(|(s, m)| (*s, m.as_slice())),
        r.with_scores,
    );
    Ok(())
}

/// The keys a `numkeys key ...` command names (as many as there are, for locking; the count
/// is checked when parsed).
fn numkeys_keys<'a>(args: &'a Args<'_>, at: usize) -> Vec<&'a [u8]> {
    let n = int_arg(&args[at]).unwrap_or(0).max(0) as usize;
    args.iter().skip(at + 1).take(n).collect()
}

fn combine_store(cx: &mut Ctx<'_>, args: Args<'_>, op: SetOp, name: &'static str) -> Result<()> {
    let db = cx.client.db;
    let dst = &args[1];
    let keys = numkeys_keys(&args, 2);
    let how = Combine {
        op,
        name,
        store: true,
        card: false,
    };
    let n = cx.node.store.with_keys(
        std::iter::once((db, dst)).chain(keys.iter().map(|k| (db, *k))),
        cx.now,
        |m| -> Result<usize> {
            let r = combine(m, db, &args, 2, &how, &mut 0)?;
            Ok(store(m, db, dst, r.entries))
        },
    )?;
    cx.out.int(n as i64);
    Ok(())
}

pub fn zunion(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_reply(cx, args, SetOp::Union, "zunion")
}

pub fn zinter(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_reply(cx, args, SetOp::Inter, "zinter")
}

pub fn zdiff(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_reply(cx, args, SetOp::Diff, "zdiff")
}

pub fn zunionstore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_store(cx, args, SetOp::Union, "zunionstore")
}

pub fn zinterstore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_store(cx, args, SetOp::Inter, "zinterstore")
}

pub fn zdiffstore(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    combine_store(cx, args, SetOp::Diff, "zdiffstore")
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn zintercard(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let db = cx.client.db;
    let keys = numkeys_keys(&args, 1);
    let how = Combine {
        op: SetOp::Inter,
        name: "zintercard",
        store: false,
        card: true,
    };
    let n = cx
        .node
        .store
        .with_keys(keys.iter().map(|k| (db, *k)), cx.now, |m| {
            combine(m, db, &args, 1, &how, &mut 0).map(|r| r.entries.len())
        })?;
    cx.out.int(n as i64);
    Ok(())
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]: a packed set comes whole (cursor 0); a
/// large one `count` members at a time by rank, the cursor being the next rank.
pub fn zscan(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let scan = collection::Scan::parse(&args)?;
    read(cx, &args[1], |out, z| {
        let packed = z.is_none_or(ZSet::is_packed);
        let (start, take, next) = scan.window(packed, z.map_or(0, ZSet::len));
        let found: Vec<(f64, &[u8])> = z
            .map(|z| {
                z.iter_from(start)
                    .take(take)
                    .filter(|(_, m)| scan.matches(m))
                    .collect()
            })
            .unwrap_or_default();
        out.array(2);
        out.bulk(itoa::Buffer::new().format(next).as_bytes());
        out.array(found.len() * 2);
        let mut text = Vec::with_capacity(24);
        for (s, m) in found {
            out.bulk(m);
            text.clear();
            fmt_double(s, &mut text);
            out.bulk(&text);
        }
        Ok(())
    })
}
