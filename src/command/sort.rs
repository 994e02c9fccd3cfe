//! SORT and SORT_RO, as Redis 7.0's `sortCommandGeneric`: the elements of a list, set or
//! sorted set, ordered by their own value or by keys a pattern names (BY), projected through
//! patterns (GET), cut (LIMIT), and answered or stored as a list (STORE).
//!
//! The source is read under its key's lock; the BY and GET keys are read one at a time after
//! it (they may live anywhere), and the STORE destination is written last.

use std::cmp::Ordering;

use super::{Ctx, int_arg, is};
use crate::collections::{Hash, List, Set, ZSet};
use crate::error::{Error, Result};
use crate::resp::Args;
use crate::store::value::{Collection, ValueRef};
use crate::store::{Access, Kind, Value};

/// The value a pattern names for an element: `#` is the element; `key*` a string key;
/// `key*->field` a hash field. `None` when there is no such string (or field).
fn lookup(cx: &mut Ctx<'_>, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let field = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&at| at + 2 < after.len())
        .map(|at| (&after[..at], &after[at + 2..]));
    let (post, field) = match field {
        Some((post, f)) => (post, Some(f)),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    let access = cx.read_access();
    cx.node
        .store
        .with_key(cx.client.db, &key, cx.now, access, |k| {
            let v = k.value()?;
            match field {
                Some(f) => Hash::of(v)?.get(f).map(<[u8]>::to_vec),
                None => v.to_bytes(),
            }
        })
}

/// Redis's numeric sort key: `strtod` over the whole value; `None` where it fails.
fn number(v: &[u8]) -> Option<f64> {
    crate::util::num::parse_f64_sort(v)
}

struct Item {
    elem: Vec<u8>,
    score: f64,
    /// The BY value, for ALPHA with BY (absent keys sort first).
    by: Option<Vec<u8>>,
}

pub fn sort(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    generic(cx, args, false)
}

pub fn sort_ro(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    generic(cx, args, true)
}

/// BY and GET read keys the arguments do not name: as Redis, only a user who may read every
/// key can use them.
fn full_key_access(cx: &Ctx<'_>, args: &Args<'_>) -> bool {
    let user = &cx.client.user;
    user.unrestricted()
        || cx.client.peer.is_some()
        || cx
            .command
            .is_some_and(|cmd| user.rules().reads_every_key(cmd, args))
}

fn generic(cx: &mut Ctx<'_>, args: Args<'_>, readonly: bool) -> Result<()> {
    let (mut desc, mut alpha, mut dontsort) = (false, false, false);
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut by: Option<&[u8]> = None;
    let mut store: Option<&[u8]> = None;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < args.len() {
        let a = &args[j];
        let left = args.len() - j - 1;
        if is(a, "asc") {
            desc = false;
        } else if is(a, "desc") {
            desc = true;
        } else if is(a, "alpha") {
            alpha = true;
        } else if is(a, "limit") && left >= 2 {
            limit_start = int_arg(&args[j + 1])?;
            limit_count = int_arg(&args[j + 2])?;
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            store = Some(&args[j + 1]);
            j += 1;
        } else if is(a, "by") && left >= 1 {
            by = Some(&args[j + 1]);
            // A pattern without '*' names one key for every element: nothing to sort by.
            dontsort = !args[j + 1].contains(&b'*');
            if !dontsort && !full_key_access(cx, &args) {
                return Err(Error::msg(
                    "BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            j += 1;
        } else if is(a, "get") && left >= 1 {
            if !full_key_access(cx, &args) {
                return Err(Error::msg(
                    "GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            gets.push(&args[j + 1]);
            j += 1;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let access = cx.read_access();
    let (kind, elems) = cx
        .node
        .store
        .with_key(cx.client.db, &args[1], cx.now, access, |k| {
            // Redis turns a sorted set it sorts into its large encoding, for good.
            if matches!(k.value(), Some(ValueRef::ZSet(z)) if z.is_packed()) {
                k.modify(|v| {
                    if let Value::ZSet(z) = v {
                        z.to_large();
                    }
                    ((), false)
                });
            }
            let Some(v) = k.value() else {
                return Ok((Kind::List, Vec::new()));
            };
            let elems: Vec<Vec<u8>> = match v {
                ValueRef::List(l) => List::iter(l).map(std::borrow::Cow::into_owned).collect(),
                ValueRef::Set(s) => Set::to_vecs(s),
                ValueRef::ZSet(z) => ZSet::iter(z).map(|(_, m)| m.to_vec()).collect(),
                _ => return Err(Error::WrongType),
            };
            Ok((v.kind(), elems))
        })?;
    // A set has no order of its own: stored or scripted results are sorted to be the same
    // everywhere.
    if dontsort && kind == Kind::Set && store.is_some() {
        dontsort = false;
        alpha = true;
        by = None;
    }
    let len = elems.len() as i64;
    let mut start = limit_start.max(0).min(len);
    let count = limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    let mut items: Vec<Item> = if dontsort && kind != Kind::Set {
        // The source's own order, reversed for DESC, only the range asked for.
        let mut e = elems;
        if desc {
            e.reverse();
        }
        let picked: Vec<Vec<u8>> = if end >= start {
            e.into_iter()
                .skip(start as usize)
                .take((end - start + 1) as usize)
                .collect()
        } else {
            Vec::new()
        };
        end -= start;
        start = 0;
        picked
    } else {
        elems
    }
    .into_iter()
    .map(|elem| Item {
        elem,
        score: 0.0,
        by: None,
    })
    .collect();
    let mut bad_number = false;
    if !dontsort {
        for it in &mut items {
            let value = match by {
                Some(p) => match lookup(cx, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.elem.clone(),
            };
            if alpha {
                if by.is_some() {
                    it.by = Some(value);
                }
            } else {
                match number(&value) {
                    Some(s) => it.score = s,
                    None => bad_number = true,
                }
            }
        }
        let with_by = by.is_some();
        items.sort_by(|a, b| {
            let c = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if with_by {
                match (&a.by, &b.by) {
                    (Some(x), Some(y)) => x.cmp(y),
                    (x, y) => x.is_some().cmp(&y.is_some()),
                }
            } else {
                a.elem.cmp(&b.elem)
            };
            if desc { c.reverse() } else { c }
        });
    }
    let range: &[Item] = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    let n = if gets.is_empty() {
        range.len()
    } else {
        gets.len() * range.len()
    };
    if bad_number {
        return Err(Error::msg(
            "One or more scores can't be converted into double",
        ));
    }
    let mut output: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
    for it in range {
        if gets.is_empty() {
            output.push(Some(it.elem.clone()));
        }
        for g in &gets {
            output.push(lookup(cx, g, &it.elem));
        }
    }
    match store {
        None => {
            cx.out.array(output.len());
            for v in &output {
                match v {
                    Some(v) => cx.out.bulk(v),
                    None => cx.out.null(),
                }
            }
        }
        Some(dst) => {
            let stored = cx
                .node
                .store
                .with_key(cx.client.db, dst, cx.now, Access::Write, |k| {
                    if output.is_empty() {
                        k.delete();
                        return 0;
                    }
                    let l = List::from_items(output.iter().map(|v| v.as_deref().unwrap_or(b"")));
                    let n = l.len();
                    k.set(l.into_value(), 0);
                    n
                });
            cx.out.int(stored as i64);
        }
    }
    Ok(())
}
