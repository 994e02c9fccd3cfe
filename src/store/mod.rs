//! The keyspace: stores of databases of shards of entries, and the write path through [`KeyRef`].

pub mod apply;
pub mod databases;
pub mod db;
pub mod digest;
pub mod entry;
pub mod evict;
pub mod keyspace;
pub mod libraries;
pub mod memory;
pub mod multi;
pub mod mutation;
pub mod named;
pub mod pressure;
pub mod shard;
pub mod stamp;
pub mod table;
pub mod value;
pub mod waiters;

pub use apply::{Applied, BadRecord, MAX_LAMPORT};
pub use db::{Db, DbFigures};
pub use entry::{Entry, EntryRef};
pub use keyspace::Keyspace;
pub use multi::Multi;
pub use named::{FilterFigures, NAMED, Store, store_id};
pub use shard::{Access, KeyRef};
pub use value::{Kind, Value, ValueRef};
