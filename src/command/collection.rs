//! What every collection command does around its own work: find the collection in the key (or
//! refuse another type), create it on first write, publish a change, and delete it once empty
//! — Redis never keeps an empty collection.

use super::{Ctx, int_arg, is};
use crate::error::{Error, Result};
use crate::resp::{Args, Out};
use crate::store::value::Collection;
use crate::store::{Access, KeyRef};

/// The collection a key holds: `None` when absent, WRONGTYPE for another type.
pub fn of<'k, C: Collection>(k: &'k KeyRef<'_>) -> Result<Option<&'k C>> {
    match k.value() {
        None => Ok(None),
        Some(v) => C::of(v).map(Some).ok_or(Error::WrongType),
    }
}

/// Changes the collection at `k` — created empty when absent — with `f`, which must check
/// before it changes anything and says whether it did. One left empty is deleted.
///
/// `f` may write what it did as an edit (`collections::edit`) into its second argument: the
/// AOF and the replicas then get that, not the whole collection. A new collection goes whole
/// (it holds only what this write put in it).
pub fn change<C: Collection, R>(
    k: &mut KeyRef<'_>,
    f: impl FnOnce(&mut C, &mut Vec<u8>) -> Result<(R, bool)>,
) -> Result<R> {
    if of::<C>(k)?.is_none() {
        let mut c = C::default();
        let (r, _) = f(&mut c, &mut Vec::new())?;
        if !c.is_empty() {
            k.set(c.into_value(), 0);
        }
        return Ok(r);
    }
    let mut emptied = false;
    let r = k
        .modify_edited(|v, edit| match C::of_mut(v) {
            Some(c) => match f(c, edit) {
                Ok((r, changed)) => {
                    emptied = c.is_empty();
                    // An emptied collection is published as its deletion, below.
                    (Ok(r), changed && !emptied)
                }
                Err(e) => (Err(e), false),
            },
            None => (Err(Error::WrongType), false),
        })
        .unwrap_or(Err(Error::WrongType))?;
    if emptied {
        k.delete();
    }
    Ok(r)
}

/// Runs `f` on the key for a write (the client's database, write access).
pub fn write<R>(
    cx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut KeyRef<'_>) -> Result<R>,
) -> Result<R> {
    cx.node
        .store
        .with_key(cx.client.db, key, cx.now, Access::Write, f)
}

/// Runs `f` on the collection at `key` for a read (absent: `None`; another type: WRONGTYPE).
pub fn read<C: Collection, R>(
    cx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Out, Option<&C>) -> Result<R>,
) -> Result<R> {
    let access = cx.read_access();
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, key, cx.now, access, |k| f(out, of(k)?))
}

/// The arguments of HSCAN, SSCAN (and ZSCAN): `key cursor [MATCH pattern] [COUNT count]`.
pub struct Scan<'a> {
    pub cursor: usize,
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
}

impl<'a> Scan<'a> {
    pub fn parse(args: &Args<'a>) -> Result<Scan<'a>> {
        let cursor = std::str::from_utf8(&args[2])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::msg("invalid cursor"))?;
        let mut scan = Scan {
            cursor,
            count: 10,
            pattern: None,
        };
        let mut i = 3;
        while i < args.len() {
            let value = args.get(i + 1).ok_or(Error::Syntax)?;
            if is(&args[i], "count") {
                let c = int_arg(value)?;
                if c < 1 {
                    return Err(Error::Syntax);
                }
                scan.count = c as usize;
            } else if is(&args[i], "match") {
                scan.pattern = Some(value);
            } else {
                return Err(Error::Syntax);
            }
            i += 2;
        }
        Ok(scan)
    }

    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| crate::util::glob::glob_match(p, item, false))
    }

    /// Where a walk of `len` items starts and how many it takes: a packed collection comes
    /// whole, a table `count` at a time from the cursor (how many were walked); and the
    /// cursor to answer.
    pub fn window(&self, packed: bool, len: usize) -> (usize, usize, usize) {
        let (start, take) = if packed {
            (0, usize::MAX)
        } else {
            (self.cursor, self.count)
        };
        let next = start.saturating_add(take);
        (start, take, if next >= len { 0 } else { next })
    }
}
