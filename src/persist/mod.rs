//! Persistence: the mutation records today; the AOF and snapshots consume them.

pub mod mutation;
