//! SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE, SUNSUBSCRIBE, PUBLISH,
//! SPUBLISH, PUBSUB. The listeners live in `pubsub::Hub`; a subscribed connection owns a
//! mailbox its messages wait in, written out by the connection between its commands.

use super::Ctx;
use crate::error::{Error, Result};
use crate::pubsub::{Kind, Mailbox};
use crate::resp::Args;

pub fn subscribe(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    join(cx, args, Kind::Channel)
}

pub fn psubscribe(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    join(cx, args, Kind::Pattern)
}

pub fn ssubscribe(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    join(cx, args, Kind::Shard)
}

pub fn unsubscribe(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    leave(cx, args, Kind::Channel)
}

pub fn punsubscribe(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    leave(cx, args, Kind::Pattern)
}

pub fn sunsubscribe(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    leave(cx, args, Kind::Shard)
}

fn join(cx: &mut Ctx<'_>, args: Args<'_>, kind: Kind) -> Result<()> {
    let mailbox = mailbox(cx);
    for name in args.iter().skip(1) {
        if cx.client.subs.of_mut(kind).insert(name.into()) {
            cx.node.pubsub.subscribe(kind, name, &mailbox);
        }
        confirm(cx, kind.verbs().0, Some(name), kind);
    }
    Ok(())
}

/// The connection's mailbox, made on first need (a subscription, tracking) and reachable as
/// a tracking redirect target.
pub fn mailbox(cx: &mut Ctx<'_>) -> std::sync::Arc<Mailbox> {
    if let Some(m) = &cx.client.subs.mailbox {
        return m.clone();
    }
    let m = Mailbox::new(cx.client.id, cx.out.proto);
    cx.node.pubsub.tracking.register(&m);
    cx.client.subs.mailbox = Some(m.clone());
    m
}

fn leave(cx: &mut Ctx<'_>, args: Args<'_>, kind: Kind) -> Result<()> {
    let id = cx.client.id;
    let names: Vec<Box<[u8]>> = if args.len() > 1 {
        args.iter().skip(1).map(Into::into).collect()
    } else {
        cx.client.subs.of(kind).iter().cloned().collect()
    };
    if names.is_empty() {
        // Nothing to leave: one confirmation with a null name, as Redis.
        confirm(cx, kind.verbs().1, None, kind);
        return Ok(());
    }
    for name in names {
        if cx.client.subs.of_mut(kind).remove(&name) {
            cx.node.pubsub.unsubscribe(kind, &name, id);
        }
        confirm(cx, kind.verbs().1, Some(&name), kind);
    }
    Ok(())
}

/// `[verb, name, count]`, a push in RESP3.
fn confirm(cx: &mut Ctx<'_>, verb: &str, name: Option<&[u8]>, kind: Kind) {
    let n = cx.client.subs.of(kind).len();
    cx.client.info.subscriptions[kind as usize].store(n, std::sync::atomic::Ordering::Relaxed);
    if let Some(m) = &cx.client.subs.mailbox {
        m.set_subscribed(cx.client.subs.active());
    }
    cx.out.push(3);
    cx.out.bulk(verb.as_bytes());
    match name {
        Some(n) => cx.out.bulk(n),
        None => cx.out.null(),
    }
    cx.out.int(cx.client.subs.count(kind) as i64);
}

pub fn publish(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    send(cx, args, false)
}

pub fn spublish(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    send(cx, args, true)
}

fn send(cx: &mut Ctx<'_>, args: Args<'_>, shard: bool) -> Result<()> {
    let n = cx.node.publish(&args[1], &args[2], shard);
    // A client publishing to itself gets the message before the reply, as from Redis.
    if let Some(m) = &cx.client.subs.mailbox {
        m.take_into(&mut cx.out.buf);
    }
    cx.out.int(n as i64);
    Ok(())
}

pub fn pubsub(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let sub = args[1].to_ascii_lowercase();
    let hub = &cx.node.pubsub;
    // The table checked each subcommand's arity.
    match (sub.as_slice(), args.len()) {
        (b"channels" | b"shardchannels", 2 | 3) => {
            let kind = if sub == b"channels" {
                Kind::Channel
            } else {
                Kind::Shard
            };
            let list = hub.active(kind, args.get(2));
            cx.out.array(list.len());
            for c in list {
                cx.out.bulk(&c);
            }
        }
        (b"numsub" | b"shardnumsub", _) => {
            let kind = if sub == b"numsub" {
                Kind::Channel
            } else {
                Kind::Shard
            };
            cx.out.array(2 * (args.len() - 2));
            for c in args.iter().skip(2) {
                cx.out.bulk(c);
                cx.out.int(hub.count(kind, c) as i64);
            }
        }
        (b"numpat", 2) => cx.out.int(hub.patterns() as i64),
        (b"help", 2) => {
            let lines = [
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
            ];
            super::reply_help(cx.out, "PUBSUB", &lines);
        }
        _ => {
            return Err(Error::msg(format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(&args[1])
            )));
        }
    }
    Ok(())
}
