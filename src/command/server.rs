//! Server commands: INFO COMMAND CONFIG TIME MEMORY LASTSAVE DEBUG SHUTDOWN.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::table::{self, Command};
use super::{Ctx, int_arg, is, reply_help};
use crate::config::EvictionPolicy;
use crate::connection::Action;
use crate::error::{Error, Result};
use crate::resp::{Args, Out};
use crate::store::{Access, memory};
use crate::util::glob::glob_match;

use super::connection::REDIS_VERSION;

// --- INFO ---

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "cluster",
    "keyspace",
];

pub fn info(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let mut wanted: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).to_lowercase())
        .collect();
    if wanted.is_empty() || wanted.iter().any(|s| s == "default") {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    if wanted.iter().any(|s| s == "all" || s == "everything") {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    let text = info_text(cx, &wanted);
    cx.out.verbatim(text.as_bytes());
    Ok(())
}

/// The INFO text for the given (lower-case) section names, in Redis's section order.
pub fn info_text(cx: &Ctx<'_>, wanted: &[String]) -> String {
    let want = |s: &str| wanted.iter().any(|w| w == s);
    let node = cx.node;
    let now = cx.now;
    let mut s = String::with_capacity(4096);
    let section = |s: &mut String, title: &str| {
        if !s.is_empty() {
            s.push_str("\r\n");
        }
        let _ = write!(s, "# {title}\r\n");
    };
    macro_rules! f {
        ($s:expr, $($arg:tt)*) => {{ let _ = write!($s, $($arg)*); $s.push_str("\r\n"); }};
    }
    let uptime = node.started.elapsed().as_secs();
    let port = node
        .resp_addr
        .lock()
        .map(|a| a.port())
        .unwrap_or(node.config.network.resp_port);
    if want("server") {
        section(&mut s, "Server");
        f!(s, "redis_version:{REDIS_VERSION}");
        f!(s, "redis_git_sha1:00000000");
        f!(s, "redis_git_dirty:0");
        f!(s, "redis_build_id:0");
        f!(s, "redis_mode:standalone");
        f!(s, "os:{} {}", std::env::consts::OS, std::env::consts::ARCH);
        f!(s, "arch_bits:64");
        f!(s, "monotonic_clock:POSIX clock_gettime");
        f!(s, "multiplexing_api:epoll");
        f!(s, "atomicvar_api:c11-builtin");
        f!(s, "process_id:{}", std::process::id());
        f!(s, "process_supervised:no");
        f!(s, "run_id:{}", node.run_id);
        f!(s, "tcp_port:{port}");
        f!(s, "server_time_usec:{}", now * 1000);
        f!(s, "uptime_in_seconds:{uptime}");
        f!(s, "uptime_in_days:{}", uptime / 86400);
        let hz = node.settings.hz.load(Ordering::Relaxed);
        f!(s, "hz:{hz}");
        f!(s, "configured_hz:{hz}");
        f!(s, "lru_clock:{}", crate::store::shard::lru_clock(now));
        f!(
            s,
            "executable:{}",
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        f!(s, "config_file:");
        f!(s, "io_threads_active:0");
        f!(s, "hypercache_version:{}", env!("CARGO_PKG_VERSION"));
        f!(s, "hypercache_node_id:{}", node.config.node.id);
    }
    if want("clients") {
        section(&mut s, "Clients");
        f!(s, "connected_clients:{}", node.clients.len());
        f!(s, "cluster_connections:0");
        f!(
            s,
            "maxclients:{}",
            node.settings.maxclients.load(Ordering::Relaxed)
        );
        f!(s, "client_recent_max_input_buffer:0");
        f!(s, "client_recent_max_output_buffer:0");
        f!(s, "blocked_clients:0");
        f!(s, "tracking_clients:0");
        f!(s, "clients_in_timeout_table:0");
    }
    let totals = node.store.totals(now);
    if want("memory") {
        let used = memory::allocated();
        let peak = node.stats.note_memory_peak(used);
        let rss = memory::rss();
        let maxmemory = node.store.node_limits.max();
        section(&mut s, "Memory");
        f!(s, "used_memory:{used}");
        f!(s, "used_memory_human:{}", memory::human(used));
        f!(s, "used_memory_rss:{rss}");
        f!(s, "used_memory_rss_human:{}", memory::human(rss));
        f!(s, "used_memory_peak:{peak}");
        f!(s, "used_memory_peak_human:{}", memory::human(peak));
        f!(
            s,
            "used_memory_peak_perc:{:.2}%",
            used as f64 * 100.0 / peak.max(1) as f64
        );
        let dataset = node.store.used();
        f!(s, "used_memory_overhead:{}", used.saturating_sub(dataset));
        f!(s, "used_memory_dataset:{dataset}");
        f!(
            s,
            "used_memory_dataset_perc:{:.2}%",
            dataset as f64 * 100.0 / used.max(1) as f64
        );
        f!(s, "allocator_allocated:{used}");
        f!(s, "allocator_active:{}", memory::allocator_active());
        f!(s, "allocator_resident:{}", memory::allocator_resident());
        let total = memory::total_system();
        f!(s, "total_system_memory:{total}");
        f!(s, "total_system_memory_human:{}", memory::human(total));
        f!(s, "maxmemory:{maxmemory}");
        f!(s, "maxmemory_human:{}", memory::human(maxmemory));
        f!(
            s,
            "maxmemory_policy:{}",
            node.store.default_store().limits.policy().redis_name()
        );
        f!(s, "maxmemory_samples:{}", node.store.node_limits.samples());
        f!(
            s,
            "mem_fragmentation_ratio:{:.2}",
            rss as f64 / used.max(1) as f64
        );
        f!(s, "mem_fragmentation_bytes:{}", rss as i64 - used as i64);
        f!(s, "mem_allocator:jemalloc");
        f!(s, "lazyfree_pending_objects:0");
        // HyperCache's own: what the limit bounds, and how close it is.
        f!(s, "used_memory_keyspace:{dataset}");
        f!(
            s,
            "memory_pressure:{}",
            node.store.node_limits.level().name()
        );
    }
    if want("persistence") {
        section(&mut s, "Persistence");
        super::persistence::info_section(node, now, &mut s);
    }
    if want("stats") {
        let st = &node.stats;
        let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        section(&mut s, "Stats");
        f!(
            s,
            "total_connections_received:{}",
            ld(&st.total_connections_received)
        );
        f!(
            s,
            "total_commands_processed:{}",
            ld(&st.total_commands_processed)
        );
        let (ops, kin, kout) = st.instantaneous();
        f!(s, "instantaneous_ops_per_sec:{ops}");
        f!(s, "total_net_input_bytes:{}", ld(&st.net_input_bytes));
        f!(s, "total_net_output_bytes:{}", ld(&st.net_output_bytes));
        f!(s, "instantaneous_input_kbps:{kin:.2}");
        f!(s, "instantaneous_output_kbps:{kout:.2}");
        f!(s, "rejected_connections:{}", ld(&st.rejected_connections));
        f!(s, "sync_full:0");
        f!(s, "sync_partial_ok:0");
        f!(s, "sync_partial_err:0");
        f!(s, "expired_keys:{}", totals.stats.expired);
        f!(s, "expired_stale_perc:0.00");
        f!(s, "expired_time_cap_reached_count:0");
        f!(s, "evicted_keys:{}", totals.stats.evicted);
        f!(s, "evicted_clients:0");
        f!(s, "keyspace_hits:{}", totals.stats.hits);
        f!(s, "keyspace_misses:{}", totals.stats.misses);
        f!(s, "pubsub_channels:0");
        f!(s, "pubsub_patterns:0");
        f!(s, "latest_fork_usec:0");
        f!(s, "total_forks:0");
        f!(s, "total_error_replies:{}", ld(&st.total_error_replies));
        f!(
            s,
            "acl_access_denied_auth:{}",
            ld(&st.auth_failures_resp) + ld(&st.auth_failures_http)
        );
        f!(
            s,
            "hypercache_auth_failures_resp:{}",
            ld(&st.auth_failures_resp)
        );
        f!(
            s,
            "hypercache_auth_failures_http:{}",
            ld(&st.auth_failures_http)
        );
        f!(
            s,
            "hypercache_auth_failures_peer:{}",
            ld(&st.auth_failures_peer)
        );
    }
    if want("replication") {
        section(&mut s, "Replication");
        f!(s, "role:master");
        f!(s, "connected_slaves:0");
        f!(s, "master_failover_state:no-failover");
        f!(s, "master_replid:{}", node.run_id);
        f!(s, "master_replid2:0000000000000000000000000000000000000000");
        f!(s, "master_repl_offset:0");
        f!(s, "second_repl_offset:-1");
        f!(s, "repl_backlog_active:0");
        f!(s, "repl_backlog_size:1048576");
        f!(s, "repl_backlog_first_byte_offset:0");
        f!(s, "repl_backlog_histlen:0");
    }
    if want("cluster") {
        section(&mut s, "Cluster");
        cluster_info(node, &mut s);
    }
    if want("cpu") {
        let (sys, user) = cpu_times();
        section(&mut s, "CPU");
        f!(s, "used_cpu_sys:{sys:.6}");
        f!(s, "used_cpu_user:{user:.6}");
        f!(s, "used_cpu_sys_children:0.000000");
        f!(s, "used_cpu_user_children:0.000000");
    }
    if want("keyspace") {
        section(&mut s, "Keyspace");
        for db in 0..node.store.databases() as u32 {
            let fig = node.store.figures(db, now);
            if fig.keys > 0 {
                f!(
                    s,
                    "db{db}:keys={},expires={},avg_ttl={}",
                    fig.keys,
                    fig.volatile,
                    fig.avg_ttl_ms
                );
            }
        }
        // Named stores, one line each (HyperCache's own).
        for ks in node.store.stores().into_iter().skip(1) {
            let db = ks.dbs()[0].index;
            let fig = node.store.figures(db, now);
            f!(
                s,
                "store_{}:keys={},expires={},avg_ttl={}",
                ks.name,
                fig.keys,
                fig.volatile,
                fig.avg_ttl_ms
            );
        }
    }
    if want("stores") || want("all") || want("everything") {
        section(&mut s, "Stores");
        for ks in node.store.stores() {
            f!(
                s,
                "store_{}:keys={},bytes={},max_memory={},policy={},pressure={},filter={},persistence={}",
                ks.name,
                ks.keys(),
                ks.used(),
                ks.limits.max(),
                ks.limits.policy().name(),
                ks.limits.level().name(),
                if ks.filter_fpp().is_some() {
                    "on"
                } else {
                    "off"
                },
                ks.spec
                    .read()
                    .as_ref()
                    .and_then(|s| s.persistence)
                    .unwrap_or_default()
                    .name()
            );
        }
    }
    s
}

/// The `# Cluster` section: membership, the ring, replication and anti-entropy figures.
fn cluster_info(node: &crate::node::Node, s: &mut String) {
    use std::sync::atomic::Ordering::Relaxed;
    let c = &node.cluster;
    let st = &c.stats;
    let members = c.members();
    macro_rules! f {
        ($($arg:tt)*) => {{ let _ = write!(s, $($arg)*); s.push_str("\r\n"); }};
    }
    // Redis's own field: we are not Redis Cluster (no slots, no MOVED).
    f!("cluster_enabled:0");
    f!("hypercache_node_id:{}", c.node_id);
    f!("hypercache_cluster_size:{}", c.live_size());
    f!("hypercache_cluster_known_members:{}", members.len().max(1));
    f!("hypercache_cluster_members:{}", c.ring().nodes().join(","));
    f!("hypercache_replication_factor:{}", c.replicator.rf());
    f!("hypercache_consistency_level:{}", c.consistency.name());
    f!("hypercache_ring_changes:{}", st.ring_changes.load(Relaxed));
    f!("hypercache_converged:{}", c.converged() as u8);
    let (p50, p99) = st.lag_percentiles();
    f!("hypercache_replication_lag_p50_ms:{p50}");
    f!("hypercache_replication_lag_p99_ms:{p99}");
    f!(
        "hypercache_replication_applied:{}",
        st.applied_remote.load(Relaxed)
    );
    f!(
        "hypercache_replication_stale_rejected:{}",
        st.stale_rejected.load(Relaxed)
    );
    f!(
        "hypercache_replication_refused:{}",
        st.records_refused.load(Relaxed)
    );
    f!(
        "hypercache_replication_deltas_behind:{}",
        st.deltas_behind.load(Relaxed)
    );
    f!(
        "hypercache_gossip_rejected:{}",
        node.cluster.gossip_rejected()
    );
    f!(
        "hypercache_read_repair_queries:{}",
        st.read_repair_queries.load(Relaxed)
    );
    f!("hypercache_read_repairs:{}", st.read_repairs.load(Relaxed));
    f!(
        "hypercache_anti_entropy_rounds:{}",
        st.sync_rounds.load(Relaxed)
    );
    f!(
        "hypercache_anti_entropy_keys_pulled:{}",
        st.sync_keys_pulled.load(Relaxed)
    );
    f!(
        "hypercache_anti_entropy_keys_pushed:{}",
        st.sync_keys_pushed.load(Relaxed)
    );
    for (i, p) in c.replicator.peers().iter().enumerate() {
        f!(
            "peer{i}:id={},addr={},connected={},backlog_bytes={},sent_records={},sent_bytes={},acked={}",
            p.node_id,
            p.addr().map(|a| a.to_string()).unwrap_or_default(),
            p.connected.load(Relaxed) as u8,
            p.backlog(),
            p.sent_records.load(Relaxed),
            p.sent_bytes.load(Relaxed),
            p.acked.load(Relaxed)
        );
    }
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

// --- COMMAND ---

fn acl_categories(c: &Command) -> Vec<String> {
    let mut v = Vec::new();
    if c.has(table::WRITE) {
        v.push("@write".to_string());
    }
    if c.has(table::READONLY) {
        v.push("@read".to_string());
    }
    if c.has(table::ADMIN) {
        v.push("@admin".to_string());
    }
    for a in c.acl {
        let cat = format!("@{a}");
        if !v.contains(&cat) {
            v.push(cat);
        }
    }
    if c.has(table::ADMIN) && !v.iter().any(|x| x == "@dangerous") {
        v.push("@dangerous".to_string());
    }
    v.push(if c.has(table::FAST) { "@fast" } else { "@slow" }.to_string());
    v
}

fn reply_command_info(out: &mut Out, c: &'static Command) {
    out.array(10);
    out.bulk(table::full_name(c).as_bytes());
    out.int(c.arity as i64);
    let flags: Vec<&str> = table::FLAG_NAMES
        .iter()
        .filter(|(f, _)| c.has(*f))
        .map(|(_, n)| *n)
        .collect();
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
    let (first, last, step) = c.keys;
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    let cats = acl_categories(c);
    out.set(cats.len());
    for cat in &cats {
        out.simple(cat);
    }
    out.set(0); // tips
    if first > 0 {
        out.array(1);
        out.map(3);
        out.bulk(b"flags");
        out.set(1);
        out.simple(if c.has(table::WRITE) { "RW" } else { "RO" });
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"index");
        out.bulk(b"spec");
        out.map(1);
        out.bulk(b"index");
        out.int(first as i64);
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"range");
        out.bulk(b"spec");
        out.map(3);
        out.bulk(b"lastkey");
        out.int(if last < 0 {
            last as i64
        } else {
            (last - first) as i64
        });
        out.bulk(b"keystep");
        out.int(step as i64);
        out.bulk(b"limit");
        out.int(0);
    } else {
        out.array(0);
    }
    out.array(c.subcommands.len());
    for sub in c.subcommands {
        reply_command_info(out, sub);
    }
}

/// COMMAND with no subcommand: every command's info.
pub fn command(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    command_all(cx);
    Ok(())
}

fn command_all(cx: &mut Ctx<'_>) {
    let all = table::all();
    cx.out.array(all.len());
    for c in all {
        reply_command_info(cx.out, c);
    }
}

pub fn command_count(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.out.int(table::all().len() as i64);
    Ok(())
}

pub fn command_list(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let mut pattern: Option<Vec<u8>> = None;
    match args.len() {
        2 => {}
        5 if is(&args[2], "filterby") && is(&args[3], "pattern") => {
            pattern = Some(args[4].to_vec())
        }
        5 if is(&args[2], "filterby") && (is(&args[3], "aclcat") || is(&args[3], "module")) => {
            let want = String::from_utf8_lossy(&args[4]).to_lowercase();
            if is(&args[3], "module") {
                cx.out.array(0);
                return Ok(());
            }
            let names: Vec<String> = table::all()
                .iter()
                .filter(|c| acl_categories(c).iter().any(|x| x[1..] == want))
                .map(|c| c.name.to_string())
                .collect();
            cx.out.array(names.len());
            for n in names {
                cx.out.bulk(n.as_bytes());
            }
            return Ok(());
        }
        _ => return Err(Error::Syntax),
    }
    let mut names: Vec<String> = Vec::new();
    for c in table::all() {
        names.push(c.name.to_string());
        for s in c.subcommands {
            names.push(table::full_name(s));
        }
    }
    if let Some(p) = pattern {
        names.retain(|n| glob_match(&p, n.as_bytes(), true));
    }
    cx.out.array(names.len());
    for n in names {
        cx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// Resolves "name" or "container|sub" for COMMAND INFO/DOCS.
fn find_by_full_name(name: &[u8]) -> Option<&'static Command> {
    let s = String::from_utf8_lossy(name).to_lowercase();
    match s.split_once('|') {
        Some((parent, sub)) => {
            table::lookup(parent.as_bytes()).and_then(|p| table::lookup_sub(p, sub.as_bytes()))
        }
        None => table::lookup(s.as_bytes()),
    }
}

pub fn command_info(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if args.len() == 2 {
        command_all(cx);
        return Ok(());
    }
    cx.out.array(args.len() - 2);
    for name in args.iter().skip(2) {
        match find_by_full_name(name) {
            Some(c) => reply_command_info(cx.out, c),
            None => cx.out.null_array(),
        }
    }
    Ok(())
}

fn reply_docs(out: &mut Out, c: &'static Command) {
    let subs = !c.subcommands.is_empty();
    out.map(4 + subs as usize);
    out.bulk(b"summary");
    out.bulk(c.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(c.since.as_bytes());
    out.bulk(b"group");
    out.bulk(c.group.as_bytes());
    out.bulk(b"complexity");
    out.bulk(c.complexity.as_bytes());
    if subs {
        out.bulk(b"subcommands");
        out.map(c.subcommands.len());
        for s in c.subcommands {
            out.bulk(table::full_name(s).as_bytes());
            reply_docs(out, s);
        }
    }
}

pub fn command_docs(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let cmds: Vec<&'static Command> = if args.len() == 2 {
        table::all().iter().collect()
    } else {
        args.iter().skip(2).filter_map(find_by_full_name).collect()
    };
    cx.out.map(cmds.len());
    for c in cmds {
        cx.out.bulk(table::full_name(c).as_bytes());
        reply_docs(cx.out, c);
    }
    Ok(())
}

pub fn command_getkeys(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let inner = args.slice_from(2);
    let Some(mut c) = table::lookup(&inner[0]) else {
        return Err(Error::msg("Invalid command specified"));
    };
    let argc = inner.len();
    // Subcommand arity and key positions count the container's name too.
    if c.is_container()
        && inner.len() >= 2
        && let Some(sub) = table::lookup_sub(c, &inner[1])
    {
        c = sub;
    }
    if c.keys.0 <= 0 {
        return Err(Error::msg("The command has no key arguments"));
    }
    if !c.arity_ok(argc) {
        return Err(Error::msg(
            "Invalid number of arguments specified for command",
        ));
    }
    let idx = c.key_indexes(argc);
    cx.out.array(idx.len());
    for i in idx {
        cx.out.bulk(&inner[i]);
    }
    Ok(())
}

pub fn command_help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    reply_help(
        cx.out,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ],
    );
    Ok(())
}

// --- CONFIG ---

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

pub fn time(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let now = crate::util::time::since_epoch();
    cx.out.array(2);
    cx.out.bulk_int(now.as_secs() as i64);
    cx.out.bulk_int(now.subsec_micros() as i64);
    Ok(())
}

pub fn memory_usage(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let mut j = 3;
    while j < args.len() {
        if is(&args[j], "samples") && j + 1 < args.len() {
            let n = int_arg(&args[j + 1])?;
            if n < 0 {
                return Err(Error::Syntax);
            }
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let size = cx
        .node
        .store
        .with_key(cx.client.db, &args[2], cx.now, Access::Peek, |k| {
            k.entry().map(|e| e.mem_size())
        });
    match size {
        Some(n) => cx.out.int(n as i64),
        None => cx.out.null(),
    }
    Ok(())
}

/// MEMORY STATS: Redis's fields (those HyperCache has a figure for), then its own.
pub fn memory_stats(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let node = cx.node;
    let allocated = memory::allocated();
    let peak = node.stats.note_memory_peak(allocated);
    let dataset = node.store.used();
    let totals = node.store.totals(cx.now);
    let overhead = allocated.saturating_sub(dataset);
    let rss = memory::rss();
    let active = memory::allocator_active();
    let resident = memory::allocator_resident();
    let keys = totals.keys as u64;
    let ints: [(&str, u64); 9] = [
        ("peak.allocated", peak),
        ("total.allocated", allocated),
        ("overhead.total", overhead),
        ("keys.count", keys),
        ("keys.bytes-per-key", dataset.checked_div(keys).unwrap_or(0)),
        ("dataset.bytes", dataset),
        ("allocator.allocated", allocated),
        ("allocator.active", active),
        ("allocator.resident", resident),
    ];
    let pct = |a: u64, b: u64| a as f64 * 100.0 / b.max(1) as f64;
    let floats: [(&str, f64); 4] = [
        ("dataset.percentage", pct(dataset, allocated)),
        ("peak.percentage", pct(allocated, peak)),
        (
            "allocator.fragmentation.ratio",
            active as f64 / allocated.max(1) as f64,
        ),
        ("fragmentation", rss as f64 / allocated.max(1) as f64),
    ];
    let limits = &node.store.node_limits;
    let policy = node.store.keyspace(cx.client.db).limits.policy();
    cx.out.map(ints.len() + floats.len() + 4);
    for (k, v) in ints {
        cx.out.bulk(k.as_bytes());
        cx.out.int(v as i64);
    }
    for (k, v) in floats {
        cx.out.bulk(k.as_bytes());
        cx.out.double(v);
    }
    cx.out.bulk(b"fragmentation.bytes");
    cx.out.int(rss as i64 - allocated as i64);
    cx.out.bulk(b"maxmemory");
    cx.out.int(limits.max() as i64);
    cx.out.bulk(b"maxmemory.policy");
    cx.out.bulk(policy.name().as_bytes());
    cx.out.bulk(b"memory.pressure");
    cx.out.bulk(limits.level().name().as_bytes());
    Ok(())
}

pub fn memory_help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    reply_help(
        cx.out,
        "MEMORY",
        &[
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

pub fn debug(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let sub = &args[1];
    if is(sub, "sleep") && args.len() == 3 {
        let secs: f64 = std::str::from_utf8(&args[2])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .unwrap_or(0.0);
        // As Redis, the reply leaves after the sleep (the connection loop writes it).
        cx.client.action = Some(Action::Sleep(Duration::from_secs_f64(secs.min(1e6))));
        Ok(())
    } else if is(sub, "partition") && args.len() >= 3 {
        // Fault injection: drop gossip and replication with these nodes until DEBUG HEAL.
        let ids: Vec<String> = args
            .iter()
            .skip(2)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        cx.node.cluster.partition_now(&ids);
        cx.out.ok();
        Ok(())
    } else if is(sub, "heal") && args.len() == 2 {
        cx.node.cluster.partition_now(&[]);
        cx.out.ok();
        Ok(())
    } else if is(sub, "help") {
        reply_help(
            cx.out,
            "DEBUG",
            &[
                "SLEEP <seconds>",
                "    Stop the connection for <seconds>. Decimals are allowed.",
                "PARTITION <node-id> [<node-id> ...]",
                "    Fault injection: drop gossip and replication with these nodes.",
                "HEAL",
                "    End DEBUG PARTITION.",
            ],
        );
        Ok(())
    } else {
        Err(Error::msg(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(sub)
        )))
    }
}

pub fn shutdown(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (mut save, mut nosave, mut abort) = (false, false, false);
    for a in args.iter().skip(1) {
        if is(a, "nosave") {
            nosave = true;
        } else if is(a, "save") {
            save = true;
        } else if is(a, "now") || is(a, "force") {
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Err(Error::Syntax);
        }
    }
    if (save && nosave) || (abort && args.len() != 2) {
        return Err(Error::Syntax);
    }
    if abort {
        return Err(Error::msg("No shutdown in progress."));
    }
    tracing::info!(
        component = "node",
        action = "shutdown",
        client = cx.client.id,
        "SHUTDOWN requested by a client"
    );
    cx.node.shutdown_save.store(
        if save {
            1
        } else if nosave {
            2
        } else {
            0
        },
        Ordering::Relaxed,
    );
    cx.client.action = Some(Action::Shutdown);
    Ok(())
}

/// STORES: the stores of this node, `default` first (HyperCache's own command; `INFO stores`
/// has their figures).
pub fn stores(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let names: Vec<String> = cx
        .node
        .store
        .stores()
        .iter()
        .map(|k| k.name.to_string())
        .collect();
    cx.out.array(names.len());
    for n in names {
        cx.out.bulk(n.as_bytes());
    }
    Ok(())
}

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
