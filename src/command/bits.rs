//! Bitmap commands on string values (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
//! BITFIELD_RO), with Redis 7.0's replies, error texts and checks, in Redis's order.
//!
//! The bit arithmetic is `util::bits`. Reads borrow the value; SETBIT and BITFIELD write the
//! bytes they change as splices (a small record however long the string); BITOP stores its
//! result whole, or deletes the destination when the result is empty.

use super::string::reserve_growth;
use super::{Ctx, int_arg, is};
use crate::error::{Error, Result};
use crate::resp::{Args, Out};
use crate::store::{Access, Value};
use crate::util::bits::{self, Overflow};
use crate::util::num::parse_i64;

const BAD_OFFSET: &str = "bit offset is not an integer or out of range";

/// A bit offset (Redis's getBitOffsetFromArgument): at most proto-max-bulk-len bytes in.
/// With a field `width`, `#N` means N fields in (BITFIELD); the product wraps as it does in
/// Redis, and what wraps negative is refused.
fn bit_offset(cx: &Ctx<'_>, arg: &[u8], width: u32) -> Result<u64> {
    let (fields, digits) = match arg.split_first() {
        Some((b'#', rest)) if width > 0 => (true, rest),
        _ => (false, arg),
    };
    let mut off = parse_i64(digits).ok_or(Error::msg(BAD_OFFSET))?;
    if fields {
        off = off.wrapping_mul(i64::from(width));
    }
    if off < 0 || (off as u64 >> 3) >= cx.max_string() {
        return Err(Error::msg(BAD_OFFSET));
    }
    Ok(off as u64)
}

/// Runs `f` on the string bytes at `key` (`None` when absent), borrowed in place;
/// WRONGTYPE for other types.
fn read_str<R>(
    cx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Out, Option<&[u8]>) -> Result<R>,
) -> Result<R> {
    let access = cx.read_access();
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, key, cx.now, access, |k| match k.value() {
            None => f(out, None),
            Some(v) => v.with_bytes(|s| f(out, Some(s))).ok_or(Error::WrongType)?,
        })
}

pub fn getbit(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let off = bit_offset(cx, &args[2], 0)?;
    read_str(cx, &args[1], |out, s| {
        out.int(s.is_some_and(|s| bits::get_bit(s, off)) as i64);
        Ok(())
    })
}

pub fn setbit(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let off = bit_offset(cx, &args[2], 0)?;
    let on = match int_arg(&args[3]) {
        Ok(0) => false,
        Ok(1) => true,
        _ => return Err(Error::msg("bit is not an integer or out of range")),
    };
    let byte = off >> 3;
    reserve_growth(cx, &args[1], |cur| cur.max(byte + 1))?;
    let mask = 0x80u8 >> (off & 7);
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            // The byte as it is, and whether the string must be written although the bit
            // stays: it grows to hold the byte, or is not yet "raw" (Redis makes it raw).
            let (old, rewrite) = match k.value() {
                None => (0, true),
                Some(v) => v
                    .with_bytes(|s| match s.get(byte as usize) {
                        Some(&b) => (b, v.encoding() != "raw"),
                        None => (0, true),
                    })
                    .ok_or(Error::WrongType)?,
            };
            let new = if on { old | mask } else { old & !mask };
            // One byte on the wire and in the AOF, whatever the string's length; nothing
            // when nothing changes (Redis does not propagate that either).
            if rewrite || new != old {
                k.splice(byte, &[new]);
            }
            out.int(i64::from(old & mask != 0));
            Ok(())
        })
}

/// BITCOUNT's and BITPOS's BYTE|BIT argument: true for BIT.
fn unit_is_bit(a: &[u8]) -> Result<bool> {
    if is(a, "bit") {
        Ok(true)
    } else if is(a, "byte") {
        Ok(false)
    } else {
        Err(Error::Syntax)
    }
}

/// A BITCOUNT/BITPOS range over a string of `len` bytes as Redis normalises it (negative
/// indexes from the end, clamped to the string), as inclusive bit positions; `None` when
/// empty.
fn bit_range(len: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = len as i64 * if in_bits { 8 } else { 1 };
    let from_end = |i: i64| if i < 0 { i + total } else { i };
    let start = from_end(start).max(0);
    let end = from_end(end).max(0).min(total - 1);
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(if in_bits {
        (start, end)
    } else {
        (start * 8, end * 8 + 7)
    })
}

pub fn bitcount(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    // As Redis: the key first (a missing key is 0 whatever the arguments), then the range.
    read_str(cx, &args[1], |out, s| {
        let Some(s) = s else {
            out.int(0);
            return Ok(());
        };
        let n = match args.len() {
            2 => bits::popcount(s),
            4 | 5 => {
                let start = int_arg(&args[2])?;
                let end = int_arg(&args[3])?;
                if start < 0 && end < 0 && start > end {
                    0
                } else {
                    let in_bits = args.len() == 5 && unit_is_bit(&args[4])?;
                    bit_range(s.len(), start, end, in_bits)
                        .map_or(0, |(first, last)| bits::count_range(s, first, last))
                }
            }
            _ => return Err(Error::Syntax),
        };
        out.int(n as i64);
        Ok(())
    })
}

pub fn bitpos(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let bit = match int_arg(&args[2])? {
        0 => false,
        1 => true,
        _ => return Err(Error::msg("The bit argument must be 1 or 0.")),
    };
    read_str(cx, &args[1], |out, s| {
        // A missing key is an endless run of zeros.
        let Some(s) = s else {
            out.int(if bit { -1 } else { 0 });
            return Ok(());
        };
        let (start, end, in_bits, end_given) = match args.len() {
            3 => (0, s.len() as i64 - 1, false, false),
            4..=6 => {
                let start = int_arg(&args[3])?;
                let in_bits = args.len() == 6 && unit_is_bit(&args[5])?;
                match args.get(4) {
                    Some(end) => (start, int_arg(end)?, in_bits, true),
                    None => (start, s.len() as i64 - 1, false, false),
                }
            }
            _ => return Err(Error::Syntax),
        };
        let pos = match bit_range(s.len(), start, end, in_bits) {
            None => -1,
            Some((first, last)) => match bits::find_range(s, bit, first, last) {
                Some(p) => p as i64,
                // Without an end, the string is taken as padded with zeros on the right.
                None if !bit && !end_given => last as i64 + 1,
                None => -1,
            },
        };
        out.int(pos);
        Ok(())
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Folds one source (`src`, zero-padded) into the result; the first source is copied in.
fn fold(res: &mut [u8], src: &[u8], op: BitOp, first: bool) {
    let (head, tail) = res.split_at_mut(src.len());
    if first {
        head.copy_from_slice(src);
        if op == BitOp::Not {
            res.iter_mut().for_each(|b| *b = !*b);
        }
        return;
    }
    // Byte loops over whole slices: the compiler turns them into word (SIMD) operations.
    let pairs = head.iter_mut().zip(src);
    match op {
        BitOp::And => {
            pairs.for_each(|(r, s)| *r &= s);
            tail.fill(0);
        }
        BitOp::Or => pairs.for_each(|(r, s)| *r |= s),
        BitOp::Xor => pairs.for_each(|(r, s)| *r ^= s),
        BitOp::Not => {}
    }
}

pub fn bitop(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    let op = match &args[1] {
        a if is(a, "and") => BitOp::And,
        a if is(a, "or") => BitOp::Or,
        a if is(a, "xor") => BitOp::Xor,
        a if is(a, "not") => BitOp::Not,
        _ => return Err(Error::Syntax),
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(Error::msg(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let (db, now, access) = (cx.client.db, cx.now, cx.read_access());
    let (dest, srcs) = (&args[2], args.slice_from(3));
    let store = &cx.node.store;
    // The result is as long as the longest source: room for it is made before it is built.
    reserve_growth(cx, dest, |_| {
        srcs.iter()
            .filter_map(|k| {
                store.with_key(db, k, now, Access::Peek, |k| {
                    k.value().and_then(|v| v.str_len())
                })
            })
            .max()
            .unwrap_or(0) as u64
    })?;
    let keys = std::iter::once(dest).chain(srcs.iter()).map(|k| (db, k));
    let len = store.with_keys(keys, now, |m| {
        // Every source's type and length before anything is built or written.
        let mut len = 0;
        for key in srcs.iter() {
            if let Some(v) = m.key(db, key, access).value() {
                len = len.max(v.str_len().ok_or(Error::WrongType)?);
            }
        }
        if len == 0 {
            m.key(db, dest, Access::Write).delete();
            return Ok(0);
        }
        let mut res = vec![0u8; len];
        for (i, key) in srcs.iter().enumerate() {
            let k = m.key(db, key, Access::Peek);
            // A missing source is an empty string; the types were checked above.
            if let Some(v) = k.value() {
                v.with_bytes(|s| fold(&mut res, s, op, i == 0));
            } else {
                fold(&mut res, &[], op, i == 0);
            }
        }
        // Redis stores the result as a plain ("raw") string, never as an integer.
        m.key(db, dest, Access::Write)
            .set(Value::Raw(Box::new(res)), 0);
        Ok::<_, Error>(len)
    })?;
    cx.out.int(len as i64);
    Ok(())
}

/// One BITFIELD operation.
#[derive(Debug, Clone, Copy)]
struct FieldOp {
    kind: OpKind,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Get,
    Set(i64),
    IncrBy(i64),
}

impl FieldOp {
    fn writes(&self) -> bool {
        self.kind != OpKind::Get
    }

    /// The bytes it touches, first and last.
    fn bytes(&self) -> (u64, u64) {
        (
            self.offset >> 3,
            (self.offset + u64::from(self.bits) - 1) >> 3,
        )
    }
}

/// A field type, `i1`..`i64` or `u1`..`u63` (Redis reads the digits as a C string: up to a
/// NUL).
fn field_type(a: &[u8]) -> Result<(bool, u32)> {
    let bad = || {
        Error::msg(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match a.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(bad()),
    };
    let digits = a[1..].split(|&c| c == 0).next().unwrap_or_default();
    match parse_i64(digits) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(bad()),
    }
}

/// Parses every operation before anything runs, as Redis does: a bad one fails the command.
fn parse_ops(cx: &Ctx<'_>, args: &Args<'_>) -> Result<Vec<FieldOp>> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let more = args.len() - j - 1;
        let sub = &args[j];
        let get = is(sub, "get") && more >= 2;
        if !get && !((is(sub, "set") || is(sub, "incrby")) && more >= 3) {
            if is(sub, "overflow") && more >= 1 {
                overflow = match &args[j + 1] {
                    a if is(a, "wrap") => Overflow::Wrap,
                    a if is(a, "sat") => Overflow::Sat,
                    a if is(a, "fail") => Overflow::Fail,
                    _ => return Err(Error::msg("Invalid OVERFLOW type specified")),
                };
                j += 2;
                continue;
            }
            return Err(Error::Syntax);
        }
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(cx, &args[j + 2], bits)?;
        let kind = if get {
            OpKind::Get
        } else {
            let v = int_arg(&args[j + 3])?;
            if is(sub, "set") {
                OpKind::Set(v)
            } else {
                OpKind::IncrBy(v)
            }
        };
        ops.push(FieldOp {
            kind,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if get { 3 } else { 4 };
    }
    Ok(ops)
}

/// A GET's reply from the bytes its field starts in.
fn reply_get(out: &mut Out, window: &[u8], op: &FieldOp) {
    let pos = op.offset & 7;
    if op.signed {
        out.int(bits::get_signed_field(window, pos, op.bits));
    } else {
        out.int(bits::get_field(window, pos, op.bits) as i64);
    }
}

pub fn bitfield(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    bitfield_generic(cx, args, false)
}

pub fn bitfield_ro(cx: &mut Ctx<'_>, args: Args<'_>) -> Result<()> {
    bitfield_generic(cx, args, true)
}

fn bitfield_generic(cx: &mut Ctx<'_>, args: Args<'_>, read_only: bool) -> Result<()> {
    let ops = parse_ops(cx, &args)?;
    let Some(highest) = ops.iter().filter(|o| o.writes()).map(|o| o.bytes().1).max() else {
        // Only GETs: a read.
        return read_str(cx, &args[1], |out, s| {
            let s = s.unwrap_or_default();
            out.array(ops.len());
            for op in &ops {
                let from = (op.offset >> 3) as usize;
                reply_get(out, s.get(from..).unwrap_or_default(), op);
            }
            Ok(())
        });
    };
    if read_only {
        return Err(Error::msg("BITFIELD_RO only supports the GET subcommand"));
    }
    // The string grows to hold the farthest field written, even one whose write fails.
    reserve_growth(cx, &args[1], |cur| cur.max(highest + 1))?;
    let out = &mut *cx.out;
    cx.node
        .store
        .with_key(cx.client.db, &args[1], cx.now, Access::Write, |k| {
            let spans = match k.value() {
                None => run_writes(&ops, &[], true, out),
                Some(v) => v
                    .with_bytes(|s| run_writes(&ops, s, v.encoding() == "raw", out))
                    .ok_or(Error::WrongType)?,
            };
            // From the end: the first splice grows the string once to its final length.
            for span in spans.iter().rev() {
                k.splice(span.start, &span.bytes);
            }
            Ok(())
        })
}

/// Bytes of the string as a writing BITFIELD leaves them, from `start`.
struct Span {
    start: u64,
    bytes: Vec<u8>,
}

/// Written ranges this close are one splice: a record's header costs more than the gap.
const SPAN_GAP: u64 = 32;

/// Runs a writing BITFIELD over `cur` (the string's bytes, empty for a new key), writing the
/// replies; returns the spans of bytes to splice in: those the writes change, and those that
/// lengthen the string — or, when there are none and the string is not `raw` yet, one byte
/// as it is (Redis makes the string raw whether or not it changes).
fn run_writes(ops: &[FieldOp], cur: &[u8], raw: bool, out: &mut Out) -> Vec<Span> {
    let mut ranges: Vec<(u64, u64)> = ops
        .iter()
        .filter(|o| o.writes())
        .map(FieldOp::bytes)
        .collect();
    ranges.sort_unstable();
    let mut spans: Vec<Span> = Vec::new();
    let mut ends: Vec<u64> = Vec::new();
    for (first, last) in ranges {
        match ends.last_mut() {
            Some(end) if first <= end.saturating_add(SPAN_GAP) => *end = (*end).max(last),
            _ => {
                spans.push(Span {
                    start: first,
                    bytes: Vec::new(),
                });
                ends.push(last);
            }
        }
    }
    for (span, &last) in spans.iter_mut().zip(&ends) {
        span.bytes = (span.start..=last)
            .map(|i| cur.get(i as usize).copied().unwrap_or(0))
            .collect();
    }
    // The span holding byte `i`, if any.
    let span_of = |spans: &[Span], i: u64| {
        let n = spans.partition_point(|s| s.start <= i);
        n.checked_sub(1)
            .filter(|&m| i - spans[m].start < spans[m].bytes.len() as u64)
    };
    out.array(ops.len());
    for op in ops {
        // The nine bytes from the field's first byte, as the earlier operations left them.
        let first = op.offset >> 3;
        let mut window = [0u8; 9];
        for (i, w) in (first..).zip(window.iter_mut()) {
            *w = match span_of(&spans, i) {
                Some(n) => spans[n].bytes[(i - spans[n].start) as usize],
                None => cur.get(i as usize).copied().unwrap_or(0),
            };
        }
        let pos = op.offset & 7;
        let (by, set) = match op.kind {
            OpKind::Get => {
                reply_get(out, &window, op);
                continue;
            }
            OpKind::Set(v) => (v, true),
            OpKind::IncrBy(v) => (v, false),
        };
        // (value to store, reply); `None` when OVERFLOW FAIL refuses it.
        let result = if op.signed {
            let old = bits::get_signed_field(&window, pos, op.bits);
            let new = if set {
                bits::signed_result(by, 0, op.bits, op.overflow)
            } else {
                bits::signed_result(old, by, op.bits, op.overflow)
            };
            new.map(|n| (n as u64, if set { old } else { n }))
        } else {
            let old = bits::get_field(&window, pos, op.bits);
            let new = if set {
                bits::unsigned_result(by as u64, 0, op.bits, op.overflow)
            } else {
                bits::unsigned_result(old, by, op.bits, op.overflow)
            };
            new.map(|n| (n, (if set { old } else { n }) as i64))
        };
        match result {
            Some((value, reply)) => {
                // Every write's bytes lie in one span, built from the writes' ranges above.
                if let Some(n) = span_of(&spans, first) {
                    let rel = op.offset - spans[n].start * 8;
                    bits::set_field(&mut spans[n].bytes, rel, op.bits, value);
                }
                out.int(reply);
            }
            None => out.null(),
        }
    }
    let changes = |s: &Span| {
        let (from, to) = (s.start as usize, s.start as usize + s.bytes.len());
        cur.get(from..to) != Some(&s.bytes[..])
    };
    if !raw && !spans.iter().any(changes) {
        spans.truncate(1);
        spans.iter_mut().for_each(|s| s.bytes.truncate(1));
        return spans;
    }
    spans.retain(changes);
    spans
}
