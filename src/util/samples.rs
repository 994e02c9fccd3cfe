//! The most recent values of a figure (latencies, lags), for their percentiles: a bounded
//! window, so recording costs a lock and a push, and memory stays fixed.

use std::collections::VecDeque;

use parking_lot::Mutex;

/// Values kept; older ones drop out.
const KEPT: usize = 4096;

#[derive(Default)]
pub struct Samples(Mutex<VecDeque<u64>>);

impl Samples {
    pub fn record(&self, v: u64) {
        let mut s = self.0.lock();
        if s.len() >= KEPT {
            s.pop_front();
        }
        s.push_back(v);
    }

    /// p50 and p99 of the kept values; (0, 0) before the first.
    pub fn p50_p99(&self) -> (u64, u64) {
        let mut v: Vec<u64> = self.0.lock().iter().copied().collect();
        if v.is_empty() {
            return (0, 0);
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
        (at(0.5), at(0.99))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_recent_window() {
        let s = Samples::default();
        assert_eq!(s.p50_p99(), (0, 0));
        for v in 1..=100 {
            s.record(v);
        }
        assert_eq!(s.p50_p99(), (50, 99));
        // Older values drop out once the window is full.
        for _ in 0..KEPT {
            s.record(7);
        }
        assert_eq!(s.p50_p99(), (7, 7));
    }
}
