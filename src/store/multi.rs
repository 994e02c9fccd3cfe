//! Multi-key commands: their shards locked together, in one order so that two cannot deadlock.

use super::db::{Locked, hash_key};
use super::keyspace::Keyspace;
use super::shard::{Access, KeyRef, Scope};

impl Keyspace {
    /// Runs `f` with the shards of all `keys` (db, key) locked, for commands that must see and
    /// change several keys atomically. Locks are taken in (db, shard) order, so two such
    /// commands can never deadlock.
    pub fn with_keys<'k, R>(
        &self,
        keys: impl IntoIterator<Item = (u32, &'k [u8])>,
        now: u64,
        f: impl FnOnce(&mut Multi<'_>) -> R,
    ) -> R {
        let mut wanted: Vec<(u32, usize)> = keys
            .into_iter()
            .map(|(db, k)| {
                let d = self.db_or_first(db);
                (d.index, d.shard_of(hash_key(k)))
            })
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let guards = wanted
            .into_iter()
            .map(|(db, s)| (db, s, self.db_or_first(db).lock(s)))
            .collect();
        let mut m = Multi {
            store: self,
            guards,
            now,
            written: Vec::new(),
        };
        let r = f(&mut m);
        for (db, key) in &m.written {
            self.waiters.touched(*db, key);
        }
        r
    }
}

/// Several shards locked together; hands out one key at a time.
pub struct Multi<'a> {
    store: &'a Keyspace,
    guards: Vec<(u32, usize, Locked<'a>)>,
    now: u64,
    /// Keys handed out for writing while clients wait on keys: they are told once done.
    written: Vec<(u32, Vec<u8>)>,
}

impl Multi<'_> {
    pub fn now(&self) -> u64 {
        self.now
    }

    /// A handle on `key` of `db`, whose shard must be among those locked.
    pub fn key<'b>(&'b mut self, db: u32, key: &'b [u8], access: Access) -> KeyRef<'b> {
        let d = self.store.db_or_first(db);
        let h = hash_key(key);
        let s = d.shard_of(h);
        let pos = self
            .guards
            .iter()
            .position(|(gd, gs, _)| *gd == d.index && *gs == s);
        let Some(pos) = pos else {
            // A caller bug; fail loudly in tests, and never touch an unlocked shard.
            panic!("Multi::key on a shard that was not locked");
        };
        if access == Access::Write && self.store.waiters.blocked() > 0 {
            self.written.push((db, key.to_vec()));
        }
        let shard = &mut *self.guards[pos].2;
        let at = Scope {
            bus: &self.store.bus,
            db: d.index,
            now: self.now,
            mode: self.store.store_of(db).access.mode(),
            tombstones: self.store.tombstones_enabled(),
            trace: None,
        };
        KeyRef::open(shard, at, key, h, access)
    }
}
