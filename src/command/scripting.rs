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
        let (sha, text) = cx
            .node
            .scripts
            .load(&args[1])
            .ok_or_else(|| Error::msg("the script cache is full (SCRIPT FLUSH empties it)"))?;
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
    let (sha, _) = cx
        .node
        .scripts
        .load(&args[2])
        .ok_or_else(|| Error::msg("the script cache is full (SCRIPT FLUSH empties it)"))?;
    cx.out.bulk(sha.as_bytes());
    Ok(())
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
