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

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
const TIB: u64 = 1024 * GIB;

/// Environment variable naming the config file when `--config` is absent.
pub const ENV_CONFIG: &str = "HYPERCACHE_CONFIG";
/// Every environment variable the loader reads; other `HYPERCACHE_*` names
/// are ignored.
pub const ENV_VARS: [&str; 11] = [
    ENV_CONFIG,
    "HYPERCACHE_REQUIREPASS",
    "HYPERCACHE_CLUSTER_SECRET",
    "HYPERCACHE_HTTP_TOKEN",
    "HYPERCACHE_NODE_ID",
    "HYPERCACHE_BIND",
    "HYPERCACHE_RESP_PORT",
    "HYPERCACHE_HTTP_PORT",
    "HYPERCACHE_GOSSIP_PORT",
    "HYPERCACHE_DATA_DIR",
    "HYPERCACHE_LOG_LEVEL",
];

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A value that does not parse (size, duration, enum name, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// Anything that can go wrong while loading configuration. `Display` is the
/// user-facing message (file, line, key and, for file errors, a snippet).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// YAML syntax or shape error (unknown key, mapping expected, ...).
    /// `message` comes from the YAML parser and already includes
    /// "line L column C" and a snippet.
    #[error("{origin}: {message}")]
    Parse {
        origin: String,
        line: Option<u64>,
        column: Option<u64>,
        message: String,
    },
    /// A key has a bad value. `key` is a dotted path such as
    /// `cache.max_memory` or `stores[2].name`. `origin` is set when a file
    /// was involved, `position` when the value came from it.
    #[error("{}", render_invalid(.origin.as_deref(), .key, .message, .position.as_deref()))]
    Invalid {
        origin: Option<String>,
        key: String,
        message: String,
        position: Option<Box<Position>>,
    },
    /// A `HYPERCACHE_*` environment variable has a bad value.
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    /// A command-line flag has a bad value.
    #[error("command-line flag {flag}: {message}")]
    Flag { flag: String, message: String },
}

/// Where in the file a bad value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// 1-based.
    pub line: u64,
    /// 1-based, in characters.
    pub column: u64,
    /// Rendered source excerpt with a caret under the value.
    pub snippet: String,
}

impl ConfigError {
    /// 1-based line in the config file, when known.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Parse { line, .. } => *line,
            Self::Invalid { position, .. } => position.as_ref().map(|p| p.line),
            _ => None,
        }
    }

    /// Dotted key path of the offending value, when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

fn render_invalid(
    origin: Option<&str>,
    key: &str,
    message: &str,
    position: Option<&Position>,
) -> String {
    let mut out = String::new();
    if let Some(origin) = origin {
        out.push_str(origin);
        out.push_str(": ");
    }
    if let Some(p) = position {
        out.push_str(&format!("line {} column {}: ", p.line, p.column));
    }
    out.push_str(key);
    out.push_str(": ");
    out.push_str(message);
    if let Some(p) = position {
        out.push('\n');
        out.push_str(&p.snippet);
    }
    out
}

/// Renders the offending line (and the one before it) with a caret, in the
/// same layout the YAML parser uses, so all file errors look alike.
fn position(src: &str, origin: &str, (line, column): (u64, u64), message: &str) -> Box<Position> {
    let lines: Vec<&str> = src.lines().collect();
    let idx = usize::try_from(line)
        .unwrap_or(usize::MAX)
        .saturating_sub(1);
    let width = line.to_string().len();
    let blank = " ".repeat(width);
    let mut out = format!("{blank}--> {origin}:{line}:{column}\n{blank} |\n");
    if idx >= 1
        && let Some(prev) = lines.get(idx - 1)
    {
        out.push_str(&format!("{:>width$} | {prev}\n", line - 1));
    }
    if let Some(cur) = lines.get(idx) {
        out.push_str(&format!("{line:>width$} | {cur}\n"));
        let pad = " ".repeat(usize::try_from(column).unwrap_or(1).saturating_sub(1));
        out.push_str(&format!("{blank} | {pad}^ {message}"));
    }
    Box::new(Position {
        line,
        column,
        snippet: out,
    })
}

// ---------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------

/// Defines a config enum with a canonical lowercase name, accepted aliases
/// (matched case-insensitively, `_` treated as `-`), `FromStr` and `Display`.
macro_rules! config_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal, $expected:literal {
            $( $(#[$vmeta:meta])* $var:ident => $canon:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $( $(#[$vmeta])* $var ),+
        }

        impl $name {
            /// Canonical (HyperCache) name, as accepted in YAML.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Self::$var => $canon ),+
                }
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, InvalidValue> {
                let norm = s.trim().to_ascii_lowercase().replace('_', "-");
                $(
                    if norm == $canon $(|| norm == $alias)* {
                        return Ok(Self::$var);
                    }
                )+
                Err(InvalidValue(format!(
                    "invalid {} '{}' (expected one of: {})",
                    $what, s, $expected
                )))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

config_enum! {
    /// Which keys are evicted when `max_memory` is reached.
    EvictionPolicy, "eviction policy",
    "lru, lfu, ttl, session, random, noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl" {
        /// Least recently used, any key (Redis `allkeys-lru`).
        #[default]
        Lru => "lru" | "allkeys-lru",
        /// Least frequently used, any key (Redis `allkeys-lfu`).
        Lfu => "lfu" | "allkeys-lfu",
        /// Keys with the nearest expiry first (Redis `volatile-ttl`).
        Ttl => "ttl" | "volatile-ttl",
        /// Session-style: least recently used among keys with a TTL.
        Session => "session",
        /// Random key (Redis `allkeys-random`).
        Random => "random" | "allkeys-random",
        /// Never evict; writes fail with OOM when full.
        NoEviction => "noeviction" | "no-eviction",
        VolatileLru => "volatile-lru",
        VolatileLfu => "volatile-lfu",
        VolatileRandom => "volatile-random",
    }
}

impl EvictionPolicy {
    /// Name reported to Redis clients (`CONFIG GET maxmemory-policy`).
    /// `Session` reports as `volatile-lru`, its nearest Redis equivalent.
    pub fn redis_name(&self) -> &'static str {
        match self {
            Self::Lru => "allkeys-lru",
            Self::Lfu => "allkeys-lfu",
            Self::Ttl => "volatile-ttl",
            Self::Session => "volatile-lru",
            Self::Random => "allkeys-random",
            Self::NoEviction => "noeviction",
            Self::VolatileLru => "volatile-lru",
            Self::VolatileLfu => "volatile-lfu",
            Self::VolatileRandom => "volatile-random",
        }
    }
}

config_enum! {
    /// How many replicas must acknowledge a write/read.
    ConsistencyLevel, "consistency level", "eventual, quorum, all" {
        #[default]
        Eventual => "eventual",
        Quorum => "quorum",
        All => "all",
    }
}

config_enum! {
    /// What is written to disk.
    PersistenceStrategy, "persistence strategy", "aof+snapshot, aof, snapshot, disabled" {
        /// Append-only log plus periodic snapshots.
        #[default]
        AofAndSnapshot => "aof+snapshot" | "aof-and-snapshot" | "snapshot+aof",
        /// Append-only log only.
        Aof => "aof" | "aof-only",
        /// Periodic snapshots only.
        Snapshot => "snapshot" | "snapshot-only",
        /// Nothing is persisted.
        Disabled => "disabled" | "none",
    }
}

impl PersistenceStrategy {
    /// Builds the strategy from the legacy `aof_enabled`/`snapshot_enabled` pair.
    pub fn from_parts(aof: bool, snapshot: bool) -> Self {
        match (aof, snapshot) {
            (true, true) => Self::AofAndSnapshot,
            (true, false) => Self::Aof,
            (false, true) => Self::Snapshot,
            (false, false) => Self::Disabled,
        }
    }

    /// True when an append-only log is written.
    pub fn aof(&self) -> bool {
        matches!(self, Self::AofAndSnapshot | Self::Aof)
    }

    /// True when snapshots are written.
    pub fn snapshot(&self) -> bool {
        matches!(self, Self::AofAndSnapshot | Self::Snapshot)
    }
}

config_enum! {
    /// When the AOF is fsynced.
    SyncPolicy, "sync policy", "always, everysec, no" {
        Always => "always",
        #[default]
        EverySec => "everysec" | "periodic",
        No => "no" | "never",
    }
}

config_enum! {
    /// Minimum log level.
    LogLevel, "log level", "trace, debug, info, warn, error" {
        Trace => "trace",
        Debug => "debug",
        #[default]
        Info => "info",
        Warn => "warn" | "warning",
        /// `fatal` is accepted as an alias.
        Error => "error" | "fatal",
    }
}

config_enum! {
    /// Who may run DEBUG (Redis's `enable-debug-command`).
    DebugCommand, "enable-debug-command value", "no, local, yes" {
        #[default]
        No => "no" | "false" | "off",
        /// Only clients connected over the loopback interface.
        Local => "local",
        Yes => "yes" | "true" | "on",
    }
}

config_enum! {
    /// Where logs go.
    LogOutput, "log output", "console, file" {
        #[default]
        Console => "console",
        File => "file",
    }
}

// ---------------------------------------------------------------------------
// Config structs
// ---------------------------------------------------------------------------

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
    pub stores: Vec<StoreConfig>,
}

/// A password, token or key: never printed (`Debug` redacts it), compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The secret's bytes, for comparison and key derivation only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Compares with `other` in time independent of where they differ.
    pub fn matches(&self, other: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        // Lengths may leak; contents do not.
        self.0.len() == other.len() && bool::from(self.0.ct_eq(other))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
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
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            requirepass: None,
            http_token: None,
            protected_mode: true,
            enable_debug_command: DebugCommand::No,
            metrics_auth: false,
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
    /// Accepted for compatibility with older configs.
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

/// A named store (keyspace) with its own policies. `None` fields inherit the
/// node-wide setting.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// `[A-Za-z0-9_-]{1,64}`, not all digits, unique (case-sensitive).
    /// `default` configures the default store.
    pub name: String,
    /// Bytes; 0 = share the node limit.
    pub max_memory: u64,
    pub eviction_policy: Option<EvictionPolicy>,
    /// `None` = inherit `cache.default_ttl`; `Some(ZERO)` (YAML `0`) = no
    /// default TTL for this store even if the node has one.
    pub default_ttl: Option<Duration>,
    /// Off unless set to true: on a single node a local miss costs as little without it, so
    /// it pays for its memory only where it saves read-repair (see the README).
    pub cuckoo_filter: bool,
    /// `None` = inherit `cache.cuckoo_filter_fpp`.
    pub cuckoo_filter_fpp: Option<f64>,
    pub persistence: Option<PersistenceStrategy>,
    pub replication_factor: Option<u32>,
}

impl StoreConfig {
    /// A store with every policy inherited.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            max_memory: 0,
            eviction_policy: None,
            default_ttl: None,
            cuckoo_filter: false,
            cuckoo_filter_fpp: None,
            persistence: None,
            replication_factor: None,
        }
    }
}

impl StoreConfig {
    /// The store as JSON (the HTTP API, and the record that creates it on every node).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "max_memory": self.max_memory,
            "eviction_policy": self.eviction_policy.map(|p| p.name()),
            "default_ttl_ms": self.default_ttl.map(|d| d.as_millis() as u64),
            "cuckoo_filter": self.cuckoo_filter,
            "cuckoo_filter_fpp": self.cuckoo_filter_fpp,
            "persistence": self.persistence.map(|p| p.name()),
            "replication_factor": self.replication_factor,
        })
    }

    /// Eviction policy names the JSON API accepts (exactly, as its schema lists them).
    pub const POLICY_NAMES: &'static [&'static str] = &[
        "lru",
        "lfu",
        "ttl",
        "session",
        "random",
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ];
    /// Persistence strategies the JSON API accepts.
    pub const PERSISTENCE_NAMES: &'static [&'static str] =
        &["aof+snapshot", "aof", "snapshot", "disabled"];
    /// The largest whole number JSON carries exactly.
    pub const JSON_MAX_INT: u64 = (1 << 53) - 1;
    /// The longest default TTL, in ms (as the HTTP API's TTLs).
    pub const MAX_TTL_MS: u64 = 1_000_000_000_000_000;

    /// A store from JSON (the HTTP API, and the records that create stores on every node),
    /// validated as strictly as its schema states; the error names the field. Null fields are
    /// absent ones.
    pub fn from_json(v: &serde_json::Value) -> Result<StoreConfig, (String, String)> {
        use serde_json::Value as J;
        let bad = |f: &str, m: &str| (f.to_string(), m.to_string());
        let Some(obj) = v.as_object() else {
            return Err(bad("body", "must be a JSON object"));
        };
        let name = match obj.get("name") {
            Some(J::String(n)) => n.clone(),
            Some(J::Null) | None => return Err(bad("name", "is required")),
            Some(_) => return Err(bad("name", "must be a string")),
        };
        check_store_name(&name).map_err(|m| bad("name", &m))?;
        let mut s = StoreConfig::new(name);
        for (k, val) in obj {
            if val.is_null() {
                continue;
            }
            // JSON Schema counts 5.0 as an integer too.
            let int = |max: u64, what: &str| {
                val.as_u64()
                    .or_else(|| {
                        val.as_f64()
                            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= max as f64)
                            .map(|f| f as u64)
                    })
                    .filter(|&n| n <= max)
                    .ok_or_else(|| bad(k, what))
            };
            let one_of = |names: &[&str]| {
                val.as_str()
                    .filter(|t| names.contains(t))
                    .ok_or_else(|| bad(k, &format!("must be one of: {}", names.join(", "))))
            };
            match k.as_str() {
                "name" => {}
                "max_memory" => {
                    // A store's tables and filter alone take tens of KB: a smaller limit
                    // could refuse every write.
                    let what = "must be 0 (no limit of its own) or a whole number of bytes from 1048576 (1MB)";
                    let m = int(Self::JSON_MAX_INT, what)?;
                    if m != 0 && m < MIB {
                        return Err(bad(k, what));
                    }
                    s.max_memory = m;
                }
                "default_ttl_ms" => {
                    s.default_ttl = Some(Duration::from_millis(int(
                        Self::MAX_TTL_MS,
                        "must be a whole number of milliseconds up to 1e15 (0 = none)",
                    )?))
                }
                "eviction_policy" => {
                    let t = one_of(Self::POLICY_NAMES)?;
                    s.eviction_policy = Some(t.parse().map_err(|e: InvalidValue| bad(k, &e.0))?);
                }
                "cuckoo_filter" => {
                    s.cuckoo_filter = val
                        .as_bool()
                        .ok_or_else(|| bad(k, "must be true or false"))?
                }
                "cuckoo_filter_fpp" => {
                    let f = val.as_f64().ok_or_else(|| bad(k, "must be a number"))?;
                    check_fpp(f).map_err(|m| bad(k, &m))?;
                    s.cuckoo_filter_fpp = Some(f);
                }
                "persistence" => {
                    let t = one_of(Self::PERSISTENCE_NAMES)?;
                    s.persistence = Some(t.parse().map_err(|e: InvalidValue| bad(k, &e.0))?);
                }
                "replication_factor" => {
                    let rf = int(u32::MAX as u64, "must be a whole number of at least 1")?;
                    if rf == 0 {
                        return Err(bad(k, "must be a whole number of at least 1"));
                    }
                    s.replication_factor = Some(rf as u32);
                }
                other => return Err(bad(other, "unknown field")),
            }
        }
        Ok(s)
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

// ---------------------------------------------------------------------------
// Value parsers
// ---------------------------------------------------------------------------

/// `<digits>[.<digits>]` split from its unit; fraction kept as num/den.
struct Number {
    int: u128,
    frac: u128,
    den: u128,
}

impl Number {
    /// `self * mult`, rounded down; `None` on overflow.
    fn scale(&self, mult: u128) -> Option<u128> {
        let whole = self.int.checked_mul(mult)?;
        let part = self.frac.checked_mul(mult)? / self.den;
        whole.checked_add(part)
    }

    fn has_fraction(&self) -> bool {
        self.frac != 0
    }
}

enum NumError {
    Syntax,
    Negative,
    TooLarge,
    TooPrecise,
}

/// Splits `"1.5 GB"` into (1.5, "GB"). The unit must be ASCII letters.
fn split_number(text: &str) -> Result<(Number, &str), NumError> {
    let s = text.trim();
    if s.starts_with('-') {
        return Err(NumError::Negative);
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let unit = unit.trim_start();
    if !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(NumError::Syntax);
    }
    let (int_part, frac_part) = match num.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (num, None),
    };
    if int_part.is_empty() {
        return Err(NumError::Syntax);
    }
    let digits = |d: &str| -> Result<u128, NumError> {
        d.bytes().try_fold(0u128, |acc, b| {
            if !b.is_ascii_digit() {
                return Err(NumError::Syntax);
            }
            acc.checked_mul(10)
                .and_then(|v| v.checked_add(u128::from(b - b'0')))
                .ok_or(NumError::TooLarge)
        })
    };
    let int = digits(int_part)?;
    let (frac, den) = match frac_part {
        None => (0, 1),
        Some("") => return Err(NumError::Syntax),
        // Bounded so scale() cannot overflow u128 for any unit we support.
        Some(f) if f.len() > 9 => return Err(NumError::TooPrecise),
        Some(f) => (digits(f)?, 10u128.pow(f.len() as u32)),
    };
    Ok((Number { int, frac, den }, unit))
}

/// Parses a byte size; see the module docs for the grammar.
pub fn parse_size(text: &str) -> Result<u64, InvalidValue> {
    let hint = "(use e.g. 512MB, 1GB)";
    let fail = |why: &str| InvalidValue(format!("invalid size '{text}'{why} {hint}"));
    let (num, unit) = split_number(text).map_err(|e| match e {
        NumError::Syntax => fail(""),
        NumError::Negative => fail(": must not be negative"),
        NumError::TooLarge => fail(": too large"),
        NumError::TooPrecise => fail(": at most 9 decimal places"),
    })?;
    let mult = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => KIB,
        "M" | "MB" | "MIB" => MIB,
        "G" | "GB" | "GIB" => GIB,
        "T" | "TB" | "TIB" => TIB,
        _ => return Err(fail(": unknown unit")),
    };
    if mult == 1 && num.has_fraction() {
        return Err(fail(": fractional bytes"));
    }
    num.scale(u128::from(mult))
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| fail(": too large"))
}

/// Parses a duration; see the module docs for the grammar.
pub fn parse_duration(text: &str) -> Result<Duration, InvalidValue> {
    let hint = "(use e.g. 500ms, 5s, 5m, 1h, 2d)";
    let fail = |why: &str| InvalidValue(format!("invalid duration '{text}'{why} {hint}"));
    let (num, unit) = split_number(text).map_err(|e| match e {
        NumError::Syntax => fail(""),
        NumError::Negative => fail(": must not be negative"),
        NumError::TooLarge => fail(": too large"),
        NumError::TooPrecise => fail(": at most 9 decimal places"),
    })?;
    const NS_PER_SEC: u128 = 1_000_000_000;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "" | "s" => NS_PER_SEC,
        "m" => 60 * NS_PER_SEC,
        "h" => 3600 * NS_PER_SEC,
        "d" => 86_400 * NS_PER_SEC,
        _ => return Err(fail(": unknown unit")),
    };
    num.scale(mult)
        .and_then(|v| u64::try_from(v).ok())
        .map(Duration::from_nanos)
        .ok_or_else(|| fail(": too large"))
}

/// Formats bytes with the largest unit that divides them exactly (`1GB`).
pub fn format_size(bytes: u64) -> String {
    for (mult, unit) in [(TIB, "TB"), (GIB, "GB"), (MIB, "MB"), (KIB, "KB")] {
        if bytes != 0 && bytes.is_multiple_of(mult) {
            return format!("{}{unit}", bytes / mult);
        }
    }
    format!("{bytes}B")
}

/// Formats a duration with the largest unit that divides it exactly (`5m`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{}ns", d.as_nanos());
    }
    for (mult, unit) in [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ] {
        if ms != 0 && ms.is_multiple_of(mult) {
            return format!("{}{unit}", ms / mult);
        }
    }
    format!("{ms}ms")
}

fn parse_bool(text: &str) -> Result<bool, InvalidValue> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Ok(true),
        "false" | "no" | "off" => Ok(false),
        _ => Err(InvalidValue(format!(
            "invalid boolean '{text}' (expected true or false)"
        ))),
    }
}

/// A secret kept in a file: its content without the trailing line break, never empty.
fn read_secret_file(path: &str) -> Result<Option<Secret>, InvalidValue> {
    let bytes =
        std::fs::read(path).map_err(|e| InvalidValue(format!("cannot read '{path}': {e}")))?;
    let mut s = bytes.as_slice();
    while let [rest @ .., b'\n' | b'\r'] = s {
        s = rest;
    }
    if s.is_empty() {
        return Err(InvalidValue(format!("'{path}' is empty")));
    }
    Ok(Some(Secret::new(s)))
}

fn parse_uint<T: TryFrom<u64>>(text: &str) -> Result<T, InvalidValue> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(InvalidValue(format!("'{text}' must not be negative")));
    }
    let v: u64 = t.parse().map_err(|e: std::num::ParseIntError| {
        if *e.kind() == std::num::IntErrorKind::PosOverflow {
            InvalidValue(format!("'{text}' is too large"))
        } else {
            InvalidValue(format!("invalid integer '{text}'"))
        }
    })?;
    T::try_from(v).map_err(|_| InvalidValue(format!("'{text}' is too large")))
}

fn parse_port(text: &str) -> Result<u16, InvalidValue> {
    parse_uint(text).map_err(|_| InvalidValue(format!("invalid port '{text}' (expected 0-65535)")))
}

fn parse_f64(text: &str) -> Result<f64, InvalidValue> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| InvalidValue(format!("invalid number '{text}'")))
}

/// `None` for "all nodes", otherwise a count (0 is rejected by validation).
fn parse_replication_factor(text: &str) -> Result<Option<u32>, InvalidValue> {
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    parse_uint(text).map(Some)
}

// ---------------------------------------------------------------------------
// Semantic checks shared by file, env and flag values
// ---------------------------------------------------------------------------

fn check_node_id(id: &str) -> Result<(), String> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    // It names the data directory, so it must be a safe path component.
    if id.is_empty() || id.len() > 64 || !ok_chars || id == "." || id == ".." {
        return Err(format!(
            "invalid node id '{id}' (1-64 characters of A-Z a-z 0-9 . _ -)"
        ));
    }
    Ok(())
}

fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

fn check_host(host: &str) -> Result<(), String> {
    if host.parse::<IpAddr>().is_ok() || is_hostname(host) {
        Ok(())
    } else {
        Err(format!(
            "invalid address '{host}' (expected an IP address or host name, without a port)"
        ))
    }
}

/// `host:port` or `[v6]:port` with a nonzero port.
fn check_host_port(s: &str) -> Result<(), String> {
    let bad = || format!("invalid address '{s}' (expected host:port, e.g. 10.0.0.2:7946)");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, port) = rest.split_once("]:").ok_or_else(bad)?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        (None, port)
    } else {
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        (Some(host), port)
    };
    if let Some(host) = host
        && host.parse::<std::net::Ipv4Addr>().is_err()
        && !is_hostname(host)
    {
        return Err(bad());
    }
    match port.parse::<u16>() {
        Ok(0) => Err(format!("invalid address '{s}': port must not be 0")),
        Ok(_) => Ok(()),
        Err(_) => Err(bad()),
    }
}

fn check_host_or_host_port(s: &str) -> Result<(), String> {
    if check_host(s).is_ok() {
        return Ok(());
    }
    check_host_port(s).map_err(|_| {
        format!(
            "invalid address '{s}' (expected host or host:port, e.g. 10.0.0.2 or 10.0.0.2:7946)"
        )
    })
}

fn check_store_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(format!(
            "invalid store name '{name}' (1-64 characters of A-Z a-z 0-9 _ -)"
        ));
    }
    // All-digit names would be ambiguous with numeric database indexes.
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "invalid store name '{name}': must not be all digits"
        ));
    }
    Ok(())
}

fn check_fpp(v: f64) -> Result<(), String> {
    if v > 0.0 && v < 1.0 {
        Ok(())
    } else {
        Err(format!(
            "{v} is out of range (must be between 0 and 1, exclusive)"
        ))
    }
}

fn check_rf(rf: Option<u32>) -> Result<(), String> {
    if rf == Some(0) {
        Err("must be at least 1 (omit it to replicate to every node)".to_owned())
    } else {
        Ok(())
    }
}

/// A semantic problem: the key it concerns and, for conflicts, the other
/// key involved (used for the file position if `key` was not in the file).
struct Problem {
    key: String,
    message: String,
    related: Option<String>,
}

impl Problem {
    fn new(key: &str, message: String) -> Self {
        Self {
            key: key.to_owned(),
            message,
            related: None,
        }
    }
}

fn require(cond: bool, key: &str, msg: impl FnOnce() -> String) -> Result<(), Problem> {
    if cond {
        Ok(())
    } else {
        Err(Problem::new(key, msg()))
    }
}

fn at(key: &str, r: Result<(), String>) -> Result<(), Problem> {
    r.map_err(|m| Problem::new(key, m))
}

// ---------------------------------------------------------------------------
// Config methods
// ---------------------------------------------------------------------------

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
            if !ENV_VARS.contains(&key) {
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
            .filter(|(k, v)| ENV_VARS.contains(&k.as_ref()) && !v.as_ref().is_empty())
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

    fn apply_env(
        &mut self,
        env: &[(String, String)],
        spans: &mut Spans,
    ) -> Result<(), ConfigError> {
        for (var, value) in env {
            let fail = |message: String| ConfigError::Env {
                var: var.clone(),
                message,
            };
            let port = |v: &str| parse_port(v).map_err(|e| fail(e.0));
            match var.as_str() {
                "HYPERCACHE_NODE_ID" => {
                    check_node_id(value).map_err(fail)?;
                    self.node.id = value.clone();
                    spans.remove("node.id");
                }
                "HYPERCACHE_BIND" => {
                    check_host(value).map_err(fail)?;
                    self.set_bind(value, spans);
                }
                "HYPERCACHE_RESP_PORT" => {
                    self.network.resp_port = port(value)?;
                    spans.remove("network.resp_port");
                }
                "HYPERCACHE_HTTP_PORT" => {
                    self.network.http_port = port(value)?;
                    spans.remove("network.http_port");
                }
                "HYPERCACHE_GOSSIP_PORT" => {
                    self.network.gossip_port = port(value)?;
                    spans.remove("network.gossip_port");
                }
                "HYPERCACHE_DATA_DIR" => {
                    self.node.data_dir = Some(PathBuf::from(value));
                    spans.remove("node.data_dir");
                }
                "HYPERCACHE_LOG_LEVEL" => {
                    self.logging.level = value.parse().map_err(|e: InvalidValue| fail(e.0))?;
                    spans.remove("logging.level");
                }
                "HYPERCACHE_REQUIREPASS" => {
                    self.security.requirepass = Some(Secret::new(value.as_bytes()));
                    spans.remove("security.requirepass");
                }
                "HYPERCACHE_CLUSTER_SECRET" => {
                    self.cluster.secret = Some(Secret::new(value.as_bytes()));
                    spans.remove("cluster.secret");
                }
                "HYPERCACHE_HTTP_TOKEN" => {
                    self.security.http_token = Some(Secret::new(value.as_bytes()));
                    spans.remove("security.http_token");
                }
                // HYPERCACHE_CONFIG is consumed by the caller; other names
                // may belong to tooling, so they are ignored.
                _ => {}
            }
        }
        Ok(())
    }

    fn apply_overrides(&mut self, o: &Overrides, spans: &mut Spans) -> Result<(), ConfigError> {
        let fail = |flag: &str, message: String| ConfigError::Flag {
            flag: flag.to_owned(),
            message,
        };
        if let Some(id) = &o.node_id {
            check_node_id(id).map_err(|m| fail("--node-id", m))?;
            self.node.id = id.clone();
            spans.remove("node.id");
        }
        if let Some(bind) = &o.bind {
            check_host(bind).map_err(|m| fail("--bind", m))?;
            self.set_bind(bind, spans);
        }
        if let Some(p) = o.resp_port {
            self.network.resp_port = p;
            spans.remove("network.resp_port");
        }
        if let Some(p) = o.http_port {
            self.network.http_port = p;
            spans.remove("network.http_port");
        }
        if let Some(p) = o.gossip_port {
            self.network.gossip_port = p;
            spans.remove("network.gossip_port");
        }
        if let Some(dir) = &o.data_dir {
            if dir.as_os_str().is_empty() {
                return Err(fail("--data-dir", "must not be empty".to_owned()));
            }
            self.node.data_dir = Some(dir.clone());
            spans.remove("node.data_dir");
        }
        if let Some(level) = &o.log_level {
            self.logging.level = level
                .parse()
                .map_err(|e: InvalidValue| fail("--log-level", e.0))?;
            spans.remove("logging.level");
        }
        Ok(())
    }

    fn set_bind(&mut self, addr: &str, spans: &mut Spans) {
        self.network.resp_bind_addr = addr.to_owned();
        self.network.http_bind_addr = addr.to_owned();
        spans.remove("network.resp_bind_addr");
        spans.remove("network.http_bind_addr");
    }

    /// All semantic rules; returns the first violation.
    fn check(&self) -> Result<(), Problem> {
        at("node.id", check_node_id(&self.node.id))?;
        if let Some(dir) = &self.node.data_dir {
            require(!dir.as_os_str().is_empty(), "node.data_dir", || {
                "must not be empty".to_owned()
            })?;
        }

        let n = &self.network;
        at("network.resp_bind_addr", check_host(&n.resp_bind_addr))?;
        at("network.http_bind_addr", check_host(&n.http_bind_addr))?;
        let ports = [
            ("network.resp_port", n.resp_port),
            ("network.http_port", n.http_port),
            ("network.gossip_port", n.gossip_port),
        ];
        for (i, (key_a, a)) in ports.iter().enumerate() {
            for (key_b, b) in &ports[i + 1..] {
                if *a != 0 && a == b {
                    return Err(Problem {
                        related: Some((*key_a).to_owned()),
                        ..Problem::new(key_b, format!("port {b} is already used by {key_a}"))
                    });
                }
            }
        }
        if let Some(addr) = &n.advertise_addr {
            at("network.advertise_addr", check_host_or_host_port(addr))?;
        }

        let c = &self.cluster;
        for (i, seed) in c.seeds.iter().enumerate() {
            at(&format!("cluster.seeds[{i}]"), check_host_port(seed))?;
        }
        if let Some(dns) = &c.seed_dns {
            at("cluster.seed_dns", check_host_or_host_port(dns))?;
        }
        at("cluster.replication_factor", check_rf(c.replication_factor))?;
        require(!c.tombstone_ttl.is_zero(), "cluster.tombstone_ttl", || {
            "must be greater than 0".to_owned()
        })?;

        let k = &self.cache;
        require(
            !k.cleanup_interval.is_zero(),
            "cache.cleanup_interval",
            || "must be greater than 0".to_owned(),
        )?;
        require(
            (1..=64).contains(&k.maxmemory_samples),
            "cache.maxmemory_samples",
            || format!("{} is out of range (1-64)", k.maxmemory_samples),
        )?;
        at("cache.cuckoo_filter_fpp", check_fpp(k.cuckoo_filter_fpp))?;
        for (key, v) in [
            ("cache.memory_warning", k.memory_warning),
            ("cache.memory_critical", k.memory_critical),
            ("cache.memory_panic", k.memory_panic),
        ] {
            require(v > 0.0 && v <= 1.0, key, || {
                format!("{v} is out of range (must be above 0 and at most 1)")
            })?;
        }
        require(
            k.memory_warning < k.memory_critical && k.memory_critical < k.memory_panic,
            "cache.memory_critical",
            || {
                format!(
                    "pressure levels must rise: warning {} < critical {} < panic {}",
                    k.memory_warning, k.memory_critical, k.memory_panic
                )
            },
        )?;
        require((1..=1024).contains(&k.databases), "cache.databases", || {
            format!("{} is out of range (1-1024)", k.databases)
        })?;
        require(k.maxclients >= 1, "cache.maxclients", || {
            "must be at least 1".to_owned()
        })?;
        require(
            k.proto_max_bulk_len >= MIB,
            "cache.proto_max_bulk_len",
            || {
                format!(
                    "{} is below the minimum of 1MB",
                    format_size(k.proto_max_bulk_len)
                )
            },
        )?;
        require(
            k.client_query_buffer_limit >= MIB,
            "cache.client_query_buffer_limit",
            || {
                format!(
                    "{} is below the minimum of 1MB",
                    format_size(k.client_query_buffer_limit)
                )
            },
        )?;
        require(
            k.proto_max_bulk_len <= k.client_query_buffer_limit,
            "cache.proto_max_bulk_len",
            || {
                format!(
                    "{} exceeds cache.client_query_buffer_limit ({})",
                    format_size(k.proto_max_bulk_len),
                    format_size(k.client_query_buffer_limit)
                )
            },
        )?;

        let p = &self.persistence;
        require(
            !p.snapshot_interval.is_zero(),
            "persistence.snapshot_interval",
            || "must be greater than 0 (use strategy: aof to turn snapshots off)".to_owned(),
        )?;
        require(p.max_log_size > 0, "persistence.max_log_size", || {
            "must be greater than 0".to_owned()
        })?;
        require(p.retain >= 1, "persistence.retain", || {
            "must be at least 1".to_owned()
        })?;

        let l = &self.logging;
        require(!l.output.is_empty(), "logging.output", || {
            "must list at least one of: console, file".to_owned()
        })?;
        require(!l.log_dir.as_os_str().is_empty(), "logging.log_dir", || {
            "must not be empty".to_owned()
        })?;
        require(l.max_file_size > 0, "logging.max_file_size", || {
            "must be greater than 0".to_owned()
        })?;
        require(l.max_files >= 1, "logging.max_files", || {
            "must be at least 1".to_owned()
        })?;

        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, s) in self.stores.iter().enumerate() {
            let key = |field: &str| format!("stores[{i}].{field}");
            at(&key("name"), check_store_name(&s.name))?;
            if let Some(first) = seen.insert(&s.name, i) {
                return Err(Problem::new(
                    &key("name"),
                    format!("duplicate store name '{}' (also stores[{first}])", s.name),
                ));
            }
            if let Some(fpp) = s.cuckoo_filter_fpp {
                at(&key("cuckoo_filter_fpp"), check_fpp(fpp))?;
            }
            at(&key("replication_factor"), check_rf(s.replication_factor))?;
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn unlocated(p: Problem) -> ConfigError {
    ConfigError::Invalid {
        origin: None,
        key: p.key,
        message: p.message,
        position: None,
    }
}

/// Attaches the file and, when the value came from it, line and snippet.
fn located(p: Problem, origin: &str, src: &str, spans: &Spans) -> ConfigError {
    let pos = spans
        .get(&p.key)
        .or_else(|| p.related.as_ref().and_then(|k| spans.get(k)));
    ConfigError::Invalid {
        origin: Some(origin.to_owned()),
        position: pos.map(|&at| position(src, origin, at, &p.message)),
        key: p.key,
        message: p.message,
    }
}

// ---------------------------------------------------------------------------
// YAML layer: every leaf is read as spanned raw text, so each conversion error
// can name its key and point at its line.
// ---------------------------------------------------------------------------

/// Key path -> (line, column) of the value in the file.
type Spans = HashMap<String, (u64, u64)>;

type Raw = Option<Spanned<String>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    node: Option<RawNode>,
    network: Option<RawNetwork>,
    cluster: Option<RawCluster>,
    cache: Option<RawCache>,
    persistence: Option<RawPersistence>,
    logging: Option<RawLogging>,
    metrics: Option<RawMetrics>,
    security: Option<RawSecurity>,
    stores: Option<Vec<Spanned<RawStore>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawMetrics {
    enabled: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawNode {
    id: Raw,
    data_dir: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawNetwork {
    resp_bind_addr: Raw,
    resp_port: Raw,
    http_bind_addr: Raw,
    http_port: Raw,
    gossip_port: Raw,
    advertise_addr: Raw,
    io_threads: Raw,
    busy_poll: Raw,
    http_max_body: Raw,
    request_timeout: Raw,
    http_idle_timeout: Raw,
    http_max_connections: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawCluster {
    seeds: Option<Vec<Spanned<String>>>,
    seed_dns: Raw,
    replication_factor: Raw,
    consistency_level: Raw,
    tombstone_ttl: Raw,
    gossip_interval: Raw,
    forget_dead_after: Raw,
    write_timeout: Raw,
    secret: Raw,
    secret_file: Raw,
    max_clock_skew: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawCache {
    max_memory: Raw,
    default_ttl: Raw,
    cleanup_interval: Raw,
    eviction_policy: Raw,
    maxmemory_samples: Raw,
    cuckoo_filter_fpp: Raw,
    memory_warning: Raw,
    memory_critical: Raw,
    memory_panic: Raw,
    databases: Raw,
    maxclients: Raw,
    proto_max_bulk_len: Raw,
    client_query_buffer_limit: Raw,
    timeout: Raw,
    max_stores: Raw,
    client_output_buffer_limit: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSecurity {
    requirepass: Raw,
    requirepass_file: Raw,
    http_token: Raw,
    http_token_file: Raw,
    protected_mode: Raw,
    enable_debug_command: Raw,
    metrics_auth: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawPersistence {
    enabled: Raw,
    strategy: Raw,
    sync_policy: Raw,
    snapshot_interval: Raw,
    max_log_size: Raw,
    retain: Raw,
    allow_partial_recovery: Raw,
    /// Legacy alias: adjusts `strategy`.
    aof_enabled: Raw,
    /// Legacy alias: adjusts `strategy`.
    snapshot_enabled: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawLogging {
    level: Raw,
    output: Option<Spanned<OneOrMany>>,
    log_dir: Raw,
    max_file_size: Raw,
    max_files: Raw,
    structured: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawStore {
    name: Raw,
    max_memory: Raw,
    eviction_policy: Raw,
    default_ttl: Raw,
    cuckoo_filter: Raw,
    cuckoo_filter_fpp: Raw,
    persistence: Raw,
    replication_factor: Raw,
}

/// A single string or a list of strings (`output: file` or `[console, file]`).
enum OneOrMany {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    items.push(item);
                }
                Ok(OneOrMany::Many(items))
            }
        }
        d.deserialize_any(V)
    }
}

/// Converts raw text to typed values, remembering where each key was.
struct Converter<'a> {
    origin: &'a str,
    src: &'a str,
    spans: Spans,
}

impl Converter<'_> {
    fn error(&self, key: &str, at: (u64, u64), message: String) -> ConfigError {
        ConfigError::Invalid {
            origin: Some(self.origin.to_owned()),
            key: key.to_owned(),
            position: Some(position(self.src, self.origin, at, &message)),
            message,
        }
    }

    fn convert<T>(
        &mut self,
        key: &str,
        raw: &Spanned<String>,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Result<T, ConfigError> {
        let pos = (raw.referenced.line(), raw.referenced.column());
        self.spans.insert(key.to_owned(), pos);
        parse(&raw.value).map_err(|e| self.error(key, pos, e.0))
    }

    /// Overwrites `slot` when the key is present.
    fn set<T>(
        &mut self,
        key: &str,
        raw: Raw,
        slot: &mut T,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Result<(), ConfigError> {
        if let Some(raw) = raw {
            *slot = self.convert(key, &raw, parse)?;
        }
        Ok(())
    }

    fn node(&mut self, r: RawNode, out: &mut NodeConfig) -> Result<(), ConfigError> {
        self.set("node.id", r.id, &mut out.id, text)?;
        self.set("node.data_dir", r.data_dir, &mut out.data_dir, |s| {
            Ok(Some(PathBuf::from(s)))
        })
    }

    fn network(&mut self, r: RawNetwork, out: &mut NetworkConfig) -> Result<(), ConfigError> {
        self.set(
            "network.resp_bind_addr",
            r.resp_bind_addr,
            &mut out.resp_bind_addr,
            text,
        )?;
        self.set(
            "network.resp_port",
            r.resp_port,
            &mut out.resp_port,
            parse_port,
        )?;
        self.set(
            "network.http_bind_addr",
            r.http_bind_addr,
            &mut out.http_bind_addr,
            text,
        )?;
        self.set(
            "network.http_port",
            r.http_port,
            &mut out.http_port,
            parse_port,
        )?;
        self.set(
            "network.gossip_port",
            r.gossip_port,
            &mut out.gossip_port,
            parse_port,
        )?;
        self.set(
            "network.advertise_addr",
            r.advertise_addr,
            &mut out.advertise_addr,
            |s| Ok(Some(s.to_owned())),
        )?;
        self.set(
            "network.busy_poll",
            r.busy_poll,
            &mut out.busy_poll,
            parse_duration,
        )?;
        self.set(
            "network.http_max_body",
            r.http_max_body,
            &mut out.http_max_body,
            |s| {
                let n = parse_size(s)?;
                if n == 0 || n > 4 << 30 {
                    return Err(InvalidValue("must be between 1 and 4gb".into()));
                }
                Ok(n)
            },
        )?;
        self.set(
            "network.request_timeout",
            r.request_timeout,
            &mut out.request_timeout,
            parse_duration,
        )?;
        self.set(
            "network.http_idle_timeout",
            r.http_idle_timeout,
            &mut out.http_idle_timeout,
            |s| {
                let d = parse_duration(s)?;
                if d.is_zero() {
                    return Err(InvalidValue("must be greater than 0".into()));
                }
                Ok(d)
            },
        )?;
        self.set(
            "network.http_max_connections",
            r.http_max_connections,
            &mut out.http_max_connections,
            |s| {
                let n: u32 = parse_uint(s)?;
                if n == 0 {
                    return Err(InvalidValue("must be at least 1".into()));
                }
                Ok(n)
            },
        )?;
        self.set(
            "network.io_threads",
            r.io_threads,
            &mut out.io_threads,
            |s| {
                let n: u32 = parse_uint(s)?;
                if n > 1024 {
                    return Err(InvalidValue(
                        "must be at most 1024 (0 = one per core)".into(),
                    ));
                }
                Ok(n)
            },
        )
    }

    fn cluster(&mut self, r: RawCluster, out: &mut ClusterConfig) -> Result<(), ConfigError> {
        if let Some(seeds) = r.seeds {
            out.seeds.clear();
            for (i, seed) in seeds.iter().enumerate() {
                let v = self.convert(&format!("cluster.seeds[{i}]"), seed, text)?;
                out.seeds.push(v);
            }
        }
        self.set("cluster.seed_dns", r.seed_dns, &mut out.seed_dns, |s| {
            Ok(Some(s.to_owned()))
        })?;
        self.set(
            "cluster.replication_factor",
            r.replication_factor,
            &mut out.replication_factor,
            parse_replication_factor,
        )?;
        self.set(
            "cluster.consistency_level",
            r.consistency_level,
            &mut out.consistency_level,
            str::parse,
        )?;
        self.set(
            "cluster.tombstone_ttl",
            r.tombstone_ttl,
            &mut out.tombstone_ttl,
            parse_duration,
        )?;
        let positive = |s: &str| {
            let d = parse_duration(s)?;
            if d.is_zero() {
                return Err(InvalidValue("must be greater than 0".into()));
            }
            Ok(d)
        };
        self.set(
            "cluster.gossip_interval",
            r.gossip_interval,
            &mut out.gossip_interval,
            positive,
        )?;
        self.set(
            "cluster.forget_dead_after",
            r.forget_dead_after,
            &mut out.forget_dead_after,
            positive,
        )?;
        self.set(
            "cluster.write_timeout",
            r.write_timeout,
            &mut out.write_timeout,
            positive,
        )?;
        self.secret(
            ("cluster.secret", r.secret),
            ("cluster.secret_file", r.secret_file),
            &mut out.secret,
        )?;
        self.set(
            "cluster.max_clock_skew",
            r.max_clock_skew,
            &mut out.max_clock_skew,
            |s| {
                let n: u64 = parse_uint(s)?;
                if !(1000..=1 << 46).contains(&n) {
                    return Err(InvalidValue(
                        "must be between 1000 and 2^46 Lamport ticks".into(),
                    ));
                }
                Ok(n)
            },
        )
    }

    /// A secret given inline or as a file (whose trailing newline is not part of it).
    fn secret(
        &mut self,
        (inline_key, inline): (&str, Raw),
        (file_key, file): (&str, Raw),
        out: &mut Option<Secret>,
    ) -> Result<(), ConfigError> {
        if let (Some(_), Some(f)) = (&inline, &file) {
            let pos = (f.referenced.line(), f.referenced.column());
            return Err(self.error(
                file_key,
                pos,
                format!("set only one of {inline_key} and {file_key}"),
            ));
        }
        self.set(inline_key, inline, out, |s| {
            if s.is_empty() {
                return Err(InvalidValue("must not be empty".into()));
            }
            Ok(Some(Secret::new(s)))
        })?;
        self.set(file_key, file, out, read_secret_file)
    }

    fn cache(&mut self, r: RawCache, out: &mut CacheConfig) -> Result<(), ConfigError> {
        self.set(
            "cache.max_memory",
            r.max_memory,
            &mut out.max_memory,
            parse_size,
        )?;
        self.set(
            "cache.default_ttl",
            r.default_ttl,
            &mut out.default_ttl,
            |s| {
                // Zero means "no TTL", which is None for the node-wide setting.
                parse_duration(s).map(|d| (!d.is_zero()).then_some(d))
            },
        )?;
        self.set(
            "cache.cleanup_interval",
            r.cleanup_interval,
            &mut out.cleanup_interval,
            parse_duration,
        )?;
        self.set(
            "cache.eviction_policy",
            r.eviction_policy,
            &mut out.eviction_policy,
            str::parse,
        )?;
        self.set(
            "cache.maxmemory_samples",
            r.maxmemory_samples,
            &mut out.maxmemory_samples,
            parse_uint,
        )?;
        self.set(
            "cache.cuckoo_filter_fpp",
            r.cuckoo_filter_fpp,
            &mut out.cuckoo_filter_fpp,
            parse_f64,
        )?;
        self.set(
            "cache.memory_warning",
            r.memory_warning,
            &mut out.memory_warning,
            parse_f64,
        )?;
        self.set(
            "cache.memory_critical",
            r.memory_critical,
            &mut out.memory_critical,
            parse_f64,
        )?;
        self.set(
            "cache.memory_panic",
            r.memory_panic,
            &mut out.memory_panic,
            parse_f64,
        )?;
        self.set(
            "cache.databases",
            r.databases,
            &mut out.databases,
            parse_uint,
        )?;
        self.set(
            "cache.maxclients",
            r.maxclients,
            &mut out.maxclients,
            parse_uint,
        )?;
        self.set(
            "cache.proto_max_bulk_len",
            r.proto_max_bulk_len,
            &mut out.proto_max_bulk_len,
            parse_size,
        )?;
        self.set(
            "cache.client_query_buffer_limit",
            r.client_query_buffer_limit,
            &mut out.client_query_buffer_limit,
            parse_size,
        )?;
        self.set("cache.timeout", r.timeout, &mut out.timeout, parse_duration)?;
        self.set("cache.max_stores", r.max_stores, &mut out.max_stores, |s| {
            let n: u32 = parse_uint(s)?;
            if n > 65_536 {
                return Err(InvalidValue("must be at most 65536".into()));
            }
            Ok(n)
        })?;
        let base = out.client_output_buffer_limit;
        self.set(
            "cache.client_output_buffer_limit",
            r.client_output_buffer_limit,
            &mut out.client_output_buffer_limit,
            |s| base.parse_over(s),
        )
    }

    fn security(&mut self, r: RawSecurity, out: &mut SecurityConfig) -> Result<(), ConfigError> {
        self.secret(
            ("security.requirepass", r.requirepass),
            ("security.requirepass_file", r.requirepass_file),
            &mut out.requirepass,
        )?;
        self.secret(
            ("security.http_token", r.http_token),
            ("security.http_token_file", r.http_token_file),
            &mut out.http_token,
        )?;
        self.set(
            "security.protected_mode",
            r.protected_mode,
            &mut out.protected_mode,
            parse_bool,
        )?;
        self.set(
            "security.enable_debug_command",
            r.enable_debug_command,
            &mut out.enable_debug_command,
            str::parse,
        )?;
        self.set(
            "security.metrics_auth",
            r.metrics_auth,
            &mut out.metrics_auth,
            parse_bool,
        )
    }

    fn persistence(
        &mut self,
        r: RawPersistence,
        out: &mut PersistenceConfig,
    ) -> Result<(), ConfigError> {
        let explicit_strategy = r.strategy.is_some();
        self.set(
            "persistence.enabled",
            r.enabled,
            &mut out.enabled,
            parse_bool,
        )?;
        self.set(
            "persistence.strategy",
            r.strategy,
            &mut out.strategy,
            str::parse,
        )?;
        self.set(
            "persistence.sync_policy",
            r.sync_policy,
            &mut out.sync_policy,
            str::parse,
        )?;
        self.set(
            "persistence.snapshot_interval",
            r.snapshot_interval,
            &mut out.snapshot_interval,
            parse_duration,
        )?;
        self.set(
            "persistence.max_log_size",
            r.max_log_size,
            &mut out.max_log_size,
            parse_size,
        )?;
        self.set("persistence.retain", r.retain, &mut out.retain, parse_uint)?;
        self.set(
            "persistence.allow_partial_recovery",
            r.allow_partial_recovery,
            &mut out.allow_partial_recovery,
            parse_bool,
        )?;

        // Legacy booleans override one half of the strategy each.
        let mut aof = out.strategy.aof();
        let mut snapshot = out.strategy.snapshot();
        let mut legacy_key = None;
        if let Some(raw) = &r.aof_enabled {
            aof = self.convert("persistence.aof_enabled", raw, parse_bool)?;
            legacy_key = Some(("persistence.aof_enabled", raw));
        }
        if let Some(raw) = &r.snapshot_enabled {
            snapshot = self.convert("persistence.snapshot_enabled", raw, parse_bool)?;
            legacy_key = Some(("persistence.snapshot_enabled", raw));
        }
        if let Some((key, raw)) = legacy_key {
            let derived = PersistenceStrategy::from_parts(aof, snapshot);
            if explicit_strategy && derived != out.strategy {
                let pos = (raw.referenced.line(), raw.referenced.column());
                return Err(self.error(
                    key,
                    pos,
                    format!(
                        "conflicts with persistence.strategy '{}' (set only one of them)",
                        out.strategy
                    ),
                ));
            }
            out.strategy = derived;
        }

        // Keep the two switches consistent so either can be checked.
        if out.strategy == PersistenceStrategy::Disabled {
            out.enabled = false;
        } else if !out.enabled {
            out.strategy = PersistenceStrategy::Disabled;
        }
        Ok(())
    }

    fn logging(&mut self, r: RawLogging, out: &mut LoggingConfig) -> Result<(), ConfigError> {
        self.set("logging.level", r.level, &mut out.level, str::parse)?;
        if let Some(spanned) = r.output {
            let items = match spanned.value {
                OneOrMany::One(v) => vec![Spanned {
                    value: v,
                    referenced: spanned.referenced,
                    defined: spanned.defined,
                }],
                OneOrMany::Many(items) => items,
            };
            self.spans.insert(
                "logging.output".to_owned(),
                (spanned.referenced.line(), spanned.referenced.column()),
            );
            out.output.clear();
            for (i, item) in items.iter().enumerate() {
                let v: LogOutput =
                    self.convert(&format!("logging.output[{i}]"), item, str::parse)?;
                // Duplicates are harmless; drop them.
                if !out.output.contains(&v) {
                    out.output.push(v);
                }
            }
        }
        self.set("logging.log_dir", r.log_dir, &mut out.log_dir, |s| {
            Ok(PathBuf::from(s))
        })?;
        self.set(
            "logging.max_file_size",
            r.max_file_size,
            &mut out.max_file_size,
            parse_size,
        )?;
        self.set(
            "logging.max_files",
            r.max_files,
            &mut out.max_files,
            parse_uint,
        )?;
        self.set(
            "logging.structured",
            r.structured,
            &mut out.structured,
            parse_bool,
        )
    }

    fn store(&mut self, i: usize, r: Spanned<RawStore>) -> Result<StoreConfig, ConfigError> {
        let pos = (r.referenced.line(), r.referenced.column());
        let key = |field: &str| format!("stores[{i}].{field}");
        let raw = r.value;
        let name = match &raw.name {
            Some(name) => self.convert(&key("name"), name, text)?,
            None => return Err(self.error(&key("name"), pos, "is required".to_owned())),
        };
        let mut s = StoreConfig::new(name);
        self.set(
            &key("max_memory"),
            raw.max_memory,
            &mut s.max_memory,
            parse_size,
        )?;
        self.set(
            &key("eviction_policy"),
            raw.eviction_policy,
            &mut s.eviction_policy,
            |v| v.parse().map(Some),
        )?;
        // Zero is kept as Some(ZERO): it means "no TTL" rather than "inherit".
        self.set(
            &key("default_ttl"),
            raw.default_ttl,
            &mut s.default_ttl,
            |v| parse_duration(v).map(Some),
        )?;
        self.set(
            &key("cuckoo_filter"),
            raw.cuckoo_filter,
            &mut s.cuckoo_filter,
            parse_bool,
        )?;
        self.set(
            &key("cuckoo_filter_fpp"),
            raw.cuckoo_filter_fpp,
            &mut s.cuckoo_filter_fpp,
            |v| parse_f64(v).map(Some),
        )?;
        self.set(
            &key("persistence"),
            raw.persistence,
            &mut s.persistence,
            |v| v.parse().map(Some),
        )?;
        self.set(
            &key("replication_factor"),
            raw.replication_factor,
            &mut s.replication_factor,
            parse_replication_factor,
        )?;
        Ok(s)
    }
}

fn text(s: &str) -> Result<String, InvalidValue> {
    Ok(s.to_owned())
}

/// One line of block-style YAML: first column, `- ` column, key and its column.
struct LineShape<'a> {
    indent: usize,
    dash: Option<usize>,
    key: Option<&'a str>,
    key_col: usize,
}

fn line_shape(line: &str) -> Option<LineShape<'_>> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let mut rest = &line[indent..];
    if rest.is_empty() || rest.starts_with('#') {
        return None;
    }
    let mut dash = None;
    let mut key_col = indent;
    if rest == "-" || rest.starts_with("- ") {
        dash = Some(indent);
        let after = rest[1..].trim_start_matches(' ');
        key_col = indent + (rest.len() - after.len());
        rest = after;
    }
    let key = rest.split_once(':').and_then(|(k, v)| {
        let plain = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        (plain && (v.is_empty() || v.starts_with([' ', '#']))).then_some(k)
    });
    Some(LineShape {
        indent,
        dash,
        key,
        key_col,
    })
}

/// Best-effort dotted path (`stores[1].name`) of the key on a 1-based line,
/// read from block-style indentation. `None` when the line has no plain key.
fn key_path_at(src: &str, line: u64) -> Option<String> {
    let lines: Vec<&str> = src.lines().collect();
    let mut i = usize::try_from(line).ok()?.checked_sub(1)?;
    let here = line_shape(lines.get(i)?)?;
    let mut parts = Vec::new();
    match here.key {
        Some(k) => parts.push(k.to_owned()),
        // A scalar list item is named by its index alone.
        None if here.dash.is_some() => {}
        None => return None,
    }
    let mut col = here.key_col;
    let mut dash = here.dash;
    loop {
        if let Some(d) = dash {
            // Count earlier items of this list, then continue at its key.
            let mut index = 0;
            loop {
                let Some(j) = i.checked_sub(1) else {
                    return Some(join_path(parts));
                };
                i = j;
                let Some(s) = line_shape(lines[i]) else {
                    continue;
                };
                if s.dash == Some(d) {
                    index += 1;
                } else if s.indent <= d {
                    parts.push(format!("[{index}]"));
                    parts.push(s.key?.to_owned());
                    col = s.key_col;
                    dash = s.dash;
                    break;
                }
            }
        } else {
            let Some(j) = i.checked_sub(1) else {
                return Some(join_path(parts));
            };
            i = j;
            let Some(s) = line_shape(lines[i]) else {
                continue;
            };
            if s.key_col == col && s.dash.is_some_and(|d| d < col) {
                // First key of the list item we are in.
                dash = s.dash;
            } else if s.key_col < col {
                parts.push(s.key?.to_owned());
                col = s.key_col;
                dash = s.dash;
            }
        }
    }
}

fn join_path(mut parts: Vec<String>) -> String {
    parts.reverse();
    let mut out = String::new();
    for p in parts {
        if !out.is_empty() && !p.starts_with('[') {
            out.push('.');
        }
        out.push_str(&p);
    }
    out
}

/// Parses YAML into a `Config` without semantic checks; also returns where
/// each key was so later checks can report lines.
fn parse_yaml(src: &str, origin: &str) -> Result<(Config, Spans), ConfigError> {
    let raw: RawConfig = serde_saphyr::from_str(src).map_err(|e| {
        let rendered = e.render_with_options(serde_saphyr::render_options! {
            formatter: &serde_saphyr::UserMessageFormatter,
            source_name: Some(origin),
        });
        // Our Display already starts with the origin; drop the parser's tag.
        let mut message = rendered
            .strip_prefix("error: ")
            .map(str::to_owned)
            .unwrap_or(rendered);
        let loc = e.location();
        // The parser does not name the key path; add it when we can tell.
        if let Some(l) = loc
            && let Some(path) = key_path_at(src, l.line())
        {
            let prefix = format!("line {} column {}: ", l.line(), l.column());
            if let Some(rest) = message.strip_prefix(&prefix) {
                message = format!("{prefix}{path}: {rest}");
            }
        }
        ConfigError::Parse {
            origin: origin.to_owned(),
            line: loc.map(|l| l.line()).filter(|&l| l > 0),
            column: loc.map(|l| l.column()).filter(|&c| c > 0),
            message,
        }
    })?;

    let mut config = Config::default();
    let mut conv = Converter {
        origin,
        src,
        spans: Spans::new(),
    };
    if let Some(r) = raw.node {
        conv.node(r, &mut config.node)?;
    }
    if let Some(r) = raw.network {
        conv.network(r, &mut config.network)?;
    }
    if let Some(r) = raw.cluster {
        conv.cluster(r, &mut config.cluster)?;
    }
    if let Some(r) = raw.cache {
        conv.cache(r, &mut config.cache)?;
    }
    if let Some(r) = raw.persistence {
        conv.persistence(r, &mut config.persistence)?;
    }
    if let Some(r) = raw.metrics {
        conv.set(
            "metrics.enabled",
            r.enabled,
            &mut config.metrics.enabled,
            parse_bool,
        )?;
    }
    if let Some(r) = raw.logging {
        conv.logging(r, &mut config.logging)?;
    }
    if let Some(r) = raw.security {
        conv.security(r, &mut config.security)?;
    }
    for (i, store) in raw.stores.into_iter().flatten().enumerate() {
        let s = conv.store(i, store)?;
        config.stores.push(s);
    }
    Ok((config, conv.spans))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(yaml, "test.yaml")
    }

    fn parse_ok(yaml: &str) -> Config {
        match parse(yaml) {
            Ok(c) => c,
            Err(e) => panic!("expected ok, got:\n{e}"),
        }
    }

    fn parse_err(yaml: &str) -> (ConfigError, String) {
        match parse(yaml) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => {
                let msg = e.to_string();
                (e, msg)
            }
        }
    }

    fn example(n: u32) -> PathBuf {
        PathBuf::from(format!(
            "{}/configs/node{n}-config.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
    }

    const NO_ENV: [(&str, &str); 0] = [];

    #[test]
    fn defaults() {
        let c = parse_ok("");
        assert_eq!(c, Config::default());
        assert_eq!(c.node.id, "node-1");
        assert_eq!(c.data_dir(), PathBuf::from("./data/node-1"));
        assert_eq!(c.network.resp_bind_addr, "127.0.0.1");
        assert_eq!(c.network.http_bind_addr, "127.0.0.1");
        assert_eq!(
            (
                c.network.resp_port,
                c.network.http_port,
                c.network.gossip_port
            ),
            (8080, 9080, 7946)
        );
        assert_eq!(c.network.advertise_addr, None);
        assert!(c.cluster.seeds.is_empty());
        assert_eq!(c.cluster.replication_factor, None);
        assert_eq!(c.cluster.consistency_level, ConsistencyLevel::Eventual);
        assert_eq!(c.cluster.tombstone_ttl, Duration::from_secs(3600));
        assert_eq!(c.cache.max_memory, 0);
        assert_eq!(c.cache.default_ttl, None);
        assert_eq!(c.cache.cleanup_interval, Duration::from_millis(100));
        assert_eq!(c.cache.eviction_policy, EvictionPolicy::Lru);
        assert_eq!(c.cache.maxmemory_samples, 5);
        assert_eq!(c.cache.cuckoo_filter_fpp, 0.01);
        assert_eq!(c.cache.databases, 16);
        assert_eq!(c.cache.maxclients, 10_000);
        assert_eq!(c.cache.proto_max_bulk_len, 512 * 1024 * 1024);
        assert_eq!(c.cache.client_query_buffer_limit, 1024 * 1024 * 1024);
        assert_eq!(c.cache.timeout, Duration::ZERO);
        assert!(c.persistence.enabled && c.persistence.is_active());
        assert_eq!(c.persistence.strategy, PersistenceStrategy::AofAndSnapshot);
        assert_eq!(c.persistence.sync_policy, SyncPolicy::EverySec);
        assert_eq!(c.persistence.snapshot_interval, Duration::from_secs(300));
        assert_eq!(c.persistence.max_log_size, 64 * 1024 * 1024);
        assert_eq!(c.persistence.retain, 3);
        assert!(!c.persistence.allow_partial_recovery);
        assert_eq!(c.logging.level, LogLevel::Info);
        assert_eq!(c.logging.output, vec![LogOutput::Console]);
        assert_eq!(c.logging.log_dir, PathBuf::from("./logs"));
        assert_eq!(c.logging.max_file_size, 100 * 1024 * 1024);
        assert_eq!(c.logging.max_files, 5);
        assert!(c.logging.structured);
        assert!(c.stores.is_empty());
        c.validate().expect("defaults are valid");
        // Comments only, empty sections and nulls also mean defaults.
        assert_eq!(parse_ok("# nothing\n"), Config::default());
        assert_eq!(parse_ok("cache:\nnode: ~\nstores:\n"), Config::default());
    }

    #[test]
    fn every_key_set() {
        let c = parse_ok(
            r#"
node:
  id: cache-a
  data_dir: /var/lib/hc
network:
  resp_bind_addr: 0.0.0.0
  resp_port: 6379
  http_bind_addr: "::"
  http_port: 0
  gossip_port: 0
  advertise_addr: 10.1.2.3:7000
cluster:
  seeds: ["10.0.0.1:7946", "db-2.internal:7946", "[::1]:7946"]
  seed_dns: hc.service.consul
  replication_factor: 2
  consistency_level: QUORUM
  tombstone_ttl: 2d
cache:
  max_memory: 1.5GB
  default_ttl: 30m
  cleanup_interval: 250ms
  eviction_policy: allkeys-lfu
  maxmemory_samples: 10
  cuckoo_filter_fpp: 0.001
  databases: 1
  maxclients: 50
  proto_max_bulk_len: 1MB
  client_query_buffer_limit: 2GB
  timeout: 300
persistence:
  enabled: true
  strategy: aof
  sync_policy: always
  snapshot_interval: 10m
  max_log_size: 128MB
  retain: 7
  allow_partial_recovery: yes
logging:
  level: fatal
  output: file
  log_dir: /var/log/hc
  max_file_size: 10MB
  max_files: 2
  structured: false
stores:
  - name: sessions
    max_memory: 256MB
    eviction_policy: session
    default_ttl: 0
    cuckoo_filter: true
    cuckoo_filter_fpp: 0.05
    persistence: snapshot
    replication_factor: 1
  - name: default
"#,
        );
        assert_eq!(c.node.id, "cache-a");
        assert_eq!(c.data_dir(), PathBuf::from("/var/lib/hc"));
        assert_eq!(c.network.resp_bind_addr, "0.0.0.0");
        assert_eq!(c.network.resp_port, 6379);
        assert_eq!(c.network.http_bind_addr, "::");
        assert_eq!((c.network.http_port, c.network.gossip_port), (0, 0));
        assert_eq!(c.network.advertise_addr.as_deref(), Some("10.1.2.3:7000"));
        assert_eq!(
            c.cluster.seeds,
            vec!["10.0.0.1:7946", "db-2.internal:7946", "[::1]:7946"]
        );
        assert_eq!(c.cluster.seed_dns.as_deref(), Some("hc.service.consul"));
        assert_eq!(c.cluster.replication_factor, Some(2));
        assert_eq!(c.cluster.consistency_level, ConsistencyLevel::Quorum);
        assert_eq!(c.cluster.tombstone_ttl, Duration::from_secs(2 * 86_400));
        assert_eq!(c.cache.max_memory, 1536 * 1024 * 1024);
        assert_eq!(c.cache.default_ttl, Some(Duration::from_secs(1800)));
        assert_eq!(c.cache.cleanup_interval, Duration::from_millis(250));
        assert_eq!(c.cache.eviction_policy, EvictionPolicy::Lfu);
        assert_eq!(c.cache.maxmemory_samples, 10);
        assert_eq!(c.cache.cuckoo_filter_fpp, 0.001);
        assert_eq!(c.cache.databases, 1);
        assert_eq!(c.cache.maxclients, 50);
        assert_eq!(c.cache.proto_max_bulk_len, 1024 * 1024);
        assert_eq!(c.cache.client_query_buffer_limit, 2 * 1024 * 1024 * 1024);
        assert_eq!(c.cache.timeout, Duration::from_secs(300));
        assert!(c.persistence.enabled);
        assert_eq!(c.persistence.strategy, PersistenceStrategy::Aof);
        assert_eq!(c.persistence.sync_policy, SyncPolicy::Always);
        assert_eq!(c.persistence.snapshot_interval, Duration::from_secs(600));
        assert_eq!(c.persistence.max_log_size, 128 * 1024 * 1024);
        assert_eq!(c.persistence.retain, 7);
        assert!(c.persistence.allow_partial_recovery);
        assert_eq!(c.logging.level, LogLevel::Error);
        assert_eq!(c.logging.output, vec![LogOutput::File]);
        assert_eq!(c.logging.log_dir, PathBuf::from("/var/log/hc"));
        assert_eq!(c.logging.max_file_size, 10 * 1024 * 1024);
        assert_eq!(c.logging.max_files, 2);
        assert!(!c.logging.structured);
        assert_eq!(
            c.stores,
            vec![
                StoreConfig {
                    name: "sessions".into(),
                    max_memory: 256 * 1024 * 1024,
                    eviction_policy: Some(EvictionPolicy::Session),
                    default_ttl: Some(Duration::ZERO),
                    cuckoo_filter: true,
                    cuckoo_filter_fpp: Some(0.05),
                    persistence: Some(PersistenceStrategy::Snapshot),
                    replication_factor: Some(1),
                },
                StoreConfig::new("default"),
            ]
        );
    }

    #[test]
    fn sizes() {
        let ok = [
            ("0", 0),
            ("1024", 1024),
            ("1B", 1),
            ("64kb", 64 * KIB),
            ("64K", 64 * KIB),
            ("2KiB", 2 * KIB),
            ("512MB", 512 * MIB),
            ("512 mb", 512 * MIB),
            ("1GB", GIB),
            ("1g", GIB),
            ("1.5GB", 3 * GIB / 2),
            ("0.5K", 512),
            ("2TB", 2 * TIB),
            ("+10", 10),
            ("16777215TB", 16_777_215 * TIB),
        ];
        for (text, want) in ok {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "abc",
            "-1",
            "-1GB",
            "1.5",
            "1.5B",
            "10XB",
            "GB",
            "1..5GB",
            "1.GB",
            ".5GB",
            "1e3",
            "1_000",
            "16777216TB",
            "99999999999999999999999",
            "1.0000000001GB",
            "1 G B",
        ] {
            let err = parse_size(bad).expect_err(bad);
            assert!(err.0.contains(&format!("'{bad}'")), "{bad}: {err}");
        }
        assert!(parse_size("abc").unwrap_err().0.contains("512MB"));
        assert!(parse_size("-5").unwrap_err().0.contains("negative"));
        assert_eq!(parse_size(&u64::MAX.to_string()), Ok(u64::MAX));
        assert!(parse_size("18446744073709551616").is_err());
    }

    #[test]
    fn durations() {
        let ok = [
            ("0", Duration::ZERO),
            ("5", Duration::from_secs(5)),
            ("500ms", Duration::from_millis(500)),
            ("5s", Duration::from_secs(5)),
            ("5S", Duration::from_secs(5)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("2d", Duration::from_secs(172_800)),
            ("1.5h", Duration::from_secs(5400)),
            ("0.5", Duration::from_millis(500)),
            ("1.5ms", Duration::from_micros(1500)),
            ("10 s", Duration::from_secs(10)),
        ];
        for (text, want) in ok {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in [
            "", "x", "-1", "-5s", "5w", "5 mins", "1h30m", "ms", "300000d", "1e3",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.0.contains(&format!("'{bad}'")), "{bad}: {err}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for v in [0, 1, 1000, KIB, 3 * GIB / 2, 512 * MIB, 2 * TIB] {
            assert_eq!(parse_size(&format_size(v)), Ok(v), "{v}");
        }
        assert_eq!(format_size(GIB), "1GB");
        for d in [
            Duration::ZERO,
            Duration::from_millis(100),
            Duration::from_secs(90),
            Duration::from_secs(3600),
            Duration::from_nanos(1),
            Duration::from_micros(1500),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(
            parse_duration(&format_duration(Duration::from_millis(1500))),
            Ok(Duration::from_millis(1500))
        );
    }

    #[test]
    fn bad_size_in_file_names_key_and_line() {
        let (e, msg) = parse_err("node:\n  id: a\ncache:\n  max_memory: abc\n");
        assert_eq!(e.line(), Some(4));
        assert_eq!(e.key(), Some("cache.max_memory"));
        assert!(
            msg.contains("cache.max_memory: invalid size 'abc' (use e.g. 512MB, 1GB)"),
            "{msg}"
        );
        assert!(msg.starts_with("test.yaml: line 4 column 15:"), "{msg}");
        // Snippet shows the offending line and where.
        assert!(msg.contains("--> test.yaml:4:15"), "{msg}");
        assert!(msg.contains("4 |   max_memory: abc"), "{msg}");
    }

    #[test]
    fn bad_duration_and_numbers_name_key_and_line() {
        let (e, msg) = parse_err("cache:\n  timeout: -3s\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("cache.timeout")));
        assert!(msg.contains("negative"), "{msg}");

        let (e, msg) = parse_err("network:\n  resp_port: 70000\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("network.resp_port")));
        assert!(msg.contains("invalid port '70000'"), "{msg}");

        let (e, _) = parse_err("cache:\n  databases: 1.5\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("cache.databases")));

        let (e, _) = parse_err("persistence:\n  enabled: maybe\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("persistence.enabled")));
    }

    #[test]
    fn unknown_key_rejected_with_line() {
        let (e, msg) = parse_err("cache:\n  max_memory: 1GB\n  max_memroy: 2GB\n");
        assert!(matches!(e, ConfigError::Parse { .. }), "{e:?}");
        assert_eq!(e.line(), Some(3));
        assert!(msg.contains("max_memroy"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.starts_with("test.yaml: "), "{msg}");

        let (e, msg) = parse_err("nodes:\n  id: x\n");
        assert_eq!(e.line(), Some(1));
        assert!(msg.contains("nodes"), "{msg}");

        let (e, msg) = parse_err("stores:\n  - name: a\n    colour: red\n");
        assert_eq!(e.line(), Some(3));
        assert!(msg.contains("colour"), "{msg}");
    }

    #[test]
    fn bad_enum_names_key_and_line() {
        let (e, msg) = parse_err("node:\n  id: n\n\ncache:\n  eviction_policy: fifo\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(5), Some("cache.eviction_policy"))
        );
        assert!(msg.contains("invalid eviction policy 'fifo'"), "{msg}");
        assert!(msg.contains("allkeys-lru"), "{msg}");

        let (e, msg) = parse_err("persistence:\n  sync_policy: sometimes\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(2), Some("persistence.sync_policy"))
        );
        assert!(msg.contains("always, everysec, no"), "{msg}");

        let (e, _) = parse_err("logging:\n  output: [console, syslog]\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("logging.output[1]")));

        let (e, _) = parse_err("stores:\n  - name: a\n  - name: b\n    persistence: tape\n");
        assert_eq!(
            (e.line(), e.key()),
            (Some(4), Some("stores[1].persistence"))
        );
    }

    #[test]
    fn structural_errors_have_location() {
        let (e, msg) = parse_err("cache:\n  max_memory: [1, 2]\n");
        assert_eq!(e.line(), Some(2), "{msg}");
        let (e, _) = parse_err("cache: [\n");
        assert!(e.line().is_some());
        let (e, msg) = parse_err("cache:\n  databases: 2\n  databases: 3\n");
        assert_eq!(e.line(), Some(3), "{msg}");
        assert!(msg.contains("duplicate"), "{msg}");
    }

    #[test]
    fn parser_errors_get_key_paths() {
        let doc = "\
# comment
node:
  id: a

stores:
  - name: a
    max_memory: 1GB
  - name: b
    # note
    eviction_policy: lru
cluster:
  seeds:
  - 10.0.0.1:1
  - 10.0.0.2:2
cache:
  max_memory: 5
";
        let want = [
            (1, None),
            (2, Some("node")),
            (3, Some("node.id")),
            (4, None),
            (6, Some("stores[0].name")),
            (7, Some("stores[0].max_memory")),
            (8, Some("stores[1].name")),
            (10, Some("stores[1].eviction_policy")),
            (13, Some("cluster.seeds[0]")),
            (14, Some("cluster.seeds[1]")),
            (16, Some("cache.max_memory")),
            (99, None),
        ];
        for (line, path) in want {
            assert_eq!(key_path_at(doc, line).as_deref(), path, "line {line}");
        }

        let (e, msg) = parse_err("cache:\n  max_memory: [1]\n");
        assert_eq!(e.line(), Some(2));
        assert!(
            msg.starts_with("test.yaml: line 2 column 15: cache.max_memory: "),
            "{msg}"
        );
        let (_, msg) = parse_err("stores:\n  - name: a\n    colour: red\n");
        assert!(
            msg.contains(": stores[0].colour: unknown field `colour`"),
            "{msg}"
        );
    }

    #[test]
    fn enum_names() {
        let cases = [
            ("lru", EvictionPolicy::Lru, "allkeys-lru"),
            ("allkeys-lru", EvictionPolicy::Lru, "allkeys-lru"),
            ("LFU", EvictionPolicy::Lfu, "allkeys-lfu"),
            ("allkeys_lfu", EvictionPolicy::Lfu, "allkeys-lfu"),
            ("ttl", EvictionPolicy::Ttl, "volatile-ttl"),
            ("volatile-ttl", EvictionPolicy::Ttl, "volatile-ttl"),
            ("session", EvictionPolicy::Session, "volatile-lru"),
            ("random", EvictionPolicy::Random, "allkeys-random"),
            ("allkeys-random", EvictionPolicy::Random, "allkeys-random"),
            ("noeviction", EvictionPolicy::NoEviction, "noeviction"),
            ("volatile-lru", EvictionPolicy::VolatileLru, "volatile-lru"),
            ("Volatile-LFU", EvictionPolicy::VolatileLfu, "volatile-lfu"),
            (
                "volatile-random",
                EvictionPolicy::VolatileRandom,
                "volatile-random",
            ),
        ];
        for (text, policy, redis) in cases {
            assert_eq!(text.parse::<EvictionPolicy>(), Ok(policy), "{text}");
            assert_eq!(policy.redis_name(), redis);
            // Our own name always parses back.
            assert_eq!(policy.name().parse::<EvictionPolicy>(), Ok(policy));
        }
        assert_eq!(EvictionPolicy::Session.name(), "session");
        assert!("fifo".parse::<EvictionPolicy>().is_err());

        let strategies = [
            ("aof+snapshot", PersistenceStrategy::AofAndSnapshot),
            ("aof", PersistenceStrategy::Aof),
            ("aof_only", PersistenceStrategy::Aof),
            ("snapshot", PersistenceStrategy::Snapshot),
            ("disabled", PersistenceStrategy::Disabled),
        ];
        for (text, s) in strategies {
            assert_eq!(text.parse::<PersistenceStrategy>(), Ok(s), "{text}");
        }
        let syncs = [
            ("always", SyncPolicy::Always),
            ("everysec", SyncPolicy::EverySec),
            ("periodic", SyncPolicy::EverySec),
            ("no", SyncPolicy::No),
            ("never", SyncPolicy::No),
        ];
        for (text, s) in syncs {
            assert_eq!(text.parse::<SyncPolicy>(), Ok(s), "{text}");
        }
        assert_eq!("fatal".parse::<LogLevel>(), Ok(LogLevel::Error));
        assert_eq!("WARN".parse::<LogLevel>(), Ok(LogLevel::Warn));
        assert_eq!("all".parse::<ConsistencyLevel>(), Ok(ConsistencyLevel::All));
        assert!("verbose".parse::<LogLevel>().is_err());
        // YAML 1.1 would read `no` as a boolean; we must get the policy.
        let c = parse_ok("persistence:\n  sync_policy: no\n");
        assert_eq!(c.persistence.sync_policy, SyncPolicy::No);
    }

    #[test]
    fn legacy_persistence_flags() {
        let c = parse_ok("persistence:\n  aof_enabled: false\n");
        assert_eq!(c.persistence.strategy, PersistenceStrategy::Snapshot);
        let c = parse_ok("persistence:\n  snapshot_enabled: false\n");
        assert_eq!(c.persistence.strategy, PersistenceStrategy::Aof);
        let c = parse_ok("persistence:\n  aof_enabled: false\n  snapshot_enabled: false\n");
        assert_eq!(c.persistence.strategy, PersistenceStrategy::Disabled);
        assert!(!c.persistence.enabled);
        let c = parse_ok("persistence:\n  strategy: aof\n  aof_enabled: true\n");
        assert_eq!(c.persistence.strategy, PersistenceStrategy::Aof);
        let (e, msg) = parse_err("persistence:\n  strategy: aof\n  snapshot_enabled: true\n");
        assert_eq!(e.line(), Some(3));
        assert!(msg.contains("conflicts with persistence.strategy"), "{msg}");
        // enabled and strategy are kept consistent.
        let c = parse_ok("persistence:\n  enabled: false\n");
        assert_eq!(c.persistence.strategy, PersistenceStrategy::Disabled);
        assert!(!c.persistence.is_active());
        let c = parse_ok("persistence:\n  strategy: disabled\n");
        assert!(!c.persistence.enabled);
    }

    #[test]
    fn logging_output_forms() {
        let c = parse_ok("logging:\n  output: [console, file, console]\n");
        assert_eq!(c.logging.output, vec![LogOutput::Console, LogOutput::File]);
        let c = parse_ok("logging:\n  output:\n    - file\n");
        assert_eq!(c.logging.output, vec![LogOutput::File]);
        let (e, _) = parse_err("logging:\n  output: []\n");
        assert_eq!((e.line(), e.key()), (Some(2), Some("logging.output")));
    }

    #[test]
    fn range_checks() {
        let cases = [
            (
                "cache:\n  cuckoo_filter_fpp: 1\n",
                "cache.cuckoo_filter_fpp",
            ),
            (
                "cache:\n  cuckoo_filter_fpp: 0\n",
                "cache.cuckoo_filter_fpp",
            ),
            (
                "cache:\n  cuckoo_filter_fpp: .nan\n",
                "cache.cuckoo_filter_fpp",
            ),
            ("cache:\n  databases: 0\n", "cache.databases"),
            ("cache:\n  databases: 1025\n", "cache.databases"),
            (
                "cache:\n  maxmemory_samples: 0\n",
                "cache.maxmemory_samples",
            ),
            ("cache:\n  maxclients: 0\n", "cache.maxclients"),
            (
                "cache:\n  proto_max_bulk_len: 1000KB\n",
                "cache.proto_max_bulk_len",
            ),
            (
                "cache:\n  proto_max_bulk_len: 2GB\n",
                "cache.proto_max_bulk_len",
            ),
            ("cache:\n  cleanup_interval: 0\n", "cache.cleanup_interval"),
            (
                "cluster:\n  replication_factor: 0\n",
                "cluster.replication_factor",
            ),
            ("cluster:\n  tombstone_ttl: 0s\n", "cluster.tombstone_ttl"),
            ("cluster:\n  seeds: [\"10.0.0.1\"]\n", "cluster.seeds[0]"),
            (
                "cluster:\n  seeds: [\"a:1\", \"b:0\"]\n",
                "cluster.seeds[1]",
            ),
            ("cluster:\n  seeds: [\"::1:7946\"]\n", "cluster.seeds[0]"),
            ("persistence:\n  retain: 0\n", "persistence.retain"),
            (
                "persistence:\n  snapshot_interval: 0\n",
                "persistence.snapshot_interval",
            ),
            ("logging:\n  max_files: 0\n", "logging.max_files"),
            ("node:\n  id: ../etc\n", "node.id"),
            ("node:\n  id: \"\"\n", "node.id"),
            (
                "network:\n  resp_bind_addr: 127.0.0.1:80\n",
                "network.resp_bind_addr",
            ),
            (
                "network:\n  advertise_addr: \"a b\"\n",
                "network.advertise_addr",
            ),
        ];
        for (yaml, key) in cases {
            let (e, msg) = parse_err(yaml);
            assert_eq!(e.key(), Some(key), "{yaml}: {msg}");
            assert_eq!(e.line(), Some(2), "{yaml}: {msg}");
        }
        // Zero is "off" for these.
        let c = parse_ok("cache:\n  timeout: 0\n  default_ttl: 0\n  max_memory: 0\n");
        assert_eq!(c.cache.default_ttl, None);
        assert_eq!(c.cache.timeout, Duration::ZERO);
        let c = parse_ok("cluster:\n  replication_factor: all\n");
        assert_eq!(c.cluster.replication_factor, None);
    }

    #[test]
    fn port_conflicts() {
        let (e, msg) = parse_err("network:\n  resp_port: 9000\n  http_port: 9000\n");
        assert_eq!((e.key(), e.line()), (Some("network.http_port"), Some(3)));
        assert!(msg.contains("network.resp_port"), "{msg}");
        let (e, _) = parse_err("network:\n  gossip_port: 8080\n");
        assert_eq!((e.key(), e.line()), (Some("network.gossip_port"), Some(2)));
        // Only the other side of the clash is in the file: point at it.
        let (e, msg) = parse_err("node:\n  id: a\nnetwork:\n  resp_port: 9080\n");
        assert_eq!(
            (e.key(), e.line()),
            (Some("network.http_port"), Some(4)),
            "{msg}"
        );
        // Port 0 (ephemeral) may repeat.
        let c = parse_ok("network:\n  resp_port: 0\n  http_port: 0\n  gossip_port: 0\n");
        assert_eq!(c.network.resp_port, 0);
    }

    #[test]
    fn store_validation() {
        let (e, msg) = parse_err("stores:\n  - name: a\n  - name: b\n  - name: a\n");
        assert_eq!((e.key(), e.line()), (Some("stores[2].name"), Some(4)));
        assert!(msg.contains("duplicate store name 'a'"), "{msg}");
        assert!(msg.contains("stores[0]"), "{msg}");

        for bad in ["\"\"", "has space", "dot.ted", "123", "é"] {
            let (e, msg) = parse_err(&format!("stores:\n  - name: {bad}\n"));
            assert_eq!(e.key(), Some("stores[0].name"), "{bad}: {msg}");
            assert_eq!(e.line(), Some(2), "{bad}: {msg}");
        }
        let long = "x".repeat(65);
        let (e, _) = parse_err(&format!("stores:\n  - name: {long}\n"));
        assert_eq!(e.key(), Some("stores[0].name"));
        parse_ok(&format!(
            "stores:\n  - name: {}\n  - name: a1_-B\n",
            "x".repeat(64)
        ));

        let (e, msg) = parse_err("stores:\n  - name: a\n  - max_memory: 1GB\n");
        assert_eq!((e.key(), e.line()), (Some("stores[1].name"), Some(3)));
        assert!(msg.contains("required"), "{msg}");

        let (e, _) = parse_err("stores:\n  - name: a\n    replication_factor: 0\n");
        assert_eq!(e.key(), Some("stores[0].replication_factor"));
        let (e, _) = parse_err("stores:\n  - name: a\n    cuckoo_filter_fpp: 2\n");
        assert_eq!(e.key(), Some("stores[0].cuckoo_filter_fpp"));

        // validate() catches the same problems on a hand-built Config.
        let c = Config {
            stores: vec![StoreConfig::new("x"), StoreConfig::new("x")],
            ..Config::default()
        };
        let e = c.validate().expect_err("duplicate");
        assert_eq!(e.key(), Some("stores[1].name"));
        assert_eq!(e.line(), None);
        assert!(
            e.to_string().starts_with("stores[1].name: duplicate"),
            "{e}"
        );
    }

    #[test]
    fn precedence_default_file_env_flag() {
        let dir = std::env::temp_dir().join(format!("hc-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("prec.yaml");
        std::fs::write(
            &file,
            "node:\n  id: from-file\nnetwork:\n  resp_port: 1001\n  http_port: 1002\n  gossip_port: 1003\nlogging:\n  level: warn\n",
        )
        .expect("write temp config");

        // Defaults only.
        let c = Config::load_with_env(None, &Overrides::default(), NO_ENV).expect("defaults");
        assert_eq!(c, Config::default());

        // File beats defaults.
        let c = Config::load_with_env(Some(&file), &Overrides::default(), NO_ENV).expect("file");
        assert_eq!(c.node.id, "from-file");
        assert_eq!(c.network.resp_port, 1001);
        assert_eq!(c.logging.level, LogLevel::Warn);
        assert_eq!(c.cache, CacheConfig::default());

        // Env beats file; HYPERCACHE_CONFIG is used when no path is given.
        let file_str = file.to_string_lossy().into_owned();
        let env = [
            ("HYPERCACHE_CONFIG", file_str.as_str()),
            ("HYPERCACHE_NODE_ID", "from-env"),
            ("HYPERCACHE_RESP_PORT", "2001"),
            ("HYPERCACHE_HTTP_PORT", "2002"),
            ("HYPERCACHE_BIND", "0.0.0.0"),
            ("HYPERCACHE_DATA_DIR", "/env/data"),
            ("HYPERCACHE_LOG_LEVEL", "debug"),
            ("HYPERCACHE_UNRELATED", "ignored"),
            ("PATH", "ignored"),
        ];
        let c = Config::load_with_env(None, &Overrides::default(), env).expect("env");
        assert_eq!(c.node.id, "from-env");
        assert_eq!(c.network.resp_port, 2001);
        assert_eq!(c.network.http_port, 2002);
        assert_eq!(c.network.gossip_port, 1003, "file value kept");
        assert_eq!(c.network.resp_bind_addr, "0.0.0.0");
        assert_eq!(c.network.http_bind_addr, "0.0.0.0");
        assert_eq!(c.data_dir(), PathBuf::from("/env/data"));
        assert_eq!(c.logging.level, LogLevel::Debug);

        // Flags beat env.
        let flags = Overrides {
            node_id: Some("from-flag".into()),
            bind: Some("::1".into()),
            resp_port: Some(0),
            http_port: None,
            gossip_port: Some(3003),
            data_dir: None,
            log_level: Some("trace".into()),
        };
        let c = Config::load_with_env(None, &flags, env).expect("flags");
        assert_eq!(c.node.id, "from-flag");
        assert_eq!(c.network.resp_port, 0);
        assert_eq!(c.network.http_port, 2002, "env value kept");
        assert_eq!(c.network.gossip_port, 3003);
        assert_eq!(c.network.resp_bind_addr, "::1");
        assert_eq!(c.logging.level, LogLevel::Trace);
        assert_eq!(c.data_dir(), PathBuf::from("/env/data"));

        // The node id moves the default data dir.
        let c = Config::load_with_env(
            None,
            &Overrides {
                node_id: Some("n9".into()),
                ..Overrides::default()
            },
            NO_ENV,
        )
        .expect("node id");
        assert_eq!(c.data_dir(), PathBuf::from("./data/n9"));

        // An explicit path beats HYPERCACHE_CONFIG.
        let err = Config::load_with_env(
            Some(Path::new("/nonexistent/x.yaml")),
            &Overrides::default(),
            [("HYPERCACHE_CONFIG", file_str.as_str())],
        )
        .expect_err("missing file");
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/x.yaml"), "{err}");

        // Overriding a conflicting port fixes it.
        std::fs::write(&file, "network:\n  resp_port: 5000\n  http_port: 5000\n")
            .expect("write temp config");
        let fixed = Config::load_with_env(
            Some(&file),
            &Overrides::default(),
            [("HYPERCACHE_HTTP_PORT", "5001")],
        )
        .expect("env resolves the conflict");
        assert_eq!(fixed.network.http_port, 5001);
        std::fs::write(&file, "network:\n  resp_port: 5000\n").expect("write temp config");
        let e = Config::load_with_env(
            Some(&file),
            &Overrides::default(),
            [("HYPERCACHE_HTTP_PORT", "5000")],
        )
        .expect_err("env creates a conflict");
        assert_eq!(e.key(), Some("network.http_port"));
        // http_port came from env, so the file position is resp_port's.
        assert_eq!(e.line(), Some(2), "{e}");
        // With no file involved there is no position at all.
        let e = Config::load_with_env(
            None,
            &Overrides::default(),
            [("HYPERCACHE_HTTP_PORT", "8080")],
        )
        .expect_err("env creates a conflict");
        assert_eq!((e.key(), e.line()), (Some("network.http_port"), None));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_env_and_flags_are_named() {
        let cases = [
            ("HYPERCACHE_RESP_PORT", "abc"),
            ("HYPERCACHE_HTTP_PORT", "-1"),
            ("HYPERCACHE_GOSSIP_PORT", "65536"),
            ("HYPERCACHE_NODE_ID", "a/b"),
            ("HYPERCACHE_BIND", "not an addr"),
            ("HYPERCACHE_LOG_LEVEL", "loud"),
        ];
        for (var, value) in cases {
            let e =
                Config::load_with_env(None, &Overrides::default(), [(var, value)]).expect_err(var);
            assert!(matches!(e, ConfigError::Env { .. }), "{e:?}");
            assert!(e.to_string().contains(var), "{e}");
        }
        // Empty means unset.
        let c = Config::load_with_env(None, &Overrides::default(), [("HYPERCACHE_RESP_PORT", "")])
            .expect("empty env value");
        assert_eq!(c.network.resp_port, 8080);

        let flags = Overrides {
            log_level: Some("loud".into()),
            ..Overrides::default()
        };
        let e = Config::load_with_env(None, &flags, NO_ENV).expect_err("bad flag");
        assert!(e.to_string().contains("--log-level"), "{e}");
        let flags = Overrides {
            http_port: Some(8080),
            ..Overrides::default()
        };
        let e = Config::load_with_env(None, &flags, NO_ENV).expect_err("port clash");
        assert_eq!(e.key(), Some("network.http_port"));
    }

    #[test]
    fn example_configs_load() {
        for n in 1..=3u16 {
            let path = example(u32::from(n));
            let c = Config::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.node.id, format!("node-{n}"));
            assert_eq!(c.data_dir(), PathBuf::from(format!("./data/node-{n}")));
            assert_eq!(c.network.resp_port, 8079 + n);
            assert_eq!(c.network.http_port, 9079 + n);
            assert_eq!(c.network.gossip_port, 7945 + n);
            let mut want_seeds: Vec<String> = (1..=3u16)
                .filter(|&m| m != n)
                .map(|m| format!("127.0.0.1:{}", 7945 + m))
                .collect();
            want_seeds.sort();
            let mut seeds = c.cluster.seeds.clone();
            seeds.sort();
            assert_eq!(seeds, want_seeds);
            assert_eq!(c.logging.log_dir, PathBuf::from("./logs"));
            assert_eq!(c.persistence.strategy, PersistenceStrategy::AofAndSnapshot);
            assert_eq!(c.persistence.sync_policy, SyncPolicy::EverySec);
            assert!(c.persistence.is_active());

            // The commented stores example must parse once uncommented.
            let text = std::fs::read_to_string(&path).expect("read example");
            let start = text.find("# stores:").expect("stores example present");
            let uncommented: String = text[..start].to_owned()
                + &text[start..]
                    .lines()
                    .map(|l| l.strip_prefix("# ").unwrap_or(l))
                    .collect::<Vec<_>>()
                    .join("\n");
            let c = Config::from_yaml_str(&uncommented, "uncommented")
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(c.stores.len() >= 2, "{:?}", c.stores);
        }
    }

    #[test]
    fn summary_mentions_key_facts() {
        let s = parse_ok("cache:\n  max_memory: 2GB\n").summary();
        assert!(s.contains("node node-1"), "{s}");
        assert!(s.contains("max_memory 2GB"), "{s}");
        assert!(s.contains("aof+snapshot (everysec)"), "{s}");
    }
}
