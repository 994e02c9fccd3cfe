//! String commands, with Redis 7's option grammar, replies and error texts.

use super::{Ctx, int_arg, is};
use crate::error::{Error, Result};
use crate::resp::{Args, Out};
use crate::store::{Access, KeyRef, Value, ValueRef};
use crate::util::lcs::{LcsError, lcs as lcs_table};
use crate::util::num::{IncrFloatError, incr_by_float};

impl Ctx<'_> {
    /// The access mode of a plain read by this client (NO-TOUCH clients don't refresh LRU).
    pub fn read_access(&self) -> Access {
        if self.client.no_touch {
            Access::ReadNoTouch
        } else {
            Access::Read
        }
    }

    /// The longest string a command may build (`proto-max-bulk-len`).
    pub fn max_string(&self) -> u64 {
        self.node.settings.proto_max_bulk_len()
    }
}

/// Writes a string value as a bulk reply; WRONGTYPE for other types.
#[inline]
fn reply_string(out: &mut Out, v: ValueRef<'_>) -> Result<()> {
    v.with_bytes(|b| out.bulk(b)).ok_or(Error::WrongType)
}

/// Replies the value of `k` (null when absent) — the GET part of GET, GETSET, GETDEL, SET GET.
#[inline]
fn reply_current(out: &mut Out, k: &KeyRef<'_>) -> Result<()> {
    match k.value() {
        None => {
            out.null();
            Ok(())
        }
        Some(v) => reply_string(out, v),
    }
}

pub fn get(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let access = cx.read_access();
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, access, |k| {
            reply_current(out, k)
        })
}

/// How a SET/GETEX call wants the key's deadline handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ttl<'a> {
    Unchanged,
    Keep,
    Persist,
    /// EX/PX (relative) or EXAT/PXAT (absolute), with the unit's multiplier to ms.
    Given {
        arg: &'a [u8],
        relative: bool,
        ms: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct SetOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    ttl: Ttl<'a>,
}

/// Parses SET (from argument 3) or GETEX (from argument 2) options with Redis's rules: each
/// option may conflict with others, and a TTL option needs a following argument.
fn parse_opts<'a>(args: &Args<'a>, from: usize, for_set: bool) -> Result<SetOpts<'a>> {
    let mut o = SetOpts {
        nx: false,
        xx: false,
        get: false,
        ttl: Ttl::Unchanged,
    };
    let mut j = from;
    while j < args.len() {
        let opt = &args[j];
        let next = args.get(j + 1);
        let ttl_free = o.ttl == Ttl::Unchanged;
        if for_set && is(opt, "NX") && !o.xx {
            o.nx = true;
        } else if for_set && is(opt, "XX") && !o.nx {
            o.xx = true;
        } else if for_set && is(opt, "GET") {
            o.get = true;
        } else if for_set && is(opt, "KEEPTTL") && (ttl_free || o.ttl == Ttl::Keep) {
            o.ttl = Ttl::Keep;
        } else if !for_set && is(opt, "PERSIST") && (ttl_free || o.ttl == Ttl::Persist) {
            o.ttl = Ttl::Persist;
        } else if let (Some(arg), Some((relative, ms))) = (next, ttl_kind(opt)) {
            // The same option may repeat (the last value wins); a different one conflicts.
            let same =
                matches!(o.ttl, Ttl::Given { relative: r, ms: m, .. } if r == relative && m == ms);
            if !(ttl_free || same) {
                return Err(Error::Syntax);
            }
            o.ttl = Ttl::Given { arg, relative, ms };
            j += 1;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

fn ttl_kind(opt: &[u8]) -> Option<(bool, bool)> {
    if is(opt, "EX") {
        Some((true, false))
    } else if is(opt, "PX") {
        Some((true, true))
    } else if is(opt, "EXAT") {
        Some((false, false))
    } else if is(opt, "PXAT") {
        Some((false, true))
    } else {
        None
    }
}

/// Turns an EX/PX/EXAT/PXAT argument into an absolute deadline in ms (getExpireMillisecondsOrReply).
fn deadline(arg: &[u8], relative: bool, ms: bool, now: u64, cmd: &'static str) -> Result<u64> {
    let mut v = int_arg(arg)?;
    if v <= 0 || (!ms && v > i64::MAX / 1000) {
        return Err(Error::InvalidExpire(cmd));
    }
    if !ms {
        v *= 1000;
    }
    if relative {
        v = v.checked_add(now as i64).ok_or(Error::InvalidExpire(cmd))?;
    }
    Ok(v as u64)
}

fn set_generic(
    cx: &mut Ctx<'_>,
    key: &[u8],
    val: &[u8],
    o: SetOpts<'_>,
    cmd: &'static str,
    replies: (&[u8], &[u8]),
) -> Result<()> {
    let given = match o.ttl {
        Ttl::Given { arg, relative, ms } => Some(deadline(arg, relative, ms, cx.now, cmd)?),
        _ => None,
    };
    let access = if o.get {
        cx.read_access()
    } else {
        Access::Write
    };
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, key, cx.now, access, |k| {
            if o.get {
                reply_current(out, k)?;
            }
            let found = k.exists();
            if (o.nx && found) || (o.xx && !found) {
                if !o.get {
                    out.buf.extend_from_slice(replies.1);
                }
                return Ok(());
            }
            let expire_at = match (given, o.ttl) {
                (Some(at), _) => at,
                (None, Ttl::Keep) => k.expire_at().unwrap_or(0),
                _ => 0,
            };
            k.set_bytes(val, expire_at);
            if !o.get {
                out.buf.extend_from_slice(replies.0);
            }
            Ok(())
        })
}

const OK: &[u8] = b"+OK\r\n";

fn null_reply(cx: &Ctx<'_>) -> &'static [u8] {
    if cx.out.resp3() { b"_\r\n" } else { b"$-1\r\n" }
}

pub fn set(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let o = parse_opts(&args, 3, true)?;
    let null = null_reply(cx);
    set_generic(cx, &args[1], &args[2], o, "set", (OK, null))
}

pub fn setnx(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let o = SetOpts {
        nx: true,
        xx: false,
        get: false,
        ttl: Ttl::Unchanged,
    };
    set_generic(cx, &args[1], &args[2], o, "setnx", (b":1\r\n", b":0\r\n"))
}

fn setex_generic(cx: &mut Ctx<'_>, args: Args<'_>, ms: bool, cmd: &'static str) -> Result<()> {
    let o = SetOpts {
        nx: false,
        xx: false,
        get: false,
        ttl: Ttl::Given {
            arg: &args[2],
            relative: true,
            ms,
        },
    };
    set_generic(cx, &args[1], &args[3], o, cmd, (OK, OK))
}

pub fn setex(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    setex_generic(cx, args, false, "setex")
}

pub fn psetex(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    setex_generic(cx, args, true, "psetex")
}

pub fn getex(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let o = parse_opts(&args, 2, false)?;
    let (now, access) = (cx.now, cx.read_access());
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], now, access, |k| {
            let Some(v) = k.value() else {
                out.null();
                return Ok(());
            };
            if v.str_len().is_none() {
                return Err(Error::WrongType);
            }
            let given = match o.ttl {
                Ttl::Given { arg, relative, ms } => {
                    Some(deadline(arg, relative, ms, now, "getex")?)
                }
                _ => None,
            };
            reply_current(out, k)?;
            match (given, o.ttl) {
                (Some(at), _) => {
                    k.set_expire(at);
                }
                (None, Ttl::Persist) => {
                    k.persist();
                }
                _ => {}
            }
            Ok(())
        })
}

pub fn getset(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let access = cx.read_access();
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, access, |k| {
            reply_current(out, k)?;
            k.set_bytes(&args[2], 0);
            Ok(())
        })
}

pub fn getdel(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let access = cx.read_access();
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, access, |k| {
            reply_current(out, k)?;
            k.delete();
            Ok(())
        })
}

pub fn mget(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (db, access) = (cx.client.db, cx.read_access());
    let keys = args.slice_from(1);
    let out = &mut *cx.out;
    out.array(keys.len());
    cx.node
        .store
        .with_keys(keys.iter().map(|k| (db, k)), cx.now, |m| {
            for key in keys.iter() {
                let k = m.key(db, key, access);
                match k.value() {
                    Some(v) if v.with_bytes(|b| out.bulk(b)).is_some() => {}
                    _ => out.null(),
                }
            }
        });
    Ok(())
}

fn mset_generic(cx: &mut Ctx<'_>, args: Args<'_>, nx: bool) -> Result<()> {
    if args.len().is_multiple_of(2) {
        return Err(Error::Arity(if nx { "msetnx" } else { "mset" }.into()));
    }
    let db = cx.client.db;
    let pairs = args.slice_from(1);
    let keys = pairs.iter().step_by(2);
    let done = cx.node.store.with_keys(keys.map(|k| (db, k)), cx.now, |m| {
        if nx
            && pairs
                .iter()
                .step_by(2)
                .any(|key| m.key(db, key, Access::Write).exists())
        {
            return false;
        }
        for i in (0..pairs.len()).step_by(2) {
            m.key(db, &pairs[i], Access::Write)
                .set_bytes(&pairs[i + 1], 0);
        }
        true
    });
    if nx {
        cx.out.int(done as i64);
    } else {
        cx.out.ok();
    }
    Ok(())
}

pub fn mset(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    mset_generic(cx, args, false)
}

pub fn msetnx(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    mset_generic(cx, args, true)
}

/// The integer a string value holds, with Redis's rules (no spaces, no leading zeros, i64).
fn value_as_i64(v: ValueRef<'_>) -> Result<i64> {
    match v {
        ValueRef::Int(n) => Ok(n),
        other => other.with_bytes(int_arg).ok_or(Error::WrongType)?,
    }
}

fn incr_generic(cx: &mut Ctx<'_>, key: &[u8], by: i64) -> Result<()> {
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, key, cx.now, Access::Write, |k| {
            let cur = match k.value() {
                Some(v) => value_as_i64(v)?,
                None => 0,
            };
            let new = cur.checked_add(by).ok_or(Error::Overflow)?;
            if k.exists() {
                k.update(|v| *v = Value::Int(new));
            } else {
                k.set(Value::Int(new), 0);
            }
            out.int(new);
            Ok(())
        })
}

pub fn incr(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    incr_generic(cx, &args[1], 1)
}

pub fn decr(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    incr_generic(cx, &args[1], -1)
}

pub fn incrby(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let by = int_arg(&args[2])?;
    incr_generic(cx, &args[1], by)
}

pub fn decrby(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let by = int_arg(&args[2])?;
    if by == i64::MIN {
        return Err(Error::msg("decrement would overflow"));
    }
    incr_generic(cx, &args[1], -by)
}

pub fn incrbyfloat(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            let result = match k.value() {
                Some(v) => v
                    .with_bytes(|cur| incr_by_float(Some(cur), &args[2]))
                    .ok_or(Error::WrongType)?,
                None => incr_by_float(None, &args[2]),
            };
            let new = result.map_err(|e| match e {
                IncrFloatError::NanOrInf => Error::msg("increment would produce NaN or Infinity"),
                _ => Error::NotFloat,
            })?;
            out.bulk(&new);
            // Redis stores the formatted result as a plain string (never int-encoded).
            let value = Value::string(&new);
            if k.exists() {
                k.update(|v| *v = value);
            } else {
                k.set(value, 0);
            }
            Ok(())
        })
}

/// Redis's checkStringLength: the result may not exceed proto-max-bulk-len.
fn check_len(max: u64, size: u64, add: u64) -> Result<()> {
    match size.checked_add(add) {
        Some(t) if t <= max => Ok(()),
        _ => Err(Error::StringTooLong),
    }
}

/// Under a memory limit, makes room for what a write will add to the string at `key` once it
/// is `new_len` long — before anything is allocated for it.
pub(super) fn reserve_growth(
    cx: &Ctx<'_>,
    key: &[u8],
    new_len: impl FnOnce(u64) -> u64,
) -> Result<()> {
    let store = &cx.node.store;
    if !store.limited(cx.client.db) {
        return Ok(());
    }
    let cur = store
        .with_key(cx.client.db, key, cx.now, Access::Peek, |k| {
            k.value().and_then(|v| v.str_len())
        })
        .unwrap_or(0) as u64;
    let growth = new_len(cur).saturating_sub(cur);
    let intent = crate::write::Intent {
        db: cx.client.db,
        while_loading: false,
        grows: Some(growth),
    };
    crate::write::admit(cx.node, intent, cx.now)
}

pub fn append(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let max = cx.max_string();
    let tail_len = args[2].len() as u64;
    reserve_growth(cx, &args[1], |cur| cur.saturating_add(tail_len))?;
    let out = &mut *cx.out;
    let tail = &args[2];
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            let len = match k.value() {
                None => {
                    k.set_bytes(tail, 0);
                    tail.len()
                }
                Some(v) => {
                    let cur = v.str_len().ok_or(Error::WrongType)?;
                    check_len(max, cur as u64, tail.len() as u64)?;
                    k.splice(cur as u64, tail).unwrap_or(cur)
                }
            };
            out.int(len as i64);
            Ok(())
        })
}

pub fn strlen(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let access = cx.read_access();
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, access, |k| {
            let n = match k.value() {
                None => 0,
                Some(v) => v.str_len().ok_or(Error::WrongType)?,
            };
            out.int(n as i64);
            Ok(())
        })
}

pub fn getrange(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let start = int_arg(&args[2])?;
    let end = int_arg(&args[3])?;
    let access = cx.read_access();
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, access, |k| {
            let Some(v) = k.value() else {
                out.bulk(b"");
                return Ok(());
            };
            v.with_bytes(|s| out.bulk(substring(s, start, end)))
                .ok_or(Error::WrongType)
        })
}

/// GETRANGE's index arithmetic, exactly as Redis's getrangeCommand.
fn substring(s: &[u8], mut start: i64, mut end: i64) -> &[u8] {
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return b"";
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return b"";
    }
    &s[start as usize..=end as usize]
}

pub fn setrange(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let offset = int_arg(&args[2])?;
    if offset < 0 {
        return Err(Error::msg("offset is out of range"));
    }
    let offset = offset as u64;
    let max = cx.max_string();
    let patch = &args[3];
    let end = offset.saturating_add(patch.len() as u64);
    // Past the size limit the command fails on its own, after its type check.
    if !patch.is_empty() && end <= max {
        reserve_growth(cx, &args[1], |cur| cur.max(end))?;
    }
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            let len = match k.value() {
                None => {
                    if patch.is_empty() {
                        out.int(0);
                        return Ok(());
                    }
                    check_len(max, offset, patch.len() as u64)?;
                    k.splice(offset, patch).unwrap_or(0)
                }
                Some(v) => {
                    let cur = v.str_len().ok_or(Error::WrongType)?;
                    if patch.is_empty() {
                        out.int(cur as i64);
                        return Ok(());
                    }
                    check_len(max, offset, patch.len() as u64)?;
                    k.splice(offset, patch).unwrap_or(cur)
                }
            };
            out.int(len as i64);
            Ok(())
        })
}

pub fn lcs(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (db, access) = (cx.client.db, cx.read_access());
    let keys = [(db, &args[1]), (db, &args[2])];
    // Read both values atomically, then compute outside the lock: LCS is O(N*M).
    let (a, b) = cx.node.store.with_keys(keys, cx.now, |m| {
        let a = m.key(db, &args[1], access).value().map(|v| v.to_bytes());
        let b = m.key(db, &args[2], access).value().map(|v| v.to_bytes());
        (a, b)
    });
    let (Some(a), Some(b)) = (a.unwrap_or(Some(Vec::new())), b.unwrap_or(Some(Vec::new()))) else {
        return Err(Error::msg("The specified keys must contain string values"));
    };
    let (mut idx, mut len, mut withlen, mut minlen) = (false, false, false, 0i64);
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        let more = args.len() - 1 - j;
        if is(opt, "IDX") {
            idx = true;
        } else if is(opt, "LEN") {
            len = true;
        } else if is(opt, "WITHMATCHLEN") {
            withlen = true;
        } else if is(opt, "MINMATCHLEN") && more > 0 {
            minlen = int_arg(&args[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    if len && idx {
        return Err(Error::msg(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    let r = lcs_table(&a, &b, !len, idx, minlen as usize, cx.max_string())
        .map_err(|e: LcsError| Error::msg(e.to_string()))?;
    let out = &mut *cx.out;
    if idx {
        out.map(2);
        out.bulk(b"matches");
        out.array(r.matches.len());
        for m in &r.matches {
            out.array(2 + withlen as usize);
            out.array(2);
            out.int(m.a.0 as i64);
            out.int(m.a.1 as i64);
            out.array(2);
            out.int(m.b.0 as i64);
            out.int(m.b.1 as i64);
            if withlen {
                out.int(m.len as i64);
            }
        }
        out.bulk(b"len");
        out.int(r.len as i64);
    } else if len {
        out.int(r.len as i64);
    } else {
        out.bulk(&r.string);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_matches_redis_arithmetic() {
        let s = b"Hello World";
        assert_eq!(substring(s, 0, 4), b"Hello");
        assert_eq!(substring(s, -3, -1), b"rld");
        assert_eq!(substring(s, 0, -1), s);
        assert_eq!(substring(s, 10, 100), b"d");
        assert_eq!(substring(s, 5, 3), b"");
        assert_eq!(substring(s, -1, -5), b"");
        assert_eq!(substring(b"", 0, -1), b"");
        assert_eq!(substring(s, -100, 2), b"Hel");
    }
}
