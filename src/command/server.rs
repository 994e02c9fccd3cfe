//! Server commands: TIME MEMORY DEBUG SHUTDOWN STORES.

use std::time::Duration;

use super::{Ctx, int_arg, is, reply_help};
use crate::client::Action;
use crate::error::{Error, Result};
use crate::node::ShutdownSave;
use crate::resp::Args;
use crate::store::{Access, memory};

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
    let policy = node.store.store_of(cx.client.db).limits.policy();
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
    cx.node.shutdown_save.store(if save {
        ShutdownSave::Save
    } else if nosave {
        ShutdownSave::NoSave
    } else {
        ShutdownSave::Default
    });
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
