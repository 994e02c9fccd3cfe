//! COMMAND and its subcommands: the command table described as Redis describes it.

use super::table::{self, Command};
use super::{Ctx, is, reply_help};
use crate::error::{Error, Result};
use crate::resp::{Args, Out};
use crate::util::glob::glob_match;

fn reply_command_info(out: &mut Out, c: &'static Command) {
    out.array(10);
    out.bulk(table::full_name(c).as_bytes());
    out.int(c.arity as i64);
    let flags: Vec<&str> = table::FLAG_NAMES
        .iter()
        .filter(|(f, _)| c.has(*f))
        .map(|(_, n)| *n)
        .collect();
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
    let (first, last, step) = c.keys;
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    let cats = crate::acl::catalog::category_names(c);
    out.set(cats.len());
    for cat in &cats {
        out.simple(cat);
    }
    out.set(0); // tips
    if first > 0 {
        out.array(1);
        out.map(3);
        out.bulk(b"flags");
        out.set(1);
        out.simple(if c.has(table::WRITE) { "RW" } else { "RO" });
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"index");
        out.bulk(b"spec");
        out.map(1);
        out.bulk(b"index");
        out.int(first as i64);
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"range");
        out.bulk(b"spec");
        out.map(3);
        out.bulk(b"lastkey");
        out.int(if last < 0 {
            last as i64
        } else {
            (last - first) as i64
        });
        out.bulk(b"keystep");
        out.int(step as i64);
        out.bulk(b"limit");
        out.int(0);
    } else {
        out.array(0);
    }
    out.array(c.subcommands.len());
    for sub in c.subcommands {
        reply_command_info(out, sub);
    }
}

/// COMMAND with no subcommand: every command's info.
pub fn command(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    command_all(cx);
    Ok(())
}

fn command_all(cx: &mut Ctx<'_>) {
    let all = table::all();
    cx.out.array(all.len());
    for c in all {
        reply_command_info(cx.out, c);
    }
}

pub fn command_count(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.out.int(table::all().len() as i64);
    Ok(())
}

pub fn command_list(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let mut pattern: Option<Vec<u8>> = None;
    match args.len() {
        2 => {}
        5 if is(&args[2], "filterby") && is(&args[3], "pattern") => {
            pattern = Some(args[4].to_vec())
        }
        5 if is(&args[2], "filterby") && (is(&args[3], "aclcat") || is(&args[3], "module")) => {
            let want = String::from_utf8_lossy(&args[4]).to_lowercase();
            if is(&args[3], "module") {
                cx.out.array(0);
                return Ok(());
            }
            let names: Vec<String> = table::all()
                .iter()
                .filter(|c| {
                    crate::acl::catalog::category_names(c)
                        .iter()
                        .any(|x| x[1..] == want)
                })
                .map(|c| c.name.to_string())
                .collect();
            cx.out.array(names.len());
            for n in names {
                cx.out.bulk(n.as_bytes());
            }
            return Ok(());
        }
        _ => return Err(Error::Syntax),
    }
    let mut names: Vec<String> = Vec::new();
    for c in table::all() {
        names.push(c.name.to_string());
        for s in c.subcommands {
            names.push(table::full_name(s));
        }
    }
    if let Some(p) = pattern {
        names.retain(|n| glob_match(&p, n.as_bytes(), true));
    }
    cx.out.array(names.len());
    for n in names {
        cx.out.bulk(n.as_bytes());
    }
    Ok(())
}

pub fn command_info(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if args.len() == 2 {
        command_all(cx);
        return Ok(());
    }
    cx.out.array(args.len() - 2);
    for name in args.iter().skip(2) {
        match crate::acl::catalog::lookup(name) {
            Some(c) => reply_command_info(cx.out, c),
            None => cx.out.null_array(),
        }
    }
    Ok(())
}

fn reply_docs(out: &mut Out, c: &'static Command) {
    let subs = !c.subcommands.is_empty();
    out.map(4 + subs as usize);
    out.bulk(b"summary");
    out.bulk(c.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(c.since.as_bytes());
    out.bulk(b"group");
    out.bulk(c.group.as_bytes());
    out.bulk(b"complexity");
    out.bulk(c.complexity.as_bytes());
    if subs {
        out.bulk(b"subcommands");
        out.map(c.subcommands.len());
        for s in c.subcommands {
            out.bulk(table::full_name(s).as_bytes());
            reply_docs(out, s);
        }
    }
}

pub fn command_docs(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let cmds: Vec<&'static Command> = if args.len() == 2 {
        table::all().iter().collect()
    } else {
        args.iter()
            .skip(2)
            .filter_map(crate::acl::catalog::lookup)
            .collect()
    };
    cx.out.map(cmds.len());
    for c in cmds {
        cx.out.bulk(table::full_name(c).as_bytes());
        reply_docs(cx.out, c);
    }
    Ok(())
}

pub fn command_getkeys(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let inner = args.slice_from(2);
    let Some(mut c) = table::lookup(&inner[0]) else {
        return Err(Error::msg("Invalid command specified"));
    };
    let argc = inner.len();
    // Subcommand arity and key positions count the container's name too.
    if c.is_container()
        && inner.len() >= 2
        && let Some(sub) = table::lookup_sub(c, &inner[1])
    {
        c = sub;
    }
    if c.keys.0 <= 0 && !c.numkeys() {
        return Err(Error::msg("The command has no key arguments"));
    }
    if !c.arity_ok(argc) {
        return Err(Error::msg(
            "Invalid number of arguments specified for command",
        ));
    }
    let idx = c.key_indexes(&inner);
    if idx.is_empty() {
        return Err(Error::msg("Invalid arguments specified for command"));
    }
    cx.out.array(idx.len());
    for i in idx {
        cx.out.bulk(&inner[i]);
    }
    Ok(())
}

pub fn command_help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    reply_help(
        cx.out,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ],
    );
    Ok(())
}
