//! The Lua VM of the script thread: Redis's environment (the `redis` table, `bit`, `cjson`,
//! KEYS and ARGV, protected globals), the conversions between RESP and Lua both ways, and the
//! run of one script.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use rustc_hash::FxHashMap;

use super::{Done, Job, Run};
use crate::client::ClientState;
use crate::node::Node;
use crate::resp::{Out, Protocol};

/// Nested replies deeper than this are not converted (a reply is ours, but a table returned
/// by a script is not: a self-referencing one must not recurse for ever).
pub(super) const MAX_DEPTH: usize = 1000;
/// Lua instructions between two looks at the clock and at SCRIPT KILL.
const HOOK_EVERY: u32 = 100_000;
/// Memory the Lua VM may hold: a script that builds a huge table or string gets Lua's
/// "not enough memory" instead of taking the node's memory.
pub const LUA_MEMORY: usize = 512 << 20;

/// What `redis.call` needs while a script runs.
pub(super) struct Call {
    /// The script line of the redis.call that raised the error the script fails with.
    pub err_line: Option<i64>,
    pub client: ClientState,
    pub out: Out,
    pub read_only: bool,
    /// RESP version replies are converted from (`redis.setresp`).
    pub resp3: bool,
    pub now: u64,
    /// The text of the last error table raised with `error` (the reply, as it is, when the
    /// script fails with it).
    pub raised: Option<Vec<u8>>,
}

thread_local! {
    /// The script thread's VM.
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
}

/// The script thread: an event loop of its own, which runs the scripts handed to it and
/// serves the connections that moved to it (their scripts run inline, without a hand-off).
pub fn serve_thread(
    node: Arc<Node>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<super::ToScripts>,
) {
    match Vm::new(node.clone()) {
        Ok(vm) => VM.with(|v| *v.borrow_mut() = Some(vm)),
        Err(e) => {
            tracing::error!(component = "scripting", action = "start", error = %e, "cannot start the Lua VM");
            return;
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(component = "scripting", action = "start", error = %e, "cannot start the script thread's event loop");
            return;
        }
    };
    rt.block_on(async move {
        if let Some(setup) = node.scripts.thread_setup.get() {
            setup(&node);
        }
        while let Some(msg) = rx.recv().await {
            match msg {
                super::ToScripts::Jobs(jobs, reply) => {
                    let _ = reply.send(run_here(jobs));
                }
                super::ToScripts::Run(f) => f(),
            }
        }
    });
}

/// Runs scripts on the script thread, in order.
pub fn run_here(jobs: Vec<Job>) -> Vec<Done> {
    VM.with(|v| match v.try_borrow_mut() {
        Ok(mut vm) => match vm.as_mut() {
            Some(vm) => {
                vm.sync_libraries();
                jobs.into_iter().map(|job| vm.run(job)).collect()
            }
            None => gone(jobs.len()),
        },
        Err(_) => gone(jobs.len()),
    })
}

fn gone(n: usize) -> Vec<Done> {
    (0..n)
        .map(|_| Done {
            reply: b"-ERR the script thread is gone\r\n".to_vec(),
        })
        .collect()
}

struct Vm {
    lua: Lua,
    node: Arc<Node>,
    call: Rc<RefCell<Option<Call>>>,
    /// Compiled scripts, with their shebang's flags.
    compiled: FxHashMap<String, (Function, Shebang)>,
    /// FUNCTION's libraries, compiled from the store's version `libs_version`.
    libs: super::functions::Libraries,
    libs_version: u64,
    /// The script client's identity and its reply buffer, kept from one script to the next.
    info: Arc<crate::client::ClientInfo>,
    spare_out: Option<Out>,
    /// What redis.call reaches; after `lua`, so that it outlives the state.
    _env: Box<super::raw::CallEnv>,
}

/// An error raised by a library function, placed as Lua's luaL_error places it: prefixed
/// with the calling script's name and line (`user_script:3: ...`).
pub fn placed(lua: &Lua, e: mlua::Error) -> mlua::Error {
    let at = lua.inspect_stack(1, |d| {
        let src = d.source().short_src.map(|s| s.into_owned());
        src.zip(d.current_line())
    });
    match at.flatten() {
        Some((src, line)) => mlua::Error::RuntimeError(format!("{src}:{line}: {}", err_msg(&e))),
        None => e,
    }
}

/// An error's message, without the traceback Lua adds.
pub fn err_msg(e: &mlua::Error) -> String {
    let text = match e {
        mlua::Error::CallbackError { cause, .. } => return err_msg(cause),
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => m.clone(),
        mlua::Error::ExternalError(e) => e.to_string(),
        other => other.to_string(),
    };
    // The message alone, without the traceback Lua adds.
    match text.split_once("\nstack traceback:") {
        Some((m, _)) => m.to_string(),
        None => text,
    }
}

/// The flags a script declares on a `#!lua flags=...` first line (Redis 7). A script without
/// one runs as before Redis 7 (`declared` false).
#[derive(Debug, Clone, Copy, Default)]
struct Shebang {
    declared: bool,
    no_writes: bool,
    no_cluster: bool,
}

/// Reads a script's shebang: its flags and where the code after it starts.
fn shebang(source: &[u8]) -> Result<(Shebang, usize), String> {
    if !source.starts_with(b"#!") {
        return Ok((Shebang::default(), 0));
    }
    let end = source
        .iter()
        .position(|&c| c == b'\n')
        .ok_or("ERR Invalid script shebang")?;
    let line = String::from_utf8_lossy(&source[..end]).into_owned();
    let mut parts = line.split_whitespace();
    let engine = parts.next().ok_or("ERR Invalid engine in script shebang")?;
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = Shebang {
        declared: true,
        ..Shebang::default()
    };
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        // `flags=` alone declares none (Redis splits an empty list into nothing).
        for flag in list.split(',').filter(|_| !list.is_empty()) {
            match flag {
                "no-writes" => flags.no_writes = true,
                "no-cluster" => flags.no_cluster = true,
                "allow-oom" | "allow-stale" | "allow-cross-slot-keys" => {}
                _ => return Err(format!("ERR Unexpected flag in script shebang: {flag}")),
            }
        }
    }
    Ok((flags, end))
}

/// The script line an error names at its start (`user_script:N: ...`).
fn line_of(msg: &str) -> Option<i64> {
    let rest = msg
        .strip_prefix("user_script:")
        .or_else(|| msg.strip_prefix("user_function:"))?;
    rest.split(':').next()?.parse().ok()
}

impl Vm {
    /// A FUNCTION subcommand, on the thread where the libraries live.
    /// A change goes to the store, which keeps it (AOF, snapshots) and sends it to every node.
    fn manage(&mut self, args: &[Vec<u8>], out: &mut Out) -> Result<(), String> {
        self.sync_libraries();
        if args
            .get(1)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"stats"))
        {
            super::stats(&self.node.scripts, out);
            return Ok(());
        }
        let r = self.bounded(|vm| vm.libs.command(&vm.lua, args, out));
        if let Ok(true) = r {
            self.libs_version = self.node.store.set_libraries(&self.libs.dump());
        }
        self.count_libraries();
        r.map(|_| ())
    }

    /// Runs library code with Redis's 500 ms bound.
    fn bounded<R>(&mut self, f: impl FnOnce(&mut Vm) -> R) -> R {
        let node = self.node.clone();
        let scripts = &node.scripts;
        let deadline = crate::util::time::now_ms() + super::LOAD_TIMEOUT_MS;
        scripts.load_deadline.store(deadline, Ordering::Release);
        let r = f(self);
        scripts.load_deadline.store(0, Ordering::Release);
        r
    }

    fn count_libraries(&self) {
        let (l, f) = self.libs.counts();
        let s = &self.node.scripts;
        s.libraries.store(l, Ordering::Relaxed);
        s.functions.store(f, Ordering::Relaxed);
        s.libraries_version
            .store(self.libs_version, Ordering::Release);
    }

    /// Reloads the libraries when the store's changed (recovery, another node's change).
    fn sync_libraries(&mut self) {
        let (version, _, payload) = self.node.store.libraries();
        if version == self.libs_version {
            return;
        }
        let (libs, failed) =
            self.bounded(|vm| super::functions::Libraries::from_payload(&vm.lua, &payload));
        if let Some(e) = failed {
            tracing::error!(component = "scripting", action = "load_libraries", error = %e, "a function library did not load");
        }
        self.libs = libs;
        self.libs_version = version;
        self.count_libraries();
    }

    fn new(node: Arc<Node>) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        lua.set_memory_limit(LUA_MEMORY)?;
        let call: Rc<RefCell<Option<Call>>> = Rc::new(RefCell::new(None));
        let g = lua.globals();
        // As Redis: no loading of files.
        for name in ["loadfile", "dofile"] {
            g.raw_set(name, Value::Nil)?;
        }
        let env = super::raw::CallEnv::new(node.clone(), call.clone());
        g.raw_set("redis", redis_table(&lua, &env)?)?;
        // SAFETY: `env` is boxed in the Vm beside the state and dropped after it.
        let error: Function = unsafe { lua.exec_raw((), |l| super::raw::push_error_fn(l, &*env))? };
        g.raw_set("error", error)?;
        g.raw_set("bit", bit_table(&lua)?)?;
        g.raw_set("cjson", cjson_table(&lua)?)?;
        g.raw_set("cmsgpack", super::msgpack::table(&lua)?)?;
        g.raw_set("struct", super::structs::table(&lua)?)?;
        drop(g);
        // Globals are protected: a script reading or creating one is an error, as Redis 7.
        // In Lua, so the error names the script's line (`error(..., 2)`).
        lua.load(
            r#"setmetatable(_G, {
                __newindex = function(t, k, v) error("Attempt to modify a readonly table", 2) end,
                __index = function(t, k)
                    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
                end,
            })"#,
        )
        .exec()?;
        let scripts_node = node.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                let s = &scripts_node.scripts;
                let deadline = s.load_deadline.load(Ordering::Acquire);
                if deadline != 0 && crate::util::time::now_ms() >= deadline {
                    return Err(mlua::Error::RuntimeError(
                        "ERR FUNCTION LOAD timeout".into(),
                    ));
                }
                if s.kill.load(Ordering::Acquire) && !s.wrote.load(Ordering::Acquire) {
                    return Err(mlua::Error::RuntimeError(
                        "ERR Script killed by user with SCRIPT KILL...".into(),
                    ));
                }
                Ok(VmState::Continue)
            },
        )?;
        Ok(Vm {
            lua,
            node,
            call,
            compiled: FxHashMap::default(),
            libs: Default::default(),
            libs_version: 0,
            info: Arc::new(crate::client::ClientInfo::internal(0)),
            spare_out: None,
            _env: env,
        })
    }

    fn run(&mut self, job: Job) -> Done {
        let proto = if job.resp3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        let mut out = Out {
            buf: Vec::new(),
            proto,
        };
        let r = match &job.run {
            Run::Manage(args) => self.manage(args, &mut out),
            _ => self.run_inner(&job, &mut out),
        };
        match r {
            Ok(()) => {}
            Err(msg) => {
                out.buf.clear();
                out.error(&msg);
            }
        }
        Done { reply: out.buf }
    }

    /// The compiled script `sha` (from `source`, or the cache's), with its shebang's flags.
    fn compile(
        &mut self,
        sha: &str,
        source: Option<&Arc<[u8]>>,
    ) -> Result<(Function, Shebang), String> {
        if let Some(f) = self.compiled.get(sha)
            && (source.is_some() || self.node.scripts.exists(sha))
        {
            return Ok(f.clone());
        }
        let source = match source {
            Some(s) => s.clone(),
            None => self
                .node
                .scripts
                .get(sha)
                .ok_or("NOSCRIPT No matching script. Please use EVAL.")?,
        };
        let (flags, skip) = shebang(&source)?;
        // The shebang line is skipped, its line feed kept: the script's lines keep their
        // numbers, as Redis.
        let f = self
            .lua
            .load(&source[skip..])
            .set_name("@user_script")
            .into_function()
            .map_err(|e| {
                format!(
                    "ERR Error compiling script (new function): {}",
                    err_msg(&e).replace('\n', " ")
                )
            })?;
        // Compiled functions are kept per script; a flush of the cache is noticed above.
        if self.compiled.len() > super::MAX_SCRIPTS {
            self.compiled.clear();
        }
        self.compiled.insert(sha.to_string(), (f.clone(), flags));
        Ok((f, flags))
    }

    fn run_inner(&mut self, job: &Job, out: &mut Out) -> Result<(), String> {
        let (f, read_only) = match &job.run {
            Run::Function(name) => {
                let (f, no_writes) = self.libs.find(name).ok_or("ERR Function not found")?;
                if job.read_only && !no_writes {
                    return Err(
                        "ERR Can not execute a script with write flag using *_ro command.".into(),
                    );
                }
                (f, job.read_only || no_writes)
            }
            Run::Script { sha, source } => {
                let (f, flags) = self.compile(sha, source.as_ref())?;
                if flags.declared {
                    if flags.no_cluster && self.node.cluster.has_peers() {
                        return Err(
                            "ERR Can not run script on cluster, 'no-cluster' flag is set.".into(),
                        );
                    }
                    if job.read_only && !flags.no_writes {
                        return Err(
                            "ERR Can not execute a script with write flag using *_ro command."
                                .into(),
                        );
                    }
                }
                (f, job.read_only || flags.no_writes)
            }
            Run::Manage(_) => return Err("ERR not a script".into()),
        };
        let lua = &self.lua;
        let e = |e: mlua::Error| format!("ERR {}", err_msg(&e));
        // SAFETY: in mlua's protected call, pushing only values of the job's.
        unsafe {
            lua.exec_raw::<()>((), |l| {
                super::raw::set_keys_and_argv(l, &job.keys, &job.args)
            })
        }
        .map_err(e)?;
        let mut client = ClientState::new(self.info.clone(), job.user.clone());
        client.authenticated = true;
        client.script_caller = Some(job.caller.clone());
        client.db = job.db;
        let mut call_out = self
            .spare_out
            .take()
            .unwrap_or_else(|| Out::new(Protocol::Resp2));
        call_out.buf.clear();
        // One clock read: the script's commands all see the time it started, as in Redis 7.
        let now = crate::util::time::now_ms();
        *self.call.borrow_mut() = Some(Call {
            err_line: None,
            client,
            out: call_out,
            read_only,
            resp3: false,
            now,
            raised: None,
        });
        let node = self.node.clone();
        let scripts = &node.scripts;
        scripts.kill.store(false, Ordering::Release);
        scripts.wrote.store(false, Ordering::Release);
        scripts.running_since.store(now, Ordering::Release);
        // A function gets KEYS and ARGV as its arguments; a script reads the globals.
        let params = match &job.run {
            // SAFETY: in mlua's protected call, pushing only values of the job's.
            Run::Function(_) => unsafe {
                lua.exec_raw::<MultiValue>((), |l| {
                    super::raw::push_list(l, &job.keys);
                    super::raw::push_list(l, &job.args);
                })
            },
            _ => Ok(MultiValue::new()),
        }
        .map_err(e)?;
        let result = node
            .store
            .gate
            .exclusive(|| node.store.bus().group(|| f.call::<Value>(params)));
        scripts.running_since.store(0, Ordering::Release);
        let call = self.call.borrow_mut().take();
        let call_line = call.as_ref().and_then(|c| c.err_line);
        let raised = call.as_ref().and_then(|c| c.raised.clone());
        if let Some(c) = call
            && c.out.buf.capacity() <= 1 << 20
        {
            self.spare_out = Some(c.out);
        }
        match result {
            Ok(v) => {
                to_resp(&v, out, 0);
                Ok(())
            }
            Err(e) => {
                let msg = err_msg(&e);
                // An error table's text is the reply as it is; a Redis error raised by
                // redis.call keeps its own code; Lua's own errors gain ERR.
                let table = raised.as_deref() == Some(msg.as_bytes());
                let coded = table
                    || msg.split(' ').next().is_some_and(|w| {
                        !w.is_empty() && w.bytes().all(|c| c.is_ascii_uppercase())
                    });
                let text = msg.replace(['\r', '\n'], " ");
                // As Redis 7: where in the script it failed.
                let (name, place) = match &job.run {
                    Run::Function(f) => (f.as_str(), "user_function"),
                    Run::Script { sha, .. } => (sha.as_str(), "user_script"),
                    Run::Manage(_) => ("", "user_function"),
                };
                // Where it failed: a message placed by Lua names its line; redis.call's error
                // and an error table were noted where they were raised.
                let line = if table {
                    call_line
                } else {
                    line_of(&msg).or(call_line)
                };
                let at = match line {
                    Some(n) => format!(", on @{place}:{n}."),
                    None => String::new(),
                };
                Err(if coded {
                    format!("{text} script: {name}{at}")
                } else {
                    format!("ERR {text} script: {name}{at}")
                })
            }
        }
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// The `redis` table: call, pcall and their helpers.
fn redis_table(lua: &Lua, env: &super::raw::CallEnv) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (name, raise) in [("call", true), ("pcall", false)] {
        // SAFETY: `env` is boxed in the Vm beside the state and dropped after it.
        let f: Function = unsafe { lua.exec_raw((), |l| super::raw::push_call(l, env, raise))? };
        t.set(name, f)?;
    }
    let call = &env.call;
    t.set(
        "error_reply",
        lua.create_function(|lua, msg: mlua::String| {
            let r = lua.create_table()?;
            let text = String::from_utf8_lossy(&msg.as_bytes()).into_owned();
            // As Redis 7's luaPushErrorBuff: the first word is the code when a space follows
            // it, otherwise the code is ERR.
            let text = text.strip_prefix('-').unwrap_or(&text);
            let text = if text.contains(' ') {
                text.to_string()
            } else {
                format!("ERR {text}")
            };
            r.set("err", text)?;
            Ok(r)
        })?,
    )?;
    t.set(
        "status_reply",
        lua.create_function(|lua, msg: mlua::String| {
            let r = lua.create_table()?;
            r.set("ok", msg)?;
            Ok(r)
        })?,
    )?;
    t.set(
        "sha1hex",
        lua.create_function(|_, s: mlua::String| Ok(super::sha1_hex(&s.as_bytes())))?,
    )?;
    t.set(
        "log",
        lua.create_function(|_, (level, msg): (i64, mlua::String)| {
            let text = String::from_utf8_lossy(&msg.as_bytes()).into_owned();
            match level {
                0 => tracing::debug!(component = "scripting", action = "log", "{text}"),
                1 | 2 => tracing::info!(component = "scripting", action = "log", "{text}"),
                _ => tracing::warn!(component = "scripting", action = "log", "{text}"),
            }
            Ok(())
        })?,
    )?;
    {
        let call = call.clone();
        t.set(
            "setresp",
            lua.create_function(move |_, v: i64| {
                if v != 2 && v != 3 {
                    return Err(mlua::Error::RuntimeError(
                        "RESP version must be 2 or 3.".into(),
                    ));
                }
                if let Some(c) = call.borrow_mut().as_mut() {
                    c.resp3 = v == 3;
                }
                Ok(())
            })?,
        )?;
    }
    // Effects replication is the only one: these are accepted and change nothing.
    t.set("set_repl", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    t.set(
        "replicate_commands",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    for (name, n) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        t.set(name, n)?;
    }
    Ok(t)
}

/// A script's return value as Redis converts it for the client.
fn to_resp(v: &Value, out: &mut Out, depth: usize) {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match v {
        Value::Nil => out.null(),
        Value::Boolean(true) => {
            if out.resp3() {
                out.boolean(true)
            } else {
                out.int(1)
            }
        }
        Value::Boolean(false) => {
            if out.resp3() {
                out.boolean(false)
            } else {
                out.null()
            }
        }
        Value::Integer(n) => out.int(*n),
        // Lua numbers are truncated to integers, as Redis's C cast does on x86-64: one out
        // of range (or NaN) becomes i64::MIN.
        Value::Number(n) => out.int(
            if n.is_nan() || *n >= 9_223_372_036_854_775_808.0 || *n < -9_223_372_036_854_775_808.0
            {
                i64::MIN
            } else {
                *n as i64
            },
        ),
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                out.error_bytes(&e.as_bytes());
                return;
            }
            if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
                out.buf.push(b'+');
                out.buf.extend(
                    s.as_bytes()
                        .iter()
                        .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
                );
                out.buf.extend_from_slice(b"\r\n");
                return;
            }
            if out.resp3() {
                if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
                    let pairs: Vec<(Value, Value)> = m.pairs().filter_map(Result::ok).collect();
                    out.map(pairs.len());
                    for (k, v) in &pairs {
                        to_resp(k, out, depth + 1);
                        to_resp(v, out, depth + 1);
                    }
                    return;
                }
                if let Ok(Value::Table(m)) = t.raw_get::<Value>("set") {
                    let keys: Vec<Value> = m
                        .pairs::<Value, Value>()
                        .filter_map(|p| p.ok().map(|p| p.0))
                        .collect();
                    out.set(keys.len());
                    for k in &keys {
                        to_resp(k, out, depth + 1);
                    }
                    return;
                }
                if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
                    out.double(d);
                    return;
                }
            }
            // An array: up to the first nil, as Redis.
            let items: Vec<Value> = t
                .clone()
                .sequence_values::<Value>()
                .map_while(Result::ok)
                .collect();
            out.array(items.len());
            for i in &items {
                to_resp(i, out, depth + 1);
            }
        }
        _ => out.null(),
    }
}

/// Redis's `bit` library (LuaBitOp) on 32-bit integers.
fn bit_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let tobit = |n: f64| -> i32 { (n as i64) as i32 };
    t.set("tobit", lua.create_function(move |_, n: f64| Ok(tobit(n)))?)?;
    t.set("bnot", lua.create_function(move |_, n: f64| Ok(!tobit(n)))?)?;
    for (name, op) in [
        ("band", (|a: i32, b: i32| a & b) as fn(i32, i32) -> i32),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ] {
        t.set(
            name,
            lua.create_function(move |_, ns: mlua::Variadic<f64>| {
                let mut it = ns.iter();
                let first = it.next().map_or(0, |n| tobit(*n));
                Ok(it.fold(first, |acc, n| op(acc, tobit(*n))))
            })?,
        )?;
    }
    for (name, op) in [
        (
            "lshift",
            (|a: i32, n: u32| a.wrapping_shl(n)) as fn(i32, u32) -> i32,
        ),
        ("rshift", |a, n| ((a as u32).wrapping_shr(n)) as i32),
        ("arshift", |a, n| a.wrapping_shr(n)),
        ("rol", |a, n| a.rotate_left(n)),
        ("ror", |a, n| a.rotate_right(n)),
    ] {
        t.set(
            name,
            lua.create_function(move |_, (a, n): (f64, f64)| {
                Ok(op(tobit(a), (tobit(n) & 31) as u32))
            })?,
        )?;
    }
    t.set(
        "bswap",
        lua.create_function(move |_, n: f64| Ok(tobit(n).swap_bytes()))?,
    )?;
    t.set(
        "tohex",
        lua.create_function(move |_, (a, n): (f64, Option<f64>)| {
            let n = n.map_or(8, |n| n as i64);
            let (upper, width) = (n < 0, n.unsigned_abs().min(8) as usize);
            let v = tobit(a) as u32;
            let s = format!("{v:08x}");
            let s = s[8 - width..].to_string();
            Ok(if upper { s.to_uppercase() } else { s })
        })?,
    )?;
    Ok(t)
}

/// Redis's `cjson`: encode and decode, through serde_json.
fn cjson_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|_, v: Value| {
            let j = to_json(&v, 0).map_err(mlua::Error::RuntimeError)?;
            Ok(j.to_string())
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let j: serde_json::Value = serde_json::from_slice(&s.as_bytes()).map_err(|e| {
                mlua::Error::RuntimeError(format!("Expected value but found invalid token: {e}"))
            })?;
            from_json(lua, &j, 0)
        })?,
    )?;
    Ok(t)
}

fn to_json(v: &Value, depth: usize) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err("Cannot serialise, excessive nesting (1001)".into());
    }
    Ok(match v {
        Value::Nil => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Integer(n) => J::from(*n),
        Value::Number(n) => {
            if n.fract() == 0.0 && n.abs() < 1e15 {
                J::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n).map_or(J::Null, J::Number)
            }
        }
        Value::String(s) => J::String(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        Value::Table(t) => {
            let len = t.raw_len();
            let pairs: Vec<(Value, Value)> = t.pairs().filter_map(Result::ok).collect();
            if len > 0 && pairs.len() == len {
                let mut a = Vec::with_capacity(len);
                for i in 1..=len {
                    a.push(to_json(
                        &t.raw_get::<Value>(i).unwrap_or(Value::Nil),
                        depth + 1,
                    )?);
                }
                J::Array(a)
            } else {
                let mut m = serde_json::Map::new();
                for (k, v) in pairs {
                    m.insert(display(&k), to_json(&v, depth + 1)?);
                }
                J::Object(m)
            }
        }
        _ => return Err("Cannot serialise function: type not supported".into()),
    })
}

fn from_json(lua: &Lua, j: &serde_json::Value, depth: usize) -> mlua::Result<Value> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err(mlua::Error::RuntimeError(
            "Found too many nested data structures".into(),
        ));
    }
    Ok(match j {
        // cjson's null is a lightuserdata; nil would end the array it sits in.
        J::Null => Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(a) => {
            let t = lua.create_table_with_capacity(a.len(), 0)?;
            for (i, v) in a.iter().enumerate() {
                t.raw_set(i + 1, from_json(lua, v, depth + 1)?)?;
            }
            Value::Table(t)
        }
        J::Object(m) => {
            let t = lua.create_table()?;
            for (k, v) in m {
                t.raw_set(k.as_str(), from_json(lua, v, depth + 1)?)?;
            }
            Value::Table(t)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, PersistenceStrategy};

    fn vm() -> Vm {
        let mut config = Config::default();
        config.persistence.enabled = false;
        config.persistence.strategy = PersistenceStrategy::Disabled;
        Vm::new(Node::new(config, Vec::new())).expect("vm")
    }

    fn eval(vm: &mut Vm, src: &str, keys: &[&str], resp3: bool) -> String {
        let job = Job {
            run: Run::Script {
                sha: super::super::sha1_hex(src.as_bytes()),
                source: Some(src.as_bytes().into()),
            },
            keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
            args: vec![b"a1".to_vec()],
            db: 0,
            resp3,
            read_only: false,
            user: vm.node.acl.default_user(),
            caller: vm.info.clone(),
        };
        String::from_utf8(vm.run(job).reply).expect("utf-8")
    }

    // The C-API path (KEYS, ARGV, redis.call's arguments and replies), also run under
    // Valgrind by scripts/check-unsafe.sh.
    #[test]
    fn redis_call_converts_every_reply_and_error_through_the_c_api() {
        let mut vm = vm();
        let cases: &[(&str, &[&str], &str)] = &[
            (
                "return {KEYS[1], KEYS[2], ARGV[1], #KEYS}",
                &["k1", "k2"],
                "*4\r\n$2\r\nk1\r\n$2\r\nk2\r\n$2\r\na1\r\n:2\r\n",
            ),
            (
                "return redis.call('INCRBY', KEYS[1], 41.0)",
                &["n"],
                ":41\r\n",
            ),
            ("return redis.call('GET', KEYS[1])", &["n"], "$2\r\n41\r\n"),
            (
                "return tostring(redis.call('GET', 'none'))",
                &[],
                "$5\r\nfalse\r\n",
            ),
            ("return redis.call('SET', 'x', 'y').ok", &[], "$2\r\nOK\r\n"),
            (
                "return redis.pcall('INCR', 'x').err",
                &[],
                "$43\r\nERR value is not an integer or out of range\r\n",
            ),
            (
                "return redis.call('INCR', 'x')",
                &[],
                "-ERR value is not an integer or out of range script: e3b1a4a7b8ed86d07ab5e4bf76d65d8a7d3f9d60, on @user_script:1.\r\n",
            ),
            (
                "local ok, e = pcall(redis.call, 'nosuch') return e",
                &[],
                "$44\r\nERR Unknown Redis command called from script\r\n",
            ),
            (
                "return redis.pcall('SET', {})",
                &[],
                "-ERR Lua redis lib command arguments must be strings or integers\r\n",
            ),
            (
                "redis.call('RPUSH', 'l', 'a', 'b') return redis.call('LRANGE', 'l', 0, -1)",
                &[],
                "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
            ),
            (
                "redis.setresp(3) redis.call('HSET', 'h', 'f', 'v') return redis.call('HGETALL', 'h').map.f",
                &[],
                "$1\r\nv\r\n",
            ),
            (
                "redis.setresp(3) redis.call('SADD', 's', 'm') return tostring(redis.call('SMEMBERS', 's').set.m)",
                &[],
                "$4\r\ntrue\r\n",
            ),
            (
                "redis.setresp(3) redis.call('ZADD', 'z', 2.5, 'm') return tostring(redis.call('ZSCORE', 'z', 'm').double)",
                &[],
                "$3\r\n2.5\r\n",
            ),
            (
                "redis.setresp(3) return tostring(redis.call('GET', 'none'))",
                &[],
                "$3\r\nnil\r\n",
            ),
        ];
        for (src, keys, want) in cases {
            let got = eval(&mut vm, src, keys, false);
            // The SHA1 in an error names the script; only the one case above has it.
            if want.contains("script: e3b1") {
                assert!(
                    got.starts_with("-ERR value is not an integer or out of range script: "),
                    "{src}: {got}"
                );
                assert!(got.ends_with(", on @user_script:1.\r\n"), "{src}: {got}");
            } else {
                assert_eq!(&got, want, "{src}");
            }
        }
    }

    #[test]
    fn error_raises_an_error_tables_text_and_places_a_string() {
        let mut vm = vm();
        let e = eval(&mut vm, "error({err = 'MY own'})", &[], false);
        assert!(
            e.starts_with("-MY own script: ") && e.ends_with(", on @user_script:1.\r\n"),
            "{e}"
        );
        let e = eval(&mut vm, "\nerror('plain')", &[], false);
        assert!(
            e.starts_with("-ERR user_script:2: plain script: ")
                && e.ends_with(", on @user_script:2.\r\n"),
            "{e}"
        );
        let caught = "local ok, e = pcall(error, {err = 'X y'}) return e";
        assert_eq!(eval(&mut vm, caught, &[], false), "$3\r\nX y\r\n");
        let e = eval(&mut vm, "error('m', 'x')", &[], false);
        assert!(e.contains("bad argument #2"), "{e}");
    }

    #[test]
    fn a_reply_past_the_lua_memory_limit_is_an_error_and_the_vm_runs_on() {
        let mut vm = vm();
        let fill = "for i = 1, 3000 do redis.call('RPUSH', KEYS[1], string.rep('x', 1000) .. i) end return redis.call('LLEN', KEYS[1])";
        assert_eq!(eval(&mut vm, fill, &["big"], false), ":3000\r\n");
        // 3 MB of reply into a VM with 1 MB to spare: Lua raises out of memory from inside
        // the conversion, across its frames.
        let used = vm.lua.used_memory();
        vm.lua.set_memory_limit(used + (1 << 20)).expect("limit");
        let e = eval(
            &mut vm,
            "return #redis.call('LRANGE', KEYS[1], 0, -1)",
            &["big"],
            false,
        );
        assert!(
            e.starts_with("-ERR") && e.contains("not enough memory"),
            "{e}"
        );
        vm.lua.set_memory_limit(LUA_MEMORY).expect("limit");
        assert_eq!(
            eval(
                &mut vm,
                "return #redis.call('LRANGE', KEYS[1], 0, -1)",
                &["big"],
                false
            ),
            ":3000\r\n"
        );
    }
}
