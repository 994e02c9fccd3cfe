//! Eviction: access tracking, the memory limit with its pressure levels, and the choice of
//! victims.
//!
//! Each entry's 32-bit `access` field holds either the time of its last access in units of
//! 10 ms (wrapping after 497 days — finer than Redis's one-second clock, so LRU still tells keys
//! apart under a fast workload) or, under an LFU policy, Redis's logarithmic frequency counter
//! with the minute it last decayed (`ldt << 8 | counter`).

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::config::EvictionPolicy;

use super::entry::EntryRef;

/// The LRU clock: now in units of 10 ms, wrapping.
#[inline]
pub fn lru_stamp(now_ms: u64) -> u32 {
    (now_ms / 10) as u32
}

/// Milliseconds since an LRU `access` stamp.
#[inline]
pub fn idle_ms(access: u32, now_ms: u64) -> u64 {
    lru_stamp(now_ms).wrapping_sub(access) as u64 * 10
}

/// The counter a new key starts with, so it is not evicted before it had a chance to be read.
pub const LFU_INIT_VAL: u8 = 5;

/// How accesses are recorded, read once per operation from [`AccessPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMode {
    Lru,
    Lfu { log_factor: u32, decay_time: u32 },
}

impl AccessMode {
    /// The `access` value of a key created now.
    #[inline]
    pub fn initial(self, now_ms: u64) -> u32 {
        match self {
            AccessMode::Lru => lru_stamp(now_ms),
            AccessMode::Lfu { .. } => (minutes(now_ms) << 8) | LFU_INIT_VAL as u32,
        }
    }

    /// Records one access.
    #[inline]
    pub fn touch(self, access: &mut u32, now_ms: u64) {
        match self {
            AccessMode::Lru => *access = lru_stamp(now_ms),
            AccessMode::Lfu {
                log_factor,
                decay_time,
            } => {
                let counter = decayed(*access, now_ms, decay_time);
                let counter = log_incr(counter, log_factor);
                *access = (minutes(now_ms) << 8) | counter as u32;
            }
        }
    }

    /// The frequency counter as OBJECT FREQ reports it (decayed to now).
    pub fn freq(self, access: u32, now_ms: u64) -> u8 {
        match self {
            AccessMode::Lru => 0,
            AccessMode::Lfu { decay_time, .. } => decayed(access, now_ms, decay_time),
        }
    }
}

/// Minutes, 16 bits, as Redis's LFUGetTimeInMinutes.
fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

fn decayed(access: u32, now_ms: u64, decay_time: u32) -> u8 {
    // 16 bits of minutes, as Redis keeps them; a word written under LRU (before a switch of
    // policy) has more, and is read as Redis reads it: as if it were LFU's.
    let ldt = (access >> 8) & 0xFFFF;
    let counter = (access & 0xFF) as u8;
    let now = minutes(now_ms);
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        0xFFFF - ldt + now
    };
    let periods = elapsed.checked_div(decay_time).unwrap_or(0);
    if periods as u64 >= counter as u64 {
        if periods > 0 { 0 } else { counter }
    } else {
        counter - periods as u8
    }
}

/// Redis's LFULogIncr: the higher the counter, the less likely an access increments it.
fn log_incr(counter: u8, log_factor: u32) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = (counter as f64 - LFU_INIT_VAL as f64).max(0.0);
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if fastrand::f64() < p {
        counter + 1
    } else {
        counter
    }
}

/// The node-wide choice between LRU and LFU tracking and the LFU tunables
/// (`lfu-log-factor`, `lfu-decay-time`).
#[derive(Debug)]
pub struct AccessPolicy {
    lfu: AtomicBool,
    log_factor: AtomicU32,
    decay_time: AtomicU32,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        AccessPolicy {
            lfu: AtomicBool::new(false),
            log_factor: AtomicU32::new(10),
            decay_time: AtomicU32::new(1),
        }
    }
}

impl AccessPolicy {
    #[inline]
    pub fn mode(&self) -> AccessMode {
        if self.lfu.load(Ordering::Relaxed) {
            AccessMode::Lfu {
                log_factor: self.log_factor.load(Ordering::Relaxed),
                decay_time: self.decay_time.load(Ordering::Relaxed),
            }
        } else {
            AccessMode::Lru
        }
    }

    pub fn set_lfu(&self, on: bool) {
        self.lfu.store(on, Ordering::Relaxed);
    }

    pub fn set_log_factor(&self, v: u32) {
        self.log_factor.store(v, Ordering::Relaxed);
    }

    pub fn set_decay_time(&self, v: u32) {
        self.decay_time.store(v, Ordering::Relaxed);
    }

    pub fn log_factor(&self) -> u32 {
        self.log_factor.load(Ordering::Relaxed)
    }

    pub fn decay_time(&self) -> u32 {
        self.decay_time.load(Ordering::Relaxed)
    }
}

/// How close a store (or the node) is to its memory limit. Each level is a fraction of the limit
/// (`cache.memory_warning`, `_critical`, `_panic`):
/// - `Warning`: logged and exported, nothing else changes;
/// - `Critical`: every write first evicts keys until usage is back under the critical level —
///   eviction starts before the limit is reached, never after it;
/// - `Panic`: eviction could not keep up (or the policy forbids it): writes that can grow
///   memory are refused with OOM; reads and deletes keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Pressure {
    Normal = 0,
    Warning = 1,
    Critical = 2,
    Panic = 3,
}

impl Pressure {
    pub fn name(self) -> &'static str {
        match self {
            Pressure::Normal => "normal",
            Pressure::Warning => "warning",
            Pressure::Critical => "critical",
            Pressure::Panic => "panic",
        }
    }

    fn from_u8(v: u8) -> Pressure {
        match v {
            1 => Pressure::Warning,
            2 => Pressure::Critical,
            3 => Pressure::Panic,
            _ => Pressure::Normal,
        }
    }
}

/// The pressure levels as fractions of the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub warning: f64,
    pub critical: f64,
    pub panic: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warning: 0.80,
            critical: 0.90,
            panic: 0.95,
        }
    }
}

const POLICIES: [EvictionPolicy; 9] = [
    EvictionPolicy::Lru,
    EvictionPolicy::Lfu,
    EvictionPolicy::Ttl,
    EvictionPolicy::Session,
    EvictionPolicy::Random,
    EvictionPolicy::NoEviction,
    EvictionPolicy::VolatileLru,
    EvictionPolicy::VolatileLfu,
    EvictionPolicy::VolatileRandom,
];

/// A store's memory limit, eviction policy and current pressure level; changed at run time
/// by CONFIG SET, read lock-free on every write.
#[derive(Debug)]
pub struct Limits {
    max: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU32,
    /// warning, critical, panic: f64 bits.
    thresholds: [AtomicU64; 3],
    level: AtomicU8,
}

impl Limits {
    pub fn new(max: u64, policy: EvictionPolicy, samples: u32, thresholds: Thresholds) -> Limits {
        let l = Limits {
            max: AtomicU64::new(max),
            policy: AtomicU8::new(0),
            samples: AtomicU32::new(samples.max(1)),
            thresholds: Default::default(),
            level: AtomicU8::new(0),
        };
        l.set_policy(policy);
        l.set_thresholds(thresholds);
        l
    }

    /// Bytes; 0 = unlimited.
    #[inline]
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    pub fn set_max(&self, v: u64) {
        self.max.store(v, Ordering::Relaxed);
    }

    #[inline]
    pub fn policy(&self) -> EvictionPolicy {
        POLICIES[self.policy.load(Ordering::Relaxed) as usize % POLICIES.len()]
    }

    pub fn set_policy(&self, p: EvictionPolicy) {
        let i = POLICIES.iter().position(|&q| q == p).unwrap_or(0);
        self.policy.store(i as u8, Ordering::Relaxed);
    }

    pub fn samples(&self) -> u32 {
        self.samples.load(Ordering::Relaxed)
    }

    pub fn set_samples(&self, v: u32) {
        self.samples.store(v.max(1), Ordering::Relaxed);
    }

    pub fn thresholds(&self) -> Thresholds {
        let f = |i: usize| f64::from_bits(self.thresholds[i].load(Ordering::Relaxed));
        Thresholds {
            warning: f(0),
            critical: f(1),
            panic: f(2),
        }
    }

    pub fn set_thresholds(&self, t: Thresholds) {
        for (a, v) in self.thresholds.iter().zip([t.warning, t.critical, t.panic]) {
            a.store(v.to_bits(), Ordering::Relaxed);
        }
    }

    /// The level `used` bytes stand at.
    pub fn level_of(&self, used: u64) -> Pressure {
        let max = self.max();
        if max == 0 {
            return Pressure::Normal;
        }
        let f = used as f64 / max as f64;
        let t = self.thresholds();
        if f >= t.panic {
            Pressure::Panic
        } else if f >= t.critical {
            Pressure::Critical
        } else if f >= t.warning {
            Pressure::Warning
        } else {
            Pressure::Normal
        }
    }

    /// Bytes at which `level` begins.
    pub fn bytes_at(&self, level: Pressure) -> u64 {
        let t = self.thresholds();
        let f = match level {
            Pressure::Normal => 0.0,
            Pressure::Warning => t.warning,
            Pressure::Critical => t.critical,
            Pressure::Panic => t.panic,
        };
        (self.max() as f64 * f) as u64
    }

    /// The level last recorded.
    pub fn level(&self) -> Pressure {
        Pressure::from_u8(self.level.load(Ordering::Relaxed))
    }

    /// Records the current level; returns the previous one when it changed.
    pub fn note_level(&self, now: Pressure) -> Option<Pressure> {
        let before = Pressure::from_u8(self.level.swap(now as u8, Ordering::Relaxed));
        (before != now).then_some(before)
    }
}

/// How much `e` deserves eviction under `policy` (higher goes first); `None` when the policy
/// never evicts it.
///
/// `session` treats keys with a TTL as sessions: they go first, the longest idle first; keys
/// without a TTL are evicted (least recently used first) only when no session is left.
pub fn score(
    policy: EvictionPolicy,
    mode: AccessMode,
    e: EntryRef<'_>,
    now_ms: u64,
) -> Option<u64> {
    use EvictionPolicy as P;
    let volatile = e.expire_at() != 0;
    let idle = || match mode {
        AccessMode::Lru => idle_ms(e.access(), now_ms),
        // Under LFU tracking an LRU policy has no idle time; rank by rarity instead.
        AccessMode::Lfu { .. } => 255 - mode.freq(e.access(), now_ms) as u64,
    };
    let rarity = || match mode {
        AccessMode::Lfu { .. } => 255 - mode.freq(e.access(), now_ms) as u64,
        AccessMode::Lru => idle_ms(e.access(), now_ms),
    };
    match policy {
        P::NoEviction => None,
        P::Lru => Some(idle()),
        P::Lfu => Some(rarity()),
        P::Random => Some(fastrand::u64(..)),
        P::Ttl => volatile.then(|| u64::MAX - e.expire_at()),
        P::Session => Some(if volatile { (1 << 62) | idle() } else { idle() }),
        P::VolatileLru => volatile.then(idle),
        P::VolatileLfu => volatile.then(rarity),
        P::VolatileRandom => volatile.then(|| fastrand::u64(..)),
    }
}

/// Whether `policy` only ever evicts keys with a TTL.
pub fn volatile_only(policy: EvictionPolicy) -> bool {
    use EvictionPolicy as P;
    matches!(
        policy,
        P::Ttl | P::VolatileLru | P::VolatileLfu | P::VolatileRandom
    )
}

/// A candidate for eviction, remembered between rounds as in Redis's eviction pool, so that
/// each eviction picks the best of many more keys than one round samples.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub score: u64,
    pub db: u32,
    pub key: Box<[u8]>,
}

/// The best candidates seen so far, at most [`POOL_SIZE`], best last.
#[derive(Debug, Default)]
pub struct Pool {
    items: Vec<Candidate>,
}

pub const POOL_SIZE: usize = 16;

impl Pool {
    /// Offers a sampled key; kept when it beats the worst of a full pool.
    pub fn offer(&mut self, score: u64, db: u32, key: &[u8]) {
        if self.items.iter().any(|c| c.db == db && *c.key == *key) {
            return;
        }
        if self.items.len() >= POOL_SIZE {
            if self.items[0].score >= score {
                return;
            }
            self.items.remove(0);
        }
        let at = self.items.partition_point(|c| c.score < score);
        self.items.insert(
            at,
            Candidate {
                score,
                db,
                key: key.into(),
            },
        );
    }

    /// The best candidate, removed from the pool.
    pub fn take_best(&mut self) -> Option<Candidate> {
        self.items.pop()
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LFU: AccessMode = AccessMode::Lfu {
        log_factor: 10,
        decay_time: 1,
    };

    #[test]
    fn new_keys_start_at_the_initial_counter() {
        let a = LFU.initial(0);
        assert_eq!(LFU.freq(a, 0), LFU_INIT_VAL);
    }

    #[test]
    fn counter_grows_logarithmically() {
        let mut a = LFU.initial(0);
        for _ in 0..100 {
            LFU.touch(&mut a, 0);
        }
        let after_100 = LFU.freq(a, 0);
        for _ in 0..100_000 {
            LFU.touch(&mut a, 0);
        }
        let after_100k = LFU.freq(a, 0);
        // Redis's table for factor 10: ~10 after 100 hits, ~255 only after about a million.
        assert!((6..=20).contains(&after_100), "{after_100}");
        assert!(after_100k > after_100 && after_100k < 255, "{after_100k}");
    }

    #[test]
    fn counter_decays_one_per_minute() {
        let a = 20; // ldt minute 0, counter 20
        assert_eq!(LFU.freq(a, 0), 20);
        assert_eq!(LFU.freq(a, 3 * 60_000), 17);
        assert_eq!(LFU.freq(a, 60 * 60_000), 0);
    }

    #[test]
    fn lru_records_the_clock() {
        let mut a = 0;
        AccessMode::Lru.touch(&mut a, 5_000_000);
        assert_eq!(a, lru_stamp(5_000_000));
        assert_eq!(idle_ms(a, 5_012_345), 12_340);
    }

    #[test]
    fn pressure_levels_follow_the_thresholds() {
        let l = Limits::new(1000, EvictionPolicy::Lru, 5, Thresholds::default());
        assert_eq!(l.level_of(0), Pressure::Normal);
        assert_eq!(l.level_of(799), Pressure::Normal);
        assert_eq!(l.level_of(800), Pressure::Warning);
        assert_eq!(l.level_of(900), Pressure::Critical);
        assert_eq!(l.level_of(950), Pressure::Panic);
        assert_eq!(l.bytes_at(Pressure::Critical), 900);
        assert_eq!(l.note_level(Pressure::Warning), Some(Pressure::Normal));
        assert_eq!(l.note_level(Pressure::Warning), None);
        l.set_max(0);
        assert_eq!(l.level_of(u64::MAX), Pressure::Normal);
    }

    #[test]
    fn policies_round_trip_through_the_atomic() {
        let l = Limits::new(0, EvictionPolicy::Lru, 5, Thresholds::default());
        for p in POLICIES {
            l.set_policy(p);
            assert_eq!(l.policy(), p);
        }
    }

    fn entry(access: u32, expire_at: u64) -> crate::store::Entry {
        crate::store::Entry::new(b"k", crate::store::Value::Int(1), expire_at, 0, access)
    }

    #[test]
    fn scores_rank_as_documented() {
        let now = 1_000_000;
        let lru = AccessMode::Lru;
        let old = entry(lru_stamp(now - 50_000), 0);
        let young = entry(lru_stamp(now - 1_000), 0);
        let s = |p, e: &crate::store::Entry| score(p, lru, e.as_ref(), now);
        assert!(s(EvictionPolicy::Lru, &old) > s(EvictionPolicy::Lru, &young));
        assert_eq!(s(EvictionPolicy::NoEviction, &old), None);
        assert_eq!(s(EvictionPolicy::VolatileLru, &old), None);
        // ttl: the nearest deadline first, keys without one never.
        let soon = entry(0, now + 10);
        let late = entry(0, now + 10_000);
        assert!(s(EvictionPolicy::Ttl, &soon) > s(EvictionPolicy::Ttl, &late));
        assert_eq!(s(EvictionPolicy::Ttl, &old), None);
        // session: any session before any key without a TTL, however idle that one is.
        let fresh_session = entry(lru_stamp(now), now + 60_000);
        assert!(s(EvictionPolicy::Session, &fresh_session) > s(EvictionPolicy::Session, &old));
        // lfu: the rarer first.
        let lfu = LFU;
        let mut hot = entry(lfu.initial(now), 0);
        let mut a = hot.access();
        for _ in 0..1000 {
            lfu.touch(&mut a, now);
        }
        hot.set_access(a);
        let cold = entry(lfu.initial(now), 0);
        assert!(
            score(EvictionPolicy::Lfu, lfu, cold.as_ref(), now)
                > score(EvictionPolicy::Lfu, lfu, hot.as_ref(), now)
        );
    }

    #[test]
    fn the_pool_keeps_the_best() {
        let mut p = Pool::default();
        for i in 0..100u64 {
            p.offer(i, 0, format!("k{i}").as_bytes());
        }
        p.offer(99, 0, b"k99");
        let first = p.take_best().unwrap();
        assert_eq!((first.score, &*first.key), (99, &b"k99"[..]));
        assert_eq!(p.take_best().unwrap().score, 98);
        let mut n = 2;
        while p.take_best().is_some() {
            n += 1;
        }
        assert_eq!(n, POOL_SIZE);
    }
}
