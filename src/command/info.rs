//! INFO: the sections Redis reports, and the HyperCache ones (stores, cluster, persistence).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::Ctx;
use crate::error::Result;
use crate::resp::Args;
use crate::store::memory;

use super::connection::REDIS_VERSION;

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
        f!(s, "blocked_clients:{}", node.store.waiters.blocked());
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
        let (pending, freed) = crate::collections::lazyfree::figures();
        f!(s, "lazyfree_pending_objects:{pending}");
        f!(s, "lazyfreed_objects:{freed}");
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
        f!(
            s,
            "hypercache_script_clients_moved:{}",
            node.scripts.moved.load(Ordering::Relaxed)
        );
        f!(
            s,
            "hypercache_script_clients_returned:{}",
            node.scripts.returned.load(Ordering::Relaxed)
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
    let all = want("all") || want("everything");
    if want("commandstats") || all {
        section(&mut s, "Commandstats");
        command_stats(node, &mut s);
    }
    if want("errorstats") || all {
        section(&mut s, "Errorstats");
        for (code, count) in node.stats.error_codes() {
            f!(s, "errorstat_{code}:count={count}");
        }
    }
    if want("latencystats") || all {
        section(&mut s, "Latencystats");
        latency_stats(node, &mut s);
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

/// `cmdstat_<name>:calls=..,usec=..,usec_per_call=..,rejected_calls=0,failed_calls=..`, as
/// Redis. One command in sixteen is timed (`metrics`): `usec` is the sampled mean times the
/// calls. A refused command (wrong arity, ...) counts as failed: they are not told apart.
fn command_stats(node: &crate::node::Node, s: &mut String) {
    let m = &node.metrics;
    for (slot, calls, errors) in m.calls() {
        let Some(cmd) = super::table::by_slot(slot) else {
            continue;
        };
        let per_call = m
            .latency(slot)
            .map_or(0.0, |(_, sum, n)| sum as f64 / n as f64);
        let _ = write!(
            s,
            "cmdstat_{}:calls={calls},usec={},usec_per_call={per_call:.2},rejected_calls=0,failed_calls={errors}\r\n",
            super::table::full_name(cmd),
            (per_call * calls as f64) as u64,
        );
    }
}

/// `latency_percentiles_usec_<name>:p50=..,p99=..,p99.9=..`, as Redis, from the sampled
/// histogram: each percentile is the upper bound of the bucket it falls in (past the last
/// bound, the last bound).
fn latency_stats(node: &crate::node::Node, s: &mut String) {
    let m = &node.metrics;
    for (slot, _, _) in m.calls() {
        let (Some(cmd), Some((cum, _, n))) = (super::table::by_slot(slot), m.latency(slot)) else {
            continue;
        };
        let at = |q| crate::metrics::CommandMetrics::quantile_us(&cum, n, q) as f64;
        let _ = write!(
            s,
            "latency_percentiles_usec_{}:p50={:.3},p99={:.3},p99.9={:.3}\r\n",
            super::table::full_name(cmd),
            at(0.5),
            at(0.99),
            at(0.999),
        );
    }
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
    // Not Redis Cluster (no slots, MOVED or CLUSTER): a cluster-mode client must not take
    // it for one. The hypercache_cluster_* fields describe ours (README, Cluster).
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
        "hypercache_forwarded_commands:{}",
        st.forwarded.load(Relaxed)
    );
    let ix = &node.cluster.index.stats;
    f!(
        "hypercache_read_index_questions:{}",
        ix.questions.load(Relaxed)
    );
    f!("hypercache_read_index_reads:{}", ix.reads.load(Relaxed));
    f!("hypercache_read_index_local:{}", ix.local.load(Relaxed));
    f!(
        "hypercache_read_index_fallbacks:{}",
        ix.fallbacks.load(Relaxed)
    );
    let (p50, p99) = ix.rtt_percentiles();
    f!("hypercache_read_index_rtt_p50_us:{p50}");
    f!("hypercache_read_index_rtt_p99_us:{p99}");
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
    // SAFETY: rusage is plain integers, for which all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct we pass, which lives for the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}
