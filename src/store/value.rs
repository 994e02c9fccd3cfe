//! Values and keyspace entries.

use crate::util::num::parse_i64;

use super::table::Slot;

/// Strings at most this long are "embstr" in Redis's OBJECT ENCODING.
pub const EMBSTR_MAX: usize = 44;

/// The longest string kept inline in a [`Value`] (what fits beside its tag in 24 bytes).
pub const SMALL_MAX: usize = 22;

/// Up to [`SMALL_MAX`] bytes, inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Small {
    len: u8,
    buf: [u8; SMALL_MAX],
}

impl Small {
    /// `None` when `b` is longer than [`SMALL_MAX`].
    #[inline]
    pub fn new(b: &[u8]) -> Option<Small> {
        if b.len() > SMALL_MAX {
            return None;
        }
        let mut buf = [0; SMALL_MAX];
        buf[..b.len()].copy_from_slice(b);
        Some(Small {
            len: b.len() as u8,
            buf,
        })
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// A value. Strings keep Redis's three encodings, because OBJECT ENCODING reports them and
/// because an integer costs no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string that is the canonical decimal form of an i64 ("int").
    Int(i64),
    /// A string of at most [`SMALL_MAX`] bytes, kept inside the value itself: no allocation
    /// of its own, and one cache miss less to read it ("embstr").
    Small(Small),
    /// A string stored exactly sized ("embstr" up to 44 bytes, else "raw").
    Str(Box<[u8]>),
    /// A string that has been appended to or modified in place ("raw"), with spare capacity.
    Raw(Box<Vec<u8>>),
    /// A string holding the JSON text of a non-string value written through the HTTP API,
    /// remembered as such so HTTP reads return the value with its JSON type. To RESP it is a
    /// string like any other.
    Json(Box<[u8]>),
    /// A RedisBloom-compatible cuckoo filter (CF.*).
    Cuckoo(Box<crate::filter::CuckooFilter>),
}

/// The type a key holds, as TYPE and SCAN TYPE name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Cuckoo,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            // RedisBloom's module type name.
            Kind::Cuckoo => "MBbloomCF",
        }
    }
}

impl Value {
    /// The value SET would store for these bytes (integer strings become `Int`).
    pub fn from_bytes(b: &[u8]) -> Value {
        if b.len() <= 20
            && let Some(n) = parse_i64(b)
        {
            return Value::Int(n);
        }
        Value::string(b)
    }

    /// A string value of exactly these bytes (inline when short), never an `Int`.
    #[inline]
    pub fn string(b: &[u8]) -> Value {
        match Small::new(b) {
            Some(s) => Value::Small(s),
            None => Value::Str(b.into()),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::Int(_) | Value::Small(_) | Value::Str(_) | Value::Raw(_) | Value::Json(_) => {
                Kind::String
            }
            Value::Cuckoo(_) => Kind::Cuckoo,
        }
    }

    /// Calls `f` with the string bytes of a string value; `None` for other types.
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match self {
            Value::Int(n) => {
                let mut b = itoa::Buffer::new();
                Some(f(b.format(*n).as_bytes()))
            }
            Value::Small(s) => Some(f(s.as_bytes())),
            Value::Str(s) | Value::Json(s) => Some(f(s)),
            Value::Raw(v) => Some(f(v)),
            Value::Cuckoo(_) => None,
        }
    }

    /// The string bytes, copied (for the rarer paths that need ownership).
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        self.with_bytes(|b| b.to_vec())
    }

    /// Length in bytes of a string value.
    pub fn str_len(&self) -> Option<usize> {
        match self {
            Value::Int(n) => {
                let mut b = itoa::Buffer::new();
                Some(b.format(*n).len())
            }
            Value::Small(s) => Some(s.len as usize),
            Value::Str(s) | Value::Json(s) => Some(s.len()),
            Value::Raw(v) => Some(v.len()),
            Value::Cuckoo(_) => None,
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Small(_) => "embstr",
            Value::Str(s) | Value::Json(s) if s.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) | Value::Json(_) | Value::Raw(_) | Value::Cuckoo(_) => "raw",
        }
    }

    /// The string made growable in place (what APPEND and SETRANGE need).
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, Value::Raw(_)) {
            let bytes = self.to_bytes().unwrap_or_default();
            *self = Value::Raw(Box::new(bytes));
        }
        match self {
            Value::Raw(v) => v,
            _ => unreachable!("converted to Raw just above"),
        }
    }

    /// Bytes this value occupies on the heap, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) | Value::Small(_) => 0,
            Value::Str(s) | Value::Json(s) => s.len(),
            Value::Raw(v) => v.capacity() + std::mem::size_of::<Vec<u8>>(),
            Value::Cuckoo(f) => f.memory(),
        }
    }
}

/// One key of the keyspace with its value and metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: Box<[u8]>,
    pub value: Value,
    /// Absolute deadline in ms since the epoch; 0 = no TTL.
    pub expire_at: u64,
    /// Last access in seconds (24-bit clock, as Redis's LRU clock) — or LFU data.
    pub access: u32,
    hash: u32,
    /// The stamp of the write that produced this state, packed (`cluster::clock::nodes`).
    pub stamp: u64,
}

impl Entry {
    pub fn new(hash: u32, key: &[u8], value: Value, expire_at: u64, access: u32) -> Entry {
        Entry {
            key: key.into(),
            value,
            expire_at,
            access,
            hash,
            stamp: 0,
        }
    }

    /// Past its deadline. As in Redis, a key is still alive during its deadline's millisecond.
    #[inline]
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at < now_ms
    }

    /// Bytes charged to this entry: its table slot, its own allocation, its key and value.
    pub fn mem_size(&self) -> usize {
        super::table::CELL_BYTES
            + std::mem::size_of::<Entry>()
            + self.key.len()
            + self.value.heap_size()
    }
}

impl Slot for Entry {
    #[inline]
    fn hash(&self) -> u32 {
        self.hash
    }
    #[inline]
    fn key(&self) -> &[u8] {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(Value::from_bytes(b"123").encoding(), "int");
        assert_eq!(Value::from_bytes(b"-9223372036854775808").encoding(), "int");
        assert_eq!(Value::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 45]).encoding(), "raw");
        let mut v = Value::from_bytes(b"12");
        v.make_raw().extend_from_slice(b"3");
        assert_eq!(v.encoding(), "raw");
        assert_eq!(v.to_bytes().unwrap(), b"123");
    }
}
