//! Keyspace commands: deletion, existence, TTLs, iteration, renaming, databases.

use super::{Ctx, int_arg, is, reply_help};
use crate::error::{Error, Result};
use crate::resp::Args;
use crate::store::{Access, Kind};
use crate::util::glob::glob_match;

/// Deletes keys atomically and counts the ones that existed (DEL, UNLINK).
pub fn del(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let db = cx.client.db;
    let keys = args.slice_from(1);
    let n = if keys.len() == 1 {
        cx.node
            .store
            .with_key(db, &keys[0], cx.now, Access::Write, |k| {
                k.delete().is_some() as i64
            })
    } else {
        cx.node
            .store
            .with_keys(keys.iter().map(|k| (db, k)), cx.now, |m| {
                keys.iter()
                    .filter(|key| m.key(db, key, Access::Write).delete().is_some())
                    .count() as i64
            })
    };
    cx.out.int(n);
    Ok(())
}

/// Counts keys that exist, a key named twice counting twice (EXISTS, TOUCH).
fn count_existing(cx: &mut Ctx<'_>, args: Args<'_>, access: Access) -> i64 {
    let db = cx.client.db;
    let keys = args.slice_from(1);
    cx.node
        .store
        .with_keys(keys.iter().map(|k| (db, k)), cx.now, |m| {
            keys.iter()
                .filter(|key| m.key(db, key, access).exists())
                .count() as i64
        })
}

pub fn exists(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let n = count_existing(cx, args, Access::ReadNoTouch);
    cx.out.int(n);
    Ok(())
}

pub fn touch(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let access = if cx.client.no_touch {
        Access::Peek
    } else {
        Access::Write
    };
    let n = count_existing(cx, args, access);
    cx.out.int(n);
    Ok(())
}

pub fn type_(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let kind = cx
        .node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::ReadNoTouch, |k| {
            k.value().map(|v| v.kind())
        });
    cx.out.simple(kind.map_or("none", Kind::name));
    Ok(())
}

const EXPIRE_NX: u8 = 1;
const EXPIRE_XX: u8 = 2;
const EXPIRE_GT: u8 = 4;
const EXPIRE_LT: u8 = 8;

fn expire_flags(args: &Args<'_>) -> Result<u8> {
    let mut f = 0;
    for opt in args.iter().skip(3) {
        f |= if is(opt, "nx") {
            EXPIRE_NX
        } else if is(opt, "xx") {
            EXPIRE_XX
        } else if is(opt, "gt") {
            EXPIRE_GT
        } else if is(opt, "lt") {
            EXPIRE_LT
        } else {
            return Err(Error::msg(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        };
    }
    if f & EXPIRE_NX != 0 && f & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT) != 0 {
        return Err(Error::msg(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if f & EXPIRE_GT != 0 && f & EXPIRE_LT != 0 {
        return Err(Error::msg(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(f)
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (Redis's expireGenericCommand).
fn expire_generic(
    cx: &mut Ctx<'_>,
    args: Args<'_>,
    relative: bool,
    seconds: bool,
    cmd: &'static str,
) -> Result<()> {
    let flags = expire_flags(&args)?;
    let mut when = int_arg(&args[2])?;
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(Error::InvalidExpire(cmd));
        }
        when *= 1000;
    }
    let base = if relative { cx.now as i64 } else { 0 };
    if when > i64::MAX - base {
        return Err(Error::InvalidExpire(cmd));
    }
    when += base;
    let now = cx.now as i64;
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            let Some(cur) = k.expire_at() else {
                out.int(0);
                return Ok(());
            };
            // -1 stands for "no TTL", as in Redis's comparisons.
            let cur = if cur == 0 { -1 } else { cur as i64 };
            let refused = (flags & EXPIRE_NX != 0 && cur != -1)
                || (flags & EXPIRE_XX != 0 && cur == -1)
                || (flags & EXPIRE_GT != 0 && (when <= cur || cur == -1))
                || (flags & EXPIRE_LT != 0 && cur != -1 && when >= cur);
            if refused {
                out.int(0);
                return Ok(());
            }
            if when <= now {
                k.delete();
            } else {
                k.set_expire(when as u64);
            }
            out.int(1);
            Ok(())
        })
}

pub fn expire(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    expire_generic(cx, args, true, true, "expire")
}

pub fn pexpire(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    expire_generic(cx, args, true, false, "pexpire")
}

pub fn expireat(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    expire_generic(cx, args, false, true, "expireat")
}

pub fn pexpireat(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    expire_generic(cx, args, false, false, "pexpireat")
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME (Redis's ttlGenericCommand).
fn ttl_generic(cx: &mut Ctx<'_>, args: Args<'_>, ms: bool, absolute: bool) -> Result<()> {
    let now = cx.now as i64;
    let at = cx
        .node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::ReadNoTouch, |k| {
            k.expire_at()
        });
    let reply = match at {
        None => -2,
        Some(0) => -1,
        Some(at) => {
            let t = if absolute {
                at as i64
            } else {
                (at as i64 - now).max(0)
            };
            if ms { t } else { (t + 500) / 1000 }
        }
    };
    cx.out.int(reply);
    Ok(())
}

pub fn ttl(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    ttl_generic(cx, args, false, false)
}

pub fn pttl(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    ttl_generic(cx, args, true, false)
}

pub fn expiretime(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    ttl_generic(cx, args, false, true)
}

pub fn pexpiretime(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    ttl_generic(cx, args, true, true)
}

pub fn persist(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let done = cx
        .node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            k.persist()
        });
    cx.out.int(done as i64);
    Ok(())
}

pub fn keys(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let keys = cx.node.store.keys(cx.client.db, &args[1], cx.now);
    cx.out.array(keys.len());
    for k in &keys {
        cx.out.bulk(k);
    }
    Ok(())
}

/// SCAN's cursor: an unsigned decimal as C's strtoul reads it (an empty string is 0).
fn parse_cursor(a: &[u8]) -> Option<u64> {
    let (neg, digits) = match a.first() {
        Some(b'-') => (true, &a[1..]),
        Some(b'+') => (false, &a[1..]),
        _ => (false, a),
    };
    if digits.is_empty() {
        return (a.is_empty()).then_some(0);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

pub fn scan(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let cursor = parse_cursor(&args[1]).ok_or_else(|| Error::msg("invalid cursor"))?;
    let (mut count, mut pattern, mut typ) = (10i64, None, None);
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i;
        if is(&args[i], "count") && more >= 2 {
            count = int_arg(&args[i + 1])?;
            if count < 1 {
                return Err(Error::Syntax);
            }
        } else if is(&args[i], "match") && more >= 2 {
            let p = &args[i + 1];
            pattern = (p != b"*").then_some(p);
        } else if is(&args[i], "type") && more >= 2 {
            typ = Some(&args[i + 1]);
        } else {
            return Err(Error::Syntax);
        }
        i += 2;
    }
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let next = cx
        .node
        .store
        .scan(cx.client.db, cursor, count as usize, cx.now, |e| {
            if pattern.is_some_and(|p| !glob_match(p, e.key(), false)) {
                return;
            }
            if typ.is_some_and(|t| !t.eq_ignore_ascii_case(e.value().kind().name().as_bytes())) {
                return;
            }
            keys.push(e.key().to_vec());
        });
    let out = &mut *cx.out;
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(keys.len());
    for k in &keys {
        out.bulk(k);
    }
    Ok(())
}

pub fn randomkey(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    match cx.node.store.random_key(cx.client.db, cx.now) {
        Some(k) => cx.out.bulk(&k),
        None => cx.out.null(),
    }
    Ok(())
}

fn rename_generic(cx: &mut Ctx<'_>, args: Args<'_>, nx: bool) -> Result<()> {
    let db = cx.client.db;
    let (src, dst) = (&args[1], &args[2]);
    let r = cx
        .node
        .store
        .with_keys([(db, src), (db, dst)], cx.now, |m| {
            if !m.key(db, src, Access::Write).exists() {
                return Err(Error::NoSuchKey);
            }
            if src == dst {
                return Ok(!nx);
            }
            if nx && m.key(db, dst, Access::Write).exists() {
                return Ok(false);
            }
            // Move the value rather than copy it: DEL of the source, then SET of the target.
            if let Some(entry) = m.key(db, src, Access::Write).delete() {
                let expire_at = entry.expire_at();
                m.key(db, dst, Access::Write)
                    .set(entry.into_value(), expire_at);
            }
            Ok(true)
        })?;
    if nx {
        cx.out.int(r as i64);
    } else {
        cx.out.ok();
    }
    Ok(())
}

pub fn rename(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    rename_generic(cx, args, false)
}

pub fn renamenx(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    rename_generic(cx, args, true)
}

/// A database index argument: an int, and within range.
fn db_index(cx: &Ctx<'_>, a: &[u8]) -> Result<u32> {
    let id = int_arg(a)?;
    if id < i32::MIN as i64 || id > i32::MAX as i64 {
        return Err(Error::NotInteger);
    }
    if id < 0 || id as usize >= cx.node.store.databases() {
        return Err(Error::DbIndexOutOfRange);
    }
    Ok(id as u32)
}

pub fn move_(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let src_db = cx.client.db;
    let dst_db = db_index(cx, &args[2])?;
    if dst_db == src_db {
        return Err(Error::msg("source and destination objects are the same"));
    }
    let key = &args[1];
    let moved = cx
        .node
        .store
        .with_keys([(src_db, key), (dst_db, key)], cx.now, |m| {
            if !m.key(src_db, key, Access::Write).exists()
                || m.key(dst_db, key, Access::Write).exists()
            {
                return false;
            }
            if let Some(entry) = m.key(src_db, key, Access::Write).delete() {
                let expire_at = entry.expire_at();
                m.key(dst_db, key, Access::Write)
                    .set(entry.into_value(), expire_at);
            }
            true
        });
    cx.out.int(moved as i64);
    Ok(())
}

pub fn copy(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let src_db = cx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < args.len() {
        let more = args.len() - j - 1;
        if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "db") && more >= 1 {
            dst_db = db_index(cx, &args[j + 1])?;
            j += 1;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let (src, dst) = (&args[1], &args[2]);
    if src_db == dst_db && src == dst {
        return Err(Error::msg("source and destination objects are the same"));
    }
    let access = cx.read_access();
    let copied = cx
        .node
        .store
        .with_keys([(src_db, src), (dst_db, dst)], cx.now, |m| {
            let found = m
                .key(src_db, src, access)
                .entry()
                .map(|e| (e.value().to_value(), e.expire_at()));
            let Some((value, expire_at)) = found else {
                return false;
            };
            let mut d = m.key(dst_db, dst, Access::Write);
            if d.exists() && !replace {
                return false;
            }
            d.set(value, expire_at);
            true
        });
    cx.out.int(copied as i64);
    Ok(())
}

pub fn dbsize(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let n = cx.node.store.dbsize(cx.client.db);
    cx.out.int(n as i64);
    Ok(())
}

/// FLUSHDB/FLUSHALL's optional ASYNC|SYNC argument; true for ASYNC.
fn flush_mode(args: &Args<'_>) -> Result<bool> {
    match args.len() {
        1 => Ok(false),
        2 if is(&args[1], "sync") => Ok(false),
        2 if is(&args[1], "async") => Ok(true),
        _ => Err(Error::Syntax),
    }
}

pub fn flushdb(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let lazy = flush_mode(&args)?;
    cx.node.store.flushdb(cx.client.db, lazy);
    cx.out.ok();
    Ok(())
}

pub fn flushall(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let lazy = flush_mode(&args)?;
    cx.node.store.flushall(lazy);
    cx.out.ok();
    Ok(())
}

pub fn swapdb(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let parse = |a: &[u8], what: &'static str| -> Result<i64> {
        let v = crate::util::num::parse_i64(a)
            .filter(|v| (i32::MIN as i64..=i32::MAX as i64).contains(v))
            .ok_or(Error::msg(what))?;
        Ok(v)
    };
    let a = parse(&args[1], "invalid first DB index")?;
    let b = parse(&args[2], "invalid second DB index")?;
    let n = cx.node.store.databases() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Err(Error::DbIndexOutOfRange);
    }
    cx.node.store.swapdb(a as u32, b as u32);
    cx.out.ok();
    Ok(())
}

/// OBJECT subcommands look the key up without touching it; a missing key is a null reply.
fn object_lookup<R>(
    cx: &mut Ctx<'_>,
    args: &Args<'_>,
    f: impl FnOnce(crate::store::EntryRef<'_>) -> R,
) -> Option<R> {
    cx.node
        .store
        .with_key(cx.client.db, &args[2], cx.now, Access::Peek, |k| {
            k.entry().map(f)
        })
}

pub fn object_encoding(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    match object_lookup(cx, &args, |e| e.value().encoding()) {
        Some(enc) => cx.out.bulk(enc.as_bytes()),
        None => cx.out.null(),
    }
    Ok(())
}

pub fn object_refcount(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    // Redis shares the integers 0..10000 (refcount INT_MAX); every other value has one owner.
    let rc = object_lookup(cx, &args, |e| match e.value() {
        crate::store::ValueRef::Int(n) if (0..10_000).contains(&n) => i32::MAX as i64,
        _ => 1,
    });
    match rc {
        Some(n) => cx.out.int(n),
        None => cx.out.null(),
    }
    Ok(())
}

const LFU_SELECTED: &str = "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const LFU_NOT_SELECTED: &str = "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

pub fn object_idletime(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let Some(access) = object_lookup(cx, &args, |e| e.access()) else {
        cx.out.null();
        return Ok(());
    };
    if cx.node.store.store_of(cx.client.db).access.mode() != crate::store::evict::AccessMode::Lru {
        return Err(Error::msg(LFU_SELECTED));
    }
    cx.out
        .int((crate::store::evict::idle_ms(access, cx.now) / 1000) as i64);
    Ok(())
}

pub fn object_freq(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let now = cx.now;
    let freq = cx
        .node
        .store
        .with_key(cx.client.db, &args[2], now, Access::Peek, |k| {
            let mode = k.access_mode();
            k.entry().map(|e| (mode, mode.freq(e.access(), now)))
        });
    let Some((mode, freq)) = freq else {
        cx.out.null();
        return Ok(());
    };
    if mode == crate::store::evict::AccessMode::Lru {
        return Err(Error::msg(LFU_NOT_SELECTED));
    }
    cx.out.int(freq as i64);
    Ok(())
}

pub fn object_help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    reply_help(
        cx.out,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_parsing_follows_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"123"), Some(123));
        assert_eq!(parse_cursor(b"+5"), Some(5));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"1x"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"99999999999999999999999"), None);
    }
}
