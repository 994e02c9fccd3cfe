//! Clients waiting for keys (BLPOP, BZPOPMIN, ...): per key, in the order they began to wait.
//!
//! Every write to a key — a command's, a replicated one's — calls [`Waiters::touched`], which
//! wakes the first client waiting on it; that client runs its command again, and if it was
//! served and the key still has data, wakes the next ([`Waiters::done`]). So clients are
//! served first come, first served, and a write costs one relaxed load while nobody waits.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Why a waiting client stopped waiting, other than its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unblocked {
    /// CLIENT UNBLOCK (or TIMEOUT): answer as if the timeout had passed.
    Timeout,
    /// CLIENT UNBLOCK ERROR.
    Error,
}

/// One blocked client.
pub struct Waiter {
    pub client: u64,
    notify: Notify,
    unblocked: AtomicU8,
}

impl Waiter {
    pub fn new(client: u64) -> Arc<Waiter> {
        Arc::new(Waiter {
            client,
            notify: Notify::new(),
            unblocked: AtomicU8::new(0),
        })
    }

    /// Until one of its keys is written or it is unblocked (a wake-up sent before this is
    /// called is not lost).
    pub async fn woken(&self) {
        self.notify.notified().await
    }

    /// Drops a wake-up already sent. A client that ran its command and was not served calls
    /// this: the wake-ups before it were for writes its run saw (the keys' shards were locked
    /// from the run until its own writes told the waiters), so waiting on them would only run
    /// the command again for nothing — and its own run wakes it, which would never end.
    pub fn forget_wakeups(&self) {
        use futures_util::FutureExt;
        let _ = self.notify.notified().now_or_never();
    }

    pub fn unblocked(&self) -> Option<Unblocked> {
        match self.unblocked.load(Ordering::Acquire) {
            1 => Some(Unblocked::Timeout),
            2 => Some(Unblocked::Error),
            _ => None,
        }
    }
}

type Slot = (u32, Box<[u8]>);

#[derive(Default)]
pub struct Waiters {
    /// Clients waiting, read on every write.
    count: AtomicUsize,
    keys: Mutex<HashMap<Slot, VecDeque<Arc<Waiter>>>>,
    clients: Mutex<HashMap<u64, Arc<Waiter>>>,
}

impl Waiters {
    /// Clients waiting now (INFO's `blocked_clients`).
    pub fn blocked(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// A key of `db` was written: its first waiter, if any, tries again.
    #[inline]
    pub fn touched(&self, db: u32, key: &[u8]) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.wake_first(db, key);
    }

    fn wake_first(&self, db: u32, key: &[u8]) {
        let slot: Slot = (db, key.into());
        if let Some(w) = self.keys.lock().get(&slot).and_then(|q| q.front()) {
            w.notify.notify_one();
        }
    }

    /// `w` waits on `keys` of `db`, behind everyone already waiting on them.
    pub fn register(&self, db: u32, keys: &[Vec<u8>], w: &Arc<Waiter>) {
        let mut map = self.keys.lock();
        for k in keys {
            let q = map.entry((db, k.as_slice().into())).or_default();
            if !q.iter().any(|x| Arc::ptr_eq(x, w)) {
                q.push_back(w.clone());
            }
        }
        self.clients.lock().insert(w.client, w.clone());
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// `w` stops waiting. When it was served, the next client waiting on each key is woken,
    /// in case the key still holds what it waits for.
    pub fn done(&self, db: u32, keys: &[Vec<u8>], w: &Arc<Waiter>, served: bool) {
        let mut next = Vec::new();
        {
            let mut map = self.keys.lock();
            for k in keys {
                let slot: Slot = (db, k.as_slice().into());
                if let Some(q) = map.get_mut(&slot) {
                    q.retain(|x| !Arc::ptr_eq(x, w));
                    match q.front() {
                        Some(first) if served => next.push(first.clone()),
                        Some(_) => {}
                        None => {
                            map.remove(&slot);
                        }
                    }
                }
            }
        }
        self.clients.lock().remove(&w.client);
        self.count.fetch_sub(1, Ordering::Relaxed);
        for n in next {
            n.notify.notify_one();
        }
    }

    /// CLIENT UNBLOCK: whether `client` was waiting.
    pub fn unblock(&self, client: u64, how: Unblocked) -> bool {
        match self.clients.lock().get(&client) {
            Some(w) => {
                let v = match how {
                    Unblocked::Timeout => 1,
                    Unblocked::Error => 2,
                };
                w.unblocked.store(v, Ordering::Release);
                w.notify.notify_one();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_waiter_is_woken_and_passes_it_on_when_served() {
        let ws = Waiters::default();
        let (a, b) = (Waiter::new(1), Waiter::new(2));
        let keys = vec![b"q".to_vec()];
        ws.register(0, &keys, &a);
        ws.register(0, &keys, &b);
        assert_eq!(ws.blocked(), 2);
        ws.touched(0, b"other");
        ws.touched(0, b"q");
        // Only `a` holds a wake-up; `b` does not.
        tokio::time::timeout(std::time::Duration::from_secs(1), a.woken())
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), b.woken())
                .await
                .is_err()
        );
        ws.done(0, &keys, &a, true);
        tokio::time::timeout(std::time::Duration::from_secs(1), b.woken())
            .await
            .unwrap();
        assert!(ws.unblock(2, Unblocked::Error));
        assert_eq!(b.unblocked(), Some(Unblocked::Error));
        ws.done(0, &keys, &b, false);
        assert_eq!(ws.blocked(), 0);
        assert!(!ws.unblock(2, Unblocked::Timeout));
        assert!(ws.keys.lock().is_empty());
    }
}
