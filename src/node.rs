//! A node: built from a config, it owns the keyspace, the clients, the runtime settings and the
//! listeners, and shuts down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::util::time::now_ms;

use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::config::Config;
use crate::connection::{self, Clients};
use crate::persist::Persistence;
use crate::store::Keyspace;
use crate::store::mutation::{Bus, MutationSink};

/// Shards per database: enough that two cores rarely meet on one lock, few enough that an
/// empty database costs little.
pub const SHARDS: usize = 64;

/// Settings that CONFIG SET may change while the node runs.
pub struct Settings {
    pub maxclients: AtomicU64,
    proto_max_bulk_len: AtomicU64,
    pub client_query_buffer_limit: AtomicU64,
    pub hz: AtomicU64,
    /// Idle client timeout in seconds; 0 = never.
    pub timeout: AtomicU64,
    requirepass: RwLock<Option<crate::config::Secret>>,
    pub loglevel: RwLock<String>,
    /// As Redis's `protected-mode` (changeable at runtime).
    pub protected_mode: AtomicBool,
    /// Whether a cluster secret is configured (protected mode only applies without one).
    pub has_cluster_secret: bool,
    pub debug_command: crate::config::DebugCommand,
    output_limits: Mutex<crate::config::OutputLimits>,
}

impl Settings {
    fn from_config(c: &Config) -> Settings {
        let hz = if c.cache.cleanup_interval.is_zero() {
            10
        } else {
            (1000 / c.cache.cleanup_interval.as_millis().max(1) as u64).clamp(1, 500)
        };
        Settings {
            maxclients: AtomicU64::new(c.cache.maxclients as u64),
            proto_max_bulk_len: AtomicU64::new(c.cache.proto_max_bulk_len),
            client_query_buffer_limit: AtomicU64::new(c.cache.client_query_buffer_limit),
            hz: AtomicU64::new(hz),
            timeout: AtomicU64::new(c.cache.timeout.as_secs()),
            requirepass: RwLock::new(c.security.requirepass.clone()),
            loglevel: RwLock::new(format!("{:?}", c.logging.level).to_lowercase()),
            protected_mode: AtomicBool::new(c.security.protected_mode),
            has_cluster_secret: c.cluster.secret.is_some(),
            debug_command: c.security.enable_debug_command,
            output_limits: Mutex::new(c.cache.client_output_buffer_limit),
        }
    }

    pub fn proto_max_bulk_len(&self) -> u64 {
        self.proto_max_bulk_len.load(Ordering::Relaxed)
    }

    pub fn set_proto_max_bulk_len(&self, v: u64) {
        self.proto_max_bulk_len.store(v, Ordering::Relaxed)
    }

    /// Whether clients must authenticate.
    pub fn has_password(&self) -> bool {
        self.requirepass.read().is_some()
    }

    /// Checks a password in constant time; true when none is set.
    pub fn password_matches(&self, pass: &[u8]) -> bool {
        self.requirepass
            .read()
            .as_ref()
            .is_none_or(|p| p.matches(pass))
    }

    /// The password as CONFIG GET shows it.
    pub fn requirepass_text(&self) -> String {
        self.requirepass
            .read()
            .as_ref()
            .map(|p| String::from_utf8_lossy(p.expose()).into_owned())
            .unwrap_or_default()
    }

    pub fn set_requirepass(&self, p: Option<Vec<u8>>) {
        *self.requirepass.write() = p.map(crate::config::Secret::new);
    }

    /// As Redis: protected mode refuses non-loopback clients while there is neither a
    /// password nor a cluster secret.
    pub fn refuses_remote(&self) -> bool {
        self.protected_mode.load(Ordering::Relaxed)
            && !self.has_cluster_secret
            && !self.has_password()
    }

    pub fn output_limits(&self) -> crate::config::OutputLimits {
        *self.output_limits.lock()
    }

    pub fn set_output_limits(&self, l: crate::config::OutputLimits) {
        *self.output_limits.lock() = l;
    }
}

/// Lets an event through at most once per period (for log lines a flood could repeat).
#[derive(Debug, Default)]
pub struct Every {
    last_ms: AtomicU64,
}

impl Every {
    /// True when `period_ms` has passed since the last time it said true.
    pub fn due(&self, period_ms: u64) -> bool {
        let now = now_ms();
        let last = self.last_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= period_ms
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// Where an authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// AUTH / HELLO AUTH with a wrong password.
    Resp,
    /// An HTTP request without the right bearer token.
    Http,
    /// A connection that failed the peer handshake.
    Peer,
}

/// Server-wide counters. Connections add their figures once per batch, not per command.
#[derive(Default)]
pub struct Stats {
    /// Paces the log lines of failed authentications (at most one a second).
    pub auth_log: Every,
    pub auth_failures_resp: AtomicU64,
    pub auth_failures_http: AtomicU64,
    pub auth_failures_peer: AtomicU64,
    pub total_connections_received: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub total_error_replies: AtomicU64,
    memory_peak: AtomicU64,
    samples: Mutex<Samples>,
}

/// The last 16 samples of the counters, 100 ms apart, for INFO's instantaneous_* figures.
#[derive(Default)]
struct Samples {
    at: Vec<(Instant, u64, u64, u64)>,
}

impl Stats {
    /// Records the counters (called every 100 ms).
    pub fn sample(&self) {
        let mut s = self.samples.lock();
        if s.at.len() == 16 {
            s.at.remove(0);
        }
        s.at.push((
            Instant::now(),
            self.total_commands_processed.load(Ordering::Relaxed),
            self.net_input_bytes.load(Ordering::Relaxed),
            self.net_output_bytes.load(Ordering::Relaxed),
        ));
    }

    /// Operations per second and input/output kbps over the sampled window.
    pub fn instantaneous(&self) -> (u64, f64, f64) {
        let s = self.samples.lock();
        let (Some(first), Some(last)) = (s.at.first(), s.at.last()) else {
            return (0, 0.0, 0.0);
        };
        let secs = last.0.duration_since(first.0).as_secs_f64();
        if secs <= 0.0 {
            return (0, 0.0, 0.0);
        }
        let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
        (
            rate(first.1, last.1) as u64,
            rate(first.2, last.2) / 1024.0,
            rate(first.3, last.3) / 1024.0,
        )
    }

    /// Keeps the peak of used memory; returns it.
    pub fn note_memory_peak(&self, used: u64) -> u64 {
        self.memory_peak
            .fetch_max(used, Ordering::Relaxed)
            .max(used)
    }

    /// Counts a failed authentication.
    pub fn auth_failed(&self, kind: AuthFailure) {
        let c = match kind {
            AuthFailure::Resp => &self.auth_failures_resp,
            AuthFailure::Http => &self.auth_failures_http,
            AuthFailure::Peer => &self.auth_failures_peer,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub fn error(&self) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        for c in [
            &self.total_connections_received,
            &self.total_commands_processed,
            &self.rejected_connections,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.total_error_replies,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

pub struct Node {
    pub config: Config,
    pub settings: Settings,
    pub store: Keyspace,
    pub clients: Clients,
    pub stats: Stats,
    /// Calls, errors and latency by command.
    pub metrics: crate::metrics::CommandMetrics,
    pub started: Instant,
    pub started_ms: u64,
    pub run_id: String,
    /// The AOF and snapshots, when persistence is on.
    pub persistence: Option<Arc<Persistence>>,
    /// Membership, the ring, replication.
    pub cluster: Arc<crate::cluster::Cluster>,
    /// What SHUTDOWN asked for: 0 default, 1 SAVE, 2 NOSAVE.
    pub shutdown_save: std::sync::atomic::AtomicU8,
    /// The RESP address actually bound (port 0 resolved).
    pub resp_addr: Mutex<Option<SocketAddr>>,
    /// The HTTP address actually bound.
    pub http_addr: Mutex<Option<SocketAddr>>,
    shutting_down: AtomicBool,
    shutdown: Notify,
    /// HTTP connections allowed at once (set at start from the descriptor budget).
    http_limit: AtomicU64,
    /// This node, for the few commands that start background work on it.
    me: std::sync::OnceLock<std::sync::Weak<Node>>,
}

impl Node {
    /// Builds a node's state (no sockets yet). `sinks` receive every mutation, after the
    /// node's own persistence (when the config turns it on; its data is loaded by
    /// [`Node::recover`]).
    pub fn new(config: Config, sinks: Vec<Arc<dyn MutationSink>>) -> Arc<Node> {
        let node_hash = xxhash_rust::xxh64::xxh64(config.node.id.as_bytes(), 0);
        let persistence =
            Persistence::new(&config.persistence, &config.data_dir(), &config.node.id);
        let cluster = crate::cluster::Cluster::new(&config);
        let mut all: Vec<Arc<dyn MutationSink>> = Vec::new();
        if let Some(p) = &persistence {
            all.push(p.clone());
        }
        all.push(cluster.replicator.clone());
        all.extend(sinks);
        let bus = Bus::new(node_hash, all);
        let store = Keyspace::new(config.cache.databases as usize, SHARDS, bus);
        let started_ms = now_ms();
        let mut run_id = String::with_capacity(40);
        for _ in 0..40 {
            run_id.push(char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'));
        }
        let c = &config.cache;
        store.node_limits.set_max(c.max_memory);
        store.node_limits.set_samples(c.maxmemory_samples);
        store
            .node_limits
            .set_thresholds(crate::store::evict::Thresholds {
                warning: c.memory_warning,
                critical: c.memory_critical,
                panic: c.memory_panic,
            });
        store.node_limits.set_policy(c.eviction_policy);
        // A `default` entry in `stores` configures the default store; the others are created.
        let default_spec = config
            .stores
            .iter()
            .find(|s| s.name == "default")
            .cloned()
            .unwrap_or_else(|| crate::config::StoreConfig::new("default"));
        store.set_cache_defaults(c.clone());
        store.configure_store(store.default_store(), &default_spec);
        for spec in config.stores.iter().filter(|s| s.name != "default") {
            if let Err(why) = store.define_store(spec, true, None) {
                tracing::error!(component = "store", store = %spec.name, reason = %why, "store not created");
            }
        }
        store.set_max_stores(config.cache.max_stores);
        let http_limit = config.network.http_max_connections as u64;
        let node = Arc::new(Node {
            settings: Settings::from_config(&config),
            config,
            store,
            clients: Clients::default(),
            stats: Stats::default(),
            metrics: Default::default(),
            started: Instant::now(),
            started_ms,
            run_id,
            persistence,
            cluster,
            shutdown_save: Default::default(),
            resp_addr: Mutex::new(None),
            http_addr: Mutex::new(None),
            shutting_down: AtomicBool::new(false),
            shutdown: Notify::new(),
            http_limit: AtomicU64::new(http_limit),
            me: std::sync::OnceLock::new(),
        });
        let _ = node.me.set(Arc::downgrade(&node));
        node
    }

    /// HTTP connections allowed at once: `http_max_connections`, within the descriptor
    /// budget set at start (see [`fd_budget`]).
    pub fn http_connections(&self) -> usize {
        self.http_limit.load(Ordering::Relaxed).max(1) as usize
    }

    /// A strong reference to this node (None once it is being dropped).
    pub fn arc(&self) -> Option<Arc<Node>> {
        self.me.get().and_then(|w| w.upgrade())
    }

    /// True until the data directory has been loaded.
    #[inline]
    pub fn is_loading(&self) -> bool {
        self.persistence.as_ref().is_some_and(|p| p.is_loading())
    }

    /// Unix time (s) of the last successful snapshot (the start time before the first).
    pub fn lastsave(&self) -> u64 {
        match &self.persistence {
            Some(p) => p.status().last_save_unix,
            None => self.started_ms / 1000,
        }
    }

    /// Loads the data directory (a no-op without persistence).
    pub fn recover(&self) -> Result<(), String> {
        let Some(p) = &self.persistence else {
            return Ok(());
        };
        tracing::info!(component = "persistence", action = "recovery", dir = %p.dir().display(), "loading the data directory");
        match p.recover(&self.store) {
            Ok(r) => {
                tracing::info!(
                    component = "persistence",
                    action = "recovery",
                    snapshot = ?r.snapshot,
                    replayed = r.replayed,
                    truncated = ?r.truncated,
                    skipped = r.skipped.len(),
                    duration_ms = r.duration_ms,
                    keys = self.store.totals(now_ms()).keys,
                    "data loaded"
                );
                for (file, offset, why) in &r.skipped {
                    tracing::warn!(component = "persistence", action = "recovery", file = %file.display(), offset, reason = %why, "skipped a corrupt record");
                }
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Asks the node to shut down (SHUTDOWN, a signal).
    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown.notify_waiters();
        self.shutdown.notify_one();
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub async fn shutdown_requested(&self) {
        while !self.is_shutting_down() {
            self.shutdown.notified().await;
        }
    }
}

/// The threads that serve client connections: one single-threaded runtime per core, each
/// owning its connections from accept to close. Like Redis's event loop, but one per core: a
/// connection's work never migrates between threads, so there is no work-stealing traffic and
/// no cross-thread wake-up on the request path.
struct IoThreads {
    senders: Vec<tokio::sync::mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>>,
    next: std::sync::atomic::AtomicUsize,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl IoThreads {
    fn start(n: usize, node: &Arc<Node>) -> std::io::Result<IoThreads> {
        let mut senders = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for i in 0..n.max(1) {
            let (tx, mut rx) =
                tokio::sync::mpsc::unbounded_channel::<(std::net::TcpStream, SocketAddr)>();
            let node = node.clone();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let h = std::thread::Builder::new()
                .name(format!("hypercache-io-{i}"))
                .spawn(move || {
                    rt.block_on(async move {
                        tokio::spawn(connection::busy_poll::spinner(node.config.network.busy_poll));
                        if let Some(aof) = node.persistence.as_ref().filter(|p| p.sync_always()).and_then(|p| p.aof()) {
                            tokio::spawn(aof.clone().relay());
                        }
                        while let Some((s, peer)) = rx.recv().await {
                            match tokio::net::TcpStream::from_std(s) {
                                Ok(s) => connection::accept(&node, s, peer),
                                Err(e) => tracing::warn!(component = "resp", action = "accept", error = %e, "cannot register connection"),
                            }
                        }
                    });
                })?;
            senders.push(tx);
            handles.push(h);
        }
        Ok(IoThreads {
            senders,
            next: Default::default(),
            handles,
        })
    }

    fn dispatch(&self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let Ok(std) = stream.into_std() else { return };
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        let _ = self.senders[i].send((std, peer));
    }

    fn stop(self) {
        drop(self.senders);
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// A running node: its listener bound, its tasks started.
pub struct Running {
    pub node: Arc<Node>,
    pub resp_addr: SocketAddr,
    listener: TcpListener,
    http: TcpListener,
}

/// Binds the node's listeners. Failing to bind is an error the caller reports.
pub async fn bind(node: Arc<Node>) -> std::io::Result<Running> {
    let addr = format!(
        "{}:{}",
        node.config.network.resp_bind_addr, node.config.network.resp_port
    );
    let listener = TcpListener::bind(&addr).await?;
    let resp_addr = listener.local_addr()?;
    *node.resp_addr.lock() = Some(resp_addr);
    let addr = format!(
        "{}:{}",
        node.config.network.http_bind_addr, node.config.network.http_port
    );
    let http = TcpListener::bind(&addr).await?;
    *node.http_addr.lock() = Some(http.local_addr()?);
    Ok(Running {
        node,
        resp_addr,
        listener,
        http,
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
        let http = tokio::spawn(crate::http::serve(node.clone(), http));
        tracing::info!(
            component = "resp",
            action = "listening",
            addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            http_addr = %http_addr,
            node_id = %node.config.node.id,
            "ready to accept connections"
        );
        loop {
            tokio::select! {
                biased;
                _ = node.shutdown_requested() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => io.dispatch(stream, peer),
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(component = "resp", action = "accept", error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(listener);
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
        // HTTP requests in flight finish too (graceful shutdown of the HTTP server).
        let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
        // Every connection has closed: the I/O threads have nothing left to run.
        tokio::task::spawn_blocking(move || io.stop()).await.ok();
        expiry.abort();
        sampler.abort();
        saver.abort();
        if let Some(p) = node.persistence.clone() {
            // SHUTDOWN SAVE snapshots; so does any shutdown when snapshots are the only copy.
            let save = match node.shutdown_save.load(Ordering::Relaxed) {
                1 => true,
                2 => false,
                _ => !p.config().strategy.aof() && p.changes_since_save() > 0,
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
                let r = store_node.store.expire_cycle(now_ms(), 64 * 1024);
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
    let node = Node::new(config, Vec::new());
    let (clients, http) = fd_budget(
        node.settings.maxclients.load(Ordering::Relaxed),
        node.config.network.http_max_connections as u64,
    );
    node.settings.maxclients.store(clients, Ordering::Relaxed);
    node.http_limit.store(http, Ordering::Relaxed);
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
        if r.is_err() {
            loader.request_shutdown();
            return r;
        }
        if let Err(e) = loader.cluster.start(&loader).await {
            tracing::error!(component = "cluster", action = "join", error = %e, "cannot start gossip");
            loader.request_shutdown();
            return Err(format!("cannot start gossip: {e}"));
        }
        tokio::spawn(crate::cluster::sync::periodic(
            loader.clone(),
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
        Ok(Err(e)) => Err(std::io::Error::other(format!(
            "cannot load the data directory: {e}"
        ))),
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
