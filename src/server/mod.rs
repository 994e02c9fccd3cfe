//! The server: I/O threads, listeners, background loops and `run` — what starts a node and keeps
//! it serving. Only main.rs (and tests) call into it; everything else sees the [`Node`].

pub mod blocked;
pub mod conn;
pub mod resp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::config::Config;
use crate::node::{Node, ShutdownSave};
use crate::util::time::now_ms;

/// The threads that serve client connections: one single-threaded runtime per core, each
/// owning its connections from accept to close. Like Redis's event loop, but one per core: a
/// connection's work never migrates between threads, so there is no work-stealing traffic and
/// no cross-thread wake-up on the request path.
struct IoThreads {
    senders: Vec<tokio::sync::mpsc::UnboundedSender<IoWork>>,
    next: std::sync::atomic::AtomicUsize,
    handles: Vec<std::thread::JoinHandle<()>>,
}

/// What an I/O thread is handed: a connection just accepted, or work to run on its event
/// loop (a connection coming back from the script thread).
enum IoWork {
    Accept(std::net::TcpStream, SocketAddr),
    /// A connection to the TLS port: its handshake runs on the I/O thread that serves it.
    AcceptTls(std::net::TcpStream, SocketAddr, Arc<crate::tls::Tls>),
    Run(Box<dyn FnOnce() + Send>),
}

/// How long a client has to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress, at most `maxclients`: a flood of them is dropped at once.
static HANDSHAKES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Completes a TLS client's handshake, then serves it as any client.
fn accept_tls(
    node: &Arc<Node>,
    s: std::net::TcpStream,
    peer: SocketAddr,
    tls: Arc<crate::tls::Tls>,
) {
    let max = node.settings.maxclients.load(Ordering::Relaxed) as usize;
    if HANDSHAKES.fetch_add(1, Ordering::Relaxed) >= max {
        HANDSHAKES.fetch_sub(1, Ordering::Relaxed);
        node.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        return;
    }
    let Ok(s) = tokio::net::TcpStream::from_std(s) else {
        HANDSHAKES.fetch_sub(1, Ordering::Relaxed);
        return;
    };
    let node = node.clone();
    tokio::spawn(async move {
        let acceptor = tls.acceptor(crate::tls::Listener::Resp);
        let r = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(s)).await;
        HANDSHAKES.fetch_sub(1, Ordering::Relaxed);
        match r {
            Ok(Ok(t)) => resp::accept(&node, conn::Conn::Tls(Box::new(t)), peer),
            Ok(Err(e)) => {
                tracing::info!(component = "tls", action = "handshake", addr = %peer, error = %e, "TLS handshake failed")
            }
            Err(_) => {
                tracing::info!(component = "tls", action = "handshake", addr = %peer, "TLS handshake timed out")
            }
        }
    });
}

/// The tasks every thread that serves connections runs beside them (the script thread too).
fn thread_tasks(node: &Arc<Node>) {
    tokio::spawn(resp::busy_poll::spinner(node.config.network.busy_poll));
    if let Some(aof) = node
        .persistence
        .as_ref()
        .filter(|p| p.sync_always())
        .and_then(|p| p.aof())
    {
        tokio::spawn(aof.clone().relay());
    }
}

impl IoThreads {
    fn start(n: usize, node: &Arc<Node>) -> std::io::Result<IoThreads> {
        let _ = node.scripts.thread_setup.set(thread_tasks);
        let mut senders = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for i in 0..n.max(1) {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<IoWork>();
            let node = node.clone();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let h = std::thread::Builder::new()
                .name(format!("hypercache-io-{i}"))
                .spawn(move || {
                    rt.block_on(async move {
                        thread_tasks(&node);
                        while let Some(work) = rx.recv().await {
                            match work {
                                IoWork::Accept(s, peer) => match tokio::net::TcpStream::from_std(s) {
                                    Ok(s) => resp::accept(&node, conn::Conn::Plain(s), peer),
                                    Err(e) => tracing::warn!(component = "resp", action = "accept", error = %e, "cannot register connection"),
                                },
                                IoWork::AcceptTls(s, peer, tls) => accept_tls(&node, s, peer, tls),
                                IoWork::Run(f) => f(),
                            }
                        }
                    });
                })?;
            senders.push(tx);
            handles.push(h);
        }
        // Weak: the I/O threads stop when `stop` drops the senders, whatever the node keeps.
        let weak: Vec<_> = senders.iter().map(|s| s.downgrade()).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let _ = node.scripts.to_io.set(Box::new(move |f| {
            let i = next.fetch_add(1, Ordering::Relaxed) % weak.len();
            weak[i]
                .upgrade()
                .is_some_and(|tx| tx.send(IoWork::Run(f)).is_ok())
        }));
        Ok(IoThreads {
            senders,
            next: Default::default(),
            handles,
        })
    }

    fn dispatch(
        &self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        tls: Option<&Arc<crate::tls::Tls>>,
    ) {
        let Ok(std) = stream.into_std() else { return };
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        let work = match tls {
            Some(t) => IoWork::AcceptTls(std, peer, t.clone()),
            None => IoWork::Accept(std, peer),
        };
        let _ = self.senders[i].send(work);
    }

    fn stop(self) {
        drop(self.senders);
        for h in self.handles {
            let _ = h.join();
        }
    }
}

fn bind_error(role: &str, addr: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("cannot bind the {role} port {addr}: {e}"))
}

/// A running node: its listener bound, its tasks started.
pub struct Running {
    pub node: Arc<Node>,
    pub resp_addr: SocketAddr,
    listener: TcpListener,
    http: TcpListener,
    /// The certificate, when a TLS listener is configured.
    tls: Option<Arc<crate::tls::Tls>>,
    /// The HTTPS listener (`tls.https_port`).
    https: Option<TcpListener>,
    /// The RESP-over-TLS listener (`tls.port`).
    resp_tls: Option<TcpListener>,
}

/// The next connection on an optional listener (never, without one).
async fn accept_on(
    l: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Reads the TLS files again on each SIGHUP; a bad file keeps the current certificate.
async fn reload_on_hangup(tls: Arc<crate::tls::Tls>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!(
            component = "tls",
            action = "reload",
            "cannot listen for SIGHUP: certificates reload only with a restart"
        );
        return;
    };
    while hup.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => tracing::info!(
                component = "tls",
                action = "reload",
                "TLS certificate reloaded"
            ),
            Err(e) => {
                tracing::error!(component = "tls", action = "reload", error = %e, "TLS reload failed; the current certificate stays")
            }
        }
    }
}

/// Binds the node's listeners. Failing to bind is an error the caller reports.
pub async fn bind(node: Arc<Node>) -> std::io::Result<Running> {
    let addr = format!(
        "{}:{}",
        node.config.network.resp_bind_addr, node.config.network.resp_port
    );
    // Each error names the port's role and address: three ports are bound, and "address in
    // use" alone does not say which clashed.
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| bind_error("RESP", &addr, e))?;
    let resp_addr = listener.local_addr()?;
    *node.resp_addr.lock() = Some(resp_addr);
    let addr = format!(
        "{}:{}",
        node.config.network.http_bind_addr, node.config.network.http_port
    );
    let http = TcpListener::bind(&addr)
        .await
        .map_err(|e| bind_error("HTTP", &addr, e))?;
    *node.http_addr.lock() = Some(http.local_addr()?);
    // Gossip starts once the data directory is loaded, but its port is bound now: one another
    // process holds is found before the node says it is ready, and none can take it after.
    let addr = format!(
        "{}:{}",
        node.config.network.resp_bind_addr, node.config.network.gossip_port
    );
    let gossip =
        std::net::UdpSocket::bind(&addr).map_err(|e| bind_error("gossip (UDP)", &addr, e))?;
    *node.cluster.gossip_socket.lock() = Some(gossip);
    let tc = &node.config.tls;
    let tls = match (tc.https_port, tc.port) {
        (None, None) => None,
        _ => Some(Arc::new(crate::tls::Tls::load(tc).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
        })?)),
    };
    let https = match tc.https_port {
        None => None,
        Some(port) => {
            let addr = format!("{}:{port}", node.config.network.http_bind_addr);
            let l = TcpListener::bind(&addr)
                .await
                .map_err(|e| bind_error("HTTPS", &addr, e))?;
            *node.https_addr.lock() = Some(l.local_addr()?);
            Some(l)
        }
    };
    if tc.cluster {
        let Some(t) = &tls else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "tls.cluster needs tls.port (the port peers call each other on)",
            ));
        };
        t.connector()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let _ = node.cluster.replicator.auth.tls.set(t.clone());
    }
    let resp_tls = match tc.port {
        None => None,
        Some(port) => {
            let addr = format!("{}:{port}", node.config.network.resp_bind_addr);
            let l = TcpListener::bind(&addr)
                .await
                .map_err(|e| bind_error("RESP TLS", &addr, e))?;
            *node.tls_addr.lock() = Some(l.local_addr()?);
            Some(l)
        }
    };
    Ok(Running {
        node,
        resp_addr,
        listener,
        http,
        tls,
        https,
        resp_tls,
    })
}

impl Running {
    /// Serves until shutdown is requested, then stops accepting, lets in-flight requests finish
    /// and returns.
    pub async fn serve(self) {
        let Running {
            node,
            listener,
            http,
            tls,
            https,
            resp_tls,
            ..
        } = self;
        // By default one core is left to the kernel's network stack and the background work.
        let threads = match node.config.network.io_threads {
            0 => {
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
            }
            n => n as usize,
        };
        let io = match IoThreads::start(threads, &node) {
            Ok(io) => io,
            Err(e) => {
                tracing::error!(component = "node", action = "start", error = %e, "cannot start I/O threads");
                return;
            }
        };
        let expiry = tokio::spawn(expire_loop(node.clone()));
        let sampler = tokio::spawn(sample_loop(node.clone()));
        let saver = tokio::spawn(persistence_loop(node.clone()));
        let timeouts = tokio::spawn(timeout_loop(node.clone()));
        let http_addr = http.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let http = tokio::spawn(crate::http::serve(node.clone(), http, None));
        if let Some(t) = &tls {
            tokio::spawn(reload_on_hangup(t.clone()));
        }
        let https = https.map(|l| tokio::spawn(crate::http::serve(node.clone(), l, tls.clone())));
        tracing::info!(
            component = "resp",
            action = "listening",
            addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            http_addr = %http_addr,
            https_addr = %node.https_addr.lock().map(|a| a.to_string()).unwrap_or_default(),
            tls_addr = %node.tls_addr.lock().map(|a| a.to_string()).unwrap_or_default(),
            node_id = %node.config.node.id,
            "ready to accept connections"
        );
        loop {
            tokio::select! {
                biased;
                _ = node.shutdown_requested() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => io.dispatch(stream, peer, None),
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(component = "resp", action = "accept", error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                accepted = accept_on(resp_tls.as_ref()) => match accepted {
                    Ok((stream, peer)) => io.dispatch(stream, peer, tls.as_ref()),
                    Err(e) => {
                        tracing::warn!(component = "tls", action = "accept", error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(listener);
        drop(resp_tls);
        // Peers learn at once that this node is going (and stop counting on it), while the
        // commands it has already read still finish and replicate.
        node.cluster.set_state("leaving").await;
        tracing::info!(
            component = "node",
            action = "shutdown",
            "shutting down: closing client connections"
        );
        node.clients.shutdown_all();
        if !node.clients.wait_empty(Duration::from_secs(5)).await {
            node.clients.kill_all();
            node.clients.wait_empty(Duration::from_secs(1)).await;
        }
        // Then it stops gossiping (the announcement has had two rounds to spread) and
        // replicating.
        node.cluster.leave().await;
        // HTTP requests in flight finish too (graceful shutdown of the HTTP server).
        let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
        if let Some(https) = https {
            let _ = tokio::time::timeout(Duration::from_secs(5), https).await;
        }
        // Every connection has closed: the I/O threads have nothing left to run.
        tokio::task::spawn_blocking(move || io.stop()).await.ok();
        expiry.abort();
        sampler.abort();
        saver.abort();
        if let Some(p) = node.persistence.clone() {
            // SHUTDOWN SAVE snapshots; so does any shutdown when snapshots are the only copy.
            let save = match node.shutdown_save.load() {
                ShutdownSave::Save => true,
                ShutdownSave::NoSave => false,
                ShutdownSave::Default => !p.config().strategy.aof() && p.changes_since_save() > 0,
            };
            let n = node.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if !n.is_loading() {
                    p.shutdown(&n.store, save)
                }
            })
            .await;
        }
        timeouts.abort();
        tracing::info!(component = "node", action = "shutdown", "bye");
    }
}

/// Snapshots on the timer, and AOF rewrites when the log outgrows `max_log_size`.
async fn persistence_loop(node: Arc<Node>) {
    let Some(p) = node.persistence.clone() else {
        return;
    };
    let interval = p.config().snapshot_interval.max(Duration::from_secs(1));
    let mut last = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if p.is_loading() || p.save_in_progress() {
            continue;
        }
        let timer = p.config().strategy.snapshot()
            && last.elapsed() >= interval
            && p.changes_since_save() > 0;
        if timer || p.rewrite_due() {
            last = Instant::now();
            let (p, n) = (p.clone(), node.clone());
            let _ = tokio::task::spawn_blocking(move || p.save(&n.store)).await;
        }
    }
}

/// Active expiry: like Redis's cycle, `hz` times a second, bounded in work per run.
async fn expire_loop(node: Arc<Node>) {
    loop {
        let hz = node.settings.hz.load(Ordering::Relaxed).max(1);
        tokio::time::sleep(Duration::from_millis(1000 / hz)).await;
        if node.is_loading() {
            continue;
        }
        let store_node = node.clone();
        // Off the async workers: a sweep holds shard locks, one short step at a time.
        let _ = tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            // About 25% of one core at most, as Redis's slow cycle.
            let budget = Duration::from_millis(250 / hz);
            let mut removed = 0;
            loop {
                // A step at a time inside the transaction gate: no key expires mid-EXEC.
                let r = {
                    let _inside = store_node.store.gate.enter();
                    store_node.store.expire_cycle(now_ms(), 64 * 1024)
                };
                crate::pubsub::notify::flush(&store_node, None, true, None);
                removed += r;
                if r == 0 || start.elapsed() >= budget {
                    break;
                }
            }
            removed
        })
        .await;
    }
}

async fn sample_loop(node: Arc<Node>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        node.stats.sample();
        node.stats
            .note_memory_peak(crate::store::memory::allocated());
        // Keeps the limit when writes arrive from peers, and notes levels falling after deletes.
        node.store.maintain_memory(now_ms());
    }
}

/// Forgets tombstones older than `cluster.tombstone_ttl`.
async fn tombstone_loop(node: Arc<Node>) {
    let ttl = node.config.cluster.tombstone_ttl;
    loop {
        tokio::time::sleep(Duration::from_secs(10).min(ttl)).await;
        let before = now_ms().saturating_sub(ttl.as_millis() as u64);
        let n = node.store.collect_tombstones(before);
        if n > 0 {
            tracing::debug!(
                component = "cluster",
                action = "tombstone_gc",
                collected = n,
                "tombstones collected"
            );
        }
    }
}

/// Closes clients idle for longer than `timeout` seconds (when set).
async fn timeout_loop(node: Arc<Node>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = node.settings.timeout.load(Ordering::Relaxed);
        if t > 0 {
            node.clients.kill_idle(now_ms(), t * 1000);
        }
    }
}

/// Descriptors kept for everything but client connections: listeners, gossip, peer
/// connections, the AOF and snapshots, logs (Redis keeps 32; a cluster node needs more).
pub const RESERVED_FDS: u64 = 128;

/// Makes room for `maxclients` RESP clients and `http_max_connections` HTTP connections in the
/// process's descriptor limit, as Redis does at start: raises the soft limit as far as the
/// hard one allows, and when that is not enough, lowers both (HTTP first to its share) and
/// says so. Returns the (maxclients, http connections) that fit.
pub fn fd_budget(maxclients: u64, http: u64) -> (u64, u64) {
    let want = maxclients + http + RESERVED_FDS;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (maxclients, http);
    }
    if lim.rlim_cur < want {
        let raised = libc::rlimit {
            rlim_cur: want.min(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = raised.rlim_cur;
        }
    }
    let have = lim.rlim_cur;
    if have >= want {
        return (maxclients, http);
    }
    let room = have.saturating_sub(RESERVED_FDS).max(2);
    // HTTP keeps at most a tenth of what is left; RESP clients get the rest.
    let http_fit = http.min((room / 10).max(1));
    let clients_fit = maxclients.min(room - http_fit).max(1);
    tracing::warn!(
        component = "node",
        action = "fd_limit",
        limit = have,
        wanted = want,
        maxclients = clients_fit,
        http_max_connections = http_fit,
        "the open-files limit is too low for maxclients and http_max_connections; lowered them to fit (raise `ulimit -n` to avoid this)"
    );
    (clients_fit, http_fit)
}

/// Runs a node from a config until it is shut down by a signal or SHUTDOWN.
pub async fn run(config: Config) -> std::io::Result<()> {
    // As Redis: a node whose users cannot be read does not start.
    crate::acl::Acl::from_config(&config)
        .map_err(|e| std::io::Error::other(format!("cannot load the ACL users: {e}")))?;
    let node = Node::new(config, Vec::new());
    let (clients, http) = fd_budget(
        node.settings.maxclients.load(Ordering::Relaxed),
        node.config.network.http_max_connections as u64,
    );
    node.settings.maxclients.store(clients, Ordering::Relaxed);
    node.set_http_connections(http);
    warn_if_open(&node.config);
    let running = bind(node.clone()).await?;
    // Clients are served (with -LOADING) while the data directory loads; then the node joins
    // the cluster, which brings it up to date by anti-entropy.
    let loader = node.clone();
    let loaded = tokio::spawn(async move {
        let n = loader.clone();
        let r = tokio::task::spawn_blocking(move || n.recover())
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(e) = r {
            loader.request_shutdown();
            return Err(format!("cannot load the data directory: {e}"));
        }
        // With `tls.cluster`, the address peers call is the TLS port.
        let resp = if loader.config.tls.cluster {
            *loader.tls_addr.lock()
        } else {
            *loader.resp_addr.lock()
        };
        let http = *loader.http_addr.lock();
        let started = loader
            .cluster
            .start(&loader.config, &loader.store, resp, http)
            .await;
        if let Err(e) = started {
            tracing::error!(component = "cluster", action = "join", error = %e, "cannot start gossip");
            loader.request_shutdown();
            return Err(format!(
                "cannot start gossip on port {}: {e}",
                loader.config.network.gossip_port
            ));
        }
        tokio::spawn(crate::cluster::sync::periodic(
            loader.store.clone(),
            loader.cluster.clone(),
        ));
        tokio::spawn(tombstone_loop(loader.clone()));
        loader.cluster.set_state("ready").await;
        Ok(())
    });
    // Registered here, before the node says it is ready: a SIGTERM that arrives right after
    // must find the handler in place, not the default action that kills the process.
    let signal = wait_for_signal();
    let signals = node.clone();
    tokio::spawn(async move {
        signal.await;
        tracing::info!(
            component = "node",
            action = "signal",
            "received shutdown signal"
        );
        signals.request_shutdown();
    });
    running.serve().await;
    match loaded.await {
        Ok(Err(e)) => Err(std::io::Error::other(e)),
        _ => Ok(()),
    }
}

/// Says at start what is not protected, once, so an operator sees it in the first lines.
fn warn_if_open(c: &Config) {
    let remote = |a: &str| {
        a.parse::<std::net::IpAddr>()
            .map_or(true, |ip| !ip.is_loopback())
    };
    let clustered = !c.cluster.seeds.is_empty() || c.cluster.seed_dns.is_some();
    if clustered && c.cluster.secret.is_none() {
        let with = if c.security.requirepass.is_some() {
            "the password (security.requirepass)"
        } else {
            "an empty key: any process that reaches the RESP and gossip ports can join"
        };
        tracing::warn!(
            component = "cluster",
            action = "security",
            "cluster.secret is not set: peers authenticate with {with}; set cluster.secret"
        );
    }
    let bound_out = remote(&c.network.resp_bind_addr) || remote(&c.network.http_bind_addr);
    if bound_out && c.security.requirepass.is_none() && c.cluster.secret.is_none() {
        if c.security.protected_mode {
            tracing::warn!(
                component = "node",
                action = "security",
                "bound to a non-loopback address with no password and no cluster secret: protected mode serves loopback clients only"
            );
        } else {
            tracing::warn!(
                component = "node",
                action = "security",
                "protected mode is off and there is no password: anyone who reaches the ports can read and write everything"
            );
        }
    }
}

/// Installs the SIGTERM/SIGINT handlers now; the future completes on the first signal.
#[cfg(unix)]
fn wait_for_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            // Without signal handlers the process still stops on SHUTDOWN.
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
}

#[cfg(not(unix))]
fn wait_for_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
