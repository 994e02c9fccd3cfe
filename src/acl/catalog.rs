//! What ACL rules name, derived from the command table: each command's id (its slot in the
//! table), its categories, and how each of its keys is used (read, write) and which of its
//! arguments are channels.

use std::sync::LazyLock;

use crate::command::table::{self, Command};
use crate::resp::Args;

/// Redis's categories, in its order (ACL CAT, COMMAND INFO), then ours.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
    // HyperCache's own: the Cuckoo filter commands (CF.*).
    "cuckoo",
];

/// The bit of a category (case-insensitive), as ACL rules name it.
pub fn category(name: &[u8]) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

fn bit(name: &str) -> u32 {
    category(name.as_bytes()).unwrap_or(0)
}

/// A command's categories: those its flags imply, as Redis derives them
/// (`setImplicitACLCategories`), and those the table names.
fn categories_of(c: &Command) -> u32 {
    let mut cats = c.acl.iter().fold(0, |m, a| m | bit(a));
    if c.has(table::WRITE) {
        cats |= bit("write");
    }
    if c.has(table::READONLY) && cats & bit("scripting") == 0 {
        cats |= bit("read");
    }
    if c.has(table::ADMIN) {
        cats |= bit("admin") | bit("dangerous");
    }
    if c.has(table::FAST) {
        cats |= bit("fast");
    }
    if c.has(table::BLOCKING) {
        cats |= bit("blocking");
    }
    if cats & bit("fast") == 0 {
        cats |= bit("slow");
    }
    cats
}

static CATS: LazyLock<Vec<u32>> =
    LazyLock::new(|| table::slots().map(|(_, c)| categories_of(c)).collect());

/// Commands and subcommands counted: the size of a selector's bitmap.
pub fn count() -> usize {
    CATS.len()
}

/// A command's id: its slot in the table.
#[inline]
pub fn id(cmd: &'static Command) -> usize {
    // Every command dispatch resolves comes from the table, so it has a slot.
    table::slot_of(cmd).unwrap_or(usize::MAX)
}

/// The categories of the command with this id.
pub fn categories(id: usize) -> u32 {
    CATS.get(id).copied().unwrap_or(0)
}

/// A command's categories as COMMAND INFO lists them ("@read", ...), in Redis's order.
pub fn category_names(cmd: &'static Command) -> Vec<String> {
    let cats = categories(id(cmd));
    CATEGORIES
        .iter()
        .enumerate()
        .filter(|(i, _)| cats & (1 << i) != 0)
        .map(|(_, n)| format!("@{n}"))
        .collect()
}

/// A command by the name an ACL rule gives (`get`, `config|get`), case-insensitive.
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    match name.iter().position(|&b| b == b'|') {
        Some(at) => table::lookup(&name[..at])
            .filter(|p| p.is_container())
            .and_then(|p| table::lookup_sub(p, &name[at + 1..])),
        None => table::lookup(name),
    }
}

/// Permission bits a key pattern grants and a key's use needs.
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;

/// How a command uses its keys (Redis's key-spec flags, reduced to read and write): the
/// first key, and the others.
fn key_use(cmd: &Command) -> (u8, u8) {
    const RW: u8 = READ | WRITE;
    match cmd.name {
        // Metadata only: any pattern that matches will do.
        "exists" | "hexists" | "hlen" | "hstrlen" | "llen" | "scard" | "sismember" | "strlen"
        | "touch" | "type" | "watch" | "zcard" | "xlen" | "usage" | "encoding" | "freq"
        | "idletime" | "refcount" => (0, 0),
        "blpop" | "brpop" | "bzpopmax" | "bzpopmin" | "decr" | "decrby" | "getdel" | "getex"
        | "getset" | "hincrby" | "hincrbyfloat" | "incr" | "incrby" | "incrbyfloat" | "lmpop"
        | "lpop" | "move" | "rpop" | "setbit" | "spop" | "zincrby" | "zmpop" | "zpopmax"
        | "zpopmin" | "blmpop" | "bzmpop" | "eval" | "evalsha" | "fcall" => (RW, RW),
        "geosearchstore" | "sdiffstore" | "sinterstore" | "sunionstore" | "zdiffstore"
        | "zinterstore" | "zrangestore" | "zunionstore" | "bitop" => (WRITE, READ),
        "blmove" | "brpoplpush" | "lmove" | "rename" | "renamenx" | "rpoplpush" | "smove" => {
            (RW, WRITE)
        }
        "copy" => (READ, WRITE),
        "pfmerge" => (RW, READ),
        _ if cmd.has(table::READONLY) => (READ, READ),
        _ if cmd.has(table::WRITE) => (WRITE, WRITE),
        _ => (RW, RW),
    }
}

/// A call's keys with what each needs, as (argument index, READ/WRITE bits). SET and
/// BITFIELD need read only when they return the old value (GET); SORT's STORE target is
/// written.
pub fn keys(cmd: &'static Command, args: &Args<'_>, out: &mut Vec<(usize, u8)>) {
    let (first, rest) = key_use(cmd);
    let has = |word: &str| {
        args.iter()
            .skip(2)
            .any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    let (first, rest) = match cmd.name {
        "set" if has("get") => (READ | WRITE, READ | WRITE),
        "set" => (WRITE, WRITE),
        "bitfield" => {
            let m = if has("get") { READ } else { 0 }
                | if has("set") || has("incrby") {
                    WRITE
                } else {
                    0
                };
            (m, m)
        }
        _ => (first, rest),
    };
    for (n, i) in cmd.key_indexes(args).into_iter().enumerate() {
        out.push((i, if n == 0 { first } else { rest }));
    }
    if matches!(cmd.name, "sort" | "sort_ro") {
        let mut i = 2;
        while i + 1 < args.len() {
            if args[i].eq_ignore_ascii_case(b"store") {
                out.push((i + 1, WRITE));
            }
            i += 1;
        }
    }
}

/// A call's channels: (argument index, whether it is a pattern).
pub fn channels(cmd: &'static Command, args: &Args<'_>, out: &mut Vec<(usize, bool)>) {
    match cmd.name {
        "publish" | "spublish" if args.len() > 1 => out.push((1, false)),
        "subscribe" | "ssubscribe" => out.extend((1..args.len()).map(|i| (i, false))),
        "psubscribe" => out.extend((1..args.len()).map(|i| (i, true))),
        _ => {}
    }
}

/// Whether a command names channels at all (publish or subscribe).
pub fn has_channels(cmd: &'static Command) -> bool {
    matches!(
        cmd.name,
        "publish" | "spublish" | "subscribe" | "ssubscribe" | "psubscribe"
    )
}

/// Calls `f` with every command and subcommand id in the category.
pub fn in_category(cat: u32, mut f: impl FnMut(usize)) {
    for (i, c) in CATS.iter().enumerate() {
        if c & cat != 0 {
            f(i);
        }
    }
}

/// The ids of a command and, for a container, of its subcommands.
pub fn with_subcommands(cmd: &'static Command, mut f: impl FnMut(usize)) {
    f(id(cmd));
    for s in cmd.subcommands {
        f(id(s));
    }
}
