//! The keyspace: databases of shards of entries, and the write path through [`KeyRef`].

pub mod digest;
pub mod entry;
pub mod evict;
pub mod memory;
pub mod mutation;
pub mod shard;
pub mod stamp;
#[allow(clippy::module_inception)]
pub mod store;
pub mod table;
pub mod value;

pub use entry::{Entry, EntryRef};
pub use shard::{Access, KeyRef};
pub use store::{
    Applied, BadRecord, Db, DbFigures, FilterFigures, Keyspace, MAX_LAMPORT, Multi, NAMED, Store,
    store_id,
};
pub use value::{Kind, Value, ValueRef};
