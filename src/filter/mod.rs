//! Probabilistic filters: the cuckoo filter behind each store's negative lookups and the
//! RedisBloom-compatible CF.* values.

pub mod cuckoo;

pub use cuckoo::CuckooFilter;
