//! CONFIG GET / SET / RESETSTAT. Which parameters exist, their order and how SET reads them
//! is the table in `config::keys`; this file is the live half of each entry, reading and
//! changing the running node.

use std::sync::atomic::Ordering;

use super::{Ctx, reply_help};
use crate::collections::LIMITS;
use crate::config::keys::{self, Param, Value};
use crate::error::{Error, Result};
use crate::node::Node;
use crate::resp::Args;
use crate::util::glob::glob_match;

/// The running node's value of a CONFIG parameter (`keys::params`): the live half of its
/// table entry.
fn live(node: &Node, name: &str) -> Option<Value> {
    let st = &node.settings;
    let n = &node.config;
    let store = &node.store;
    Some(match name {
        "bind" => Value::Text(n.network.resp_bind_addr.clone()),
        "port" => Value::Int(u64::from(
            node.resp_addr
                .lock()
                .map(|a| a.port())
                .unwrap_or(n.network.resp_port),
        )),
        "databases" => Value::Int(store.databases() as u64),
        "dir" => Value::Text(n.data_dir().display().to_string()),
        "maxclients" => Value::Int(st.maxclients.load(Ordering::Relaxed)),
        "maxmemory" => Value::Int(store.node_limits.max()),
        "maxmemory-policy" => Value::Policy(store.default_store().limits.policy()),
        "maxmemory-samples" => Value::Int(u64::from(store.node_limits.samples())),
        "lfu-log-factor" => Value::Int(u64::from(store.default_store().access.log_factor())),
        "lfu-decay-time" => Value::Int(u64::from(store.default_store().access.decay_time())),
        "proto-max-bulk-len" => Value::Int(st.proto_max_bulk_len()),
        "client-query-buffer-limit" => {
            Value::Int(st.client_query_buffer_limit.load(Ordering::Relaxed))
        }
        "hz" => Value::Int(st.hz.load(Ordering::Relaxed)),
        "timeout" => Value::Int(st.timeout.load(Ordering::Relaxed)),
        "requirepass" => Value::Bytes(st.requirepass_text().into_bytes()),
        "protected-mode" => Value::Bool(st.protected_mode.load(Ordering::Relaxed)),
        "enable-debug-command" => Value::Text(st.debug_command.name().to_string()),
        "client-output-buffer-limit" => Value::Limits(st.output_limits()),
        "loglevel" => Value::Text(st.loglevel.read().clone()),
        "save" => Value::Text(match &node.persistence {
            Some(p) if p.config().strategy.snapshot() => {
                format!("{} 1", p.config().snapshot_interval.as_secs().max(1))
            }
            _ => String::new(),
        }),
        "appendonly" => Value::Bool(node.persistence.as_ref().and_then(|p| p.aof()).is_some()),
        "appendfsync" => Value::Text(n.persistence.sync_policy.name().to_string()),
        "list-max-listpack-size" => Value::Signed(LIMITS.list_fill.load(Ordering::Relaxed)),
        "list-compress-depth" => Value::Int(LIMITS.list_compress.load(Ordering::Relaxed)),
        "hash-max-listpack-entries" => Value::Int(LIMITS.hash_entries.load(Ordering::Relaxed)),
        "hash-max-listpack-value" => Value::Int(LIMITS.hash_value.load(Ordering::Relaxed)),
        "set-max-intset-entries" => Value::Int(LIMITS.set_entries.load(Ordering::Relaxed)),
        "zset-max-listpack-entries" => Value::Int(LIMITS.zset_entries.load(Ordering::Relaxed)),
        "zset-max-listpack-value" => Value::Int(LIMITS.zset_value.load(Ordering::Relaxed)),
        "hll-sparse-max-bytes" => Value::Int(LIMITS.hll_sparse_bytes.load(Ordering::Relaxed)),
        "notify-keyspace-events" => {
            Value::Text(crate::pubsub::notify::render(node.pubsub.notify_flags()))
        }
        "tracking-table-max-keys" => {
            Value::Int(node.pubsub.tracking.max_keys.load(Ordering::Relaxed) as u64)
        }
        "busy-reply-threshold" => Value::Int(node.scripts.busy_ms.load(Ordering::Relaxed)),
        "slowlog-log-slower-than" => Value::Signed(node.slowlog.threshold_us()),
        "slowlog-max-len" => Value::Int(node.slowlog.max_len()),
        "latency-monitor-threshold" => Value::Int(node.latency.threshold_ms()),
        "aclfile" => Value::Text(
            node.acl
                .file()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        "acllog-max-len" => Value::Int(node.acl.log_max.load(Ordering::Relaxed) as u64),
        "tls-cluster" => Value::Bool(n.tls.cluster),
        "tls-port" => Value::Int(u64::from(
            node.tls_addr
                .lock()
                .map(|a| a.port())
                .or(n.tls.port)
                .unwrap_or(0),
        )),
        _ => return None,
    })
}

/// Puts a value CONFIG SET read (`Param::parse`) into the running node.
fn apply(node: &Node, name: &str, value: Value) -> std::result::Result<(), String> {
    let st = &node.settings;
    let store = &node.store;
    let small = |n: u64| u32::try_from(n).map_err(|_| "argument is out of range".to_string());
    match (name, value) {
        ("maxclients", Value::Int(n)) => st.maxclients.store(n, Ordering::Relaxed),
        // The node-wide limit (`cache.max_memory`), over every store.
        ("maxmemory", Value::Int(n)) => store.node_limits.set_max(n),
        ("maxmemory-policy", Value::Policy(p)) => {
            // The default store's policy, which the node limit uses too.
            store.default_store().set_policy(p);
            store.node_limits.set_policy(p);
        }
        ("maxmemory-samples", Value::Int(n)) => {
            let n = small(n)?;
            store.node_limits.set_samples(n);
            for ks in store.stores() {
                ks.limits.set_samples(n);
            }
        }
        ("lfu-log-factor", Value::Int(n)) => {
            let n = small(n)?;
            for ks in store.stores() {
                ks.access.set_log_factor(n);
            }
        }
        ("lfu-decay-time", Value::Int(n)) => {
            let n = small(n)?;
            for ks in store.stores() {
                ks.access.set_decay_time(n);
            }
        }
        ("proto-max-bulk-len", Value::Int(n)) => st.set_proto_max_bulk_len(n),
        ("client-query-buffer-limit", Value::Int(n)) => {
            st.client_query_buffer_limit.store(n, Ordering::Relaxed)
        }
        ("hz", Value::Int(n)) => st.hz.store(n, Ordering::Relaxed),
        ("timeout", Value::Int(n)) => st.timeout.store(n, Ordering::Relaxed),
        ("requirepass", Value::Bytes(p)) => {
            // As Redis: it becomes the default user's only password (or none).
            node.acl
                .set_default_password((!p.is_empty()).then_some(p.as_slice()));
            st.set_requirepass((!p.is_empty()).then_some(p))
        }
        ("protected-mode", Value::Bool(b)) => st.protected_mode.store(b, Ordering::Relaxed),
        ("client-output-buffer-limit", Value::Limits(l)) => st.set_output_limits(l),
        ("list-max-listpack-size", Value::Signed(n)) => {
            LIMITS.list_fill.store(n, Ordering::Relaxed)
        }
        ("list-compress-depth", Value::Int(n)) => LIMITS.list_compress.store(n, Ordering::Relaxed),
        ("hash-max-listpack-entries", Value::Int(n)) => {
            LIMITS.hash_entries.store(n, Ordering::Relaxed)
        }
        ("hash-max-listpack-value", Value::Int(n)) => LIMITS.hash_value.store(n, Ordering::Relaxed),
        ("set-max-intset-entries", Value::Int(n)) => LIMITS.set_entries.store(n, Ordering::Relaxed),
        ("zset-max-listpack-entries", Value::Int(n)) => {
            LIMITS.zset_entries.store(n, Ordering::Relaxed)
        }
        ("zset-max-listpack-value", Value::Int(n)) => LIMITS.zset_value.store(n, Ordering::Relaxed),
        ("hll-sparse-max-bytes", Value::Int(n)) => {
            LIMITS.hll_sparse_bytes.store(n, Ordering::Relaxed)
        }
        ("busy-reply-threshold", Value::Int(n)) => node.scripts.busy_ms.store(n, Ordering::Relaxed),
        ("slowlog-log-slower-than", Value::Signed(n)) => node.slowlog.set_threshold_us(n),
        ("slowlog-log-slower-than", Value::Int(n)) => node
            .slowlog
            .set_threshold_us(i64::try_from(n).unwrap_or(i64::MAX)),
        ("slowlog-max-len", Value::Int(n)) => node.slowlog.set_max_len(n),
        ("acllog-max-len", Value::Int(n)) => node.acl.set_log_max(n as usize),
        ("latency-monitor-threshold", Value::Int(n)) => node.latency.set_threshold_ms(n),
        ("tracking-table-max-keys", Value::Int(n)) => node
            .pubsub
            .tracking
            .max_keys
            .store(usize::try_from(n).unwrap_or(usize::MAX), Ordering::Relaxed),
        ("notify-keyspace-events", Value::Text(classes)) => {
            node.set_keyspace_events(classes.as_bytes())?;
        }
        ("loglevel", Value::Text(level)) => {
            crate::telemetry::set_level(&level)?;
            *st.loglevel.write() = level;
        }
        // `Param::parse` refuses immutable parameters before this; same answer here.
        _ => return Err("can't set immutable config".into()),
    }
    Ok(())
}

pub fn config_get(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    // (the name asked for, the parameter): an older name is answered by that name.
    let mut found: Vec<(&str, &Param)> = Vec::new();
    for pat in args.iter().skip(2) {
        for p in keys::params() {
            if glob_match(pat, p.name.as_bytes(), true) && !found.iter().any(|(n, _)| *n == p.name)
            {
                found.push((p.name, p));
            }
        }
        // Redis answers the older names too, under their own names (`*` lists both).
        for &(alias, real) in keys::ALIASES {
            if glob_match(pat, alias.as_bytes(), true)
                && let Some(p) = keys::param(real)
                && !found.iter().any(|(n, _)| *n == alias)
            {
                found.push((alias, p));
            }
        }
    }
    let values: Vec<(&str, String)> = found
        .iter()
        .map(|&(name, p)| {
            (
                name,
                live(cx.node, p.name)
                    .map(|v| v.render())
                    .unwrap_or_default(),
            )
        })
        .collect();
    cx.out.map(values.len());
    for (k, v) in values {
        cx.out.bulk(k.as_bytes());
        cx.out.bulk(v.as_bytes());
    }
    Ok(())
}

pub fn config_set(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if !args.len().is_multiple_of(2) {
        return Err(Error::Syntax);
    }
    let mut pairs: Vec<(&'static Param, &[u8])> = Vec::new();
    for i in (2..args.len()).step_by(2) {
        let name = String::from_utf8_lossy(&args[i]).to_lowercase();
        let Some(p) = keys::param(&name) else {
            return Err(Error::msg(format!(
                "Unknown option or number of arguments for CONFIG SET - '{}'",
                String::from_utf8_lossy(&args[i])
            )));
        };
        if pairs.iter().any(|(q, _)| q.name == p.name) {
            return Err(Error::msg(format!(
                "CONFIG SET failed (possibly related to argument '{}') - duplicate parameter",
                String::from_utf8_lossy(&args[i])
            )));
        }
        pairs.push((p, &args[i + 1]));
    }
    // A failing pair puts back the ones before it, so a failed CONFIG SET changes nothing.
    let old: Vec<Option<Value>> = pairs.iter().map(|(p, _)| live(cx.node, p.name)).collect();
    for (i, (p, v)) in pairs.iter().enumerate() {
        let current = old[i].clone().unwrap_or(Value::Int(0));
        if let Err(e) = p
            .parse(v, &current)
            .and_then(|value| apply(cx.node, p.name, value))
        {
            for (j, (q, _)) in pairs.iter().enumerate().take(i) {
                if let Some(value) = old[j].clone() {
                    let _ = apply(cx.node, q.name, value);
                }
            }
            return Err(Error::msg(format!(
                "CONFIG SET failed (possibly related to argument '{}') - {e}",
                p.name
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

/// The parameters CONFIG REWRITE writes into the file: CONFIG name, YAML key, the file's
/// (startup) value and the live one, both as YAML text. The password is never written: it
/// belongs in the file, its `_file` form or its variable, chosen by the operator.
fn rewritable(node: &Node) -> Vec<(&'static str, &'static str, String, Option<String>)> {
    let c = &node.config;
    let live_text = |name: &str| {
        live(node, name).map(|v| match v {
            Value::Policy(p) => p.name().to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Limits(l) => l.render(),
            other => other.render(),
        })
    };
    // `hz` is kept in the file as the active expiry cycle's interval.
    let interval = |hz: u64| format!("{}ms", 1000 / hz.clamp(1, 500));
    let hz_of = |c: &crate::config::Config| {
        let ms = c.cache.cleanup_interval.as_millis().max(1) as u64;
        (1000 / ms).clamp(1, 500)
    };
    let level = live_text("loglevel").map(|l| {
        l.parse::<crate::config::LogLevel>()
            .map_or(l, |v| v.name().to_string())
    });
    let row = |name: &'static str, key: &'static str, at_start: String| {
        (name, key, at_start, live_text(name))
    };
    let hz_now = live(node, "hz").and_then(|v| match v {
        Value::Int(n) => Some(interval(n)),
        _ => None,
    });
    let events = crate::pubsub::notify::parse(c.cache.notify_keyspace_events.as_bytes());
    #[rustfmt::skip]
    let rows = vec![
        row("maxclients", "cache.maxclients", c.cache.maxclients.to_string()),
        row("maxmemory", "cache.max_memory", c.cache.max_memory.to_string()),
        row("maxmemory-policy", "cache.eviction_policy", c.cache.eviction_policy.name().to_string()),
        row("maxmemory-samples", "cache.maxmemory_samples", c.cache.maxmemory_samples.to_string()),
        ("hz", "cache.cleanup_interval", interval(hz_of(c)), hz_now),
        row("timeout", "cache.timeout", c.cache.timeout.as_secs().to_string()),
        row("proto-max-bulk-len", "cache.proto_max_bulk_len", c.cache.proto_max_bulk_len.to_string()),
        row("client-query-buffer-limit", "cache.client_query_buffer_limit", c.cache.client_query_buffer_limit.to_string()),
        row("client-output-buffer-limit", "cache.client_output_buffer_limit", c.cache.client_output_buffer_limit.render()),
        row("notify-keyspace-events", "cache.notify_keyspace_events", crate::pubsub::notify::render(events.unwrap_or(0))),
        row("protected-mode", "security.protected_mode", c.security.protected_mode.to_string()),
        ("loglevel", "logging.level", c.logging.level.name().to_string(), level),
    ];
    rows
}

/// CONFIG REWRITE: the parameters changed at run time since the start go into the file the
/// node was started with, in place (comments and the other keys kept), written to a
/// temporary file and renamed over it.
pub fn config_rewrite(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let node = cx.node;
    let Some(path) = node.config.source.clone() else {
        return Err(Error::msg("The server is running without a config file"));
    };
    let fail = |why: String| {
        tracing::warn!(component = "config", action = "rewrite", file = %path.display(), error = %why, "CONFIG REWRITE failed");
        Error::msg(format!("Rewriting config file: {why}"))
    };
    let mut text = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
    let mut changed = Vec::new();
    for (name, key, at_start, now) in rewritable(node) {
        let Some(now) = now else { continue };
        if now == at_start {
            continue;
        }
        text =
            crate::config::rewrite::set_scalar(&text, key, &crate::config::rewrite::scalar(&now))
                .map_err(fail)?;
        changed.push(name);
    }
    // What is written must load.
    crate::config::Config::from_yaml_str(&text, &path.display().to_string())
        .map_err(|e| fail(format!("the result would not load: {e}")))?;
    let tmp = path.with_extension("rewrite.tmp");
    std::fs::write(&tmp, &text)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(e.to_string())
        })?;
    tracing::info!(component = "config", action = "rewrite", file = %path.display(), changed = %changed.join(","), "configuration file rewritten");
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
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::client::ClientState;
    use crate::config::{Config, PersistenceStrategy};
    use crate::resp::{Out, Protocol};

    use super::*;

    /// A memory-only node and one client of it, speaking RESP2.
    struct Client {
        node: Arc<Node>,
        state: ClientState,
    }

    impl Client {
        fn new() -> Client {
            let mut config = Config::default();
            config.persistence.enabled = false;
            config.persistence.strategy = PersistenceStrategy::Disabled;
            let node = Node::new(config, Vec::new());
            let addr = "127.0.0.1:1".parse().expect("address");
            let info = node.clients.register(addr, addr, -1);
            Client {
                state: ClientState::opened(info, &node.acl),
                node,
            }
        }

        fn run(&mut self, argv: &[&[u8]]) -> Vec<u8> {
            let mut out = Out::new(Protocol::Resp2);
            crate::command::run(&self.node, &mut self.state, &mut out, argv, 0);
            out.buf
        }

        /// CONFIG GET's name/value pairs.
        fn get(&mut self, pattern: &str) -> Vec<(String, String)> {
            self.get_all(&[pattern])
        }

        fn get_all(&mut self, patterns: &[&str]) -> Vec<(String, String)> {
            let mut argv: Vec<&[u8]> = vec![b"CONFIG", b"GET"];
            argv.extend(patterns.iter().map(|p| p.as_bytes()));
            let reply = self.run(&argv);
            let text = String::from_utf8_lossy(&reply).into_owned();
            // `*N`, then `$len` and the text of each bulk; no value here has a line break.
            let bulks: Vec<String> = text
                .split("\r\n")
                .skip(2)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            bulks
                .chunks_exact(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect()
        }

        fn value(&mut self, name: &str) -> String {
            let got = self.get(name);
            assert_eq!(got.len(), 1, "{name}: {got:?}");
            got[0].1.clone()
        }

        /// CONFIG SET's reply line, without its CRLF.
        fn set(&mut self, pairs: &[(&str, &str)]) -> String {
            let mut argv: Vec<&[u8]> = vec![b"CONFIG", b"SET"];
            for (name, value) in pairs {
                argv.push(name.as_bytes());
                argv.push(value.as_bytes());
            }
            let reply = self.run(&argv);
            String::from_utf8_lossy(&reply).trim_end().to_string()
        }
    }

    #[test]
    fn get_lists_every_parameter_in_the_same_order() {
        let mut c = Client::new();
        let names: Vec<String> = c.get("*").into_iter().map(|(n, _)| n).collect();
        // The order clients have always seen.
        let want = [
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
            // Redis 7's older names, listed as Redis lists them.
            "lua-time-limit",
            "list-max-ziplist-size",
            "hash-max-ziplist-entries",
            "hash-max-ziplist-value",
            "zset-max-ziplist-entries",
            "zset-max-ziplist-value",
        ];
        assert_eq!(names, want);
        let max: Vec<String> = c.get("max*").into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            max,
            [
                "maxclients",
                "maxmemory",
                "maxmemory-policy",
                "maxmemory-samples"
            ]
        );
        // Several patterns list a parameter once, in the first pattern's place.
        let names: Vec<String> = c
            .get_all(&["timeout", "hz", "t*"])
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            [
                "timeout",
                "hz",
                "tracking-table-max-keys",
                "tls-port",
                "tls-cluster"
            ]
        );
        let values: Vec<(String, String)> = c.get("*");
        for (name, value) in [
            ("bind", "127.0.0.1"),
            ("databases", "16"),
            ("maxmemory", "0"),
            ("maxmemory-policy", "allkeys-lru"),
            ("requirepass", ""),
            ("protected-mode", "yes"),
            ("enable-debug-command", "no"),
            (
                "client-output-buffer-limit",
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
            ),
            ("loglevel", "info"),
            ("save", ""),
            ("appendonly", "no"),
            ("appendfsync", "everysec"),
        ] {
            assert!(
                values.contains(&(name.to_string(), value.to_string())),
                "{name}: {values:?}"
            );
        }
    }

    #[test]
    fn every_parameter_round_trips_through_the_live_node() {
        let samples = [
            ("maxclients", "50", "50"),
            ("maxmemory", "1mb", "1048576"),
            ("maxmemory-policy", "LFU", "allkeys-lfu"),
            ("maxmemory-samples", "7", "7"),
            ("lfu-log-factor", "3", "3"),
            ("lfu-decay-time", "2", "2"),
            ("proto-max-bulk-len", "2mb", "2097152"),
            ("client-query-buffer-limit", "4mb", "4194304"),
            ("hz", "20", "20"),
            ("timeout", "30", "30"),
            ("requirepass", "pw", "pw"),
            ("protected-mode", "NO", "no"),
            (
                "client-output-buffer-limit",
                "normal 1mb 2mb 3",
                "normal 1048576 2097152 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
            ),
            ("loglevel", "DEBUG", "debug"),
            ("list-max-listpack-size", "-1", "-1"),
            ("list-compress-depth", "0", "0"),
            ("hash-max-listpack-entries", "64", "64"),
            ("hash-max-listpack-value", "32", "32"),
            ("set-max-intset-entries", "100", "100"),
            ("zset-max-listpack-entries", "64", "64"),
            ("zset-max-listpack-value", "32", "32"),
            ("hll-sparse-max-bytes", "1kb", "1024"),
            ("notify-keyspace-events", "KEA", "AKE"),
            ("tracking-table-max-keys", "10", "10"),
            ("busy-reply-threshold", "100", "100"),
            ("slowlog-log-slower-than", "-1", "-1"),
            ("slowlog-max-len", "5", "5"),
            ("acllog-max-len", "7", "7"),
            ("latency-monitor-threshold", "100", "100"),
        ];
        let mut c = Client::new();
        for p in keys::params() {
            assert!(live(&c.node, p.name).is_some(), "{}: no live value", p.name);
            let before = c.value(p.name);
            if !p.mutable() {
                assert_eq!(
                    c.set(&[(p.name, &before)]),
                    format!(
                        "-ERR CONFIG SET failed (possibly related to argument '{}') - can't set immutable config",
                        p.name
                    )
                );
                assert_eq!(c.value(p.name), before);
                continue;
            }
            // GET -> SET -> GET gives the value back.
            assert_eq!(c.set(&[(p.name, &before)]), "+OK", "{} {before}", p.name);
            assert_eq!(c.value(p.name), before, "{}", p.name);
            let Some((_, arg, shown)) = samples.iter().find(|(n, _, _)| *n == p.name) else {
                panic!("{}: add a sample value to this test", p.name);
            };
            assert_eq!(c.set(&[(p.name, arg)]), "+OK", "{} {arg}", p.name);
            assert_eq!(c.value(p.name), *shown, "{}", p.name);
            assert_eq!(c.set(&[(p.name, &before)]), "+OK", "{} {before}", p.name);
        }
    }

    #[test]
    fn set_errors_are_redis_texts_and_change_nothing() {
        let mut c = Client::new();
        assert_eq!(
            c.set(&[("nope", "1")]),
            "-ERR Unknown option or number of arguments for CONFIG SET - 'nope'"
        );
        assert_eq!(
            c.set(&[("HZ", "5"), ("hz", "6")]),
            "-ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter"
        );
        for (name, arg, why) in [
            ("hz", "0", "argument must be between 1 and 500 inclusive"),
            ("hz", "x", "argument couldn't be parsed into an integer"),
            ("maxmemory", "1x", "argument must be a memory value"),
            (
                "proto-max-bulk-len",
                "1000",
                "argument must be between 1048576 and 9223372036854775807 inclusive",
            ),
            ("protected-mode", "maybe", "argument must be 'yes' or 'no'"),
            (
                "maxmemory-policy",
                "fifo",
                "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
            ),
            (
                "client-output-buffer-limit",
                "normal 1",
                "Wrong number of arguments in buffer limit configuration.",
            ),
            ("loglevel", "loud", "unknown log level 'loud'"),
        ] {
            assert_eq!(
                c.set(&[(name, arg)]),
                format!("-ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
            );
        }
        // A bad pair puts back the ones before it.
        assert_eq!(
            c.set(&[("maxclients", "77"), ("timeout", "5"), ("hz", "0")]),
            "-ERR CONFIG SET failed (possibly related to argument 'hz') - argument must be between 1 and 500 inclusive"
        );
        assert_eq!(c.value("maxclients"), "10000");
        assert_eq!(c.value("timeout"), "0");
        assert_eq!(c.set(&[("maxclients", "77"), ("timeout", "5")]), "+OK");
        assert_eq!(
            (c.value("maxclients"), c.value("timeout")),
            ("77".into(), "5".into())
        );
    }
}
