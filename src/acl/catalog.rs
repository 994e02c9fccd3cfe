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

/// What the check needs of a command, worked out once per command (the check runs on every
/// command of a restricted user).
#[derive(Clone, Copy)]
pub struct Info {
    pub categories: u32,
    /// What the first key, and the others, need (READ, WRITE).
    first: u8,
    rest: u8,
    special: Special,
    /// Names channels (PUBLISH, SUBSCRIBE, ...).
    pub channels: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    None,
    /// SET: reads too with GET.
    Set,
    /// BITFIELD: reads with GET, writes with SET or INCRBY.
    Bitfield,
    /// SORT: the STORE target is written.
    Sort,
}

static INFO: LazyLock<Vec<Info>> = LazyLock::new(|| {
    table::slots()
        .map(|(_, c)| {
            let (first, rest) = key_use(c);
            Info {
                categories: categories_of(c),
                first,
                rest,
                special: match c.name {
                    "set" => Special::Set,
                    "bitfield" => Special::Bitfield,
                    "sort" | "sort_ro" => Special::Sort,
                    _ => Special::None,
                },
                channels: matches!(
                    c.name,
                    "publish" | "spublish" | "subscribe" | "ssubscribe" | "psubscribe"
                ),
            }
        })
        .collect()
});

const NO_INFO: Info = Info {
    categories: 0,
    first: READ | WRITE,
    rest: READ | WRITE,
    special: Special::None,
    channels: false,
};

/// What the check needs of the command with this id.
#[inline]
pub fn info(id: usize) -> &'static Info {
    INFO.get(id).unwrap_or(&NO_INFO)
}

/// Commands and subcommands counted: the size of a selector's bitmap.
pub fn count() -> usize {
    INFO.len()
}

/// A command's id: its slot in the table.
#[inline]
pub fn id(cmd: &'static Command) -> usize {
    // Every command dispatch resolves comes from the table, so it has a slot.
    table::slot_of(cmd).unwrap_or(usize::MAX)
}

/// The categories of the command with this id.
pub fn categories(id: usize) -> u32 {
    info(id).categories
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

/// Calls `f(argument index, READ/WRITE bits)` for each key of a call until it returns
/// false; false then. SET and BITFIELD need read only when they return the old value (GET);
/// SORT's STORE target is written. No allocation for the commands whose keys sit at fixed
/// positions (the check runs on every command of a restricted user).
pub fn each_key(
    cmd: &'static Command,
    id: usize,
    args: &Args<'_>,
    mut f: impl FnMut(usize, u8) -> bool,
) -> bool {
    let info = info(id);
    let has = |word: &str| {
        args.iter()
            .skip(2)
            .any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    let (first, rest) = match info.special {
        Special::Set if has("get") => (READ | WRITE, READ | WRITE),
        Special::Bitfield => {
            let m = if has("get") { READ } else { 0 }
                | if has("set") || has("incrby") {
                    WRITE
                } else {
                    0
                };
            (m, m)
        }
        _ => (info.first, info.rest),
    };
    let need = |n: usize| if n == 0 { first } else { rest };
    if cmd.numkeys() {
        for (n, i) in cmd.key_indexes(args).into_iter().enumerate() {
            if !f(i, need(n)) {
                return false;
            }
        }
    } else {
        let (lo, hi, step) = cmd.keys;
        if lo > 0 && step > 0 {
            let argc = args.len() as i32;
            let hi = if hi < 0 { argc + hi } else { hi }.min(argc - 1);
            for (n, i) in (lo..=hi).step_by(step as usize).enumerate() {
                if !f(i as usize, need(n)) {
                    return false;
                }
            }
        }
    }
    if info.special == Special::Sort {
        for i in 2..args.len().saturating_sub(1) {
            if args[i].eq_ignore_ascii_case(b"store") && !f(i + 1, WRITE) {
                return false;
            }
        }
    }
    true
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

/// Calls `f` with every command and subcommand id in the category.
pub fn in_category(cat: u32, mut f: impl FnMut(usize)) {
    for (i, c) in INFO.iter().enumerate() {
        if c.categories & cat != 0 {
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
