//! Where a key sits in the cluster's hash space, and the per-range digests anti-entropy
//! compares: they are computed over the data, so they live with it.

use super::stamp::Stamp;

/// Ranges the key space is split into for digests (by the top bits of the key's position).
pub const RANGES: usize = 256;

/// A key's position on the consistent-hash ring: xxhash64, seed 0.
#[inline]
pub fn key_position(key: &[u8]) -> u64 {
    xxhash_rust::xxh64::xxh64(key, 0)
}

/// The range a key falls in.
#[inline]
pub fn range_of(key: &[u8]) -> usize {
    (key_position(key) >> 56) as usize
}

/// Contribution of one live key version to its range's digest.
#[inline]
pub fn digest_of(key: &[u8], stamp: Stamp) -> u64 {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    h.update(key);
    h.update(&stamp.lamport.to_le_bytes());
    h.update(&stamp.node.to_le_bytes());
    h.digest()
}
