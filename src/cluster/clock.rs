//! The Lamport clock that stamps every mutation.

use std::sync::atomic::{AtomicU64, Ordering};

/// A mutation's position in the cluster-wide order: the higher Lamport time wins, ties go to the
/// higher node number, so every replica picks the same winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Stamp {
    pub lamport: u64,
    pub node: u64,
}

#[derive(Debug)]
pub struct LamportClock {
    time: AtomicU64,
    node: u64,
}

impl LamportClock {
    pub fn new(node: u64) -> Self {
        LamportClock {
            time: AtomicU64::new(0),
            node,
        }
    }

    /// Advances the clock for a local event and returns its stamp.
    #[inline]
    pub fn tick(&self) -> Stamp {
        Stamp {
            lamport: self.time.fetch_add(1, Ordering::Relaxed) + 1,
            node: self.node,
        }
    }

    /// Moves the clock past a stamp seen from elsewhere (a peer, or the AOF at start).
    pub fn observe(&self, seen: u64) {
        self.time.fetch_max(seen, Ordering::Relaxed);
    }

    pub fn now(&self) -> u64 {
        self.time.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_increase_and_observe_moves_forward() {
        let c = LamportClock::new(7);
        assert_eq!(
            c.tick(),
            Stamp {
                lamport: 1,
                node: 7
            }
        );
        c.observe(100);
        assert_eq!(c.tick().lamport, 101);
        c.observe(5);
        assert_eq!(c.tick().lamport, 102);
        assert!(
            Stamp {
                lamport: 3,
                node: 1
            } < Stamp {
                lamport: 3,
                node: 2
            }
        );
    }
}
