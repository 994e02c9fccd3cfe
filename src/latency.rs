//! The latency monitor (Redis's LATENCY): for each event (a command, a fast command), the
//! spikes at or above `latency-monitor-threshold` milliseconds, one sample per second (the
//! worst), the last 160 of them, and the worst ever. 0 turns it off, as in Redis.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Samples kept per event (Redis's LATENCY_TS_LEN).
const HISTORY: usize = 160;

#[derive(Debug, Clone, Default)]
pub struct Event {
    /// (unix seconds, ms), oldest first.
    pub samples: VecDeque<(u64, u64)>,
    pub max: u64,
}

#[derive(Default)]
pub struct LatencyMonitor {
    threshold_ms: AtomicU64,
    events: Mutex<BTreeMap<&'static str, Event>>,
}

impl LatencyMonitor {
    pub fn threshold_ms(&self) -> u64 {
        self.threshold_ms.load(Ordering::Relaxed)
    }

    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    #[inline]
    pub fn on(&self) -> bool {
        self.threshold_ms() > 0
    }

    /// Records `ms` for `event` if it reaches the threshold.
    pub fn observe(&self, event: &'static str, ms: u64) {
        let t = self.threshold_ms();
        if t == 0 || ms < t {
            return;
        }
        self.add(event, crate::util::time::now_ms() / 1000, ms);
    }

    fn add(&self, event: &'static str, now: u64, ms: u64) {
        let mut events = self.events.lock();
        let e = events.entry(event).or_default();
        e.max = e.max.max(ms);
        match e.samples.back_mut() {
            Some((t, worst)) if *t == now => *worst = (*worst).max(ms),
            _ => {
                e.samples.push_back((now, ms));
                if e.samples.len() > HISTORY {
                    e.samples.pop_front();
                }
            }
        }
    }

    /// Every event with samples: name, its latest sample and its worst.
    pub fn latest(&self) -> Vec<(&'static str, u64, u64, u64)> {
        let events = self.events.lock();
        events
            .iter()
            .filter_map(|(name, e)| {
                let (t, ms) = *e.samples.back()?;
                Some((*name, t, ms, e.max))
            })
            .collect()
    }

    pub fn history(&self, event: &[u8]) -> Vec<(u64, u64)> {
        let events = self.events.lock();
        events
            .iter()
            .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(event))
            .map(|(_, e)| e.samples.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Forgets the named events (all with none named); returns how many were dropped.
    pub fn reset(&self, named: &[&[u8]]) -> usize {
        let mut events = self.events.lock();
        if named.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        let before = events.len();
        events.retain(|name, _| {
            !named
                .iter()
                .any(|n| name.as_bytes().eq_ignore_ascii_case(n))
        });
        before - events.len()
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, Event> {
        self.events.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_until_a_threshold_then_one_worst_sample_per_second() {
        let m = LatencyMonitor::default();
        m.observe("command", 500);
        assert!(m.latest().is_empty(), "0 is off");
        m.set_threshold_ms(100);
        m.observe("command", 99);
        assert!(m.latest().is_empty());
        m.add("command", 10, 150);
        m.add("command", 10, 300);
        m.add("command", 10, 120);
        m.add("command", 11, 110);
        assert_eq!(m.history(b"COMMAND"), [(10, 300), (11, 110)]);
        assert_eq!(m.latest(), [("command", 11, 110, 300)]);
        for t in 12..400 {
            m.add("command", t, 100);
        }
        assert_eq!(m.history(b"command").len(), HISTORY);
        m.add("fast-command", 5, 200);
        assert_eq!(m.reset(&[b"fast-command", b"nope"]), 1);
        assert_eq!(m.reset(&[]), 1);
        assert!(m.latest().is_empty());
    }
}
