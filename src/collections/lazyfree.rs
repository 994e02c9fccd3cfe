//! Freeing big collections off the I/O threads, as Redis's lazyfree: a collection of more
//! than [`THRESHOLD`] elements hands its storage to a background thread when it is dropped —
//! by DEL, UNLINK, an overwrite, eviction, expiry, a flush or a replicated change alike — so
//! freeing a million allocations never stalls the clients of the thread that dropped it.

use std::any::Any;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};

/// Redis's `LAZYFREE_THRESHOLD`: below it, freeing inline is cheaper than the hand-off.
pub const THRESHOLD: usize = 64;

static PENDING: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

type Garbage = Box<dyn Any + Send>;

static QUEUE: LazyLock<Option<Sender<Garbage>>> = LazyLock::new(|| {
    let (tx, rx) = channel::<Garbage>();
    std::thread::Builder::new()
        .name("lazyfree".into())
        .spawn(move || {
            for g in rx {
                drop(g);
                PENDING.fetch_sub(1, Ordering::Relaxed);
                FREED.fetch_add(1, Ordering::Relaxed);
            }
        })
        .ok()
        .map(|_| tx)
});

/// Frees `v` on the background thread (inline if that thread could not be started).
pub fn later<T: Send + 'static>(v: T) {
    match QUEUE.as_ref() {
        Some(tx) => {
            PENDING.fetch_add(1, Ordering::Relaxed);
            if let Err(back) = tx.send(Box::new(v)) {
                PENDING.fetch_sub(1, Ordering::Relaxed);
                drop(back);
            }
        }
        None => drop(v),
    }
}

/// INFO's `lazyfree_pending_objects` and `lazyfreed_objects`.
pub fn figures() -> (u64, u64) {
    (
        PENDING.load(Ordering::Relaxed),
        FREED.load(Ordering::Relaxed),
    )
}
