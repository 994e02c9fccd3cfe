//! Whole-database operations (FLUSHDB, FLUSHALL, SWAPDB, SCAN, KEYS, RANDOMKEY, DBSIZE, INFO's
//! figures) and the background passes over every database.

use crate::util::glob::glob_match;

use super::db::{Db, DbFigures, free};
use super::entry::EntryRef;
use super::keyspace::Keyspace;
use super::mutation::{Op, Origin};
use super::shard::{Shard, ShardStats};

impl Keyspace {
    /// Visits every shard of every database in order: `under_lock` runs with the shard locked,
    /// `after` with what it returned once the lock is released. Writes wait for at most one
    /// shard at a time.
    pub fn for_each_shard<T>(
        &self,
        mut under_lock: impl FnMut(u32, &Shard) -> T,
        mut after: impl FnMut(T),
    ) {
        let _structure = self.structure.read();
        // Stores kept out of snapshots (persistence: aof-only is in; disabled is not).
        let dbs: Vec<&Db> = self
            .stores()
            .into_iter()
            .filter(|k| k.in_snapshots())
            .flat_map(|k| k.dbs.iter())
            .collect();
        for d in dbs {
            for s in d.shards.iter() {
                let t = {
                    let g = s.0.lock();
                    under_lock(d.index, &g)
                };
                after(t);
            }
        }
    }

    /// Figures of one database, summed over its shards.
    pub fn figures(&self, db: u32, now: u64) -> DbFigures {
        let mut f = DbFigures::default();
        let mut expire_sum: u128 = 0;
        for s in self.db_or_first(db).shards.iter() {
            let s = s.0.lock();
            f.keys += s.len();
            f.volatile += s.volatile;
            f.used += s.used;
            if let Some(avg) = s.avg_expire_at() {
                expire_sum += avg as u128 * s.volatile as u128;
            }
            f.stats.hits += s.stats.hits;
            f.stats.misses += s.stats.misses;
            f.stats.expired += s.stats.expired;
            f.stats.evicted += s.stats.evicted;
        }
        if f.volatile > 0 {
            let avg = (expire_sum / f.volatile as u128) as u64;
            f.avg_ttl_ms = avg.saturating_sub(now);
        }
        f
    }

    /// Figures of every database, summed.
    pub fn totals(&self, now: u64) -> DbFigures {
        let mut t = DbFigures::default();
        for d in self.all_dbs() {
            let f = self.figures(d.index, now);
            t.keys += f.keys;
            t.volatile += f.volatile;
            t.used += f.used;
            t.stats.hits += f.stats.hits;
            t.stats.misses += f.stats.misses;
            t.stats.expired += f.stats.expired;
            t.stats.evicted += f.stats.evicted;
        }
        t
    }

    /// Clears the hit/miss/expiry counters (CONFIG RESETSTAT).
    pub fn reset_stats(&self) {
        for d in self.all_dbs() {
            for s in d.shards.iter() {
                s.0.lock().stats = ShardStats::default();
            }
        }
    }

    pub fn dbsize(&self, db: u32) -> usize {
        self.db_or_first(db).len()
    }

    /// Removes every key of `db`. With `lazy`, the memory is freed on another thread.
    pub fn flushdb(&self, db: u32, lazy: bool) {
        let d = self.db_or_first(db);
        let mut guards = d.lock_all();
        let old: Vec<_> = guards.iter_mut().map(|g| g.clear()).collect();
        self.bus.emit(d.index, Origin::Local, Op::FlushDb);
        drop(guards);
        free(old, lazy);
    }

    /// Removes every key of every database.
    pub fn flushall(&self, lazy: bool) {
        let dbs = self.all_dbs();
        let mut guards: Vec<_> = dbs.iter().flat_map(|d| d.lock_all()).collect();
        let old: Vec<_> = guards.iter_mut().map(|g| g.clear()).collect();
        self.bus.emit(0, Origin::Local, Op::FlushAll);
        drop(guards);
        free(old, lazy);
    }

    /// Swaps the contents of two databases (SWAPDB).
    pub fn swapdb(&self, a: u32, b: u32) {
        let (lo, hi) = (a.min(b), a.max(b));
        let (Some(dl), Some(dh)) = (self.db(lo), self.db(hi)) else {
            return;
        };
        // Two indexes that resolve to one database would lock its shards twice.
        if std::ptr::eq(dl, dh) {
            return;
        }
        let _structure = self.structure.write();
        let mut gl = dl.lock_all();
        let mut gh = dh.lock_all();
        for (x, y) in gl.iter_mut().zip(gh.iter_mut()) {
            std::mem::swap(&mut **x, &mut **y);
        }
        self.bus.emit(a, Origin::Local, Op::SwapDb { other: b });
    }

    /// One step of SCAN over `db`. The cursor carries the shard in its low bits and that shard's
    /// table cursor above them, so it stays valid while shards resize.
    pub fn scan(
        &self,
        db: u32,
        cursor: u64,
        count: usize,
        now: u64,
        mut f: impl FnMut(EntryRef<'_>),
    ) -> u64 {
        let d = self.db_or_first(db);
        let bits = d.bits;
        let mut shard = (cursor & ((1u64 << bits) - 1)) as usize;
        let mut inner = cursor >> bits;
        let mut emitted = 0;
        let mut visits = 0;
        // As Redis: stop after about `count` entries, or ten times as many empty buckets.
        while emitted < count && visits < count.saturating_mul(10).max(10) {
            {
                let s = d.lock(shard);
                inner = s.table().scan(inner, |e| {
                    if !e.is_expired(now) {
                        emitted += 1;
                        f(e);
                    }
                });
            }
            visits += 1;
            if inner == 0 {
                shard += 1;
                if shard >= d.shard_count() {
                    return 0;
                }
            }
        }
        (inner << bits) | shard as u64
    }

    /// Every live key of `db` matching `pattern` (KEYS).
    pub fn keys(&self, db: u32, pattern: &[u8], now: u64) -> Vec<Vec<u8>> {
        let all = pattern == b"*";
        let mut out = Vec::new();
        for s in self.db_or_first(db).shards.iter() {
            let s = s.0.lock();
            for e in s.table().iter() {
                if !e.is_expired(now) && (all || glob_match(pattern, e.key(), false)) {
                    out.push(e.key().to_vec());
                }
            }
        }
        out
    }

    /// A random live key of `db`, or None when it is empty (RANDOMKEY).
    pub fn random_key(&self, db: u32, now: u64) -> Option<Vec<u8>> {
        let d = self.db_or_first(db);
        let n = d.shard_count();
        // Pick shards by weight of their size so keys are (roughly) uniformly chosen.
        for _ in 0..100 {
            let sizes: Vec<usize> = d.shards.iter().map(|s| s.0.lock().len()).collect();
            let total: usize = sizes.iter().sum();
            if total == 0 {
                return None;
            }
            let mut pick = fastrand::usize(..total);
            let mut si = 0;
            while si < n && pick >= sizes[si] {
                pick -= sizes[si];
                si += 1;
            }
            let mut s = d.lock(si.min(n - 1));
            let cap = s.table().capacity();
            if cap == 0 {
                continue;
            }
            let Some(idx) = s.table().occupied_from(fastrand::usize(..cap)) else {
                continue;
            };
            let Some(e) = s.table().get(idx) else {
                continue;
            };
            if !e.is_expired(now) {
                return Some(e.key().to_vec());
            }
            // Expired: remove it as Redis's lazy expiry would, and try again.
            let key = e.key().to_vec();
            if s.remove_at(idx).is_some() {
                s.stats.expired += 1;
                self.bus
                    .emit(d.index, Origin::Local, Op::Expired { key: &key });
            }
        }
        None
    }

    /// One pass of active expiry over every database: sweeps shards until `budget_slots`
    /// slots have been examined. Returns the number of keys removed.
    pub fn expire_cycle(&self, now: u64, budget_slots: usize) -> usize {
        const STEP: usize = 1024; // slots per lock hold: keeps each pause short
        let mut removed = 0;
        let mut left = budget_slots;
        for d in self.all_dbs() {
            for i in 0..d.shard_count() {
                loop {
                    if left == 0 {
                        return removed;
                    }
                    let mut g = d.lock(i);
                    if g.volatile == 0 {
                        break;
                    }
                    let cap = g.table().capacity();
                    let (seen, r) = g.sweep_expired(
                        &self.bus,
                        d.index,
                        now,
                        self.tombstones_enabled(),
                        STEP.min(left),
                    );
                    drop(g);
                    removed += r;
                    left = left.saturating_sub(seen.max(1));
                    // One full lap per cycle at most.
                    if seen < STEP || seen >= cap {
                        break;
                    }
                }
            }
        }
        removed
    }

    /// Forgets tombstones older than `before` (ms); returns how many.
    pub fn collect_tombstones(&self, before: u64) -> usize {
        let mut n = 0;
        for d in self.all_dbs() {
            for s in d.shards.iter() {
                n += s.0.lock().collect_tombstones(before);
            }
        }
        n
    }
}
