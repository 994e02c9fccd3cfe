//! EVAL EVALSHA EVAL_RO EVALSHA_RO and SCRIPT (LOAD EXISTS FLUSH KILL HELP). The script runs
//! on the script thread (`script`); the connection waits for its reply there.

use super::{Ctx, owner_of};
use crate::client::Action;
use crate::error::{Error, Result};
use crate::resp::Args;
use crate::script::{Job, Run};

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
    let nk = numkeys(&args, Error::NotInteger)?;
    if forward_to_owner(cx, &args, nk)? {
        return Ok(());
    }
    let (sha, source) = if source {
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
    submit(cx, Run::Script { sha, source }, &args, nk, read_only);
    Ok(())
}

/// In a cluster a script's keys must have one owner, which runs it: whether the call goes
/// there.
fn forward_to_owner(cx: &mut Ctx<'_>, args: &Args<'_>, nk: usize) -> Result<bool> {
    if cx.node.cluster.has_peers() && !cx.client.forwarded && nk > 0 {
        let idx: Vec<usize> = (3..3 + nk).collect();
        if let Some(addr) = owner_of(cx.node, cx.client.db, args, &idx)? {
            cx.client.action = Some(Action::Forward(addr));
            return Ok(true);
        }
    }
    Ok(false)
}

/// The key count of `EVAL|FCALL name numkeys key... arg...`, checked against the arguments.
/// `not_int`: the error when it is not a number (EVAL's and FCALL's texts differ).
fn numkeys(args: &Args<'_>, not_int: Error) -> Result<usize> {
    let n = crate::util::num::parse_i64(&args[2]).ok_or(not_int)?;
    if n < 0 {
        return Err(Error::msg("Number of keys can't be negative"));
    }
    if n as usize > args.len() - 3 {
        return Err(Error::msg(
            "Number of keys can't be greater than number of args",
        ));
    }
    Ok(n as usize)
}

/// Leaves `run` to the connection, with the keys and arguments after `numkeys` (`nk` of
/// them keys).
fn submit(cx: &mut Ctx<'_>, run: Run, args: &Args<'_>, nk: usize, read_only: bool) {
    let rest = args.slice_from(3);
    cx.client.action = Some(Action::Script(Job {
        run,
        keys: rest.iter().take(nk).map(<[u8]>::to_vec).collect(),
        args: rest.iter().skip(nk).map(<[u8]>::to_vec).collect(),
        db: cx.client.db,
        resp3: cx.out.resp3(),
        read_only,
        user: cx.client.user.clone(),
        caller: cx.client.info.clone(),
    }));
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
    if let Some((text, sha)) = &cx.client.last_script
        && **text == *source
        && cx.node.scripts.has(sha)
    {
        return Ok((sha.clone(), text.clone()));
    }
    let (sha, text, new) = cx
        .node
        .scripts
        .learn(source)
        .ok_or_else(|| Error::msg("the script cache is full (SCRIPT FLUSH empties it)"))?;
    if new && !cx.client.forwarded && cx.node.cluster.has_peers() {
        cx.node.cluster.replicator.publish_script(source);
        cx.client.local_writes += 1;
    }
    cx.client.last_script = Some((text.clone(), sha.clone()));
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
    ];
    super::reply_help(cx.out, "SCRIPT", &lines);
    Ok(())
}

pub fn fcall(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    call_function(cx, args, false)
}

pub fn fcall_ro(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    call_function(cx, args, true)
}

/// `FCALL function numkeys key... arg...`: on the script thread, where the libraries live;
/// in a cluster on its keys' owner, as EVAL (every node has the libraries).
fn call_function(cx: &mut Ctx<'_>, args: Args<'_>, read_only: bool) -> Result<()> {
    let nk = numkeys(&args, Error::msg("Bad number of keys provided"))?;
    if forward_to_owner(cx, &args, nk)? {
        return Ok(());
    }
    let name = String::from_utf8_lossy(&args[1]).into_owned();
    submit(cx, Run::Function(name), &args, nk, read_only);
    Ok(())
}

/// FUNCTION LOAD, DELETE, FLUSH, LIST, DUMP, RESTORE: run on the script thread.
pub fn function_manage(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let all = args.iter().map(<[u8]>::to_vec).collect();
    // No keys and no arguments past the subcommand's own.
    submit(cx, Run::Manage(all), &args.slice(0, 0), 0, false);
    Ok(())
}

pub fn function_kill(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    script_kill(cx, args)
}

/// Answered here, while a script runs too, from the script thread's counts; when the
/// libraries changed since it counted (recovery, another node's change), by that thread.
pub fn function_stats(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    use std::sync::atomic::Ordering;
    let s = &cx.node.scripts;
    let stale = s.libraries_version.load(Ordering::Acquire) != cx.node.store.libraries_version();
    if stale && s.running_since.load(Ordering::Acquire) == 0 {
        return function_manage(cx, args);
    }
    crate::script::stats(s, cx.out);
    Ok(())
}

pub fn function_help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let lines = [
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
    ];
    super::reply_help(cx.out, "FUNCTION", &lines);
    Ok(())
}
