//! The enumerated settings (eviction policy, persistence strategy, ...): each has one
//! canonical name, aliases that older configs and Redis use, and one error text.

use std::fmt;
use std::str::FromStr;

use super::InvalidValue;

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
        AofAndSnapshot => "aof+snapshot" | "aof-and-snapshot" | "snapshot+aof" | "hybrid",
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

config_enum! {
    /// What an HTTP token may do; each scope includes the ones before it.
    TokenScope, "token scope", "read, write, admin" {
        /// Reads: keys, stores, stats, cluster, filter, the pub/sub stream.
        #[default]
        Read => "read",
        /// Reads and writes of keys, and publishing.
        Write => "write",
        /// Everything: the admin routes and store management too.
        Admin => "admin",
    }
}

impl TokenScope {
    /// Whether a token of this scope may do what `needed` allows.
    pub fn allows(self, needed: TokenScope) -> bool {
        let rank = |s: TokenScope| match s {
            TokenScope::Read => 0,
            TokenScope::Write => 1,
            TokenScope::Admin => 2,
        };
        rank(self) >= rank(needed)
    }
}

config_enum! {
    /// Whether TLS clients must show a certificate signed by `tls.ca_cert_file` (Redis's
    /// `tls-auth-clients`).
    TlsAuthClients, "tls auth_clients", "no, optional, yes" {
        #[default]
        No => "no" | "false",
        Optional => "optional",
        Yes => "yes" | "true",
    }
}
