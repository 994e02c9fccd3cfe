//! Per-command counters and latency histograms, kept by slot: the command table numbers its
//! commands and subcommands (`command::table::slot_of`), so the counters know nothing of it.
//!
//! Recording is lock-free and allocation-free: a relaxed atomic increment per command, and a
//! latency sample (two clock reads) for one command in sixteen.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Latency bucket bounds, microseconds.
pub const BOUNDS_US: [u64; 12] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000,
];

/// One in this many commands is timed.
const SAMPLE_EVERY: u32 = 16;

#[derive(Default)]
struct Hist {
    buckets: [AtomicU64; BOUNDS_US.len()],
    sum_us: AtomicU64,
    count: AtomicU64,
}

/// Slots for commands and subcommands; the table checks it fits (a unit test there).
pub const SLOTS: usize = 512;

thread_local! {
    static TICK: Cell<u32> = const { Cell::new(0) };
}

pub struct CommandMetrics {
    calls: Box<[AtomicU64]>,
    errors: Box<[AtomicU64]>,
    latency: Box<[Hist]>,
}

impl Default for CommandMetrics {
    fn default() -> Self {
        let n = SLOTS;
        CommandMetrics {
            calls: (0..n).map(|_| AtomicU64::new(0)).collect(),
            errors: (0..n).map(|_| AtomicU64::new(0)).collect(),
            latency: (0..n).map(|_| Hist::default()).collect(),
        }
    }
}

impl CommandMetrics {
    /// Whether this command should be timed (one in [`SAMPLE_EVERY`]).
    #[inline]
    pub fn sample(&self) -> bool {
        TICK.with(|t| {
            let v = t.get().wrapping_add(1);
            t.set(v);
            v % SAMPLE_EVERY == 0
        })
    }

    #[inline]
    pub fn record(&self, slot: usize, error: bool, micros: Option<u64>) {
        let i = slot;
        if i >= SLOTS {
            return;
        }
        self.calls[i].fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
        if let Some(us) = micros {
            let h = &self.latency[i];
            let b = BOUNDS_US.partition_point(|&b| b < us);
            if b < BOUNDS_US.len() {
                h.buckets[b].fetch_add(1, Ordering::Relaxed);
            }
            h.sum_us.fetch_add(us, Ordering::Relaxed);
            h.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (slot, calls, errors) of every command called at least once.
    pub fn calls(&self) -> Vec<(usize, u64, u64)> {
        (0..SLOTS)
            .filter_map(|i| {
                let n = self.calls[i].load(Ordering::Relaxed);
                (n > 0).then(|| (i, n, self.errors[i].load(Ordering::Relaxed)))
            })
            .collect()
    }

    /// A slot's sampled latencies: cumulative counts per bound of [`BOUNDS_US`], the sum (µs)
    /// and the count; `None` when nothing was sampled.
    pub fn latency(&self, slot: usize) -> Option<([u64; BOUNDS_US.len()], u64, u64)> {
        let h = self.latency.get(slot)?;
        let count = h.count.load(Ordering::Relaxed);
        if count == 0 {
            return None;
        }
        let mut cum = [0u64; BOUNDS_US.len()];
        let mut run = 0;
        for (b, c) in cum.iter_mut().enumerate() {
            run += h.buckets[b].load(Ordering::Relaxed);
            *c = run;
        }
        Some((cum, h.sum_us.load(Ordering::Relaxed), count))
    }

    /// The `q` quantile (0..1) of `count` latencies whose cumulative bucket counts are `cum`
    /// (as `latency` gives them), in µs: the upper bound of the bucket it falls in (past the
    /// last bound, the last bound); 0 without latencies.
    pub fn quantile_us(cum: &[u64; BOUNDS_US.len()], count: u64, q: f64) -> u64 {
        if count == 0 {
            return 0;
        }
        let want = (q * count as f64).ceil() as u64;
        let i = cum
            .iter()
            .position(|&c| c >= want)
            .unwrap_or(BOUNDS_US.len() - 1);
        BOUNDS_US[i]
    }

    pub fn reset(&self) {
        for a in self.calls.iter().chain(self.errors.iter()) {
            a.store(0, Ordering::Relaxed);
        }
        for h in self.latency.iter() {
            for b in &h.buckets {
                b.store(0, Ordering::Relaxed);
            }
            h.sum_us.store(0, Ordering::Relaxed);
            h.count.store(0, Ordering::Relaxed);
        }
    }
}
