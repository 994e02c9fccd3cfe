//! Persistence commands: SAVE BGSAVE BGREWRITEAOF LASTSAVE, and the INFO persistence section.

use std::fmt::Write;
use std::sync::Arc;

use super::Ctx;
use crate::client::Action;
use crate::error::{Error, Result};
use crate::node::Node;
use crate::persist::Persistence;
use crate::resp::Args;

fn persistence<'a>(cx: &'a Ctx<'_>) -> Result<&'a Arc<Persistence>> {
    cx.node.persistence.as_ref().ok_or_else(|| {
        Error::msg("persistence is disabled on this node (persistence.strategy: disabled)")
    })
}

/// SAVE: a snapshot taken before the reply (the connection waits; other clients do not).
pub fn save(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let p = persistence(cx)?;
    if p.save_in_progress() {
        return Err(Error::msg("Background save already in progress"));
    }
    cx.client.action = Some(Action::Save);
    Ok(())
}

/// Starts a snapshot on a background thread.
fn start_background(node: &Node) -> Result<()> {
    let p = node.persistence.clone().ok_or_else(|| {
        Error::msg("persistence is disabled on this node (persistence.strategy: disabled)")
    })?;
    if p.save_in_progress() {
        return Err(Error::InProgress);
    }
    let Some(node) = node.arc() else {
        return Err(Error::msg("the node is shutting down"));
    };
    std::thread::Builder::new()
        .name("hypercache-save".into())
        .spawn(move || {
            let _ = p.save(&node.store);
        })
        .map_err(|e| Error::msg(format!("cannot start the save: {e}")))?;
    Ok(())
}

pub fn bgsave(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if args.len() > 2 || (args.len() == 2 && !super::is(&args[1], "schedule")) {
        return Err(Error::Syntax);
    }
    match start_background(cx.node) {
        Ok(()) => cx.out.simple("Background saving started"),
        Err(Error::InProgress) if args.len() == 2 => cx.out.simple("Background saving scheduled"),
        Err(Error::InProgress) => return Err(Error::msg("Background save already in progress")),
        Err(e) => return Err(e),
    }
    Ok(())
}

pub fn bgrewriteaof(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    match start_background(cx.node) {
        Ok(()) => cx
            .out
            .simple("Background append only file rewriting started"),
        Err(Error::InProgress) => {
            return Err(Error::msg(
                "Background append only file rewriting already in progress",
            ));
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

pub fn lastsave(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.out.int(cx.node.lastsave() as i64);
    Ok(())
}

/// The `# Persistence` section of INFO, with Redis's field names (snapshots stand in for RDB).
pub fn info_section(node: &Node, now_ms: u64, s: &mut String) {
    macro_rules! f {
        ($($arg:tt)*) => {{ let _ = write!(s, $($arg)*); s.push_str("\r\n"); }};
    }
    let Some(p) = &node.persistence else {
        f!("loading:0");
        f!("async_loading:0");
        f!("rdb_changes_since_last_save:0");
        f!("rdb_bgsave_in_progress:0");
        f!("rdb_last_save_time:{}", node.lastsave());
        f!("rdb_last_bgsave_status:ok");
        f!("rdb_saves:0");
        f!("aof_enabled:0");
        f!("aof_rewrite_in_progress:0");
        f!("aof_rewrite_scheduled:0");
        f!("aof_last_bgrewrite_status:ok");
        f!("aof_rewrites:0");
        f!("aof_last_write_status:ok");
        return;
    };
    let st = p.status();
    let ok = |b: bool| if b { "ok" } else { "err" };
    let with_aof = p.aof().is_some();
    f!("loading:{}", p.is_loading() as u8);
    f!("async_loading:0");
    f!("current_cow_peak:0");
    f!("current_cow_size:0");
    f!("rdb_changes_since_last_save:{}", p.changes_since_save());
    f!("rdb_bgsave_in_progress:{}", st.in_progress as u8);
    f!("rdb_last_save_time:{}", st.last_save_unix);
    f!("rdb_last_bgsave_status:{}", ok(st.last_ok));
    f!(
        "rdb_last_bgsave_time_sec:{}",
        if st.saves > 0 {
            (st.last_duration_ms / 1000) as i64
        } else {
            -1
        }
    );
    let current = if st.in_progress {
        (now_ms.saturating_sub(st.current_started_ms) / 1000) as i64
    } else {
        -1
    };
    f!("rdb_current_bgsave_time_sec:{current}");
    f!("rdb_saves:{}", st.saves);
    f!("rdb_last_cow_size:0");
    f!("aof_enabled:{}", with_aof as u8);
    f!(
        "aof_rewrite_in_progress:{}",
        (with_aof && st.in_progress) as u8
    );
    f!("aof_rewrite_scheduled:0");
    f!(
        "aof_last_rewrite_time_sec:{}",
        if with_aof && st.rewrites > 0 {
            (st.last_duration_ms / 1000) as i64
        } else {
            -1
        }
    );
    f!(
        "aof_current_rewrite_time_sec:{}",
        if with_aof { current } else { -1 }
    );
    f!("aof_last_bgrewrite_status:{}", ok(st.last_ok));
    f!("aof_rewrites:{}", st.rewrites);
    if let Some(aof) = p.aof() {
        let a = aof.status();
        f!("aof_last_write_status:{}", ok(a.last_write_ok));
        f!("aof_current_size:{}", a.current_size);
        f!("aof_base_size:{}", a.base_size);
        f!("aof_pending_rewrite:0");
        f!("aof_buffer_length:{}", a.appended.saturating_sub(a.durable));
        f!("hypercache_aof_fsync_policy:{}", aof.policy().name());
        f!("hypercache_aof_generation:{}", a.seq);
        f!("hypercache_aof_last_fsync_ms:{}", a.last_fsync_ms);
        f!("hypercache_aof_fsyncs:{}", a.fsyncs);
        f!(
            "hypercache_aof_fsync_avg_us:{}",
            a.fsync_micros.checked_div(a.fsyncs).unwrap_or(0)
        );
        f!("hypercache_aof_writes:{}", a.writes);
        f!("hypercache_aof_written_bytes:{}", a.written_bytes);
        f!("hypercache_aof_buffer_capacity:{}", a.buffer_capacity);
    } else {
        f!("aof_last_write_status:ok");
    }
    f!(
        "hypercache_lamport_clock:{}",
        node.store.bus().clock().now()
    );
    f!("hypercache_last_snapshot_keys:{}", st.last_keys);
    f!("hypercache_last_snapshot_bytes:{}", st.last_bytes);
    f!(
        "hypercache_last_snapshot_duration_ms:{}",
        st.last_duration_ms
    );
    if let Some(r) = p.recovery_report() {
        f!("hypercache_recovery_records_replayed:{}", r.replayed);
        f!(
            "hypercache_recovery_snapshot_keys:{}",
            r.snapshot.map_or(0, |s| s.1)
        );
        f!("hypercache_recovery_duration_ms:{}", r.duration_ms);
        f!(
            "hypercache_recovery_truncated_bytes:{}",
            r.truncated.as_ref().map_or(0, |t| t.2)
        );
        f!("hypercache_recovery_skipped_records:{}", r.skipped.len());
        f!(
            "hypercache_recovery_unfinished_transactions:{}",
            r.unfinished_groups
        );
    }
}
