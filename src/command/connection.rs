//! Connection commands: PING ECHO SELECT HELLO AUTH QUIT RESET and CLIENT.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Ctx, int_arg, is, reply_help};
use crate::client::{ClientInfo, ReplyMode};
use crate::error::{Error, Result};
use crate::resp::{Args, Protocol};

/// The Redis version we are compatible with, reported where clients look for it.
pub const REDIS_VERSION: &str = "7.0.15";

pub fn ping(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    // A RESP2 subscriber gets PING's answer in the shape of a message.
    if cx.client.subs.active() && !cx.out.resp3() && args.len() <= 2 {
        cx.out.array(2);
        cx.out.bulk(b"pong");
        cx.out.bulk(args.get(1).unwrap_or(b""));
        return Ok(());
    }
    match args.len() {
        1 => cx.out.simple("PONG"),
        2 => cx.out.bulk(&args[1]),
        _ => return Err(Error::Arity("ping".into())),
    }
    Ok(())
}

pub fn echo(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    cx.out.bulk(&args[1]);
    Ok(())
}

pub fn select(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    // A named store, or (as in Redis) a database index.
    if crate::util::num::parse_i64(&args[1]).is_none()
        && let Some(ks) = std::str::from_utf8(&args[1])
            .ok()
            .and_then(|name| cx.node.store.by_name(name))
    {
        let id = ks.dbs()[0].index;
        cx.client.select(id);
        cx.out.ok();
        return Ok(());
    }
    let id = int_arg(&args[1])?;
    if id < i32::MIN as i64 || id > i32::MAX as i64 {
        return Err(Error::NotInteger);
    }
    if id < 0 || id as usize >= cx.node.store.databases() {
        return Err(Error::DbIndexOutOfRange);
    }
    cx.client.select(id as u32);
    cx.out.ok();
    Ok(())
}

/// The user `name` if `pass` is one of its passwords and it is on; a failure is counted,
/// logged (at most once a second) and added to ACL LOG.
fn authenticate(
    cx: &Ctx<'_>,
    command: &[u8],
    name: &[u8],
    pass: &[u8],
) -> Option<Arc<crate::acl::UserCell>> {
    let node = cx.node;
    if let Some(cell) = node.acl.authenticate(name, pass) {
        return Some(cell);
    }
    node.stats.auth_failed(crate::node::AuthFailure::Resp);
    if node.stats.auth_log.due(1000) {
        tracing::warn!(component = "resp", action = "auth", client = cx.client.id, addr = %cx.client.info.addr, user = %String::from_utf8_lossy(name), failures = node.stats.auth_failures_resp.load(Ordering::Relaxed), "AUTH failed: wrong user or password (logged at most once a second)");
    }
    super::acl::log_failed_auth(cx, command, name);
    None
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

pub fn auth(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (user, pass): (&[u8], &[u8]) = match args.len() {
        2 => {
            if cx.node.acl.default_user().rules().nopass {
                return Err(Error::msg(
                    "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                ));
            }
            (b"default", &args[1])
        }
        3 => (&args[1], &args[2]),
        _ => return Err(Error::Syntax),
    };
    match authenticate(cx, &args[0], user, pass) {
        Some(cell) => {
            cx.client.set_user(cell, true);
            cx.out.ok();
            Ok(())
        }
        None => Err(Error::coded(WRONGPASS)),
    }
}

/// Client names and library fields: printable ASCII without spaces.
fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn set_name(info: &ClientInfo, name: &[u8]) -> Result<()> {
    if !valid_name(name) {
        return Err(Error::msg(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    *info.name.lock() = (!name.is_empty()).then(|| name.to_vec());
    Ok(())
}

pub fn hello(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let mut next = 1;
    let mut ver = None;
    if args.len() >= 2 {
        let v = crate::util::num::parse_i64(&args[1]).ok_or(Error::msg(
            "Protocol version is not an integer or out of range",
        ))?;
        if !(2..=3).contains(&v) {
            return Err(Error::coded("NOPROTO unsupported protocol version"));
        }
        ver = Some(v);
        next = 2;
    }
    let mut j = next;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        if is(opt, "AUTH") && more >= 2 {
            let Some(cell) = authenticate(cx, &args[0], &args[j + 1], &args[j + 2]) else {
                return Err(Error::coded(WRONGPASS));
            };
            cx.client.set_user(cell, true);
            j += 3;
        } else if is(opt, "SETNAME") && more >= 1 {
            set_name(&cx.client.info, &args[j + 1])?;
            j += 2;
        } else {
            return Err(Error::msg(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if !cx.client.authenticated && cx.node.acl.auth_required() {
        return Err(Error::coded(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(v) = ver {
        cx.out.proto = if v == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        cx.client.info.resp.store(v as u32, Ordering::Relaxed);
        if let Some(m) = &cx.client.subs.mailbox {
            m.set_protocol(cx.out.proto);
        }
    }
    let out = &mut *cx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(out.proto.version());
    out.bulk(b"id");
    out.int(cx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

pub fn quit(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.out.ok();
    cx.client.close_after_reply = true;
    Ok(())
}

pub fn reset(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.client.select(0);
    cx.out.proto = Protocol::Resp2;
    cx.client.info.resp.store(2, Ordering::Relaxed);
    let open = !cx.node.acl.auth_required();
    cx.client.set_user(cx.node.acl.default_user(), open);
    // A peer that resets is a stranger again until it repeats the handshake.
    cx.client.peer = None;
    cx.client.challenge = None;
    cx.client.reply_mode = ReplyMode::On;
    cx.client.no_touch = false;
    cx.client.multi = None;
    cx.client.unwatch();
    cx.client.subs.leave_all(&cx.node.pubsub);
    cx.client.subs.mailbox = None;
    if cx.client.tracking.take().is_some() {
        cx.node.pubsub.tracking.disable(cx.client.id);
        cx.node.refresh_notes();
    }
    for n in &cx.client.info.subscriptions {
        n.store(0, Ordering::Relaxed);
    }
    cx.client.info.no_evict.store(false, Ordering::Relaxed);
    *cx.client.info.name.lock() = None;
    cx.out.simple("RESET");
    Ok(())
}

pub fn client_id(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    cx.out.int(cx.client.id as i64);
    Ok(())
}

pub fn client_setname(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    set_name(&cx.client.info, &args[2])?;
    cx.out.ok();
    Ok(())
}

pub fn client_getname(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    match cx.client.info.name.lock().as_deref() {
        Some(n) => cx.out.bulk(n),
        None => cx.out.null(),
    }
    Ok(())
}

/// One CLIENT LIST line, with Redis 7's fields (plus lib-name/lib-ver of 7.2).
pub(super) fn describe(c: &ClientInfo, now_ms: u64, current_cmd: Option<String>) -> String {
    use std::fmt::Write;
    let lossy = |v: &Option<Vec<u8>>| {
        v.as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let cmd = current_cmd
        .or_else(|| {
            crate::command::table::by_address(c.last_command_address())
                .map(crate::command::table::full_name)
        })
        .unwrap_or_else(|| "NULL".to_string());
    let subs = c
        .subscriptions
        .each_ref()
        .map(|n| n.load(Ordering::Relaxed));
    let flags = match (
        c.no_evict.load(Ordering::Relaxed),
        subs.iter().any(|&n| n > 0),
    ) {
        (true, true) => "Pe",
        (true, false) => "e",
        (false, true) => "P",
        (false, false) => "N",
    };
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi=-1 qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        lossy(&c.name.lock()),
        now_ms.saturating_sub(c.created_ms) / 1000,
        now_ms.saturating_sub(c.last_ms.load(Ordering::Relaxed)) / 1000,
        flags,
        c.db.load(Ordering::Relaxed),
        subs[0],
        subs[1],
        subs[2],
        c.qbuf.load(Ordering::Relaxed),
        cmd,
        c.user
            .lock()
            .as_ref()
            .map_or_else(|| "default".to_string(), |u| u.name_text()),
        c.resp.load(Ordering::Relaxed),
        lossy(&c.lib_name.lock()),
        lossy(&c.lib_ver.lock()),
    );
    s
}

fn current_cmd(cx: &Ctx<'_>) -> Option<String> {
    cx.command.map(crate::command::table::full_name)
}

pub fn client_list(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let mut ids: Option<Vec<u64>> = None;
    let mut j = 2;
    while j < args.len() {
        if is(&args[j], "type") && j + 1 < args.len() {
            let t = &args[j + 1];
            if !["normal", "master", "replica", "slave", "pubsub"]
                .iter()
                .any(|n| is(t, n))
            {
                return Err(Error::msg(format!(
                    "Unknown client type '{}'",
                    String::from_utf8_lossy(t)
                )));
            }
            if !is(t, "normal") {
                // Only normal clients exist on this node today.
                ids = Some(Vec::new());
            }
            j += 2;
        } else if is(&args[j], "id") && j + 1 < args.len() {
            let mut v = Vec::new();
            j += 1;
            while j < args.len() {
                let id = int_arg(&args[j])
                    .ok()
                    .filter(|&i| i > 0)
                    .ok_or(Error::msg("Invalid client ID"))?;
                v.push(id as u64);
                j += 1;
            }
            ids = Some(v);
        } else {
            return Err(Error::Syntax);
        }
    }
    let now = cx.now;
    let me = cx.client.id;
    let mine = current_cmd(cx);
    let mut text = String::new();
    for c in cx.node.clients.snapshot() {
        if ids.as_ref().is_some_and(|v| !v.contains(&c.id)) {
            continue;
        }
        let cmd = (c.id == me).then(|| mine.clone()).flatten();
        text.push_str(&describe(&c, now, cmd));
        text.push('\n');
    }
    cx.out.verbatim(text.as_bytes());
    Ok(())
}

pub fn client_info(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let mut text = describe(&cx.client.info, cx.now, current_cmd(cx));
    text.push('\n');
    cx.out.verbatim(text.as_bytes());
    Ok(())
}

pub fn client_kill(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (mut addr, mut laddr, mut id, mut skipme) = (None, None, None, true);
    let mut user: Option<Arc<crate::acl::UserCell>> = None;
    let mut typ_matches = true;
    let old_form = args.len() == 3;
    if old_form {
        addr = Some(args[2].to_vec());
        skipme = false;
    } else {
        let mut i = 2;
        while i < args.len() {
            let more = i + 1 < args.len();
            let opt = &args[i];
            if !more {
                return Err(Error::Syntax);
            }
            let v = &args[i + 1];
            if is(opt, "id") {
                let n = int_arg(v).map_err(|_| Error::msg("client-id should be greater than 0"))?;
                if n < 1 {
                    return Err(Error::msg("client-id should be greater than 0"));
                }
                id = Some(n as u64);
            } else if is(opt, "type") {
                if !["normal", "master", "replica", "slave", "pubsub"]
                    .iter()
                    .any(|n| is(v, n))
                {
                    return Err(Error::msg(format!(
                        "Unknown client type '{}'",
                        String::from_utf8_lossy(v)
                    )));
                }
                typ_matches = is(v, "normal");
            } else if is(opt, "addr") {
                addr = Some(v.to_vec());
            } else if is(opt, "laddr") {
                laddr = Some(v.to_vec());
            } else if is(opt, "user") {
                let Some(u) = cx.node.acl.get(v) else {
                    return Err(Error::msg(format!(
                        "No such user '{}'",
                        String::from_utf8_lossy(v)
                    )));
                };
                user = Some(u);
            } else if is(opt, "skipme") {
                skipme = if is(v, "yes") {
                    true
                } else if is(v, "no") {
                    false
                } else {
                    return Err(Error::Syntax);
                };
            } else {
                return Err(Error::Syntax);
            }
            i += 2;
        }
    }
    let me = cx.client.id;
    let mut killed = 0;
    for c in cx.node.clients.snapshot() {
        if !typ_matches
            || addr
                .as_deref()
                .is_some_and(|a| a != c.addr.to_string().as_bytes())
            || laddr
                .as_deref()
                .is_some_and(|a| a != c.laddr.to_string().as_bytes())
            || id.is_some_and(|i| i != c.id)
            || user.as_ref().is_some_and(|u| !is_user(&c, u))
            || (c.id == me && skipme)
        {
            continue;
        }
        if c.id == me {
            cx.client.close_after_reply = true;
        } else {
            cx.node.clients.kill(c.id);
        }
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            return Err(Error::msg("No such client"));
        }
        cx.out.ok();
    } else {
        cx.out.int(killed);
    }
    Ok(())
}

/// Whether the client is logged in as `user` (`None` in its info: `default`).
fn is_user(c: &ClientInfo, user: &Arc<crate::acl::UserCell>) -> bool {
    match &*c.user.lock() {
        Some(u) => Arc::ptr_eq(u, user),
        None => user.name == b"default",
    }
}

pub fn client_setinfo(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let (attr, val) = (&args[2], &args[3]);
    let slot = if is(attr, "lib-name") {
        &cx.client.info.lib_name
    } else if is(attr, "lib-ver") {
        &cx.client.info.lib_ver
    } else {
        return Err(Error::msg(format!(
            "Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        )));
    };
    if !valid_name(val) {
        return Err(Error::msg(format!(
            "{} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr).to_lowercase()
        )));
    }
    *slot.lock() = (!val.is_empty()).then(|| val.to_vec());
    cx.out.ok();
    Ok(())
}

fn on_off(a: &[u8]) -> Result<bool> {
    if is(a, "on") {
        Ok(true)
    } else if is(a, "off") {
        Ok(false)
    } else {
        Err(Error::Syntax)
    }
}

/// CLIENT UNBLOCK client-id [TIMEOUT | ERROR]
pub fn client_unblock(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    use crate::store::waiters::Unblocked;
    let id = crate::util::num::parse_i64(&args[2]).ok_or(Error::NotInteger)?;
    let how = match args.get(3) {
        None => Unblocked::Timeout,
        Some(a) if is(a, "timeout") && args.len() == 4 => Unblocked::Timeout,
        Some(a) if is(a, "error") && args.len() == 4 => Unblocked::Error,
        Some(_) => {
            return Err(Error::msg(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    };
    let done = u64::try_from(id).is_ok_and(|id| cx.node.store.waiters.unblock(id, how));
    cx.out.int(done as i64);
    Ok(())
}

pub fn client_no_evict(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let on = on_off(&args[2])?;
    cx.client.info.no_evict.store(on, Ordering::Relaxed);
    cx.out.ok();
    Ok(())
}

pub fn client_no_touch(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    cx.client.no_touch = on_off(&args[2])?;
    cx.out.ok();
    Ok(())
}

pub fn client_reply(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let a = &args[2];
    cx.client.reply_mode = if is(a, "on") {
        ReplyMode::On
    } else if is(a, "off") {
        ReplyMode::Off
    } else if is(a, "skip") {
        ReplyMode::Skip
    } else {
        return Err(Error::Syntax);
    };
    cx.out.ok();
    Ok(())
}

pub fn client_help(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    reply_help(
        cx.out,
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <LIB-NAME|LIB-VER> <value>",
            "    Set client library name or version.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    );
    Ok(())
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP].
pub fn client_tracking(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    use crate::pubsub::tracking::Mode;
    let mut mode = Mode::default();
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let a = &args[j];
        if is(a, "redirect") && more {
            j += 1;
            if mode.redirect != 0 {
                return Err(Error::msg(
                    "A client can only redirect to a single other client",
                ));
            }
            let id = crate::util::num::parse_i64(&args[j]).ok_or(Error::NotInteger)?;
            // Required to exist now, as Redis (it may leave later: the redirect breaks).
            if id <= 0 || cx.node.clients.get(id as u64).is_none() {
                return Err(Error::msg(
                    "The client ID you want redirect to does not exist",
                ));
            }
            mode.redirect = id as u64;
        } else if is(a, "bcast") {
            mode.bcast = true;
        } else if is(a, "optin") {
            mode.optin = true;
        } else if is(a, "optout") {
            mode.optout = true;
        } else if is(a, "noloop") {
            mode.noloop = true;
        } else if is(a, "prefix") && more {
            j += 1;
            mode.prefixes.push(args[j].to_vec());
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    if is(&args[2], "off") {
        if cx.client.tracking.take().is_some() {
            cx.node.pubsub.tracking.disable(cx.client.id);
            cx.node.refresh_notes();
        }
        cx.out.ok();
        return Ok(());
    }
    if !is(&args[2], "on") {
        return Err(Error::Syntax);
    }
    if !mode.bcast && !mode.prefixes.is_empty() {
        return Err(Error::msg(
            "PREFIX option requires BCAST mode to be enabled",
        ));
    }
    let current = cx.client.tracking.as_ref().map(|t| t.mode.clone());
    if let Some(old) = &current
        && old.bcast != mode.bcast
    {
        return Err(Error::msg(
            "You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(Error::msg("OPTIN and OPTOUT are not compatible with BCAST"));
    }
    if mode.optin && mode.optout {
        return Err(Error::msg(
            "You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if let Some(old) = &current
        && ((mode.optin && old.optout) || (mode.optout && old.optin))
    {
        return Err(Error::msg(
            "You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    // Prefixes of one client must not overlap (Redis's checkPrefixCollisionsOrReply); those
    // given before are kept.
    let mut prefixes = current.map(|m| m.prefixes).unwrap_or_default();
    for p in std::mem::take(&mut mode.prefixes) {
        if let Some(other) = prefixes
            .iter()
            .find(|o| **o != p && (o.starts_with(&p) || p.starts_with(o)))
        {
            return Err(Error::msg(format!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(&p),
                String::from_utf8_lossy(other)
            )));
        }
        if !prefixes.contains(&p) {
            if prefixes.len() >= crate::pubsub::tracking::MAX_PREFIXES {
                return Err(Error::msg(format!(
                    "too many tracking prefixes (at most {} per client)",
                    crate::pubsub::tracking::MAX_PREFIXES
                )));
            }
            prefixes.push(p);
        }
    }
    mode.prefixes = prefixes;
    let mailbox = super::pubsub::mailbox(cx);
    cx.node.pubsub.tracking.enable(&mailbox, mode.clone());
    cx.client.tracking = Some(crate::pubsub::TrackState {
        mode,
        caching: false,
    });
    cx.node.refresh_notes();
    cx.out.ok();
    Ok(())
}

/// CLIENT CACHING YES|NO: whether the next command's keys are tracked (OPTIN / OPTOUT).
pub fn client_caching(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let Some(t) = &mut cx.client.tracking else {
        return Err(Error::msg(
            "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    if is(&args[2], "yes") {
        if !t.mode.optin {
            return Err(Error::msg(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(&args[2], "no") {
        if !t.mode.optout {
            return Err(Error::msg(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(Error::Syntax);
    }
    t.caching = true;
    cx.out.ok();
    Ok(())
}

pub fn client_getredir(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let redir = cx
        .client
        .tracking
        .as_ref()
        .map_or(-1, |t| t.mode.redirect as i64);
    cx.out.int(redir);
    Ok(())
}

pub fn client_trackinginfo(cx: &mut Ctx<'_>, _args: Args<'_>) -> Result<()> {
    let t = cx.client.tracking.clone();
    let broken = cx.node.pubsub.tracking.redirect_broken(cx.client.id);
    let mut flags: Vec<&str> = vec![if t.is_some() { "on" } else { "off" }];
    if let Some(t) = &t {
        if t.mode.bcast {
            flags.push("bcast");
        }
        if t.mode.optin {
            flags.push("optin");
            if t.caching {
                flags.push("caching-yes");
            }
        }
        if t.mode.optout {
            flags.push("optout");
            if t.caching {
                flags.push("caching-no");
            }
        }
        if t.mode.noloop {
            flags.push("noloop");
        }
        if broken {
            flags.push("broken_redirect");
        }
    }
    let out = &mut *cx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"redirect");
    out.int(t.as_ref().map_or(-1, |t| t.mode.redirect as i64));
    out.bulk(b"prefixes");
    // In byte order, as Redis's radix tree lists them.
    let mut prefixes = t.map(|t| t.mode.prefixes).unwrap_or_default();
    prefixes.sort();
    out.array(prefixes.len());
    for p in prefixes {
        out.bulk(&p);
    }
    Ok(())
}
