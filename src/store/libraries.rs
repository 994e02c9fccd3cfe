//! The node's FUNCTION libraries as the store keeps them: one opaque payload (FUNCTION DUMP's)
//! with the stamp of its last change. Kept here, not in the Lua VM, so that a change goes the
//! one write path: the AOF and snapshots keep it and replication takes it to every node. The
//! script thread's VM holds the libraries compiled, and reloads them when `version` moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::Keyspace;
use super::mutation::{Mutation, Op, Origin};
use super::stamp::{Stamp, nodes};

#[derive(Default)]
pub struct Libraries {
    state: Mutex<(Stamp, Arc<[u8]>)>,
    /// Moves on every change, so the VM knows when to reload.
    version: AtomicU64,
}

impl Keyspace {
    /// The libraries: the version, the stamp of the last change (zero: never changed) and
    /// the payload (empty: none).
    pub fn libraries(&self) -> (u64, Stamp, Arc<[u8]>) {
        let s = self.libraries.state.lock();
        (
            self.libraries.version.load(Ordering::Acquire),
            s.0,
            s.1.clone(),
        )
    }

    pub fn libraries_version(&self) -> u64 {
        self.libraries.version.load(Ordering::Acquire)
    }

    /// Replaces the libraries by a local change (FUNCTION LOAD, DELETE, FLUSH, RESTORE) and
    /// publishes it; the new version.
    pub fn set_libraries(&self, payload: &[u8]) -> u64 {
        let mut s = self.libraries.state.lock();
        let stamp = self.bus.next_stamp();
        *s = (stamp, payload.into());
        // Under the lock: the AOF gets changes in the order they were made.
        self.bus.deliver_if_active(&Mutation {
            db: 0,
            stamp,
            origin: Origin::Local,
            trace: None,
            op: Op::Functions { libraries: payload },
        });
        self.libraries.version.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Applies a libraries record: in log order at replay (`lww` false), from a peer only
    /// when newer than what is held.
    pub(super) fn apply_libraries(&self, m: &Mutation<'_>, payload: &[u8], lww: bool) -> bool {
        let mut s = self.libraries.state.lock();
        if lww && !nodes::newer(m.stamp, s.0) {
            return false;
        }
        *s = (m.stamp, payload.into());
        self.bus.deliver_if_active(m);
        self.libraries.version.fetch_add(1, Ordering::AcqRel);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::store::mutation::{Bus, Mutation, Op, Origin, RecordingSink};
    use crate::store::stamp::Stamp;
    use crate::store::{Applied, Keyspace};

    fn record(lamport: u64, node: u64, payload: &[u8]) -> Mutation<'_> {
        Mutation {
            db: 0,
            stamp: Stamp { lamport, node },
            origin: Origin::Peer,
            trace: None,
            op: Op::Functions { libraries: payload },
        }
    }

    #[test]
    fn the_newest_set_wins_whatever_order_sets_arrive_in() {
        let sink = Arc::new(RecordingSink::default());
        let s = Keyspace::new(1, 2, Bus::new(1, vec![sink.clone()]));
        let v = s.set_libraries(b"local");
        assert_eq!(s.libraries_version(), v);
        let local = s.libraries().1;
        assert!(matches!(&sink.take()[..], [m] if m.stamp == local));
        // An older set from a peer changes nothing; a newer one replaces the whole set.
        let older = record(local.lamport.saturating_sub(1), 2, b"old");
        assert_eq!(s.apply_remote(&older, 0), Ok(Applied::Stale));
        assert_eq!(&*s.libraries().2, b"local");
        assert_eq!(s.libraries_version(), v);
        let newer = record(local.lamport + 5, 2, b"new");
        assert_eq!(s.apply_remote(&newer, 0), Ok(Applied::Yes));
        assert_eq!(&*s.libraries().2, b"new");
        assert!(s.libraries_version() > v);
        // The clock moved past the peer's stamp: the next local change is newer still.
        s.set_libraries(b"after");
        assert!(s.libraries().1.lamport > local.lamport + 5);
        // Replay applies in log order, older or not.
        s.apply(&record(1, 2, b"replayed"), 0).unwrap();
        assert_eq!(&*s.libraries().2, b"replayed");
        // Node-wide only.
        let mut bad = record(100, 2, b"x");
        bad.db = 1;
        assert!(s.apply_remote(&bad, 0).is_err());
    }
}
