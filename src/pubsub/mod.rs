//! Pub/sub: who listens to which channel, and the delivery of messages to them.
//!
//! A subscribed connection owns a [`Mailbox`]: publishers append the encoded message to its
//! buffer (in the subscriber's protocol) and wake it; the connection writes what accumulated
//! whenever it is woken, between its own commands. A subscriber that does not read is cut off
//! by `client-output-buffer-limit pubsub` (hard bytes, or soft bytes for longer than its
//! seconds), measured on what waits in its mailbox, instead of growing memory without bound.
//!
//! In a cluster a message published on one node reaches the subscribers of every node: it
//! travels to each peer on the replication stream (`Replicator::publish_message`), in order
//! after the writes made before it, and each node delivers it to its own subscribers once.

pub mod monitor;
pub mod notify;
pub mod tracking;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::config::OutputLimit;
use crate::resp::{Out, Protocol};

/// A tracking client's own view of its mode, kept on its connection for the checks every
/// command makes (the shared copy is `tracking::Tracking`'s).
#[derive(Debug, Clone, Default)]
pub struct TrackState {
    pub mode: tracking::Mode,
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) applies to the next command.
    pub caching: bool,
}

/// After a command of a tracking client: remembers the keys a read served it (as its mode
/// says), and lets CLIENT CACHING's flag lapse after the command that followed it.
pub fn track_read(
    node: &crate::node::Node,
    client_id: u64,
    t: &mut TrackState,
    cmd: &'static crate::command::Command,
    args: &crate::resp::Args<'_>,
    ok: bool,
) {
    use crate::command::table::{READONLY, full_name};
    let caching_cmd = full_name(cmd) == "client|caching";
    if ok && cmd.has(READONLY) && !t.mode.bcast && !cmd.group.eq("pubsub") {
        let wanted = if t.mode.optin {
            t.caching
        } else if t.mode.optout {
            !t.caching
        } else {
            true
        };
        if wanted {
            let idx = cmd.key_indexes(args);
            if !idx.is_empty() {
                let limit = node.settings.output_limits().pubsub;
                node.pubsub
                    .tracking
                    .remember(client_id, idx.iter().map(|&i| &args[i]), limit);
            }
        }
    }
    if !caching_cmd {
        t.caching = false;
    }
}

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The word of SUBSCRIBE's confirmation and UNSUBSCRIBE's.
    pub fn verbs(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
            Kind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }
}

/// How a subscriber wants its messages: a RESP connection's protocol, or Server-Sent Events
/// for the HTTP API's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Resp2 = 0,
    Resp3 = 1,
    Sse = 2,
}

impl Format {
    fn of(proto: Protocol) -> Format {
        match proto {
            Protocol::Resp2 => Format::Resp2,
            Protocol::Resp3 => Format::Resp3,
        }
    }
}

/// Where a subscriber's messages wait for its connection.
pub struct Mailbox {
    pub client_id: u64,
    /// How messages are encoded (a connection's protocol is kept current by HELLO).
    format: AtomicU8,
    buf: Mutex<Vec<u8>>,
    wake: tokio::sync::Notify,
    /// Over its output limit: the connection closes.
    cut: AtomicBool,
    /// Notified once, when `cut` is set: a connection blocked writing to a client that does
    /// not read stops waiting.
    cut_notify: tokio::sync::Notify,
    /// When the buffer went over the soft limit (ms since the epoch; 0: it is under).
    soft_since: AtomicU64,
    /// Subscribed to something: a RESP2 connection can take invalidations as messages.
    subscribed: AtomicBool,
}

impl Mailbox {
    pub fn new(client_id: u64, proto: Protocol) -> Arc<Mailbox> {
        Self::with_format(client_id, Format::of(proto))
    }

    pub fn with_format(client_id: u64, format: Format) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            client_id,
            format: AtomicU8::new(format as u8),
            buf: Mutex::new(Vec::new()),
            wake: tokio::sync::Notify::new(),
            cut: AtomicBool::new(false),
            cut_notify: tokio::sync::Notify::new(),
            soft_since: AtomicU64::new(0),
            subscribed: AtomicBool::new(false),
        })
    }

    pub fn set_protocol(&self, proto: Protocol) {
        self.format
            .store(Format::of(proto) as u8, Ordering::Relaxed);
    }

    fn format(&self) -> Format {
        match self.format.load(Ordering::Relaxed) {
            0 => Format::Resp2,
            1 => Format::Resp3,
            _ => Format::Sse,
        }
    }

    pub fn is_resp3(&self) -> bool {
        self.format() == Format::Resp3
    }

    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    pub fn set_subscribed(&self, on: bool) {
        self.subscribed.store(on, Ordering::Relaxed);
    }

    /// Appends bytes already encoded for this connection (an invalidation) under `limit`.
    pub fn push_raw(&self, msg: &[u8], limit: OutputLimit) {
        self.deliver(msg, limit, crate::util::time::now_ms());
    }

    /// Waits until something was delivered (or the subscriber was cut off).
    pub async fn delivered(&self) {
        self.wake.notified().await
    }

    /// Moves what waits into `out`; false once the subscriber is over its limit.
    pub fn take_into(&self, out: &mut Vec<u8>) -> bool {
        let mut b = self.buf.lock();
        if out.is_empty() {
            std::mem::swap(out, &mut b);
        } else {
            out.extend_from_slice(&b);
            b.clear();
        }
        drop(b);
        self.soft_since.store(0, Ordering::Relaxed);
        !self.cut.load(Ordering::Acquire)
    }

    /// Waits until the subscriber is cut off.
    pub async fn until_cut(&self) {
        loop {
            let cut = self.cut_notify.notified();
            if self.is_cut() {
                return;
            }
            cut.await;
        }
    }

    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }

    /// Appends one message already encoded in this mailbox's protocol, then applies the limit.
    fn deliver(&self, msg: &[u8], limit: OutputLimit, now_ms: u64) {
        if self.is_cut() {
            return;
        }
        let len = {
            let mut b = self.buf.lock();
            b.extend_from_slice(msg);
            b.len() as u64
        };
        let over = if limit.hard > 0 && len > limit.hard {
            true
        } else if limit.soft > 0 && len > limit.soft {
            let since = match self.soft_since.compare_exchange(
                0,
                now_ms,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => now_ms,
                Err(s) => s,
            };
            now_ms.saturating_sub(since) >= limit.soft_secs * 1000
        } else {
            false
        };
        if over && !self.cut.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                component = "pubsub",
                action = "output_buffer_limit",
                client = self.client_id,
                pending = len,
                "Client scheduled to be closed ASAP for overcoming of output buffer limits."
            );
            // Its messages are of no use any more.
            *self.buf.lock() = Vec::new();
            self.cut_notify.notify_one();
        }
        self.wake.notify_one();
        DELIVERIES.with(|d| d.set(d.get().wrapping_add(1)));
    }
}

thread_local! {
    /// Messages this thread put in mailboxes: a connection whose batch published sees it
    /// move (`deliveries`).
    static DELIVERIES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A count of the messages this thread delivered so far; only its changes mean anything.
pub fn deliveries() -> u64 {
    DELIVERIES.with(|d| d.get())
}

/// Per channel (or pattern): its listeners by client id.
type Listeners = RwLock<HashMap<Box<[u8]>, HashMap<u64, Arc<Mailbox>>>>;

/// Who listens where, on this node.
#[derive(Default)]
pub struct Hub {
    channels: Listeners,
    shard: Listeners,
    patterns: Listeners,
    /// Ids for subscribers that are not RESP clients (the HTTP API's streams).
    next_stream: AtomicU64,
    /// `notify-keyspace-events` (`notify::parse`'s flags).
    notify_flags: std::sync::atomic::AtomicU32,
    /// Keyspace notifications for writes that arrive from peers (`notify_replicated_writes`).
    notify_replicated: AtomicBool,
    /// Client-side caching: who may cache which key.
    pub tracking: tracking::Tracking,
    /// MONITOR's clients.
    pub monitors: monitor::Monitors,
}

impl Hub {
    fn table(&self, kind: Kind) -> &Listeners {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    /// Calls `f(client, is_pattern, name)` for every subscription of the given clients.
    pub fn each_subscription(&self, clients: &[u64], mut f: impl FnMut(u64, bool, &[u8])) {
        for kind in [Kind::Channel, Kind::Shard, Kind::Pattern] {
            for (name, subs) in self.table(kind).read().iter() {
                for id in clients.iter().filter(|id| subs.contains_key(id)) {
                    f(*id, kind == Kind::Pattern, name);
                }
            }
        }
    }

    /// Adds `mailbox` to the listeners of `name`; false when it was there already.
    pub fn subscribe(&self, kind: Kind, name: &[u8], mailbox: &Arc<Mailbox>) -> bool {
        self.table(kind)
            .write()
            .entry(name.into())
            .or_default()
            .insert(mailbox.client_id, mailbox.clone())
            .is_none()
    }

    pub fn unsubscribe(&self, kind: Kind, name: &[u8], client_id: u64) {
        let mut t = self.table(kind).write();
        if let Some(subs) = t.get_mut(name) {
            subs.remove(&client_id);
            if subs.is_empty() {
                t.remove(name);
            }
        }
    }

    /// Delivers a message to this node's subscribers; returns how many received it. `shard`:
    /// SPUBLISH's (shard channel subscribers only). `limit`: `client-output-buffer-limit
    /// pubsub`.
    pub fn publish(
        &self,
        channel: &[u8],
        message: &[u8],
        shard: bool,
        limit: OutputLimit,
    ) -> usize {
        let now = crate::util::time::now_ms();
        // Encoded once per format, on first need.
        let mut encoded: [Option<Vec<u8>>; 3] = [None, None, None];
        let kind = if shard { "smessage" } else { "message" };
        let send = |m: &Mailbox, pattern: Option<&[u8]>, enc: &mut [Option<Vec<u8>>; 3]| {
            let format = m.format();
            if let Some(p) = pattern {
                m.deliver(&encode(format, kind, Some(p), channel, message), limit, now);
                return;
            }
            let bytes = enc[format as usize]
                .get_or_insert_with(|| encode(format, kind, None, channel, message));
            m.deliver(bytes, limit, now);
        };
        let mut n = 0;
        let table = if shard { &self.shard } else { &self.channels };
        if let Some(subs) = table.read().get(channel) {
            for m in subs.values() {
                send(m, None, &mut encoded);
                n += 1;
            }
        }
        if !shard {
            for (pattern, subs) in self.patterns.read().iter() {
                if crate::util::glob::glob_match(pattern, channel, false) {
                    for m in subs.values() {
                        send(m, Some(pattern), &mut encoded);
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Channels (or shard channels) with at least one subscriber, matching `pattern` if given.
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Box<[u8]>> {
        self.table(kind)
            .read()
            .keys()
            .filter(|c| pattern.is_none_or(|p| crate::util::glob::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of a channel (or shard channel).
    pub fn count(&self, kind: Kind, name: &[u8]) -> usize {
        self.table(kind).read().get(name).map_or(0, HashMap::len)
    }

    pub fn notify_flags(&self) -> u32 {
        self.notify_flags.load(Ordering::Relaxed)
    }

    pub fn set_notify_flags(&self, flags: u32) {
        self.notify_flags.store(flags, Ordering::Relaxed);
    }

    pub fn notify_replicated(&self) -> bool {
        self.notify_replicated.load(Ordering::Relaxed)
    }

    pub fn set_notify_replicated(&self, on: bool) {
        self.notify_replicated.store(on, Ordering::Relaxed);
    }

    /// An id for a subscriber that is not a RESP client, apart from every client id.
    pub fn stream_id(&self) -> u64 {
        (1 << 63) | self.next_stream.fetch_add(1, Ordering::Relaxed)
    }

    /// Distinct patterns subscribed to (PUBSUB NUMPAT).
    pub fn patterns(&self) -> usize {
        self.patterns.read().len()
    }
}

/// A message as `format` carries it: `[message, channel, payload]` (`smessage` for a shard
/// channel), `[pmessage, pattern, channel, payload]` for a pattern's subscriber; an SSE event
/// with the same as JSON.
fn encode(
    format: Format,
    kind: &str,
    pattern: Option<&[u8]>,
    channel: &[u8],
    message: &[u8],
) -> Vec<u8> {
    let proto = match format {
        Format::Resp2 => Protocol::Resp2,
        Format::Resp3 => Protocol::Resp3,
        Format::Sse => {
            let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let mut event = serde_json::json!({
                "channel": lossy(channel),
                "message": lossy(message),
            });
            if let Some(p) = pattern {
                event["pattern"] = lossy(p).into();
            }
            // JSON text holds no raw newline: one `data:` line.
            return format!("event: {kind}\ndata: {event}\n\n").into_bytes();
        }
    };
    let mut out = Out::new(proto);
    out.buf = Vec::with_capacity(channel.len() + message.len() + 48);
    match pattern {
        Some(p) => {
            out.push(4);
            out.bulk(b"pmessage");
            out.bulk(p);
        }
        None => {
            out.push(3);
            out.bulk(kind.as_bytes());
        }
    }
    out.bulk(channel);
    out.bulk(message);
    out.buf
}

/// A connection's subscriptions.
#[derive(Default)]
pub struct Subscriptions {
    pub mailbox: Option<Arc<Mailbox>>,
    pub channels: HashSet<Box<[u8]>>,
    pub patterns: HashSet<Box<[u8]>>,
    pub shard: HashSet<Box<[u8]>>,
}

impl Subscriptions {
    pub fn of(&self, kind: Kind) -> &HashSet<Box<[u8]>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    pub fn of_mut(&mut self, kind: Kind) -> &mut HashSet<Box<[u8]>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count SUBSCRIBE and kin report: channels and patterns together, shard channels on
    /// their own (as Redis 7).
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    /// In Redis's "subscribed" context (RESP2 allows only the pub/sub commands then).
    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }

    /// Leaves every subscription (the connection closes or RESETs).
    pub fn leave_all(&mut self, hub: &Hub) {
        let Some(id) = self.mailbox.as_ref().map(|m| m.client_id) else {
            return;
        };
        hub.monitors.remove(id);
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.of_mut(kind).drain() {
                hub.unsubscribe(kind, &name, id);
            }
        }
    }
}
