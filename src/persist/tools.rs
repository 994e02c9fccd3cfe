//! Offline tools on persistence files: `aof dump`, `aof check [--fix]` (as redis-check-aof),
//! `snapshot dump`.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::path::Path;

use crate::persist::codec::{self, AOF_MAGIC, DecodeError, Marker};
use crate::persist::snapshot;
use crate::store::Value;
use crate::store::mutation::{Origin, OwnedMutation, OwnedOp};

/// Printable form of binary-safe bytes ("..." with escapes, as redis-cli quotes them).
pub fn quote(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
    s
}

fn describe_value(v: &Value) -> String {
    match v {
        Value::Int(n) => format!("int {n}"),
        Value::Str(b) => format!("string {}", quote(b)),
        Value::Small(s) => format!("string {}", quote(s.as_bytes())),
        Value::Raw(b) => format!("string {}", quote(b)),
        Value::Json(b) => format!("json {}", quote(b)),
        Value::Cuckoo(f) => format!(
            "cuckoo-filter items={} layers={} buckets={}",
            f.len(),
            f.layers(),
            f.buckets()
        ),
        Value::Hash(h) => {
            let fields: Vec<String> = h
                .iter()
                .map(|(f, v)| format!("{} {}", quote(f), quote(v)))
                .collect();
            format!("hash {{{}}}", fields.join(", "))
        }
        Value::Set(x) => {
            let items: Vec<String> = x.to_vecs().iter().map(|m| quote(m)).collect();
            format!("set {{{}}}", items.join(", "))
        }
        Value::ZSet(z) => {
            let items: Vec<String> = z
                .iter()
                .map(|(s, m)| {
                    let mut score = Vec::new();
                    crate::util::num::fmt_double(s, &mut score);
                    format!("{} {}", quote(m), String::from_utf8_lossy(&score))
                })
                .collect();
            format!("zset {{{}}}", items.join(", "))
        }
        Value::List(l) => {
            let items: Vec<String> = l.iter().map(|e| quote(&e)).collect();
            format!("list [{}]", items.join(", "))
        }
    }
}

/// One line describing a mutation.
pub fn describe(m: &OwnedMutation) -> String {
    let head = format!("db={} stamp={}@{:x}", m.db, m.stamp.lamport, m.stamp.node);
    match &m.op {
        OwnedOp::Set {
            key,
            value,
            expire_at,
        } => {
            let ttl = if *expire_at == 0 {
                String::new()
            } else {
                format!(" expire_at={expire_at}")
            };
            format!("{head} SET {} {}{ttl}", quote(key), describe_value(value))
        }
        OwnedOp::Splice {
            key,
            offset,
            bytes,
            base,
        } => format!(
            "{head} SPLICE {} at={offset} {} base={}@{:x}",
            quote(key),
            quote(bytes),
            base.lamport,
            base.node
        ),
        OwnedOp::Edit { key, edit, base } => format!(
            "{head} EDIT {} {} base={}@{:x}",
            quote(key),
            crate::collections::edit::describe(edit),
            base.lamport,
            base.node
        ),
        OwnedOp::Del { key } => format!("{head} DEL {}", quote(key)),
        OwnedOp::Expired { key } => format!("{head} EXPIRED {}", quote(key)),
        OwnedOp::Evicted { key } => format!("{head} EVICTED {}", quote(key)),
        OwnedOp::Expire { key, at } => format!("{head} EXPIRE {} at={at}", quote(key)),
        OwnedOp::Persist { key } => format!("{head} PERSIST {}", quote(key)),
        OwnedOp::FlushDb => format!("{head} FLUSHDB"),
        OwnedOp::FlushAll => format!("{head} FLUSHALL"),
        OwnedOp::SwapDb { other } => format!("{head} SWAPDB {other}"),
        OwnedOp::CreateStore { name, spec } => {
            format!("{head} CREATE_STORE {} {}", quote(name), quote(spec))
        }
        OwnedOp::DropStore { name } => format!("{head} DROP_STORE {}", quote(name)),
        OwnedOp::Functions { libraries } => {
            format!("{head} FUNCTIONS ({} bytes)", libraries.len())
        }
    }
}

/// The result of reading an AOF file from start to end.
#[derive(Debug)]
pub struct Scan {
    pub records: u64,
    /// Offset just past the last valid record.
    pub valid_len: u64,
    pub file_len: u64,
    /// The first problem: offset and what it is.
    pub problem: Option<(u64, DecodeError)>,
}

/// What [`scan_aof`] hands its callback: a change, or a transaction's bracket.
pub enum Entry<'a> {
    Mutation(&'a OwnedMutation),
    Marker(Marker),
}

/// What a file that ends inside a transaction is said to have at the transaction's start.
pub const UNFINISHED: DecodeError = DecodeError::Malformed("a transaction without its end marker");

/// Reads a whole AOF, calling `f` with the offset and each valid record. A transaction
/// still open at the end is reported as a problem at its begin marker (as redis-check-aof
/// reports a MULTI without its EXEC).
pub fn scan_aof(path: &Path, mut f: impl FnMut(u64, Entry<'_>)) -> std::io::Result<Scan> {
    let buf = std::fs::read(path)?;
    let file_len = buf.len() as u64;
    let (_, mut at) = match codec::decode_header(&buf, AOF_MAGIC) {
        Ok(h) => h,
        Err(e) => {
            return Ok(Scan {
                records: 0,
                valid_len: 0,
                file_len,
                problem: Some((0, e)),
            });
        }
    };
    let mut records = 0;
    let mut open: Option<(usize, u64)> = None;
    let mut problem = None;
    while at < buf.len() {
        let r = codec::unframe(&buf[at..]).and_then(|(p, used)| match codec::marker_of(p) {
            Some(m) => Ok((Err(m), used)),
            None => codec::decode_mutation(p, Origin::Replay).map(|m| (Ok(m), used)),
        });
        match r {
            Ok((entry, used)) => {
                match &entry {
                    Ok(m) => f(at as u64, Entry::Mutation(m)),
                    Err(m) => f(at as u64, Entry::Marker(*m)),
                }
                match entry {
                    Err(Marker::Begin) => open = Some((at, records)),
                    Err(Marker::End) => open = None,
                    Ok(_) => {}
                }
                records += 1;
                at += used;
            }
            Err(e) => {
                problem = Some((at as u64, e));
                break;
            }
        }
    }
    if let Some((begin, before)) = open {
        // The cut goes before the transaction: none of it is valid without its end.
        return Ok(Scan {
            records: before,
            valid_len: begin as u64,
            file_len,
            problem: Some((begin as u64, UNFINISHED)),
        });
    }
    Ok(Scan {
        records,
        valid_len: at as u64,
        file_len,
        problem,
    })
}

/// `hypercache aof dump FILE`: one line per record. Returns the exit status.
pub fn aof_dump(path: &Path) -> i32 {
    let header = std::fs::read(path)
        .ok()
        .and_then(|b| codec::decode_header(&b, AOF_MAGIC).ok());
    if let Some((h, _)) = header {
        println!(
            "# {}: AOF generation {} of node {} (format {}, created {} ms)",
            path.display(),
            h.seq,
            h.node_id,
            h.version,
            h.created_ms
        );
    }
    let line = |off: u64, e: Entry<'_>| match e {
        Entry::Mutation(m) => println!("{off:>10} {}", describe(m)),
        Entry::Marker(Marker::Begin) => println!("{off:>10} BEGIN (transaction)"),
        Entry::Marker(Marker::End) => println!("{off:>10} END (transaction)"),
    };
    match scan_aof(path, line) {
        Ok(s) => match s.problem {
            None => {
                println!("# {} records, {} bytes", s.records, s.file_len);
                0
            }
            Some((off, e)) => {
                eprintln!("{}: offset {off}: {e}", path.display());
                1
            }
        },
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            1
        }
    }
}

/// `hypercache aof check FILE [--fix]`, as redis-check-aof: reports the first bad record and,
/// with `--fix`, truncates the file to the last valid record.
pub fn aof_check(path: &Path, fix: bool) -> i32 {
    let s = match scan_aof(path, |_, _| {}) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return 1;
        }
    };
    let Some((off, e)) = s.problem else {
        println!(
            "AOF {} is valid: {} records, {} bytes",
            path.display(),
            s.records,
            s.file_len
        );
        return 0;
    };
    let tail = s.file_len - off;
    let kind = if matches!(e, DecodeError::Truncated) {
        "a truncated record (torn write)"
    } else if e == UNFINISHED {
        "an unfinished transaction (crash during it)"
    } else {
        "a corrupt record"
    };
    println!(
        "AOF {} has {kind} at offset {off}: {e}; {} valid records before it, {tail} bytes from there to the end",
        path.display(),
        s.records
    );
    if !fix {
        println!("Run with --fix to truncate the file to its last valid record.");
        return 1;
    }
    if off == 0 {
        eprintln!("The header itself is damaged; refusing to truncate the whole file.");
        return 1;
    }
    match OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(off).and_then(|_| f.sync_all()))
    {
        Ok(()) => {
            println!(
                "Successfully truncated AOF {} to {off} bytes ({tail} bytes removed)",
                path.display()
            );
            0
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            1
        }
    }
}

/// `hypercache snapshot dump FILE`.
pub fn snapshot_dump(path: &Path) -> i32 {
    let mut n = 0u64;
    match snapshot::read(path, |m| {
        n += 1;
        println!("{n:>10} {}", describe(&m));
        Ok(())
    }) {
        Ok(l) => {
            println!(
                "# {}: snapshot generation {} of node {} (created {} ms): {} keys, clock {}",
                path.display(),
                l.header.seq,
                l.header.node_id,
                l.header.created_ms,
                l.keys,
                l.clock
            );
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
