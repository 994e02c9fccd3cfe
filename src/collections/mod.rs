//! The structures behind Redis's collection types, written here because their memory per
//! element and their operations are the product: a packed run of byte strings for small
//! collections (`pack`, Redis's listpack) and tables keyed by a per-process secret hash for
//! large ones (the elements are chosen by clients, so a fixed hash could be flooded). And
//! `hll`: Redis's HyperLogLog, whose bytes are Redis's own.

pub mod edit;
pub mod hash;
pub mod hll;
pub mod lazyfree;
pub mod list;
pub mod names;
pub mod pack;
pub mod set;
pub mod zset;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub use hash::Hash;
pub use list::List;
pub use pack::Pack;
pub use set::Set;
pub use zset::ZSet;

/// The thresholds at which a collection leaves its packed encoding (Redis's `*-max-listpack-*`
/// parameters; Redis 7.0's defaults). Process-wide, as Redis's are: CONFIG SET changes them
/// for every store at once.
pub struct Limits {
    /// `list-max-listpack-size`: a list node's size class (negative) or element count.
    pub list_fill: AtomicI64,
    /// `list-compress-depth`: plain nodes at each end of a list; the rest compressed.
    pub list_compress: AtomicU64,
    pub hash_entries: AtomicU64,
    pub hash_value: AtomicU64,
    pub set_entries: AtomicU64,
    pub zset_entries: AtomicU64,
    pub zset_value: AtomicU64,
    /// `hll-sparse-max-bytes`: where a HyperLogLog leaves its sparse encoding.
    pub hll_sparse_bytes: AtomicU64,
}

pub static LIMITS: Limits = Limits {
    list_fill: AtomicI64::new(-2),
    list_compress: AtomicU64::new(2),
    hash_entries: AtomicU64::new(512),
    hash_value: AtomicU64::new(64),
    set_entries: AtomicU64::new(512),
    zset_entries: AtomicU64::new(128),
    zset_value: AtomicU64::new(64),
    hll_sparse_bytes: AtomicU64::new(3000),
};

impl Limits {
    /// Clamped as Redis's quicklist clamps it (16 bits).
    pub fn list_compress(&self) -> u16 {
        self.list_compress
            .load(Ordering::Relaxed)
            .min(u16::MAX as u64) as u16
    }

    pub fn hash_entries(&self) -> usize {
        self.hash_entries.load(Ordering::Relaxed) as usize
    }

    pub fn hash_value(&self) -> usize {
        self.hash_value.load(Ordering::Relaxed) as usize
    }

    pub fn set_entries(&self) -> usize {
        self.set_entries.load(Ordering::Relaxed) as usize
    }

    pub fn zset_entries(&self) -> usize {
        self.zset_entries.load(Ordering::Relaxed) as usize
    }

    pub fn zset_value(&self) -> usize {
        self.zset_value.load(Ordering::Relaxed) as usize
    }

    pub fn hll_sparse_bytes(&self) -> usize {
        self.hll_sparse_bytes.load(Ordering::Relaxed) as usize
    }
}

static SEED: LazyLock<u64> = LazyLock::new(|| fastrand::u64(..));

/// The hash of an element in a table: keyed by a secret chosen at start-up.
#[inline]
pub fn hash_of(b: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(b, *SEED)
}
