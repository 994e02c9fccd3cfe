//! Keyspace notifications (`notify-keyspace-events`): `__keyspace@<db>__:<key>` carries the
//! event, `__keyevent@<db>__:<event>` the key, published to this node's subscribers as Redis
//! does (a notification never travels to peers: each node notifies what it applies).
//!
//! The changes come from the one write path: while notifications are on, the bus notes every
//! Mutation on the thread that made it ([`note`]); when the command (or the expiry step, or the
//! replicated batch) is done, [`flush`] names each change as Redis does for that command and
//! publishes it. A replicated write has no command here: it is named by its record (an edit
//! that pushed at the front is `lpush`, a whole value `set`, ...).

use std::cell::RefCell;

use crate::command::Command;
use crate::node::Node;
use crate::resp::Args;
use crate::store::mutation::{Mutation, Op};
use crate::store::{ValueRef, stamp::Stamp};

pub const GENERIC: u32 = 1 << 0;
pub const STRING: u32 = 1 << 1;
pub const LIST: u32 = 1 << 2;
pub const SET: u32 = 1 << 3;
pub const HASH: u32 = 1 << 4;
pub const ZSET: u32 = 1 << 5;
pub const EXPIRED: u32 = 1 << 6;
pub const EVICTED: u32 = 1 << 7;
pub const STREAM: u32 = 1 << 8;
pub const KEY_MISS: u32 = 1 << 9;
pub const MODULE: u32 = 1 << 10;
pub const NEW: u32 = 1 << 11;
pub const KEYSPACE: u32 = 1 << 12;
pub const KEYEVENT: u32 = 1 << 13;
/// Redis's `A`.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Parses Redis's class letters; `None` for a letter that names no class.
pub fn parse(classes: &[u8]) -> Option<u32> {
    classes.iter().try_fold(0, |flags, c| {
        Some(
            flags
                | match c {
                    b'A' => ALL,
                    b'g' => GENERIC,
                    b'$' => STRING,
                    b'l' => LIST,
                    b's' => SET,
                    b'h' => HASH,
                    b'z' => ZSET,
                    b'x' => EXPIRED,
                    b'e' => EVICTED,
                    b'K' => KEYSPACE,
                    b'E' => KEYEVENT,
                    b't' => STREAM,
                    b'm' => KEY_MISS,
                    b'd' => MODULE,
                    b'n' => NEW,
                    _ => return None,
                },
        )
    })
}

/// The letters for `flags`, as CONFIG GET shows them (Redis's keyspaceEventsFlagsToString).
pub fn render(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// Whether `flags` would publish anything: some class, and a channel kind to publish it on.
pub fn publishes(flags: u32) -> bool {
    flags & (KEYSPACE | KEYEVENT) != 0 && flags & !(KEYSPACE | KEYEVENT) != 0
}

/// What a Mutation did to a key, as much as naming it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    /// A whole value: its class, whether it carries a deadline.
    Set {
        class: u32,
        expires: bool,
        new: bool,
    },
    Splice {
        new: bool,
    },
    /// A collection edit: its record's tag (`collections::edit`), whether it made the key.
    Edit {
        tag: u8,
        new: bool,
    },
    Del,
    Expire,
    Persist,
    Expired,
    Evicted,
    /// Every key of a database (FLUSHDB, FLUSHALL, SWAPDB).
    Flush,
    /// A read found no key (not a change).
    Miss,
}

struct Note {
    db: u32,
    key: Vec<u8>,
    what: What,
}

thread_local! {
    static NOTES: RefCell<Vec<Note>> = const { RefCell::new(Vec::new()) };
}

/// Notes a change made on this thread (the bus calls it while notifications are on).
pub fn note(m: &Mutation<'_>, created: bool) {
    let new = |base: Stamp| base == Stamp::default();
    let (key, what) = match m.op {
        Op::Set {
            key,
            value,
            expire_at,
        } => (
            key,
            What::Set {
                class: class_of(value),
                expires: expire_at != 0,
                new: created,
            },
        ),
        Op::Splice { key, base, .. } => (key, What::Splice { new: new(base) }),
        Op::Edit { key, edit, base } => (
            key,
            What::Edit {
                tag: edit.first().copied().unwrap_or(0),
                new: new(base),
            },
        ),
        Op::Del { key } => (key, What::Del),
        Op::Expire { key, .. } => (key, What::Expire),
        Op::Persist { key } => (key, What::Persist),
        Op::Expired { key } => (key, What::Expired),
        Op::Evicted { key } => (key, What::Evicted),
        Op::FlushDb | Op::FlushAll | Op::SwapDb { .. } => (&[][..], What::Flush),
        _ => return,
    };
    NOTES.with(|n| {
        n.borrow_mut().push(Note {
            db: m.db,
            key: key.to_vec(),
            what,
        })
    });
}

/// Notes a read that found no key (the bus calls it while `m` is on).
pub fn note_miss(db: u32, key: &[u8]) {
    NOTES.with(|n| {
        n.borrow_mut().push(Note {
            db,
            key: key.to_vec(),
            what: What::Miss,
        })
    });
}

fn class_of(v: ValueRef<'_>) -> u32 {
    match v {
        ValueRef::List(_) => LIST,
        ValueRef::Hash(_) => HASH,
        ValueRef::Set(_) => SET,
        ValueRef::ZSet(_) => ZSET,
        _ => STRING,
    }
}

/// Publishes the changes noted since the last flush. `cmd`: the client command that made
/// them, with its arguments; `None` for changes of this node without one (`local`: an HTTP
/// write, an expiry step) or from peers (a replicated batch, a repair — published only with
/// `notify_replicated_writes`).
///
/// Each changed key is also invalidated for the clients that track it; `writer` is the
/// client that made the change (NOLOOP spares it).
pub fn flush(
    node: &Node,
    cmd: Option<(&'static Command, &Args<'_>)>,
    local: bool,
    writer: Option<u64>,
) {
    let mut notes = NOTES.with(|n| std::mem::take(&mut *n.borrow_mut()));
    if notes.is_empty() {
        return;
    }
    let tracking = &node.pubsub.tracking;
    if tracking.any() {
        let limit = node.settings.output_limits().pubsub;
        for n in &notes {
            match n.what {
                What::Flush => tracking.invalidate_all(limit),
                What::Miss => {}
                _ => tracking.invalidate(&n.key, writer, limit),
            }
        }
    }
    let flags = node.pubsub.notify_flags();
    if !publishes(flags) {
        return;
    }
    use crate::command::table::{INTERNAL, WRITE};
    // A read changes nothing Redis would name but the keys it found expired (a repair
    // installs a version written elsewhere; PFCOUNT caches its count).
    if let Some((c, _)) = cmd
        && !c.has(WRITE)
        && !c.has(INTERNAL)
    {
        notes.retain(|n| matches!(n.what, What::Expired | What::Evicted | What::Miss));
    }
    // Only a client's write names its changes; a peer's are named by their records.
    let cmd = cmd.filter(|(c, _)| c.has(WRITE) && !c.has(INTERNAL));
    // Moving an element, Redis notifies the destination's push before the source's pop.
    if let Some((c, args)) = cmd
        && matches!(c.name, "rpoplpush" | "brpoplpush" | "lmove" | "blmove")
        && let Some(dst) = args.get(2)
    {
        notes.sort_by_key(|n| n.key != dst);
    }
    let mut events: Vec<(u32, &'static str)> = Vec::with_capacity(2);
    let mut last: Option<(u32, Vec<u8>, &'static str)> = None;
    // Redis notifies `new` as it adds a key: RENAME and MOVE add the destination before they
    // notify the source's removal.
    let hoist_new = cmd.is_some_and(|(c, _)| matches!(c.name, "rename" | "renamenx" | "move"));
    let mut later: Vec<(u32, &'static str, &Note)> = Vec::new();
    for n in &notes {
        events.clear();
        name(cmd, n, last.as_ref(), &mut events);
        if cmd.is_none()
            && !local
            && !node.pubsub.notify_replicated()
            && !matches!(n.what, What::Expired | What::Evicted | What::Miss)
        {
            continue;
        }
        for &(class, event) in &events {
            if class == NEW || !hoist_new {
                publish(node, flags, class, event, n.db, &n.key);
            } else {
                later.push((class, event, n));
            }
            last = Some((n.db, n.key.clone(), event));
        }
    }
    for (class, event, n) in later {
        publish(node, flags, class, event, n.db, &n.key);
    }
}

fn publish(node: &Node, flags: u32, class: u32, event: &str, db: u32, key: &[u8]) {
    if flags & class == 0 {
        return;
    }
    if flags & KEYSPACE != 0 {
        let mut chan = format!("__keyspace@{db}__:").into_bytes();
        chan.extend_from_slice(key);
        node.deliver_message(&chan, event.as_bytes(), false);
    }
    if flags & KEYEVENT != 0 {
        let chan = format!("__keyevent@{db}__:{event}");
        node.deliver_message(chan.as_bytes(), key, false);
    }
}

/// The events one change is, as Redis names them for the command that made it.
fn name(
    cmd: Option<(&'static Command, &Args<'_>)>,
    n: &Note,
    last: Option<&(u32, Vec<u8>, &'static str)>,
    out: &mut Vec<(u32, &'static str)>,
) {
    match n.what {
        What::Expired => return out.push((EXPIRED, "expired")),
        What::Evicted => return out.push((EVICTED, "evicted")),
        What::Flush => return,
        What::Miss => return out.push((KEY_MISS, "keymiss")),
        _ => {}
    }
    let created = matches!(
        n.what,
        What::Edit { new: true, .. } | What::Splice { new: true } | What::Set { new: true, .. }
    );
    if created {
        out.push((NEW, "new"));
    }
    let Some((cmd, args)) = cmd else {
        return by_record(n.what, out);
    };
    let arg = |i: usize| args.get(i).map(<[u8]>::to_ascii_lowercase);
    let is_key = |i: usize| args.get(i) == Some(&n.key[..]);
    // The event this command's own change is.
    let own: Option<(u32, &'static str)> = match cmd.name {
        "del" | "unlink" | "getdel" => Some((GENERIC, "del")),
        "rename" | "renamenx" => Some(if n.what == What::Del {
            (GENERIC, "rename_from")
        } else {
            (GENERIC, "rename_to")
        }),
        "move" => Some(if n.what == What::Del {
            (GENERIC, "move_from")
        } else {
            (GENERIC, "move_to")
        }),
        "copy" => Some((GENERIC, "copy_to")),
        "restore" => Some((GENERIC, "restore")),
        "sort" => Some((LIST, "sortstore")),
        "getex" if (2..args.len()).any(|i| arg(i).as_deref() == Some(b"persist")) => {
            Some((GENERIC, "persist"))
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" | "getex" => match n.what {
            What::Persist => Some((GENERIC, "persist")),
            What::Del => Some((GENERIC, "del")),
            _ => Some((GENERIC, "expire")),
        },
        "persist" => Some((GENERIC, "persist")),
        "set" | "setnx" | "setex" | "psetex" | "getset" | "mset" | "msetnx" | "bitop" => {
            Some((STRING, "set"))
        }
        // Redis names all four `incrby`.
        "incr" | "incrby" | "decr" | "decrby" => Some((STRING, "incrby")),
        "setbit" | "bitfield" => Some((STRING, "setbit")),
        "pfadd" | "pfmerge" => Some((STRING, "pfadd")),
        "pfcount" => None,
        "hset" | "hmset" | "hsetnx" => Some((HASH, "hset")),
        "zincrby" => Some((ZSET, "zincr")),
        "zadd" if (2..args.len()).any(|i| arg(i).as_deref() == Some(b"incr")) => {
            Some((ZSET, "zincr"))
        }
        "bzpopmin" => Some((ZSET, "zpopmin")),
        "bzpopmax" => Some((ZSET, "zpopmax")),
        "zmpop" | "bzmpop" => Some(
            if (2..args.len()).any(|i| arg(i).as_deref() == Some(b"max")) {
                (ZSET, "zpopmax")
            } else {
                (ZSET, "zpopmin")
            },
        ),
        "lpushx" => Some((LIST, "lpush")),
        "rpushx" => Some((LIST, "rpush")),
        "blpop" => Some((LIST, "lpop")),
        "brpop" => Some((LIST, "rpop")),
        "lmpop" | "blmpop" => Some(
            if (2..args.len()).any(|i| arg(i).as_deref() == Some(b"right")) {
                (LIST, "rpop")
            } else {
                (LIST, "lpop")
            },
        ),
        "rpoplpush" | "brpoplpush" | "lmove" | "blmove" => {
            let (from, to) = match cmd.name {
                "rpoplpush" | "brpoplpush" => (b"right".to_vec(), b"left".to_vec()),
                _ => (arg(3).unwrap_or_default(), arg(4).unwrap_or_default()),
            };
            let pop = if from == b"left" { "lpop" } else { "rpop" };
            let push = if to == b"left" { "lpush" } else { "rpush" };
            if is_key(1) && is_key(2) {
                // A rotation: both, on the one key (the push first, as Redis), once however
                // many records it made.
                if last.is_none_or(|l| l.0 != n.db || l.1 != n.key || l.2 != pop) {
                    out.push((LIST, push));
                    out.push((LIST, pop));
                }
                return;
            }
            Some((LIST, if is_key(1) { pop } else { push }))
        }
        "smove" => Some((SET, if is_key(1) { "srem" } else { "sadd" })),
        _ => None,
    };
    let stores = cmd.name.ends_with("store") && cmd.name != "sortstore";
    match (n.what, own) {
        // A command's own deletion (DEL, EXPIRE in the past, ...).
        (What::Del, Some((GENERIC, event))) => out.push((GENERIC, event)),
        // A write that left its key empty: its event, then `del` (a *STORE whose result is
        // empty deletes its destination: `del` alone).
        (What::Del, own) => {
            let event = own.or_else(|| command_event(cmd));
            if let Some(ev) = event
                && !stores
                && last.is_none_or(|l| l.0 != n.db || l.1 != n.key || l.2 != ev.1)
            {
                out.push(ev);
            }
            out.push((GENERIC, "del"));
        }
        (What::Set { expires, .. }, Some(ev)) if ev.1 == "set" => {
            out.push(ev);
            // SET ... EX, SETEX, PSETEX also set a deadline.
            let with_ttl = matches!(cmd.name, "setex" | "psetex")
                || (cmd.name == "set"
                    && (3..args.len()).any(|i| {
                        matches!(arg(i).as_deref(), Some(b"ex" | b"px" | b"exat" | b"pxat"))
                    }));
            if expires && with_ttl {
                out.push((GENERIC, "expire"));
            }
        }
        (_, Some(ev)) => out.push(ev),
        (what, None) => match command_event(cmd) {
            Some(ev) if cmd.name != "pfcount" => out.push(ev),
            _ if cmd.name == "pfcount" => {}
            _ => by_record(what, out),
        },
    }
}

/// A command whose event is its own name, in its family's class.
fn command_event(cmd: &'static Command) -> Option<(u32, &'static str)> {
    let class = match cmd.group {
        "string" | "bitmap" | "hyperloglog" => STRING,
        "list" => LIST,
        "hash" => HASH,
        "set" => SET,
        "sorted-set" => ZSET,
        "generic" => GENERIC,
        _ => return None,
    };
    Some((class, cmd.name))
}

/// A change without its command (replicated, repaired), named by its record.
fn by_record(what: What, out: &mut Vec<(u32, &'static str)>) {
    use crate::collections::edit::tag_name;
    out.push(match what {
        What::Set { class, .. } => (class, "set"),
        What::Splice { .. } => (STRING, "setrange"),
        What::Edit { tag, .. } => match tag_name(tag) {
            Some((name, 'l')) => (LIST, name),
            Some((name, 'h')) => (HASH, name),
            Some((name, 's')) => (SET, name),
            Some((name, _)) => (ZSET, name),
            None => return,
        },
        What::Del => (GENERIC, "del"),
        What::Expire => (GENERIC, "expire"),
        What::Persist => (GENERIC, "persist"),
        What::Expired => (EXPIRED, "expired"),
        What::Evicted => (EVICTED, "evicted"),
        What::Miss => (KEY_MISS, "keymiss"),
        What::Flush => return,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_parse_and_render_as_redis() {
        assert_eq!(parse(b"KEA").map(render).as_deref(), Some("AKE"));
        assert_eq!(parse(b"Kg$").map(render).as_deref(), Some("g$K"));
        assert_eq!(parse(b"").map(render).as_deref(), Some(""));
        assert_eq!(parse(b"Elxmn").map(render).as_deref(), Some("lxnEm"));
        assert_eq!(parse(b"KEQ"), None);
        assert!(publishes(parse(b"Kx").unwrap()));
        assert!(!publishes(parse(b"KE").unwrap()));
        assert!(!publishes(parse(b"A").unwrap()));
    }
}
