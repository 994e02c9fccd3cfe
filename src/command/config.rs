//! CONFIG GET / SET / RESETSTAT: the parameters a running node changes.

use std::sync::atomic::Ordering;

use super::{Ctx, reply_help};
use crate::config::EvictionPolicy;
use crate::error::{Error, Result};
use crate::resp::Args;
use crate::util::glob::glob_match;

/// Redis's memtoull: "1gb" = 1024^3, "1g" = 10^9, plain = bytes.
fn parse_memory(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?.to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mul)
}

const POLICIES: &str = "volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction";

/// The parameters this server really has, in CONFIG GET order.
const PARAMS: &[&str] = &[
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
];

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn param_value(cx: &Ctx<'_>, name: &str) -> String {
    let st = &cx.node.settings;
    let n = &cx.node.config;
    match name {
        "bind" => n.network.resp_bind_addr.clone(),
        "port" => cx
            .node
            .resp_addr
            .lock()
            .map(|a| a.port())
            .unwrap_or(n.network.resp_port)
            .to_string(),
        "databases" => cx.node.store.databases().to_string(),
        "dir" => n.data_dir().display().to_string(),
        "maxclients" => st.maxclients.load(Ordering::Relaxed).to_string(),
        "maxmemory" => cx.node.store.node_limits.max().to_string(),
        "maxmemory-policy" => cx
            .node
            .store
            .default_store()
            .limits
            .policy()
            .redis_name()
            .to_string(),
        "maxmemory-samples" => cx.node.store.node_limits.samples().to_string(),
        "lfu-log-factor" => cx
            .node
            .store
            .default_store()
            .access
            .log_factor()
            .to_string(),
        "lfu-decay-time" => cx
            .node
            .store
            .default_store()
            .access
            .decay_time()
            .to_string(),
        "proto-max-bulk-len" => st.proto_max_bulk_len().to_string(),
        "client-query-buffer-limit" => st
            .client_query_buffer_limit
            .load(Ordering::Relaxed)
            .to_string(),
        "hz" => st.hz.load(Ordering::Relaxed).to_string(),
        "timeout" => st.timeout.load(Ordering::Relaxed).to_string(),
        "requirepass" => st.requirepass_text(),
        "protected-mode" => yes_no(st.protected_mode.load(Ordering::Relaxed)),
        "enable-debug-command" => st.debug_command.name().to_string(),
        "client-output-buffer-limit" => st.output_limits().render(),
        "loglevel" => st.loglevel.read().clone(),
        "save" => match &cx.node.persistence {
            Some(p) if p.config().strategy.snapshot() => {
                format!("{} 1", p.config().snapshot_interval.as_secs().max(1))
            }
            _ => String::new(),
        },
        "appendonly" => match cx.node.persistence.as_ref().and_then(|p| p.aof()) {
            Some(_) => "yes".to_string(),
            None => "no".to_string(),
        },
        "appendfsync" => n.persistence.sync_policy.name().to_string(),
        _ => String::new(),
    }
}

pub fn config_get(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let mut found: Vec<&str> = Vec::new();
    for pat in args.iter().skip(2) {
        for p in PARAMS {
            if glob_match(pat, p.as_bytes(), true) && !found.contains(p) {
                found.push(p);
            }
        }
    }
    let values: Vec<(&str, String)> = found.iter().map(|p| (*p, param_value(cx, p))).collect();
    cx.out.map(values.len());
    for (k, v) in values {
        cx.out.bulk(k.as_bytes());
        cx.out.bulk(v.as_bytes());
    }
    Ok(())
}

fn int_in(v: &[u8], lo: i64, hi: i64) -> std::result::Result<u64, String> {
    let n = crate::util::num::parse_i64(v)
        .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
    if n < lo || n > hi {
        return Err(format!("argument must be between {lo} and {hi} inclusive"));
    }
    Ok(n as u64)
}

fn mem_at_least(v: &[u8], min: u64) -> std::result::Result<u64, String> {
    let n = parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())?;
    if n < min {
        return Err(format!(
            "argument must be between {min} and {} inclusive",
            i64::MAX
        ));
    }
    Ok(n)
}

fn apply_param(cx: &Ctx<'_>, name: &str, v: &[u8]) -> std::result::Result<(), String> {
    let st = &cx.node.settings;
    match name {
        "maxclients" => st
            .maxclients
            .store(int_in(v, 1, i32::MAX as i64)?, Ordering::Relaxed),
        // The node-wide limit (`cache.max_memory`), over every store.
        "maxmemory" => cx
            .node
            .store
            .node_limits
            .set_max(parse_memory(v).ok_or("argument must be a memory value")?),
        "maxmemory-policy" => {
            let p: EvictionPolicy = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("argument(s) must be one of the following: {POLICIES}"))?;
            // The default store's policy, which the node limit uses too.
            cx.node.store.default_store().set_policy(p);
            cx.node.store.node_limits.set_policy(p);
        }
        "maxmemory-samples" => {
            let n = int_in(v, 1, 64)? as u32;
            cx.node.store.node_limits.set_samples(n);
            for ks in cx.node.store.stores() {
                ks.limits.set_samples(n);
            }
        }
        "lfu-log-factor" => {
            let n = int_in(v, 0, i32::MAX as i64)? as u32;
            for ks in cx.node.store.stores() {
                ks.access.set_log_factor(n);
            }
        }
        "lfu-decay-time" => {
            let n = int_in(v, 0, i32::MAX as i64)? as u32;
            for ks in cx.node.store.stores() {
                ks.access.set_decay_time(n);
            }
        }
        "proto-max-bulk-len" => st.set_proto_max_bulk_len(mem_at_least(v, 1024 * 1024)?),
        "client-query-buffer-limit" => st
            .client_query_buffer_limit
            .store(mem_at_least(v, 1024 * 1024)?, Ordering::Relaxed),
        "hz" => st.hz.store(int_in(v, 1, 500)?, Ordering::Relaxed),
        "timeout" => st
            .timeout
            .store(int_in(v, 0, i32::MAX as i64)?, Ordering::Relaxed),
        "requirepass" => st.set_requirepass((!v.is_empty()).then(|| v.to_vec())),
        "protected-mode" => st.protected_mode.store(
            match String::from_utf8_lossy(v).to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err("argument must be 'yes' or 'no'".into()),
            },
            Ordering::Relaxed,
        ),
        "client-output-buffer-limit" => {
            let text = std::str::from_utf8(v).map_err(|_| "invalid value".to_string())?;
            if !text.split_whitespace().count().is_multiple_of(4) {
                return Err("Wrong number of arguments in buffer limit configuration.".into());
            }
            let l = st.output_limits().parse_over(text).map_err(|e| e.0)?;
            st.set_output_limits(l);
        }
        "loglevel" => {
            let level = String::from_utf8_lossy(v).to_lowercase();
            crate::telemetry::set_level(&level).map_err(|e| e.to_string())?;
            *st.loglevel.write() = level;
        }
        _ => return Err("can't set immutable config".into()),
    }
    Ok(())
}

pub fn config_set(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if !args.len().is_multiple_of(2) {
        return Err(Error::Syntax);
    }
    let mut pairs: Vec<(&'static str, &[u8])> = Vec::new();
    for i in (2..args.len()).step_by(2) {
        let name = String::from_utf8_lossy(&args[i]).to_lowercase();
        let Some(p) = PARAMS.iter().find(|p| **p == name) else {
            return Err(Error::msg(format!(
                "Unknown option or number of arguments for CONFIG SET - '{}'",
                String::from_utf8_lossy(&args[i])
            )));
        };
        if pairs.iter().any(|(n, _)| n == p) {
            return Err(Error::msg(format!(
                "CONFIG SET failed (possibly related to argument '{}') - duplicate parameter",
                String::from_utf8_lossy(&args[i])
            )));
        }
        pairs.push((p, &args[i + 1]));
    }
    // Validate everything first so a failing pair changes nothing.
    let old: Vec<String> = pairs.iter().map(|(p, _)| param_value(cx, p)).collect();
    for (i, (p, v)) in pairs.iter().enumerate() {
        if let Err(e) = apply_param(cx, p, v) {
            for (j, (q, _)) in pairs.iter().enumerate().take(i) {
                let _ = apply_param(cx, q, old[j].as_bytes());
            }
            return Err(Error::msg(format!(
                "CONFIG SET failed (possibly related to argument '{p}') - {e}"
            )));
        }
    }
    cx.out.ok();
    Ok(())
}

pub fn config_resetstat(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.node.stats.reset();
    cx.node.store.reset_stats();
    cx.node.metrics.reset();
    cx.out.ok();
    Ok(())
}

pub fn config_help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    reply_help(
        cx.out,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
        ],
    );
    Ok(())
}

// --- TIME, LASTSAVE, MEMORY, DEBUG, SHUTDOWN ---

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_values_follow_redis_units() {
        assert_eq!(parse_memory(b"100"), Some(100));
        assert_eq!(parse_memory(b"1kb"), Some(1024));
        assert_eq!(parse_memory(b"1k"), Some(1000));
        assert_eq!(parse_memory(b"2GB"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_memory(b"1x"), None);
        assert_eq!(parse_memory(b""), None);
    }
}
