//! RedisBloom's cuckoo-filter commands (CF.*), on our own filter (`filter::cuckoo`), with
//! RedisBloom's replies and error texts (including its quirks: EXISTS and COUNT answer 0 for
//! a key of another type, DEL answers `Not found`).
//!
//! A filter is a value like any other: every change publishes the key's whole new state, so
//! the AOF, snapshots and replicas hold the same filter. That costs O(filter size) per write
//! on disk and on the wire — reserve filters for the sets they are for, not millions of items.

use super::{Ctx, int_arg, is};
use crate::error::{Error, Result};
use crate::filter::CuckooFilter;
use crate::filter::cuckoo::{Full, MAX_LAYERS, bits_for};
use crate::resp::Args;
use crate::store::{Access, KeyRef, Value, ValueRef};

/// RedisBloom's defaults for filters CF.ADD and CF.INSERT create.
const DEFAULT_CAPACITY: i64 = 1024;
const DEFAULT_BUCKET: i64 = 2;
const DEFAULT_ITERATIONS: i64 = 20;
const DEFAULT_EXPANSION: i64 = 1;
const MAX_CAPACITY: i64 = 1 << 30;

fn hash(item: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(item)
}

fn new_filter(cx: &Ctx<'_>, capacity: i64, bucket: i64, iterations: i64, expansion: i64) -> Value {
    let slots = bucket as usize;
    let buckets = (capacity / bucket).max(1) as usize;
    let bits = bits_for(cx.node.config.cache.cuckoo_filter_fpp, slots);
    let expansion = if expansion == 0 {
        0
    } else {
        (expansion as u64).next_power_of_two() as u32
    };
    Value::Cuckoo(Box::new(CuckooFilter::new(
        buckets * slots,
        slots,
        bits,
        iterations as u32,
        expansion,
    )))
}

/// The filter a key holds: `Ok(None)` when absent, WRONGTYPE for another type.
fn filter_of<'k>(k: &'k KeyRef<'_>) -> Result<Option<&'k CuckooFilter>> {
    match k.value() {
        None => Ok(None),
        Some(ValueRef::Cuckoo(f)) => Ok(Some(f)),
        Some(_) => Err(Error::WrongType),
    }
}

/// Runs `f` on the key's filter, creating it with `make` when absent (unless `create` is false,
/// then `ERR not found`), and publishes the new state when `f` changed it.
fn with_filter<R>(
    k: &mut KeyRef<'_>,
    create: Option<Value>,
    f: impl FnOnce(&mut CuckooFilter) -> (R, bool),
) -> Result<R> {
    filter_of(k)?;
    if !k.exists() {
        let Some(mut v) = create else {
            return Err(Error::msg("not found"));
        };
        let Value::Cuckoo(cf) = &mut v else {
            return Err(Error::WrongType);
        };
        let (r, _) = f(cf);
        k.set(v, 0);
        return Ok(r);
    }
    k.modify(|v| match v {
        Value::Cuckoo(cf) => {
            let (r, changed) = f(cf);
            (Some(r), changed)
        }
        _ => (None, false),
    })
    .flatten()
    .ok_or(Error::WrongType)
}

fn max_expansions() -> Error {
    Error::coded("Maximum expansions reached")
}

pub fn reserve(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if args.len().is_multiple_of(2) {
        return Err(Error::Arity("cf.reserve".into()));
    }
    let capacity = int_arg(&args[2]).map_err(|_| Error::coded("Bad capacity"))?;
    // RedisBloom finds each option anywhere in argv, the value after it; others are ignored.
    let opt = |name: &str, lo: i64, hi: i64, default: i64| -> Result<i64> {
        let Some(i) = (1..args.len()).find(|&i| is(&args[i], name)) else {
            return Ok(default);
        };
        let v = args
            .get(i + 1)
            .and_then(|a| int_arg(a).ok())
            .ok_or_else(|| Error::coded(format!("Couldn't parse {name}")))?;
        if !(lo..=hi).contains(&v) {
            return Err(Error::coded(format!(
                "{name}: value must be in the range [{lo}, {hi}]"
            )));
        }
        Ok(v)
    };
    let iterations = opt("MAXITERATIONS", 1, 65535, DEFAULT_ITERATIONS)?;
    let bucket = opt("BUCKETSIZE", 1, 255, DEFAULT_BUCKET)?;
    let expansion = opt("EXPANSION", 0, 32768, DEFAULT_EXPANSION)?;
    if bucket * 2 > capacity || capacity > MAX_CAPACITY {
        return Err(Error::coded(
            "Capacity must be in the range [2 * BUCKETSIZE, 1073741824]",
        ));
    }
    let value = new_filter(cx, capacity, bucket, iterations, expansion);
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            if filter_of(k)?.is_some() {
                return Err(Error::msg("item exists"));
            }
            k.set(value, 0);
            Ok(())
        })?;
    cx.out.ok();
    Ok(())
}

/// Adds one item; `nx`: only if the filter does not seem to hold it. Some(true) added,
/// Some(false) already there, None full.
fn add_one(f: &mut CuckooFilter, h: u64, nx: bool) -> Option<bool> {
    if nx && f.peek(h) {
        return Some(false);
    }
    match f.insert(h) {
        Ok(()) => Some(true),
        Err(Full::Full) => None,
    }
}

fn add(cx: &mut Ctx<'_>, args: Args<'_>, nx: bool) -> Result<()> {
    let h = hash(&args[2]);
    let create = new_filter(
        cx,
        DEFAULT_CAPACITY,
        DEFAULT_BUCKET,
        DEFAULT_ITERATIONS,
        DEFAULT_EXPANSION,
    );
    let r = cx
        .node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            if filter_of(k)?.is_some_and(|f| f.layers() >= MAX_LAYERS) {
                return Err(max_expansions());
            }
            with_filter(k, Some(create), |f| {
                let r = add_one(f, h, nx);
                (r, r == Some(true))
            })
        })?;
    match r {
        Some(added) => cx.out.boolean(added),
        None => return Err(Error::coded("Filter is full")),
    }
    Ok(())
}

pub fn cf_add(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    add(cx, args, false)
}

pub fn cf_addnx(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    add(cx, args, true)
}

fn insert(cx: &mut Ctx<'_>, args: Args<'_>, nx: bool) -> Result<()> {
    let name = if nx { "cf.insertnx" } else { "cf.insert" };
    let mut capacity = DEFAULT_CAPACITY;
    let mut create = true;
    let mut items = None;
    let mut i = 2;
    // RedisBloom tells the options apart by their first letter.
    while i < args.len() {
        match args[i].first().map(|c| c.to_ascii_lowercase()) {
            Some(b'c') => {
                let v = args.get(i + 1).ok_or(Error::Arity(name.into()))?;
                capacity = int_arg(v).map_err(|_| Error::coded("Bad capacity"))?;
                if !(4..=MAX_CAPACITY).contains(&capacity) {
                    return Err(Error::coded(
                        "Capacity must be in the range [cf-bucket-size * 2, 1073741824]",
                    ));
                }
                i += 2;
            }
            Some(b'n') => {
                create = false;
                i += 1;
            }
            Some(b'i') => {
                items = Some(i + 1);
                break;
            }
            _ => return Err(Error::coded("Unknown argument received")),
        }
    }
    let first = match items {
        Some(f) if f < args.len() => f,
        _ => return Err(Error::Arity(name.into())),
    };
    let hashes: Vec<u64> = (first..args.len()).map(|i| hash(&args[i])).collect();
    let make = create.then(|| {
        new_filter(
            cx,
            capacity,
            DEFAULT_BUCKET,
            DEFAULT_ITERATIONS,
            DEFAULT_EXPANSION,
        )
    });
    let results = cx
        .node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            if filter_of(k)?.is_some_and(|f| f.layers() >= MAX_LAYERS) {
                return Err(max_expansions());
            }
            with_filter(k, make, |f| {
                let r: Vec<Option<bool>> = hashes.iter().map(|&h| add_one(f, h, nx)).collect();
                let changed = r.contains(&Some(true));
                (r, changed)
            })
        })?;
    cx.out.array(results.len());
    for r in results {
        match (nx, r) {
            (true, Some(added)) => cx.out.int(added as i64),
            (true, None) => cx.out.int(-1),
            (false, Some(_)) => cx.out.boolean(true),
            (false, None) => {
                if cx.out.resp3() {
                    cx.out.boolean(false)
                } else {
                    cx.out.int(-1)
                }
            }
        }
    }
    Ok(())
}

pub fn cf_insert(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    insert(cx, args, false)
}

pub fn cf_insertnx(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    insert(cx, args, true)
}

/// Answers for each item with `f`; a missing key or one of another type answers 0 for all,
/// as RedisBloom does.
fn each_item<T: Default + Copy>(
    cx: &mut Ctx<'_>,
    args: &Args<'_>,
    f: impl Fn(&CuckooFilter, u64) -> T,
) -> Vec<T> {
    let hashes: Vec<u64> = (2..args.len()).map(|i| hash(&args[i])).collect();
    let access = cx.read_access();
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, access, |k| {
            match k.value() {
                Some(ValueRef::Cuckoo(cf)) => hashes.iter().map(|&h| f(cf, h)).collect(),
                _ => vec![T::default(); hashes.len()],
            }
        })
}

pub fn cf_exists(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let r = each_item(cx, &args, |f, h| f.peek(h));
    cx.out.boolean(r[0]);
    Ok(())
}

pub fn cf_mexists(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let r = each_item(cx, &args, |f, h| f.peek(h));
    cx.out.array(r.len());
    for b in r {
        cx.out.boolean(b);
    }
    Ok(())
}

pub fn cf_count(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let r = each_item(cx, &args, |f, h| f.count(h));
    cx.out.int(r[0] as i64);
    Ok(())
}

pub fn cf_del(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let h = hash(&args[2]);
    let removed = cx
        .node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            if !matches!(k.value(), Some(ValueRef::Cuckoo(_))) {
                return Err(Error::coded("Not found"));
            }
            with_filter(k, None, |f| {
                let r = f.remove(h);
                (r, r)
            })
        })?;
    cx.out.boolean(removed);
    Ok(())
}

pub fn cf_info(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let access = cx.read_access();
    let info = cx
        .node
        .store
        .with_key(cx.client.db, &args[1], cx.now, access, |k| {
            let f = filter_of(k)?.ok_or_else(|| Error::msg("not found"))?;
            Ok::<_, Error>([
                ("Size", f.memory() as i64),
                ("Number of buckets", f.first_buckets() as i64),
                ("Number of filters", f.layers() as i64),
                ("Number of items inserted", f.len() as i64),
                ("Number of items deleted", f.deleted() as i64),
                ("Bucket size", f.slots() as i64),
                ("Expansion rate", f.expansion() as i64),
                ("Max iterations", f.max_kicks() as i64),
            ])
        })?;
    cx.out.map(info.len());
    for (name, v) in info {
        cx.out.simple(name);
        cx.out.int(v);
    }
    Ok(())
}
