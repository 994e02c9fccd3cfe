//! Recovery at start: the newest valid snapshot, then the AOF generations after it.
//!
//! A torn last record of the last AOF (a crash in the middle of a write) is cut off and
//! reported, as Redis's aof-load-truncated does. A corrupt record anywhere else stops the start
//! with the file and offset, unless `allow_partial_recovery` is set: then every valid record is
//! loaded and what was skipped is reported.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::persist::codec::{self, AOF_MAGIC, DecodeError, FRAME_HEADER, MAX_RECORD, Marker};
use crate::persist::{aof, snapshot};
use crate::store::Keyspace;
use crate::store::mutation::{Mutation, Op, Origin, OwnedMutation};

/// What recovery found and did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// The snapshot loaded (its generation and key count).
    pub snapshot: Option<(u64, u64)>,
    /// AOF records replayed.
    pub replayed: u64,
    /// The generation new writes go to.
    pub next_seq: u64,
    /// A torn tail that was cut off: file, offset, bytes removed.
    pub truncated: Option<(PathBuf, u64, u64)>,
    /// Atomic groups (transactions) whose end marker never made it to disk: their records
    /// were not applied.
    pub unfinished_groups: u64,
    /// Corrupt records skipped under `allow_partial_recovery`: file, offset, reason.
    pub skipped: Vec<(PathBuf, u64, String)>,
    /// Snapshots that could not be used (reason).
    pub bad_snapshots: Vec<String>,
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(
        "{path}: offset {offset}: {reason} (set persistence.allow_partial_recovery: true to load the valid records and skip it)"
    )]
    Corrupt {
        path: String,
        offset: u64,
        reason: String,
    },
    #[error("{0}")]
    Io(String),
    #[error("{0} (set persistence.allow_partial_recovery: true to load what remains)")]
    Missing(String),
}

/// The generations of snapshot and AOF files present in `dir`.
#[derive(Debug, Default)]
pub struct Files {
    pub snapshots: Vec<u64>,
    pub aofs: Vec<u64>,
}

fn parse_seq(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

pub fn list(dir: &Path) -> std::io::Result<Files> {
    let mut f = Files::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(f),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if let Some(s) = parse_seq(&name, "snapshot-", ".hcs") {
            f.snapshots.push(s);
        } else if let Some(s) = parse_seq(&name, "aof-", ".hca") {
            f.aofs.push(s);
        } else if name.ends_with(".tmp") {
            // An unfinished snapshot from a crash: it was never renamed into place.
            let _ = std::fs::remove_file(e.path());
        }
    }
    f.snapshots.sort_unstable();
    f.aofs.sort_unstable();
    Ok(f)
}

/// Loads `dir` into `store` (which must be empty). `with_aof`: whether AOFs are replayed.
pub fn recover(
    store: &Keyspace,
    dir: &Path,
    with_aof: bool,
    allow_partial: bool,
    now: u64,
) -> Result<Report, RecoveryError> {
    let started = Instant::now();
    let files = list(dir).map_err(|e| RecoveryError::Io(format!("{}: {e}", dir.display())))?;
    let mut report = Report::default();
    let mut base: Option<u64> = None;
    for &seq in files.snapshots.iter().rev() {
        let path = dir.join(snapshot::file_name(seq));
        let result = snapshot::read(&path, |m| {
            store
                .apply(&m.as_mutation(), now)
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(loaded) => {
                store.bus().clock().observe(loaded.clock);
                report.snapshot = Some((seq, loaded.keys));
                base = Some(seq);
                break;
            }
            Err(e) => {
                tracing::error!(component = "persistence", action = "recovery", error = %e, "snapshot unusable, trying an older one");
                report.bad_snapshots.push(e.to_string());
                // Undo whatever it loaded before the damage.
                let _ = store.apply(
                    &Mutation {
                        db: 0,
                        stamp: Default::default(),
                        origin: Origin::Replay,
                        trace: None,
                        op: Op::FlushAll,
                    },
                    now,
                );
            }
        }
    }
    if !report.bad_snapshots.is_empty()
        && base.is_none()
        && !allow_partial
        && !files.snapshots.is_empty()
    {
        return Err(RecoveryError::Missing(format!(
            "no usable snapshot in {}: {}",
            dir.display(),
            report.bad_snapshots.join("; ")
        )));
    }
    report.next_seq = base.unwrap_or(0);
    if with_aof {
        let chain: Vec<u64> = files
            .aofs
            .iter()
            .copied()
            .filter(|&s| s >= base.unwrap_or(0))
            .collect();
        // Without a snapshot, the first AOF must be the first generation; and no gaps.
        let mut expect = base.unwrap_or(0);
        for &seq in &chain {
            if seq != expect && !allow_partial {
                return Err(RecoveryError::Missing(format!(
                    "{}: generation {expect} is missing before {}",
                    dir.display(),
                    aof::file_name(seq)
                )));
            }
            expect = seq + 1;
        }
        let last = chain.last().copied();
        for &seq in &chain {
            let path = dir.join(aof::file_name(seq));
            replay(
                store,
                &path,
                Some(seq) == last,
                allow_partial,
                now,
                &mut report,
            )?;
            report.next_seq = seq;
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Replays one AOF file.
fn replay(
    store: &Keyspace,
    path: &Path,
    is_last: bool,
    allow_partial: bool,
    now: u64,
    report: &mut Report,
) -> Result<(), RecoveryError> {
    let name = path.display().to_string();
    let io = |e: std::io::Error| RecoveryError::Io(format!("{name}: {e}"));
    let file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    // Header: magic plus a framed record.
    let mut magic = [0u8; 8];
    let mut offset: u64 = 0;
    let corrupt = |offset: u64, reason: String| RecoveryError::Corrupt {
        path: name.clone(),
        offset,
        reason,
    };
    if read_full(&mut r, &mut magic).map_err(io)? < 8 {
        // A crash while creating the file: nothing in it was ever acknowledged.
        return truncate_torn(path, 0, size, is_last, report).map_err(|e| corrupt(0, e));
    }
    let mut header = magic.to_vec();
    match next_frame(&mut r, &mut header).map_err(io)? {
        Frame::Whole => {}
        Frame::Eof | Frame::Torn => {
            return truncate_torn(path, 0, size, is_last, report).map_err(|e| corrupt(0, e));
        }
        Frame::BadLength(n) => {
            return Err(corrupt(8, format!("header length {n} is out of range")));
        }
    }
    let (_, used) =
        codec::decode_header(&header, AOF_MAGIC).map_err(|e| corrupt(0, e.to_string()))?;
    offset += used as u64;
    let mut rec = Vec::new();
    // The open atomic group: where its begin marker is, whether its end marker follows
    // (looked for when it begins, so its records apply as they are read: nothing is held in
    // memory, whatever a file claims), and the records dropped so far when it does not. A
    // group never spans two files (rotation waits for its end), so one left open at the end
    // of a file is a crash inside it: its records are dropped and, in the last file, cut
    // off, so the node's next records do not land inside it.
    let mut group: Option<OpenGroup> = None;
    let unfinished = |group: &mut Option<OpenGroup>, report: &mut Report| {
        let g = group.take()?;
        if g.complete {
            return None;
        }
        report.unfinished_groups += 1;
        tracing::warn!(
            component = "persistence",
            action = "recovery",
            file = %path.display(),
            offset = g.at,
            records = g.dropped,
            "a transaction's records end without its end marker (crash during it); left out"
        );
        Some(g.at)
    };
    loop {
        rec.clear();
        let start = offset;
        match next_frame(&mut r, &mut rec).map_err(io)? {
            Frame::Eof => {
                if let Some(at) = unfinished(&mut group, report)
                    && is_last
                {
                    return truncate_torn(path, at, size, is_last, report)
                        .map_err(|e| corrupt(at, e));
                }
                return Ok(());
            }
            Frame::Torn => {
                let at = unfinished(&mut group, report).unwrap_or(start);
                return truncate_torn(path, at, size, is_last, report).map_err(|e| corrupt(at, e));
            }
            Frame::BadLength(n) => {
                if !allow_partial {
                    return Err(corrupt(start, format!("record length {n} is out of range")));
                }
                unfinished(&mut group, report);
                // The framing is lost: nothing after this point can be trusted.
                report.skipped.push((
                    path.to_path_buf(),
                    start,
                    format!("bad length {n}; {} bytes skipped", size - start),
                ));
                return Ok(());
            }
            Frame::Whole => {}
        }
        offset += rec.len() as u64;
        let apply = |m: &OwnedMutation| {
            store
                .apply(&m.as_mutation(), now)
                .map_err(|e| DecodeError::Refused(e.to_string()))
        };
        let decoded =
            codec::unframe(&rec).and_then(|(payload, _)| match codec::marker_of(payload) {
                Some(Marker::Begin) => {
                    unfinished(&mut group, report);
                    let complete = group_ends(path, offset, r.buffer()).map_err(|e| {
                        DecodeError::Refused(format!("cannot read ahead for the group's end: {e}"))
                    })?;
                    group = Some(OpenGroup {
                        at: start,
                        complete,
                        dropped: 0,
                    });
                    Ok(0)
                }
                Some(Marker::End) => {
                    group = None;
                    Ok(0)
                }
                None => {
                    let m = codec::decode_mutation(payload, Origin::Replay)?;
                    match &mut group {
                        Some(g) if !g.complete => {
                            g.dropped += 1;
                            Ok(0)
                        }
                        _ => apply(&m).map(|()| 1),
                    }
                }
            });
        match decoded {
            Ok(n) => {
                report.replayed += n;
            }
            Err(e) => {
                // A bad last record that ends exactly at the end of the last file is a torn
                // write whose length made it to disk before its payload did.
                if is_last && offset == size && matches!(e, DecodeError::BadChecksum) {
                    let at = unfinished(&mut group, report).unwrap_or(start);
                    return truncate_torn(path, at, size, is_last, report)
                        .map_err(|e| corrupt(at, e));
                }
                if !allow_partial {
                    return Err(corrupt(start, e.to_string()));
                }
                report
                    .skipped
                    .push((path.to_path_buf(), start, e.to_string()));
            }
        }
    }
}

/// An atomic group being replayed.
struct OpenGroup {
    /// Where its begin marker is.
    at: u64,
    /// Its end marker follows: its records apply as they come.
    complete: bool,
    dropped: u64,
}

/// Whether the group whose records start at `from` ends (its end marker comes before another
/// group's begin, the end of the file, or a torn or unframed record). Damaged records inside
/// it do not end it: replay decides about those as anywhere else. `buffered`: the bytes from
/// `from` the replay has read already — almost every group ends within them, and is answered
/// without reading the file again.
fn group_ends(path: &Path, from: u64, buffered: &[u8]) -> std::io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    if let Some(ends) = group_ends_within(buffered) {
        return Ok(ends);
    }
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut rec = Vec::new();
    loop {
        rec.clear();
        match next_frame(&mut r, &mut rec)? {
            Frame::Whole => {}
            Frame::Eof | Frame::Torn | Frame::BadLength(_) => return Ok(false),
        }
        if let Ok((payload, _)) = codec::unframe(&rec) {
            match codec::marker_of(payload) {
                Some(Marker::End) => return Ok(true),
                Some(Marker::Begin) => return Ok(false),
                None => {}
            }
        }
    }
}

/// [`group_ends`] over bytes in memory; `None` when they run out first (or end in a record
/// the file must decide about).
fn group_ends_within(mut buf: &[u8]) -> Option<bool> {
    loop {
        let head = buf.get(..FRAME_HEADER)?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let rec = buf.get(..FRAME_HEADER.checked_add(len)?)?;
        if let Ok((payload, _)) = codec::unframe(rec) {
            match codec::marker_of(payload) {
                Some(Marker::End) => return Some(true),
                Some(Marker::Begin) => return Some(false),
                None => {}
            }
        }
        buf = &buf[rec.len()..];
    }
}

enum Frame {
    Whole,
    Eof,
    Torn,
    BadLength(u64),
}

/// Reads one framed record (header and payload) into `out`.
fn next_frame(r: &mut impl Read, out: &mut Vec<u8>) -> std::io::Result<Frame> {
    let mut head = [0u8; FRAME_HEADER];
    match read_full(r, &mut head)? {
        0 => return Ok(Frame::Eof),
        n if n < FRAME_HEADER => return Ok(Frame::Torn),
        _ => {}
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > MAX_RECORD {
        return Ok(Frame::BadLength(len as u64));
    }
    out.extend_from_slice(&head);
    let at = out.len();
    out.resize(at + len, 0);
    let got = read_full(r, &mut out[at..])?;
    if got < len {
        return Ok(Frame::Torn);
    }
    Ok(Frame::Whole)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn truncate_torn(
    path: &Path,
    at: u64,
    size: u64,
    is_last: bool,
    report: &mut Report,
) -> Result<(), String> {
    if !is_last {
        return Err("truncated record in an AOF that is not the last one".into());
    }
    let cut = size - at;
    tracing::warn!(
        component = "persistence",
        action = "recovery",
        file = %path.display(),
        offset = at,
        bytes = cut,
        "AOF ends with a torn record (crash during a write); truncating it"
    );
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| e.to_string())?;
    f.set_len(at).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    report.truncated = Some((path.to_path_buf(), at, cut));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::codec::{self, AOF_MAGIC, FileHeader, Marker};
    use crate::store::mutation::{Bus, Mutation, Op};
    use crate::store::{Access, ValueRef};

    fn set(out: &mut Vec<u8>, key: &str) {
        codec::encode_mutation(
            out,
            &Mutation {
                db: 0,
                stamp: Default::default(),
                origin: Origin::Local,
                trace: None,
                op: Op::Set {
                    key: key.as_bytes(),
                    value: ValueRef::Str(b"v"),
                    expire_at: 0,
                },
            },
        );
    }

    fn mark(out: &mut Vec<u8>, m: Marker) {
        let at = out.len();
        codec::encode_marker_unsealed(out, m);
        codec::seal(&mut out[at..]);
    }

    fn has(s: &Keyspace, key: &str) -> bool {
        s.with_key(0, key.as_bytes(), 0, Access::Peek, |k| k.exists())
    }

    #[test]
    fn a_group_applies_whole_or_not_at_all_and_an_open_one_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Vec::new();
        codec::encode_header(
            &mut f,
            AOF_MAGIC,
            &FileHeader {
                version: codec::FORMAT_VERSION,
                node_id: "n".into(),
                seq: 0,
                created_ms: 0,
            },
        );
        set(&mut f, "before");
        mark(&mut f, Marker::Begin);
        set(&mut f, "g1");
        set(&mut f, "g2");
        mark(&mut f, Marker::End);
        // A group cut by the next one's begin, then a group the crash cut off.
        mark(&mut f, Marker::Begin);
        set(&mut f, "lost1");
        let cut_at = f.len() as u64;
        mark(&mut f, Marker::Begin);
        set(&mut f, "lost2");
        set(&mut f, "lost3");
        let path = dir.path().join(super::super::aof::file_name(0));
        std::fs::write(&path, &f).unwrap();
        let store = Keyspace::new(1, 2, Bus::new(1, Vec::new()));
        let report = recover(&store, dir.path(), true, false, 0).unwrap();
        for k in ["before", "g1", "g2"] {
            assert!(has(&store, k), "{k}");
        }
        for k in ["lost1", "lost2", "lost3"] {
            assert!(!has(&store, k), "{k}");
        }
        assert_eq!(report.unfinished_groups, 2);
        assert_eq!(report.replayed, 3);
        // The last file ends where the open group began: the next records start clean.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), cut_at);
    }
}
