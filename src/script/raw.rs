//! A script's hot path through Lua's C API: KEYS and ARGV built, and `redis.call`'s
//! arguments read and its reply pushed, without mlua's protected call per value. Each of those
//! makes a C closure and a `pcall`: with their garbage, a third of a short script's time.
//!
//! Lua raises its errors (out of memory, a bad table key) with `longjmp`, which Rust allows
//! only over frames that own nothing to drop. So the functions here that call Lua hold only
//! references and numbers; the command itself runs in `run_command`, which has returned (and
//! dropped what it owned) before any Lua call that can raise.

use std::cell::{RefCell, UnsafeCell};
use std::ffi::{c_int, c_void};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mlua::ffi;

use super::lua::{Call, MAX_DEPTH};
use crate::command::{Ctx, table};
use crate::node::Node;
use crate::resp::Protocol;

/// A command's arguments, one after the other, and where each starts and ends (the form
/// `resp::Args` reads), kept from one call to the next.
type Argv = (Vec<u8>, Vec<(usize, usize)>);

/// What `redis.call` reaches through its upvalue: the node, the running script's state, and
/// the bytes it converts to Lua (kept here so that the conversion's frames own nothing).
pub struct CallEnv {
    pub node: Arc<Node>,
    pub call: Rc<RefCell<Option<Call>>>,
    /// The command's arguments, one after the other, and where each starts and ends.
    argv: RefCell<Argv>,
    /// The command's reply (RESP) or, after an error, the error's text.
    reply: UnsafeCell<Vec<u8>>,
}

impl CallEnv {
    pub fn new(node: Arc<Node>, call: Rc<RefCell<Option<Call>>>) -> Box<CallEnv> {
        Box::new(CallEnv {
            node,
            call,
            argv: RefCell::new((Vec::new(), Vec::new())),
            reply: UnsafeCell::new(Vec::new()),
        })
    }
}

/// Pushes `redis.call` (`raise`) or `redis.pcall` as a C closure over `env`, which must
/// outlive the Lua state.
///
/// # Safety
/// `l` is a Lua state with room for two values; `env` outlives it.
pub unsafe fn push_call(l: *mut ffi::lua_State, env: *const CallEnv, raise: bool) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushlightuserdata(l, env as *mut c_void);
        ffi::lua_pushcclosure(l, if raise { call_raise } else { call_protected }, 1);
    }
}

/// Pushes the scripts' `error` as a C closure over `env` (as `push_call`).
///
/// # Safety
/// As `push_call`.
pub unsafe fn push_error_fn(l: *mut ffi::lua_State, env: *const CallEnv) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushlightuserdata(l, env as *mut c_void);
        ffi::lua_pushcclosure(l, error_fn, 1);
    }
}

/// Lua's `error` (luaB_error: a string gets its place at `level`), except that an error
/// table (`{err = ...}`, as redis.error_reply makes) is raised as its text, noted so that
/// the script's reply is that text as it is: Redis 7 replies with such a table's `err`, and
/// its pcall hands the text to the script.
unsafe extern "C-unwind" fn error_fn(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls it with its state and the closure's upvalue set by `push_error_fn`;
    // this frame owns nothing, so each call that raises may `longjmp` over it.
    unsafe {
        let env = &*(ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const CallEnv);
        // Redis names the line raising any error, whatever its message says.
        note_line(env, l);
        let level = ffi::luaL_optinteger(l, 2, 1);
        ffi::lua_settop(l, 1);
        if ffi::lua_type(l, 1) == ffi::LUA_TTABLE {
            ffi::lua_pushstring(l, c"err".as_ptr());
            ffi::lua_rawget_(l, 1);
            if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(l, -1, &mut len);
                note_raised(env, std::slice::from_raw_parts(p.cast::<u8>(), len));
                ffi::lua_error(l);
            }
            ffi::lua_settop(l, 1);
        }
        if ffi::lua_isstring(l, 1) != 0 && level > 0 {
            ffi::luaL_where(l, c_int::try_from(level).unwrap_or(c_int::MAX));
            ffi::lua_pushvalue(l, 1);
            ffi::lua_concat(l, 2);
        }
        ffi::lua_error(l)
    }
}

/// Notes an error table's text. Calls no Lua function that raises.
fn note_raised(env: &CallEnv, text: &[u8]) {
    if let Ok(mut b) = env.call.try_borrow_mut()
        && let Some(c) = b.as_mut()
    {
        c.raised = Some(text.to_vec());
    }
}

/// Pushes a Lua array of `items` (KEYS, ARGV).
///
/// # Safety
/// `l` is a Lua state with room for two values, in a protected call.
pub unsafe fn push_list(l: *mut ffi::lua_State, items: &[Vec<u8>]) {
    // SAFETY: the caller's contract; the table is on the top while its items are set.
    unsafe {
        ffi::lua_createtable(l, c_int::try_from(items.len()).unwrap_or(0), 0);
        for (i, v) in items.iter().enumerate() {
            ffi::lua_pushlstring(l, v.as_ptr().cast(), v.len());
            // Fewer than 2^31 items: each came in one request, whose size is bounded.
            ffi::lua_rawseti_(l, -2, (i + 1) as c_int);
        }
    }
}

/// Sets the globals KEYS and ARGV, past the globals' protection (a raw set).
///
/// # Safety
/// `l` is a Lua state with room for three values, in a protected call.
pub unsafe fn set_keys_and_argv(l: *mut ffi::lua_State, keys: &[Vec<u8>], args: &[Vec<u8>]) {
    // SAFETY: the caller's contract; name and table are pushed before the raw set.
    unsafe {
        for (name, items) in [(c"KEYS", keys), (c"ARGV", args)] {
            ffi::lua_pushstring(l, name.as_ptr());
            push_list(l, items);
            ffi::lua_rawset(l, ffi::LUA_GLOBALSINDEX);
        }
    }
}

unsafe extern "C-unwind" fn call_raise(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls it with its state, the closure's upvalue set by `push_call`.
    unsafe { generic(l, true) }
}

unsafe extern "C-unwind" fn call_protected(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls it with its state, the closure's upvalue set by `push_call`.
    unsafe { generic(l, false) }
}

enum Outcome {
    /// `reply` holds the command's reply.
    Reply,
    /// `reply` holds an error's text: raised by redis.call, returned as `{err=...}` by pcall.
    Error,
}

/// `redis.call` / `redis.pcall`. Owns nothing: every Lua call in here may `longjmp`.
unsafe fn generic(l: *mut ffi::lua_State, raise: bool) -> c_int {
    // SAFETY: the upvalue is the `CallEnv` of `push_call`, alive as long as the state;
    // `reply` is read only after `run_command`, which borrowed it, has returned.
    unsafe {
        let env = &*(ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *const CallEnv);
        let outcome =
            match std::panic::catch_unwind(AssertUnwindSafe(|| run_command(env, l, raise))) {
                Ok(o) => o,
                Err(_) => {
                    let reply = &mut *env.reply.get();
                    reply.clear();
                    reply.extend_from_slice(b"ERR the command failed inside the server");
                    Outcome::Error
                }
            };
        let reply: &[u8] = &*env.reply.get();
        match outcome {
            Outcome::Reply => {
                let mut at = 0;
                if push_reply(l, reply, &mut at, 0) {
                    return 1;
                }
                push_error(l, b"ERR unreadable reply", raise)
            }
            Outcome::Error => push_error(l, reply, raise),
        }
    }
}

/// Raises `msg` (redis.call) or returns `{err = msg}` (redis.pcall).
unsafe fn push_error(l: *mut ffi::lua_State, msg: &[u8], raise: bool) -> c_int {
    // SAFETY: `l` is the calling state, with room for the three values (Lua's minimum
    // of 20 for a C function).
    unsafe {
        if raise {
            ffi::lua_pushlstring(l, msg.as_ptr().cast(), msg.len());
            ffi::lua_error(l);
        }
        ffi::lua_createtable(l, 0, 1);
        ffi::lua_pushlstring(l, msg.as_ptr().cast(), msg.len());
        ffi::lua_setfield(l, -2, c"err".as_ptr());
        1
    }
}

/// Reads the arguments, runs the command as the script's client, and leaves its reply (or
/// the error) in `env.reply`. Calls no Lua function that can raise.
fn run_command(env: &CallEnv, l: *mut ffi::lua_State, raise: bool) -> Outcome {
    // SAFETY: nothing else borrows `reply` while a command runs: the conversion reads it
    // only after this returns.
    let reply = unsafe { &mut *env.reply.get() };
    reply.clear();
    let fail = |reply: &mut Vec<u8>, msg: &str| {
        if raise {
            note_line(env, l);
        }
        reply.clear();
        reply.extend_from_slice(msg.as_bytes());
        Outcome::Error
    };
    let Ok(mut argv) = env.argv.try_borrow_mut() else {
        return fail(reply, "ERR redis.call outside a script");
    };
    let (data, ranges) = &mut *argv;
    data.clear();
    ranges.clear();
    // SAFETY: `l` is the state calling redis.call (its stack holds the arguments). These
    // reads neither allocate nor raise: a string is borrowed (alive while on the stack), a
    // number is formatted here, not converted in place by lua_tolstring.
    let bad = unsafe {
        let n = ffi::lua_gettop(l);
        let mut bad = false;
        for i in 1..=n {
            let start = data.len();
            match ffi::lua_type(l, i) {
                ffi::LUA_TSTRING => {
                    let mut len = 0usize;
                    let p = ffi::lua_tolstring(l, i, &mut len);
                    data.extend_from_slice(std::slice::from_raw_parts(p.cast::<u8>(), len));
                }
                ffi::LUA_TNUMBER => number_arg(ffi::lua_tonumber(l, i), data),
                _ => {
                    bad = true;
                    break;
                }
            }
            ranges.push((start, data.len()));
        }
        bad
    };
    if bad {
        return fail(
            reply,
            "ERR Lua redis lib command arguments must be strings or integers",
        );
    }
    if ranges.is_empty() {
        return fail(
            reply,
            "ERR Please specify at least one argument for this redis lib call",
        );
    }
    let Some(cmd) = table::lookup(&data[ranges[0].0..ranges[0].1]) else {
        return fail(reply, "ERR Unknown Redis command called from script");
    };
    if !cmd.arity_ok(ranges.len()) {
        return fail(
            reply,
            "ERR Wrong number of args calling Redis command from script",
        );
    }
    if cmd.has(table::NOSCRIPT) {
        return fail(reply, "ERR This Redis command is not allowed from script");
    }
    let Ok(mut guard) = env.call.try_borrow_mut() else {
        return fail(reply, "ERR redis.call outside a script");
    };
    let Some(c) = guard.as_mut() else {
        drop(guard);
        return fail(reply, "ERR redis.call outside a script");
    };
    if cmd.has(table::WRITE) {
        if c.read_only {
            drop(guard);
            return fail(
                reply,
                "ERR Write commands are not allowed from read-only scripts.",
            );
        }
        env.node.scripts.wrote.store(true, Ordering::Release);
    }
    let args = crate::resp::Args::new(data, ranges);
    std::mem::swap(&mut c.out.buf, reply);
    c.out.proto = if c.resp3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    {
        let mut cx = Ctx {
            node: &env.node,
            client: &mut c.client,
            out: &mut c.out,
            now: c.now,
            command: None,
        };
        crate::command::execute_queued(&mut cx, args);
    }
    std::mem::swap(&mut c.out.buf, reply);
    drop(guard);
    if raise && reply.first() == Some(&b'-') {
        // redis.call raises an error reply: its text, without the sign and the line end.
        let end = reply.len().saturating_sub(2).max(1);
        reply.truncate(end);
        reply.remove(0);
        note_line(env, l);
        return Outcome::Error;
    }
    Outcome::Reply
}

/// A number argument as Redis 7.0 formats it (`%.17g`): integers without a fraction, and
/// the negative zero as `-0`.
fn number_arg(n: f64, out: &mut Vec<u8>) {
    if n.fract() == 0.0 && n.abs() < 1e15 && !(n == 0.0 && n.is_sign_negative()) {
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(b.format(n as i64).as_bytes());
    } else {
        crate::util::num::fmt_double(n, out);
    }
}

/// Notes the script line calling redis.call (the error's place in Redis's message).
fn note_line(env: &CallEnv, l: *mut ffi::lua_State) {
    // SAFETY: lua_Debug is plain data; getstack and getinfo("l") neither allocate nor raise.
    let line = unsafe {
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        if ffi::lua_getstack(l, 1, &mut ar) != 0 && ffi::lua_getinfo(l, c"l".as_ptr(), &mut ar) != 0
        {
            ar.currentline
        } else {
            -1
        }
    };
    if let Ok(mut b) = env.call.try_borrow_mut()
        && let Some(c) = b.as_mut()
    {
        c.err_line = (line > 0).then_some(line as i64);
    }
}

/// Pushes the reply at `buf[*at..]` (RESP2 or RESP3, as this node wrote it) as Redis gives
/// it to Lua. False when it cannot be read (never for the node's own) or nests too deep.
/// Owns nothing: a push may `longjmp` (out of memory, a nil key).
unsafe fn push_reply(l: *mut ffi::lua_State, buf: &[u8], at: &mut usize, depth: usize) -> bool {
    // SAFETY: `l` is the calling state; room for four values is checked first at each
    // level; every index is into a table this function pushed.
    unsafe {
        if depth > MAX_DEPTH || ffi::lua_checkstack(l, 4) == 0 {
            return false;
        }
        let Some(rest) = buf.get(*at..) else {
            return false;
        };
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return false;
        };
        if eol == 0 {
            return false;
        }
        let tag = rest[0];
        let line = &rest[1..eol];
        *at += eol + 2;
        let int = std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse::<i64>().ok());
        let push_str = |s: &[u8]| ffi::lua_pushlstring(l, s.as_ptr().cast(), s.len());
        // {name = value on the stack's top}
        let wrap = |name: &std::ffi::CStr| {
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_insert(l, -2);
            ffi::lua_setfield(l, -2, name.as_ptr());
        };
        match tag {
            b'+' => {
                push_str(line);
                wrap(c"ok");
            }
            b'-' => {
                push_str(line);
                wrap(c"err");
            }
            b':' => match int {
                Some(n) => ffi::lua_pushnumber(l, n as f64),
                None => return false,
            },
            b'$' | b'=' => {
                let Some(n) = int else { return false };
                if n < 0 {
                    ffi::lua_pushboolean(l, 0);
                    return true;
                }
                let Some(body) = buf.get(*at..).and_then(|b| b.get(..n as usize)) else {
                    return false;
                };
                *at += n as usize + 2;
                if tag == b'=' {
                    // {verbatim_string = {format = ..., string = ...}}
                    ffi::lua_createtable(l, 0, 2);
                    push_str(body.get(..3).unwrap_or(b""));
                    ffi::lua_setfield(l, -2, c"format".as_ptr());
                    push_str(body.get(4..).unwrap_or(b""));
                    ffi::lua_setfield(l, -2, c"string".as_ptr());
                    wrap(c"verbatim_string");
                } else {
                    push_str(body);
                }
            }
            b'*' | b'>' => {
                let Some(n) = int else { return false };
                if n < 0 {
                    ffi::lua_pushboolean(l, 0);
                    return true;
                }
                let Ok(n) = c_int::try_from(n) else {
                    return false;
                };
                ffi::lua_createtable(l, n.min(1 << 16), 0);
                for i in 1..=n {
                    if !push_reply(l, buf, at, depth + 1) {
                        return false;
                    }
                    ffi::lua_rawseti_(l, -2, i);
                }
            }
            // A set: {set = {member = true, ...}}; a map: {map = {key = value, ...}}.
            b'~' | b'%' => {
                let Some(n) = int.filter(|&n| n >= 0) else {
                    return false;
                };
                ffi::lua_createtable(l, 0, n.min(1 << 16) as c_int);
                for _ in 0..n {
                    if !push_reply(l, buf, at, depth + 1) {
                        return false;
                    }
                    if tag == b'~' {
                        ffi::lua_pushboolean(l, 1);
                    } else if !push_reply(l, buf, at, depth + 1) {
                        return false;
                    }
                    ffi::lua_rawset(l, -3);
                }
                wrap(if tag == b'~' { c"set" } else { c"map" });
            }
            b'_' => ffi::lua_pushnil(l),
            b'#' => ffi::lua_pushboolean(l, c_int::from(line == b"t")),
            b',' => {
                let d = std::str::from_utf8(line)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(0.0);
                ffi::lua_pushnumber(l, d);
                wrap(c"double");
            }
            b'(' => {
                push_str(line);
                wrap(c"big_number");
            }
            _ => return false,
        }
        true
    }
}
