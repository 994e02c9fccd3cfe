//! Redis's `cmsgpack` Lua library: MessagePack encoding of Lua values and back. Ours because
//! the bytes must be Redis's own (lua_cmsgpack.c): its choice of float32 when a number fits,
//! `str` headers for every string, arrays for tables that are sequences, 16 levels of nesting.

use mlua::{Lua, MultiValue, Table, Value};

/// Tables nested deeper than this encode as nil (as lua_cmsgpack's LUACMSGPACK_MAX_NESTING).
const MAX_NESTING: usize = 16;
/// Decoding stops past this depth: a hostile payload must not recurse the script thread's
/// stack away (each level is a Rust frame and a Lua table).
const MAX_DECODE_DEPTH: usize = 200;

pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(mlua::Error::RuntimeError(
                    "MessagePack pack needs input.".into(),
                ));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(v, &mut out, 0);
            }
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut at = 0;
            let mut values = Vec::new();
            while at < bytes.len() {
                values
                    .push(decode(lua, &bytes, &mut at, 0).map_err(|e| super::lua::placed(lua, e))?);
            }
            Ok(MultiValue::from_iter(values))
        })?,
    )?;
    Ok(t)
}

fn encode(v: &Value, out: &mut Vec<u8>, level: usize) {
    match v {
        Value::Nil => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => int(*n, out),
        Value::Number(n) => {
            if n.fract() == 0.0 && *n >= -9.2e18 && *n <= 9.2e18 {
                int(*n as i64, out);
            } else {
                let f = *n as f32;
                if f64::from(f) == *n {
                    out.push(0xca);
                    out.extend_from_slice(&f.to_be_bytes());
                } else {
                    out.push(0xcb);
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
        }
        Value::String(s) => bytes(&s.as_bytes(), out),
        Value::Table(t) if level < MAX_NESTING => {
            let pairs: Vec<(Value, Value)> = t.pairs().filter_map(Result::ok).collect();
            if is_array(&pairs) {
                header(pairs.len(), 0x90, 0xdc, out);
                for i in 1..=pairs.len() {
                    encode(&t.raw_get::<Value>(i).unwrap_or(Value::Nil), out, level + 1);
                }
            } else {
                header(pairs.len(), 0x80, 0xde, out);
                for (k, v) in &pairs {
                    encode(k, out, level + 1);
                    encode(v, out, level + 1);
                }
            }
        }
        // Deeper tables, functions and the rest: nil, as lua_cmsgpack.
        _ => out.push(0xc0),
    }
}

/// A table whose keys are exactly 1..n.
fn is_array(pairs: &[(Value, Value)]) -> bool {
    let mut max = 0usize;
    for (k, _) in pairs {
        let n = match k {
            Value::Integer(n) if *n > 0 => *n as f64,
            Value::Number(n) if *n > 0.0 && n.fract() == 0.0 && *n <= i32::MAX as f64 => *n,
            _ => return false,
        };
        max = max.max(n as usize);
    }
    max == pairs.len()
}

/// An array's or a map's header: fix form below 16, else 16- or 32-bit counts.
fn header(n: usize, fix: u8, wide: u8, out: &mut Vec<u8>) {
    if n < 16 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(wide);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(wide + 1);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn bytes(s: &[u8], out: &mut Vec<u8>) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn decode(lua: &Lua, b: &[u8], at: &mut usize, depth: usize) -> mlua::Result<Value> {
    let missing = || mlua::Error::RuntimeError("Missing bytes in input.".into());
    let bad = || mlua::Error::RuntimeError("Bad data format in input.".into());
    if depth > MAX_DECODE_DEPTH {
        return Err(bad());
    }
    let take = |at: &mut usize, n: usize| -> mlua::Result<&[u8]> {
        let s = b.get(*at..*at + n).ok_or_else(missing)?;
        *at += n;
        Ok(s)
    };
    let be = |s: &[u8]| s.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    let m = *take(at, 1)?.first().ok_or_else(missing)?;
    let num = |n: f64| Ok(Value::Number(n));
    let string = |at: &mut usize, n: usize| -> mlua::Result<Value> {
        Ok(Value::String(lua.create_string(take(at, n)?)?))
    };
    match m {
        0x00..=0x7f => num(f64::from(m)),
        0xe0..=0xff => num(f64::from(m as i8)),
        0xa0..=0xbf => string(at, usize::from(m & 0x1f)),
        0x90..=0x9f => array(lua, b, at, usize::from(m & 0x0f), depth),
        0x80..=0x8f => map(lua, b, at, usize::from(m & 0x0f), depth),
        0xc0 => Ok(Value::Nil),
        0xc2 => Ok(Value::Boolean(false)),
        0xc3 => Ok(Value::Boolean(true)),
        0xca => num(f64::from(f32::from_bits(be(take(at, 4)?) as u32))),
        0xcb => num(f64::from_bits(be(take(at, 8)?))),
        0xcc => num(be(take(at, 1)?) as f64),
        0xcd => num(be(take(at, 2)?) as f64),
        0xce => num(be(take(at, 4)?) as f64),
        0xcf => num(be(take(at, 8)?) as f64),
        0xd0 => num(f64::from(be(take(at, 1)?) as u8 as i8)),
        0xd1 => num(f64::from(be(take(at, 2)?) as u16 as i16)),
        0xd2 => num(f64::from(be(take(at, 4)?) as u32 as i32)),
        0xd3 => num(be(take(at, 8)?) as i64 as f64),
        // Strings (and bins), arrays and maps whose count follows in 1, 2 or 4 bytes.
        0xc4..=0xc6 | 0xd9..=0xdb | 0xdc..=0xdf => {
            let width = match m {
                0xc4 | 0xd9 => 1,
                0xc5 | 0xda | 0xdc | 0xde => 2,
                _ => 4,
            };
            let n = be(take(at, width)?) as usize;
            match m {
                0xdc | 0xdd => array(lua, b, at, n, depth),
                0xde | 0xdf => map(lua, b, at, n, depth),
                _ => string(at, n),
            }
        }
        _ => Err(bad()),
    }
}

fn array(lua: &Lua, b: &[u8], at: &mut usize, n: usize, depth: usize) -> mlua::Result<Value> {
    // Each element takes a byte at least: a count past the input is a lie, not a size.
    if n > b.len() - *at {
        return Err(mlua::Error::RuntimeError("Missing bytes in input.".into()));
    }
    let t = lua.create_table_with_capacity(n, 0)?;
    for i in 1..=n {
        t.raw_set(i, decode(lua, b, at, depth + 1)?)?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, b: &[u8], at: &mut usize, n: usize, depth: usize) -> mlua::Result<Value> {
    if n.saturating_mul(2) > b.len() - *at {
        return Err(mlua::Error::RuntimeError("Missing bytes in input.".into()));
    }
    let t = lua.create_table()?;
    for _ in 0..n {
        let k = decode(lua, b, at, depth + 1)?;
        let v = decode(lua, b, at, depth + 1)?;
        if !matches!(k, Value::Nil) {
            t.raw_set(k, v)?;
        }
    }
    Ok(Value::Table(t))
}
