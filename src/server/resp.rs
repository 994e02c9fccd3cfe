//! A RESP connection: its read → parse → execute → write loop, with the limits that keep a
//! client from growing memory (query buffer, output buffer) and the backpressure between them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::conn::Conn;

use crate::client::{Action, ClientInfo, ClientState, ReplyMode};
use crate::command::{self, Command, Ctx};
use crate::error::DENIED;
use crate::node::Node;
use crate::resp::{Frame, Limits, Out, Parser, Protocol};
use crate::util::time::now_ms;
use crate::write;

/// Adaptive busy polling on an I/O thread: after serving a batch the thread keeps polling for
/// new events (without sleeping in `epoll_wait`) for a short window. Under load this removes
/// the sleep/wake-up and its context switch from the request path; when traffic stops the
/// thread goes back to sleeping within the window.
pub mod busy_poll {
    use std::cell::Cell;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tokio::sync::Notify;

    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
        static SPINNING: Cell<bool> = const { Cell::new(false) };
        /// Connections of this thread waiting for their writes to become durable.
        static WAITING: Cell<u32> = const { Cell::new(0) };
        static WAKE: Arc<Notify> = Arc::new(Notify::new());
    }

    /// Notes that this thread just served a request (wakes the spinner if it sleeps).
    #[inline]
    pub fn activity() {
        LAST.with(|l| l.set(Some(Instant::now())));
        if !SPINNING.with(|s| s.get()) {
            WAKE.with(|w| w.notify_one());
        }
    }

    /// This thread's connections now wait on another thread (a script runs): stop polling,
    /// so the CPU goes to that thread rather than to a spinning one.
    pub fn pause() {
        LAST.with(|l| l.set(None));
    }

    /// Keeps the thread polling while a connection waits for an fsync, so the reply leaves the
    /// moment the writer reports it durable.
    pub async fn waiting<F: std::future::Future>(f: F) -> F::Output {
        WAITING.with(|w| w.set(w.get() + 1));
        activity();
        let r = f.await;
        WAITING.with(|w| w.set(w.get().saturating_sub(1)));
        r
    }

    /// Runs on each I/O thread: while requests keep arriving within `window`, it keeps the
    /// runtime busy by yielding, and the runtime polls the OS for events between yields
    /// instead of sleeping.
    pub async fn spinner(window: Duration) {
        if window.is_zero() {
            return;
        }
        let wake = WAKE.with(|w| w.clone());
        loop {
            SPINNING.with(|s| s.set(false));
            wake.notified().await;
            SPINNING.with(|s| s.set(true));
            loop {
                tokio::task::yield_now().await;
                let waiting = WAITING.with(|w| w.get()) > 0;
                if !waiting && LAST.with(|l| l.get()).is_none_or(|t| t.elapsed() > window) {
                    break;
                }
            }
        }
    }
}

/// Bytes read per `read()` at least (Redis's PROTO_IOBUF_LEN).
const READ_CHUNK: usize = 16 * 1024;
/// The most one `read()` asks for, once reads keep coming back full.
const MAX_READ: usize = 1024 * 1024;
/// Replies buffered past this are written before the next command of a pipeline runs.
const OUT_CHUNK: usize = 1024 * 1024;
/// An output buffer larger than this after a write (one huge reply) is let go at once.
const OUT_KEEP: usize = 4 * OUT_CHUNK;
/// Buffers above this size go back to their resting size when the client is idle this long.
const RESTING: usize = 4 * READ_CHUNK;
const IDLE_SHRINK: Duration = Duration::from_secs(1);

/// What a connection has read and not executed yet: `buf[start..]`.
///
/// Memory follows the bytes received, never a header's claim: a read may ask for at most as
/// much as the buffer holds, or twice what the last read brought when that one filled its
/// room, so a client that announces a 512 MB argument gets memory only as fast as it sends
/// the bytes. Copies are few: an empty buffer starts over at its front for free, and a frame is
/// moved to the front only when it cannot complete where it is, not each time a read arrives.
struct Query {
    buf: Vec<u8>,
    start: usize,
    /// What the next read may ask for (doubled after a read that filled its room).
    read_size: usize,
    /// Bytes moved within or between buffers (for the tests).
    #[cfg(test)]
    moved: usize,
}

impl Query {
    fn new() -> Query {
        Query {
            buf: Vec::with_capacity(READ_CHUNK),
            start: 0,
            read_size: READ_CHUNK,
            #[cfg(test)]
            moved: 0,
        }
    }

    #[inline]
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    #[inline]
    fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Makes room for the next read and returns it. `need`: bytes the frame in progress
    /// still lacks at least (0 between frames).
    fn prepare(&mut self, need: usize) -> usize {
        let held = self.len();
        let room = need.clamp(self.read_size, held.max(self.read_size));
        let cap = self.buf.capacity();
        let spare = cap - self.buf.len();
        // Reading where the buffer ends is free, and so is letting a frame complete there;
        // moving it (or growing the buffer) copies what has arrived of it.
        if spare >= room || (spare >= need && spare >= READ_CHUNK) {
            return spare;
        }
        if self.start > 0 && cap - held >= room {
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(held);
        } else {
            // Only the unread bytes move to the larger buffer.
            let mut grown = Vec::with_capacity(held + room);
            grown.extend_from_slice(self.pending());
            self.buf = grown;
        }
        self.start = 0;
        #[cfg(test)]
        {
            self.moved += held;
        }
        self.buf.capacity() - held
    }

    /// Notes that a read with `room` bytes of room brought `n`.
    fn received(&mut self, n: usize, room: usize) {
        if n >= room {
            self.read_size = (self.read_size * 2).min(MAX_READ);
        } else if n < self.read_size / 4 {
            self.read_size = (self.read_size / 2).max(READ_CHUNK);
        }
    }
}
/// Takes a new TCP connection: refuses it past maxclients, otherwise serves it on its own task.
pub fn accept(node: &Arc<Node>, stream: Conn, peer: SocketAddr) {
    node.stats
        .total_connections_received
        .fetch_add(1, Ordering::Relaxed);
    let _ = stream.tcp().set_nodelay(true);
    let max = node.settings.maxclients.load(Ordering::Relaxed) as usize;
    if node.clients.len() >= max {
        node.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut stream = stream;
            let _ = stream
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
        });
        return;
    }
    if node.settings.refuses_remote(node.acl.auth_required())
        && !peer.ip().to_canonical().is_loopback()
    {
        node.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(component = "resp", action = "protected_mode", addr = %peer, "refused a remote client: protected mode, no password, no cluster secret");
        tokio::spawn(async move {
            let mut stream = stream;
            let _ = stream.write_all(DENIED.as_bytes()).await;
        });
        return;
    }
    let laddr = stream
        .tcp()
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let fd = raw_fd(stream.tcp());
    let info = node.clients.register(peer, laddr, fd);
    let node = node.clone();
    tokio::spawn(async move {
        let id = info.id;
        match serve(&node, stream, info, None).await {
            Some(moving) => carry(node, moving),
            None => node.clients.unregister(id),
        }
    });
}

/// A connection between two batches, with what it carries from one thread to another.
struct Carried {
    stream: std::net::TcpStream,
    info: Arc<ClientInfo>,
    state: Resumed,
}

/// A connection's own state between batches: the client, and the request bytes already read.
struct Resumed {
    client: ClientState,
    parser: Parser,
    query: Query,
    need: usize,
}

/// Batches in a row with scripts in them after which a connection moves to the script
/// thread's event loop: its scripts then run there inline, without two thread hand-offs each.
const SCRIPT_BATCHES_TO_MOVE: u32 = 4;
/// Batches in a row without a script after which a connection on the script thread moves
/// back to an I/O thread: there it runs beside the others, and a script that runs too long
/// no longer holds it.
const PLAIN_BATCHES_TO_RETURN: u32 = 16;

/// Moves a connection to the script thread (it keeps sending scripts) or from it, back to an
/// I/O thread (it stopped), where it is served on as before. A script that runs too long
/// holds only the connections on the script thread; every other connection keeps its own
/// thread, gets -BUSY and may send SCRIPT KILL.
fn carry(node: Arc<Node>, c: Carried) {
    let id = c.info.id;
    let back = crate::script::on_script_thread();
    let there = node.clone();
    let resume: Box<dyn FnOnce() + Send> = Box::new(move || {
        tokio::spawn(async move {
            let id = c.info.id;
            if let Ok(stream) = TcpStream::from_std(c.stream)
                && let Some(next) = serve(&there, Conn::Plain(stream), c.info, Some(c.state)).await
            {
                return carry(there, next);
            }
            there.clients.unregister(id);
        });
    });
    // Counted before it goes: its next reply, from there, comes after the count.
    let counter = if back {
        &node.scripts.returned
    } else {
        &node.scripts.moved
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let moved = if back {
        node.scripts.to_io.get().is_some_and(|f| f(resume))
    } else {
        node.scripts.run_there(&node, resume)
    };
    if !moved {
        counter.fetch_sub(1, Ordering::Relaxed);
        node.clients.unregister(id);
    }
}

#[cfg(unix)]
fn raw_fd(s: &TcpStream) -> i32 {
    use std::os::fd::AsRawFd;
    s.as_raw_fd()
}

#[cfg(not(unix))]
fn raw_fd(_s: &TcpStream) -> i32 {
    -1
}

/// The connection loop: read what arrived, execute every complete command in order, send all
/// replies in one write. A command never awaits, so a slow client only ever delays itself.
///
/// `resumed`: the state of a connection that moved here from another thread. Returns it when
/// the connection moves on (to the script thread).
async fn serve(
    node: &Node,
    mut stream: Conn,
    info: Arc<ClientInfo>,
    resumed: Option<Resumed>,
) -> Option<Carried> {
    let Resumed {
        mut client,
        mut parser,
        mut query,
        // What the frame in progress still lacks, at least (0 between frames).
        mut need,
    } = resumed.unwrap_or_else(|| Resumed {
        client: ClientState::opened(info.clone(), &node.acl),
        parser: Parser::new(),
        query: Query::new(),
        need: 0,
    });
    let mut out = Out::new(Protocol::Resp2);
    // Batches in a row that ran scripts, and that ran none.
    let mut script_batches = 0u32;
    let mut plain_batches = 0u32;
    // What this connection's replies to writes wait for (`appendfsync always`, `quorum`),
    // and what the writes of the batch left to settle.
    let waits = write::Waits::of(node);
    let mut receipt = write::Receipt::default();
    // Connections to other nodes, for commands forwarded there, and the batch's run of
    // forwarded commands not yet sent (one owner; sent together, answered in order).
    let mut peers = Forwarder::default();
    let mut run = ForwardRun::default();
    // The batch's run of scripts not yet handed to the script thread.
    let mut scripts: Vec<crate::script::Job> = Vec::new();
    'conn: loop {
        let room = query.prepare(need);
        // A request stuck half-way (no byte for `request_timeout`) closes the connection; an
        // idle one between requests is left to `timeout`.
        let stall = node.config.network.request_timeout;
        let pending = query.len();
        let big = query.buf.capacity() > RESTING || out.buf.capacity() > RESTING;
        let r = if let Some(mailbox) = client.subs.mailbox.clone() {
            // A subscriber waits for its next command or its next message, whichever comes.
            tokio::select! {
                biased;
                _ = mailbox.delivered() => {
                    if !mailbox.take_into(&mut out.buf)
                        || flush(&mut stream, &mut out, node, &client).await.is_err()
                    {
                        break 'conn;
                    }
                    continue 'conn;
                }
                r = stream.read_buf(&mut query.buf) => r,
            }
        } else if pending == 0 && big {
            // The buffers of a burst are let go once the client pauses.
            match tokio::time::timeout(IDLE_SHRINK, stream.read_buf(&mut query.buf)).await {
                Ok(r) => r,
                Err(_) => {
                    query = Query::new();
                    out.buf = Vec::with_capacity(READ_CHUNK);
                    continue;
                }
            }
        } else if pending == 0 || stall.is_zero() {
            stream.read_buf(&mut query.buf).await
        } else {
            match tokio::time::timeout(stall, stream.read_buf(&mut query.buf)).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::info!(component = "resp", action = "request_timeout", client = client.id, addr = %info.addr, pending, "closing a client whose request stopped half-way");
                    break;
                }
            }
        };
        let n = match r {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        query.received(n, room);
        let now = now_ms();
        let delivered_before = crate::pubsub::deliveries();
        let mut start = 0;
        let mut commands = 0u64;
        let mut last_command = 0usize;
        // When the batch's misses began to be checked with the peers: every request of the
        // batch arrived before it, so one read-index answer covers them all.
        let mut arrived: Option<std::time::Instant> = None;
        client.vouched = false;
        need = 0;
        // Where each write's reply sits, in case its write cannot be settled and the reply
        // must become an error.
        let mut writes: Vec<(usize, usize)> = Vec::new();
        let mut batch_scripts = false;
        loop {
            let limits = Limits {
                max_bulk_len: node.settings.proto_max_bulk_len(),
                unauthenticated: !client.authenticated && node.acl.auth_required(),
            };
            let frame = parser.parse(&query.pending()[start..], &limits);
            match frame {
                Ok(Frame::Command { len }) => {
                    let args = parser.args(&query.pending()[start..]);
                    // A command that will not join the run waits for its replies: it may
                    // read or write what they changed (and its reply comes after theirs).
                    if run.count > 0 && command::owner_target(node, &client, &args) != run.addr {
                        run.send(node, &mut peers, &client, &mut out).await;
                    }
                    // So does one after a run of scripts (EVALs only check their arguments
                    // before theirs runs: they may join it).
                    if !scripts.is_empty() && !is_script(&args) {
                        run_scripts(
                            node,
                            &mut scripts,
                            &mut out,
                            waits,
                            &mut receipt,
                            &mut writes,
                        )
                        .await;
                    }
                    let mut mark = out.buf.len();
                    let mode = client.reply_mode;
                    let before = (waits.any() && is_write(&args))
                        .then(|| write::Mark::take(node, waits.acks));
                    let ran = {
                        let mut cx = Ctx {
                            node,
                            client: &mut client,
                            out: &mut out,
                            now,
                            command: None,
                        };
                        command::execute(&mut cx, args)
                    };
                    if let Some(c) = ran {
                        last_command = c as *const Command as usize;
                    }
                    if let Some(m) = before {
                        receipt.merge(m.receipt(node));
                    }
                    commands += 1;
                    start += len;
                    match client.action {
                        Some(Action::Forward(addr))
                            if ran.is_some_and(joins_run) && run.joins(addr) =>
                        {
                            client.action = None;
                            run.add(addr, &client, &args, &out, mode == ReplyMode::On);
                        }
                        _ if run.count > 0 => {
                            // Answered here after all (an error before routing), or an action
                            // follows: the run's replies come first.
                            let own = out.buf.split_off(mark);
                            run.send(node, &mut peers, &client, &mut out).await;
                            mark = out.buf.len();
                            out.buf.extend_from_slice(&own);
                        }
                        _ => {}
                    }
                    if run.full() {
                        run.send(node, &mut peers, &client, &mut out).await;
                    }
                    // A pipeline's consecutive scripts go to the script thread together; an
                    // EVAL answered at once (an error) waits for those before it.
                    // (Not a peer's HCFWD: its reply must come before the clock that follows.)
                    if matches!(client.action, Some(Action::Script(_)))
                        && client.peer.is_none()
                        && run.count == 0
                        && mode == ReplyMode::On
                        && out.buf.len() == mark
                        && let Some(Action::Script(job)) = client.action.take()
                    {
                        scripts.push(job);
                        batch_scripts = true;
                        if scripts.len() >= RUN_COMMANDS {
                            run_scripts(
                                node,
                                &mut scripts,
                                &mut out,
                                waits,
                                &mut receipt,
                                &mut writes,
                            )
                            .await;
                        }
                    } else if !scripts.is_empty()
                        && (out.buf.len() > mark || client.action.is_some())
                    {
                        let own = out.buf.split_off(mark);
                        run_scripts(
                            node,
                            &mut scripts,
                            &mut out,
                            waits,
                            &mut receipt,
                            &mut writes,
                        )
                        .await;
                        mark = out.buf.len();
                        out.buf.extend_from_slice(&own);
                    }
                    apply_reply_mode(&mut client, &mut out, mark, mode);
                    if waits.any() && out.buf.len() > mark && is_write(&args) {
                        writes.push((mark, out.buf.len()));
                    }
                    if client.close_after_reply {
                        break;
                    }
                    // Replies past this size leave before more commands run: a client that
                    // pipelines requests and never reads holds one chunk, not gigabytes.
                    if out.buf.len() >= OUT_CHUNK && client.action.is_none() {
                        settle_replies(node, &mut out, &mut writes, &mut receipt).await;
                        if flush(&mut stream, &mut out, node, &client).await.is_err() {
                            break 'conn;
                        }
                    }
                    // An action may lead to another: a repaired or re-routed command can
                    // be forwarded, or block.
                    while let Some(action) = client.action.take() {
                        match action {
                            Action::Shutdown => {
                                node.request_shutdown();
                                break 'conn;
                            }
                            Action::Save => {
                                let n = node.arc();
                                let r = tokio::task::spawn_blocking(move || {
                                    match n.as_ref().and_then(|n| {
                                        n.persistence.as_ref().map(|p| p.save(&n.store))
                                    }) {
                                        Some(Ok(_)) => Ok(()),
                                        Some(Err(e)) => Err(e.to_string()),
                                        None => Err("persistence is disabled".to_string()),
                                    }
                                })
                                .await;
                                match r {
                                    Ok(Ok(())) => out.ok(),
                                    Ok(Err(e)) => out.error(&format!("ERR {e}")),
                                    Err(_) => out.error("ERR the save was interrupted"),
                                }
                            }
                            Action::Repair(db, keys) => {
                                let since = *arrived.get_or_insert_with(std::time::Instant::now);
                                let read = node.cluster.read(&node.store, db, &keys, since).await;
                                client.vouched = read.everyone_vouched;
                                client.repaired = true;
                                let before = (waits.any() && is_write(&args))
                                    .then(|| write::Mark::take(node, waits.acks));
                                super::blocked::run_again(node, &mut client, &mut out, args);
                                if let Some(m) = before {
                                    receipt.merge(m.receipt(node));
                                }
                                client.repaired = false;
                            }
                            Action::Forward(addr) => {
                                match forward(
                                    node, &mut peers, addr, &client, args, &mut out, &stream,
                                )
                                .await
                                {
                                    Forwarded::Done => {}
                                    Forwarded::ClientGone => break 'conn,
                                    // It routes to the keys' new owner, or runs here.
                                    Forwarded::OwnerLeft => {
                                        super::blocked::run_again(node, &mut client, &mut out, args)
                                    }
                                }
                            }
                            Action::ForwardAs(addr, instead) => {
                                match forward(
                                    node,
                                    &mut peers,
                                    addr,
                                    &client,
                                    instead.args(),
                                    &mut out,
                                    &stream,
                                )
                                .await
                                {
                                    Forwarded::Done => {}
                                    Forwarded::ClientGone => break 'conn,
                                    // Only a blocking command waits there; this is not one.
                                    Forwarded::OwnerLeft => out.error(
                                        "TRYAGAIN the node owning these keys left; run it again",
                                    ),
                                }
                            }
                            Action::Script(job) => {
                                scripts.push(job);
                                batch_scripts = true;
                                run_scripts(
                                    node,
                                    &mut scripts,
                                    &mut out,
                                    waits,
                                    &mut receipt,
                                    &mut writes,
                                )
                                .await;
                            }
                            Action::WatchAt(addr) => {
                                watch_at(node, &mut peers, addr, &mut client, args, &mut out).await
                            }
                            Action::Block(b) => {
                                let owned = crate::resp::OwnedArgs::copy(&args);
                                let before =
                                    waits.any().then(|| write::Mark::take(node, waits.acks));
                                let mark = out.buf.len();
                                if !super::blocked::wait(
                                    node,
                                    &mut client,
                                    &mut out,
                                    &stream,
                                    &owned,
                                    b,
                                )
                                .await
                                {
                                    break 'conn;
                                }
                                if let Some(m) = before {
                                    receipt.merge(m.receipt(node));
                                    if out.buf.len() > mark {
                                        writes.push((mark, out.buf.len()));
                                    }
                                }
                            }
                            Action::Sleep(d) => {
                                tokio::time::sleep(d).await;
                                if mode == ReplyMode::On && client.reply_mode == ReplyMode::On {
                                    out.ok();
                                }
                            }
                        }
                    }
                    // After a forwarded command's reply, this node's Lamport time: the
                    // forwarding node moves its clock past it, so its client's next write
                    // there is stamped after this one (INCR here, then SET there, wins).
                    if client.peer.is_some() && args[0].eq_ignore_ascii_case(b"hcfwd") {
                        out.int(node.store.bus().clock().now() as i64);
                    }
                }
                Ok(Frame::Empty { len }) => start += len,
                Ok(Frame::Incomplete { hint }) => {
                    need = hint;
                    break;
                }
                Err(e) => {
                    run.send(node, &mut peers, &client, &mut out).await;
                    let mut msg = b"ERR Protocol error: ".to_vec();
                    msg.extend_from_slice(&e.0);
                    out.error_bytes(&msg);
                    tracing::debug!(component = "resp", action = "protocol_error", client = client.id, error = %String::from_utf8_lossy(&e.0), "protocol error, closing connection");
                    client.close_after_reply = true;
                    break;
                }
            }
        }
        run.send(node, &mut peers, &client, &mut out).await;
        run_scripts(
            node,
            &mut scripts,
            &mut out,
            waits,
            &mut receipt,
            &mut writes,
        )
        .await;
        query.consume(start);
        node.stats
            .total_commands_processed
            .fetch_add(commands, Ordering::Relaxed);
        node.stats
            .net_input_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        info.last_ms.store(now, Ordering::Relaxed);
        info.qbuf.store(query.len(), Ordering::Relaxed);
        if last_command != 0 {
            info.set_last_command_address(last_command);
        }
        settle_replies(node, &mut out, &mut writes, &mut receipt).await;
        // Peers' traffic (replication batches every millisecond, read-index questions) does
        // not keep the thread spinning: on a machine the nodes share, a replica spinning after
        // each batch takes the cores the node serving clients needs.
        if client.peer.is_none() {
            busy_poll::activity();
        }
        // Let the other connections made ready by the same poll read their requests first, so
        // replies leave together (as Redis writes them all before sleeping): clients then get
        // their replies in bursts, which is what lets a client's own loop keep up. Not after
        // a batch that delivered messages: the subscribers it woke would all write before
        // the publisher hears back, and it could not send its next batch meanwhile (Redis
        // too answers the publisher first).
        if crate::pubsub::deliveries() == delivered_before {
            tokio::task::yield_now().await;
        }
        if let Some(m) = &client.subs.mailbox
            && !m.take_into(&mut out.buf)
        {
            break;
        }
        if flush(&mut stream, &mut out, node, &client).await.is_err() || client.close_after_reply {
            break;
        }
        let in_progress = query.len() as u64;
        if in_progress
            > node
                .settings
                .client_query_buffer_limit
                .load(Ordering::Relaxed)
        {
            tracing::warn!(
                component = "resp",
                action = "query_buffer_limit",
                client = client.id,
                bytes = in_progress,
                "closing client that reached max query buffer length"
            );
            break;
        }
        (script_batches, plain_batches) = if batch_scripts {
            (script_batches.saturating_add(1), 0)
        } else {
            (0, plain_batches.saturating_add(1))
        };
        let here = crate::script::on_script_thread();
        if ((!here && script_batches >= SCRIPT_BATCHES_TO_MOVE)
            || (here && plain_batches >= PLAIN_BATCHES_TO_RETURN))
            && client.peer.is_none()
            && client.subs.mailbox.is_none()
            && client.tracking.is_none()
        {
            // (Nothing to leave: no subscriptions, no tracking.) A TLS session stays where
            // it is: its scripts go to the script thread batch by batch.
            let stream = match stream.into_std() {
                Ok(Ok(s)) => s,
                Ok(Err(_)) => {
                    info.forget_socket();
                    return None;
                }
                Err(tls) => {
                    stream = tls;
                    continue;
                }
            };
            return Some(Carried {
                stream,
                info,
                state: Resumed {
                    client,
                    parser,
                    query,
                    need,
                },
            });
        }
    }
    client.subs.leave_all(&node.pubsub);
    if client.tracking.is_some() || client.subs.mailbox.is_some() {
        node.pubsub.tracking.forget(client.id);
        node.refresh_notes();
    }
    info.forget_socket();
    let _ = stream.shutdown().await;
    None
}

/// Holds the batch's write replies until their writes are settled (fsynced under `appendfsync
/// always`, acknowledged under `quorum`/`all`, sharing the fsync and the acknowledgements with
/// every other client's writes). When that fails, the write replies become the error: MISCONF
/// (the data stays in memory, queued for the disk, but is not acknowledged) or TRYAGAIN (the
/// write is applied here and possibly on some replicas; retrying is safe, the newest wins).
async fn settle_replies(
    node: &Node,
    out: &mut Out,
    writes: &mut Vec<(usize, usize)>,
    receipt: &mut write::Receipt,
) {
    let r = std::mem::take(receipt);
    if writes.is_empty() {
        return;
    }
    let settled =
        match busy_poll::waiting(write::durable(node, r.aof, write::WaitOn::IoThread)).await {
            Ok(()) => write::acknowledged(node, r).await,
            Err(e) => Err(e),
        };
    if let Err(e) = settled {
        replace_segments(out, writes, &e.to_string());
    }
    writes.clear();
}

fn is_script(args: &crate::resp::Args<'_>) -> bool {
    ["eval", "evalsha", "eval_ro", "evalsha_ro"]
        .iter()
        .any(|n| args[0].eq_ignore_ascii_case(n.as_bytes()))
}

/// Runs a connection's pending scripts on the script thread and appends their replies; their
/// writes settle as any write's do (fsync, acknowledgements).
async fn run_scripts(
    node: &Node,
    scripts: &mut Vec<crate::script::Job>,
    out: &mut Out,
    waits: write::Waits,
    receipt: &mut write::Receipt,
    writes: &mut Vec<(usize, usize)>,
) {
    if scripts.is_empty() {
        return;
    }
    let n = scripts.len();
    let before = waits.any().then(|| write::Mark::take(node, waits.acks));
    let mark = out.buf.len();
    busy_poll::pause();
    match node.scripts.submit(node, std::mem::take(scripts)).await {
        Ok(done) => {
            for d in done {
                out.buf.extend_from_slice(&d.reply);
            }
        }
        Err(_) => {
            for _ in 0..n {
                out.error("ERR the script thread is gone");
            }
        }
    }
    if let Some(m) = before {
        receipt.merge(m.receipt(node));
        if out.buf.len() > mark {
            writes.push((mark, out.buf.len()));
        }
    }
}

/// Whether a command is a client's write (internal commands between nodes settle nothing).
fn is_write(args: &crate::resp::Args<'_>) -> bool {
    // A forwarded write is settled (fsync, acks) here, where it runs, before its reply goes.
    let name = if args[0].eq_ignore_ascii_case(b"hcfwd") {
        match args.get(3) {
            Some(n) => n,
            None => return false,
        }
    } else {
        &args[0]
    };
    // EXEC may write: its reply waits as a write's does.
    name.eq_ignore_ascii_case(b"exec")
        || name.eq_ignore_ascii_case(b"hcexec")
        || command::table::lookup(name)
            .is_some_and(|c| c.has(command::table::WRITE) && !c.has(command::table::INTERNAL))
}

/// Replaces the replies at `segments` (start, end) of `out` with the error `msg`.
fn replace_segments(out: &mut Out, segments: &[(usize, usize)], msg: &str) {
    let mut rebuilt = Vec::with_capacity(out.buf.len());
    let mut at = 0;
    for &(s, e) in segments {
        if s < at || e > out.buf.len() {
            continue;
        }
        rebuilt.extend_from_slice(&out.buf[at..s]);
        rebuilt.push(b'-');
        rebuilt.extend_from_slice(msg.as_bytes());
        rebuilt.extend_from_slice(b"\r\n");
        at = e;
    }
    rebuilt.extend_from_slice(&out.buf[at..]);
    out.buf = rebuilt;
}

/// A connection's links to the owners it forwards to.
#[derive(Default)]
struct Forwarder {
    conns: std::collections::HashMap<SocketAddr, crate::cluster::peer_conn::PeerConn>,
    /// Per owner: `ClientState::local_writes` when the owner last had all of them.
    synced: std::collections::HashMap<SocketAddr, u64>,
}

/// Before a write is forwarded: the client's earlier writes made here must be on the owner
/// first (SET here, then INCR there, must increment what was set). Waits for the owner to
/// acknowledge this node's stream up to now, at most `SESSION_WAIT`.
async fn session_order(node: &Node, fw: &mut Forwarder, addr: SocketAddr, client: &ClientState) {
    if fw.synced.get(&addr).copied().unwrap_or(0) >= client.local_writes {
        return;
    }
    let repl = &node.cluster.replicator;
    if let Some(peer) = repl.peers().into_iter().find(|p| p.addr() == Some(addr)) {
        let queued = peer.queued();
        let _ = tokio::time::timeout(SESSION_WAIT, async {
            loop {
                let changed = peer.acked_changed.notified();
                if peer.acked.load(std::sync::atomic::Ordering::Acquire) >= queued {
                    return;
                }
                changed.await;
            }
        })
        .await;
    }
    fw.synced.insert(addr, client.local_writes);
}

/// How long a forwarded write waits for the client's earlier local writes to reach the owner.
const SESSION_WAIT: Duration = Duration::from_secs(1);

/// Whether a forwarded command may wait in a run: Redis's `fast` ones (O(1), O(log n)), so
/// the owner answers a run in about the time of one; a slow one (LINSERT into a long list)
/// goes alone, with its own wait.
fn joins_run(c: &Command) -> bool {
    c.has(command::table::FAST) && !c.has(command::table::BLOCKING)
}

fn is_blocking(args: &crate::resp::Args<'_>) -> bool {
    command::table::lookup(&args[0]).is_some_and(|c| c.has(command::table::BLOCKING))
}

/// `HCFWD <db> <protocol> <command…>`: the command as its owner runs it for this client.
fn hcfwd_frame(frame: &mut Vec<u8>, client: &ClientState, args: &crate::resp::Args<'_>, out: &Out) {
    let db = client.db.to_string();
    let proto: &[u8] = if out.resp3() { b"3" } else { b"2" };
    let mut argv: Vec<&[u8]> = vec![b"HCFWD", db.as_bytes(), proto];
    argv.extend(args.iter());
    crate::cluster::peer_conn::encode_command(frame, &argv);
}

/// A batch's run of non-blocking commands for one owner, held until something else needs the
/// connection's order: then sent in one write, their replies read in order. A pipeline sent
/// to a node that owns none of its keys costs one round trip to the owner, not one per command.
#[derive(Default)]
struct ForwardRun {
    addr: Option<SocketAddr>,
    frames: Vec<u8>,
    /// Per command: whether its reply is sent (CLIENT REPLY OFF/SKIP drop it).
    keep: Vec<bool>,
    count: usize,
}

/// Most commands or bytes a run holds before it is sent.
const RUN_COMMANDS: usize = 1024;
const RUN_BYTES: usize = 1024 * 1024;

impl ForwardRun {
    fn joins(&self, addr: SocketAddr) -> bool {
        self.count == 0 || self.addr == Some(addr)
    }

    fn add(
        &mut self,
        addr: SocketAddr,
        client: &ClientState,
        args: &crate::resp::Args<'_>,
        out: &Out,
        keep: bool,
    ) {
        self.addr = Some(addr);
        hcfwd_frame(&mut self.frames, client, args, out);
        self.keep.push(keep);
        self.count += 1;
    }

    fn full(&self) -> bool {
        self.count >= RUN_COMMANDS || self.frames.len() >= RUN_BYTES
    }

    /// Sends the run and appends its replies to `out` (an error for each command the owner
    /// did not answer); empty afterwards.
    async fn send(&mut self, node: &Node, fw: &mut Forwarder, client: &ClientState, out: &mut Out) {
        let Some(addr) = self.addr.take() else {
            return;
        };
        let (frames, keep) = (
            std::mem::take(&mut self.frames),
            std::mem::take(&mut self.keep),
        );
        self.count = 0;
        let mut replies = Replies::default();
        let unanswered = forward_run(node, fw, addr, client, &frames, keep.len(), &mut replies)
            .await
            .err()
            .unwrap_or_default();
        let mut at = 0;
        for (i, kept) in keep.into_iter().enumerate() {
            match replies.ends.get(i) {
                Some(&end) if kept => out.buf.extend_from_slice(&replies.buf[at..end]),
                Some(_) => {}
                None if kept => out.error(&unanswered),
                None => {}
            }
            at = replies.ends.get(i).copied().unwrap_or(at);
        }
    }
}

/// The connection to the owner at `addr`: the one kept from earlier forwards (`true`: it may
/// turn out closed), or a new one.
async fn owner_conn<'p>(
    node: &Node,
    peers: &'p mut std::collections::HashMap<SocketAddr, crate::cluster::peer_conn::PeerConn>,
    addr: SocketAddr,
) -> std::io::Result<(&'p mut crate::cluster::peer_conn::PeerConn, bool)> {
    use std::collections::hash_map::Entry;
    match peers.entry(addr) {
        Entry::Occupied(c) => Ok((c.into_mut(), true)),
        Entry::Vacant(slot) => {
            let auth = &node.cluster.replicator.auth;
            let c =
                crate::cluster::peer_conn::PeerConn::connect(addr, Duration::from_secs(1), auth)
                    .await?;
            Ok((slot.insert(c), false))
        }
    }
}

/// How long a forward waits for the owner to take its commands or to send the next reply.
const FORWARD_WAIT: Duration = Duration::from_secs(5);

/// A run's replies as they came, one after another in `buf`, each ending at its `ends` entry.
#[derive(Default)]
struct Replies {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

/// Sends `count` forwarded commands (`frames`) to `addr` and appends their replies
/// to `replies`, as many as came (each with the owner's clock, which
/// this node's moves past). Each reply gets 5 s. It is sent again only when a kept connection
/// turns out closed before any reply was read: a command is never run twice because an
/// answer was slow. `Err`: the error for the commands left unanswered.
async fn forward_run(
    node: &Node,
    fw: &mut Forwarder,
    addr: SocketAddr,
    client: &ClientState,
    frames: &[u8],
    count: usize,
    replies: &mut Replies,
) -> Result<(), String> {
    let Replies { buf, ends } = replies;
    use crate::cluster::peer_conn::Reply;
    node.cluster
        .stats
        .forwarded
        .fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed);
    session_order(node, fw, addr, client).await;
    let peers = &mut fw.conns;
    let silent = || format!("TRYAGAIN the node holding this key ({addr}) did not answer");
    for attempt in 0..2 {
        let (c, kept) = match owner_conn(node, peers, addr).await {
            Ok(c) => c,
            Err(e) => {
                return Err(format!(
                    "TRYAGAIN cannot reach the node holding this key ({addr}): {e}"
                ));
            }
        };
        // Each step gets 5 s: a run of slow commands (LINSERT into a long list) is not cut
        // short by its length, a silent owner is.
        let step =
            |e: tokio::time::error::Elapsed| std::io::Error::new(std::io::ErrorKind::TimedOut, e);
        let call = async {
            tokio::time::timeout(FORWARD_WAIT, c.send_raw(frames))
                .await
                .map_err(step)??;
            while ends.len() < count {
                let clock = tokio::time::timeout(FORWARD_WAIT, async {
                    c.read_reply_raw(buf).await?;
                    c.read_reply().await
                })
                .await
                .map_err(step)??;
                match clock {
                    Reply::Int(t) => node.store.bus().clock().observe(t.max(0) as u64),
                    _ => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "a forwarded reply without the owner's clock",
                        ));
                    }
                }
                ends.push(buf.len());
            }
            Ok::<_, std::io::Error>(())
        };
        let r = call.await;
        if let Err(e) = &r {
            tracing::warn!(component = "resp", action = "forward_failed", owner = %addr, answered = ends.len(), of = count, error = %e, "a forwarded run broke off");
        }
        // What a broken reply left half-read is dropped.
        let whole = ends.last().copied().unwrap_or(0);
        let broke_mid_reply = buf.len() > whole;
        buf.truncate(whole);
        match r {
            Ok(()) => return Ok(()),
            Err(_) if kept && attempt == 0 && ends.is_empty() && !broke_mid_reply => {
                peers.remove(&addr);
            }
            _ => {
                // Replies past a failure cannot be matched to their commands.
                peers.remove(&addr);
                return Err(silent());
            }
        }
    }
    Err(silent())
}

/// WATCH of keys the node at `addr` owns: asks it for their versions (HCVERSIONS) and keeps
/// them, so the transaction that runs there is judged by its versions.
async fn watch_at(
    node: &Node,
    fw: &mut Forwarder,
    addr: SocketAddr,
    client: &mut ClientState,
    args: crate::resp::Args<'_>,
    out: &mut Out,
) {
    let keys = command::transaction::unwatched(client, &args);
    let argv = std::iter::once(&b"HCVERSIONS"[..]).chain(keys.iter().map(|k| &*k.1));
    let ask = crate::resp::OwnedArgs::of(argv);
    let mut frame = Vec::new();
    hcfwd_frame(&mut frame, client, &ask.args(), out);
    let mut replies = Replies::default();
    if let Err(e) = forward_run(node, fw, addr, client, &frame, 1, &mut replies).await {
        out.error(&e);
        return;
    }
    let raw = &replies.buf;
    if raw.first() == Some(&b'-') {
        out.buf.extend_from_slice(raw);
        return;
    }
    let versions =
        bulk_payload(raw).and_then(|blob| command::transaction::parse_versions(blob, keys.len()));
    let Some(versions) = versions else {
        out.error("ERR the owner of the watched keys sent an unreadable answer");
        return;
    };
    client.watch_owner = Some(addr);
    client.watched.extend(keys.into_iter().zip(versions));
    out.ok();
}

/// The payload of a whole RESP bulk string.
fn bulk_payload(raw: &[u8]) -> Option<&[u8]> {
    let rest = raw.strip_prefix(b"$")?;
    let eol = rest.iter().position(|&b| b == b'\r')?;
    let len: usize = std::str::from_utf8(&rest[..eol]).ok()?.parse().ok()?;
    let body = rest.get(eol + 2..)?;
    (body.len() == len + 2 && body.ends_with(b"\r\n")).then(|| &body[..len])
}

/// How a forwarded command ended.
enum Forwarded {
    /// Its reply (or an error saying why there is none) is in `out`.
    Done,
    /// The client went away while a blocking command waited on the owner.
    ClientGone,
    /// The owner left the cluster while a blocking command waited there: run it again.
    OwnerLeft,
}

/// Runs a command on the node at `addr` (`HCFWD`) and relays its reply. A non-blocking one is
/// a run of one (`ForwardRun`); a blocking one waits as long as the owner keeps it, while the
/// client is there and the owner is a live member. It is sent again only when a kept
/// connection turns out closed before anything was read: a command is never run twice
/// because an answer was slow.
async fn forward(
    node: &Node,
    fw: &mut Forwarder,
    addr: SocketAddr,
    client: &ClientState,
    args: crate::resp::Args<'_>,
    out: &mut Out,
    stream: &Conn,
) -> Forwarded {
    if !is_blocking(&args) {
        let mut run = ForwardRun::default();
        run.add(addr, client, &args, out, true);
        run.send(node, fw, client, out).await;
        return Forwarded::Done;
    }
    node.cluster
        .stats
        .forwarded
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut frame = Vec::new();
    hcfwd_frame(&mut frame, client, &args, out);
    session_order(node, fw, addr, client).await;
    let peers = &mut fw.conns;
    for attempt in 0..2 {
        let Ok((c, kept)) = owner_conn(node, peers, addr).await else {
            return owner_lost(node, addr, out, stream).await;
        };
        let mut raw = Vec::new();
        let call = async {
            c.send_raw(&frame).await?;
            c.read_reply_raw(&mut raw).await?;
            match c.read_reply().await? {
                crate::cluster::peer_conn::Reply::Int(t) => Ok(t),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "a forwarded reply without the owner's clock",
                )),
            }
        };
        let r = tokio::select! {
            r = call => r,
            gone = watch_blocked(node, addr, stream) => {
                peers.remove(&addr);
                return gone;
            }
        };
        match r {
            Ok(t) => {
                node.store.bus().clock().observe(t.max(0) as u64);
                out.buf.extend_from_slice(&raw);
                return Forwarded::Done;
            }
            Err(_) if kept && attempt == 0 && raw.is_empty() => {
                peers.remove(&addr);
            }
            Err(_) => {
                peers.remove(&addr);
                return owner_lost(node, addr, out, stream).await;
            }
        }
    }
    owner_lost(node, addr, out, stream).await
}

/// The connection to a blocking command's owner broke: the owner is dying or gone. Once the
/// membership agrees, the command runs again where it now belongs.
async fn owner_lost(node: &Node, addr: SocketAddr, out: &mut Out, stream: &Conn) -> Forwarded {
    match tokio::time::timeout(OWNER_LOST_WAIT, watch_blocked(node, addr, stream)).await {
        Ok(f) => f,
        Err(_) => {
            out.error(&format!(
                "TRYAGAIN lost the node holding this key ({addr}), which is still a member"
            ));
            Forwarded::Done
        }
    }
}

/// How long a blocked client whose owner's connection broke waits for the membership to say
/// the owner is gone (a few gossip failure-detection rounds).
const OWNER_LOST_WAIT: Duration = Duration::from_secs(15);

/// While a blocking command waits on its owner: ends when the client closes its connection or
/// the owner is no longer a live member.
async fn watch_blocked(node: &Node, owner: SocketAddr, stream: &Conn) -> Forwarded {
    let repl = &node.cluster.replicator;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut watch = true;
    let mut peek = [0u8; 1];
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let alive = repl
                    .peers()
                    .iter()
                    .any(|p| p.addr() == Some(owner) && !repl.is_blocked(&p.node_id));
                if !alive {
                    return Forwarded::OwnerLeft;
                }
            }
            // Until the client sends something more (its next commands wait their turn).
            r = stream.peek(&mut peek), if watch => match r {
                Ok(0) | Err(_) => return Forwarded::ClientGone,
                Ok(_) => watch = false,
            },
        }
    }
}

fn apply_reply_mode(client: &mut ClientState, out: &mut Out, mark: usize, mode_before: ReplyMode) {
    match mode_before {
        ReplyMode::On => {}
        ReplyMode::Off => {
            // CLIENT REPLY ON is the one command that answers while replies are off.
            if client.reply_mode != ReplyMode::On {
                out.buf.truncate(mark);
            }
        }
        ReplyMode::Skip => {
            out.buf.truncate(mark);
            if client.reply_mode == ReplyMode::Skip {
                client.reply_mode = ReplyMode::On;
            }
        }
    }
    // CLIENT REPLY OFF/SKIP themselves send nothing.
    if mode_before == ReplyMode::On && client.reply_mode != ReplyMode::On {
        out.buf.truncate(mark);
    }
}

/// Writes the buffered replies. As Redis's `client-output-buffer-limit` (peers are the
/// `replica` class): replies beyond the hard limit, or above the soft limit for longer than
/// its seconds because the client does not read, disconnect the client.
async fn flush(
    stream: &mut Conn,
    out: &mut Out,
    node: &Node,
    client: &ClientState,
) -> std::io::Result<()> {
    if out.buf.is_empty() {
        return Ok(());
    }
    // A subscriber's write may wait on a client that does not read while its messages pile
    // up in its mailbox: once they pass the limit, the connection stops waiting and closes.
    if let Some(mailbox) = client.subs.mailbox.clone() {
        return tokio::select! {
            r = write_out(stream, out, node, client) => r,
            _ = mailbox.until_cut() => Err(std::io::Error::other("output buffer limit")),
        };
    }
    write_out(stream, out, node, client).await
}

async fn write_out(
    stream: &mut Conn,
    out: &mut Out,
    node: &Node,
    client: &ClientState,
) -> std::io::Result<()> {
    let limits = node.settings.output_limits();
    let limit = if client.peer.is_some() {
        limits.replica
    } else if client.subs.active() {
        limits.pubsub
    } else {
        limits.normal
    };
    let r = if limit.hard == 0 && (limit.soft == 0 || limit.soft_secs == 0) {
        stream.write_all(&out.buf).await
    } else {
        write_limited(stream, &out.buf, limit, client).await
    };
    // TLS keeps what it encrypted until flushed (plain TCP: nothing to do).
    let r = match r {
        Ok(()) if stream.is_tls() => stream.flush().await,
        r => r,
    };
    node.stats
        .net_output_bytes
        .fetch_add(out.buf.len() as u64, Ordering::Relaxed);
    out.buf.clear();
    // Don't keep a huge buffer around after one big reply; a steady stream of big replies
    // keeps its buffer (growing it again each time would copy every reply once more), until
    // the client pauses.
    if out.buf.capacity() > OUT_KEEP {
        out.buf = Vec::with_capacity(READ_CHUNK);
    }
    r
}

async fn write_limited(
    stream: &mut Conn,
    buf: &[u8],
    limit: crate::config::OutputLimit,
    client: &ClientState,
) -> std::io::Result<()> {
    let over = |why: &str, pending: usize| {
        tracing::warn!(component = "resp", action = "output_buffer_limit", client = client.id, addr = %client.info.addr, pending, limit = why, "Client scheduled to be closed ASAP for overcoming of output buffer limits.");
        std::io::Error::other("output buffer limit")
    };
    if limit.hard > 0 && buf.len() as u64 > limit.hard {
        return Err(over("hard", buf.len()));
    }
    let mut at = 0;
    let mut soft_since: Option<tokio::time::Instant> = None;
    while at < buf.len() {
        let pending = (buf.len() - at) as u64;
        let write = stream.write(&buf[at..]);
        let n = if limit.soft > 0 && limit.soft_secs > 0 && pending > limit.soft {
            let since = *soft_since.get_or_insert_with(tokio::time::Instant::now);
            let deadline = since + Duration::from_secs(limit.soft_secs);
            match tokio::time::timeout_at(deadline, write).await {
                Ok(r) => r?,
                Err(_) => return Err(over("soft", pending as usize)),
            }
        } else {
            soft_since = None;
            write.await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        at += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a query buffer the way `serve` does, each read bringing at most
    /// `chunk` bytes (and what the room allows); returns the buffer, the commands seen and the
    /// largest capacity it reached.
    fn feed(input: &[u8], chunk: usize) -> (Query, usize, usize) {
        let mut q = Query::new();
        let mut parser = Parser::new();
        let (mut at, mut need, mut commands, mut peak) = (0, 0, 0, 0);
        while at < input.len() {
            let room = q.prepare(need);
            let n = room.min(chunk).min(input.len() - at);
            q.buf.extend_from_slice(&input[at..at + n]);
            at += n;
            q.received(n, room);
            peak = peak.max(q.buf.capacity());
            let mut start = 0;
            loop {
                match parser.parse(&q.pending()[start..], &Limits::default()) {
                    Ok(Frame::Command { len }) => {
                        commands += 1;
                        start += len;
                    }
                    Ok(Frame::Incomplete { hint }) => {
                        need = hint;
                        break;
                    }
                    other => panic!("{other:?}"),
                }
            }
            q.consume(start);
        }
        (q, commands, peak)
    }

    fn sets(n: usize, size: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            v.extend_from_slice(
                format!("*3\r\n$3\r\nSET\r\n$8\r\nkey:{i:04}\r\n${size}\r\n").as_bytes(),
            );
            v.extend(std::iter::repeat_n(b'v', size));
            v.extend_from_slice(b"\r\n");
        }
        v
    }

    #[test]
    fn a_claim_gets_no_memory_it_was_not_sent() {
        // 512 MB announced, 1 MB sent in 1 KB pieces: memory follows the bytes.
        let mut input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'v', 1 << 20));
        let (q, commands, peak) = feed(&input, 1024);
        assert_eq!((commands, q.len()), (0, input.len()));
        assert!(peak <= 2 * input.len() + 2 * READ_CHUNK, "{peak}");
        // Sent all at once, reads grow, still within twice what arrived.
        let (_, _, peak) = feed(&input, usize::MAX);
        assert!(peak <= 2 * input.len() + 2 * READ_CHUNK, "{peak}");
    }

    #[test]
    fn big_frames_are_copied_a_fraction_of_a_time() {
        for (size, n, chunk) in [
            (16 * 1024, 256, usize::MAX),
            (16 * 1024, 256, 64 * 1024),
            (256 * 1024, 64, usize::MAX),
            (256 * 1024, 64, 64 * 1024),
            (1024, 4000, 4096),
        ] {
            let input = sets(n, size);
            let (q, commands, _) = feed(&input, chunk);
            assert_eq!((commands, q.len()), (n, 0), "{size} {chunk}");
            // Each read used to move the unfinished frame to the front: a whole copy of the
            // stream for frames larger than a read. Now a frame is moved at most once per
            // buffer's worth of reads (up to MAX_READ).
            assert!(
                q.moved <= input.len() / 3,
                "{size}-byte values in {chunk}-byte reads: {} of {} bytes moved",
                q.moved,
                input.len()
            );
        }
    }

    #[test]
    fn one_frame_at_a_time_moves_nothing() {
        // A client that waits for each reply: the buffer empties between frames and starts
        // over at its front, so once it has grown nothing moves.
        let frame = sets(1, 256 * 1024);
        let mut q = Query::new();
        let mut parser = Parser::new();
        let mut after_first = 0;
        for i in 0..8 {
            let mut at = 0;
            let mut need = 0;
            while at < frame.len() {
                let room = q.prepare(need);
                let n = room.min(64 * 1024).min(frame.len() - at);
                q.buf.extend_from_slice(&frame[at..at + n]);
                at += n;
                q.received(n, room);
                match parser.parse(q.pending(), &Limits::default()) {
                    Ok(Frame::Command { len }) => q.consume(len),
                    Ok(Frame::Incomplete { hint }) => need = hint,
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(q.len(), 0);
            if i == 0 {
                after_first = q.moved;
                assert!(after_first < 2 * frame.len(), "growing: {after_first}");
            }
        }
        assert_eq!(q.moved, after_first);
    }
}
