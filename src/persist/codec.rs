//! The on-disk (and on-wire) encoding of Mutations: length-prefixed, CRC-checked records.
//!
//! A file is an 8-byte magic followed by records; each record is
//! `len: u32 LE | crc32(payload): u32 LE | payload`. The first record of a file is its header.
//! Integers inside payloads are LEB128 varints (lengths, databases) or fixed 8-byte LE
//! (stamps, deadlines, i64 values).

use crate::store::mutation::{Mutation, Op, Origin, OwnedMutation};
use crate::store::stamp::Stamp;
use crate::store::{Value, ValueRef};

/// Bytes before a record's payload.
pub const FRAME_HEADER: usize = 8;
/// No record may claim more than this (a value is at most 512 MB plus its key and framing).
pub const MAX_RECORD: usize = 1 << 30;

pub const AOF_MAGIC: &[u8; 8] = b"HCAOF\x00\x01\n";
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"HCSNP\x00\x01\n";
pub const FORMAT_VERSION: u16 = 1;

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end before the record does (a torn write at the end of a file).
    #[error("truncated record")]
    Truncated,
    /// The checksum does not match.
    #[error("checksum mismatch")]
    BadChecksum,
    /// The length is impossible.
    #[error("record length {0} is out of range")]
    BadLength(u64),
    /// The payload is not a valid record.
    #[error("malformed payload: {0}")]
    Malformed(&'static str),
    /// A well-formed record this node refuses (a database it does not have, a stamp out of
    /// range, ...).
    #[error("refused record: {0}")]
    Refused(String),
}

/// Appends one framed record whose payload `fill` writes.
pub fn frame(out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER]);
    fill(out);
    let payload = &out[start + FRAME_HEADER..];
    let len = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Appends a record whose checksum is left for [`seal`] to fill in later — so the thread that
/// produces records (a client's) does not pay for the CRC, the AOF writer does.
pub fn frame_unsealed(out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER]);
    fill(out);
    let len = (out.len() - start - FRAME_HEADER) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Fills in the checksums of a run of records framed by [`frame_unsealed`].
pub fn seal(buf: &mut [u8]) {
    let mut at = 0;
    while at + FRAME_HEADER <= buf.len() {
        let len = u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
        let end = at + FRAME_HEADER + len;
        if end > buf.len() {
            break;
        }
        let crc = crc32fast::hash(&buf[at + FRAME_HEADER..end]);
        buf[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
}

/// Reads the record at the start of `buf`: its payload and the bytes it occupies.
pub fn unframe(buf: &[u8]) -> Result<(&[u8], usize), DecodeError> {
    if buf.len() < FRAME_HEADER {
        return Err(DecodeError::Truncated);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len > MAX_RECORD {
        return Err(DecodeError::BadLength(len as u64));
    }
    let end = FRAME_HEADER + len;
    if buf.len() < end {
        return Err(DecodeError::Truncated);
    }
    let payload = &buf[FRAME_HEADER..end];
    if crc32fast::hash(payload) != crc {
        return Err(DecodeError::BadChecksum);
    }
    Ok((payload, end))
}

// --- primitive writers and a reader ---

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over a payload; every read checks bounds.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DecodeError::Malformed("short u8"))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let s = self
            .buf
            .get(self.pos..self.pos + 8)
            .ok_or(DecodeError::Malformed("short u64"))?;
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Malformed("varint too long"))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()? as usize;
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError::Malformed("length overflow"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError::Malformed("short bytes"))?;
        self.pos = end;
        Ok(s)
    }

    pub fn u32_varint(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.varint()?).map_err(|_| DecodeError::Malformed("u32 out of range"))
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(DecodeError::Malformed("trailing bytes"))
        }
    }
}

// --- values ---

const V_INT: u8 = 0;
const V_STR: u8 = 1;
const V_RAW: u8 = 2;
const V_JSON: u8 = 3;
const V_CUCKOO: u8 = 4;
const V_HASH: u8 = 5;
const V_LIST: u8 = 6;
const V_SET: u8 = 7;
const V_ZSET: u8 = 8;

pub fn put_value(out: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Int(n) => {
            out.push(V_INT);
            put_u64(out, n as u64);
        }
        // How a string is held is not part of the format.
        ValueRef::Str(s) => {
            out.push(V_STR);
            put_bytes(out, s);
        }
        ValueRef::Raw(s) => {
            out.push(V_RAW);
            put_bytes(out, s);
        }
        ValueRef::Json(s) => {
            out.push(V_JSON);
            put_bytes(out, s);
        }
        ValueRef::Cuckoo(f) => {
            out.push(V_CUCKOO);
            let mut b = Vec::new();
            f.encode(&mut b);
            put_bytes(out, &b);
        }
        // Fields and values in iteration order; how the hash is held is not part of the format.
        ValueRef::Set(x) => {
            out.push(V_SET);
            put_varint(out, x.len() as u64);
            for m in x.members() {
                put_bytes(out, &m.to_vec());
            }
        }
        // Lowest first; the score as its IEEE bits.
        ValueRef::ZSet(z) => {
            out.push(V_ZSET);
            put_varint(out, z.len() as u64);
            for (s, m) in z.iter() {
                put_bytes(out, m);
                put_u64(out, s.to_bits());
            }
        }
        ValueRef::List(l) => {
            out.push(V_LIST);
            put_varint(out, l.len() as u64);
            if !l.is_empty() {
                l.visit(0, l.len() - 1, |e| put_bytes(out, e));
            }
        }
        ValueRef::Hash(h) => {
            out.push(V_HASH);
            put_varint(out, h.len() as u64);
            for (f, v) in h.iter() {
                put_bytes(out, f);
                put_bytes(out, v);
            }
        }
    }
}

pub fn read_value(r: &mut Reader<'_>) -> Result<Value, DecodeError> {
    let tag = r.u8()?;
    read_value_tagged(tag, r)
}

/// A value after its type tag. Counts are not trusted: every element read must be in the
/// input, so a forged count fails at the first missing byte instead of allocating for it.
fn read_value_tagged(tag: u8, r: &mut Reader<'_>) -> Result<Value, DecodeError> {
    match tag {
        V_INT => Ok(Value::Int(r.u64()? as i64)),
        V_STR => Ok(Value::string(r.bytes()?)),
        V_RAW => Ok(Value::Raw(Box::new(r.bytes()?.to_vec()))),
        V_JSON => Ok(Value::Json(r.bytes()?.into())),
        V_CUCKOO => crate::filter::CuckooFilter::decode(r.bytes()?)
            .map(|f| Value::Cuckoo(Box::new(f)))
            .ok_or(DecodeError::Malformed("bad cuckoo filter")),
        V_HASH => {
            let n = r.varint()?;
            let mut h = crate::collections::Hash::new();
            for _ in 0..n {
                let (f, v) = (r.bytes()?, r.bytes()?);
                if !h.insert(f, v) {
                    return Err(DecodeError::Malformed("a hash field twice"));
                }
            }
            if h.is_empty() {
                return Err(DecodeError::Malformed("an empty hash"));
            }
            Ok(Value::Hash(Box::new(h)))
        }
        V_SET => {
            let n = r.varint()?;
            let mut x = crate::collections::Set::new();
            for _ in 0..n {
                if !x.insert(r.bytes()?) {
                    return Err(DecodeError::Malformed("a set member twice"));
                }
            }
            if x.is_empty() {
                return Err(DecodeError::Malformed("an empty set"));
            }
            Ok(Value::Set(Box::new(x)))
        }
        V_ZSET => {
            let n = r.varint()?;
            let mut z = crate::collections::ZSet::new();
            for _ in 0..n {
                let m = r.bytes()?;
                let s = f64::from_bits(r.u64()?);
                if s.is_nan() {
                    return Err(DecodeError::Malformed("a NaN score"));
                }
                if z.insert(m, s).is_some() {
                    return Err(DecodeError::Malformed("a sorted set member twice"));
                }
            }
            if z.is_empty() {
                return Err(DecodeError::Malformed("an empty sorted set"));
            }
            Ok(Value::ZSet(Box::new(z)))
        }
        V_LIST => {
            let n = r.varint()?;
            let mut l = crate::collections::List::new();
            for _ in 0..n {
                l.push_back(r.bytes()?);
            }
            if l.is_empty() {
                return Err(DecodeError::Malformed("an empty list"));
            }
            Ok(Value::List(Box::new(l)))
        }
        _ => Err(DecodeError::Malformed("unknown value type")),
    }
}

// --- mutations ---

const OP_SET: u8 = 1;
const OP_DEL: u8 = 2;
const OP_EXPIRED: u8 = 3;
const OP_EVICTED: u8 = 4;
const OP_EXPIRE: u8 = 5;
const OP_PERSIST: u8 = 6;
const OP_FLUSHDB: u8 = 7;
const OP_FLUSHALL: u8 = 8;
const OP_SWAPDB: u8 = 9;
const OP_CREATE_STORE: u8 = 10;
const OP_DROP_STORE: u8 = 11;
const OP_SPLICE: u8 = 12;
const OP_EDIT: u8 = 13;
const OP_FUNCTIONS: u8 = 14;

/// Writes a mutation's payload (the record body, without framing).
pub fn put_mutation(out: &mut Vec<u8>, m: &Mutation<'_>) {
    let tag = match m.op {
        Op::Set { .. } => OP_SET,
        Op::Splice { .. } => OP_SPLICE,
        Op::Edit { .. } => OP_EDIT,
        Op::Del { .. } => OP_DEL,
        Op::Expired { .. } => OP_EXPIRED,
        Op::Evicted { .. } => OP_EVICTED,
        Op::Expire { .. } => OP_EXPIRE,
        Op::Persist { .. } => OP_PERSIST,
        Op::FlushDb => OP_FLUSHDB,
        Op::FlushAll => OP_FLUSHALL,
        Op::SwapDb { .. } => OP_SWAPDB,
        Op::CreateStore { .. } => OP_CREATE_STORE,
        Op::DropStore { .. } => OP_DROP_STORE,
        Op::Functions { .. } => OP_FUNCTIONS,
    };
    out.push(tag);
    put_varint(out, m.db as u64);
    put_u64(out, m.stamp.lamport);
    put_u64(out, m.stamp.node);
    match m.op {
        Op::Set {
            key,
            value,
            expire_at,
        } => {
            put_bytes(out, key);
            put_value(out, value);
            put_u64(out, expire_at);
        }
        Op::Splice {
            key,
            offset,
            bytes,
            base,
        } => {
            put_bytes(out, key);
            put_varint(out, offset);
            put_bytes(out, bytes);
            put_u64(out, base.lamport);
            put_u64(out, base.node);
        }
        // The base is almost always this record's node's own last write: its Lamport time as a
        // varint and its node as "the same" (0) keep a push of one element under 64 bytes.
        Op::Edit { key, edit, base } => {
            put_bytes(out, key);
            put_bytes(out, edit);
            put_varint(out, base.lamport);
            if base.node == m.stamp.node {
                out.push(0);
            } else {
                out.push(1);
                put_u64(out, base.node);
            }
        }
        Op::Del { key } | Op::Expired { key } | Op::Evicted { key } | Op::Persist { key } => {
            put_bytes(out, key)
        }
        Op::Expire { key, at } => {
            put_bytes(out, key);
            put_u64(out, at);
        }
        Op::FlushDb | Op::FlushAll => {}
        Op::SwapDb { other } => put_varint(out, other as u64),
        Op::CreateStore { name, spec } => {
            put_bytes(out, name);
            put_bytes(out, spec);
        }
        Op::DropStore { name } => put_bytes(out, name),
        Op::Functions { libraries } => put_bytes(out, libraries),
    }
}

/// Appends a framed mutation record.
pub fn encode_mutation(out: &mut Vec<u8>, m: &Mutation<'_>) {
    frame(out, |p| put_mutation(p, m));
}

/// Appends a mutation record without its checksum (see [`seal`]).
pub fn encode_mutation_unsealed(out: &mut Vec<u8>, m: &Mutation<'_>) {
    frame_unsealed(out, |p| put_mutation(p, m));
}

/// A marker record: not a change, but the bracket around an atomic group of records (a
/// transaction's). A reader applies the records between `Begin` and `End` together or not at
/// all; the AOF and the replication stream carry them, snapshots never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Begin,
    End,
}

// Far from the mutation tags (1..) and the replication stream's correlation tag (0xC0).
const MARK_BEGIN: u8 = 0xB0;
const MARK_END: u8 = 0xB1;

/// Appends a marker record without its checksum (see [`seal`]).
pub fn encode_marker_unsealed(out: &mut Vec<u8>, m: Marker) {
    frame_unsealed(out, |p| {
        p.push(match m {
            Marker::Begin => MARK_BEGIN,
            Marker::End => MARK_END,
        })
    });
}

/// The marker a payload is, if it is one.
pub fn marker_of(payload: &[u8]) -> Option<Marker> {
    match payload {
        [MARK_BEGIN] => Some(Marker::Begin),
        [MARK_END] => Some(Marker::End),
        _ => None,
    }
}

/// Decodes a mutation payload. `origin` is what the caller knows of where it came from.
pub fn decode_mutation(payload: &[u8], origin: Origin) -> Result<OwnedMutation, DecodeError> {
    decode_mutation_with(payload, origin, |m| m.to_owned())
}

/// Decodes a mutation payload in place — keys and values borrowed from `payload`, no
/// allocation but a cuckoo filter's — and hands it to `f` (a replica applies every record of
/// the stream this way).
pub fn decode_mutation_with<R>(
    payload: &[u8],
    origin: Origin,
    f: impl FnOnce(&Mutation<'_>) -> R,
) -> Result<R, DecodeError> {
    let mut r = Reader::new(payload);
    let tag = r.u8()?;
    let db = r.u32_varint()?;
    let stamp = Stamp {
        lamport: r.u64()?,
        node: r.u64()?,
    };
    // A structured value (a filter, a collection) is decoded into its structure; it lives
    // here while `f` runs.
    let mut owned: Option<Value> = None;
    let op = match tag {
        OP_SET => {
            let key = r.bytes()?;
            let value = match r.u8()? {
                V_INT => ValueRef::Int(r.u64()? as i64),
                V_STR => ValueRef::Str(r.bytes()?),
                V_RAW => ValueRef::Raw(r.bytes()?),
                V_JSON => ValueRef::Json(r.bytes()?),
                tag => owned.insert(read_value_tagged(tag, &mut r)?).as_ref(),
            };
            let expire_at = r.u64()?;
            Op::Set {
                key,
                value,
                expire_at,
            }
        }
        OP_SPLICE => {
            let key = r.bytes()?;
            let offset = r.varint()?;
            let bytes = r.bytes()?;
            let base = Stamp {
                lamport: r.u64()?,
                node: r.u64()?,
            };
            Op::Splice {
                key,
                offset,
                bytes,
                base,
            }
        }
        OP_EDIT => {
            let key = r.bytes()?;
            let edit = r.bytes()?;
            let lamport = r.varint()?;
            let node = match r.u8()? {
                0 => stamp.node,
                1 => r.u64()?,
                _ => return Err(DecodeError::Malformed("bad edit base")),
            };
            Op::Edit {
                key,
                edit,
                base: Stamp { lamport, node },
            }
        }
        OP_DEL => Op::Del { key: r.bytes()? },
        OP_EXPIRED => Op::Expired { key: r.bytes()? },
        OP_EVICTED => Op::Evicted { key: r.bytes()? },
        OP_EXPIRE => {
            let key = r.bytes()?;
            Op::Expire { key, at: r.u64()? }
        }
        OP_PERSIST => Op::Persist { key: r.bytes()? },
        OP_FLUSHDB => Op::FlushDb,
        OP_FLUSHALL => Op::FlushAll,
        OP_SWAPDB => Op::SwapDb {
            other: r.u32_varint()?,
        },
        OP_CREATE_STORE => {
            let name = r.bytes()?;
            Op::CreateStore {
                name,
                spec: r.bytes()?,
            }
        }
        OP_DROP_STORE => Op::DropStore { name: r.bytes()? },
        OP_FUNCTIONS => Op::Functions {
            libraries: r.bytes()?,
        },
        _ => return Err(DecodeError::Malformed("unknown mutation type")),
    };
    r.finish()?;
    Ok(f(&Mutation {
        db,
        stamp,
        origin,
        trace: None,
        op,
    }))
}

// --- file headers ---

/// What the first record of an AOF or snapshot file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    pub version: u16,
    pub node_id: String,
    /// The generation: snapshot N and AOF N continue after each other.
    pub seq: u64,
    pub created_ms: u64,
}

pub fn encode_header(out: &mut Vec<u8>, magic: &[u8; 8], h: &FileHeader) {
    out.extend_from_slice(magic);
    frame(out, |p| {
        put_varint(p, h.version as u64);
        put_bytes(p, h.node_id.as_bytes());
        put_u64(p, h.seq);
        put_u64(p, h.created_ms);
    });
}

/// Reads a file's magic and header record; returns the header and the offset after it.
pub fn decode_header(buf: &[u8], magic: &[u8; 8]) -> Result<(FileHeader, usize), DecodeError> {
    if buf.len() < magic.len() {
        return Err(DecodeError::Truncated);
    }
    if &buf[..magic.len()] != magic {
        return Err(DecodeError::Malformed("bad magic"));
    }
    let (payload, used) = unframe(&buf[magic.len()..])?;
    let mut r = Reader::new(payload);
    let version = u16::try_from(r.varint()?).map_err(|_| DecodeError::Malformed("version"))?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::Malformed("unsupported format version"));
    }
    let node_id = String::from_utf8(r.bytes()?.to_vec())
        .map_err(|_| DecodeError::Malformed("node id is not UTF-8"))?;
    let seq = r.u64()?;
    let created_ms = r.u64()?;
    r.finish()?;
    Ok((
        FileHeader {
            version,
            node_id,
            seq,
            created_ms,
        },
        magic.len() + used,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mutation::OwnedOp;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::Int),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| Value::string(&v)),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| Value::Raw(Box::new(v))),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| Value::Json(v.into())),
            proptest::collection::btree_set(key(), 1..300).prop_map(|v| {
                Value::Set(Box::new(crate::collections::Set::from_members(
                    v.iter().map(|e| e.as_slice()),
                )))
            }),
            proptest::collection::btree_map(key(), -1000i32..1000, 1..300).prop_map(|m| {
                Value::ZSet(Box::new(crate::collections::ZSet::from_entries(
                    m.iter().map(|(k, s)| (k.as_slice(), f64::from(*s) / 4.0)),
                )))
            }),
            proptest::collection::vec(key(), 1..300).prop_map(|v| {
                Value::List(Box::new(crate::collections::List::from_items(
                    v.iter().map(|e| e.as_slice()),
                )))
            }),
            proptest::collection::btree_map(key(), key(), 1..200).prop_map(|m| {
                let h = crate::collections::Hash::from_pairs(
                    m.iter().map(|(f, v)| (f.as_slice(), v.as_slice())),
                );
                Value::Hash(Box::new(h))
            }),
        ]
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..40)
    }

    fn op() -> impl Strategy<Value = OwnedOp> {
        prop_oneof![
            (key(), value(), any::<u64>()).prop_map(|(key, value, expire_at)| OwnedOp::Set {
                key,
                value,
                expire_at
            }),
            key().prop_map(|key| OwnedOp::Del { key }),
            (key(), key(), any::<u64>()).prop_map(|(key, edit, l)| OwnedOp::Edit {
                key,
                edit,
                base: Stamp {
                    lamport: l,
                    node: 3
                }
            }),
            key().prop_map(|key| OwnedOp::Expired { key }),
            key().prop_map(|key| OwnedOp::Evicted { key }),
            (key(), any::<u64>()).prop_map(|(key, at)| OwnedOp::Expire { key, at }),
            key().prop_map(|key| OwnedOp::Persist { key }),
            Just(OwnedOp::FlushDb),
            Just(OwnedOp::FlushAll),
            any::<u32>().prop_map(|other| OwnedOp::SwapDb { other }),
            (key(), key()).prop_map(|(name, spec)| OwnedOp::CreateStore { name, spec }),
            key().prop_map(|name| OwnedOp::DropStore { name }),
            key().prop_map(|libraries| OwnedOp::Functions { libraries }),
        ]
    }

    proptest! {
        #[test]
        fn every_mutation_kind_round_trips(op in op(), db in any::<u32>(), lamport in any::<u64>(), node in any::<u64>()) {
            let m = OwnedMutation { db, stamp: Stamp { lamport, node }, origin: Origin::Replay, op };
            let mut buf = Vec::new();
            encode_mutation(&mut buf, &m.as_mutation());
            let (payload, used) = unframe(&buf).unwrap();
            prop_assert_eq!(used, buf.len());
            prop_assert_eq!(decode_mutation(payload, Origin::Replay).unwrap(), m);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = unframe(&bytes);
            let _ = decode_mutation(&bytes, Origin::Replay);
            let _ = decode_header(&bytes, AOF_MAGIC);
        }
    }

    fn sample_file() -> Vec<u8> {
        let mut buf = Vec::new();
        encode_header(
            &mut buf,
            AOF_MAGIC,
            &FileHeader {
                version: FORMAT_VERSION,
                node_id: "n1".into(),
                seq: 3,
                created_ms: 99,
            },
        );
        for i in 0..5u64 {
            let key = format!("key{i}").into_bytes();
            let value = Value::string(b"value");
            encode_mutation(
                &mut buf,
                &Mutation {
                    db: 0,
                    stamp: Stamp {
                        lamport: i,
                        node: 1,
                    },
                    origin: Origin::Local,
                    trace: None,
                    op: Op::Set {
                        key: &key,
                        value: value.as_ref(),
                        expire_at: 0,
                    },
                },
            );
        }
        buf
    }

    /// Decodes a whole file: the number of good records, and the first error.
    fn scan(buf: &[u8]) -> (usize, Option<DecodeError>) {
        let (_, mut at) = match decode_header(buf, AOF_MAGIC) {
            Ok(h) => h,
            Err(e) => return (0, Some(e)),
        };
        let mut n = 0;
        while at < buf.len() {
            match unframe(&buf[at..])
                .and_then(|(p, used)| decode_mutation(p, Origin::Replay).map(|_| used))
            {
                Ok(used) => {
                    at += used;
                    n += 1;
                }
                Err(e) => return (n, Some(e)),
            }
        }
        (n, None)
    }

    #[test]
    fn a_forged_hash_is_refused_without_allocating_for_its_count() {
        let hash = |count: u64, items: &[&[u8]]| {
            let mut b = vec![V_HASH];
            put_varint(&mut b, count);
            for i in items {
                put_bytes(&mut b, i);
            }
            b
        };
        let read = |b: &[u8]| read_value(&mut Reader::new(b));
        assert!(
            read(&hash(u64::MAX, &[])).is_err(),
            "a count with nothing behind it"
        );
        assert!(
            read(&hash(2, &[b"f", b"v"])).is_err(),
            "fewer pairs than counted"
        );
        assert!(
            read(&hash(2, &[b"f", b"v", b"f", b"w"])).is_err(),
            "a field twice"
        );
        assert!(read(&hash(0, &[])).is_err(), "an empty hash");
        let ok = read(&hash(2, &[b"f", b"v", b"g", b"w"])).unwrap();
        let Value::Hash(h) = ok else { panic!("{ok:?}") };
        assert_eq!(
            (h.get(b"f"), h.get(b"g")),
            (Some(&b"v"[..]), Some(&b"w"[..]))
        );
        // Sets and lists are read the same way: a member twice, or nothing, is refused.
        let tagged = |tag: u8, count: u64, items: &[&[u8]]| {
            let mut b = hash(count, items);
            b[0] = tag;
            b
        };
        assert!(
            read(&tagged(V_SET, 2, &[b"m", b"m"])).is_err(),
            "a member twice"
        );
        assert!(read(&tagged(V_SET, 0, &[])).is_err(), "an empty set");
        assert!(read(&tagged(V_LIST, 0, &[])).is_err(), "an empty list");
        assert!(
            read(&tagged(V_LIST, u64::MAX, &[b"x"])).is_err(),
            "fewer than counted"
        );
    }

    #[test]
    fn every_truncation_offset_is_detected() {
        let file = sample_file();
        assert_eq!(scan(&file), (5, None));
        // Where the header and each record end.
        let (_, mut at) = decode_header(&file, AOF_MAGIC).unwrap();
        let header_end = at;
        let mut ends = Vec::new();
        while at < file.len() {
            at += unframe(&file[at..]).unwrap().1;
            ends.push(at);
        }
        for cut in 0..file.len() {
            let (n, err) = scan(&file[..cut]);
            if cut < header_end {
                assert_eq!(n, 0, "cut {cut}");
                assert!(err.is_some(), "a torn header at {cut} went unnoticed");
                continue;
            }
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(n, whole, "cut {cut}: records before the tear");
            let at_boundary = cut == header_end || ends.contains(&cut);
            assert_eq!(err.is_none(), at_boundary, "cut {cut}: {err:?}");
            if let Some(e) = err {
                assert_eq!(e, DecodeError::Truncated, "cut {cut}");
            }
        }
    }

    #[test]
    fn sealing_later_gives_the_same_bytes() {
        let file = sample_file();
        let (_, start) = decode_header(&file, AOF_MAGIC).unwrap();
        let mut unsealed = file[..start].to_vec();
        let mut at = start;
        while at < file.len() {
            let (p, used) = unframe(&file[at..]).unwrap();
            let m = decode_mutation(p, Origin::Local).unwrap();
            encode_mutation_unsealed(&mut unsealed, &m.as_mutation());
            at += used;
        }
        assert_ne!(unsealed, file);
        seal(&mut unsealed[start..]);
        assert_eq!(unsealed, file);
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let file = sample_file();
        for byte in 0..file.len() {
            for bit in 0..8 {
                let mut f = file.clone();
                f[byte] ^= 1 << bit;
                let (n, err) = scan(&f);
                assert!(
                    err.is_some(),
                    "flip of bit {bit} in byte {byte} went unnoticed ({n} records)"
                );
            }
        }
    }
}
