//! Lua's `struct` library as Redis ships it (Roberto Ierusalimschy's lua_struct 0.2):
//! `struct.pack(fmt, ...)`, `struct.unpack(fmt, s [, pos])`, `struct.size(fmt)`. Written to
//! the behaviour of Redis 7.0's build on x86_64 — native order little-endian, `long` and
//! `size_t` 8 bytes, `int` 4, largest alignment 8 — with its error texts.
//!
//! Format: `>` `<` byte order, `!n` alignment, ` ` ignored; `b B h H l L T i[n] I[n]`
//! integers (lower case signed), `f d` floats, `x` a zero byte, `c[n]` n bytes (`c0`: the
//! whole string; on unpack, the length the previous value gave), `s` a zero-terminated string.

use mlua::{Lua, MultiValue, Table, Value};

/// Bytes an `i`/`I` integer may have.
const MAX_INT_SIZE: usize = 32;
/// `!` without a number: the platform's largest alignment.
const MAX_ALIGN: usize = 8;
/// Lua 5.1's bound on a C function's stack (LUAI_MAXCSTACK): unpack's results stop there.
const MAX_STACK: usize = 8000;

pub fn table(lua: &Lua) -> mlua::Result<Table> {
    type Op = fn(&Lua, &MultiValue) -> Result<MultiValue, String>;
    let t = lua.create_table()?;
    let ops: [(&str, Op); 3] = [
        ("pack", |lua, a| pack(lua, a).map(|s| one(Value::String(s)))),
        ("unpack", unpack),
        ("size", |lua, a| size(lua, a).map(|n| one(Value::Number(n)))),
    ];
    for (name, op) in ops {
        t.set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                op(lua, &args).map_err(|m| super::lua::placed(lua, mlua::Error::RuntimeError(m)))
            })?,
        )?;
    }
    Ok(t)
}

fn one(v: Value) -> MultiValue {
    MultiValue::from_iter([v])
}

/// `luaL_argerror`'s text.
fn arg_error(n: usize, func: &str, msg: &str) -> String {
    format!("bad argument #{n} to '{func}' ({msg})")
}

fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(Value::LightUserData(_)) => "userdata",
        Some(_) => "userdata",
    }
}

/// `luaL_checknumber`: a number, or a string Lua reads as one.
fn check_number(lua: &Lua, args: &MultiValue, n: usize, func: &str) -> Result<f64, String> {
    let v = args.get(n - 1);
    let num = match v {
        Some(Value::Integer(i)) => Some(*i as f64),
        Some(Value::Number(x)) => Some(*x),
        Some(s @ Value::String(_)) => lua.coerce_number(s.clone()).ok().flatten(),
        _ => None,
    };
    num.ok_or_else(|| arg_error(n, func, &format!("number expected, got {}", type_name(v))))
}

/// `luaL_checklstring`: a string, or a number written as Lua writes it.
fn check_string(lua: &Lua, args: &MultiValue, n: usize, func: &str) -> Result<Vec<u8>, String> {
    let v = args.get(n - 1);
    let s = match v {
        Some(Value::String(s)) => Some(s.as_bytes().to_vec()),
        Some(x @ (Value::Integer(_) | Value::Number(_))) => lua
            .coerce_string(x.clone())
            .ok()
            .flatten()
            .map(|s| s.as_bytes().to_vec()),
        _ => None,
    };
    s.ok_or_else(|| arg_error(n, func, &format!("string expected, got {}", type_name(v))))
}

/// Byte order and alignment as the format sets them.
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Header {
        Header {
            little: true,
            align: 1,
        }
    }
}

/// The format string, read one option at a time.
struct Format<'a> {
    fmt: &'a [u8],
    at: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// A number written after an option, or `default`.
    fn num(&mut self, default: usize) -> Result<usize, String> {
        if !self.fmt.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(d) = self.fmt.get(self.at).filter(|c| c.is_ascii_digit()) {
            let d = (d - b'0') as usize;
            if a > i32::MAX as usize / 10 || a * 10 > i32::MAX as usize - d {
                return Err("integral size overflow".into());
            }
            a = a * 10 + d;
            self.at += 1;
        }
        Ok(a)
    }

    /// The size of option `opt` (0 for those without one), reading its number.
    fn size(&mut self, opt: u8) -> Result<usize, String> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let sz = self.num(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    ));
                }
                sz
            }
            _ => 0,
        })
    }

    /// The options that set byte order and alignment; anything else is an error.
    fn control(&mut self, opt: u8, h: &mut Header, func: &str) -> Result<(), String> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.num(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(format!("alignment {a} is not a power of 2"));
                }
                h.align = a;
            }
            _ => {
                return Err(arg_error(
                    1,
                    func,
                    &format!("invalid format option '{}'", opt as char),
                ));
            }
        }
        Ok(())
    }
}

/// Padding before an item of `size` at offset `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & (size - 1))) & (size - 1)
}

fn is_int(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

fn format_arg(lua: &Lua, args: &MultiValue, func: &str) -> Result<Vec<u8>, String> {
    check_string(lua, args, 1, func)
}

fn pack(lua: &Lua, args: &MultiValue) -> Result<mlua::String, String> {
    let fmt = format_arg(lua, args, "pack")?;
    // Redis's pack pushes a nil after its arguments: a missing value is "nil", not "no value".
    let mut args = args.clone();
    args.push_back(Value::Nil);
    let args = &args;
    let mut f = Format { fmt: &fmt, at: 0 };
    let mut h = Header::default();
    let mut arg = 2;
    let mut out = Vec::new();
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            _ if is_int(opt) => {
                let n = check_number(lua, args, arg, "pack")?;
                arg += 1;
                // As C's casts: negative numbers through the signed type.
                let mut v = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let start = out.len();
                for _ in 0..size {
                    out.push(v as u8);
                    v = v.checked_shr(8).unwrap_or(0);
                }
                if !h.little {
                    out[start..].reverse();
                }
            }
            b'x' => out.push(0),
            b'f' | b'd' => {
                let n = check_number(lua, args, arg, "pack")?;
                arg += 1;
                let start = out.len();
                if opt == b'f' {
                    out.extend_from_slice(&(n as f32).to_le_bytes());
                } else {
                    out.extend_from_slice(&n.to_le_bytes());
                }
                if !h.little {
                    out[start..].reverse();
                }
            }
            b'c' | b's' => {
                let s = check_string(lua, args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // Redis names the argument after this one.
                    return Err(arg_error(arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h, "pack")?,
        }
    }
    lua.create_string(&out).map_err(|e| super::lua::err_msg(&e))
}

/// Reads an integer of `size` bytes.
fn get_int(b: &[u8], little: bool, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    let mut push = |c: u8| l = (l << 8) | c as u64;
    if little {
        b[..size].iter().rev().for_each(|&c| push(c));
    } else {
        b[..size].iter().for_each(|&c| push(c));
    }
    if !signed {
        return l as f64;
    }
    // x86's shift takes the count modulo 64, as the C it mirrors does for sizes past 8.
    let mask = u64::MAX.wrapping_shl((size * 8).wrapping_sub(1) as u32);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, args: &MultiValue) -> Result<MultiValue, String> {
    let fmt = format_arg(lua, args, "unpack")?;
    let data = check_string(lua, args, 2, "unpack")?;
    let ld = data.len();
    let pos = match args.get(2) {
        None | Some(Value::Nil) => 1,
        Some(_) => {
            let n = check_number(lua, args, 3, "unpack")?;
            // luaL_optinteger into a size_t: a negative offset wraps to a huge one.
            n as i64 as u64 as usize
        }
    };
    if pos == 0 {
        return Err(arg_error(3, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = pos - 1;
    let mut f = Format { fmt: &fmt, at: 0 };
    let mut h = Header::default();
    let mut out: Vec<Value> = Vec::new();
    let fixed = args.len().max(2);
    let short = || arg_error(2, "unpack", "data string too short");
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(short());
        }
        if fixed + out.len() + 2 > MAX_STACK {
            return Err("stack overflow (too many results)".into());
        }
        match opt {
            _ if is_int(opt) => out.push(Value::Number(get_int(
                &data[pos..],
                h.little,
                opt.is_ascii_lowercase(),
                size,
            ))),
            b'x' => {}
            b'f' | b'd' => {
                // Into native (little-endian) order first.
                let mut b = [0u8; 8];
                b[..size].copy_from_slice(&data[pos..pos + size]);
                if !h.little {
                    b[..size].reverse();
                }
                let v = if opt == b'f' {
                    f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64
                } else {
                    f64::from_le_bytes(b)
                };
                out.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    // The previous value, if Lua reads it as a number, is the length.
                    let n = out
                        .last()
                        .and_then(|v| lua.coerce_number(v.clone()).ok().flatten())
                        .ok_or("format 'c0' needs a previous size")?;
                    size = n as i64 as u64 as usize;
                    out.pop();
                    if !(size <= ld && pos <= ld - size) {
                        return Err(short());
                    }
                }
                let s = lua
                    .create_string(&data[pos..pos + size])
                    .map_err(|e| super::lua::err_msg(&e))?;
                out.push(Value::String(s));
            }
            b's' => {
                let end = data[pos..]
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or("unfinished string in data")?;
                size = end + 1;
                let s = lua
                    .create_string(&data[pos..pos + end])
                    .map_err(|e| super::lua::err_msg(&e))?;
                out.push(Value::String(s));
            }
            _ => f.control(opt, &mut h, "unpack")?,
        }
        pos = pos.wrapping_add(size);
    }
    out.push(Value::Number((pos as u64).wrapping_add(1) as i64 as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(lua: &Lua, args: &MultiValue) -> Result<f64, String> {
    let fmt = format_arg(lua, args, "size")?;
    let mut f = Format { fmt: &fmt, at: 0 };
    let mut h = Header::default();
    let mut pos: usize = 0;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if opt == b's' {
            return Err(arg_error(1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(1, "size", "option 'c0' has no fixed size"));
        }
        // As Redis: letters and digits it does not know are skipped.
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h, "size")?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(pos as f64)
}
