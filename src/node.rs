//! A node: built from a config, it owns the keyspace, the clients, the runtime settings and the
//! listeners, and shuts down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use crate::util::atomic::{AtomicEnum, Code};
use crate::util::time::now_ms;

use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use crate::client::Clients;
use crate::config::Config;
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

    /// As Redis: protected mode refuses non-loopback clients while the default user needs
    /// no password (`auth_required`: it does) and there is no cluster secret.
    pub fn refuses_remote(&self, auth_required: bool) -> bool {
        self.protected_mode.load(Ordering::Relaxed) && !self.has_cluster_secret && !auth_required
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
    /// Error replies by code (the first word), for INFO errorstats: at most
    /// [`ERROR_CODES`] codes, as Redis (a client must not grow it by inventing codes).
    error_codes: Mutex<Vec<(String, u64)>>,
    memory_peak: AtomicU64,
    samples: Mutex<Samples>,
}

/// Distinct error codes INFO errorstats counts at most (Redis's 128).
pub const ERROR_CODES: usize = 128;

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

    /// Counts an error reply (`msg` without its `-`): in the total, and by its code as Redis
    /// names it (the first word when a space follows it within 32 bytes, else ERR).
    pub fn error(&self, msg: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        let head = &msg.as_bytes()[..msg.len().min(32)];
        let code = match head.iter().position(|&b| b == b' ') {
            Some(i) => &msg[..i],
            None => "ERR",
        };
        let mut codes = self.error_codes.lock();
        if let Some(c) = codes.iter_mut().find(|c| c.0 == code) {
            c.1 += 1;
        } else if codes.len() < ERROR_CODES {
            codes.push((code.to_string(), 1));
        }
    }

    /// (code, count) of every error code replied, in the order first seen.
    pub fn error_codes(&self) -> Vec<(String, u64)> {
        self.error_codes.lock().clone()
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
        self.error_codes.lock().clear();
    }
}

/// What SHUTDOWN asked for about a last snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownSave {
    /// Save when snapshots are the only copy of the data.
    Default,
    /// SHUTDOWN SAVE.
    Save,
    /// SHUTDOWN NOSAVE.
    NoSave,
}

impl Code for ShutdownSave {
    fn code(self) -> u8 {
        self as u8
    }

    fn decode(c: u8) -> Self {
        match c {
            1 => ShutdownSave::Save,
            2 => ShutdownSave::NoSave,
            _ => ShutdownSave::Default,
        }
    }
}

pub struct Node {
    pub config: Config,
    pub settings: Settings,
    pub store: Arc<Keyspace>,
    pub clients: Clients,
    pub stats: Stats,
    /// Calls, errors and latency by command.
    pub metrics: crate::metrics::CommandMetrics,
    /// SLOWLOG.
    /// ACL users (`acl`).
    pub acl: crate::acl::Acl,
    pub slowlog: crate::slowlog::SlowLog,
    /// LATENCY.
    pub latency: crate::latency::LatencyMonitor,
    pub started: Instant,
    pub started_ms: u64,
    pub run_id: String,
    /// The AOF and snapshots, when persistence is on.
    pub persistence: Option<Arc<Persistence>>,
    /// Membership, the ring, replication.
    pub cluster: Arc<crate::cluster::Cluster>,
    /// Pub/sub subscribers of this node.
    pub pubsub: crate::pubsub::Hub,
    /// Lua scripts: the cache and the script thread.
    pub scripts: crate::script::Scripts,
    /// What SHUTDOWN asked for: 0 default, 1 SAVE, 2 NOSAVE.
    pub shutdown_save: AtomicEnum<ShutdownSave>,
    /// The RESP address actually bound (port 0 resolved).
    pub resp_addr: Mutex<Option<SocketAddr>>,
    /// The HTTP address actually bound.
    pub http_addr: Mutex<Option<SocketAddr>>,
    /// The HTTPS address actually bound, when there is one.
    pub https_addr: Mutex<Option<SocketAddr>>,
    /// The RESP-over-TLS listener's address (`tls.port`).
    pub tls_addr: Mutex<Option<SocketAddr>>,
    shutting_down: AtomicBool,
    shutdown: Notify,
    /// HTTP connections allowed at once (set at start from the descriptor budget).
    http_limit: AtomicU64,
    /// This node, for the few commands that start background work on it.
    me: std::sync::OnceLock<std::sync::Weak<Node>>,
}

impl Node {
    /// PUBLISH (RESP or HTTP): delivers to this node's subscribers and sends the message on
    /// to every peer; returns this node's receivers (Redis Cluster counts its node's too).
    pub fn publish(&self, channel: &[u8], message: &[u8], shard: bool) -> usize {
        let n = self.deliver_message(channel, message, shard);
        self.cluster
            .replicator
            .publish_message(channel, message, shard);
        n
    }

    /// Sets `notify-keyspace-events` (Redis's class letters).
    pub fn set_keyspace_events(&self, classes: &[u8]) -> Result<(), String> {
        use crate::pubsub::notify;
        let flags = notify::parse(classes)
            .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
        self.pubsub.set_notify_flags(flags);
        self.refresh_notes();
        Ok(())
    }

    /// Notes changes while keyspace notifications or client tracking need them.
    pub fn refresh_notes(&self) {
        use crate::pubsub::notify;
        let on = notify::publishes(self.pubsub.notify_flags()) || self.pubsub.tracking.any();
        self.store.bus().set_notes(on, notify::note);
        let flags = self.pubsub.notify_flags();
        self.store
            .bus()
            .set_miss_notes(on && flags & notify::KEY_MISS != 0, notify::note_miss);
    }

    /// Delivers a message published on this node or on a peer to this node's subscribers.
    pub fn deliver_message(&self, channel: &[u8], message: &[u8], shard: bool) -> usize {
        let limit = self.settings.output_limits().pubsub;
        self.pubsub.publish(channel, message, shard, limit)
    }

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
        // `server::run` checked the users first; here a bad file (changed since) fails closed.
        let acl = crate::acl::Acl::from_config(&config).unwrap_or_else(|e| {
            tracing::error!(component = "acl", error = %e, "ACL users not loaded: every client is refused until ACL LOAD succeeds");
            crate::acl::Acl::closed(config.security.acl_file.clone())
        });
        let node = Arc::new(Node {
            acl,
            settings: Settings::from_config(&config),
            config,
            store: Arc::new(store),
            clients: Clients::default(),
            stats: Stats::default(),
            metrics: Default::default(),
            slowlog: Default::default(),
            latency: Default::default(),
            started: Instant::now(),
            started_ms,
            run_id,
            persistence,
            cluster,
            pubsub: Default::default(),
            scripts: Default::default(),
            shutdown_save: AtomicEnum::new(ShutdownSave::Default),
            resp_addr: Mutex::new(None),
            http_addr: Mutex::new(None),
            https_addr: Mutex::new(None),
            tls_addr: Mutex::new(None),
            shutting_down: AtomicBool::new(false),
            shutdown: Notify::new(),
            http_limit: AtomicU64::new(http_limit),
            me: std::sync::OnceLock::new(),
        });
        let _ = node.me.set(Arc::downgrade(&node));
        // Checked when the configuration was read.
        let _ = node.set_keyspace_events(node.config.cache.notify_keyspace_events.as_bytes());
        node.pubsub
            .set_notify_replicated(node.config.cache.notify_replicated_writes);
        node
    }

    /// HTTP connections allowed at once: `http_max_connections`, within the descriptor
    /// budget set at start (see [`fd_budget`]).
    /// Fits the HTTP connection cap to the open-files budget (at start).
    pub fn set_http_connections(&self, n: u64) {
        self.http_limit.store(n, Ordering::Relaxed);
    }

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
                // Plain fields (no Rust debug text): absent ones are left out.
                let (snapshot_generation, snapshot_keys) = r.snapshot.unzip();
                let truncated_file = r.truncated.as_ref().map(|t| t.0.display().to_string());
                let truncated_offset = r.truncated.as_ref().map(|t| t.1);
                let truncated_bytes = r.truncated.as_ref().map(|t| t.2);
                tracing::info!(
                    component = "persistence",
                    action = "recovery",
                    snapshot_generation,
                    snapshot_keys,
                    replayed = r.replayed,
                    truncated_file,
                    truncated_offset,
                    truncated_bytes,
                    unfinished_transactions = r.unfinished_groups,
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
