//! The consistent-hash ring: 256 virtual nodes per node at xxhash64 (seed 0) of
//! `"<node_id>:<i>"`; a key's replicas are the first RF distinct nodes clockwise from the
//! xxhash64 of the key (of its hash tag when it has one: `store::digest::hash_tag`).
//!
//! Written here rather than taken from a crate because its exact placement is part of the
//! cluster's contract: every node must compute the same replicas for a key.

use xxhash_rust::xxh64::xxh64;

pub const VNODES: usize = 256;

/// A ring over a set of node ids (live members, this node included).
#[derive(Debug, Clone, Default)]
pub struct Ring {
    nodes: Vec<String>,
    /// (position, index into `nodes`), sorted by position.
    points: Vec<(u64, u32)>,
}

use crate::store::digest::key_position;

impl Ring {
    pub fn new(mut nodes: Vec<String>) -> Ring {
        nodes.sort();
        nodes.dedup();
        let mut points = Vec::with_capacity(nodes.len() * VNODES);
        for (i, n) in nodes.iter().enumerate() {
            for v in 0..VNODES {
                points.push((xxh64(format!("{n}:{v}").as_bytes(), 0), i as u32));
            }
        }
        points.sort_unstable();
        Ring { nodes, points }
    }

    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// Each node's share of the hash space (the arcs that end at its points), in `nodes`'
    /// order; they sum to 1.
    pub fn shares(&self) -> Vec<f64> {
        let mut owned = vec![0u128; self.nodes.len()];
        let Some(&(last, _)) = self.points.last() else {
            return Vec::new();
        };
        let mut prev = last;
        for &(p, n) in &self.points {
            // The arc after the previous point, wrapping past u64::MAX for the first.
            owned[n as usize] += u128::from(p.wrapping_sub(prev));
            prev = p;
        }
        // A single point owns the whole ring (its arc wraps to itself: zero above).
        if self.points.len() == 1 {
            return vec![1.0];
        }
        let total: u128 = owned.iter().sum();
        owned
            .iter()
            .map(|&o| {
                if total == 0 {
                    0.0
                } else {
                    o as f64 / total as f64
                }
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The first `rf` distinct nodes clockwise from `position` (all nodes when rf ≥ size).
    pub fn replicas_at(&self, position: u64, rf: usize) -> Vec<&str> {
        let want = rf.min(self.nodes.len());
        let mut out: Vec<&str> = Vec::with_capacity(want);
        if want == 0 {
            return out;
        }
        let start = self.points.partition_point(|&(p, _)| p < position);
        for i in 0..self.points.len() {
            let (_, n) = self.points[(start + i) % self.points.len()];
            let name = self.nodes[n as usize].as_str();
            if !out.contains(&name) {
                out.push(name);
                if out.len() == want {
                    break;
                }
            }
        }
        out
    }

    pub fn replicas(&self, key: &[u8], rf: usize) -> Vec<&str> {
        self.replicas_at(key_position(key), rf)
    }

    /// Whether `node` holds a replica of `key`.
    pub fn holds(&self, node: &str, key: &[u8], rf: usize) -> bool {
        rf >= self.nodes.len() || self.replicas(key, rf).contains(&node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ring(n: usize) -> Ring {
        Ring::new((1..=n).map(|i| format!("node-{i}")).collect())
    }

    #[test]
    fn replicas_are_distinct_and_stable() {
        let r = ring(5);
        for k in 0..1000 {
            let key = format!("key{k}");
            let reps = r.replicas(key.as_bytes(), 3);
            assert_eq!(reps.len(), 3);
            let mut d = reps.clone();
            d.sort();
            d.dedup();
            assert_eq!(d.len(), 3);
            // Every node computes the same set from the same members, whatever their order.
            let other = Ring::new(vec![
                "node-5".into(),
                "node-3".into(),
                "node-1".into(),
                "node-4".into(),
                "node-2".into(),
            ]);
            assert_eq!(other.replicas(key.as_bytes(), 3), reps);
        }
    }

    #[test]
    fn keys_spread_evenly() {
        let r = ring(4);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for k in 0..40_000 {
            let key = format!("key{k}");
            *counts.entry(r.replicas(key.as_bytes(), 1)[0]).or_default() += 1;
        }
        for (n, c) in &counts {
            assert!((7_000..13_000).contains(c), "{n} got {c} of 40000");
        }
    }

    #[test]
    fn shares_cover_the_ring_and_are_near_even() {
        let r = Ring::new(vec!["a".into(), "b".into(), "c".into()]);
        let s = r.shares();
        assert_eq!(s.len(), 3);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{s:?}");
        // 256 virtual nodes each: every share within a few points of a third.
        assert!(s.iter().all(|&x| (0.25..0.42).contains(&x)), "{s:?}");
        assert_eq!(
            Ring::new(vec!["solo".into()]).shares().iter().sum::<f64>(),
            1.0
        );
        assert!(Ring::new(vec![]).shares().is_empty());
    }

    #[test]
    fn a_node_leaving_moves_only_its_keys() {
        let before = ring(4);
        let after = Ring::new((1..=3).map(|i| format!("node-{i}")).collect());
        let mut moved = 0;
        for k in 0..10_000 {
            let key = format!("key{k}");
            let a = before.replicas(key.as_bytes(), 1)[0];
            let b = after.replicas(key.as_bytes(), 1)[0];
            if a != b {
                assert_eq!(a, "node-4", "only node-4's keys move");
                moved += 1;
            }
        }
        assert!(moved > 1_500 && moved < 3_500, "{moved}");
    }

    #[test]
    fn rf_larger_than_the_cluster_means_everyone() {
        let r = ring(3);
        assert_eq!(r.replicas(b"k", 10).len(), 3);
        assert!(r.holds("node-2", b"anything", 3));
        assert!(Ring::new(vec![]).replicas(b"k", 2).is_empty());
    }
}
