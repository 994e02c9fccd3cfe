//! The table of keys: every configuration key once, with each way to reach it (YAML path,
//! `HYPERCACHE_*` variable, command-line flag, CONFIG GET/SET name) and how its text is read.
//! The YAML reader, the environment layer and CONFIG GET/SET all walk [`KEYS`], so the ways
//! to set a key cannot drift apart.
//!
//! # Adding a key
//!
//! 1. A field, with its default, in its section struct in `mod.rs` (`CacheConfig`, ...).
//! 2. The same name in the section's `Raw*` struct in `yaml.rs`: serde checks the file's
//!    shape there (unknown keys, duplicates, a list where a value belongs).
//! 3. One entry in [`KEYS`], among its section's (the file is read in table order, which
//!    decides the bad value reported first). For a new size `cache.max_foo`:
//!
//!    ```text
//!    leaf!(cache.max_foo, parse_size)    // its YAML path, and how its text is read
//!        .env("HYPERCACHE_MAX_FOO")      // optional: an environment variable
//!        .config("max-foo", SetAs::Memory { min: 0 }), // optional: CONFIG GET/SET
//!    ```
//!
//! A CONFIG name also takes its place in [`CONFIG_ORDER`] (CONFIG GET lists in that order)
//! and its live half in `command/config.rs`, which reads and changes the running node; a
//! variable goes in README.md's list. The tests here and there fail until each is done.

use std::path::PathBuf;
use std::time::Duration;

use super::units::{
    MIB, parse_bool, parse_duration, parse_f64, parse_port, parse_redis_memory,
    parse_replication_factor, parse_size, parse_uint, text,
};
use super::validate::{check_host, check_node_id};
use super::yaml::{Converter, Raw, RawConfig, inline_secret};
use super::{Config, ConfigError, ENV_CONFIG, EvictionPolicy, InvalidValue, OutputLimits};

/// Reads text in the file's grammar into the configuration.
pub(super) type Load = fn(&mut Config, &str) -> Result<(), InvalidValue>;

/// Reads a key that is more than one scalar (a list, a `_file` form, legacy switches).
type Own = fn(&mut Converter<'_>, &mut RawConfig, &mut Config) -> Result<(), ConfigError>;

/// A rule an environment value must pass before it is read.
type Check = fn(&str) -> Result<(), String>;

/// How the YAML reader finds a key in the file.
#[derive(Clone, Copy)]
pub(super) enum Read {
    /// One scalar, whose text goes to the key's `load`.
    Leaf(fn(&mut RawConfig) -> Raw),
    /// A reader of its own.
    Own(Own),
    /// Not in the file.
    No,
}

/// One configuration key.
pub struct Key {
    /// Its YAML path, then any other YAML keys that set it (its `_file` form, legacy
    /// switches). Empty for a CONFIG parameter the file does not have.
    pub yaml: &'static [&'static str],
    /// The `HYPERCACHE_*` variable that overrides the file.
    pub env: Option<&'static str>,
    /// The command-line flag that overrides the environment (applied in `env.rs`).
    pub flag: Option<&'static str>,
    /// Its CONFIG GET/SET parameter.
    pub param: Option<Param>,
    /// Further YAML keys an environment value sets too (`HYPERCACHE_BIND`: both listeners).
    pub also: &'static [&'static str],
    pub(super) load: Option<Load>,
    /// Run on an environment value before it is read, so the error names the variable; file
    /// values meet the same rule in validation, which names their line.
    pub(super) check: Option<Check>,
    pub(super) read: Read,
}

impl Key {
    const fn leaf(
        yaml: &'static [&'static str],
        take: fn(&mut RawConfig) -> Raw,
        load: Load,
    ) -> Key {
        Key {
            yaml,
            env: None,
            flag: None,
            param: None,
            also: &[],
            load: Some(load),
            check: None,
            read: Read::Leaf(take),
        }
    }

    const fn own(yaml: &'static [&'static str], read: Own) -> Key {
        Key {
            yaml,
            env: None,
            flag: None,
            param: None,
            also: &[],
            load: None,
            check: None,
            read: Read::Own(read),
        }
    }

    /// A CONFIG parameter that only the running node has.
    const fn runtime(name: &'static str, set: SetAs) -> Key {
        Key {
            yaml: &[],
            env: None,
            flag: None,
            param: Some(Param { name, set }),
            also: &[],
            load: None,
            check: None,
            read: Read::No,
        }
    }

    const fn env(mut self, var: &'static str) -> Key {
        self.env = Some(var);
        self
    }

    const fn flag(mut self, flag: &'static str) -> Key {
        self.flag = Some(flag);
        self
    }

    const fn config(mut self, name: &'static str, set: SetAs) -> Key {
        self.param = Some(Param { name, set });
        self
    }

    const fn also(mut self, yaml: &'static [&'static str]) -> Key {
        self.also = yaml;
        self
    }

    const fn check(mut self, check: Check) -> Key {
        self.check = Some(check);
        self
    }

    const fn load(mut self, load: Load) -> Key {
        self.load = Some(load);
        self
    }

    /// Its own YAML path (empty when the file does not have it).
    pub fn path(&self) -> &'static str {
        self.yaml.first().copied().unwrap_or("")
    }
}

macro_rules! path {
    ($sec:ident . $field:ident) => {
        concat!(stringify!($sec), ".", stringify!($field))
    };
}

/// A scalar `section.field`, read by `parse` into the field of the same name.
macro_rules! leaf {
    ($sec:ident . $field:ident, $parse:expr) => {
        Key::leaf(
            &[path!($sec.$field)],
            |r| r.$sec.as_mut()?.$field.take(),
            |c, s| {
                let parse: fn(&str) -> Result<_, InvalidValue> = $parse;
                c.$sec.$field = parse(s)?;
                Ok(())
            },
        )
    };
}

/// A secret given inline (`section.field`) or as a file (`section.field_file`), never both.
macro_rules! secret {
    ($sec:ident . $field:ident, $file:ident) => {
        Key::own(&[path!($sec.$field), path!($sec.$file)], |cv, r, c| {
            let (inline, file) = match r.$sec.as_mut() {
                Some(s) => (s.$field.take(), s.$file.take()),
                None => (None, None),
            };
            cv.secret(
                (path!($sec.$field), inline),
                (path!($sec.$file), file),
                &mut c.$sec.$field,
            )
        })
        .load(|c, s| {
            c.$sec.$field = Some(inline_secret(s)?);
            Ok(())
        })
    };
}

const I32: i64 = i32::MAX as i64;

fn positive_duration(s: &str) -> Result<Duration, InvalidValue> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(InvalidValue("must be greater than 0".into()));
    }
    Ok(d)
}

/// Every key, section by section in the order the file is read.
pub static KEYS: &[Key] = &[
    leaf!(node.id, text)
        .env("HYPERCACHE_NODE_ID")
        .check(check_node_id)
        .flag("--node-id"),
    leaf!(node.data_dir, |s| Ok(Some(PathBuf::from(s))))
        .env("HYPERCACHE_DATA_DIR")
        .flag("--data-dir")
        .config("dir", SetAs::Immutable),
    leaf!(network.resp_bind_addr, text)
        .env("HYPERCACHE_BIND")
        .check(check_host)
        .also(&["network.http_bind_addr"])
        .flag("--bind")
        .config("bind", SetAs::Immutable),
    leaf!(network.resp_port, parse_port)
        .env("HYPERCACHE_RESP_PORT")
        .flag("--resp-port")
        .config("port", SetAs::Immutable),
    leaf!(network.http_bind_addr, text),
    leaf!(network.http_port, parse_port)
        .env("HYPERCACHE_HTTP_PORT")
        .flag("--http-port"),
    leaf!(network.gossip_port, parse_port)
        .env("HYPERCACHE_GOSSIP_PORT")
        .flag("--gossip-port"),
    // A container's or pod's own address or hostname (compose, the downward API's podIP).
    // Empty is "choose one" (the original's files write `advertise_addr: ""`).
    leaf!(network.advertise_addr, |s| Ok(
        (!s.is_empty()).then(|| s.to_owned())
    ))
    .env("HYPERCACHE_ADVERTISE_ADDR"),
    leaf!(network.busy_poll, parse_duration),
    leaf!(network.http_max_body, |s| {
        let n = parse_size(s)?;
        if n == 0 || n > 4 << 30 {
            return Err(InvalidValue("must be between 1 and 4gb".into()));
        }
        Ok(n)
    }),
    leaf!(network.request_timeout, parse_duration),
    leaf!(network.http_idle_timeout, positive_duration),
    leaf!(network.http_max_connections, |s| {
        let n: u32 = parse_uint(s)?;
        if n == 0 {
            return Err(InvalidValue("must be at least 1".into()));
        }
        Ok(n)
    }),
    leaf!(network.io_threads, |s| {
        let n: u32 = parse_uint(s)?;
        if n > 1024 {
            return Err(InvalidValue(
                "must be at most 1024 (0 = one per core)".into(),
            ));
        }
        Ok(n)
    }),
    Key::own(&["cluster.seeds"], |cv, r, c| {
        let seeds = r.cluster.as_mut().and_then(|s| s.seeds.take());
        cv.seeds(seeds, &mut c.cluster.seeds)
    })
    // Comma-separated, for containers configured by variables alone.
    .env("HYPERCACHE_SEEDS")
    .load(|c, s| {
        c.cluster.seeds = s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(())
    }),
    leaf!(cluster.seed_dns, |s| Ok(Some(s.to_owned()))).env("HYPERCACHE_SEED_DNS"),
    leaf!(cluster.replication_factor, parse_replication_factor),
    leaf!(cluster.consistency_level, str::parse),
    leaf!(cluster.tombstone_ttl, parse_duration),
    leaf!(cluster.gossip_interval, positive_duration),
    leaf!(cluster.forget_dead_after, positive_duration),
    leaf!(cluster.write_timeout, positive_duration),
    leaf!(cluster.read_timeout, positive_duration),
    secret!(cluster.secret, secret_file).env("HYPERCACHE_CLUSTER_SECRET"),
    leaf!(cluster.max_clock_skew, |s| {
        let n: u64 = parse_uint(s)?;
        if !(1000..=1 << 46).contains(&n) {
            return Err(InvalidValue(
                "must be between 1000 and 2^46 Lamport ticks".into(),
            ));
        }
        Ok(n)
    }),
    // The environment form lets a Kubernetes pod derive it from its memory limit.
    leaf!(cache.max_memory, parse_size)
        .env("HYPERCACHE_MAX_MEMORY")
        .config("maxmemory", SetAs::Memory { min: 0 }),
    // Zero means "no TTL", which is None for the node-wide setting.
    leaf!(cache.default_ttl, |s| parse_duration(s)
        .map(|d| (!d.is_zero()).then_some(d))),
    leaf!(cache.cleanup_interval, parse_duration).config("hz", SetAs::Int { min: 1, max: 500 }),
    leaf!(cache.eviction_policy, str::parse).config("maxmemory-policy", SetAs::Policy),
    leaf!(cache.maxmemory_samples, parse_uint)
        .config("maxmemory-samples", SetAs::Int { min: 1, max: 64 }),
    leaf!(cache.cuckoo_filter_fpp, parse_f64),
    leaf!(cache.memory_warning, parse_f64),
    leaf!(cache.memory_critical, parse_f64),
    leaf!(cache.memory_panic, parse_f64),
    leaf!(cache.databases, parse_uint).config("databases", SetAs::Immutable),
    leaf!(cache.maxclients, parse_uint).config("maxclients", SetAs::Int { min: 1, max: I32 }),
    leaf!(cache.proto_max_bulk_len, parse_size)
        .config("proto-max-bulk-len", SetAs::Memory { min: MIB }),
    leaf!(cache.client_query_buffer_limit, parse_size)
        .config("client-query-buffer-limit", SetAs::Memory { min: MIB }),
    leaf!(cache.timeout, parse_duration).config("timeout", SetAs::Int { min: 0, max: I32 }),
    leaf!(cache.max_stores, |s| {
        let n: u32 = parse_uint(s)?;
        if n > 65_536 {
            return Err(InvalidValue("must be at most 65536".into()));
        }
        Ok(n)
    }),
    // Classes not named keep their current (default) limits.
    Key::leaf(
        &["cache.client_output_buffer_limit"],
        |r| r.cache.as_mut()?.client_output_buffer_limit.take(),
        |c, s| {
            let limits = &mut c.cache.client_output_buffer_limit;
            *limits = limits.parse_over(s)?;
            Ok(())
        },
    )
    .config("client-output-buffer-limit", SetAs::OutputLimits),
    leaf!(cache.notify_keyspace_events, |s| {
        check_event_classes(s.as_bytes()).map_err(InvalidValue)?;
        Ok(s.to_string())
    })
    .config("notify-keyspace-events", SetAs::EventClasses),
    leaf!(cache.notify_replicated_writes, parse_bool),
    leaf!(persistence.enabled, parse_bool),
    leaf!(persistence.strategy, str::parse).config("appendonly", SetAs::Immutable),
    leaf!(persistence.sync_policy, str::parse).config("appendfsync", SetAs::Immutable),
    leaf!(persistence.snapshot_interval, parse_duration).config("save", SetAs::Immutable),
    leaf!(persistence.max_log_size, parse_size),
    leaf!(persistence.retain, parse_uint),
    leaf!(persistence.allow_partial_recovery, parse_bool),
    // Last in its section: the switches adjust the strategy read above.
    Key::own(
        &["persistence.aof_enabled", "persistence.snapshot_enabled"],
        |cv, r, c| {
            let (aof, snapshot) = match r.persistence.as_mut() {
                Some(p) => (p.aof_enabled.take(), p.snapshot_enabled.take()),
                None => (None, None),
            };
            cv.legacy_persistence(aof, snapshot, &mut c.persistence)
        },
    ),
    leaf!(metrics.enabled, parse_bool),
    leaf!(logging.level, str::parse)
        .env("HYPERCACHE_LOG_LEVEL")
        .flag("--log-level")
        .config("loglevel", SetAs::LogLevel),
    Key::own(&["logging.output"], |cv, r, c| {
        let output = r.logging.as_mut().and_then(|s| s.output.take());
        cv.output(output, &mut c.logging.output)
    }),
    leaf!(logging.log_dir, |s| Ok(PathBuf::from(s))),
    leaf!(logging.max_file_size, parse_size),
    leaf!(logging.max_files, parse_uint),
    leaf!(logging.structured, parse_bool),
    secret!(security.requirepass, requirepass_file)
        .env("HYPERCACHE_REQUIREPASS")
        .config("requirepass", SetAs::Password),
    secret!(security.http_token, http_token_file).env("HYPERCACHE_HTTP_TOKEN"),
    leaf!(security.protected_mode, parse_bool).config("protected-mode", SetAs::YesNo),
    leaf!(security.enable_debug_command, str::parse)
        .config("enable-debug-command", SetAs::Immutable),
    leaf!(security.metrics_auth, parse_bool),
    leaf!(tls.cert_file, |s| Ok(Some(PathBuf::from(s)))),
    leaf!(tls.key_file, |s| Ok(Some(PathBuf::from(s)))),
    leaf!(tls.ca_cert_file, |s| Ok(Some(PathBuf::from(s)))),
    leaf!(tls.auth_clients, str::parse),
    leaf!(tls.https_port, |s| parse_port(s).map(Some)),
    leaf!(tls.port, |s| parse_port(s).map(Some))
        .env("HYPERCACHE_TLS_PORT")
        .config("tls-port", SetAs::Immutable),
    leaf!(tls.cluster, parse_bool).config("tls-cluster", SetAs::Immutable),
    leaf!(security.acl_file, |s| Ok(Some(PathBuf::from(s))))
        .env("HYPERCACHE_ACL_FILE")
        .config("aclfile", SetAs::Immutable),
    Key::own(&["security.users"], |_, r, c| {
        let users = r.security.as_mut().and_then(|s| s.users.take());
        c.security.users = users.unwrap_or_default();
        Ok(())
    }),
    Key::own(&["security.http_tokens"], |cv, r, c| {
        let tokens = r.security.as_mut().and_then(|s| s.http_tokens.take());
        cv.http_tokens(tokens, &mut c.security.http_tokens)
    }),
    // Each store's fields are StoreConfig's, a schema shared with the HTTP API.
    Key::own(&["stores"], |cv, r, c| {
        cv.stores(r.stores.take(), &mut c.stores)
    }),
    Key::runtime("lfu-log-factor", SetAs::Int { min: 0, max: I32 }),
    Key::runtime("lfu-decay-time", SetAs::Int { min: 0, max: I32 }),
    // Where a collection leaves its packed encoding (`collections::LIMITS`).
    // Negative: a list node's size in kilobytes (-1 = 4 KB ... -5 = 64 KB); positive: its
    // element count.
    Key::runtime(
        "list-max-listpack-size",
        SetAs::Int {
            min: -I32 - 1,
            max: I32,
        },
    ),
    // Plain nodes at each end of a list; the ones between are compressed. Ours defaults to 2
    // (Redis: 0): pushes and pops never touch a compressed node, a read of the first hundreds
    // of elements (the end node may be nearly empty) neither, and a long list's middle costs
    // a fraction of its bytes.
    Key::runtime("list-compress-depth", SetAs::Int { min: 0, max: I32 }),
    Key::runtime("hash-max-listpack-entries", SetAs::Int { min: 0, max: I32 }),
    Key::runtime("hash-max-listpack-value", SetAs::Int { min: 0, max: I32 }),
    Key::runtime("set-max-intset-entries", SetAs::Int { min: 0, max: I32 }),
    Key::runtime("zset-max-listpack-entries", SetAs::Int { min: 0, max: I32 }),
    Key::runtime("zset-max-listpack-value", SetAs::Int { min: 0, max: I32 }),
    // Where a HyperLogLog leaves its sparse encoding (`collections::LIMITS` too).
    Key::runtime("hll-sparse-max-bytes", SetAs::Memory { min: 0 }),
    // How long a script runs before other clients get -BUSY and SCRIPT KILL may stop it.
    Key::runtime(
        "busy-reply-threshold",
        SetAs::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    // Keys client-side caching remembers at most (0: no limit).
    Key::runtime(
        "tracking-table-max-keys",
        SetAs::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    // SLOWLOG: microseconds (-1 off, 0 every command) and entries kept.
    Key::runtime(
        "slowlog-log-slower-than",
        SetAs::Int {
            min: -1,
            max: i64::MAX,
        },
    ),
    Key::runtime(
        "slowlog-max-len",
        SetAs::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    // LATENCY: milliseconds; 0 off.
    Key::runtime(
        "latency-monitor-threshold",
        SetAs::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    // ACL LOG's entries kept.
    Key::runtime("acllog-max-len", SetAs::Int { min: 0, max: I32 }),
];

/// The order CONFIG GET lists parameters in. [`KEYS`] follows the file, so this keeps the
/// order clients have always seen.
pub const CONFIG_ORDER: &[&str] = &[
    "bind",
    "port",
    "databases",
    "dir",
    "maxclients",
    "maxmemory",
    "maxmemory-policy",
    "maxmemory-samples",
    "lfu-log-factor",
    "lfu-decay-time",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "hz",
    "timeout",
    "requirepass",
    "protected-mode",
    "enable-debug-command",
    "client-output-buffer-limit",
    "loglevel",
    "save",
    "appendonly",
    "appendfsync",
    "list-max-listpack-size",
    "list-compress-depth",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "set-max-intset-entries",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "hll-sparse-max-bytes",
    "notify-keyspace-events",
    "tracking-table-max-keys",
    "busy-reply-threshold",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "aclfile",
    "acllog-max-len",
    "tls-port",
    "tls-cluster",
];

/// The CONFIG parameters, in CONFIG GET's order.
pub fn params() -> impl Iterator<Item = &'static Param> {
    CONFIG_ORDER.iter().filter_map(|name| param(name))
}

/// The CONFIG parameter of that (lowercase) name.
pub fn param(name: &str) -> Option<&'static Param> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, real)| real);
    KEYS.iter()
        .filter_map(|k| k.param.as_ref())
        .find(|p| p.name == name)
}

/// Redis 7's older names for the encoding thresholds, still accepted by name.
pub const ALIASES: &[(&str, &str)] = &[
    ("lua-time-limit", "busy-reply-threshold"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
];

/// The key a `HYPERCACHE_*` variable sets.
pub(super) fn by_env(var: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.env == Some(var))
}

/// The key that reads this YAML path from the file.
pub(super) fn by_yaml(path: &str) -> Option<&'static Key> {
    KEYS.iter()
        .find(|k| !matches!(k.read, Read::No) && k.yaml.contains(&path))
}

/// Every environment variable the loader reads, `HYPERCACHE_CONFIG` first; other
/// `HYPERCACHE_*` names are ignored.
pub fn env_vars() -> impl Iterator<Item = &'static str> {
    std::iter::once(ENV_CONFIG).chain(KEYS.iter().filter_map(|k| k.env))
}

pub(super) fn is_env_var(name: &str) -> bool {
    env_vars().any(|v| v == name)
}

/// A parameter as CONFIG GET and SET know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub set: SetAs,
}

impl Param {
    pub fn mutable(&self) -> bool {
        self.set != SetAs::Immutable
    }

    /// Reads a CONFIG SET argument; `current` is the live value (some forms change only part
    /// of it). The error is the text after Redis's `CONFIG SET failed (...) - `.
    pub fn parse(&self, arg: &[u8], current: &Value) -> Result<Value, String> {
        self.set.parse(arg, current)
    }
}

/// How CONFIG SET reads a parameter: Redis's grammar, not the file's (`1g` is 10^9 bytes
/// there, 2^30 here), with Redis's error texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetAs {
    /// Refused: it takes a restart.
    Immutable,
    /// A whole number in `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// Redis's memory argument, at least `min` bytes.
    Memory {
        min: u64,
    },
    YesNo,
    /// An eviction policy, by Redis's names or ours.
    Policy,
    /// Any bytes; empty means none.
    Password,
    /// `<class> <hard> <soft> <seconds>` groups, over the current limits.
    OutputLimits,
    /// A level name, which the logger judges when it is applied.
    LogLevel,
    /// Keyspace notification classes (`pubsub::notify`'s letters).
    EventClasses,
}

/// Refuses a `notify-keyspace-events` value with a letter that names no class.
pub fn check_event_classes(v: &[u8]) -> Result<(), String> {
    if v.iter().all(|c| b"Ag$lshzxeKEtmdn".contains(c)) {
        Ok(())
    } else {
        Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
    }
}

const POLICIES: &str = "volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction";

impl SetAs {
    fn parse(self, v: &[u8], current: &Value) -> Result<Value, String> {
        Ok(match self {
            SetAs::Immutable => return Err("can't set immutable config".into()),
            SetAs::Int { min, max } => {
                let n = crate::util::num::parse_i64(v)
                    .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
                if n < min || n > max {
                    return Err(format!(
                        "argument must be between {min} and {max} inclusive"
                    ));
                }
                match u64::try_from(n) {
                    Ok(n) if min >= 0 => Value::Int(n),
                    _ => Value::Signed(n),
                }
            }
            SetAs::Memory { min } => {
                let n = parse_redis_memory(v).ok_or("argument must be a memory value")?;
                if n < min {
                    return Err(format!(
                        "argument must be between {min} and {} inclusive",
                        i64::MAX
                    ));
                }
                Value::Int(n)
            }
            SetAs::YesNo => match String::from_utf8_lossy(v).to_ascii_lowercase().as_str() {
                "yes" => Value::Bool(true),
                "no" => Value::Bool(false),
                _ => return Err("argument must be 'yes' or 'no'".into()),
            },
            SetAs::Policy => Value::Policy(
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<EvictionPolicy>().ok())
                    .ok_or_else(|| {
                        format!("argument(s) must be one of the following: {POLICIES}")
                    })?,
            ),
            SetAs::Password => Value::Bytes(v.to_vec()),
            SetAs::OutputLimits => {
                let text = std::str::from_utf8(v).map_err(|_| "invalid value".to_string())?;
                if !text.split_whitespace().count().is_multiple_of(4) {
                    return Err("Wrong number of arguments in buffer limit configuration.".into());
                }
                let base = match current {
                    Value::Limits(l) => *l,
                    _ => OutputLimits::default(),
                };
                Value::Limits(base.parse_over(text).map_err(|e| e.0)?)
            }
            SetAs::LogLevel => Value::Text(String::from_utf8_lossy(v).to_lowercase()),
            SetAs::EventClasses => {
                check_event_classes(v)?;
                Value::Text(String::from_utf8_lossy(v).into_owned())
            }
        })
    }
}

/// A parameter's value between CONFIG and the running node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(u64),
    /// A parameter whose range goes below zero.
    Signed(i64),
    Bool(bool),
    Text(String),
    /// A password: any bytes.
    Bytes(Vec<u8>),
    Policy(EvictionPolicy),
    Limits(OutputLimits),
}

impl Value {
    /// As CONFIG GET prints it.
    pub fn render(&self) -> String {
        match self {
            Value::Int(n) => n.to_string(),
            Value::Signed(n) => n.to_string(),
            Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
            Value::Text(s) => s.clone(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Policy(p) => p.redis_name().to_string(),
            Value::Limits(l) => l.render(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    /// A YAML document setting each dotted path (`section.key` or a top-level key) to `value`.
    fn doc(paths: &[&str], value: &str) -> String {
        let mut sections: Vec<(&str, Vec<&str>)> = Vec::new();
        let mut out = String::new();
        for path in paths {
            match path.split_once('.') {
                Some((section, field)) => match sections.iter_mut().find(|(s, _)| s == &section) {
                    Some((_, fields)) => fields.push(field),
                    None => sections.push((section, vec![field])),
                },
                None => out.push_str(&format!("{path}: {value}\n")),
            }
        }
        for (section, fields) in sections {
            out.push_str(&format!("{section}:\n"));
            for field in fields {
                out.push_str(&format!("  {field}: {value}\n"));
            }
        }
        out
    }

    fn load(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str(yaml, "keys.yaml")
    }

    #[test]
    fn names_are_unique_and_well_formed() {
        let mut vars: Vec<&str> = KEYS.iter().filter_map(|k| k.env).collect();
        for var in &vars {
            assert!(var.starts_with("HYPERCACHE_"), "{var}");
            assert!(!var.contains(|c: char| c.is_ascii_lowercase()), "{var}");
            assert_ne!(*var, ENV_CONFIG, "{var} is the config file's variable");
        }
        let mut flags: Vec<&str> = KEYS.iter().filter_map(|k| k.flag).collect();
        assert!(flags.iter().all(|f| f.starts_with("--")), "{flags:?}");
        let mut names: Vec<&str> = KEYS
            .iter()
            .filter_map(|k| k.param.map(|p| p.name))
            .collect();
        assert!(
            names.iter().all(|n| *n == n.to_ascii_lowercase()),
            "CONFIG SET lowercases names before the lookup: {names:?}"
        );
        // A YAML key is read by one entry only.
        let mut read: Vec<&str> = KEYS
            .iter()
            .filter(|k| !matches!(k.read, Read::No))
            .flat_map(|k| k.yaml.iter().copied())
            .collect();
        for list in [&mut vars, &mut flags, &mut names, &mut read] {
            let n = list.len();
            list.sort_unstable();
            list.dedup();
            assert_eq!(list.len(), n, "a name is listed twice: {list:?}");
        }
    }

    #[test]
    fn every_entry_is_reachable_and_readable() {
        for k in KEYS {
            let what = k.yaml.first().copied().or(k.param.map(|p| p.name));
            assert!(
                what.is_some(),
                "an entry with neither a YAML path nor a CONFIG name"
            );
            match k.read {
                Read::Leaf(_) => assert!(k.load.is_some(), "{what:?}: a scalar needs a load"),
                Read::Own(_) => {}
                Read::No => assert!(k.yaml.is_empty(), "{what:?}: YAML paths nobody reads"),
            }
            if k.env.is_some() {
                assert!(k.load.is_some(), "{what:?}: a variable needs a load");
            }
            for path in k.also {
                let other = by_yaml(path).unwrap_or_else(|| panic!("{path} is not read"));
                assert!(other.load.is_some(), "{path}: an override needs its load");
            }
        }
    }

    #[test]
    fn every_yaml_path_exists_in_the_file() {
        for path in KEYS.iter().flat_map(|k| k.yaml.iter().chain(k.also)) {
            // `~` is "not set" for every key, so only an unknown key can fail.
            if let Err(e) = load(&doc(&[path], "~")) {
                panic!("{path} is not a key of the file: {e}");
            }
        }
        assert!(load(&doc(&["cache.max_memroy"], "~")).is_err());
    }

    #[test]
    fn environment_reads_as_the_file_does() {
        let samples = [
            ("HYPERCACHE_NODE_ID", "n7"),
            ("HYPERCACHE_DATA_DIR", "/srv/hc"),
            ("HYPERCACHE_BIND", "0.0.0.0"),
            ("HYPERCACHE_RESP_PORT", "1234"),
            ("HYPERCACHE_HTTP_PORT", "1235"),
            ("HYPERCACHE_GOSSIP_PORT", "1236"),
            ("HYPERCACHE_CLUSTER_SECRET", "s3"),
            (
                "HYPERCACHE_SEED_DNS",
                "hypercache-headless.default.svc.cluster.local",
            ),
            ("HYPERCACHE_MAX_MEMORY", "768MB"),
            ("HYPERCACHE_LOG_LEVEL", "warn"),
            ("HYPERCACHE_REQUIREPASS", "pw"),
            ("HYPERCACHE_HTTP_TOKEN", "tk"),
            ("HYPERCACHE_ADVERTISE_ADDR", "hypercache-1"),
            ("HYPERCACHE_ACL_FILE", "/etc/hypercache/users.acl"),
            ("HYPERCACHE_TLS_PORT", "6380"),
        ];
        // A list has no one-scalar form in the file: see `seeds_from_the_environment`.
        let listed = |k: &&Key| k.env.is_some() && k.env != Some("HYPERCACHE_SEEDS");
        for key in KEYS.iter().filter(listed) {
            let var = key.env.unwrap_or_default();
            let Some((_, value)) = samples.iter().find(|(v, _)| *v == var) else {
                panic!("{var}: add a sample value to this test");
            };
            let from_env = Config::load_with_env(None, &Overrides::default(), [(var, value)])
                .unwrap_or_else(|e| panic!("{var}: {e}"));
            assert_ne!(from_env, Config::default(), "{var} changed nothing");
            let mut paths = vec![key.path()];
            paths.extend(key.also);
            let from_file = load(&doc(&paths, value)).unwrap_or_else(|e| panic!("{var}: {e}"));
            assert_eq!(from_env, from_file, "{var} and {paths:?} disagree");
        }
    }

    #[test]
    fn seeds_from_the_environment() {
        let env = [("HYPERCACHE_SEEDS", " hc-1:7946, hc-2:7946,,hc-3:7946 ")];
        let c = Config::load_with_env(None, &Overrides::default(), env).expect("valid seeds");
        assert_eq!(c.cluster.seeds, ["hc-1:7946", "hc-2:7946", "hc-3:7946"]);
        let from_file =
            load("cluster:\n  seeds: [hc-1:7946, hc-2:7946, hc-3:7946]\n").expect("valid file");
        assert_eq!(c, from_file);
    }

    #[test]
    fn config_set_reads_what_config_get_prints() {
        let samples: [(&str, &str); 29] = [
            ("maxclients", "50"),
            ("maxmemory", "1gb"),
            ("maxmemory-policy", "allkeys-lfu"),
            ("maxmemory-samples", "7"),
            ("lfu-log-factor", "3"),
            ("lfu-decay-time", "2"),
            ("proto-max-bulk-len", "2mb"),
            ("client-query-buffer-limit", "4mb"),
            ("hz", "20"),
            ("timeout", "30"),
            ("requirepass", "pw"),
            ("protected-mode", "no"),
            ("client-output-buffer-limit", "normal 1mb 2mb 3"),
            ("loglevel", "debug"),
            ("list-max-listpack-size", "-3"),
            ("list-compress-depth", "2"),
            ("hash-max-listpack-entries", "64"),
            ("hash-max-listpack-value", "32"),
            ("set-max-intset-entries", "100"),
            ("zset-max-listpack-entries", "64"),
            ("zset-max-listpack-value", "32"),
            ("hll-sparse-max-bytes", "1kb"),
            ("notify-keyspace-events", "Kg$"),
            ("tracking-table-max-keys", "10"),
            ("slowlog-log-slower-than", "0"),
            ("slowlog-max-len", "5"),
            ("acllog-max-len", "7"),
            ("latency-monitor-threshold", "100"),
            ("busy-reply-threshold", "100"),
        ];
        let limits = Value::Limits(OutputLimits::default());
        for p in params() {
            if !p.mutable() {
                assert_eq!(
                    p.parse(b"1", &Value::Int(0)),
                    Err("can't set immutable config".to_string())
                );
                continue;
            }
            let Some((_, arg)) = samples.iter().find(|(n, _)| *n == p.name) else {
                panic!("{}: add a sample argument to this test", p.name);
            };
            let v = p
                .parse(arg.as_bytes(), &limits)
                .unwrap_or_else(|e| panic!("{}: {e}", p.name));
            let printed = v.render();
            assert_eq!(
                p.parse(printed.as_bytes(), &v),
                Ok(v),
                "{} {printed}",
                p.name
            );
        }
    }

    #[test]
    fn config_order_lists_every_parameter_once() {
        let mut order = CONFIG_ORDER.to_vec();
        let mut names: Vec<&str> = KEYS
            .iter()
            .filter_map(|k| k.param.map(|p| p.name))
            .collect();
        order.sort_unstable();
        names.sort_unstable();
        assert_eq!(order, names);
        assert_eq!(params().count(), CONFIG_ORDER.len());
    }

    #[test]
    fn readme_documents_every_key() {
        let readme = include_str!("../../README.md");
        for var in env_vars() {
            assert!(
                readme.contains(&format!("`{var}`")),
                "README.md lacks {var}"
            );
        }
        for p in params() {
            assert!(
                readme.contains(&format!("`{}`", p.name)),
                "README.md lacks {}",
                p.name
            );
        }
        // Keys of one section may share a row, named after the first by their last part.
        for path in KEYS.iter().flat_map(|k| k.yaml) {
            let last = path.rsplit('.').next().unwrap_or(path);
            assert!(
                readme.contains(&format!("`{path}`")) || readme.contains(&format!("`{last}`")),
                "README.md lacks {path}"
            );
        }
    }
}
