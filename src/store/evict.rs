//! Access tracking for eviction: each entry's 24-bit `access` field holds either the LRU clock
//! of its last access or, under an LFU policy, Redis's logarithmic frequency counter with the
//! minute it last decayed (`ldt << 8 | counter`).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::shard::lru_clock;

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
            AccessMode::Lru => lru_clock(now_ms),
            AccessMode::Lfu { .. } => (minutes(now_ms) << 8) | LFU_INIT_VAL as u32,
        }
    }

    /// Records one access.
    #[inline]
    pub fn touch(self, access: &mut u32, now_ms: u64) {
        match self {
            AccessMode::Lru => *access = lru_clock(now_ms),
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
    let ldt = access >> 8;
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
        assert_eq!(a, lru_clock(5_000_000));
    }
}
