//! HyperLogLog commands (PFADD PFCOUNT PFMERGE PFDEBUG) on Redis's own string format
//! (`collections::hll`), with Redis 7.0's replies and errors.
//!
//! An HLL is a plain string, changed through `KeyRef` like any other: a sparse value (at
//! most `hll-sparse-max-bytes`) or an encoding change is written whole; a change to a dense
//! value goes out as splices of the bytes that changed. PFCOUNT of one key refreshes the
//! cached cardinality in the header as Redis does, as a splice of those 8 bytes.

use super::string::reserve_growth;
use super::{Ctx, is};
use crate::collections::LIMITS;
use crate::collections::hll::{self, Change, Encoding, Invalid, Registers};
use crate::error::{Error, Result};
use crate::resp::Args;
use crate::store::{Access, KeyRef, Value, ValueRef};

fn refused(i: Invalid) -> Error {
    match i {
        Invalid::NotHll => Error::NotHll,
        Invalid::Corrupt => Error::CorruptHll,
    }
}

/// The bytes of a valid HLL (Redis's isHLLObjectOrReply): WRONGTYPE for another type, the
/// HLL flavour of it for a string that is not one (an integer string never is).
fn hll_of(v: ValueRef<'_>) -> Result<(&[u8], Encoding)> {
    let b = match v {
        ValueRef::Str(b) | ValueRef::Raw(b) | ValueRef::Json(b) => b,
        ValueRef::Int(_) => return Err(Error::NotHll),
        _ => return Err(Error::WrongType),
    };
    let enc = hll::check(b).map_err(refused)?;
    Ok((b, enc))
}

/// Stores a whole new value, keeping the key's deadline.
fn put(k: &mut KeyRef<'_>, mut v: Vec<u8>) {
    // Accounted by capacity: no spare room kept.
    v.shrink_to_fit();
    let value = Value::Raw(Box::new(v));
    if k.exists() {
        k.update(|old| *old = value);
    } else {
        k.set(value, 0);
    }
}

/// Under a memory limit, room for the largest value an HLL can become, before anything is
/// allocated for it.
fn reserve(cx: &Ctx<'_>, key: &[u8]) -> Result<()> {
    let most = hll::max_len(LIMITS.hll_sparse_bytes()) as u64;
    reserve_growth(cx, key, |cur| cur.max(most))
}

pub fn pfadd(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    reserve(cx, &args[1])?;
    let max_bytes = LIMITS.hll_sparse_bytes();
    let elements = args.slice_from(2);
    let updated = cx
        .node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            let Some(v) = k.value() else {
                let mut v = hll::empty();
                let added = hll::add(&v, Encoding::Sparse, elements.iter(), max_bytes);
                if let Change::Whole(w) = added.change {
                    v = w;
                }
                hll::invalidate(&mut v);
                put(k, v);
                return Ok(true);
            };
            let (b, enc) = hll_of(v)?;
            let added = hll::add(b, enc, elements.iter(), max_bytes);
            let changed = added.change != Change::Unchanged;
            match added.change {
                Change::Unchanged => {}
                Change::Whole(w) => put(k, w),
                Change::Patches(p) => {
                    for (offset, bytes) in p {
                        k.splice(offset as u64, &bytes);
                    }
                }
            }
            // What changed before the corruption showed stays changed, as in Redis.
            if added.corrupt {
                return Err(Error::CorruptHll);
            }
            Ok(changed)
        })?;
    cx.out.int(updated as i64);
    Ok(())
}

pub fn pfcount(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if args.len() > 2 {
        return pfcount_union(cx, args);
    }
    let access = cx.read_access();
    let card = cx
        .node
        .store
        .with_key(cx.client.db, &args[1], cx.now, access, |k| {
            let Some(v) = k.value() else {
                return Ok(0);
            };
            let (b, enc) = hll_of(v)?;
            if let Some(card) = hll::cached(b) {
                return Ok(card);
            }
            let card = hll::count(b, enc).map_err(refused)?;
            // The refreshed cache is a change of the value like any other: through the write
            // path, so the AOF and the replicas hold the bytes this node holds.
            k.splice(hll::CACHE as u64, &hll::cache_bytes(card));
            Ok(card)
        })?;
    // Redis replies the cardinality as a signed 64-bit integer.
    cx.out.int(card as i64);
    Ok(())
}

/// PFCOUNT of several keys: the cardinality of their union, nothing written.
fn pfcount_union(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (db, access) = (cx.client.db, cx.read_access());
    let keys = args.slice_from(1);
    let mut max: Box<Registers> = Box::new([0; hll::REGISTERS]);
    cx.node
        .store
        .with_keys(keys.iter().map(|k| (db, k)), cx.now, |m| {
            for key in keys.iter() {
                let k = m.key(db, key, access);
                let Some(v) = k.value() else { continue };
                let (b, enc) = hll_of(v)?;
                hll::merge_into(&mut max, b, enc).map_err(refused)?;
            }
            Ok::<_, Error>(())
        })?;
    cx.out.int(hll::count_registers(&max) as i64);
    Ok(())
}

pub fn pfmerge(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    reserve(cx, &args[1])?;
    let max_bytes = LIMITS.hll_sparse_bytes();
    let (db, access) = (cx.client.db, cx.read_access());
    // The destination is a source too, as in Redis.
    let keys = args.slice_from(1);
    let dest = &args[1];
    let mut max: Box<Registers> = Box::new([0; hll::REGISTERS]);
    cx.node
        .store
        .with_keys(keys.iter().map(|k| (db, k)), cx.now, |m| {
            let mut dense = false;
            for key in keys.iter() {
                let k = m.key(db, key, access);
                let Some(v) = k.value() else { continue };
                let (b, enc) = hll_of(v)?;
                dense |= enc == Encoding::Dense;
                hll::merge_into(&mut max, b, enc).map_err(refused)?;
            }
            let mut k = m.key(db, dest, Access::Write);
            let old = k.value().map(hll_of).transpose()?.map(|(b, _)| b);
            let new = hll::merge_dest(old, &max, dense, max_bytes).map_err(refused)?;
            // A dense value keeps its length: only what changed goes out.
            let runs = match old {
                Some(old) if old.len() == new.len() && old.len() == hll::DENSE_SIZE => {
                    Some(hll::diff(old, &new))
                }
                _ => None,
            };
            match runs {
                Some(runs) => {
                    for (start, end) in runs {
                        k.splice(start as u64, &new[start..end]);
                    }
                }
                None => put(&mut k, new),
            }
            Ok::<_, Error>(())
        })?;
    cx.out.ok();
    Ok(())
}

/// PFDEBUG GETREG | DECODE | ENCODING | TODENSE key.
pub fn pfdebug(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let sub = &args[1];
    let name = String::from_utf8_lossy(sub).into_owned();
    let known = ["getreg", "decode", "encoding", "todense"];
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[2], cx.now, Access::Write, |k| {
            let Some(v) = k.value() else {
                return Err(Error::msg("The specified key does not exist"));
            };
            let (b, enc) = hll_of(v)?;
            if !known.iter().any(|n| is(sub, n)) {
                return Err(Error::msg(format!("Unknown PFDEBUG subcommand '{name}'")));
            }
            if is(sub, "decode") {
                if enc != Encoding::Sparse {
                    return Err(Error::msg("HLL encoding is not sparse"));
                }
                out.bulk(hll::decode(b).as_bytes());
                return Ok(());
            }
            if is(sub, "encoding") {
                out.simple(match enc {
                    Encoding::Dense => "dense",
                    Encoding::Sparse => "sparse",
                });
                return Ok(());
            }
            // GETREG and TODENSE make a sparse value dense first.
            let regs = hll::registers(b, enc).map_err(refused)?;
            let converted = enc == Encoding::Sparse;
            if converted {
                let dense = hll::to_dense(b).map_err(refused)?;
                put(k, dense);
            }
            if is(sub, "todense") {
                out.int(converted as i64);
            } else {
                out.array(regs.len());
                for r in regs {
                    out.int(i64::from(r));
                }
            }
            Ok(())
        })
}
