//! Records from peers and files: checked against this node before they touch anything, then
//! applied (in log order on replay, last writer wins from peers).

use std::sync::atomic::Ordering;

use super::db::free;
use super::keyspace::Keyspace;
use super::mutation::{Mutation, Op};
use super::named::NAMED;
use super::shard::{Access, KeyRef};
use super::stamp::nodes;

/// Why a record (from a peer or a file) was refused before it touched anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadRecord {
    #[error("database {0} does not exist")]
    NoSuchDb(u32),
    #[error("store {0:#x} does not exist")]
    NoSuchStore(u32),
    #[error("SWAPDB of databases {0} and {1}")]
    BadSwap(u32, u32),
    #[error("a node-wide change addressed to database {0}")]
    NotNodeWide(u32),
    #[error("Lamport time {0} is beyond the largest a stamp may hold")]
    StampTooLarge(u64),
    #[error("deadline {0} is out of range")]
    BadDeadline(u64),
    #[error("a string change reaching byte {0}, beyond the largest string")]
    TooLong(u64),
    #[error("{0}")]
    Edit(#[from] crate::collections::edit::BadEdit),
}

/// The largest string a record may produce (Redis's `proto-max-bulk-len` ceiling).
pub const MAX_STRING: u64 = 512 << 20;

/// What applying a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Yes,
    /// Not newer than what the key holds (last writer wins), or already there.
    Stale,
    /// A change to a version this node does not hold (it missed an earlier write): the
    /// full value must be fetched instead.
    Behind,
}

/// The largest Lamport time a record may carry: half of the 48 bits an entry keeps, so that
/// no record, however forged, can push the clock to where stamps stop increasing.
pub const MAX_LAMPORT: u64 = 1 << 47;

impl Keyspace {
    /// Checks every field of a record from a peer or a file against this node before it is
    /// applied: databases and stores that exist, a SWAPDB of two distinct numbered databases,
    /// node-wide changes addressed as they are made, stamps and deadlines in range.
    pub fn check_record(&self, m: &Mutation<'_>) -> Result<(), BadRecord> {
        if m.stamp.lamport > MAX_LAMPORT {
            return Err(BadRecord::StampTooLarge(m.stamp.lamport));
        }
        let numbered = |db: u32| db & NAMED == 0 && (db as usize) < self.databases();
        let exists = |db: u32| {
            if db & NAMED != 0 {
                self.find(db).map(|_| ()).ok_or(BadRecord::NoSuchStore(db))
            } else if numbered(db) {
                Ok(())
            } else {
                Err(BadRecord::NoSuchDb(db))
            }
        };
        match m.op {
            Op::Set { expire_at, .. } | Op::Expire { at: expire_at, .. } => {
                if expire_at > i64::MAX as u64 {
                    return Err(BadRecord::BadDeadline(expire_at));
                }
                exists(m.db)
            }
            Op::Splice { offset, bytes, .. } => {
                let end = offset.saturating_add(bytes.len() as u64);
                if end > MAX_STRING {
                    return Err(BadRecord::TooLong(end));
                }
                exists(m.db)
            }
            Op::Edit { edit, .. } => {
                crate::collections::edit::check(edit)?;
                exists(m.db)
            }
            Op::Del { .. }
            | Op::Expired { .. }
            | Op::Evicted { .. }
            | Op::Persist { .. }
            | Op::FlushDb => exists(m.db),
            Op::SwapDb { other } => {
                if numbered(m.db) && numbered(other) && m.db != other {
                    Ok(())
                } else {
                    Err(BadRecord::BadSwap(m.db, other))
                }
            }
            Op::FlushAll | Op::CreateStore { .. } | Op::DropStore { .. } | Op::Functions { .. } => {
                if m.db == 0 {
                    Ok(())
                } else {
                    Err(BadRecord::NotNodeWide(m.db))
                }
            }
        }
    }

    /// Applies a mutation from the node's own AOF or snapshot, in log order, with its stamp.
    pub fn apply(&self, m: &Mutation<'_>, now: u64) -> Result<(), BadRecord> {
        self.check_record(m)?;
        self.apply_inner(m, now, false);
        Ok(())
    }

    /// Applies a mutation from a peer: a keyed change is applied only when its stamp is newer
    /// than the key's (or its tombstone's) — last writer wins, ties to the higher node id — so
    /// every replica ends with the same value whatever order changes arrive in. Returns whether
    /// it was applied.
    pub fn apply_remote(&self, m: &Mutation<'_>, now: u64) -> Result<Applied, BadRecord> {
        self.check_record(m)?;
        let applied = self.apply_inner(m, now, true);
        if applied == Applied::Yes
            && let Some(key) = m.op.key()
        {
            self.waiters.touched(m.db, key);
        }
        Ok(applied)
    }

    fn apply_inner(&self, m: &Mutation<'_>, now: u64, lww: bool) -> Applied {
        match m.op {
            Op::Splice {
                key,
                offset,
                bytes,
                base,
            } => {
                return self.apply_delta(m, key, base, now, |k| {
                    k.splice_stamped(offset, bytes, m.stamp, m.origin, base)
                        .is_some()
                });
            }
            Op::Edit { key, edit, base } => {
                return self.apply_delta(m, key, base, now, |k| {
                    k.exists() && k.edit_stamped(edit, m.stamp, m.origin, base).is_ok()
                });
            }
            _ => {}
        }
        if self.apply_whole(m, now, lww) {
            Applied::Yes
        } else {
            Applied::Stale
        }
    }

    /// Applies a change made on top of version `base` (a splice, a collection edit), in log
    /// order (replay) as from peers: onto that version only. A replayed change the snapshot
    /// already holds is stale; one whose base is gone (its key expired meanwhile, a write this
    /// node missed) is behind, and the whole value must be fetched instead.
    fn apply_delta(
        &self,
        m: &Mutation<'_>,
        key: &[u8],
        base: crate::store::stamp::Stamp,
        now: u64,
        apply: impl FnOnce(&mut KeyRef<'_>) -> bool,
    ) -> Applied {
        self.bus.clock().observe(m.stamp.lamport);
        self.with_key_at(m.db, key, now, |k| {
            let cur = k.stamp().unwrap_or_default();
            if cur != base && !nodes::newer(m.stamp, cur) {
                return Applied::Stale;
            }
            if cur != base || !apply(k) {
                return Applied::Behind;
            }
            Applied::Yes
        })
    }

    fn apply_whole(&self, m: &Mutation<'_>, now: u64, lww: bool) -> bool {
        self.bus.clock().observe(m.stamp.lamport);
        let db = m.db;
        let newer = |k: &KeyRef<'_>| !lww || k.stamp().is_none_or(|s| nodes::newer(m.stamp, s));
        match m.op {
            Op::Splice { .. } | Op::Edit { .. } => false,
            Op::Set {
                key,
                value,
                expire_at,
            } => self.with_key_at(db, key, now, |k| {
                if !newer(k) {
                    return false;
                }
                if expire_at != 0 && expire_at < now {
                    // Already dead: what remains is its absence.
                    k.delete_stamped(m.stamp, m.origin);
                } else {
                    k.install_ref(value, expire_at, m.stamp, m.origin);
                }
                true
            }),
            Op::Del { key } | Op::Evicted { key } => self.with_key_at(db, key, now, |k| {
                if !newer(k) {
                    return false;
                }
                k.delete_stamped(m.stamp, m.origin);
                true
            }),
            // Each node expires its own copies at the shared deadline.
            Op::Expired { key } => self.with_key_at(db, key, now, |k| {
                if !lww {
                    k.delete_stamped(m.stamp, m.origin);
                }
                !lww
            }),
            // Older nodes' partial changes; this version publishes full states instead.
            Op::Expire { key, at } => {
                self.with_key_at(db, key, now, |k| newer(k) && k.exists() && k.set_expire(at))
            }
            Op::Persist { key } => self.with_key_at(db, key, now, |k| newer(k) && k.persist()),
            Op::FlushDb => {
                let d = self.db_or_first(db);
                let mut guards = d.lock_all();
                let old: Vec<_> = guards.iter_mut().map(|g| g.clear()).collect();
                self.bus.deliver_if_active(m);
                drop(guards);
                free(old, false);
                true
            }
            Op::FlushAll => {
                let dbs = self.all_dbs();
                let mut guards: Vec<_> = dbs.iter().flat_map(|d| d.lock_all()).collect();
                let old: Vec<_> = guards.iter_mut().map(|g| g.clear()).collect();
                self.bus.deliver_if_active(m);
                drop(guards);
                free(old, false);
                true
            }
            // Stores declared in the configuration file are the file's to define.
            Op::CreateStore { name, spec } => {
                let Some(spec) = serde_json::from_slice(spec)
                    .ok()
                    .and_then(|j| crate::config::StoreConfig::from_json(&j).ok())
                    .filter(|s| s.name.as_bytes() == name && s.name != "default")
                else {
                    tracing::warn!(component = "store", "ignored a malformed store record");
                    return false;
                };
                if self
                    .by_name(&spec.name)
                    .is_some_and(|k| k.from_config.load(Ordering::Relaxed))
                {
                    return false;
                }
                let ks = match self.create_store(&spec.name) {
                    Ok(ks) => Some(ks),
                    Err("exists") => self.by_name(&spec.name),
                    Err(_) => None,
                };
                let Some(ks) = ks else { return false };
                self.configure_store(ks, &spec);
                self.bus.deliver_if_active(m);
                true
            }
            Op::Functions { libraries } => self.apply_libraries(m, libraries, lww),
            Op::DropStore { name } => {
                let name = String::from_utf8_lossy(name);
                if self
                    .by_name(&name)
                    .is_none_or(|k| k.from_config.load(Ordering::Relaxed))
                {
                    return false;
                }
                let dropped = self.drop_store(&name);
                if dropped {
                    self.bus.deliver_if_active(m);
                }
                dropped
            }
            Op::SwapDb { other } => {
                let (lo, hi) = (db.min(other), db.max(other));
                let (Some(dl), Some(dh)) = (self.db(lo), self.db(hi)) else {
                    return false;
                };
                if !std::ptr::eq(dl, dh) {
                    let _structure = self.structure.write();
                    let mut gl = dl.lock_all();
                    let mut gh = dh.lock_all();
                    for (x, y) in gl.iter_mut().zip(gh.iter_mut()) {
                        std::mem::swap(&mut **x, &mut **y);
                    }
                    self.bus.deliver_if_active(m);
                }
                true
            }
        }
    }

    /// A key handle without access tracking (for applying records).
    fn with_key_at<R>(
        &self,
        db: u32,
        key: &[u8],
        now: u64,
        f: impl FnOnce(&mut KeyRef<'_>) -> R,
    ) -> R {
        self.with_key(db, key, now, Access::Peek, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Value;
    use crate::store::keyspace::tests::store;
    use crate::store::mutation::Origin;

    fn splice<'a>(key: &'a [u8], offset: u64, bytes: &'a [u8], base: u64, at: u64) -> Mutation<'a> {
        let st = |l| crate::store::stamp::Stamp {
            lamport: l,
            node: 9,
        };
        Mutation {
            db: 0,
            stamp: st(at),
            origin: Origin::Peer,
            trace: None,
            op: Op::Splice {
                key,
                offset,
                bytes,
                base: if base == 0 {
                    Default::default()
                } else {
                    st(base)
                },
            },
        }
    }

    fn get(s: &Keyspace, key: &[u8]) -> Option<Vec<u8>> {
        s.with_key(0, key, 0, Access::Peek, |k| {
            k.value().and_then(|v| v.to_bytes())
        })
    }

    #[test]
    fn a_splice_applies_to_its_base_version_only() {
        let s = store();
        // Created from nothing, zero-padded.
        assert_eq!(
            s.apply_remote(&splice(b"k", 3, b"ab", 0, 10), 0),
            Ok(Applied::Yes)
        );
        assert_eq!(get(&s, b"k").unwrap(), b"\0\0\0ab");
        // On top of that version, in place and past the end.
        assert_eq!(
            s.apply_remote(&splice(b"k", 4, b"XYZ", 10, 11), 0),
            Ok(Applied::Yes)
        );
        assert_eq!(get(&s, b"k").unwrap(), b"\0\0\0aXYZ");
        // The same record again, and an older one: stale, nothing changes.
        assert_eq!(
            s.apply_remote(&splice(b"k", 4, b"XYZ", 10, 11), 0),
            Ok(Applied::Stale)
        );
        assert_eq!(
            s.apply_remote(&splice(b"k", 0, b"!", 3, 5), 0),
            Ok(Applied::Stale)
        );
        // A newer change to a version this node never saw: it must fetch the value.
        assert_eq!(
            s.apply_remote(&splice(b"k", 0, b"!", 12, 13), 0),
            Ok(Applied::Behind)
        );
        assert_eq!(get(&s, b"k").unwrap(), b"\0\0\0aXYZ");
        // Replayed in log order over a snapshot that already holds it: skipped.
        assert_eq!(s.apply(&splice(b"k", 4, b"XYZ", 10, 11), 0), Ok(()));
        assert_eq!(get(&s, b"k").unwrap(), b"\0\0\0aXYZ");
        // Not a string: behind as well (the versions disagree).
        s.with_key(0, b"f", 0, Access::Write, |k| {
            k.install_from(
                Value::Cuckoo(Box::new(crate::filter::CuckooFilter::new(64, 2, 8, 20, 1))),
                0,
                crate::store::stamp::Stamp {
                    lamport: 20,
                    node: 9,
                },
                Origin::Peer,
            )
        });
        assert_eq!(
            s.apply_remote(&splice(b"f", 0, b"x", 20, 21), 0),
            Ok(Applied::Behind)
        );
        // Past the largest string: refused before anything is allocated.
        assert_eq!(
            s.apply_remote(&splice(b"z", MAX_STRING, b"x", 0, 30), 0),
            Err(BadRecord::TooLong(MAX_STRING + 1))
        );
        assert_eq!(get(&s, b"z"), None);
    }

    #[test]
    fn records_naming_what_does_not_exist_are_refused() {
        let s = store();
        let st = crate::store::stamp::Stamp {
            lamport: 1,
            node: 9,
        };
        let m = |db, op| Mutation {
            db,
            stamp: st,
            origin: Origin::Peer,
            trace: None,
            op,
        };
        assert_eq!(
            s.apply_remote(&m(16, Op::SwapDb { other: 0 }), 0),
            Err(BadRecord::BadSwap(16, 0))
        );
        assert_eq!(
            s.apply_remote(&m(2, Op::SwapDb { other: 2 }), 0),
            Err(BadRecord::BadSwap(2, 2))
        );
        assert_eq!(
            s.apply_remote(&m(4, Op::Del { key: b"k" }), 0),
            Err(BadRecord::NoSuchDb(4))
        );
        assert_eq!(
            s.apply_remote(&m(NAMED | 5, Op::FlushDb), 0),
            Err(BadRecord::NoSuchStore(NAMED | 5))
        );
        assert_eq!(
            s.apply_remote(&m(1, Op::FlushAll), 0),
            Err(BadRecord::NotNodeWide(1))
        );
        let far = Mutation {
            stamp: crate::store::stamp::Stamp {
                lamport: MAX_LAMPORT + 1,
                node: 9,
            },
            ..m(0, Op::Del { key: b"k" })
        };
        assert_eq!(
            s.apply_remote(&far, 0),
            Err(BadRecord::StampTooLarge(MAX_LAMPORT + 1))
        );
        assert_eq!(s.bus().clock().now(), 0, "a refused record moved the clock");
        // And SWAPDB itself never locks one database twice, whatever it is asked.
        s.swapdb(0, 16);
        s.swapdb(16, 0);
        assert_eq!(
            s.apply_remote(&m(0, Op::SwapDb { other: 1 }), 0),
            Ok(Applied::Yes)
        );
    }
}
