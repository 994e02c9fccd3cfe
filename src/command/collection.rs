//! What every collection command does around its own work: find the collection in the key (or
//! refuse another type), create it on first write, publish a change, and delete it once empty
//! — Redis never keeps an empty collection.

use crate::error::{Error, Result};
use crate::store::KeyRef;
use crate::store::value::Collection;

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
