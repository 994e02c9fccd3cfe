//! FUNCTION libraries, as Redis 7: a library is Lua code with a `#!lua name=<lib>` first
//! line that registers functions (`redis.register_function`) when it is loaded; FCALL calls
//! one by name with its keys and arguments. They live in the script thread's VM.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use mlua::{Function, Lua, Value};

use crate::resp::Out;

/// Libraries a node holds at most (each costs its code and its compiled functions).
pub const MAX_LIBRARIES: usize = 10_000;

struct Registered {
    name: String,
    f: Function,
    flags: Vec<String>,
    description: Option<String>,
}

struct Library {
    code: Vec<u8>,
    functions: Vec<Registered>,
}

#[derive(Default)]
pub struct Libraries {
    libs: BTreeMap<String, Library>,
}

const FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

fn bad_name(name: &str) -> bool {
    name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl Libraries {
    pub fn counts(&self) -> (usize, usize) {
        (
            self.libs.len(),
            self.libs.values().map(|l| l.functions.len()).sum(),
        )
    }

    /// A function by name, and whether it promised not to write (`no-writes`).
    pub fn find(&self, name: &str) -> Option<(Function, bool)> {
        self.libs.values().find_map(|l| {
            l.functions
                .iter()
                .find(|r| r.name == name)
                .map(|r| (r.f.clone(), r.flags.iter().any(|f| f == "no-writes")))
        })
    }

    /// FUNCTION <subcommand> ... (`args[0]` is FUNCTION); whether the libraries changed.
    pub fn command(&mut self, lua: &Lua, args: &[Vec<u8>], out: &mut Out) -> Result<bool, String> {
        let sub = args
            .get(1)
            .map(|a| a.to_ascii_lowercase())
            .unwrap_or_default();
        match sub.as_slice() {
            b"load" => {
                let mut replace = false;
                let mut i = 2;
                while i + 1 < args.len() {
                    if args[i].eq_ignore_ascii_case(b"replace") {
                        replace = true;
                        i += 1;
                    } else {
                        return Err(format!(
                            "ERR Unknown option given: {}",
                            String::from_utf8_lossy(&args[i])
                        ));
                    }
                }
                let code = args.get(i).ok_or("ERR Function code is missing")?;
                let name = self.load(lua, code, replace)?;
                out.bulk(name.as_bytes());
                return Ok(true);
            }
            b"delete" => {
                let name = String::from_utf8_lossy(&args[2]).into_owned();
                self.libs.remove(&name).ok_or("ERR Library not found")?;
                out.ok();
                return Ok(true);
            }
            b"flush" => {
                if let Some(m) = args.get(2)
                    && !(m.eq_ignore_ascii_case(b"sync") || m.eq_ignore_ascii_case(b"async"))
                {
                    return Err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option".into());
                }
                self.libs.clear();
                out.ok();
                return Ok(true);
            }
            b"list" => self.list(args, out)?,
            b"dump" => out.bulk(&self.dump()),
            b"restore" => {
                let policy = args
                    .get(3)
                    .map(|p| p.to_ascii_lowercase())
                    .unwrap_or_else(|| b"append".to_vec());
                if !matches!(policy.as_slice(), b"flush" | b"append" | b"replace") {
                    return Err("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.".into());
                }
                let codes =
                    undump(&args[2]).ok_or("ERR DUMP payload version or checksum are wrong")?;
                let before = std::mem::take(&mut self.libs);
                if policy != b"flush" {
                    self.libs = before
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                Library {
                                    code: v.code.clone(),
                                    functions: v
                                        .functions
                                        .iter()
                                        .map(|r| Registered {
                                            name: r.name.clone(),
                                            f: r.f.clone(),
                                            flags: r.flags.clone(),
                                            description: r.description.clone(),
                                        })
                                        .collect(),
                                },
                            )
                        })
                        .collect();
                }
                for code in codes {
                    if let Err(e) = self.load(lua, &code, policy == b"replace") {
                        // All or nothing, as Redis.
                        self.libs = before;
                        return Err(e);
                    }
                }
                out.ok();
                return Ok(true);
            }
            _ => return Err("ERR unknown FUNCTION subcommand".into()),
        }
        Ok(false)
    }

    /// The libraries a payload holds (the store's record, FUNCTION DUMP's form; empty: none),
    /// loaded into `lua`. A library that fails to load is left out and named in the error.
    pub fn from_payload(lua: &Lua, payload: &[u8]) -> (Libraries, Option<String>) {
        let mut libs = Libraries::default();
        if payload.is_empty() {
            return (libs, None);
        }
        let Some(codes) = undump(payload) else {
            return (libs, Some("the payload is damaged".into()));
        };
        let mut failed = None;
        for code in codes {
            if let Err(e) = libs.load(lua, &code, false) {
                failed = Some(e);
            }
        }
        (libs, failed)
    }

    /// Loads a library: runs its code, which registers its functions.
    fn load(&mut self, lua: &Lua, payload: &[u8], replace: bool) -> Result<String, String> {
        if !payload.starts_with(b"#!") {
            return Err("ERR Missing library metadata".into());
        }
        let end = payload
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("ERR Invalid library metadata")?;
        let shebang = String::from_utf8_lossy(&payload[2..end]).into_owned();
        let mut parts = shebang.split_whitespace();
        let engine = parts
            .next()
            .ok_or("ERR Invalid library metadata")?
            .to_string();
        let mut name: Option<String> = None;
        for part in parts {
            match part.get(..5) {
                Some(p) if p.eq_ignore_ascii_case("name=") => {
                    if name.is_some() {
                        return Err(
                            "ERR Invalid metadata value, name argument was given multiple times"
                                .into(),
                        );
                    }
                    name = Some(part[5..].to_string());
                }
                _ => return Err(format!("ERR Invalid metadata value given: {part}")),
            }
        }
        let name = name.ok_or("ERR Library name was not given")?;
        if bad_name(&name) {
            return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
        }
        if !engine.eq_ignore_ascii_case("lua") {
            return Err(format!("ERR Engine '{engine}' not found"));
        }
        if self.libs.contains_key(&name) && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        if !self.libs.contains_key(&name) && self.libs.len() >= MAX_LIBRARIES {
            return Err("ERR too many function libraries".into());
        }
        let registered = run_library(lua, &payload[end..])?;
        if registered.is_empty() {
            return Err("ERR No functions registered".into());
        }
        for r in &registered {
            let taken = self
                .libs
                .iter()
                .any(|(lib, l)| *lib != name && l.functions.iter().any(|o| o.name == r.name));
            if taken {
                return Err(format!("ERR Function {} already exists", r.name));
            }
        }
        self.libs.insert(
            name.clone(),
            Library {
                code: payload.to_vec(),
                functions: registered,
            },
        );
        Ok(name)
    }

    fn list(&self, args: &[Vec<u8>], out: &mut Out) -> Result<(), String> {
        let mut pattern: Option<&[u8]> = None;
        let mut code = false;
        let mut i = 2;
        while i < args.len() {
            if args[i].eq_ignore_ascii_case(b"withcode") {
                code = true;
            } else if args[i].eq_ignore_ascii_case(b"libraryname") {
                i += 1;
                pattern = Some(
                    args.get(i)
                        .ok_or("ERR library name argument was not given")?,
                );
            } else {
                return Err(format!(
                    "ERR Unknown argument {}",
                    String::from_utf8_lossy(&args[i])
                ));
            }
            i += 1;
        }
        let libs: Vec<(&String, &Library)> = self
            .libs
            .iter()
            .filter(|(n, _)| {
                pattern.is_none_or(|p| crate::util::glob::glob_match(p, n.as_bytes(), false))
            })
            .collect();
        out.array(libs.len());
        for (name, lib) in libs {
            out.map(if code { 4 } else { 3 });
            out.bulk(b"library_name");
            out.bulk(name.as_bytes());
            out.bulk(b"engine");
            out.bulk(b"LUA");
            out.bulk(b"functions");
            out.array(lib.functions.len());
            for f in &lib.functions {
                out.map(3);
                out.bulk(b"name");
                out.bulk(f.name.as_bytes());
                out.bulk(b"description");
                match &f.description {
                    Some(d) => out.bulk(d.as_bytes()),
                    None => out.null(),
                }
                out.bulk(b"flags");
                // As Redis: the flags as status strings.
                out.set(f.flags.len());
                for fl in &f.flags {
                    out.simple(fl);
                }
            }
            if code {
                out.bulk(b"library_code");
                out.bulk(&lib.code);
            }
        }
        Ok(())
    }

    /// FUNCTION DUMP: our own payload (not Redis's RDB form): a tag, then each library's code.
    pub fn dump(&self) -> Vec<u8> {
        let mut out = b"HCFN1".to_vec();
        for lib in self.libs.values() {
            crate::persist::codec::put_bytes(&mut out, &lib.code);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

fn undump(payload: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (body, crc) = payload.split_at_checked(payload.len().checked_sub(4)?)?;
    if crc32fast::hash(body).to_le_bytes() != crc[..] {
        return None;
    }
    let mut r = crate::persist::codec::Reader::new(body.strip_prefix(b"HCFN1")?);
    let mut codes = Vec::new();
    while !r.is_empty() {
        codes.push(r.bytes().ok()?.to_vec());
        if codes.len() > MAX_LIBRARIES {
            return None;
        }
    }
    Some(codes)
}

/// Runs a library's code in an environment where `redis.register_function` collects what it
/// registers (and nothing can touch data: redis.call is not there).
fn run_library(lua: &Lua, code: &[u8]) -> Result<Vec<Registered>, String> {
    let e = |e: mlua::Error| format!("ERR Error registering functions: {e}");
    let found: Rc<RefCell<Vec<Registered>>> = Rc::default();
    let env = lua.create_table().map_err(e)?;
    let meta = lua.create_table().map_err(e)?;
    meta.set("__index", lua.globals()).map_err(e)?;
    env.set_metatable(Some(meta)).map_err(e)?;
    let redis = lua.create_table().map_err(e)?;
    {
        let found = found.clone();
        redis
            .set(
                "register_function",
                lua.create_function(move |_, args: mlua::MultiValue| {
                    let reg = register(args)?;
                    let mut f = found.borrow_mut();
                    if f.iter().any(|o| o.name == reg.name) {
                        return Err(mlua::Error::RuntimeError(
                            "ERR Function already exists in the library".into(),
                        ));
                    }
                    f.push(reg);
                    Ok(())
                })
                .map_err(e)?,
            )
            .map_err(e)?;
    }
    // The rest of `redis` (log, constants) as the scripts' one.
    if let Ok(Value::Table(full)) = lua.globals().raw_get::<Value>("redis") {
        for (k, v) in full.pairs::<Value, Value>().flatten() {
            let keep = match &k {
                Value::String(s) => {
                    let b = s.as_bytes();
                    matches!(&*b, b"log" | b"sha1hex" | b"setresp") || b.starts_with(b"LOG_")
                }
                _ => false,
            };
            if keep {
                redis.raw_set(k, v).map_err(e)?;
            }
        }
    }
    env.raw_set("redis", redis).map_err(e)?;
    lua.load(code)
        .set_name("@user_function")
        .set_environment(env.clone())
        .exec()
        .map_err(|err| {
            let m = super::lua::err_msg(&err);
            format!("ERR Error registering functions: {m}")
        })?;
    // Once loaded, its functions see the whole `redis` table (redis.call, ...), as Redis.
    let full: Value = lua.globals().raw_get("redis").map_err(e)?;
    env.raw_set("redis", full).map_err(e)?;
    Ok(std::mem::take(&mut *found.borrow_mut()))
}

/// `register_function(name, callback)` or `register_function{function_name=, callback=,
/// flags=, description=}`.
fn register(args: mlua::MultiValue) -> mlua::Result<Registered> {
    // As Redis's luaPushError: the code comes with the message.
    let err = |m: &str| mlua::Error::RuntimeError(format!("ERR {m}"));
    let mut it = args.into_iter();
    let first = it
        .next()
        .ok_or_else(|| err("wrong number of arguments to redis.register_function"))?;
    let (name, f, flags, description) = match first {
        Value::Table(t) => {
            let name: String = t.get("function_name").map_err(|_| {
                err("function_name argument given to redis.register_function must be a string")
            })?;
            let f: Function = t.get("callback").map_err(|_| {
                err("callback argument given to redis.register_function must be a function")
            })?;
            let flags: Vec<String> = match t.get::<Value>("flags")? {
                Value::Nil => Vec::new(),
                Value::Table(fl) => fl
                    .sequence_values::<String>()
                    .collect::<mlua::Result<_>>()?,
                _ => {
                    return Err(err(
                        "flags argument to redis.register_function must be a table representing function flags",
                    ));
                }
            };
            let description: Option<String> = t.get("description")?;
            (name, f, flags, description)
        }
        Value::String(s) => {
            let f = match it.next() {
                Some(Value::Function(f)) => f,
                _ => return Err(err("wrong number of arguments to redis.register_function")),
            };
            (s.to_str()?.to_string(), f, Vec::new(), None)
        }
        _ => return Err(err("wrong number of arguments to redis.register_function")),
    };
    if bad_name(&name) {
        return Err(err(
            "Function names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ));
    }
    for fl in &flags {
        if !FLAGS.contains(&fl.as_str()) {
            return Err(err("unknown flag given"));
        }
    }
    Ok(Registered {
        name,
        f,
        flags,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_from_a_file_or_a_peer_loads_or_is_refused_whole() {
        let lua = Lua::new();
        let code = b"#!lua name=lib\nredis.register_function('f', function() return 1 end)";
        let mut libs = Libraries::default();
        libs.load(&lua, code, false).unwrap();
        let (back, failed) = Libraries::from_payload(&lua, &libs.dump());
        assert!(failed.is_none(), "{failed:?}");
        assert_eq!(back.counts(), (1, 1));
        assert!(back.find("f").is_some());
        // Empty: none. Damaged or foreign bytes: none, and said so.
        assert_eq!(Libraries::from_payload(&lua, b"").0.counts(), (0, 0));
        let mut bad = libs.dump();
        bad[7] ^= 1;
        for payload in [&bad[..], b"HCFN1", b"\xff\xff\xff\xff\xff\xff\xff\xff"] {
            let (l, failed) = Libraries::from_payload(&lua, payload);
            assert_eq!(l.counts(), (0, 0));
            assert!(failed.is_some());
        }
    }
}
