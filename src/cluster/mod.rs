//! Cluster pieces; today the Lamport clock that stamps every mutation.

pub mod clock;
