//! Commands parsed from arbitrary bytes, run through the real dispatch on an in-process node.
//!
//! Input: a RESP stream (multibulk or inline). Each command the parser finds runs through
//! `command::run` on one node built once (memory only; see `hypercache_fuzz::memory_only`),
//! the clock advancing 100 ms per command so TTLs expire within an input. Every command must
//! answer with exactly one well-formed reply. Between inputs the node is emptied and its
//! settings put back, so an input behaves the same whenever it runs.
//!
//! Commands left out or capped (and why) are listed on `hypercache_fuzz::allowed`.

#![no_main]

use std::sync::LazyLock;

use hypercache::resp::{Frame, Limits, Out, Parser, Protocol};
use hypercache_fuzz::{Harness, MAX_STRING, NOW, allowed, memory_only};
use libfuzzer_sys::fuzz_target;

static HARNESS: LazyLock<Harness> = LazyLock::new(|| Harness::new(memory_only()));

fuzz_target!(|data: &[u8]| {
    let h = &*HARNESS;
    let mut client = h.client();
    let mut out = Out::new(Protocol::Resp2);
    let mut parser = Parser::new();
    let limits = Limits {
        max_bulk_len: MAX_STRING,
        unauthenticated: false,
    };
    let mut config_changed = false;
    let mut at = 0;
    let mut n = 0u64;
    while at < data.len() {
        let buf = &data[at..];
        let len = match parser.parse(buf, &limits) {
            Ok(Frame::Command { len }) => len,
            Ok(Frame::Empty { len }) => {
                at += len;
                continue;
            }
            Ok(Frame::Incomplete { .. }) | Err(_) => break,
        };
        let argv: Vec<&[u8]> = parser.args(buf).iter().collect();
        at += len;
        if !allowed(&argv) {
            continue;
        }
        config_changed |= argv.iter().any(|a| a.eq_ignore_ascii_case(b"config"));
        out.buf.clear();
        hypercache::command::run(&h.node, &mut client, &mut out, &argv, NOW + n * 100);
        n += 1;
        if let Err(e) = check_reply(&out.buf) {
            let argv: Vec<_> = argv.iter().map(|a| String::from_utf8_lossy(a)).collect();
            panic!(
                "{argv:?} replied {:?}: {e}",
                String::from_utf8_lossy(&out.buf)
            );
        }
        if client.close_after_reply {
            break;
        }
    }
    h.reset(config_changed);
});

/// Checks that `buf` is exactly one RESP2/RESP3 reply.
fn check_reply(buf: &[u8]) -> Result<(), String> {
    let used = value(buf, 0)?;
    if used != buf.len() {
        return Err(format!("{} bytes after the reply", buf.len() - used));
    }
    Ok(())
}

/// The length of the line at the start of `buf` (without CRLF), which must hold no CR or LF.
fn line(buf: &[u8]) -> Result<usize, String> {
    let end = buf
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or("unterminated line")?;
    if buf[..end].iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err("CR or LF inside a line".into());
    }
    Ok(end)
}

fn number(b: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(b)))
}

/// The length of the RESP value at the start of `buf`.
fn value(buf: &[u8], depth: usize) -> Result<usize, String> {
    if depth > 16 {
        return Err("nested too deep".into());
    }
    let (&tag, rest) = buf.split_first().ok_or("missing reply")?;
    let end = line(rest)?;
    let head = &rest[..end];
    let mut at = 1 + end + 2;
    match tag {
        b'+' | b'-' | b'_' | b',' | b'#' | b'(' => {
            if tag == b'_' && !head.is_empty() {
                return Err("null with a payload".into());
            }
        }
        b':' => {
            number(head)?;
        }
        b'$' | b'!' | b'=' => {
            let n = number(head)?;
            if n == -1 && tag == b'$' {
                return Ok(at);
            }
            let n = usize::try_from(n).map_err(|_| "negative length")?;
            if buf.len() < at + n + 2 || &buf[at + n..at + n + 2] != b"\r\n" {
                return Err("bulk shorter than its length".into());
            }
            at += n + 2;
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = number(head)?;
            if n == -1 && tag == b'*' {
                return Ok(at);
            }
            let n = usize::try_from(n).map_err(|_| "negative count")?;
            let items = if matches!(tag, b'%' | b'|') { n * 2 } else { n };
            for _ in 0..items {
                at += value(&buf[at..], depth + 1)?;
            }
            if tag == b'|' {
                // An attribute comes before the value it describes.
                at += value(&buf[at..], depth + 1)?;
            }
        }
        t => return Err(format!("unknown reply type {:?}", t as char)),
    }
    Ok(at)
}
