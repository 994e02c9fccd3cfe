//! Node configuration.
//!
//! One YAML file describes a node; every key is optional and unknown keys are
//! rejected. Values are then overlaid, lowest to highest precedence:
//! built-in defaults < YAML file < `HYPERCACHE_*` environment variables <
//! command-line flags (see [`Config::load`]).
//!
//! # Value grammar
//!
//! **Sizes** (`max_memory`, `max_log_size`, ...): a plain YAML integer is a
//! byte count. A string is `<number>[ ]<unit>` with units `B`, `K`/`KB`/`KiB`,
//! `M`/`MB`/`MiB`, `G`/`GB`/`GiB`, `T`/`TB`/`TiB`, case-insensitive. All units
//! are multiples of 1024 (`1KB` = 1024 bytes, like Redis). A decimal fraction
//! of up to 9 digits is allowed with a unit of K or larger (`1.5GB`), rounded
//! down to whole bytes. Negative, fractional-byte and overflowing values are
//! rejected.
//!
//! **Durations** (`cleanup_interval`, `timeout`, ...): a plain YAML number is
//! seconds. A string is `<number>[ ]<unit>` with units `ns`, `us`, `ms`, `s`,
//! `m` (minutes), `h`, `d`, case-insensitive; a decimal fraction of up to 9
//! digits is allowed (`1.5h`, `0.5s`), rounded down to whole nanoseconds.
//! Zero is only accepted where it means "off" (`cache.timeout`,
//! `cache.default_ttl`, `stores[].default_ttl`). Negative or overflowing
//! values are rejected.
//!
//! **Booleans**: `true`/`false`/`yes`/`no`/`on`/`off`, case-insensitive.
//! **Enums**: case-insensitive; `-` and `_` are interchangeable.
//! An empty or `~` value means "not set" (the default applies).
//!
//! # Where things are
//!
//! This file holds the settings' types, their defaults and the loading order. Every key is
//! listed once in [`keys::KEYS`], which the YAML reader (`yaml.rs`), the environment layer
//! (`env.rs`) and CONFIG GET/SET walk; `keys.rs` says how to add one. `units.rs` reads and
//! writes sizes and durations, `validate.rs` holds the rules across keys.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod enums;
mod env;
mod error;
pub mod keys;
mod legacy;
pub mod rewrite;
mod secret;
mod store;
#[cfg(test)]
mod tests;
mod units;
mod validate;
mod yaml;

pub use enums::{
    ConsistencyLevel, DebugCommand, EvictionPolicy, LogLevel, LogOutput, PersistenceStrategy,
    SyncPolicy, TlsAuthClients, TokenScope,
};
pub use error::{ConfigError, InvalidValue, Position};
pub use secret::{HttpToken, Secret, parse_sha256, sha256_hex};
pub use store::StoreConfig;
pub use units::{format_duration, format_size, parse_duration, parse_redis_memory, parse_size};

use units::{GIB, MIB, parse_uint};
use validate::{located, unlocated};
use yaml::{Spans, parse_yaml, read_file};

/// Environment variable naming the config file when `--config` is absent.
pub const ENV_CONFIG: &str = "HYPERCACHE_CONFIG";

/// The whole node configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub node: NodeConfig,
    pub network: NetworkConfig,
    pub cluster: ClusterConfig,
    pub cache: CacheConfig,
    pub persistence: PersistenceConfig,
    pub logging: LoggingConfig,
    pub metrics: MetricsConfig,
    pub security: SecurityConfig,
    pub tls: TlsConfig,
    pub stores: Vec<StoreConfig>,
    /// Keys of the original HyperCache's files that were accepted without effect, each
    /// with why (logged as warnings at start; see `legacy.rs`).
    pub notes: Vec<String>,
    /// The file this configuration was read from (CONFIG REWRITE writes it).
    pub source: Option<PathBuf>,
}

/// Who may talk to the node, and with what credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityConfig {
    /// The `default` user's password (RESP `AUTH`, HTTP `Authorization: Bearer`).
    pub requirepass: Option<Secret>,
    /// A separate bearer token for the HTTP API; without it, the password is the token.
    pub http_token: Option<Secret>,
    /// As Redis: with no password and no cluster secret, only loopback clients are served.
    pub protected_mode: bool,
    pub enable_debug_command: DebugCommand,
    /// Whether `/metrics` needs the token too (`/health` never does).
    pub metrics_auth: bool,
    /// Named HTTP tokens with scopes (read, write, admin), kept as their SHA-256.
    pub http_tokens: Vec<HttpToken>,
    /// ACL users, as Redis's `user` directives without the word (`alice on >pw +@read`).
    pub users: Vec<String>,
    /// Redis's `aclfile`: users loaded at start and by ACL LOAD, written by ACL SAVE.
    pub acl_file: Option<PathBuf>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            requirepass: None,
            http_token: None,
            protected_mode: true,
            enable_debug_command: DebugCommand::No,
            metrics_auth: false,
            http_tokens: Vec::new(),
            users: Vec::new(),
            acl_file: None,
        }
    }
}

/// Redis's `client-output-buffer-limit` for one class of clients: a client whose pending
/// replies pass `hard` bytes, or stay above `soft` bytes for `soft_secs`, is disconnected.
/// Zero turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_secs: u64,
}

/// The limits of the three classes Redis knows (peers are the `replica` class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: OutputLimit,
    pub replica: OutputLimit,
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        // Redis's defaults.
        Self {
            normal: OutputLimit::default(),
            replica: OutputLimit {
                hard: 256 * MIB,
                soft: 64 * MIB,
                soft_secs: 60,
            },
            pubsub: OutputLimit {
                hard: 32 * MIB,
                soft: 8 * MIB,
                soft_secs: 60,
            },
        }
    }
}

impl OutputLimits {
    /// Parses Redis's form, `<class> <hard> <soft> <seconds> [...]`, over `self`.
    pub fn parse_over(&self, text: &str) -> Result<OutputLimits, InvalidValue> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() || !words.len().is_multiple_of(4) {
            return Err(InvalidValue(
                "expected '<class> <hard> <soft> <seconds>' groups".into(),
            ));
        }
        let mut out = *self;
        for g in words.chunks(4) {
            let limit = OutputLimit {
                hard: parse_size(g[1])?,
                soft: parse_size(g[2])?,
                soft_secs: parse_uint(g[3])?,
            };
            match g[0].to_ascii_lowercase().as_str() {
                "normal" => out.normal = limit,
                "replica" | "slave" => out.replica = limit,
                "pubsub" => out.pubsub = limit,
                other => {
                    return Err(InvalidValue(format!(
                        "invalid client class '{other}' (expected normal, replica or pubsub)"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Redis's form, as CONFIG GET shows it (bytes).
    pub fn render(&self) -> String {
        let one =
            |name: &str, l: &OutputLimit| format!("{name} {} {} {}", l.hard, l.soft, l.soft_secs);
        format!(
            "{} {} {}",
            one("normal", &self.normal),
            one("slave", &self.replica),
            one("pubsub", &self.pubsub)
        )
    }
}

/// TLS: the node's certificate and key (PEM), the authority its clients' certificates must
/// come from, and the encrypted listeners. Files are read again on SIGHUP.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub ca_cert_file: Option<PathBuf>,
    pub auth_clients: TlsAuthClients,
    /// The HTTPS listener (beside the plain `network.http_port`); none when unset.
    pub https_port: Option<u16>,
    /// Redis's `tls-port`: RESP over TLS beside the plain `network.resp_port`; none when
    /// unset.
    pub port: Option<u16>,
    /// Redis's `tls-cluster`: peers call each other on their TLS ports, checking each other's
    /// certificate against `ca_cert_file`.
    pub cluster: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Per-command counters and latency histograms. Off, `/metrics` keeps the node-wide
    /// figures (the ones INFO shows) and drops the per-command series.
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Node identity; `[A-Za-z0-9_.-]{1,64}` because it names a directory.
    pub id: String,
    /// `None` means `./data/<id>`; use [`Config::data_dir`]. Relative paths
    /// are relative to the working directory, not the config file.
    pub data_dir: Option<PathBuf>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            id: "node-1".to_owned(),
            data_dir: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    pub resp_bind_addr: String,
    /// 0 = ephemeral port.
    pub resp_port: u16,
    pub http_bind_addr: String,
    /// 0 = ephemeral port.
    pub http_port: u16,
    /// 0 = ephemeral port.
    pub gossip_port: u16,
    /// Address peers use to reach this node: `host` or `host:port`
    /// (IPv6 with a port as `[addr]:port`).
    pub advertise_addr: Option<String>,
    /// Threads serving client connections; 0 = one per CPU core but one (at least one).
    pub io_threads: u32,
    /// How long an I/O thread keeps polling for events after serving a request before it
    /// sleeps; 0 = never poll, always sleep in the kernel.
    pub busy_poll: Duration,
    /// Largest HTTP request body accepted (larger ones get 413).
    pub http_max_body: u64,
    /// A request (RESP frame or HTTP request) that stops arriving half-way for this long
    /// closes its connection; 0 = never.
    pub request_timeout: Duration,
    /// An HTTP connection idle between requests for this long is closed.
    pub http_idle_timeout: Duration,
    /// Open HTTP connections at most; more wait in the kernel's accept queue.
    pub http_max_connections: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            resp_bind_addr: "127.0.0.1".to_owned(),
            resp_port: 8080,
            http_bind_addr: "127.0.0.1".to_owned(),
            http_port: 9080,
            gossip_port: 7946,
            advertise_addr: None,
            io_threads: 0,
            busy_poll: Duration::from_micros(100),
            http_max_body: 16 * MIB,
            request_timeout: Duration::from_secs(30),
            http_idle_timeout: Duration::from_secs(60),
            http_max_connections: 1024,
        }
    }
}

/// 2^40 ticks: twelve days of writes at a million a second, a gap no partition produces, yet
/// a 256th of the 48 bits a stamp is kept in.
pub const DEFAULT_MAX_CLOCK_SKEW: u64 = 1 << 40;

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// Gossip addresses of other nodes, `host:port` (`[v6]:port`), port != 0.
    pub seeds: Vec<String>,
    /// DNS name resolving to seeds (`host` or `host:port`).
    pub seed_dns: Option<String>,
    /// `None` = every node holds every key.
    pub replication_factor: Option<u32>,
    pub consistency_level: ConsistencyLevel,
    /// How long delete markers are kept; must be > 0.
    pub tombstone_ttl: Duration,
    /// How often a node gossips with a peer.
    pub gossip_interval: Duration,
    /// How long a node declared dead is remembered before it is forgotten.
    pub forget_dead_after: Duration,
    /// How long a quorum/all write waits for acknowledgements.
    pub write_timeout: Duration,
    /// How long a miss waits for the peers (read index, then read-repair) before it is
    /// answered from local data.
    pub read_timeout: Duration,
    /// The key peers prove they hold (RESP handshake, gossip MACs). `None`: derived from
    /// `security.requirepass`, else empty (any process that speaks the handshake is a peer).
    pub secret: Option<Secret>,
    /// Largest lead, in Lamport ticks, a peer's stamp may have over this node's clock.
    pub max_clock_skew: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            seeds: Vec::new(),
            seed_dns: None,
            replication_factor: None,
            consistency_level: ConsistencyLevel::Eventual,
            tombstone_ttl: Duration::from_secs(3600),
            gossip_interval: Duration::from_millis(500),
            forget_dead_after: Duration::from_secs(3600),
            write_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_millis(300),
            secret: None,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// Bytes; 0 = unlimited.
    pub max_memory: u64,
    /// TTL applied to keys set without one; `None` = no TTL (YAML `0` too).
    pub default_ttl: Option<Duration>,
    /// Active-expiry cycle period; must be > 0.
    pub cleanup_interval: Duration,
    pub eviction_policy: EvictionPolicy,
    /// 1..=64, as in Redis.
    pub maxmemory_samples: u32,
    /// False-positive rate, strictly between 0 and 1.
    pub cuckoo_filter_fpp: f64,
    /// Memory-pressure levels as fractions of a limit: 0 < warning < critical < panic <= 1.
    pub memory_warning: f64,
    pub memory_critical: f64,
    pub memory_panic: f64,
    /// 1..=1024.
    pub databases: u16,
    /// >= 1.
    pub maxclients: u32,
    /// Largest bulk string; >= 1MB (Redis minimum), <= client_query_buffer_limit.
    pub proto_max_bulk_len: u64,
    /// Per-client query buffer cap; >= 1MB.
    pub client_query_buffer_limit: u64,
    /// Idle client timeout; zero = never.
    pub timeout: Duration,
    /// Named stores at most (`default` not counted).
    pub max_stores: u32,
    pub client_output_buffer_limit: OutputLimits,
    /// Redis's `notify-keyspace-events` class letters ("" = off).
    pub notify_keyspace_events: String,
    /// Keyspace notifications also for writes that arrive from peers.
    pub notify_replicated_writes: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_memory: 0,
            default_ttl: None,
            cleanup_interval: Duration::from_millis(100),
            eviction_policy: EvictionPolicy::Lru,
            maxmemory_samples: 5,
            cuckoo_filter_fpp: 0.01,
            memory_warning: 0.80,
            memory_critical: 0.90,
            memory_panic: 0.95,
            databases: 16,
            maxclients: 10_000,
            proto_max_bulk_len: 512 * MIB,
            client_query_buffer_limit: GIB,
            timeout: Duration::ZERO,
            max_stores: 256,
            client_output_buffer_limit: OutputLimits::default(),
            notify_keyspace_events: String::new(),
            notify_replicated_writes: true,
        }
    }
}

/// Persistence settings. The loader keeps `enabled` and `strategy` in step:
/// `enabled: false` forces `strategy` to `Disabled` and vice versa, so
/// checking either one (or [`PersistenceConfig::is_active`]) is enough.
#[derive(Debug, Clone, PartialEq)]
pub struct PersistenceConfig {
    pub enabled: bool,
    pub strategy: PersistenceStrategy,
    pub sync_policy: SyncPolicy,
    /// Period between snapshots; must be > 0 (disable via `strategy`).
    pub snapshot_interval: Duration,
    /// AOF size that triggers a rewrite/rotation; > 0.
    pub max_log_size: u64,
    /// Snapshots/log generations to keep; >= 1.
    pub retain: u32,
    /// Start from the readable prefix of a damaged AOF instead of failing.
    pub allow_partial_recovery: bool,
}

impl PersistenceConfig {
    /// True when anything is written to disk.
    pub fn is_active(&self) -> bool {
        self.enabled && self.strategy != PersistenceStrategy::Disabled
    }
}

impl Default for PersistenceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            strategy: PersistenceStrategy::AofAndSnapshot,
            sync_policy: SyncPolicy::EverySec,
            snapshot_interval: Duration::from_secs(300),
            max_log_size: 64 * MIB,
            retain: 3,
            allow_partial_recovery: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    pub level: LogLevel,
    /// Non-empty, no duplicates.
    pub output: Vec<LogOutput>,
    pub log_dir: PathBuf,
    /// Rotate a log file at this size; > 0.
    pub max_file_size: u64,
    /// Rotated files to keep; >= 1.
    pub max_files: u32,
    /// JSON lines (true, the default) or text lines for people (false).
    pub structured: bool,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
            output: vec![LogOutput::Console],
            log_dir: PathBuf::from("./logs"),
            max_file_size: 100 * MIB,
            max_files: 5,
            structured: true,
        }
    }
}

/// Values from the command line; each `Some` wins over file and environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Overrides {
    pub node_id: Option<String>,
    /// Sets both `resp_bind_addr` and `http_bind_addr`.
    pub bind: Option<String>,
    pub resp_port: Option<u16>,
    pub http_port: Option<u16>,
    pub gossip_port: Option<u16>,
    pub data_dir: Option<PathBuf>,
    pub log_level: Option<String>,
}

impl Config {
    /// Resolved data directory: `node.data_dir`, else `./data/<node.id>`.
    pub fn data_dir(&self) -> PathBuf {
        self.node
            .data_dir
            .clone()
            .unwrap_or_else(|| Path::new("./data").join(&self.node.id))
    }

    /// Parses and validates YAML text. `origin` (usually the file name) is
    /// used in error messages only.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let (config, spans) = parse_yaml(text, origin)?;
        config
            .check()
            .map_err(|p| located(p, origin, text, &spans))?;
        Ok(config)
    }

    /// Reads, parses and validates one file (no environment, no flags).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = read_file(path)?;
        Self::from_yaml_str(&text, &path.display().to_string())
    }

    /// Loads the effective configuration: defaults < file < environment <
    /// flags. The file is `path`, else `$HYPERCACHE_CONFIG`, else none.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut env = Vec::new();
        for (key, value) in std::env::vars_os() {
            // Names that are not UTF-8 cannot be ours.
            let Some(key) = key.to_str() else { continue };
            if !keys::is_env_var(key) {
                continue;
            }
            let value = value.into_string().map_err(|_| ConfigError::Env {
                var: key.to_owned(),
                message: "value is not valid UTF-8".to_owned(),
            })?;
            env.push((key.to_owned(), value));
        }
        Self::load_with_env(path, overrides, env)
    }

    /// [`Config::load`] with the environment supplied by the caller (tests).
    pub fn load_with_env<I, K, V>(
        path: Option<&Path>,
        overrides: &Overrides,
        env: I,
    ) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        // Empty values count as unset, as is usual for container setups.
        let env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, v)| keys::is_env_var(k.as_ref()) && !v.as_ref().is_empty())
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        let env_path = env
            .iter()
            .rev()
            .find(|(k, _)| k == ENV_CONFIG)
            .map(|(_, v)| PathBuf::from(v));
        let file = path.map(Path::to_path_buf).or(env_path);

        let (mut config, mut spans, source) = match &file {
            Some(p) => {
                let text = read_file(p)?;
                let origin = p.display().to_string();
                let (config, spans) = parse_yaml(&text, &origin)?;
                (config, spans, Some((origin, text)))
            }
            None => (Config::default(), Spans::new(), None),
        };
        config.source = file.clone();
        config.apply_env(&env, &mut spans)?;
        config.apply_overrides(overrides, &mut spans)?;
        config.check().map_err(|p| match &source {
            Some((origin, text)) => located(p, origin, text, &spans),
            None => unlocated(p),
        })?;
        Ok(config)
    }

    /// Cross-field and range validation. Loading already calls this; call it
    /// again after changing a `Config` by hand.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(unlocated)
    }

    /// One-line human summary (for `config validate` and startup logs).
    pub fn summary(&self) -> String {
        let n = &self.network;
        let mem = if self.cache.max_memory == 0 {
            "unlimited".to_owned()
        } else {
            format_size(self.cache.max_memory)
        };
        let persistence = if self.persistence.is_active() {
            format!(
                "{} ({})",
                self.persistence.strategy, self.persistence.sync_policy
            )
        } else {
            "disabled".to_owned()
        };
        format!(
            "node {}, resp {}:{}, http {}:{}, gossip {}, {} seed(s), max_memory {}, eviction {}, persistence {}, data {}, {} store(s)",
            self.node.id,
            n.resp_bind_addr,
            n.resp_port,
            n.http_bind_addr,
            n.http_port,
            n.gossip_port,
            self.cluster.seeds.len(),
            mem,
            self.cache.eviction_policy,
            persistence,
            self.data_dir().display(),
            self.stores.len()
        )
    }
}
