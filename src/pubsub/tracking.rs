//! Client-side caching (CLIENT TRACKING), as Redis 6+: the server remembers which keys each
//! tracking client read and, when one changes — by any client, an expiry, an eviction, or a
//! write that arrives from another node — sends that client an invalidation (a RESP3 push,
//! or a message on `__redis__:invalidate` to the connection it redirects to). In BCAST mode
//! a client gets every change to keys under its prefixes instead.
//!
//! Changes come from the same noted Mutations as keyspace notifications (`notify::flush`
//! hands each changed key to [`Tracking::invalidate`]), so every write path is covered once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};

use super::Mailbox;
use crate::config::OutputLimit;

/// BCAST prefixes one client may register (Redis sets none): every write is checked against
/// each, and each registration against the others.
pub const MAX_PREFIXES: usize = 1024;

/// A tracking client's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mode {
    /// The client its invalidations go to (0: itself).
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Vec<u8>>,
}

struct Tracker {
    mode: Mode,
    /// Where its own invalidations land when it does not redirect.
    mailbox: Arc<Mailbox>,
}

/// The keys tracking clients read, and the clients themselves.
pub struct Tracking {
    /// Key → the clients that may cache it (one-shot: cleared when the key changes).
    table: Mutex<HashMap<Box<[u8]>, HashSet<u64>>>,
    clients: RwLock<HashMap<u64, Tracker>>,
    /// Mailboxes of connections that can receive invalidations for others (subscribers and
    /// tracking clients), by client id.
    mailboxes: RwLock<HashMap<u64, std::sync::Weak<Mailbox>>>,
    /// `tracking-table-max-keys`: past it, keys are dropped from the table (their clients
    /// told to drop them too).
    pub max_keys: AtomicUsize,
    /// Clients with tracking on (`clients.len()`, read without the lock on every write).
    active: AtomicUsize,
}

impl Default for Tracking {
    fn default() -> Tracking {
        Tracking {
            table: Default::default(),
            clients: Default::default(),
            mailboxes: Default::default(),
            max_keys: AtomicUsize::new(1_000_000),
            active: AtomicUsize::new(0),
        }
    }
}

/// An invalidation as `format` carries it: `[invalidate, [keys]]` (a null for all keys) as a
/// RESP3 push, or as a message on `__redis__:invalidate` for a RESP2 subscriber.
fn encode(resp3: bool, keys: Option<&[&[u8]]>) -> Vec<u8> {
    use crate::resp::{Out, Protocol};
    let mut out = Out::new(if resp3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    });
    out.buf.clear();
    if resp3 {
        out.push(2);
        out.bulk(b"invalidate");
    } else {
        out.array(3);
        out.bulk(b"message");
        out.bulk(b"__redis__:invalidate");
    }
    match keys {
        Some(keys) => {
            out.array(keys.len());
            for k in keys {
                out.bulk(k);
            }
        }
        // As Redis: a null bulk (`$-1` in RESP2, `_` in RESP3) for "every key".
        None => out.null(),
    }
    out.buf
}

impl Tracking {
    /// Whether any client tracks (changes need looking at).
    #[inline]
    pub fn any(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    /// Makes `mailbox` reachable as a redirect target.
    pub fn register(&self, mailbox: &Arc<Mailbox>) {
        self.mailboxes
            .write()
            .insert(mailbox.client_id, Arc::downgrade(mailbox));
    }

    pub fn enable(&self, mailbox: &Arc<Mailbox>, mode: Mode) {
        self.register(mailbox);
        let mut clients = self.clients.write();
        clients.insert(
            mailbox.client_id,
            Tracker {
                mode,
                mailbox: mailbox.clone(),
            },
        );
        self.active.store(clients.len(), Ordering::Relaxed);
    }

    /// Tracking off (CLIENT TRACKING OFF, RESET, the connection closed). Its keys stay in the
    /// table until they change; a client not tracking by then is skipped.
    pub fn disable(&self, client_id: u64) {
        let mut clients = self.clients.write();
        clients.remove(&client_id);
        self.active.store(clients.len(), Ordering::Relaxed);
    }

    /// The connection is gone: no longer a redirect target either.
    pub fn forget(&self, client_id: u64) {
        self.disable(client_id);
        self.mailboxes.write().remove(&client_id);
    }

    /// Remembers that `client_id` read `keys` (unless its mode says otherwise: the caller
    /// checks OPTIN/OPTOUT). Past `max_keys` keys, the oldest-looking ones are dropped and
    /// their clients told to drop them.
    pub fn remember<'a>(
        &self,
        client_id: u64,
        keys: impl Iterator<Item = &'a [u8]>,
        limit: OutputLimit,
    ) {
        let mut evicted: Vec<(Box<[u8]>, HashSet<u64>)> = Vec::new();
        {
            let mut t = self.table.lock();
            for k in keys {
                t.entry(k.into()).or_default().insert(client_id);
            }
            // 0: no limit, as Redis.
            let max = match self.max_keys.load(Ordering::Relaxed) {
                0 => usize::MAX,
                n => n,
            };
            while t.len() > max {
                let Some(k) = t.keys().next().cloned() else {
                    break;
                };
                if let Some(ids) = t.remove(&k) {
                    evicted.push((k, ids));
                }
            }
        }
        let clients = self.clients.read();
        for (k, ids) in evicted {
            for t in ids.iter().filter_map(|id| clients.get(id)) {
                self.deliver(t, Some(&[&k]), limit);
            }
        }
    }

    /// Keys the table holds (`tracking_total_keys` in INFO).
    pub fn keys(&self) -> usize {
        self.table.lock().len()
    }

    /// `key` changed (by client `writer`, or not by a client): every client that may cache it
    /// and every BCAST client with a matching prefix is told.
    pub fn invalidate(&self, key: &[u8], writer: Option<u64>, limit: OutputLimit) {
        let ids = self.table.lock().remove(key);
        let clients = self.clients.read();
        for id in ids.into_iter().flatten() {
            let Some(t) = clients.get(&id) else { continue };
            if t.mode.bcast || (t.mode.noloop && writer == Some(id)) {
                continue;
            }
            self.deliver(t, Some(&[key]), limit);
        }
        for (&id, t) in clients.iter() {
            if t.mode.bcast
                && !(t.mode.noloop && writer == Some(id))
                && (t.mode.prefixes.is_empty()
                    || t.mode.prefixes.iter().any(|p| key.starts_with(p)))
            {
                self.deliver(t, Some(&[key]), limit);
            }
        }
    }

    /// Every key changed (FLUSHDB, FLUSHALL): every tracking client is told to drop all.
    pub fn invalidate_all(&self, limit: OutputLimit) {
        self.table.lock().clear();
        let clients = self.clients.read();
        for t in clients.values() {
            self.deliver(t, None, limit);
        }
    }

    /// Sends one invalidation where `t`'s go, under `limit` (`client-output-buffer-limit
    /// pubsub`, as Redis counts a client's pushes).
    fn deliver(&self, t: &Tracker, keys: Option<&[&[u8]]>, limit: OutputLimit) {
        if t.mode.redirect == 0 {
            // Its own connection: only RESP3 carries pushes.
            if t.mailbox.is_resp3() {
                t.mailbox.push_raw(&encode(true, keys), limit);
            }
            return;
        }
        let target = self
            .mailboxes
            .read()
            .get(&t.mode.redirect)
            .and_then(std::sync::Weak::upgrade);
        match target {
            Some(m) if m.is_resp3() => m.push_raw(&encode(true, keys), limit),
            Some(m) if m.is_subscribed() => m.push_raw(&encode(false, keys), limit),
            Some(_) => {}
            None => {
                // As Redis: the tracking client hears its redirect is broken (RESP3 only).
                if t.mailbox.is_resp3() {
                    let mut out = crate::resp::Out::new(crate::resp::Protocol::Resp3);
                    out.buf.clear();
                    out.push(2);
                    out.bulk(b"tracking-redir-broken");
                    out.int(t.mode.redirect as i64);
                    t.mailbox.push_raw(&out.buf, limit);
                }
            }
        }
    }

    /// The mode of a tracking client.
    pub fn mode(&self, client_id: u64) -> Option<Mode> {
        self.clients.read().get(&client_id).map(|t| t.mode.clone())
    }

    /// Whether `client_id`'s redirect target is gone.
    pub fn redirect_broken(&self, client_id: u64) -> bool {
        let clients = self.clients.read();
        let Some(t) = clients.get(&client_id) else {
            return false;
        };
        t.mode.redirect != 0
            && self
                .mailboxes
                .read()
                .get(&t.mode.redirect)
                .and_then(std::sync::Weak::upgrade)
                .is_none()
    }
}
