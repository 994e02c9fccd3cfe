//! Snapshots: a point-in-time image of every database, shard by shard, without fork.
//!
//! Each shard is encoded while its lock is held (so each shard is a consistent image and no
//! write waits longer than one shard's encoding), then written out after the lock is released.
//! The file is the snapshot magic, a header record, one Set record per key (the same records
//! as the AOF), and an end record with the key count and the Lamport clock; it is written to a
//! temporary name, fsynced and renamed, so a crash leaves either the old or the new snapshot.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::persist::codec::{
    self, DecodeError, FORMAT_VERSION, FileHeader, Reader, SNAPSHOT_MAGIC,
};
use crate::store::Keyspace;
use crate::store::mutation::{Mutation, Op, Origin, OwnedMutation};

const END_TAG: u8 = 0xEE;

pub fn file_name(seq: u64) -> String {
    format!("snapshot-{seq:06}.hcs")
}

/// What writing a snapshot produced.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub path: PathBuf,
    pub seq: u64,
    pub keys: u64,
    pub bytes: u64,
    pub duration_ms: u64,
}

/// Writes snapshot `seq` of `store` into `dir`. On failure nothing is left behind (a full disk
/// must not stay full because of our half-written file). `aof`: the AOF generation that
/// follows this snapshot, which must hold whatever the snapshot caught before it is installed.
pub fn write(
    store: &Keyspace,
    dir: &Path,
    node_id: &str,
    seq: u64,
    now: u64,
    aof: Option<&super::aof::Aof>,
) -> std::io::Result<SnapshotInfo> {
    let tmp = dir.join(format!("{}.tmp", file_name(seq)));
    let r = write_inner(store, dir, &tmp, node_id, seq, now, aof);
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

fn write_inner(
    store: &Keyspace,
    dir: &Path,
    tmp: &Path,
    node_id: &str,
    seq: u64,
    now: u64,
    aof: Option<&super::aof::Aof>,
) -> std::io::Result<SnapshotInfo> {
    let started = Instant::now();
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(seq));
    let file = File::create(tmp)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut head = Vec::new();
    codec::encode_header(
        &mut head,
        SNAPSHOT_MAGIC,
        &FileHeader {
            version: FORMAT_VERSION,
            node_id: node_id.to_string(),
            seq,
            created_ms: now,
        },
    );
    w.write_all(&head)?;
    let mut bytes = head.len() as u64;
    let mut keys = 0u64;
    // The stores created at run time first, so their data has somewhere to go on loading.
    let mut defs = Vec::new();
    for (name, spec) in store.store_records() {
        codec::encode_mutation(
            &mut defs,
            &Mutation {
                db: 0,
                stamp: Default::default(),
                origin: Origin::Local,
                trace: None,
                op: Op::CreateStore {
                    name: name.as_bytes(),
                    spec: spec.as_bytes(),
                },
            },
        );
        keys += 1;
    }
    // FUNCTION's libraries, with their stamp: a peer's older set must not replace them.
    let (_, stamp, libraries) = store.libraries();
    if stamp != Default::default() {
        codec::encode_mutation(
            &mut defs,
            &Mutation {
                db: 0,
                stamp,
                origin: Origin::Local,
                trace: None,
                op: Op::Functions {
                    libraries: &libraries,
                },
            },
        );
        keys += 1;
    }
    w.write_all(&defs)?;
    bytes += defs.len() as u64;
    let mut result = Ok(());
    store.for_each_shard(
        |db, shard| {
            let mut chunk = Vec::with_capacity(shard.used + shard.len() * 32);
            for e in shard.table().iter() {
                if e.is_expired(now) {
                    continue;
                }
                codec::encode_mutation(
                    &mut chunk,
                    &Mutation {
                        db,
                        stamp: crate::store::stamp::nodes::unpack(e.stamp()),
                        origin: Origin::Local,
                        trace: None,
                        op: Op::Set {
                            key: e.key(),
                            value: e.value(),
                            expire_at: e.expire_at(),
                        },
                    },
                );
                keys += 1;
            }
            chunk
        },
        // Written after the shard's lock is released.
        |data| {
            if result.is_ok() {
                bytes += data.len() as u64;
                result = w.write_all(&data);
            }
        },
    );
    result?;
    let mut end = Vec::new();
    codec::frame(&mut end, |p| {
        p.push(END_TAG);
        codec::put_u64(p, keys);
        codec::put_u64(p, store.bus().clock().now());
    });
    w.write_all(&end)?;
    bytes += end.len() as u64;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    // The walk is not a point in time: it may have caught part of a transaction that ran
    // meanwhile. Recovery replays the AOF after the snapshot, which completes it — once that
    // transaction's records, up to its end marker, are in the file.
    if let Some(aof) = aof
        && !aof.settle(std::time::Duration::from_secs(10))
    {
        return Err(std::io::Error::other(
            "the AOF did not catch up with the snapshot",
        ));
    }
    std::fs::rename(tmp, &path)?;
    super::sync_dir(dir)?;
    Ok(SnapshotInfo {
        path,
        seq,
        keys,
        bytes,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// A snapshot read back: its header, its records and the clock it was taken at.
#[derive(Debug)]
pub struct Loaded {
    pub header: FileHeader,
    pub keys: u64,
    pub clock: u64,
}

/// Why a snapshot cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: offset {offset}: {source}")]
    Corrupt {
        path: String,
        offset: u64,
        source: DecodeError,
    },
    #[error("{path}: no end record (incomplete snapshot)")]
    Incomplete { path: String },
}

/// Reads and checks a whole snapshot, calling `f` for every key record. Nothing is applied by
/// this function; a caller that needs all-or-nothing checks first with a no-op `f`.
pub fn read(
    path: &Path,
    mut f: impl FnMut(OwnedMutation) -> Result<(), String>,
) -> Result<Loaded, SnapshotError> {
    let name = path.display().to_string();
    let mut buf = Vec::new();
    File::open(path)
        .and_then(|mut file| file.read_to_end(&mut buf))
        .map_err(|source| SnapshotError::Io {
            path: name.clone(),
            source,
        })?;
    let corrupt = |offset: usize, source| SnapshotError::Corrupt {
        path: name.clone(),
        offset: offset as u64,
        source,
    };
    let (header, mut at) = codec::decode_header(&buf, SNAPSHOT_MAGIC).map_err(|e| corrupt(0, e))?;
    let mut keys = 0;
    loop {
        if at >= buf.len() {
            return Err(SnapshotError::Incomplete { path: name });
        }
        let (payload, used) = codec::unframe(&buf[at..]).map_err(|e| corrupt(at, e))?;
        if payload.first() == Some(&END_TAG) {
            let mut r = Reader::new(&payload[1..]);
            let count = r.u64().map_err(|e| corrupt(at, e))?;
            let clock = r.u64().map_err(|e| corrupt(at, e))?;
            r.finish().map_err(|e| corrupt(at, e))?;
            if count != keys {
                return Err(corrupt(
                    at,
                    DecodeError::Malformed("key count does not match"),
                ));
            }
            if at + used != buf.len() {
                return Err(corrupt(
                    at + used,
                    DecodeError::Malformed("data after the end record"),
                ));
            }
            if clock > crate::store::MAX_LAMPORT {
                return Err(corrupt(at, DecodeError::Malformed("clock out of range")));
            }
            return Ok(Loaded {
                header,
                keys,
                clock,
            });
        }
        let m = codec::decode_mutation(payload, Origin::Replay).map_err(|e| corrupt(at, e))?;
        keys += 1;
        f(m).map_err(|e| corrupt(at, DecodeError::Refused(e)))?;
        at += used;
    }
}
