//! ACL and the check every command passes: ACL SETUSER GETUSER DELUSER LIST USERS WHOAMI CAT
//! LOG GENPASS DRYRUN LOAD SAVE, with Redis 7's replies and errors.

use std::sync::Arc;

use super::table::{self, Command};
use super::{Ctx, is, reply_help};
use crate::acl::{self, Context, Denied, Reason, Refusal, UserCell, catalog};
use crate::error::{Error, Result};
use crate::resp::Args;

/// Checks a client's command against its user's rules (the caller skips unrestricted users
/// and peers). A refusal is logged (ACL LOG) and answered with Redis's error.
pub(super) fn check(cx: &mut Ctx<'_>, cmd: &'static Command, args: &Args<'_>) -> Result<()> {
    let client = &mut *cx.client;
    let Err(r) = client.user.cached(&mut client.rules).check(cmd, args) else {
        return Ok(());
    };
    let context = if cx.client.script_caller.is_some() {
        Context::Lua
    } else if cx.client.multi.is_some() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    let (reason, object) = match r.denied {
        Denied::Command => (Reason::Command, table::full_name(cmd).into_bytes()),
        Denied::Key => (Reason::Key, args[r.arg].to_vec()),
        Denied::Channel => (Reason::Channel, args[r.arg].to_vec()),
    };
    record(cx, reason, context, object, &cx.client.user.name, Some(cmd));
    Err(refusal_error(cx, cmd, r))
}

fn refusal_error(cx: &Ctx<'_>, cmd: &'static Command, r: Refusal) -> Error {
    if cx.client.script_caller.is_some() {
        let why = match r.denied {
            Denied::Command => "can't run this command or subcommand",
            Denied::Key => {
                "can't access at least one of the keys mentioned in the command arguments"
            }
            Denied::Channel => "can't publish to the channel mentioned in the command",
        };
        return Error::msg(format!("The user executing the script {why}"));
    }
    Error::coded(match r.denied {
        Denied::Command => format!(
            "NOPERM this user has no permissions to run the '{}' command",
            table::full_name(cmd)
        ),
        Denied::Key => {
            "NOPERM this user has no permissions to access one of the keys used as arguments".into()
        }
        Denied::Channel => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
    })
}

/// Adds an entry to ACL LOG, and a line to the node's log (every refusal is an audit
/// event).
fn record(
    cx: &Ctx<'_>,
    reason: Reason,
    context: Context,
    object: Vec<u8>,
    username: &[u8],
    cmd: Option<&'static Command>,
) {
    let who = cx.client.script_caller.as_ref().unwrap_or(&cx.client.info);
    let client = super::connection::describe(who, cx.now, cmd.map(table::full_name));
    // A failed login is logged by AUTH itself, at most once a second: a stranger trying
    // passwords must not fill the log.
    if reason != Reason::Auth {
        tracing::warn!(
            component = "acl",
            action = "denied",
            reason = reason.name(),
            context = context.name(),
            object = %String::from_utf8_lossy(&object),
            username = %String::from_utf8_lossy(username),
            client = cx.client.id,
            addr = %who.addr,
            "ACL refused a command"
        );
    }
    cx.node.acl.log_add(acl::Entry {
        count: 1,
        reason,
        context,
        object,
        username: username.to_vec(),
        at_ms: cx.now,
        client,
    });
}

/// A failed AUTH or HELLO AUTH, for ACL LOG.
pub(super) fn log_failed_auth(cx: &Ctx<'_>, command: &[u8], username: &[u8]) {
    let context = if cx.client.multi.is_some() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    record(cx, Reason::Auth, context, command.to_vec(), username, None);
}

pub fn setuser(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let rules: Vec<&[u8]> = args.iter().skip(3).collect();
    let changed = cx.node.acl.set_user(&args[2], &rules).map_err(Error::msg)?;
    if let Some(before) = &changed.before {
        drop_lost_subscribers(cx, &changed.cell, before);
    }
    tracing::info!(component = "acl", action = "setuser", user = %changed.cell.name_text(), client = cx.client.id, "ACL user set");
    cx.out.ok();
    Ok(())
}

/// As Redis: when a user loses channels, its subscribers to any of them are disconnected.
fn drop_lost_subscribers(cx: &mut Ctx<'_>, cell: &Arc<UserCell>, before: &acl::User) {
    let now = cell.rules();
    if now.all_channels() || (!before.all_channels() && lost_nothing(before, &now)) {
        return;
    }
    let mine: Vec<u64> = cx
        .node
        .clients
        .snapshot()
        .into_iter()
        .filter(|c| c.user.lock().as_ref().is_some_and(|u| Arc::ptr_eq(u, cell)))
        .map(|c| c.id)
        .collect();
    if mine.is_empty() {
        return;
    }
    let mut kill = std::collections::BTreeSet::new();
    cx.node
        .pubsub
        .each_subscription(&mine, |id, pattern, name| {
            if !now.channel_ok(name, pattern) {
                kill.insert(id);
            }
        });
    for id in kill {
        if id == cx.client.id {
            cx.client.close_after_reply = true;
        } else {
            cx.node.clients.kill(id);
        }
    }
}

/// Every channel pattern the user had, it still has.
fn lost_nothing(before: &acl::User, now: &acl::User) -> bool {
    let has = |c: &Vec<u8>| {
        now.selectors
            .iter()
            .any(|s| s.channel_list().is_some_and(|l| l.contains(c)))
    };
    before
        .selectors
        .iter()
        .all(|s| s.channel_list().is_some_and(|l| l.iter().all(has)))
}

/// Disconnects the clients logged in as users that are gone.
fn disconnect_users(cx: &mut Ctx<'_>, gone: &[Arc<UserCell>]) {
    if gone.is_empty() {
        return;
    }
    for c in cx.node.clients.snapshot() {
        let theirs = c
            .user
            .lock()
            .as_ref()
            .is_some_and(|u| gone.iter().any(|g| Arc::ptr_eq(u, g)));
        if !theirs {
            continue;
        }
        if c.id == cx.client.id {
            cx.client.close_after_reply = true;
        } else {
            cx.node.clients.kill(c.id);
        }
    }
}

pub fn deluser(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let names: Vec<&[u8]> = args.iter().skip(2).collect();
    let gone = cx.node.acl.delete(&names).map_err(Error::msg)?;
    disconnect_users(cx, &gone);
    cx.out.int(gone.len() as i64);
    Ok(())
}

fn selector_fields(cx: &mut Ctx<'_>, s: &acl::user::Selector) {
    cx.out.bulk(b"commands");
    cx.out.bulk(s.describe_commands().as_bytes());
    cx.out.bulk(b"keys");
    cx.out.bulk(s.keys_text().as_bytes());
    cx.out.bulk(b"channels");
    cx.out.bulk(s.channels_text().as_bytes());
}

pub fn getuser(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let Some(cell) = cx.node.acl.get(&args[2]) else {
        cx.out.null();
        return Ok(());
    };
    let u = cell.rules();
    cx.out.map(6);
    cx.out.bulk(b"flags");
    let flags = u.flags();
    cx.out.set(flags.len());
    for f in flags {
        cx.out.bulk(f.as_bytes());
    }
    cx.out.bulk(b"passwords");
    cx.out.array(u.passwords.len());
    for p in &u.passwords {
        cx.out.bulk(p.as_bytes());
    }
    selector_fields(cx, u.root());
    cx.out.bulk(b"selectors");
    cx.out.array(u.selectors.len() - 1);
    for s in &u.selectors[1..] {
        cx.out.map(3);
        selector_fields(cx, s);
    }
    Ok(())
}

pub fn list(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let lines = cx.node.acl.list();
    cx.out.array(lines.len());
    for l in lines {
        cx.out.bulk(l.as_bytes());
    }
    Ok(())
}

pub fn users(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let users = cx.node.acl.users();
    cx.out.array(users.len());
    for u in users {
        cx.out.bulk(&u.name);
    }
    Ok(())
}

pub fn whoami(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.out.bulk(&cx.client.user.name);
    Ok(())
}

pub fn cat(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if args.len() == 2 {
        cx.out.array(catalog::CATEGORIES.len());
        for c in catalog::CATEGORIES {
            cx.out.bulk(c.as_bytes());
        }
        return Ok(());
    }
    if args.len() > 3 {
        return Err(Error::Syntax);
    }
    let Some(bit) = catalog::category(&args[2]) else {
        let shown = &args[2][..args[2].len().min(128)];
        return Err(Error::msg(format!(
            "Unknown category '{}'",
            String::from_utf8_lossy(shown)
        )));
    };
    let mut names = Vec::new();
    for (id, c) in table::slots() {
        if catalog::categories(id) & bit != 0 {
            names.push(table::full_name(c));
        }
    }
    cx.out.array(names.len());
    for n in names {
        cx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// Redis's limit on ACL GENPASS's bits.
const GENPASS_MAX_BITS: i64 = 4096;

pub fn genpass(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if args.len() > 3 {
        return Err(Error::Syntax);
    }
    let bits = match args.get(2) {
        Some(a) => super::int_arg(a)?,
        None => 256,
    };
    if bits <= 0 || bits > GENPASS_MAX_BITS {
        return Err(Error::msg(format!(
            "ACL GENPASS argument must be the number of bits for the output password, a positive number up to {GENPASS_MAX_BITS}"
        )));
    }
    let chars = (bits as usize).div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| Error::msg(format!("no randomness: {e}")))?;
    }
    let mut hex = crate::util::hex::hex(&bytes);
    hex.truncate(chars);
    cx.out.bulk(hex.as_bytes());
    Ok(())
}

pub fn log(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    if args.len() > 3 {
        return Err(Error::Syntax);
    }
    let mut count = 10usize;
    if let Some(a) = args.get(2) {
        if is(a, "reset") {
            cx.node.acl.log_reset();
            cx.out.ok();
            return Ok(());
        }
        count = super::int_arg(a)?.max(0) as usize;
    }
    let entries = cx.node.acl.log_recent(count);
    cx.out.array(entries.len());
    for e in entries {
        cx.out.map(7);
        cx.out.bulk(b"count");
        cx.out.int(e.count as i64);
        cx.out.bulk(b"reason");
        cx.out.bulk(e.reason.name().as_bytes());
        cx.out.bulk(b"context");
        cx.out.bulk(e.context.name().as_bytes());
        cx.out.bulk(b"object");
        cx.out.bulk(&e.object);
        cx.out.bulk(b"username");
        cx.out.bulk(&e.username);
        cx.out.bulk(b"age-seconds");
        cx.out
            .double(cx.now.saturating_sub(e.at_ms) as f64 / 1000.0);
        cx.out.bulk(b"client-info");
        cx.out.bulk(e.client.as_bytes());
    }
    Ok(())
}

pub fn dryrun(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let Some(cell) = cx.node.acl.get(&args[2]) else {
        return Err(Error::msg(format!(
            "User '{}' not found",
            String::from_utf8_lossy(&args[2])
        )));
    };
    let call = args.slice_from(3);
    let not_found = || {
        Error::msg(format!(
            "Command '{}' not found",
            String::from_utf8_lossy(&call[0])
        ))
    };
    let mut cmd = table::lookup(&call[0]).ok_or_else(not_found)?;
    if cmd.is_container() && call.len() >= 2 {
        cmd = table::lookup_sub(cmd, &call[1]).ok_or_else(not_found)?;
    }
    if !cmd.arity_ok(call.len()) {
        return Err(Error::Arity(table::full_name(cmd)));
    }
    match cell.rules().check(cmd, &call) {
        Ok(()) => cx.out.ok(),
        Err(r) => {
            let text = match r.denied {
                Denied::Command => format!(
                    "This user has no permissions to run the '{}' command",
                    table::full_name(cmd)
                ),
                Denied::Key => format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(&call[r.arg])
                ),
                Denied::Channel => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(&call[r.arg])
                ),
            };
            cx.out.bulk(text.as_bytes());
        }
    }
    Ok(())
}

pub fn load(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let gone = cx.node.acl.load().map_err(Error::msg)?;
    disconnect_users(cx, &gone);
    tracing::info!(
        component = "acl",
        action = "load",
        removed = gone.len(),
        "ACL file loaded"
    );
    cx.out.ok();
    Ok(())
}

pub fn save(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    if cx.node.acl.file().is_none() {
        return Err(Error::msg(acl::NO_FILE));
    }
    if let Err(e) = cx.node.acl.save() {
        tracing::warn!(component = "acl", action = "save", error = %e, "ACL SAVE failed");
        return Err(Error::msg(
            "There was an error trying to save the ACLs. Please check the server logs for more information",
        ));
    }
    cx.out.ok();
    Ok(())
}

pub fn help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    reply_help(
        cx.out,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(())
}
