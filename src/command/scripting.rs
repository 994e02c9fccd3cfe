//! EVAL EVALSHA EVAL_RO EVALSHA_RO and SCRIPT (LOAD EXISTS FLUSH KILL HELP). The script runs
//! on the script thread (`script`); the connection waits for its reply there.

use super::{Ctx, OwnerRoute, owner_route};
use crate::client::Action;
use crate::error::{Error, Result};
use crate::resp::Args;
use crate::script::Job;

pub fn eval(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    start(cx, args, true, false)
}

pub fn evalsha(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    start(cx, args, false, false)
}

pub fn eval_ro(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    start(cx, args, true, true)
}

pub fn evalsha_ro(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    start(cx, args, false, true)
}

/// `EVAL script numkeys key... arg...`: checks the arguments, caches the script, and leaves
/// the run to the connection (`Action::Script`).
fn start(cx: &mut Ctx<'_>, args: Args<'_>, source: bool, read_only: bool) -> Result<()> {
    let numkeys = crate::util::num::parse_i64(&args[2]).ok_or(Error::NotInteger)?;
    if numkeys < 0 {
        return Err(Error::msg("Number of keys can't be negative"));
    }
    if numkeys as usize > args.len() - 3 {
        return Err(Error::msg(
            "Number of keys can't be greater than number of args",
        ));
    }
    let nk = numkeys as usize;
    // In a cluster a script's keys must have one owner, which runs it.
    if cx.node.cluster.has_peers() && !cx.client.forwarded && nk > 0 {
        let idx: Vec<usize> = (3..3 + nk).collect();
        match owner_route(cx.node, cx.client.db, &args, &idx) {
            OwnerRoute::Here => {}
            OwnerRoute::Peer(Some(addr)) => {
                cx.client.action = Some(Action::Forward(addr));
                return Ok(());
            }
            OwnerRoute::Peer(None) => {
                return Err(Error::coded(
                    "TRYAGAIN the owner of this key has no address yet",
                ));
            }
            OwnerRoute::Split => {
                return Err(Error::coded(
                    "CROSSSLOT Keys in request don't hash to the same slot",
                ));
            }
        }
    }
    let (sha, text) = if source {
        let (sha, text) = learn(cx, &args[1])?;
        (sha, Some(text))
    } else {
        let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        if !cx.node.scripts.exists(&sha) {
            return Err(Error::coded(
                "NOSCRIPT No matching script. Please use EVAL.",
            ));
        }
        (sha, None)
    };
    cx.client.action = Some(Action::Script(Job {
        function: None,
        manage: None,
        sha,
        source: text,
        keys: args.iter().skip(3).take(nk).map(<[u8]>::to_vec).collect(),
        args: args.iter().skip(3 + nk).map(<[u8]>::to_vec).collect(),
        db: cx.client.db,
        resp3: cx.out.resp3(),
        read_only,
        client_id: cx.client.id,
    }));
    Ok(())
}

pub fn script_load(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (sha, _) = learn(cx, &args[2])?;
    cx.out.bulk(sha.as_bytes());
    Ok(())
}

/// Caches a script here and, when it is new, on every other node too (on the replication
/// stream): an EVALSHA sent to any node finds it. The client's next forwarded command waits
/// for the stream to reach its owner (session order), so it finds the script there.
fn learn(cx: &mut Ctx<'_>, source: &[u8]) -> Result<(String, std::sync::Arc<[u8]>)> {
    let (sha, text, new) = cx
        .node
        .scripts
        .learn(source)
        .ok_or_else(|| Error::msg("the script cache is full (SCRIPT FLUSH empties it)"))?;
    if new && !cx.client.forwarded && cx.node.cluster.has_peers() {
        cx.node.cluster.replicator.publish_script(source);
        cx.client.local_writes += 1;
    }
    Ok((sha, text))
}

pub fn script_exists(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    cx.out.array(args.len() - 2);
    for sha in args.iter().skip(2) {
        let known = cx.node.scripts.exists(&String::from_utf8_lossy(sha));
        cx.out.int(known as i64);
    }
    Ok(())
}

pub fn script_flush(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if let Some(mode) = args.get(2)
        && !(mode.eq_ignore_ascii_case(b"sync") || mode.eq_ignore_ascii_case(b"async"))
    {
        return Err(Error::msg("SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    if args.len() > 3 {
        return Err(Error::Syntax);
    }
    cx.node.scripts.flush();
    cx.out.ok();
    Ok(())
}

pub fn script_kill(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let s = &cx.node.scripts;
    use std::sync::atomic::Ordering;
    if s.running_since.load(Ordering::Acquire) == 0 {
        return Err(Error::coded("NOTBUSY No scripts in execution right now."));
    }
    if s.wrote.load(Ordering::Acquire) {
        return Err(Error::coded(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        ));
    }
    s.kill.store(true, Ordering::Release);
    cx.out.ok();
    Ok(())
}

pub fn script_help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let lines = [
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    ];
    cx.out.array(lines.len());
    for l in lines {
        cx.out.simple(l);
    }
    Ok(())
}

pub fn fcall(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    call_function(cx, args, false)
}

pub fn fcall_ro(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    call_function(cx, args, true)
}

/// `FCALL function numkeys key... arg...`: on the script thread, where the libraries live.
fn call_function(cx: &mut Ctx<'_>, args: Args<'_>, read_only: bool) -> Result<()> {
    let numkeys = crate::util::num::parse_i64(&args[2])
        .ok_or_else(|| Error::msg("Bad number of keys provided"))?;
    if numkeys < 0 {
        return Err(Error::msg("Number of keys can't be negative"));
    }
    if numkeys as usize > args.len() - 3 {
        return Err(Error::msg(
            "Number of keys can't be greater than number of args",
        ));
    }
    let nk = numkeys as usize;
    cx.client.action = Some(Action::Script(Job {
        function: Some(String::from_utf8_lossy(&args[1]).into_owned()),
        manage: None,
        sha: String::new(),
        source: None,
        keys: args.iter().skip(3).take(nk).map(<[u8]>::to_vec).collect(),
        args: args.iter().skip(3 + nk).map(<[u8]>::to_vec).collect(),
        db: cx.client.db,
        resp3: cx.out.resp3(),
        read_only,
        client_id: cx.client.id,
    }));
    Ok(())
}

/// FUNCTION LOAD, DELETE, FLUSH, LIST, DUMP, RESTORE: run on the script thread.
pub fn function_manage(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    cx.client.action = Some(Action::Script(Job {
        function: None,
        manage: Some(args.iter().map(<[u8]>::to_vec).collect()),
        sha: String::new(),
        source: None,
        keys: Vec::new(),
        args: Vec::new(),
        db: cx.client.db,
        resp3: cx.out.resp3(),
        read_only: false,
        client_id: cx.client.id,
    }));
    Ok(())
}

pub fn function_kill(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    script_kill(cx, args)
}

pub fn function_stats(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    use std::sync::atomic::Ordering;
    let s = &cx.node.scripts;
    let since = s.running_since.load(Ordering::Acquire);
    let out = &mut *cx.out;
    out.map(2);
    out.bulk(b"running_script");
    if since == 0 {
        out.null();
    } else {
        out.map(3);
        out.bulk(b"name");
        out.bulk(b"script");
        out.bulk(b"command");
        out.array(0);
        out.bulk(b"duration_ms");
        out.int(crate::util::time::now_ms().saturating_sub(since) as i64);
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(s.libraries.load(Ordering::Relaxed) as i64);
    out.bulk(b"functions_count");
    out.int(s.functions.load(Ordering::Relaxed) as i64);
    Ok(())
}

pub fn function_help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let lines = [
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ];
    cx.out.array(lines.len());
    for l in lines {
        cx.out.simple(l);
    }
    Ok(())
}
