//! Keeps each store and the node under their memory limits by evicting before writes and in
//! the background; `evict` says which key goes.

use super::db::hash_key;
use super::evict::{Limits, Pool, Pressure};
use super::keyspace::Keyspace;
use super::named::Store;

impl Keyspace {
    /// Before a write to `db`'s store that may grow memory: keeps the store within its own
    /// limit and the node within `cache.max_memory`. At a limit's critical level, evicts keys
    /// (the store's own, by its policy; for the node limit, the largest store's) until usage is
    /// back under it; at panic, when nothing more can be evicted (noeviction, or a volatile
    /// policy without keys with a TTL), refuses the write. Records the levels, logging each
    /// change once.
    pub fn make_room(&self, db: u32, now: u64) -> Result<(), Pressure> {
        let ks = self.store_of(db);
        let own = if ks.limits.max() > 0 {
            self.keep_within(&ks.limits, &ks.name, || ks.used(), || ks, now)
        } else {
            Ok(())
        };
        let node = if self.node_limits.max() > 0 {
            self.keep_within(
                &self.node_limits,
                "node",
                || self.used(),
                || {
                    // The store that holds the most gives memory back.
                    self.stores()
                        .into_iter()
                        .filter(|k| k.limits.policy() != crate::config::EvictionPolicy::NoEviction)
                        .max_by_key(|k| k.used())
                        .unwrap_or(ks)
                },
                now,
            )
        } else {
            Ok(())
        };
        own.and(node)
    }

    /// Before a write that will add about `bytes` to `db`'s store (a SET's value, the room
    /// SETRANGE pads, an APPEND's tail): evicts until it fits under the store's and the node's
    /// limits, or refuses it — so no single write, however large, carries usage past a limit,
    /// and it is refused before anything is allocated for it.
    pub fn reserve(&self, db: u32, bytes: u64, now: u64) -> Result<(), Pressure> {
        if bytes == 0 {
            return Ok(());
        }
        let ks = self.store_of(db);
        self.fit(&ks.limits, bytes, || ks.used(), || ks, now)?;
        self.fit(
            &self.node_limits,
            bytes,
            || self.used(),
            || self.largest_evictable().unwrap_or(ks),
            now,
        )
    }

    /// Whether `db`'s store or the node has a memory limit (else [`Keyspace::reserve`] is moot).
    pub fn limited(&self, db: u32) -> bool {
        self.node_limits.max() > 0 || self.store_of(db).limits.max() > 0
    }

    fn largest_evictable(&self) -> Option<&Store> {
        self.stores()
            .into_iter()
            .filter(|k| k.limits.policy() != crate::config::EvictionPolicy::NoEviction)
            .max_by_key(|k| k.used())
    }

    fn fit<'a>(
        &'a self,
        limits: &Limits,
        bytes: u64,
        used_now: impl Fn() -> u64,
        victim_store: impl Fn() -> &'a Store,
        now: u64,
    ) -> Result<(), Pressure> {
        let max = limits.max();
        if max == 0 {
            return Ok(());
        }
        if bytes > max {
            return Err(Pressure::Panic);
        }
        let started = std::time::Instant::now();
        let mut n = 0u32;
        while used_now().saturating_add(bytes) > max {
            if !self.evict_one(victim_store(), now) {
                return Err(Pressure::Panic);
            }
            n += 1;
            // As for `make_room`: a write is not refused while eviction makes progress; what
            // one write's time budget does not evict, the background cycle does.
            if n.is_multiple_of(32) && started.elapsed() >= std::time::Duration::from_millis(25) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn keep_within<'a>(
        &'a self,
        limits: &Limits,
        name: &str,
        used_now: impl Fn() -> u64,
        victim_store: impl Fn() -> &'a Store,
        now: u64,
    ) -> Result<(), Pressure> {
        let mut used = used_now();
        let met = limits.level_of(used);
        let mut stuck = false;
        if met >= Pressure::Critical {
            let target = limits.bytes_at(Pressure::Critical);
            // Bounded in time so one client's latency stays short; the cron carries on.
            let budget = if met == Pressure::Panic {
                std::time::Duration::from_millis(25)
            } else {
                std::time::Duration::from_millis(2)
            };
            let started = std::time::Instant::now();
            let mut n = 0u32;
            while used >= target {
                if !self.evict_one(victim_store(), now) {
                    stuck = true;
                    break;
                }
                n += 1;
                used = used_now();
                if n.is_multiple_of(32) && started.elapsed() >= budget {
                    break;
                }
            }
        }
        note_pressure(limits, name, met, used);
        // As Redis: a write is refused when nothing more can be evicted, not while eviction
        // is still making progress (the cron goes on with it).
        if stuck && limits.level_of(used) == Pressure::Panic {
            Err(Pressure::Panic)
        } else {
            Ok(())
        }
    }

    /// Every store's and the node's limits, from the background cycle: evicts what writes
    /// from peers brought in, and notes levels falling after deletes.
    pub fn maintain_memory(&self, now: u64) {
        for ks in self.stores() {
            if ks.limits.max() > 0 {
                let _ = self.keep_within(&ks.limits, &ks.name, || ks.used(), || ks, now);
            }
        }
        if self.node_limits.max() > 0 {
            let _ = self.make_room(0, now);
        }
    }

    /// Evicts one key of `ks` chosen by its policy; false when there is none to evict.
    fn evict_one(&self, ks: &Store, now: u64) -> bool {
        use super::evict::{score, volatile_only};
        let policy = ks.limits.policy();
        if policy == crate::config::EvictionPolicy::NoEviction {
            return false;
        }
        let mode = ks.access.mode();
        let samples = ks.limits.samples() as usize;
        let mut pool = ks.pool.lock();
        // `session` samples sessions (keys with a TTL) first, other keys only when none is left.
        let volatile_first =
            volatile_only(policy) || policy == crate::config::EvictionPolicy::Session;
        if !ks.sample(&mut pool, policy, mode, samples, now, volatile_first)
            && !volatile_only(policy)
            && volatile_first
        {
            ks.sample(&mut pool, policy, mode, samples, now, false);
        }
        let mut rescored = 0;
        while let Some(c) = pool.take_best() {
            let d = ks.db_or_first(c.db);
            let h = hash_key(&c.key);
            let mut s = d.lock(d.shard_of(h));
            let Some(idx) = s.table().find(h as u32, &c.key) else {
                continue;
            };
            let Some(sc) = s.table().get(idx).and_then(|e| score(policy, mode, e, now)) else {
                continue;
            };
            // Touched since it was sampled: put it back at its true rank.
            if sc < c.score && rescored < super::evict::POOL_SIZE {
                rescored += 1;
                pool.offer(sc, c.db, &c.key);
                continue;
            }
            let tombstones = self.tombstones_enabled();
            s.evict_at(idx, &self.bus, d.index, now, tombstones);
            return true;
        }
        false
    }
}

impl Store {
    /// Offers up to `samples` keys of each database of `ks` to its pool (only keys with a TTL
    /// when `volatile`); false when none was found.
    fn sample(
        &self,
        pool: &mut Pool,
        policy: crate::config::EvictionPolicy,
        mode: super::evict::AccessMode,
        samples: usize,
        now: u64,
        volatile: bool,
    ) -> bool {
        let mut found = false;
        for d in self.dbs.iter() {
            if d.key_count() == 0 {
                continue;
            }
            let n = d.shard_count();
            let start = fastrand::usize(..n);
            for i in 0..n {
                let s = d.lock((start + i) % n);
                if s.is_empty() || (volatile && s.volatile == 0) {
                    continue;
                }
                let t = s.table();
                let cap = t.capacity();
                let mut at = fastrand::usize(..cap);
                let mut taken = 0;
                let mut looked = 0;
                // A run of neighbouring slots, as Redis's dictGetSomeKeys.
                while taken < samples && looked < cap {
                    if let Some(e) = t.get(at)
                        && (!volatile || e.expire_at() != 0)
                        && let Some(sc) = super::evict::score(policy, mode, e, now)
                    {
                        pool.offer(sc, d.index, e.key());
                        taken += 1;
                        found = true;
                    }
                    at = (at + 1) % cap;
                    looked += 1;
                }
                break;
            }
        }
        found
    }
}

/// Records the level a write met against `limits`, logging each change once. A level is left
/// downwards only once usage is 2% of the limit below it, so a cache that hovers at a threshold
/// (as one that evicts does) does not flap.
fn note_pressure(limits: &Limits, store: &str, met: Pressure, used: u64) {
    let prev = limits.level();
    let level = if met >= prev || used + limits.max() / 50 < limits.bytes_at(prev) {
        met
    } else {
        prev
    };
    if let Some(before) = limits.note_level(level) {
        let max = limits.max();
        if level > before && level >= Pressure::Critical {
            tracing::warn!(
                component = "memory",
                action = "pressure",
                store,
                from = before.name(),
                to = level.name(),
                used,
                max,
                "memory pressure changed"
            );
        } else {
            tracing::info!(
                component = "memory",
                action = "pressure",
                store,
                from = before.name(),
                to = level.name(),
                used,
                max,
                "memory pressure changed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EvictionPolicy;
    use crate::store::Value;
    use crate::store::keyspace::tests::{set, store};
    use crate::store::shard::Access;

    fn limited(policy: EvictionPolicy, max: u64) -> Keyspace {
        let s = store();
        s.default_store().limits.set_max(max);
        s.default_store().set_policy(policy);
        s
    }

    /// Writes keys as a client would: room first, then the write.
    fn fill(s: &Keyspace, prefix: &str, n: usize, expire_at: impl Fn(usize) -> u64) -> usize {
        let mut refused = 0;
        for i in 0..n {
            if s.make_room(0, 1_000).is_err() {
                refused += 1;
                continue;
            }
            set(s, 0, format!("{prefix}{i}").as_bytes(), 100, expire_at(i));
        }
        refused
    }

    #[test]
    fn eviction_keeps_usage_under_the_limit() {
        let s = limited(EvictionPolicy::Lru, 200_000);
        assert_eq!(fill(&s, "k", 10_000, |_| 0), 0);
        let max = s.default_store().limits.max();
        assert!(s.used() < max, "{} >= {max}", s.used());
        let evicted: u64 = s.totals(0).stats.evicted;
        assert!(evicted > 5_000, "{evicted}");
        assert!(s.default_store().limits.level() <= Pressure::Critical);
    }

    #[test]
    fn noeviction_refuses_at_panic() {
        let s = limited(EvictionPolicy::NoEviction, 100_000);
        let refused = fill(&s, "k", 5_000, |_| 0);
        assert!(refused > 0);
        assert_eq!(s.totals(0).stats.evicted, 0);
        assert_eq!(s.default_store().limits.level(), Pressure::Panic);
        // Reads and deletes still work, and a delete brings the level down.
        assert!(s.with_key(0, b"k1", 0, Access::Read, |k| k.exists()));
        let all = s.keys(0, b"*", 0);
        for k in all.iter().take(all.len() / 2) {
            s.with_key(0, k, 0, Access::Write, |k| k.delete());
        }
        assert!(s.make_room(0, 1_000).is_ok());
        assert!(s.default_store().limits.level() < Pressure::Critical);
    }

    #[test]
    fn volatile_policies_spare_keys_without_ttl() {
        let s = limited(EvictionPolicy::VolatileLru, 300_000);
        // Persistent keys take about half the room, sessions the rest and more.
        fill(&s, "p", 1_000, |_| 0);
        fill(&s, "v", 5_000, |_| 1_000_000);
        for i in 0..1_000 {
            let key = format!("p{i}");
            assert!(
                s.with_key(0, key.as_bytes(), 0, Access::Peek, |k| k.exists()),
                "{key}"
            );
        }
        assert!(s.totals(0).stats.evicted > 0);
    }

    #[test]
    fn ttl_evicts_the_nearest_deadline_first() {
        let s = limited(EvictionPolicy::Ttl, 300_000);
        // Deadlines rise with i: the survivors are the latest deadlines.
        fill(&s, "v", 5_000, |i| 1_000_000 + i as u64);
        let alive: Vec<usize> = (0..5_000)
            .filter(|i| {
                s.with_key(0, format!("v{i}").as_bytes(), 0, Access::Peek, |k| {
                    k.exists()
                })
            })
            .collect();
        let early = alive.iter().filter(|&&i| i < 2_500).count();
        assert!(early * 10 < alive.len(), "{early} of {}", alive.len());
    }

    #[test]
    fn session_evicts_sessions_before_other_keys() {
        let s = limited(EvictionPolicy::Session, 300_000);
        fill(&s, "p", 1_000, |_| 0);
        fill(&s, "v", 5_000, |_| 1_000_000);
        let persistent = (0..1_000)
            .filter(|i| {
                s.with_key(0, format!("p{i}").as_bytes(), 0, Access::Peek, |k| {
                    k.exists()
                })
            })
            .count();
        assert_eq!(persistent, 1_000);
        // With no session left, other keys go too, unlike volatile-lru.
        let s = limited(EvictionPolicy::Session, 100_000);
        assert_eq!(fill(&s, "p", 5_000, |_| 0), 0);
        assert!(s.totals(0).stats.evicted > 0);
    }

    #[test]
    fn lru_spares_the_recently_used() {
        // About 2,000 keys of this size fit: the 4,000 written must evict.
        let s = limited(EvictionPolicy::Lru, 250_000);
        let mut now = 0;
        let put = |s: &Keyspace, key: &str, now: u64| {
            assert!(s.make_room(0, now).is_ok());
            s.with_key(0, key.as_bytes(), now, Access::Write, |k| {
                k.set(Value::Str(vec![b'x'; 100].into()), 0)
            });
        };
        for i in 0..1_000 {
            now += 20;
            put(&s, &format!("k{i}"), now);
        }
        // The first hundred are read again: now the most recent.
        for i in 0..100 {
            now += 20;
            s.with_key(0, format!("k{i}").as_bytes(), now, Access::Read, |_| ());
        }
        for i in 0..3_000 {
            now += 20;
            put(&s, &format!("n{i}"), now);
            // Keep them in use, as a working set would be.
            if i % 10 == 0 {
                for j in 0..100 {
                    s.with_key(0, format!("k{j}").as_bytes(), now, Access::Read, |_| ());
                }
            }
        }
        let kept = (0..100)
            .filter(|i| {
                s.with_key(0, format!("k{i}").as_bytes(), now, Access::Peek, |k| {
                    k.exists()
                })
            })
            .count();
        let old_kept = (100..1_000)
            .filter(|i| {
                s.with_key(0, format!("k{i}").as_bytes(), now, Access::Peek, |k| {
                    k.exists()
                })
            })
            .count();
        assert!(kept >= 95, "{kept} of the working set kept");
        assert!(old_kept < 100, "{old_kept} idle keys kept");
    }

    /// Zipf(0.99) ranks over `n` keys, by inverse transform of the cumulative weights.
    fn zipf(n: usize) -> impl FnMut() -> usize {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for r in 1..=n {
            sum += 1.0 / (r as f64).powf(0.99);
            cdf.push(sum);
        }
        move || {
            let x = fastrand::f64() * sum;
            cdf.partition_point(|&c| c < x).min(n - 1)
        }
    }

    /// GET, SET on a miss, over a Zipf trace; returns the hit ratio of the second half.
    fn zipf_hit_ratio(policy: EvictionPolicy) -> (f64, Keyspace) {
        // Room for about a tenth of 20k keys of ~200 bytes.
        let s = limited(policy, 450_000);
        let mut next = zipf(20_000);
        let (mut hits, mut lookups) = (0u64, 0u64);
        for i in 0..200_000u64 {
            let now = i / 10;
            let key = format!("key:{}", next());
            let hit = s.with_key(0, key.as_bytes(), now, Access::Read, |k| k.exists());
            if i >= 100_000 {
                lookups += 1;
                hits += hit as u64;
            }
            if !hit {
                assert!(s.make_room(0, now).is_ok());
                s.with_key(0, key.as_bytes(), now, Access::Write, |k| {
                    k.set(Value::Str(vec![b'v'; 100].into()), 0)
                });
            }
        }
        (hits as f64 / lookups as f64, s)
    }

    #[test]
    fn lfu_keeps_hot_keys_under_zipf() {
        let (lfu, s) = zipf_hit_ratio(EvictionPolicy::Lfu);
        let hot = (0..100)
            .filter(|i| {
                s.with_key(0, format!("key:{i}").as_bytes(), 0, Access::Peek, |k| {
                    k.exists()
                })
            })
            .count();
        assert!(hot >= 95, "{hot} of the 100 hottest keys kept");
        let (random, _) = zipf_hit_ratio(EvictionPolicy::Random);
        assert!(lfu > random + 0.03, "lfu {lfu:.3} vs random {random:.3}");
        assert!(s.used() <= s.default_store().limits.max());
    }
}
