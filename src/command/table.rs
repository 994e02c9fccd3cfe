//! The static command table: name, arity, flags, key positions, documentation and handler.
//! It drives dispatch, arity errors, COMMAND INFO/DOCS/COUNT/LIST/GETKEYS and, later, ACL
//! checks and cluster routing.

use rustc_hash::FxHashMap;

use crate::resp::Args;
use std::sync::LazyLock;

use super::{
    Handler, acl, bits, cluster, config, connection, cuckoo, hash, hll, info, introspect, key,
    list, operator, persistence, pubsub, scripting, server, set, sort, string, transaction, zset,
};

pub const WRITE: u32 = 1 << 0;
pub const READONLY: u32 = 1 << 1;
pub const DENYOOM: u32 = 1 << 2;
pub const ADMIN: u32 = 1 << 3;
pub const NOSCRIPT: u32 = 1 << 4;
pub const LOADING: u32 = 1 << 5;
pub const STALE: u32 = 1 << 6;
pub const FAST: u32 = 1 << 7;
pub const NO_AUTH: u32 = 1 << 8;
pub const SENTINEL: u32 = 1 << 9;
pub const ALLOW_BUSY: u32 = 1 << 10;
pub const NO_MULTI: u32 = 1 << 11;
pub const PROTECTED: u32 = 1 << 12;
pub const TOUCHES_ARBITRARY_KEYS: u32 = 1 << 13;
pub const NO_ASYNC_LOADING: u32 = 1 << 14;
/// A write that reads the key's current value first: in a cluster, a local miss is
/// read-repaired from the other replicas before it runs (as every read is).
pub const REPAIR: u32 = 1 << 15;
/// An internal command between nodes: never repaired, forwarded or replicated itself.
pub const INTERNAL: u32 = 1 << 16;
/// Only for connections that proved they hold the cluster secret (see `cluster::auth`).
pub const PEER: u32 = 1 << 17;
/// May wait for keys (BLPOP and kin).
pub const BLOCKING: u32 = 1 << 18;
/// Changes its keys' values in place (a push, a pop, an increment, a bit): in a cluster it
/// runs on the keys' owner — their first live replica — so such changes to a key apply in one
/// order everywhere and an element is popped once. So do the TTL changes (EXPIRE … PERSIST,
/// GETEX) and GETDEL, which must see the value the owner's writes made (INCR then EXPIRE).
/// Whole-value writes (SET, DEL, *STORE) run anywhere; the newest stamp wins.
pub const OWNED: u32 = 1 << 19;
/// A peer-only command that a peer sends inside HCFWD (it runs in a forwarding client's
/// database and protocol); every other peer command comes bare.
pub const VIA_HCFWD: u32 = 1 << 20;

/// Flag names as COMMAND INFO reports them, in Redis's order.
pub const FLAG_NAMES: &[(u32, &str)] = &[
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (ADMIN, "admin"),
    (NOSCRIPT, "noscript"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (ALLOW_BUSY, "allow_busy"),
    (NO_MULTI, "no_multi"),
    (NO_ASYNC_LOADING, "no_async_loading"),
];

/// One command or subcommand.
pub struct Command {
    /// Lower case; subcommands carry only their own name (`get` of `config`).
    pub name: &'static str,
    /// Redis arity: N = exactly N arguments (name included), -N = at least N.
    pub arity: i32,
    pub flags: u32,
    /// ACL categories beyond those implied by the flags (e.g. "string", "keyspace").
    pub acl: &'static [&'static str],
    /// Key positions: first, last (negative counts from the end), step. 0,0,0: no keys.
    pub keys: (i32, i32, i32),
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    /// `None` for containers, whose subcommands do the work.
    pub handler: Option<Handler>,
    pub subcommands: &'static [Command],
}

impl Command {
    pub fn is_container(&self) -> bool {
        !self.subcommands.is_empty()
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        (a >= 0 && argc == a as usize) || (a < 0 && argc >= (-a) as usize)
    }

    /// The keys of a call: by the table's positions, or, for the commands that say how many
    /// keys follow (LMPOP, ZUNION, ...), by that count.
    pub fn key_indexes(&self, args: &Args<'_>) -> Vec<usize> {
        let argc = args.len();
        if let Some((count_at, dest)) = numkeys_position(self.name) {
            let mut out = Vec::new();
            if dest && argc > 1 {
                out.push(1);
            }
            let n = args
                .get(count_at)
                .and_then(crate::util::num::parse_i64)
                .filter(|&n| n > 0)
                .map_or(0, |n| {
                    (n as u64).min(argc.saturating_sub(count_at + 1) as u64) as usize
                });
            out.extend(count_at + 1..count_at + 1 + n);
            return out;
        }
        let (first, last, step) = self.keys;
        if first <= 0 || step <= 0 {
            return Vec::new();
        }
        let last = if last < 0 { argc as i32 + last } else { last };
        (first..=last.min(argc as i32 - 1))
            .step_by(step as usize)
            .map(|i| i as usize)
            .collect()
    }

    /// Whether the keys are counted by an argument (Redis's "movablekeys").
    pub fn numkeys(&self) -> bool {
        numkeys_position(self.name).is_some()
    }
}

/// Where the key count sits, and whether a destination key comes before it.
fn numkeys_position(name: &str) -> Option<(usize, bool)> {
    match name {
        "lmpop" | "zmpop" | "sintercard" | "zintercard" | "zunion" | "zinter" | "zdiff" => {
            Some((1, false))
        }
        "blmpop" | "bzmpop" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall"
        | "fcall_ro" => Some((2, false)),
        "zunionstore" | "zinterstore" | "zdiffstore" => Some((2, true)),
        _ => None,
    }
}

macro_rules! cmd {
    ($name:literal, $arity:expr, $flags:expr, $acl:expr, $keys:expr, $group:literal, $since:literal, $summary:literal, $cx:literal, $handler:expr) => {
        Command {
            name: $name,
            arity: $arity,
            flags: $flags,
            acl: $acl,
            keys: $keys,
            group: $group,
            since: $since,
            summary: $summary,
            complexity: $cx,
            handler: Some($handler),
            subcommands: &[],
        }
    };
}

macro_rules! container {
    ($name:literal, $arity:expr, $flags:expr, $group:literal, $since:literal, $summary:literal, $subs:expr) => {
        Command {
            name: $name,
            arity: $arity,
            flags: $flags,
            acl: &[],
            keys: (0, 0, 0),
            group: $group,
            since: $since,
            summary: $summary,
            complexity: "Depends on subcommand.",
            handler: None,
            subcommands: $subs,
        }
    };
}

const NONE: (i32, i32, i32) = (0, 0, 0);
const K1: (i32, i32, i32) = (1, 1, 1);
const K2: (i32, i32, i32) = (2, 2, 1);
const K12: (i32, i32, i32) = (1, 2, 1);
const KALL: (i32, i32, i32) = (1, -1, 1);
/// Every argument but the last (a timeout).
const KBUTLAST: (i32, i32, i32) = (1, -2, 1);
const KPAIRS: (i32, i32, i32) = (1, -1, 2);
const ST: &[&str] = &["string"];
const KS: &[&str] = &["keyspace"];
const KSD: &[&str] = &["keyspace", "dangerous"];
const CONN: &[&str] = &["connection"];
const TX: &[&str] = &["transaction"];
const PS: &[&str] = &["pubsub"];
const SC: &[&str] = &["scripting"];
const DANG: &[&str] = &["dangerous"];
const ADM: &[&str] = &["admin", "dangerous"];
const NOACL: &[&str] = &[];
const CF: &[&str] = &["cuckoo"];
const HS: &[&str] = &["hash"];
const LS: &[&str] = &["list"];
const SE: &[&str] = &["set"];
const ZS: &[&str] = &["sortedset"];
const DANG_LSZ: &[&str] = &["set", "sortedset", "list", "dangerous"];
const BM: &[&str] = &["bitmap"];
/// BITOP's keys: the destination, then every source.
const KBITOP: (i32, i32, i32) = (2, -1, 1);
const HL: &[&str] = &["hyperloglog"];

const LSF: u32 = LOADING | STALE | FAST;
const CONN_FLAGS: u32 = NOSCRIPT | LOADING | STALE | SENTINEL;

#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    // strings
    cmd!("get", 2, READONLY | FAST, ST, K1, "string", "1.0.0", "Returns the string value of a key.", "O(1)", string::get),
    cmd!("set", -3, WRITE | DENYOOM, ST, K1, "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "O(1)", string::set),
    cmd!("setnx", 3, WRITE | DENYOOM | FAST | REPAIR | OWNED, ST, K1, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", "O(1)", string::setnx),
    cmd!("setex", 4, WRITE | DENYOOM, ST, K1, "string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "O(1)", string::setex),
    cmd!("psetex", 4, WRITE | DENYOOM, ST, K1, "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "O(1)", string::psetex),
    cmd!("mget", -2, READONLY | FAST, ST, KALL, "string", "1.0.0", "Atomically returns the string values of one or more keys.", "O(N) where N is the number of keys to retrieve.", string::mget),
    cmd!("mset", -3, WRITE | DENYOOM, ST, KPAIRS, "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", "O(N) where N is the number of keys to set.", string::mset),
    cmd!("msetnx", -3, WRITE | DENYOOM | REPAIR | OWNED, ST, KPAIRS, "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "O(N) where N is the number of keys to set.", string::msetnx),
    cmd!("getset", 3, WRITE | DENYOOM | FAST | REPAIR, ST, K1, "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", "O(1)", string::getset),
    cmd!("getdel", 2, WRITE | FAST | REPAIR | OWNED, ST, K1, "string", "6.2.0", "Returns the string value of a key after deleting the key.", "O(1)", string::getdel),
    cmd!("getex", -2, WRITE | FAST | REPAIR | OWNED, ST, K1, "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", "O(1)", string::getex),
    cmd!("incr", 2, WRITE | DENYOOM | FAST | REPAIR | OWNED, ST, K1, "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "O(1)", string::incr),
    cmd!("decr", 2, WRITE | DENYOOM | FAST | REPAIR | OWNED, ST, K1, "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "O(1)", string::decr),
    cmd!("incrby", 3, WRITE | DENYOOM | FAST | REPAIR | OWNED, ST, K1, "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "O(1)", string::incrby),
    cmd!("decrby", 3, WRITE | DENYOOM | FAST | REPAIR | OWNED, ST, K1, "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "O(1)", string::decrby),
    cmd!("incrbyfloat", 3, WRITE | DENYOOM | FAST | REPAIR | OWNED, ST, K1, "string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "O(1)", string::incrbyfloat),
    cmd!("append", 3, WRITE | DENYOOM | FAST | REPAIR | OWNED, ST, K1, "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "O(1)", string::append),
    cmd!("strlen", 2, READONLY | FAST, ST, K1, "string", "2.2.0", "Returns the length of a string value.", "O(1)", string::strlen),
    cmd!("getrange", 4, READONLY, ST, K1, "string", "2.4.0", "Returns a substring of the string stored at a key.", "O(N) where N is the length of the returned string.", string::getrange),
    cmd!("substr", 4, READONLY, ST, K1, "string", "1.0.0", "Returns a substring from a string value.", "O(N) where N is the length of the returned string.", string::getrange),
    cmd!("setrange", 4, WRITE | DENYOOM | REPAIR | OWNED, ST, K1, "string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "O(1), not counting the time taken to copy the new string in place.", string::setrange),
    cmd!("lcs", -3, READONLY, ST, K12, "string", "7.0.0", "Finds the longest common substring.", "O(N*M) where N and M are the lengths of s1 and s2, respectively", string::lcs),
    // bitmaps (on strings)
    cmd!("setbit", 4, WRITE | DENYOOM | REPAIR | OWNED, BM, K1, "bitmap", "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", "O(1)", bits::setbit),
    cmd!("getbit", 3, READONLY | FAST, BM, K1, "bitmap", "2.2.0", "Returns a bit value by offset.", "O(1)", bits::getbit),
    cmd!("bitcount", -2, READONLY, BM, K1, "bitmap", "2.6.0", "Counts the number of set bits (population counting) in a string.", "O(N)", bits::bitcount),
    cmd!("bitpos", -3, READONLY, BM, K1, "bitmap", "2.8.7", "Finds the first set (1) or clear (0) bit in a string.", "O(N)", bits::bitpos),
    cmd!("bitop", -4, WRITE | DENYOOM | REPAIR, BM, KBITOP, "bitmap", "2.6.0", "Performs bitwise operations on multiple strings, and stores the result.", "O(N)", bits::bitop),
    cmd!("bitfield", -2, WRITE | DENYOOM | REPAIR | OWNED, BM, K1, "bitmap", "3.2.0", "Performs arbitrary bitfield integer operations on strings.", "O(1) for each subcommand specified", bits::bitfield),
    cmd!("bitfield_ro", -2, READONLY | FAST, BM, K1, "bitmap", "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.", "O(1) for each subcommand specified", bits::bitfield_ro),
    // keys
    cmd!("del", -2, WRITE | REPAIR, KS, KALL, "generic", "1.0.0", "Deletes one or more keys.", "O(N) where N is the number of keys that will be removed.", key::del),
    cmd!("unlink", -2, WRITE | FAST | REPAIR, KS, KALL, "generic", "4.0.0", "Asynchronously deletes one or more keys.", "O(1) for each key removed regardless of its size.", key::del),
    cmd!("exists", -2, READONLY | FAST, KS, KALL, "generic", "1.0.0", "Determines whether one or more keys exist.", "O(N) where N is the number of keys to check.", key::exists),
    cmd!("type", 2, READONLY | FAST, KS, K1, "generic", "1.0.0", "Determines the type of value stored at a key.", "O(1)", key::type_),
    cmd!("expire", -3, WRITE | FAST | REPAIR | OWNED, KS, K1, "generic", "1.0.0", "Sets the expiration time of a key in seconds.", "O(1)", key::expire),
    cmd!("pexpire", -3, WRITE | FAST | REPAIR | OWNED, KS, K1, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", "O(1)", key::pexpire),
    cmd!("expireat", -3, WRITE | FAST | REPAIR | OWNED, KS, K1, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", "O(1)", key::expireat),
    cmd!("pexpireat", -3, WRITE | FAST | REPAIR | OWNED, KS, K1, "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "O(1)", key::pexpireat),
    cmd!("ttl", 2, READONLY | FAST, KS, K1, "generic", "1.0.0", "Returns the expiration time in seconds of a key.", "O(1)", key::ttl),
    cmd!("pttl", 2, READONLY | FAST, KS, K1, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", "O(1)", key::pttl),
    cmd!("expiretime", 2, READONLY | FAST, KS, K1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", "O(1)", key::expiretime),
    cmd!("pexpiretime", 2, READONLY | FAST, KS, K1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "O(1)", key::pexpiretime),
    cmd!("persist", 2, WRITE | FAST | REPAIR | OWNED, KS, K1, "generic", "2.2.0", "Removes the expiration time of a key.", "O(1)", key::persist),
    cmd!("keys", 2, READONLY, KSD, NONE, "generic", "1.0.0", "Returns all key names that match a pattern.", "O(N) with N being the number of keys in the database", key::keys),
    cmd!("scan", -2, READONLY | TOUCHES_ARBITRARY_KEYS, KS, NONE, "generic", "2.8.0", "Iterates over the key names in the database.", "O(1) for every call. O(N) for a complete iteration.", key::scan),
    cmd!("randomkey", 1, READONLY | TOUCHES_ARBITRARY_KEYS, KS, NONE, "generic", "1.0.0", "Returns a random key name from the database.", "O(1)", key::randomkey),
    cmd!("rename", 3, WRITE | REPAIR, KS, K12, "generic", "1.0.0", "Renames a key and overwrites the destination.", "O(1)", key::rename),
    cmd!("renamenx", 3, WRITE | FAST | REPAIR, KS, K12, "generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", "O(1)", key::renamenx),
    cmd!("copy", -3, WRITE | DENYOOM | REPAIR, KS, K12, "generic", "6.2.0", "Copies the value of a key to a new key.", "O(N) worst case for collections, where N is the number of nested items.", key::copy),
    cmd!("move", 3, WRITE | FAST | REPAIR, KS, K1, "generic", "1.0.0", "Moves a key to another database.", "O(1)", key::move_),
    cmd!("touch", -2, READONLY | FAST, KS, KALL, "generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "O(N) where N is the number of keys that will be touched.", key::touch),
    container!("object", -2, 0, "generic", "2.2.3", "A container for object introspection commands.", OBJECT_SUBS),
    cmd!("dbsize", 1, READONLY | FAST, KS, NONE, "server", "1.0.0", "Returns the number of keys in the database.", "O(1)", key::dbsize),
    cmd!("flushdb", -1, WRITE, KSD, NONE, "server", "1.0.0", "Remove all keys from the current database.", "O(N) where N is the number of keys in the selected database", key::flushdb),
    cmd!("flushall", -1, WRITE, KSD, NONE, "server", "1.0.0", "Removes all keys from all databases.", "O(N) where N is the total number of keys in all databases", key::flushall),
    cmd!("swapdb", 3, WRITE | FAST, KSD, NONE, "server", "4.0.0", "Swaps two Redis databases.", "O(N) where N is the count of clients watching or blocking on keys from both databases.", key::swapdb),
    // connection
    cmd!("ping", -1, FAST | SENTINEL, CONN, NONE, "connection", "1.0.0", "Returns the server's liveliness response.", "O(1)", connection::ping),
    cmd!("echo", 2, LSF, CONN, NONE, "connection", "1.0.0", "Returns the given string.", "O(1)", connection::echo),
    cmd!("select", 2, LSF, CONN, NONE, "connection", "1.0.0", "Changes the selected database.", "O(1)", connection::select),
    cmd!("hello", -1, NOSCRIPT | LSF | NO_AUTH | SENTINEL | ALLOW_BUSY, CONN, NONE, "connection", "6.0.0", "Handshakes with the Redis server.", "O(1)", connection::hello),
    cmd!("auth", -2, NOSCRIPT | LSF | NO_AUTH | SENTINEL | ALLOW_BUSY, CONN, NONE, "connection", "1.0.0", "Authenticates the connection.", "O(N) where N is the number of passwords defined for the user", connection::auth),
    cmd!("quit", -1, ALLOW_BUSY | NOSCRIPT | LSF | NO_AUTH, CONN, NONE, "connection", "1.0.0", "Closes the connection.", "O(1)", connection::quit),
    cmd!("multi", 1, NOSCRIPT | LSF | ALLOW_BUSY, TX, NONE, "transactions", "1.2.0", "Starts a transaction.", "O(1)", transaction::multi),
    cmd!("exec", 1, NOSCRIPT | LOADING | STALE, TX, NONE, "transactions", "1.2.0", "Executes all commands in a transaction.", "Depends on commands in the transaction", transaction::exec),
    cmd!("discard", 1, NOSCRIPT | LSF | ALLOW_BUSY, TX, NONE, "transactions", "2.0.0", "Discards a transaction.", "O(N), when N is the number of queued commands", transaction::discard),
    cmd!("watch", -2, NOSCRIPT | LSF | ALLOW_BUSY, TX, KALL, "transactions", "2.2.0", "Monitors changes to keys to determine the execution of a transaction.", "O(1) for every key.", transaction::watch),
    cmd!("unwatch", 1, NOSCRIPT | LSF | ALLOW_BUSY, TX, NONE, "transactions", "2.2.0", "Forgets about watched keys of a transaction.", "O(1)", transaction::unwatch),
    // scripting
    cmd!("eval", -3, NOSCRIPT | STALE, SC, NONE, "scripting", "2.6.0", "Executes a server-side Lua script.", "Depends on the script that is executed.", scripting::eval),
    cmd!("evalsha", -3, NOSCRIPT | STALE, SC, NONE, "scripting", "2.6.0", "Executes a server-side Lua script by SHA1 digest.", "Depends on the script that is executed.", scripting::evalsha),
    cmd!("eval_ro", -3, NOSCRIPT | STALE | READONLY, SC, NONE, "scripting", "7.0.0", "Executes a read-only server-side Lua script.", "Depends on the script that is executed.", scripting::eval_ro),
    cmd!("evalsha_ro", -3, NOSCRIPT | STALE | READONLY, SC, NONE, "scripting", "7.0.0", "Executes a read-only server-side Lua script by SHA1 digest.", "Depends on the script that is executed.", scripting::evalsha_ro),
    container!("script", -2, 0, "scripting", "2.6.0", "A container for Lua scripts management commands.", SCRIPT_SUBS),
    cmd!("fcall", -3, NOSCRIPT | STALE, SC, NONE, "scripting", "7.0.0", "Invokes a function.", "Depends on the function that is executed.", scripting::fcall),
    cmd!("fcall_ro", -3, NOSCRIPT | STALE | READONLY, SC, NONE, "scripting", "7.0.0", "Invokes a read-only function.", "Depends on the function that is executed.", scripting::fcall_ro),
    container!("function", -2, 0, "scripting", "7.0.0", "A container for function commands.", FUNCTION_SUBS),
    // pub/sub (channels are not keys here: they are not placed on the ring)
    cmd!("subscribe", -2, NOSCRIPT | LOADING | STALE, PS, NONE, "pubsub", "2.0.0", "Listens for messages published to channels.", "O(N) where N is the number of channels to subscribe to.", pubsub::subscribe),
    cmd!("unsubscribe", -1, NOSCRIPT | LOADING | STALE, PS, NONE, "pubsub", "2.0.0", "Stops listening to messages posted to channels.", "O(N) where N is the number of channels to unsubscribe.", pubsub::unsubscribe),
    cmd!("psubscribe", -2, NOSCRIPT | LOADING | STALE, PS, NONE, "pubsub", "2.0.0", "Listens for messages published to channels that match one or more patterns.", "O(N) where N is the number of patterns to subscribe to.", pubsub::psubscribe),
    cmd!("punsubscribe", -1, NOSCRIPT | LOADING | STALE, PS, NONE, "pubsub", "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", "O(N) where N is the number of patterns to unsubscribe.", pubsub::punsubscribe),
    cmd!("ssubscribe", -2, NOSCRIPT | LOADING | STALE, PS, NONE, "pubsub", "7.0.0", "Listens for messages published to shard channels.", "O(N) where N is the number of shard channels to subscribe to.", pubsub::ssubscribe),
    cmd!("sunsubscribe", -1, NOSCRIPT | LOADING | STALE, PS, NONE, "pubsub", "7.0.0", "Stops listening to messages posted to shard channels.", "O(N) where N is the number of shard channels to unsubscribe.", pubsub::sunsubscribe),
    cmd!("publish", 3, LOADING | STALE | FAST, PS, NONE, "pubsub", "2.0.0", "Posts a message to a channel.", "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).", pubsub::publish),
    cmd!("spublish", 3, LOADING | STALE | FAST, PS, NONE, "pubsub", "7.0.0", "Post a message to a shard channel", "O(N) where N is the number of clients subscribed to the receiving shard channel.", pubsub::spublish),
    container!("pubsub", -2, 0, "pubsub", "2.8.0", "A container for Pub/Sub commands.", PUBSUB_SUBS),
    cmd!("reset", 1, NOSCRIPT | LSF | NO_AUTH | ALLOW_BUSY, CONN, NONE, "connection", "6.2.0", "Resets the connection.", "O(1)", connection::reset),
    container!("client", -2, SENTINEL, "connection", "2.4.0", "A container for client connection commands.", CLIENT_SUBS),
    // server
    cmd!("info", -1, LOADING | STALE | SENTINEL, DANG, NONE, "server", "1.0.0", "Returns information and statistics about the server.", "O(1)", info::info),
    // A container that also answers when called bare (COMMAND = COMMAND INFO of everything).
    Command { handler: Some(introspect::command), acl: CONN, ..container!("command", -1, LOADING | STALE | SENTINEL, "server", "2.8.13", "Returns detailed information about all commands.", COMMAND_SUBS) },
    container!("config", -2, 0, "server", "2.0.0", "A container for server configuration commands.", CONFIG_SUBS),
    cmd!("time", 1, LSF, NOACL, NONE, "server", "2.6.0", "Returns the server time.", "O(1)", server::time),
    container!("memory", -2, 0, "server", "4.0.0", "A container for memory diagnostics commands.", MEMORY_SUBS),
    container!("acl", -2, SENTINEL, "server", "6.0.0", "A container for Access List Control commands.", ACL_SUBS),
    container!("slowlog", -2, 0, "server", "2.2.12", "A container for slow log commands.", SLOWLOG_SUBS),
    cmd!("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI, ADM, NONE, "server", "1.0.0", "Listens for all requests received by the server in real-time.", "", operator::monitor),
    container!("latency", -2, 0, "server", "2.8.13", "A container for latency diagnostics commands.", LATENCY_SUBS),
    cmd!("lastsave", 1, LSF, ADM, NONE, "server", "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", "O(1)", persistence::lastsave),
    cmd!("save", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI, ADM, NONE, "server", "1.0.0", "Synchronously saves the database(s) to disk.", "O(N) where N is the total number of keys in all databases", persistence::save),
    cmd!("bgsave", -1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, ADM, NONE, "server", "1.0.0", "Asynchronously saves the database(s) to disk.", "O(1)", persistence::bgsave),
    cmd!("bgrewriteaof", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, ADM, NONE, "server", "1.0.0", "Asynchronously rewrites the append-only file to disk.", "O(1)", persistence::bgrewriteaof),
    cmd!("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE | PROTECTED, NOACL, NONE, "server", "1.0.0", "A container for debugging commands.", "Depends on subcommand.", server::debug),
    cmd!("hchello", 3, INTERNAL | NO_AUTH | LSF, NOACL, NONE, "cluster", "0.1.0", "Internal: opens the peer handshake (node id, nonce).", "O(1)", cluster::hchello),
    cmd!("hcauth", 2, INTERNAL | NO_AUTH | LSF, NOACL, NONE, "cluster", "0.1.0", "Internal: completes the peer handshake (proof of the cluster secret).", "O(1)", cluster::hcauth),
    cmd!("hcrepl", -5, WRITE | INTERNAL | PEER | LOADING | NO_MULTI, NOACL, NONE, "cluster", "0.1.0", "Internal: applies a batch of a peer's mutations.", "O(N)", cluster::hcrepl),
    cmd!("hcindex", 3, READONLY | INTERNAL | PEER | FAST | LOADING, NOACL, NONE, "cluster", "0.1.0", "Internal: the offset of this node's replication stream to the caller (the read index).", "O(1)", cluster::hcindex),
    cmd!("hcexec", -2, INTERNAL | PEER | VIA_HCFWD | NO_MULTI | LOADING | STALE, NOACL, NONE, "cluster", "0.1.0", "Internal: runs a transaction another node queued, with the versions its client watched.", "Depends on commands in the transaction", transaction::hcexec),
    cmd!("hcversions", -2, READONLY | INTERNAL | PEER | VIA_HCFWD | FAST, NOACL, NONE, "cluster", "0.1.0", "Internal: the versions of keys another node's client WATCHes.", "O(N)", transaction::hcversions),
    cmd!("hcget", 3, READONLY | INTERNAL | PEER, NOACL, NONE, "cluster", "0.1.0", "Internal: a key's version (stamp, deadline, value) for read-repair.", "O(1)", cluster::hcget),
    cmd!("hcdigest", -3, READONLY | INTERNAL | PEER, NOACL, NONE, "cluster", "0.1.0", "Internal: per-range digests for anti-entropy.", "O(N)", cluster::hcdigest),
    cmd!("hcrange", -4, READONLY | INTERNAL | PEER, NOACL, NONE, "cluster", "0.1.0", "Internal: the keys and stamps of some digest ranges.", "O(N)", cluster::hcrange),
    cmd!("hcstamp", 3, READONLY | INTERNAL, NOACL, NONE, "cluster", "0.1.0", "The stamp (Lamport time, node) of a key's current version.", "O(1)", cluster::hcstamp),
    cmd!("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | SENTINEL | ALLOW_BUSY, NOACL, NONE, "server", "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)", server::shutdown),
    cmd!("stores", 1, LOADING | STALE, NOACL, NONE, "server", "0.1.0", "Lists the stores of this node (HyperCache).", "O(N) where N is the number of stores", server::stores),
    // RedisBloom's cuckoo filters.
    cmd!("hset", -4, WRITE | DENYOOM | FAST | REPAIR | OWNED, HS, K1, "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.", hash::hset),
    cmd!("hsetnx", 4, WRITE | DENYOOM | FAST | REPAIR | OWNED, HS, K1, "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", "O(1)", hash::hsetnx),
    cmd!("hmset", -4, WRITE | DENYOOM | FAST | REPAIR | OWNED, HS, K1, "hash", "2.0.0", "Sets the values of multiple fields.", "O(N) where N is the number of fields being set.", hash::hmset),
    cmd!("hget", 3, READONLY | FAST, HS, K1, "hash", "2.0.0", "Returns the value of a field in a hash.", "O(1)", hash::hget),
    cmd!("hmget", -3, READONLY | FAST, HS, K1, "hash", "2.0.0", "Returns the values of all fields in a hash.", "O(N) where N is the number of fields being requested.", hash::hmget),
    cmd!("hdel", -3, WRITE | FAST | REPAIR | OWNED, HS, K1, "hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "O(N) where N is the number of fields to be removed.", hash::hdel),
    cmd!("hlen", 2, READONLY | FAST, HS, K1, "hash", "2.0.0", "Returns the number of fields in a hash.", "O(1)", hash::hlen),
    cmd!("hstrlen", 3, READONLY | FAST, HS, K1, "hash", "3.2.0", "Returns the length of the value of a field.", "O(1)", hash::hstrlen),
    cmd!("hexists", 3, READONLY | FAST, HS, K1, "hash", "2.0.0", "Determines whether a field exists in a hash.", "O(1)", hash::hexists),
    cmd!("hkeys", 2, READONLY, HS, K1, "hash", "2.0.0", "Returns all fields in a hash.", "O(N) where N is the size of the hash.", hash::hkeys),
    cmd!("hvals", 2, READONLY, HS, K1, "hash", "2.0.0", "Returns all values in a hash.", "O(N) where N is the size of the hash.", hash::hvals),
    cmd!("hgetall", 2, READONLY, HS, K1, "hash", "2.0.0", "Returns all fields and values in a hash.", "O(N) where N is the size of the hash.", hash::hgetall),
    cmd!("hincrby", 4, WRITE | DENYOOM | FAST | REPAIR | OWNED, HS, K1, "hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", "O(1)", hash::hincrby),
    cmd!("hincrbyfloat", 4, WRITE | DENYOOM | FAST | REPAIR | OWNED, HS, K1, "hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", "O(1)", hash::hincrbyfloat),
    cmd!("hrandfield", -2, READONLY, HS, K1, "hash", "6.2.0", "Returns one or more random fields from a hash.", "O(N) where N is the number of fields returned", hash::hrandfield),
    cmd!("hscan", -3, READONLY, HS, K1, "hash", "2.8.0", "Iterates over fields and values of a hash.", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the size of the collection inside the collection.", hash::hscan),
    cmd!("lpush", -3, WRITE | DENYOOM | FAST | REPAIR | OWNED, LS, K1, "list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", list::lpush),
    cmd!("rpush", -3, WRITE | DENYOOM | FAST | REPAIR | OWNED, LS, K1, "list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", list::rpush),
    cmd!("lpushx", -3, WRITE | DENYOOM | FAST | REPAIR | OWNED, LS, K1, "list", "2.2.0", "Prepends one or more elements to a list only when the list exists.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", list::lpushx),
    cmd!("rpushx", -3, WRITE | DENYOOM | FAST | REPAIR | OWNED, LS, K1, "list", "2.2.0", "Appends an element to a list only when the list exists.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", list::rpushx),
    cmd!("lpop", -2, WRITE | FAST | REPAIR | OWNED, LS, K1, "list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "O(N) where N is the number of elements returned", list::lpop),
    cmd!("rpop", -2, WRITE | FAST | REPAIR | OWNED, LS, K1, "list", "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "O(N) where N is the number of elements returned", list::rpop),
    cmd!("llen", 2, READONLY | FAST, LS, K1, "list", "1.0.0", "Returns the length of a list.", "O(1)", list::llen),
    cmd!("lindex", 3, READONLY, LS, K1, "list", "1.0.0", "Returns an element from a list by its index.", "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).", list::lindex),
    cmd!("lset", 4, WRITE | DENYOOM | REPAIR | OWNED, LS, K1, "list", "1.0.0", "Sets the value of an element in a list by its index.", "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).", list::lset),
    cmd!("lrange", 4, READONLY, LS, K1, "list", "1.0.0", "Returns a range of elements from a list.", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.", list::lrange),
    cmd!("ltrim", 4, WRITE | REPAIR | OWNED, LS, K1, "list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", "O(N) where N is the number of elements to be removed by the operation.", list::ltrim),
    cmd!("linsert", 5, WRITE | DENYOOM | REPAIR | OWNED, LS, K1, "list", "2.2.0", "Inserts an element before or after another element in a list.", "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).", list::linsert),
    cmd!("lrem", 4, WRITE | REPAIR | OWNED, LS, K1, "list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", "O(N+M) where N is the length of the list and M is the number of elements removed.", list::lrem),
    cmd!("lpos", -3, READONLY, LS, K1, "list", "6.0.6", "Returns the index of matching elements in a list.", "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.", list::lpos),
    cmd!("lmove", 5, WRITE | DENYOOM | REPAIR | OWNED, LS, K12, "list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", "O(1)", list::lmove),
    cmd!("rpoplpush", 3, WRITE | DENYOOM | REPAIR | OWNED, LS, K12, "list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", "O(1)", list::rpoplpush),
    cmd!("lmpop", -4, WRITE | OWNED, LS, NONE, "list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", list::lmpop),
    cmd!("sadd", -3, WRITE | DENYOOM | FAST | REPAIR | OWNED, SE, K1, "set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", set::sadd),
    cmd!("srem", -3, WRITE | FAST | REPAIR | OWNED, SE, K1, "set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", "O(N) where N is the number of members to be removed.", set::srem),
    cmd!("scard", 2, READONLY | FAST, SE, K1, "set", "1.0.0", "Returns the number of members in a set.", "O(1)", set::scard),
    cmd!("sismember", 3, READONLY | FAST, SE, K1, "set", "1.0.0", "Determines whether a member belongs to a set.", "O(1)", set::sismember),
    cmd!("smismember", -3, READONLY | FAST, SE, K1, "set", "6.2.0", "Determines whether multiple members belong to a set.", "O(N) where N is the number of elements being checked for membership", set::smismember),
    cmd!("smembers", 2, READONLY, SE, K1, "set", "1.0.0", "Returns all members of a set.", "O(N) where N is the set cardinality.", set::smembers),
    cmd!("spop", -2, WRITE | FAST | REPAIR | OWNED, SE, K1, "set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.", set::spop),
    cmd!("srandmember", -2, READONLY, SE, K1, "set", "1.0.0", "Get one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.", set::srandmember),
    cmd!("smove", 4, WRITE | FAST | REPAIR | OWNED, SE, K12, "set", "1.0.0", "Moves a member from one set to another.", "O(1)", set::smove),
    cmd!("sinter", -2, READONLY, SE, KALL, "set", "1.0.0", "Returns the intersect of multiple sets.", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", set::sinter),
    cmd!("sinterstore", -3, WRITE | DENYOOM | REPAIR, SE, KALL, "set", "1.0.0", "Stores the intersect of multiple sets in a key.", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", set::sinterstore),
    cmd!("sintercard", -3, READONLY, SE, NONE, "set", "7.0.0", "Returns the number of members of the intersect of multiple sets.", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", set::sintercard),
    cmd!("sunion", -2, READONLY, SE, KALL, "set", "1.0.0", "Returns the union of multiple sets.", "O(N) where N is the total number of elements in all given sets.", set::sunion),
    cmd!("sunionstore", -3, WRITE | DENYOOM | REPAIR, SE, KALL, "set", "1.0.0", "Stores the union of multiple sets in a key.", "O(N) where N is the total number of elements in all given sets.", set::sunionstore),
    cmd!("sdiff", -2, READONLY, SE, KALL, "set", "1.0.0", "Returns the difference of multiple sets.", "O(N) where N is the total number of elements in all given sets.", set::sdiff),
    cmd!("sdiffstore", -3, WRITE | DENYOOM | REPAIR, SE, KALL, "set", "1.0.0", "Stores the difference of multiple sets in a key.", "O(N) where N is the total number of elements in all given sets.", set::sdiffstore),
    cmd!("sscan", -3, READONLY, SE, K1, "set", "2.8.0", "Iterates over members of a set.", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the size of the collection inside the collection.", set::sscan),
    cmd!("zadd", -4, WRITE | DENYOOM | FAST | REPAIR | OWNED, ZS, K1, "sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", "O(log(N)) for each item added, where N is the number of elements in the sorted set.", zset::zadd),
    cmd!("zincrby", 4, WRITE | DENYOOM | FAST | REPAIR | OWNED, ZS, K1, "sorted-set", "1.2.0", "Increments the score of a member in a sorted set.", "O(log(N)) where N is the number of elements in the sorted set.", zset::zincrby),
    cmd!("zrem", -3, WRITE | FAST | REPAIR | OWNED, ZS, K1, "sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.", zset::zrem),
    cmd!("zcard", 2, READONLY | FAST, ZS, K1, "sorted-set", "1.2.0", "Returns the number of members in a sorted set.", "O(1)", zset::zcard),
    cmd!("zcount", 4, READONLY | FAST, ZS, K1, "sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", "O(log(N)) with N being the number of elements in the sorted set.", zset::zcount),
    cmd!("zlexcount", 4, READONLY | FAST, ZS, K1, "sorted-set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", "O(log(N)) with N being the number of elements in the sorted set.", zset::zlexcount),
    cmd!("zscore", 3, READONLY | FAST, ZS, K1, "sorted-set", "1.2.0", "Returns the score of a member in a sorted set.", "O(1)", zset::zscore),
    cmd!("zmscore", -3, READONLY | FAST, ZS, K1, "sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set.", "O(N) where N is the number of members being requested.", zset::zmscore),
    cmd!("zrank", 3, READONLY | FAST, ZS, K1, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", "O(log(N))", zset::zrank),
    cmd!("zrevrank", 3, READONLY | FAST, ZS, K1, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", "O(log(N))", zset::zrevrank),
    cmd!("zrange", -4, READONLY, ZS, K1, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", zset::zrange),
    cmd!("zrangestore", -5, WRITE | DENYOOM | REPAIR, ZS, K12, "sorted-set", "6.2.0", "Stores a range of members from sorted set in a key.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.", zset::zrangestore),
    cmd!("zrangebyscore", -4, READONLY, ZS, K1, "sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", zset::zrangebyscore),
    cmd!("zrevrangebyscore", -4, READONLY, ZS, K1, "sorted-set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", zset::zrevrangebyscore),
    cmd!("zrangebylex", -4, READONLY, ZS, K1, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", zset::zrangebylex),
    cmd!("zrevrangebylex", -4, READONLY, ZS, K1, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", zset::zrevrangebylex),
    cmd!("zrevrange", -4, READONLY, ZS, K1, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", zset::zrevrange),
    cmd!("zremrangebyrank", 4, WRITE | REPAIR | OWNED, ZS, K1, "sorted-set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", zset::zremrangebyrank),
    cmd!("zremrangebyscore", 4, WRITE | REPAIR | OWNED, ZS, K1, "sorted-set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", zset::zremrangebyscore),
    cmd!("zremrangebylex", 4, WRITE | REPAIR | OWNED, ZS, K1, "sorted-set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", zset::zremrangebylex),
    cmd!("zpopmin", -2, WRITE | FAST | REPAIR | OWNED, ZS, K1, "sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", zset::zpopmin),
    cmd!("zpopmax", -2, WRITE | FAST | REPAIR | OWNED, ZS, K1, "sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", zset::zpopmax),
    cmd!("zmpop", -4, WRITE | OWNED, ZS, NONE, "sorted-set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", zset::zmpop),
    cmd!("zrandmember", -2, READONLY, ZS, K1, "sorted-set", "6.2.0", "Returns one or more random members from a sorted set.", "O(N) where N is the number of members returned", zset::zrandmember),
    cmd!("zunion", -3, READONLY, ZS, NONE, "sorted-set", "6.2.0", "Returns the union of multiple sorted sets.", "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", zset::zunion),
    cmd!("zinter", -3, READONLY, ZS, NONE, "sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets.", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", zset::zinter),
    cmd!("zdiff", -3, READONLY, ZS, NONE, "sorted-set", "6.2.0", "Returns the difference between multiple sorted sets.", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", zset::zdiff),
    cmd!("zunionstore", -4, WRITE | DENYOOM | REPAIR, ZS, K1, "sorted-set", "2.0.0", "Stores the union of multiple sorted sets in a key.", "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", zset::zunionstore),
    cmd!("zinterstore", -4, WRITE | DENYOOM | REPAIR, ZS, K1, "sorted-set", "2.0.0", "Stores the intersect of multiple sorted sets in a key.", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", zset::zinterstore),
    cmd!("zdiffstore", -4, WRITE | DENYOOM | REPAIR, ZS, K1, "sorted-set", "6.2.0", "Stores the difference of multiple sorted sets in a key.", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", zset::zdiffstore),
    cmd!("zintercard", -3, READONLY, ZS, NONE, "sorted-set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.", "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.", zset::zintercard),
    cmd!("zscan", -3, READONLY, ZS, K1, "sorted-set", "2.8.0", "Iterates over members and scores of a sorted set.", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.", zset::zscan),
    cmd!("blpop", -3, WRITE | BLOCKING | OWNED, LS, KBUTLAST, "list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N) where N is the number of provided keys.", list::blpop),
    cmd!("brpop", -3, WRITE | BLOCKING | OWNED, LS, KBUTLAST, "list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N) where N is the number of provided keys.", list::brpop),
    cmd!("blmove", 6, WRITE | DENYOOM | BLOCKING | OWNED, LS, K12, "list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "O(1)", list::blmove),
    cmd!("brpoplpush", 4, WRITE | DENYOOM | BLOCKING | OWNED, LS, K12, "list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", "O(1)", list::brpoplpush),
    cmd!("blmpop", -5, WRITE | BLOCKING | OWNED, LS, NONE, "list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", list::blmpop),
    cmd!("bzpopmin", -3, WRITE | FAST | BLOCKING | OWNED, ZS, KBUTLAST, "sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "O(log(N)) with N being the number of elements in the sorted set.", zset::bzpopmin),
    cmd!("bzpopmax", -3, WRITE | FAST | BLOCKING | OWNED, ZS, KBUTLAST, "sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", "O(log(N)) with N being the number of elements in the sorted set.", zset::bzpopmax),
    cmd!("bzmpop", -5, WRITE | BLOCKING | OWNED, ZS, NONE, "sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", zset::bzmpop),
    cmd!("sort", -2, WRITE | DENYOOM | TOUCHES_ARBITRARY_KEYS, DANG_LSZ, K1, "generic", "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", sort::sort),
    cmd!("sort_ro", -2, READONLY | TOUCHES_ARBITRARY_KEYS, DANG_LSZ, K1, "generic", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", sort::sort_ro),
    cmd!("pfadd", -2, WRITE | DENYOOM | FAST | REPAIR | OWNED, HL, K1, "hyperloglog", "2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", "O(1) to add every element.", hll::pfadd),
    // Read-only, though a stale cached cardinality is refreshed in the value (as in Redis).
    cmd!("pfcount", -2, READONLY | OWNED, HL, KALL, "hyperloglog", "2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).", "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.", hll::pfcount),
    cmd!("pfmerge", -2, WRITE | DENYOOM | REPAIR | OWNED, HL, KALL, "hyperloglog", "2.8.9", "Merges one or more HyperLogLog values into a single key.", "O(N) to merge N HyperLogLogs, but with high constant times.", hll::pfmerge),
    cmd!("pfdebug", 3, WRITE | DENYOOM | ADMIN | REPAIR, HL, K2, "hyperloglog", "2.8.9", "Internal commands for debugging HyperLogLog values.", "N/A", hll::pfdebug),
    cmd!("cf.reserve", -3, WRITE | DENYOOM | REPAIR, CF, K1, "cf", "1.0.0", "Creates a new Cuckoo Filter", "O(1)", cuckoo::reserve),
    cmd!("cf.add", 3, WRITE | DENYOOM | FAST | REPAIR | OWNED, CF, K1, "cf", "1.0.0", "Adds an item to a Cuckoo Filter", "O(k + i), where k is the number of sub-filters and i is maxIterations", cuckoo::cf_add),
    cmd!("cf.addnx", 3, WRITE | DENYOOM | FAST | REPAIR | OWNED, CF, K1, "cf", "1.0.0", "Adds an item to a Cuckoo Filter if the item did not exist previously.", "O(k + i), where k is the number of sub-filters and i is maxIterations", cuckoo::cf_addnx),
    cmd!("cf.insert", -4, WRITE | DENYOOM | REPAIR | OWNED, CF, K1, "cf", "1.0.0", "Adds one or more items to a Cuckoo Filter. A filter will be created if it does not exist", "O(n * (k + i)), where n is the number of items, k is the number of sub-filters and i is maxIterations", cuckoo::cf_insert),
    cmd!("cf.insertnx", -4, WRITE | DENYOOM | REPAIR | OWNED, CF, K1, "cf", "1.0.0", "Adds one or more items to a Cuckoo Filter if the items did not exist previously. A filter will be created if it does not exist", "O(n * (k + i)), where n is the number of items, k is the number of sub-filters and i is maxIterations", cuckoo::cf_insertnx),
    cmd!("cf.exists", 3, READONLY | FAST, CF, K1, "cf", "1.0.0", "Checks whether one or more items exist in a Cuckoo Filter", "O(k), where k is the number of sub-filters", cuckoo::cf_exists),
    cmd!("cf.mexists", -3, READONLY | FAST, CF, K1, "cf", "2.0.0", "Checks whether one or more items exist in a Cuckoo Filter", "O(k * n), where k is the number of sub-filters and n is the number of items", cuckoo::cf_mexists),
    cmd!("cf.count", 3, READONLY | FAST, CF, K1, "cf", "1.0.0", "Return the number of times an item might be in a Cuckoo Filter", "O(k), where k is the number of sub-filters", cuckoo::cf_count),
    cmd!("cf.del", 3, WRITE | FAST | REPAIR | OWNED, CF, K1, "cf", "1.0.0", "Deletes an item from a Cuckoo Filter", "O(k), where k is the number of sub-filters", cuckoo::cf_del),
    cmd!("cf.info", 2, READONLY | FAST, CF, K1, "cf", "1.0.0", "Returns information about a Cuckoo Filter", "O(1)", cuckoo::cf_info),
];

#[rustfmt::skip]
static OBJECT_SUBS: &[Command] = &[
    cmd!("encoding", 3, READONLY, KS, K2, "generic", "2.2.3", "Returns the internal encoding of a Redis object.", "O(1)", key::object_encoding),
    cmd!("freq", 3, READONLY, KS, K2, "generic", "4.0.0", "Returns the logarithmic access frequency counter of a Redis object.", "O(1)", key::object_freq),
    cmd!("idletime", 3, READONLY, KS, K2, "generic", "2.2.3", "Returns the time since the last access to a Redis object.", "O(1)", key::object_idletime),
    cmd!("refcount", 3, READONLY, KS, K2, "generic", "2.2.3", "Returns the reference count of a value of a key.", "O(1)", key::object_refcount),
    cmd!("help", 2, LOADING | STALE, KS, NONE, "generic", "6.2.0", "Returns helpful text about the different subcommands.", "O(1)", key::object_help),
];

#[rustfmt::skip]
static CLIENT_SUBS: &[Command] = &[
    cmd!("id", 2, CONN_FLAGS, CONN, NONE, "connection", "5.0.0", "Returns the unique client ID of the connection.", "O(1)", connection::client_id),
    cmd!("setname", 3, CONN_FLAGS, CONN, NONE, "connection", "2.6.9", "Sets the connection name.", "O(1)", connection::client_setname),
    cmd!("getname", 2, CONN_FLAGS, CONN, NONE, "connection", "2.6.9", "Returns the name of the connection.", "O(1)", connection::client_getname),
    cmd!("list", -2, ADMIN | CONN_FLAGS, CONN, NONE, "connection", "2.4.0", "Lists open connections.", "O(N) where N is the number of client connections", connection::client_list),
    cmd!("info", 2, CONN_FLAGS, CONN, NONE, "connection", "6.2.0", "Returns information about the connection.", "O(1)", connection::client_info),
    cmd!("kill", -3, ADMIN | CONN_FLAGS, CONN, NONE, "connection", "2.4.0", "Terminates open connections.", "O(N) where N is the number of client connections", connection::client_kill),
    cmd!("setinfo", 4, CONN_FLAGS, CONN, NONE, "connection", "7.2.0", "Sets information specific to the client or connection.", "O(1)", connection::client_setinfo),
    cmd!("unblock", -3, ADMIN | CONN_FLAGS, CONN, NONE, "connection", "5.0.0", "Unblocks a client blocked by a blocking command from a different connection.", "O(log N) where N is the number of client connections", connection::client_unblock),
    cmd!("no-evict", 3, ADMIN | CONN_FLAGS, CONN, NONE, "connection", "7.0.0", "Sets the client eviction mode of the connection.", "O(1)", connection::client_no_evict),
    cmd!("no-touch", 3, CONN_FLAGS, CONN, NONE, "connection", "7.2.0", "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.", "O(1)", connection::client_no_touch),
    cmd!("reply", 3, CONN_FLAGS, CONN, NONE, "connection", "3.2.0", "Instructs the server whether to reply to commands.", "O(1)", connection::client_reply),
    cmd!("tracking", -3, CONN_FLAGS, CONN, NONE, "connection", "6.0.0", "Controls server-assisted client-side caching for the connection.", "O(1). Some options may introduce additional complexity.", connection::client_tracking),
    cmd!("caching", 3, CONN_FLAGS, CONN, NONE, "connection", "6.0.0", "Instructs the server whether to track the keys in the next request.", "O(1)", connection::client_caching),
    cmd!("getredir", 2, CONN_FLAGS, CONN, NONE, "connection", "6.0.0", "Returns the client ID to which the connection's tracking notifications are redirected.", "O(1)", connection::client_getredir),
    cmd!("trackinginfo", 2, CONN_FLAGS, CONN, NONE, "connection", "6.2.0", "Returns information about server-assisted client-side caching for the connection.", "O(1)", connection::client_trackinginfo),
    cmd!("help", 2, LOADING | STALE | SENTINEL, CONN, NONE, "connection", "5.0.0", "Returns helpful text about the different subcommands.", "O(1)", connection::client_help),
];

#[rustfmt::skip]
static COMMAND_SUBS: &[Command] = &[
    cmd!("count", 2, LOADING | STALE | SENTINEL, CONN, NONE, "server", "2.8.13", "Returns a count of commands.", "O(1)", introspect::command_count),
    cmd!("list", -2, LOADING | STALE | SENTINEL, CONN, NONE, "server", "7.0.0", "Returns a list of command names.", "O(N) where N is the total number of Redis commands", introspect::command_list),
    cmd!("info", -2, LOADING | STALE | SENTINEL, CONN, NONE, "server", "2.8.13", "Returns information about one, multiple or all commands.", "O(N) where N is the number of commands to look up", introspect::command_info),
    cmd!("docs", -2, LOADING | STALE | SENTINEL, CONN, NONE, "server", "7.0.0", "Returns documentary information about one, multiple or all commands.", "O(N) where N is the number of commands to look up", introspect::command_docs),
    cmd!("getkeys", -4, LOADING | STALE | SENTINEL, CONN, NONE, "server", "2.8.13", "Extracts the key names from an arbitrary command.", "O(N) where N is the number of arguments to the command", introspect::command_getkeys),
    cmd!("help", 2, LOADING | STALE | SENTINEL, CONN, NONE, "server", "5.0.0", "Returns helpful text about the different subcommands.", "O(1)", introspect::command_help),
];

#[rustfmt::skip]
static FUNCTION_SUBS: &[Command] = &[
    cmd!("load", -3, WRITE | DENYOOM | NOSCRIPT, SC, NONE, "scripting", "7.0.0", "Creates a library.", "O(1) (considering compilation time is redundant)", scripting::function_manage),
    cmd!("delete", 3, WRITE | NOSCRIPT, SC, NONE, "scripting", "7.0.0", "Deletes a library and its functions.", "O(1)", scripting::function_manage),
    cmd!("flush", -2, WRITE | NOSCRIPT, SC, NONE, "scripting", "7.0.0", "Deletes all libraries and functions.", "O(N) where N is the number of functions deleted", scripting::function_manage),
    cmd!("list", -2, NOSCRIPT, SC, NONE, "scripting", "7.0.0", "Returns information about all libraries.", "O(N) where N is the number of functions", scripting::function_manage),
    cmd!("dump", 2, NOSCRIPT, SC, NONE, "scripting", "7.0.0", "Dumps all libraries into a serialized binary payload.", "O(N) where N is the number of functions", scripting::function_manage),
    cmd!("restore", -3, WRITE | DENYOOM | NOSCRIPT, SC, NONE, "scripting", "7.0.0", "Restores all libraries from a payload.", "O(N) where N is the number of functions on the payload", scripting::function_manage),
    cmd!("stats", 2, NOSCRIPT | ALLOW_BUSY, SC, NONE, "scripting", "7.0.0", "Returns information about a function during execution.", "O(1)", scripting::function_stats),
    cmd!("kill", 2, NOSCRIPT | ALLOW_BUSY, SC, NONE, "scripting", "7.0.0", "Terminates a function during execution.", "O(1)", scripting::function_kill),
    cmd!("help", 2, LOADING | STALE, SC, NONE, "scripting", "7.0.0", "Returns helpful text about the different subcommands.", "O(1)", scripting::function_help),
];

#[rustfmt::skip]
static SCRIPT_SUBS: &[Command] = &[
    cmd!("load", 3, NOSCRIPT | STALE, SC, NONE, "scripting", "2.6.0", "Loads a server-side Lua script to the script cache.", "O(N) with N being the length in bytes of the script body.", scripting::script_load),
    cmd!("exists", -3, NOSCRIPT, SC, NONE, "scripting", "2.6.0", "Determines whether server-side Lua scripts exist in the script cache.", "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).", scripting::script_exists),
    cmd!("flush", -2, NOSCRIPT, SC, NONE, "scripting", "2.6.0", "Removes all server-side Lua scripts from the script cache.", "O(N) with N being the number of scripts in cache", scripting::script_flush),
    cmd!("kill", 2, NOSCRIPT | ALLOW_BUSY, SC, NONE, "scripting", "2.6.0", "Terminates a server-side Lua script during execution.", "O(1)", scripting::script_kill),
    cmd!("help", 2, LOADING | STALE, SC, NONE, "scripting", "5.0.0", "Returns helpful text about the different subcommands.", "O(1)", scripting::script_help),
];

#[rustfmt::skip]
static PUBSUB_SUBS: &[Command] = &[
    cmd!("channels", -2, LOADING | STALE, PS, NONE, "pubsub", "2.8.0", "Returns the active channels.", "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)", pubsub::pubsub),
    cmd!("numsub", -2, LOADING | STALE, PS, NONE, "pubsub", "2.8.0", "Returns a count of subscribers to channels.", "O(N) for the NUMSUB subcommand, where N is the number of requested channels", pubsub::pubsub),
    cmd!("numpat", 2, LOADING | STALE, PS, NONE, "pubsub", "2.8.0", "Returns a count of unique pattern subscriptions.", "O(1)", pubsub::pubsub),
    cmd!("shardchannels", -2, LOADING | STALE, PS, NONE, "pubsub", "7.0.0", "Returns the active shard channels.", "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).", pubsub::pubsub),
    cmd!("shardnumsub", -2, LOADING | STALE, PS, NONE, "pubsub", "7.0.0", "Returns the count of subscribers of shard channels.", "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels", pubsub::pubsub),
    cmd!("help", 2, LOADING | STALE, NOACL, NONE, "pubsub", "6.2.0", "Returns helpful text about the different subcommands.", "O(1)", pubsub::pubsub),
];

#[rustfmt::skip]
static CONFIG_SUBS: &[Command] = &[
    cmd!("get", -3, ADMIN | NOSCRIPT | LOADING | STALE, NOACL, NONE, "server", "2.0.0", "Returns the effective values of configuration parameters.", "O(N) when N is the number of configuration parameters provided", config::config_get),
    cmd!("set", -4, ADMIN | NOSCRIPT | LOADING | STALE, NOACL, NONE, "server", "2.0.0", "Sets configuration parameters in-flight.", "O(N) when N is the number of configuration parameters provided", config::config_set),
    cmd!("resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, NOACL, NONE, "server", "2.0.0", "Resets the server's statistics.", "O(1)", config::config_resetstat),
    cmd!("rewrite", 2, ADMIN | NOSCRIPT | LOADING | STALE, NOACL, NONE, "server", "2.8.0", "Persists the effective configuration to file.", "O(1)", config::config_rewrite),
    cmd!("help", 2, LOADING | STALE, NOACL, NONE, "server", "5.0.0", "Returns helpful text about the different subcommands.", "O(1)", config::config_help),
];

#[rustfmt::skip]
static MEMORY_SUBS: &[Command] = &[
    cmd!("usage", -3, READONLY, NOACL, K2, "server", "4.0.0", "Estimates the memory usage of a key.", "O(N) where N is the number of samples.", server::memory_usage),
    cmd!("stats", 2, 0, NOACL, NONE, "server", "4.0.0", "Returns details about memory usage.", "O(1)", server::memory_stats),
    cmd!("help", 2, LOADING | STALE, NOACL, NONE, "server", "4.0.0", "Returns helpful text about the different subcommands.", "O(1)", server::memory_help),
];

const ACLF: u32 = NOSCRIPT | LOADING | STALE | SENTINEL;

#[rustfmt::skip]
static ACL_SUBS: &[Command] = &[
    cmd!("cat", -2, ACLF, NOACL, NONE, "server", "6.0.0", "Lists the ACL categories, or the commands inside a category.", "O(1) since the categories and commands are a fixed set.", acl::cat),
    cmd!("deluser", -3, ADMIN | ACLF, ADM, NONE, "server", "6.0.0", "Deletes ACL users, and terminates their connections.", "O(1) amortized time considering the typical user.", acl::deluser),
    cmd!("dryrun", -4, ADMIN | ACLF, ADM, NONE, "server", "7.0.0", "Simulates the execution of a command by a user, without executing the command.", "O(1).", acl::dryrun),
    cmd!("genpass", -2, ACLF, NOACL, NONE, "server", "6.0.0", "Generates a pseudorandom, secure password that can be used to identify ACL users.", "O(1)", acl::genpass),
    cmd!("getuser", 3, ADMIN | ACLF, ADM, NONE, "server", "6.0.0", "Lists the ACL rules of a user.", "O(N). Where N is the number of password, command and pattern rules that the user has.", acl::getuser),
    cmd!("help", 2, LOADING | STALE | SENTINEL, NOACL, NONE, "server", "6.0.0", "Returns helpful text about the different subcommands.", "O(1)", acl::help),
    cmd!("list", 2, ADMIN | ACLF, ADM, NONE, "server", "6.0.0", "Dumps the effective rules in ACL file format.", "O(N). Where N is the number of configured users.", acl::list),
    cmd!("load", 2, ADMIN | ACLF, ADM, NONE, "server", "6.0.0", "Reloads the rules from the configured ACL file.", "O(N). Where N is the number of configured users.", acl::load),
    cmd!("log", -2, ADMIN | ACLF, ADM, NONE, "server", "6.0.0", "Lists recent security events generated due to commands rejected by ACL rules.", "O(N) with N being the number of entries shown.", acl::log),
    cmd!("save", 2, ADMIN | ACLF, ADM, NONE, "server", "6.0.0", "Saves the effective ACL rules in the configured ACL file.", "O(N). Where N is the number of configured users.", acl::save),
    cmd!("setuser", -3, ADMIN | ACLF, ADM, NONE, "server", "6.0.0", "Creates and modifies an ACL user and its rules.", "O(N). Where N is the number of rules provided.", acl::setuser),
    cmd!("users", 2, ADMIN | ACLF, ADM, NONE, "server", "6.0.0", "Lists all ACL users.", "O(N). Where N is the number of configured users.", acl::users),
    cmd!("whoami", 2, ACLF, NOACL, NONE, "server", "6.0.0", "Returns the authenticated username of the current connection.", "O(1)", acl::whoami),
];

#[rustfmt::skip]
static SLOWLOG_SUBS: &[Command] = &[
    cmd!("get", -2, ADMIN | LOADING | STALE, ADM, NONE, "server", "2.2.12", "Returns the slow log's entries.", "O(N) where N is the number of entries returned", operator::slowlog_get),
    cmd!("len", 2, ADMIN | LOADING | STALE, ADM, NONE, "server", "2.2.12", "Returns the number of entries in the slow log.", "O(1)", operator::slowlog_len),
    cmd!("reset", 2, ADMIN | LOADING | STALE, ADM, NONE, "server", "2.2.12", "Clears all entries from the slow log.", "O(N) where N is the number of entries in the slowlog", operator::slowlog_reset),
    cmd!("help", 2, LOADING | STALE, NOACL, NONE, "server", "6.2.0", "Show helpful text about the different subcommands", "O(1)", operator::slowlog_help),
];

#[rustfmt::skip]
static LATENCY_SUBS: &[Command] = &[
    cmd!("latest", 2, ADMIN | NOSCRIPT | LOADING | STALE, ADM, NONE, "server", "2.8.13", "Returns the latest latency samples for all events.", "O(1)", operator::latency_latest),
    cmd!("history", 3, ADMIN | NOSCRIPT | LOADING | STALE, ADM, NONE, "server", "2.8.13", "Returns timestamp-latency samples for an event.", "O(1)", operator::latency_history),
    cmd!("reset", -2, ADMIN | NOSCRIPT | LOADING | STALE, ADM, NONE, "server", "2.8.13", "Resets the latency data for one or more events.", "O(1)", operator::latency_reset),
    cmd!("doctor", 2, ADMIN | NOSCRIPT | LOADING | STALE, ADM, NONE, "server", "2.8.13", "Returns a human-readable latency analysis report.", "O(1)", operator::latency_doctor),
    cmd!("help", 2, LOADING | STALE, NOACL, NONE, "server", "2.8.13", "Returns helpful text about the different subcommands.", "O(1)", operator::latency_help),
];

/// Names are at most this long (Redis's longest is 20).
const MAX_NAME: usize = 32;
/// A name's shape: its length and first letter (26 for anything else).
fn shape(name: &[u8]) -> Option<usize> {
    let len = name.len();
    if len == 0 || len > MAX_NAME {
        return None;
    }
    let b = name[0] | 0x20;
    let letter = if b.is_ascii_lowercase() { b - b'a' } else { 26 };
    Some(len * 27 + letter as usize)
}

/// The commands ordered by shape, and where each shape's run starts: a lookup compares the
/// one or two names of its shape, without hashing or copying the name. (It runs for every
/// command, several times for one queued by MULTI.)
static BY_SHAPE: LazyLock<(Vec<&'static Command>, Vec<u16>)> = LazyLock::new(|| {
    let mut sorted: Vec<&'static Command> = COMMANDS.iter().collect();
    sorted.sort_by_key(|c| shape(c.name.as_bytes()).unwrap_or(usize::MAX));
    let buckets = (MAX_NAME + 1) * 27;
    let mut starts = vec![0u16; buckets + 1];
    for (i, start) in starts.iter_mut().enumerate() {
        *start = sorted
            .iter()
            .take_while(|c| shape(c.name.as_bytes()).is_some_and(|s| s < i))
            .count() as u16;
    }
    (sorted, starts)
});

/// Looks up a command by name, case-insensitively, without allocating.
#[inline]
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    let i = shape(name)?;
    let (sorted, starts) = &*BY_SHAPE;
    sorted[starts[i] as usize..starts[i + 1] as usize]
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
        .copied()
}

/// Looks up a subcommand of a container.
pub fn lookup_sub(parent: &'static Command, name: &[u8]) -> Option<&'static Command> {
    parent
        .subcommands
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Every command and subcommand, in a fixed order: their metric slots.
static SLOTS: LazyLock<Vec<&'static Command>> = LazyLock::new(|| {
    all()
        .iter()
        .flat_map(|c| std::iter::once(c).chain(c.subcommands.iter()))
        .collect()
});

// Fx: a fixed table keyed by address, looked up once per command.
static SLOT_OF: LazyLock<FxHashMap<usize, usize>> = LazyLock::new(|| {
    SLOTS
        .iter()
        .enumerate()
        .map(|(i, c)| (*c as *const Command as usize, i))
        .collect()
});

/// The metric slot of a command or subcommand of the table.
#[inline]
pub fn slot_of(cmd: &'static Command) -> Option<usize> {
    SLOT_OF.get(&(cmd as *const Command as usize)).copied()
}

/// Every (slot, command), subcommands included.
pub fn slots() -> impl Iterator<Item = (usize, &'static Command)> {
    SLOTS.iter().copied().enumerate()
}

/// The command or subcommand of a metric slot.
pub fn by_slot(slot: usize) -> Option<&'static Command> {
    SLOTS.get(slot).copied()
}

/// (full name, calls, errors) of every command called at least once.
pub fn named_calls(m: &crate::metrics::CommandMetrics) -> Vec<(String, u64, u64)> {
    m.calls()
        .into_iter()
        .filter_map(|(i, n, e)| SLOTS.get(i).map(|c| (full_name(c), n, e)))
        .collect()
}

/// The command at this address (as stored by a connection), if it is one of the table's.
pub fn by_address(addr: usize) -> Option<&'static Command> {
    if addr == 0 {
        return None;
    }
    SLOT_OF.get(&addr).map(|&i| SLOTS[i])
}

/// The container of a subcommand.
pub fn parent_of(cmd: &'static Command) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.subcommands.iter().any(|s| std::ptr::eq(s, cmd)))
}

/// `name` for commands, `container|name` for subcommands (as Redis's fullname).
pub fn full_name(cmd: &'static Command) -> String {
    match parent_of(cmd) {
        Some(p) => format!("{}|{}", p.name, cmd.name),
        None => cmd.name.to_string(),
    }
}

/// All top-level commands.
pub fn all() -> &'static [Command] {
    COMMANDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup(b"GeT").map(|c| c.name), Some("get"));
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
        assert!(lookup(b"").is_none());
        // Every command by its name in either case; not by a name one letter off.
        for c in COMMANDS {
            assert_eq!(lookup(c.name.as_bytes()).map(|f| f.name), Some(c.name));
            let upper = c.name.to_ascii_uppercase();
            assert_eq!(lookup(upper.as_bytes()).map(|f| f.name), Some(c.name));
            let mut off = c.name.as_bytes().to_vec();
            *off.last_mut().unwrap() ^= 1;
            assert!(lookup(&off).is_none_or(|f| f.name != c.name), "{}", c.name);
        }
        let cfg = lookup(b"CONFIG").unwrap();
        assert_eq!(lookup_sub(cfg, b"GET").map(|c| c.name), Some("get"));
    }

    #[test]
    fn table_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for c in COMMANDS {
            assert!(names.insert(c.name), "duplicate {}", c.name);
            assert_eq!(c.name, c.name.to_lowercase());
            assert!(
                c.handler.is_some() != c.is_container() || c.name == "command",
                "{}",
                c.name
            );
            assert!(c.arity != 0);
        }
    }

    /// The keys `name` finds in the call `line` (words split on spaces).
    fn keys_of(line: &str) -> Vec<String> {
        let mut data = Vec::new();
        let mut ranges = Vec::new();
        for w in line.split(' ') {
            ranges.push((data.len(), data.len() + w.len()));
            data.extend_from_slice(w.as_bytes());
        }
        let args = Args::new(&data, &ranges);
        let cmd = lookup(&args[0]).unwrap();
        cmd.key_indexes(&args)
            .into_iter()
            .map(|i| String::from_utf8(args[i].to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn key_positions() {
        assert_eq!(keys_of("mset a 1 b 2"), ["a", "b"]);
        assert_eq!(keys_of("del a b c"), ["a", "b", "c"]);
        assert_eq!(keys_of("rename a b"), ["a", "b"]);
        assert!(keys_of("ping").is_empty());
        assert_eq!(keys_of("blpop a b 0"), ["a", "b"]);
        // Counted keys: the count is clamped to the arguments there are.
        assert_eq!(keys_of("lmpop 2 a b left"), ["a", "b"]);
        assert_eq!(keys_of("blmpop 0 1 a left"), ["a"]);
        assert_eq!(keys_of("zunionstore d 2 a b weights 1 2"), ["d", "a", "b"]);
        assert_eq!(keys_of("zinter 9 a b"), ["a", "b"]);
        assert_eq!(keys_of("sintercard 2 a b limit 1"), ["a", "b"]);
        assert!(keys_of("lmpop x a left").is_empty());
        assert!(keys_of("lmpop -1 a left").is_empty());
    }

    #[test]
    fn every_command_has_a_metric_slot() {
        assert!(SLOTS.len() <= crate::metrics::SLOTS, "raise metrics::SLOTS");
        let get = lookup(b"get").unwrap();
        assert_eq!(slots().nth(slot_of(get).unwrap()).unwrap().1.name, "get");
        assert!(std::ptr::eq(
            by_address(get as *const Command as usize).unwrap(),
            get
        ));
    }
}
