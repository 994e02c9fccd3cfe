//! The operator's commands: SLOWLOG and LATENCY (the records of slow commands and latency spikes,
//! `crate::slowlog`, `crate::latency`) and MONITOR, with Redis's replies.

use super::{Ctx, int_arg, reply_help};
use crate::error::{Error, Result};
use crate::resp::Args;

pub fn slowlog_get(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    const RANGE: &str = "count should be greater than or equal to -1";
    let count = match args.get(2) {
        None => Some(10),
        Some(a) => match int_arg(a) {
            Ok(-1) => None,
            Ok(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => return Err(Error::msg(RANGE)),
        },
    };
    let entries = cx.node.slowlog.get(count);
    cx.out.array(entries.len());
    for e in entries {
        cx.out.array(6);
        cx.out.int(e.id as i64);
        cx.out.int(e.time as i64);
        cx.out.int(e.micros as i64);
        cx.out.array(e.args.len());
        for a in &e.args {
            cx.out.bulk(a);
        }
        cx.out.bulk(e.addr.as_bytes());
        cx.out.bulk(&e.name);
    }
    Ok(())
}

pub fn slowlog_len(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.out.int(cx.node.slowlog.len() as i64);
    Ok(())
}

pub fn slowlog_reset(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.node.slowlog.reset();
    cx.out.ok();
    Ok(())
}

pub fn slowlog_help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    reply_help(
        cx.out,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

pub fn latency_latest(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let latest = cx.node.latency.latest();
    cx.out.array(latest.len());
    for (name, time, ms, max) in latest {
        cx.out.array(4);
        cx.out.bulk(name.as_bytes());
        cx.out.int(time as i64);
        cx.out.int(ms as i64);
        cx.out.int(max as i64);
    }
    Ok(())
}

pub fn latency_history(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let samples = cx.node.latency.history(&args[2]);
    cx.out.array(samples.len());
    for (time, ms) in samples {
        cx.out.array(2);
        cx.out.int(time as i64);
        cx.out.int(ms as i64);
    }
    Ok(())
}

pub fn latency_reset(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let named: Vec<&[u8]> = args.iter().skip(2).collect();
    cx.out.int(cx.node.latency.reset(&named) as i64);
    Ok(())
}

pub fn latency_doctor(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let report = doctor(&cx.node.latency);
    cx.out.verbatim(report.as_bytes());
    Ok(())
}

/// Redis's report, for the events this node records (commands, fast commands).
fn doctor(m: &crate::latency::LatencyMonitor) -> String {
    if !m.on() {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let events = m.snapshot();
    if events.values().all(|e| e.samples.is_empty()) {
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".into();
    }
    let mut r = String::from(
        "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
    );
    for (i, (name, e)) in events
        .iter()
        .filter(|(_, e)| !e.samples.is_empty())
        .enumerate()
    {
        let n = e.samples.len() as u64;
        let avg = e.samples.iter().map(|s| s.1).sum::<u64>() / n;
        let dev = e.samples.iter().map(|s| s.1.abs_diff(avg)).sum::<u64>() / n;
        let first = e.samples.front().map_or(0, |s| s.0);
        let last = e.samples.back().map_or(0, |s| s.0);
        let period = if n > 1 {
            (last - first) as f64 / (n - 1) as f64
        } else {
            0.0
        };
        r.push_str(&format!(
            "{}. {name}: {n} latency spikes (average {avg}ms, mean deviation {dev}ms, period {period:.2} sec). Worst all time event {}ms.\n",
            i + 1,
            e.max
        ));
    }
    r.push_str("\nI have a few advices for you:\n\n- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    r
}

pub fn latency_help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    reply_help(
        cx.out,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
        ],
    );
    Ok(())
}

/// MONITOR: from now on this connection receives every other client's commands (not the
/// admin ones, as Redis) until it disconnects or sends RESET.
pub fn monitor(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let m = super::pubsub::mailbox(cx);
    cx.node.pubsub.monitors.add(&m);
    cx.out.ok();
    Ok(())
}
