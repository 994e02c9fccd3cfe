//! The rules a loaded configuration must keep, within one key (ranges, address forms) and
//! across keys (port clashes, rising pressure levels, unique store names), with their error
//! texts. They run after every layer is applied, so a file value overridden by the
//! environment is judged by its final value.

use std::collections::HashMap;
use std::net::IpAddr;

use super::error::position;
use super::units::{MIB, format_size};
use super::yaml::Spans;
use super::{Config, ConfigError};

pub(super) fn check_node_id(id: &str) -> Result<(), String> {
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

pub(super) fn check_host(host: &str) -> Result<(), String> {
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

pub(super) fn check_store_name(name: &str) -> Result<(), String> {
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

pub(super) fn check_fpp(v: f64) -> Result<(), String> {
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
pub(super) struct Problem {
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

impl Config {
    /// All semantic rules; returns the first violation.
    pub(super) fn check(&self) -> Result<(), Problem> {
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

pub(super) fn unlocated(p: Problem) -> ConfigError {
    ConfigError::Invalid {
        origin: None,
        key: p.key,
        message: p.message,
        position: None,
    }
}

/// Attaches the file and, when the value came from it, line and snippet.
pub(super) fn located(p: Problem, origin: &str, src: &str, spans: &Spans) -> ConfigError {
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
