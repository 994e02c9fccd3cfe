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

    /// Moves the clock past a stamp seen from elsewhere (a peer, or the AOF at start). Records
    /// are validated before they get here; the cap keeps `tick` from ever overflowing anyway.
    pub fn observe(&self, seen: u64) {
        self.time
            .fetch_max(seen.min(crate::store::MAX_LAMPORT), Ordering::Relaxed);
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

/// Node ids seen by this process, so that an entry can hold its stamp in 8 bytes (48 bits of
/// Lamport time, 16 bits of a local node index) and ties can be broken by node id.
pub mod nodes {
    use std::sync::LazyLock;

    // Fx: the keys are xxhash values already; SipHash showed in every replicated record.
    use rustc_hash::FxHashMap as HashMap;

    use parking_lot::RwLock;

    use super::Stamp;

    #[derive(Default)]
    struct Table {
        /// Index → (hash, node id if known). Index 0 is "no node".
        entries: Vec<(u64, Option<String>)>,
        by_hash: HashMap<u64, u16>,
    }

    static TABLE: LazyLock<RwLock<Table>> = LazyLock::new(|| {
        RwLock::new(Table {
            entries: vec![(0, None)],
            by_hash: HashMap::default(),
        })
    });

    /// The 64-bit number a node id travels as in stamps.
    pub fn hash(node_id: &str) -> u64 {
        xxhash_rust::xxh64::xxh64(node_id.as_bytes(), 0)
    }

    /// Registers a node id (from configuration or gossip) so ties can compare names.
    pub fn register(node_id: &str) -> u64 {
        let h = hash(node_id);
        let idx = index(h);
        let mut t = TABLE.write();
        t.entries[idx as usize].1 = Some(node_id.to_string());
        h
    }

    /// This process's own node and its index: almost every stamp a node packs is its own, and
    /// an index never changes once given, so this spares the lock and the hash map.
    static LOCAL: std::sync::OnceLock<(u64, u16)> = std::sync::OnceLock::new();

    /// Registers the node this process runs (the first one registered this way, when tests
    /// run several in one process).
    pub fn register_local(node_id: &str) -> u64 {
        let h = register(node_id);
        let _ = LOCAL.set((h, index(h)));
        h
    }

    fn index(h: u64) -> u16 {
        if h == 0 {
            return 0;
        }
        match LOCAL.get() {
            Some(&(local, i)) if local == h => i,
            _ => lookup(h),
        }
    }

    fn lookup(h: u64) -> u16 {
        if let Some(&i) = TABLE.read().by_hash.get(&h) {
            return i;
        }
        let mut t = TABLE.write();
        if let Some(&i) = t.by_hash.get(&h) {
            return i;
        }
        // Past 65,535 distinct nodes in one process lifetime the last index is shared; ties
        // between those then fall back to comparing hashes, which all replicas still agree on.
        let i = u16::try_from(t.entries.len()).unwrap_or(u16::MAX);
        if (i as usize) == t.entries.len() {
            t.entries.push((h, None));
        }
        t.by_hash.insert(h, i);
        i
    }

    /// Packs a stamp into 8 bytes for storage in an entry.
    pub fn pack(s: Stamp) -> u64 {
        (s.lamport.min((1 << 48) - 1) << 16) | index(s.node) as u64
    }

    pub fn unpack(p: u64) -> Stamp {
        let idx = (p & 0xFFFF) as usize;
        let node = match LOCAL.get() {
            Some(&(local, i)) if i as usize == idx => local,
            _ => TABLE.read().entries.get(idx).map_or(0, |e| e.0),
        };
        Stamp {
            lamport: p >> 16,
            node,
        }
    }

    /// The node id behind a hash, when known.
    pub fn name(h: u64) -> Option<String> {
        let t = TABLE.read();
        let i = *t.by_hash.get(&h)?;
        t.entries.get(i as usize).and_then(|e| e.1.clone())
    }

    /// The cluster-wide order of writes: the higher Lamport time wins; on a tie the higher
    /// node id (compared as strings, as every replica can) wins.
    pub fn newer(a: Stamp, b: Stamp) -> bool {
        if a.lamport != b.lamport {
            return a.lamport > b.lamport;
        }
        if a.node == b.node {
            return false;
        }
        match (name(a.node), name(b.node)) {
            (Some(x), Some(y)) => x > y,
            _ => a.node > b.node,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn packs_and_orders() {
            let a = register("node-a");
            let b = register("node-b");
            let s = Stamp {
                lamport: 42,
                node: a,
            };
            assert_eq!(unpack(pack(s)), s);
            assert!(newer(
                Stamp {
                    lamport: 43,
                    node: a
                },
                Stamp {
                    lamport: 42,
                    node: b
                }
            ));
            // Tie: the higher node id wins, by name.
            assert!(newer(
                Stamp {
                    lamport: 7,
                    node: b
                },
                Stamp {
                    lamport: 7,
                    node: a
                }
            ));
            assert!(!newer(
                Stamp {
                    lamport: 7,
                    node: a
                },
                Stamp {
                    lamport: 7,
                    node: b
                }
            ));
            assert!(!newer(s, s));
            assert_eq!(unpack(0), Stamp::default());
        }
    }
}
