//! `GET /metrics`: the Prometheus text exposition of every figure the node keeps (the same
//! counters INFO and `/stats` read — one source of truth), read when scraped.

use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::AppState;
use crate::command::table;
use crate::metrics::BOUNDS_US;
use crate::node::Node;

/// Prometheus metrics of this node.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&st.registry),
    )
        .into_response()
}

pub fn registry(node: Weak<Node>, node_id: &str) -> Registry {
    let mut r = Registry::with_labels(
        [(
            std::borrow::Cow::Borrowed("node"),
            std::borrow::Cow::Owned(node_id.to_string()),
        )]
        .into_iter(),
    );
    r.register_collector(Box::new(NodeCollector(node)));
    r
}

/// Renders the registry in the Prometheus text format.
pub fn render(r: &Registry) -> String {
    let mut s = String::new();
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut s, r);
    s
}

#[derive(Debug)]
struct NodeCollector(Weak<Node>);

/// A metric family read from each of a set of things: name, help, reader.
type Family<T, V> = (&'static str, &'static str, fn(&T) -> V);

fn gauge(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    v: f64,
) -> Result<(), std::fmt::Error> {
    ConstGauge::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn counter(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    v: u64,
) -> Result<(), std::fmt::Error> {
    ConstCounter::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

impl prometheus_client::collector::Collector for NodeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(node) = self.0.upgrade() else {
            return Ok(());
        };
        let now = crate::util::time::now_ms();
        let t = node.store.totals(now);
        let st = &node.stats;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let lookups = t.stats.hits + t.stats.misses;
        gauge(
            &mut e,
            "hypercache_up",
            "1 while the node serves.",
            if node.is_loading() { 0.0 } else { 1.0 },
        )?;
        gauge(
            &mut e,
            // Not `hypercache_items_total`: Prometheus reserves `_total` for counters (promtool
            // rejects it on a gauge), and this goes down as keys expire.
            "hypercache_items",
            "Keys held, all databases.",
            t.keys as f64,
        )?;
        gauge(
            &mut e,
            "hypercache_memory_bytes",
            "Bytes allocated by the process (jemalloc).",
            crate::store::memory::allocated() as f64,
        )?;
        gauge(
            &mut e,
            "hypercache_memory_rss_bytes",
            "Resident set size of the process.",
            crate::store::memory::rss() as f64,
        )?;
        gauge(
            &mut e,
            "hypercache_dataset_bytes",
            "Bytes charged to keys, values and their tables (what the memory limit bounds).",
            node.store.used() as f64,
        )?;
        gauge(
            &mut e,
            "hypercache_memory_limit_bytes",
            "The node-wide memory limit (cache.max_memory, maxmemory); 0 = none.",
            node.store.node_limits.max() as f64,
        )?;
        let stores = node.store.stores();
        let label = |k: &crate::store::Store| vec![("store".to_string(), k.name.to_string())];
        let node_level = node.store.node_limits.level();
        let per_store: [Family<crate::store::Store, f64>; 3] = [
            (
                "hypercache_store_bytes",
                "Bytes charged to the store's keys, values, tables and filter.",
                |k| k.used() as f64,
            ),
            ("hypercache_store_items", "Keys held by the store.", |k| {
                k.keys() as f64
            }),
            (
                "hypercache_store_memory_limit_bytes",
                "The store's own memory limit; 0 = only the node's.",
                |k| k.limits.max() as f64,
            ),
        ];
        for (name, help, f) in per_store {
            let mut fam = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for k in &stores {
                ConstGauge::new(f(k)).encode(fam.encode_family(&label(k))?)?;
            }
        }
        let mut fam = e.encode_descriptor(
            "hypercache_memory_pressure",
            "Memory pressure a store's writes meet (its own or the node's, the higher): 0 normal, 1 warning, 2 critical, 3 panic.",
            None,
            MetricType::Gauge,
        )?;
        for k in &stores {
            let level = k.limits.level().max(node_level);
            ConstGauge::new(level as u8 as f64).encode(fam.encode_family(&label(k))?)?;
        }
        let filters: Vec<_> = stores
            .iter()
            .filter_map(|k| k.filter_figures().map(|f| (label(k), f)))
            .collect();
        if !filters.is_empty() {
            let gauges: [Family<crate::store::FilterFigures, f64>; 4] = [
                (
                    "hypercache_filter_items",
                    "Fingerprints in the store's cuckoo filter.",
                    |f| f.size as f64,
                ),
                (
                    "hypercache_filter_capacity",
                    "Fingerprint slots of the store's cuckoo filter.",
                    |f| f.capacity as f64,
                ),
                (
                    "hypercache_filter_memory_bytes",
                    "Bytes of the store's cuckoo filter.",
                    |f| f.memory as f64,
                ),
                (
                    "hypercache_filter_observed_fpp",
                    "False positives among lookups of absent keys.",
                    |f| f.observed_fpp(),
                ),
            ];
            for (name, help, g) in gauges {
                let mut fam = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
                for (l, f) in &filters {
                    ConstGauge::new(g(f)).encode(fam.encode_family(l)?)?;
                }
            }
            let counters: [Family<crate::store::FilterFigures, u64>; 3] = [
                (
                    "hypercache_filter_lookups",
                    "Lookups that asked the store's cuckoo filter.",
                    |f| f.ops.lookups,
                ),
                (
                    "hypercache_filter_negatives",
                    "Lookups the filter answered \"definitely absent\".",
                    |f| f.negatives,
                ),
                (
                    "hypercache_filter_false_positives",
                    "Lookups the filter answered \"maybe\" for absent keys.",
                    |f| f.false_positives,
                ),
            ];
            for (name, help, g) in counters {
                let mut fam = e.encode_descriptor(name, help, None, MetricType::Counter)?;
                for (l, f) in &filters {
                    ConstCounter::new(g(f)).encode(fam.encode_family(l)?)?;
                }
            }
        }
        counter(
            &mut e,
            "hypercache_hits",
            "Keyspace lookups that found the key.",
            t.stats.hits,
        )?;
        counter(
            &mut e,
            "hypercache_misses",
            "Keyspace lookups that did not.",
            t.stats.misses,
        )?;
        gauge(
            &mut e,
            "hypercache_hit_rate",
            "hits / (hits + misses) since start or CONFIG RESETSTAT.",
            if lookups == 0 {
                0.0
            } else {
                t.stats.hits as f64 / lookups as f64
            },
        )?;
        counter(
            &mut e,
            "hypercache_evictions",
            "Keys evicted to stay within the memory limit.",
            t.stats.evicted,
        )?;
        counter(
            &mut e,
            "hypercache_expired",
            "Keys removed at their deadline.",
            t.stats.expired,
        )?;
        counter(
            &mut e,
            "hypercache_errors",
            "Error replies sent.",
            ld(&st.total_error_replies),
        )?;
        let mut fam = e.encode_descriptor(
            "hypercache_auth_failures",
            "Failed authentications: resp (AUTH), http (bearer token), peer (cluster secret).",
            None,
            MetricType::Counter,
        )?;
        for (kind, v) in [
            ("resp", ld(&st.auth_failures_resp)),
            ("http", ld(&st.auth_failures_http)),
            ("peer", ld(&st.auth_failures_peer)),
        ] {
            ConstCounter::new(v)
                .encode(fam.encode_family(&vec![("interface".to_string(), kind.to_string())])?)?;
        }
        gauge(
            &mut e,
            "hypercache_connected_clients",
            "Client connections open.",
            node.clients.len() as f64,
        )?;
        counter(
            &mut e,
            "hypercache_connections_received",
            "Client connections accepted.",
            ld(&st.total_connections_received),
        )?;
        counter(
            &mut e,
            "hypercache_net_input_bytes",
            "Bytes read from clients.",
            ld(&st.net_input_bytes),
        )?;
        counter(
            &mut e,
            "hypercache_net_output_bytes",
            "Bytes written to clients.",
            ld(&st.net_output_bytes),
        )?;
        counter(
            &mut e,
            "hypercache_commands_processed",
            "Commands run (all).",
            ld(&st.total_commands_processed),
        )?;
        gauge(
            &mut e,
            "hypercache_uptime_seconds",
            "Seconds since the node started.",
            node.started.elapsed().as_secs() as f64,
        )?;

        // Per command.
        let calls = table::named_calls(&node.metrics);
        let mut fam = e.encode_descriptor(
            "hypercache_commands",
            "Calls by command.",
            None,
            MetricType::Counter,
        )?;
        for (name, n, _) in &calls {
            ConstCounter::new(*n)
                .encode(fam.encode_family(&vec![("command".to_string(), name.clone())])?)?;
        }
        let mut fam = e.encode_descriptor(
            "hypercache_command_errors",
            "Error replies by command.",
            None,
            MetricType::Counter,
        )?;
        for (name, _, errs) in &calls {
            ConstCounter::new(*errs)
                .encode(fam.encode_family(&vec![("command".to_string(), name.clone())])?)?;
        }
        let mut fam = e.encode_descriptor(
            "hypercache_command_duration_seconds",
            "Command latency, sampled one in sixteen.",
            None,
            MetricType::Histogram,
        )?;
        for (slot, c) in table::slots() {
            let Some((cum, sum_us, count)) = node.metrics.latency(slot) else {
                continue;
            };
            // The encoder sums the buckets itself: each is given its own count.
            let mut below = 0;
            let mut buckets: Vec<(f64, u64)> = BOUNDS_US
                .iter()
                .zip(cum)
                .map(|(bound, n)| {
                    let own = n - below;
                    below = n;
                    (*bound as f64 / 1e6, own)
                })
                .collect();
            buckets.push((f64::INFINITY, count.saturating_sub(below)));
            let labels = vec![("command".to_string(), table::full_name(c))];
            fam.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                sum_us as f64 / 1e6,
                count,
                &buckets,
                None,
            )?;
        }

        // Cluster.
        let c = &node.cluster;
        let cs = &c.stats;
        gauge(
            &mut e,
            "hypercache_cluster_size",
            "Live members, this node included.",
            c.live_size() as f64,
        )?;
        let known = c.members().len().max(1);
        gauge(
            &mut e,
            "hypercache_cluster_healthy",
            "1 when every known member is alive.",
            if c.live_size() >= known { 1.0 } else { 0.0 },
        )?;
        gauge(
            &mut e,
            "hypercache_cluster_converged",
            "1 when no anti-entropy with a joining peer is running.",
            if c.converged() { 1.0 } else { 0.0 },
        )?;
        counter(
            &mut e,
            "hypercache_ring_changes",
            "Changes of the ring's membership.",
            ld(&cs.ring_changes),
        )?;
        counter(
            &mut e,
            "hypercache_replication_applied",
            "Peer mutations applied.",
            ld(&cs.applied_remote),
        )?;
        counter(
            &mut e,
            "hypercache_replication_stale_rejected",
            "Peer mutations older than the key's version.",
            ld(&cs.stale_rejected),
        )?;
        counter(
            &mut e,
            "hypercache_replication_refused",
            "Peer mutations refused by validation (unknown databases, stamps from the future, ...).",
            ld(&cs.records_refused),
        )?;
        counter(
            &mut e,
            "hypercache_gossip_rejected",
            "Gossip datagrams dropped for a missing or wrong MAC.",
            c.gossip_rejected(),
        )?;
        counter(
            &mut e,
            "hypercache_read_repairs",
            "Keys installed by read-repair.",
            ld(&cs.read_repairs),
        )?;
        counter(
            &mut e,
            "hypercache_forwarded_commands",
            "Commands sent to another node to run: to the keys' owner, or to a replica.",
            ld(&cs.forwarded),
        )?;
        let ix = &c.index.stats;
        counter(
            &mut e,
            "hypercache_read_repair_queries",
            "Keys asked of peers (HCGET) for reads missing here.",
            ld(&cs.read_repair_queries),
        )?;
        counter(
            &mut e,
            "hypercache_read_index_questions",
            "Read-index questions sent to peers (one covers every miss that arrived before it).",
            ld(&ix.questions),
        )?;
        counter(
            &mut e,
            "hypercache_read_index_reads",
            "Per-peer checks of misses against the read index (over questions: misses per question).",
            ld(&ix.reads),
        )?;
        counter(
            &mut e,
            "hypercache_read_index_local",
            "Misses answered from local data on every peer's word.",
            ld(&ix.local),
        )?;
        counter(
            &mut e,
            "hypercache_read_index_fallbacks",
            "Peers asked for the keys themselves: not ready to vouch, or no answer in time.",
            ld(&ix.fallbacks),
        )?;
        let (p50, p99) = ix.rtt_percentiles();
        gauge(
            &mut e,
            "hypercache_read_index_rtt_p50_seconds",
            "Median round trip of read-index questions.",
            p50 as f64 / 1e6,
        )?;
        gauge(
            &mut e,
            "hypercache_read_index_rtt_p99_seconds",
            "99th percentile round trip of read-index questions.",
            p99 as f64 / 1e6,
        )?;
        let mut fam = e.encode_descriptor(
            "hypercache_anti_entropy_keys",
            "Keys exchanged by anti-entropy: pulled from peers, pushed to them.",
            None,
            MetricType::Counter,
        )?;
        for (direction, v) in [
            ("pulled", ld(&cs.sync_keys_pulled)),
            ("pushed", ld(&cs.sync_keys_pushed)),
        ] {
            ConstCounter::new(v).encode(
                fam.encode_family(&vec![("direction".to_string(), direction.to_string())])?,
            )?;
        }
        let (p50, p99) = cs.lag_percentiles();
        gauge(
            &mut e,
            "hypercache_replication_lag_p50_seconds",
            "Median lag of replicated batches received.",
            p50 as f64 / 1e3,
        )?;
        gauge(
            &mut e,
            "hypercache_replication_lag_p99_seconds",
            "99th percentile lag of replicated batches received.",
            p99 as f64 / 1e3,
        )?;
        let peers = c.replicator.peers();
        let mut fam = e.encode_descriptor(
            "hypercache_replication_queue_bytes",
            "Bytes waiting to be sent to each peer.",
            None,
            MetricType::Gauge,
        )?;
        for p in &peers {
            ConstGauge::new(p.backlog() as f64)
                .encode(fam.encode_family(&vec![("peer".to_string(), p.node_id.clone())])?)?;
        }
        let mut fam = e.encode_descriptor(
            "hypercache_replication_peer_connected",
            "1 while the stream to a peer is up.",
            None,
            MetricType::Gauge,
        )?;
        for p in &peers {
            let v = if p.connected.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            };
            ConstGauge::new(v)
                .encode(fam.encode_family(&vec![("peer".to_string(), p.node_id.clone())])?)?;
        }

        // Persistence.
        if let Some(p) = &node.persistence {
            let s = p.status();
            gauge(
                &mut e,
                "hypercache_persistence_loading",
                "1 while the data directory loads.",
                if p.is_loading() { 1.0 } else { 0.0 },
            )?;
            gauge(
                &mut e,
                "hypercache_changes_since_last_save",
                "Mutations since the last snapshot.",
                p.changes_since_save() as f64,
            )?;
            gauge(
                &mut e,
                "hypercache_last_save_timestamp_seconds",
                "Unix time of the last snapshot.",
                s.last_save_unix as f64,
            )?;
            gauge(
                &mut e,
                "hypercache_last_save_ok",
                "1 when the last snapshot succeeded.",
                if s.last_ok { 1.0 } else { 0.0 },
            )?;
            counter(
                &mut e,
                "hypercache_snapshots",
                "Snapshots written.",
                s.saves,
            )?;
            // Per-bucket counts: the encoder sums them.
            let within: u64 = s.duration_counts.iter().sum();
            let buckets: Vec<(f64, u64)> = crate::persist::SNAPSHOT_SECONDS_BOUNDS
                .iter()
                .copied()
                .zip(s.duration_counts)
                .chain(std::iter::once((
                    f64::INFINITY,
                    s.saves.saturating_sub(within),
                )))
                .collect();
            e.encode_descriptor(
                "hypercache_snapshot_duration_seconds",
                "Time to write a snapshot.",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(
                s.duration_sum_ms as f64 / 1000.0,
                s.saves,
                &buckets,
                None,
            )?;
            if let Some(a) = p.aof() {
                let a = a.status();
                gauge(
                    &mut e,
                    "hypercache_aof_size_bytes",
                    "Size of the current AOF.",
                    a.current_size as f64,
                )?;
                gauge(
                    &mut e,
                    "hypercache_aof_write_ok",
                    "1 while AOF writes succeed.",
                    if a.last_write_ok { 1.0 } else { 0.0 },
                )?;
                counter(
                    &mut e,
                    "hypercache_aof_fsyncs",
                    "fsyncs of the AOF.",
                    a.fsyncs,
                )?;
                ConstCounter::new(a.fsync_micros as f64 / 1e6).encode(e.encode_descriptor(
                    "hypercache_aof_fsync_seconds",
                    "Time spent in fsyncs of the AOF (over fsyncs: the mean fsync time).",
                    None,
                    MetricType::Counter,
                )?)?;
            }
        }
        Ok(())
    }
}
