//! Commands: the static table, dispatch, and one file per command family.

pub mod acl;
pub mod bits;
pub mod blocking;
pub mod cluster;
pub mod collection;
pub mod config;
pub mod connection;
pub mod cuckoo;
pub mod hash;
pub mod hll;
pub mod info;
pub mod introspect;
pub mod key;
pub mod list;
pub mod operator;
pub mod persistence;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sort;
pub mod string;
pub mod table;
pub mod transaction;
pub mod zset;

use crate::client::ClientState;
use crate::error::{Error, Result};
use crate::node::Node;
use crate::resp::{Args, Out, Protocol};
use crate::store::Keyspace;
use crate::util::num::parse_i64;

pub use table::Command;

/// Everything a command may touch: the node, the calling client, and its output buffer.
pub struct Ctx<'a> {
    pub node: &'a Node,
    pub client: &'a mut ClientState,
    pub out: &'a mut Out,
    /// The time this batch of commands runs at, in ms since the epoch.
    pub now: u64,
    /// The command being run, once resolved.
    pub command: Option<&'static Command>,
}

impl Ctx<'_> {
    #[inline]
    pub fn store(&self) -> &Keyspace {
        &self.node.store
    }

    #[inline]
    pub fn db(&self) -> u32 {
        self.client.db
    }
}

pub type Handler = fn(&mut Ctx<'_>, Args<'_>) -> Result<()>;

/// Finds the command (or subcommand) an argv names, or the error Redis gives for it.
pub fn resolve(args: &Args<'_>) -> Result<&'static Command> {
    let name = &args[0];
    let Some(cmd) = table::lookup(name) else {
        return Err(unknown_command(args));
    };
    if cmd.is_container() && args.len() >= 2 {
        let Some(sub) = table::lookup_sub(cmd, &args[1]) else {
            return Err(Error::Msg(
                format!(
                    "unknown subcommand '{}'. Try {} HELP.",
                    truncate(&args[1], 128),
                    cmd.name.to_uppercase()
                )
                .into(),
            ));
        };
        if !sub.arity_ok(args.len()) {
            return Err(Error::Arity(format!("{}|{}", cmd.name, sub.name)));
        }
        return Ok(sub);
    }
    if !cmd.arity_ok(args.len()) {
        return Err(Error::Arity(cmd.name.to_string()));
    }
    Ok(cmd)
}

fn truncate(b: &[u8], n: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(n)]).into_owned()
}

fn unknown_command(args: &Args<'_>) -> Error {
    let mut rest = String::new();
    for a in args.iter().skip(1) {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        rest.push('\'');
        rest.push_str(&truncate(a, room));
        rest.push_str("' ");
    }
    Error::Msg(
        format!(
            "unknown command '{}', with args beginning with: {}",
            truncate(&args[0], 128),
            rest
        )
        .into(),
    )
}

/// Runs one command and writes its reply (or its error) into `cx.out`; returns the command
/// it resolved to.
pub fn execute(cx: &mut Ctx<'_>, args: Args<'_>) -> Option<&'static Command> {
    // EXEC closes the gate itself, and HCREPL for a transaction's records; everything else
    // runs inside it.
    if closes_gate(&args) {
        return execute_gated(cx, args);
    }
    let node = cx.node;
    // A script call only hands its script to the script thread, which closes the gate itself:
    // waiting here for the script before it would spin this I/O thread for nothing.
    if hands_to_scripts(&args) {
        if node.scripts.busy() {
            cx.out.error(BUSY);
            return None;
        }
        return execute_gated(cx, args);
    }
    let Some(_inside) = node.store.gate.enter_unless(|| node.scripts.busy()) else {
        // A script has run past busy-reply-threshold: only the commands made for that time
        // (SCRIPT KILL, SHUTDOWN NOSAVE, ...) run, outside the gate.
        if resolve(&args).is_ok_and(|c| c.has(table::ALLOW_BUSY)) {
            return execute_gated(cx, args);
        }
        cx.out.error(BUSY);
        return None;
    };
    execute_gated(cx, args)
}

const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// EVAL, EVALSHA, FCALL and their read-only forms: they read no data where they are called.
fn hands_to_scripts(args: &Args<'_>) -> bool {
    let name = &args[0];
    matches!(name.first(), Some(b'e' | b'E' | b'f' | b'F'))
        && [
            "eval",
            "evalsha",
            "eval_ro",
            "evalsha_ro",
            "fcall",
            "fcall_ro",
        ]
        .iter()
        .any(|n| is(name, n))
}

/// EXEC, a forwarded transaction (`HCFWD … HCEXEC`) and a replication batch (HCREPL) close
/// the gate themselves (one thread never enters it twice).
fn closes_gate(args: &Args<'_>) -> bool {
    is(&args[0], "exec")
        || is(&args[0], "hcrepl")
        || (is(&args[0], "hcfwd") && args.len() > 3 && is(&args[3], "hcexec"))
}

/// A command queued by MULTI, run by EXEC (the gate closed): it runs here as it is, without
/// blocking (a blocking pop finds nothing: its timeout reply), and without being routed.
pub fn execute_queued(cx: &mut Ctx<'_>, args: Args<'_>) {
    // As if already routed and repaired: EXEC checked that this node owns every key.
    let was = (cx.client.forwarded, cx.client.repaired);
    (cx.client.forwarded, cx.client.repaired) = (true, true);
    execute_gated(cx, args);
    (cx.client.forwarded, cx.client.repaired) = was;
    match cx.client.action.take() {
        None => {}
        Some(crate::client::Action::Block(b)) if b.null_array => cx.out.null_array(),
        Some(crate::client::Action::Block(_)) => cx.out.null(),
        Some(crate::client::Action::Sleep(_)) => cx.out.ok(),
        Some(_) => cx
            .out
            .error("ERR this command cannot run inside a transaction"),
    }
}

fn execute_gated(cx: &mut Ctx<'_>, args: Args<'_>) -> Option<&'static Command> {
    let metrics = &cx.node.metrics;
    let on = cx.node.config.metrics.enabled;
    let sampled = on && metrics.sample();
    // SLOWLOG and LATENCY time every command while they are on (as Redis always does).
    let watched = cx.node.slowlog.on() || cx.node.latency.on();
    let started = (sampled || watched).then(std::time::Instant::now);
    cx.command = None;
    let r = dispatch(cx, args);
    if cx.node.store.bus().notes_on() {
        // A forwarded command's own arguments follow HCFWD's three.
        let own = if is(&args[0], "hcfwd") {
            args.slice_from(3)
        } else {
            args
        };
        // A peer's batch or forward was written by no client of this node.
        let writer = cx.client.peer.is_none().then_some(cx.client.id);
        crate::pubsub::notify::flush(cx.node, cx.command.map(|c| (c, &own)), false, writer);
    }
    if let Some(t) = &mut cx.client.tracking
        && let Some(cmd) = cx.command
    {
        crate::pubsub::track_read(cx.node, cx.client.id, t, cmd, &args, r.is_ok());
    }
    let failed = r.is_err();
    // A command refused while a transaction is queued aborts it (EXECABORT), as Redis's
    // `flagTransaction`; the transaction's own commands answer for themselves.
    if failed
        && !transaction::controls(&args[0])
        && let Some(tx) = &mut cx.client.multi
    {
        tx.failed = true;
    }
    if let Err(e) = r {
        let msg = e.to_string();
        cx.node.stats.error(&msg);
        cx.out.error(&msg);
    }
    if let Some(cmd) = cx.command {
        let micros = started.map(|t| t.elapsed().as_micros() as u64);
        if on && let Some(slot) = table::slot_of(cmd) {
            metrics.record(slot, failed, micros.filter(|_| sampled));
        }
        let monitored = cx.node.pubsub.monitors.any();
        if watched || monitored {
            // A client's command that ran: not a peer's, and not one MULTI queued (EXEC's
            // run is the one SLOWLOG and MONITOR show).
            let ran = cx.client.peer.is_none()
                && (cx.client.multi.is_none() || transaction::controls(&args[0]));
            if let Some(us) = micros.filter(|_| watched) {
                note_slow(cx, cmd, &args, us, ran);
            }
            if monitored && ran && !cmd.has(table::ADMIN) {
                feed_monitors(cx, &args);
            }
        }
        // Off at info: the check is one relaxed load.
        tracing::debug!(
            component = "resp",
            action = "command",
            client = cx.client.id,
            command = cmd.name,
            failed,
            "command"
        );
    }
    cx.command
}

/// A timed command for LATENCY and, when slow and `ran` (a client's), SLOWLOG; EXEC's
/// commands are logged one by one, passwords redacted, as Redis does.
fn note_slow(cx: &Ctx<'_>, cmd: &'static Command, args: &Args<'_>, micros: u64, ran: bool) {
    let node = cx.node;
    if node.latency.on() {
        let event = if cmd.has(table::FAST) {
            "fast-command"
        } else {
            "command"
        };
        node.latency.observe(event, micros / 1000);
    }
    if !ran || !node.slowlog.is_slow(micros) || is(&args[0], "exec") {
        return;
    }
    let argv = redacted(args);
    let info = &cx.client.info;
    let name = info.name.lock().clone().unwrap_or_default();
    node.slowlog
        .push(&argv, micros, info.addr.to_string(), name);
}

/// A command as SLOWLOG and MONITOR show it: passwords replaced, as Redis does.
fn redacted<'a>(args: &Args<'a>) -> Vec<&'a [u8]> {
    const REDACTED: &[u8] = b"(redacted)";
    let mut argv: Vec<&[u8]> = args.iter().collect();
    if is(argv[0], "auth") {
        argv[1..].iter_mut().for_each(|a| *a = REDACTED);
    }
    // HELLO <protover> AUTH <username> <password>.
    if is(argv[0], "hello")
        && let Some(at) = argv.iter().position(|a| is(a, "auth"))
    {
        argv[at + 1..]
            .iter_mut()
            .take(2)
            .for_each(|a| *a = REDACTED);
    }
    // CONFIG SET requirepass <password>.
    if argv.len() > 2 && is(argv[0], "config") && is(argv[1], "set") {
        for pair in argv[2..].chunks_mut(2) {
            if let [name, value] = pair
                && (is(name, "requirepass") || is(name, "masterauth"))
            {
                *value = REDACTED;
            }
        }
    }
    argv
}

/// MONITOR's feed: a client's command as it ran (the caller leaves out the admin ones and
/// those that did not run, as Redis feeds its monitors).
fn feed_monitors(cx: &Ctx<'_>, args: &Args<'_>) {
    let node = cx.node;
    let limit = node.settings.output_limits().replica;
    let info = &cx.client.info;
    node.pubsub.monitors.feed(
        cx.client.id,
        cx.client.db,
        &info.addr.to_string(),
        &redacted(args),
        limit,
    );
}

fn dispatch(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    // A command another node forwarded here (`HCFWD <db> <protocol> <command...>`): run it as
    // is, in the caller's database or store and protocol, without routing it again. Peers
    // only, one hop: both are checked before anything of the payload is looked at.
    if is(&args[0], "hcfwd") {
        if cx.client.peer.is_none() {
            return Err(Error::PeersOnly);
        }
        if cx.client.forwarded {
            return Err(Error::msg("HCFWD cannot be nested"));
        }
        if args.len() < 4 {
            return Err(Error::Arity("hcfwd".into()));
        }
        let db = crate::util::num::parse_i64(&args[1])
            .filter(|d| (0..=u32::MAX as i64).contains(d))
            .ok_or(Error::NotInteger)? as u32;
        if cx.node.store.find(db).is_none()
            || (db & crate::store::NAMED == 0 && db as usize >= cx.node.store.databases())
        {
            return Err(Error::DbIndexOutOfRange);
        }
        let proto = match &args[2][..] {
            b"2" => Protocol::Resp2,
            b"3" => Protocol::Resp3,
            _ => return Err(Error::msg("HCFWD protocol must be 2 or 3")),
        };
        let was_db = std::mem::replace(&mut cx.client.db, db);
        let was_proto = std::mem::replace(&mut cx.out.proto, proto);
        cx.client.forwarded = true;
        let r = dispatch(cx, args.slice_from(3));
        cx.client.forwarded = false;
        cx.client.db = was_db;
        cx.out.proto = was_proto;
        return r;
    }
    let cmd = resolve(&args)?;
    cx.command = Some(cmd);
    if cmd.has(table::PEER) && cx.client.peer.is_none() {
        return Err(Error::PeersOnly);
    }
    // HCFWD and EXEC carry a client's commands; a peer's own (HCREPL closes the gate
    // itself, ...) come bare.
    if cmd.has(table::PEER) && cx.client.forwarded && !cmd.has(table::VIA_HCFWD) {
        return Err(Error::msg(
            "internal commands cannot be forwarded or queued",
        ));
    }
    if !cx.client.authenticated && !cmd.has(table::NO_AUTH) && cx.node.acl.auth_required() {
        return Err(Error::NoAuth);
    }
    // Peers act with the cluster secret's authority, not a user's.
    if !cx.client.user.unrestricted()
        && cx.client.peer.is_none()
        && let Err(e) = acl::check(cx, cmd, &args)
    {
        // As Redis: a refused EXEC discards any transaction and says why.
        if cmd.name == "exec" {
            cx.client.multi = None;
            cx.client.unwatch();
            return Err(Error::coded(format!(
                "EXECABORT Transaction discarded because of: {e}"
            )));
        }
        return Err(e);
    }
    // A RESP2 subscriber's connection carries messages: only these may share it.
    if cx.client.subs.active()
        && !cx.out.resp3()
        && ![
            "subscribe",
            "psubscribe",
            "ssubscribe",
            "unsubscribe",
            "punsubscribe",
            "sunsubscribe",
            "ping",
            "quit",
            "reset",
        ]
        .contains(&cmd.name)
    {
        return Err(Error::msg(format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            table::full_name(cmd)
        )));
    }
    if cmd.has(table::PROTECTED) && !debug_allowed(cx) {
        return Err(Error::msg(
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        ));
    }
    if cmd.has(table::WRITE) {
        let grows = cmd
            .has(table::DENYOOM)
            .then(|| args.iter().skip(1).map(|a| a.len() as u64).sum());
        let intent = crate::write::Intent {
            db: cx.client.db,
            while_loading: cmd.has(table::LOADING),
            grows,
        };
        crate::write::admit(cx.node, intent, cx.now)?;
    } else {
        if !cmd.has(table::LOADING) && cx.node.is_loading() {
            return Err(Error::Loading);
        }
        // As Redis: while the disk refuses our data, PING gets MISCONF as writes do.
        if cmd.name == "ping"
            && let Some(msg) = cx
                .node
                .persistence
                .as_ref()
                .and_then(|p| p.refuses_writes())
        {
            return Err(Error::Misconf(msg));
        }
        // The store this client selected was deleted meanwhile.
        if cmd.has(table::READONLY)
            && cx.client.db & crate::store::NAMED != 0
            && cx.node.store.find(cx.client.db).is_none()
        {
            return Err(Error::msg(
                "the selected store no longer exists (SELECT another)",
            ));
        }
    }
    let Some(handler) = cmd.handler else {
        // A container called bare is an arity error, caught by `resolve`.
        return Err(Error::Arity(cmd.name.to_string()));
    };
    if let Some(tx) = &mut cx.client.multi
        && !transaction::controls(&args[0])
    {
        if cmd.has(table::NO_MULTI) {
            return Err(Error::msg("Command not allowed inside a transaction"));
        }
        let queued = crate::resp::OwnedArgs::copy(&args);
        let limit = cx
            .node
            .settings
            .client_query_buffer_limit
            .load(std::sync::atomic::Ordering::Relaxed) as usize;
        if tx.bytes + queued.bytes() > limit {
            return Err(Error::msg(
                "the transaction is larger than client-query-buffer-limit",
            ));
        }
        tx.bytes += queued.bytes();
        tx.queued.push(queued);
        cx.out.simple("QUEUED");
        return Ok(());
    }
    if !cmd.has(table::INTERNAL) && cx.node.cluster.has_peers() && cluster_step(cx, cmd, &args)? {
        // The connection forwards or read-repairs first, then comes back.
        return Ok(());
    }
    // Subcommand handlers see the whole argv, container name included.
    if cmd.has(table::WRITE) {
        cx.client.local_writes += 1;
    }
    handler(cx, args)
}

/// `enable-debug-command`: `yes`, or `local` and the client is on the loopback interface.
fn debug_allowed(cx: &Ctx<'_>) -> bool {
    use crate::config::DebugCommand;
    match cx.node.settings.debug_command {
        DebugCommand::Yes => true,
        DebugCommand::Local => cx.client.info.addr.ip().to_canonical().is_loopback(),
        DebugCommand::No => false,
    }
}

/// Where an owned command's keys are changed.
pub(crate) enum OwnerRoute {
    Here,
    /// On a peer (its RESP address, when gossip has told it).
    Peer(Option<std::net::SocketAddr>),
    /// Keys with different owners.
    Split,
}

/// The owner of keys `idx` of `args`: their first live replica, the same for all of them.
pub(crate) fn owner_route(node: &Node, db: u32, args: &Args<'_>, idx: &[usize]) -> OwnerRoute {
    let repl = &node.cluster.replicator;
    let ring = node.cluster.ring();
    let rf = repl.rf_for(db);
    let live = |n: &str| n == repl.self_id || (!repl.is_blocked(n) && repl.peer(n).is_some());
    let owner_of = |k: &[u8]| ring.replicas(k, rf).into_iter().find(|n| live(n));
    let owner = owner_of(&args[idx[0]]);
    let same = idx.iter().all(|&i| {
        owner_of(&args[i]) == owner && owner.is_some_and(|o| ring.holds(o, &args[i], rf))
    });
    match owner {
        Some(o) if same && o == repl.self_id => OwnerRoute::Here,
        Some(o) if same => OwnerRoute::Peer(repl.peer(o).and_then(|p| p.addr())),
        _ => OwnerRoute::Split,
    }
}

/// The peer a command would be forwarded to because it changes values its keys' owner holds
/// (`None` when it runs here, is refused, or is not such a command). Lets a connection keep a
/// pipeline's run of commands for one owner together.
pub fn owner_target(
    node: &Node,
    client: &ClientState,
    args: &Args<'_>,
) -> Option<std::net::SocketAddr> {
    if client.forwarded || client.multi.is_some() || !node.cluster.has_peers() {
        return None;
    }
    let cmd = table::lookup(&args[0])?;
    if !cmd.arity_ok(args.len()) || !owned(cmd, args) {
        return None;
    }
    let idx = cmd.key_indexes(args);
    if idx.is_empty() {
        return None;
    }
    match owner_route(node, client.db, args, &idx) {
        OwnerRoute::Peer(addr) => addr,
        _ => None,
    }
}

/// The node that owns the keys at `idx` of `args`: `None` for this one, else the owner's
/// address; TRYAGAIN when the owner has no address yet, CROSSSLOT when the keys have
/// several owners (Redis Cluster's text).
pub(crate) fn owner_of(
    node: &Node,
    db: u32,
    args: &Args<'_>,
    idx: &[usize],
) -> Result<Option<std::net::SocketAddr>> {
    match owner_route(node, db, args, idx) {
        OwnerRoute::Here => Ok(None),
        OwnerRoute::Peer(Some(addr)) => Ok(Some(addr)),
        OwnerRoute::Peer(None) => Err(Error::coded(
            "TRYAGAIN the owner of this key has no address yet",
        )),
        OwnerRoute::Split => Err(Error::coded(
            "CROSSSLOT Keys in request don't hash to the same slot",
        )),
    }
}

/// In a cluster, before a keyed command runs: forwards it to the keys' owner when it changes
/// values in place (`OWNED`), or when this node holds none of its keys' replicas (RF smaller
/// than the cluster); or read-repairs keys missing here. True when the connection has been
/// asked to do either.
fn cluster_step(cx: &mut Ctx<'_>, cmd: &'static Command, args: &Args<'_>) -> Result<bool> {
    let idx = cmd.key_indexes(args);
    if idx.is_empty() {
        return Ok(false);
    }
    let cluster = &cx.node.cluster;
    let repl = &cluster.replicator;
    let db = cx.client.db;
    if !cx.client.forwarded && owned(cmd, args) {
        return Ok(match owner_of(cx.node, db, args, &idx)? {
            None => false,
            Some(addr) => {
                cx.client.action = Some(crate::client::Action::Forward(addr));
                true
            }
        });
    }
    if !cx.client.forwarded && !idx.iter().all(|&i| repl.holds(db, &args[i])) {
        let ring = cluster.ring();
        let rf = repl.rf_for(db);
        // A node that holds every key, if there is one.
        let mut common: Option<Vec<String>> = None;
        for &i in &idx {
            let reps: Vec<String> = ring
                .replicas(&args[i], rf)
                .into_iter()
                .map(String::from)
                .collect();
            common = Some(match common {
                None => reps,
                Some(c) => c.into_iter().filter(|n| reps.contains(n)).collect(),
            });
        }
        let target = common
            .unwrap_or_default()
            .into_iter()
            .filter(|n| !repl.is_blocked(n))
            .find_map(|n| repl.peer(&n).and_then(|p| p.addr()));
        return match target {
            Some(addr) => {
                cx.client.action = Some(crate::client::Action::Forward(addr));
                Ok(true)
            }
            None => Err(Error::coded(
                "CROSSSLOT Keys in request don't hash to the same slot",
            )),
        };
    }
    if cx.client.repaired
        || cx.client.vouched
        || !(cmd.has(table::READONLY) || cmd.has(table::REPAIR))
    {
        return Ok(false);
    }
    let (db, now) = (cx.client.db, cx.now);
    let missing: Vec<Vec<u8>> = idx
        .iter()
        .map(|&i| &args[i])
        .filter(|k| {
            !cx.node
                .store
                .with_key(db, k, now, crate::store::Access::Peek, |r| r.exists())
                && cluster.must_repair(&cx.node.store, db, k)
        })
        .map(|k| k.to_vec())
        .collect();
    if missing.is_empty() {
        return Ok(false);
    }
    cx.client.action = Some(crate::client::Action::Repair(db, missing));
    Ok(true)
}

/// Whether a call changes its keys' values in place (see `table::OWNED`); SET ... NX too, as
/// SETNX: a lock is taken once.
fn owned(cmd: &Command, args: &Args<'_>) -> bool {
    cmd.has(table::OWNED) || (cmd.name == "set" && args.iter().skip(3).any(|a| is(a, "nx")))
}

// --- Argument helpers shared by the command families ---

/// Parses an integer argument with Redis's exact rules.
#[inline]
pub fn int_arg(a: &[u8]) -> Result<i64> {
    parse_i64(a).ok_or(Error::NotInteger)
}

/// Case-insensitive comparison of an argument with an option name.
#[inline]
pub fn is(a: &[u8], opt: &str) -> bool {
    a.eq_ignore_ascii_case(opt.as_bytes())
}

/// Replies the lines of a HELP subcommand, as Redis's addReplyHelp does.
pub fn reply_help(out: &mut Out, container: &str, lines: &[&str]) {
    // The header, the lines, and HELP with its line.
    out.array(lines.len() + 3);
    out.simple(&format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        container
    ));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

/// Runs one command given as separate arguments (tests, tools, and later the HTTP API), with
/// the same dispatch as the RESP path.
pub fn run(
    node: &crate::node::Node,
    client: &mut ClientState,
    out: &mut Out,
    argv: &[&[u8]],
    now: u64,
) {
    let owned = crate::resp::OwnedArgs::of(argv.iter().copied());
    let mut cx = Ctx {
        node,
        client,
        out,
        now,
        command: None,
    };
    execute(&mut cx, owned.args());
}
