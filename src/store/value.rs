//! Values and keyspace entries.

use crate::collections::{Hash, List, Set, ZSet};
use crate::util::alloc::size_class;
use crate::util::num::parse_i64;

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
    Hash(Box<Hash>),
    List(Box<List>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
}

/// The type a key holds, as TYPE and SCAN TYPE name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Cuckoo,
    Hash,
    List,
    Set,
    ZSet,
}

impl Kind {
    /// A collection type: a string write does not replace it over HTTP.
    pub fn is_collection(self) -> bool {
        matches!(self, Kind::Hash | Kind::List | Kind::Set | Kind::ZSet)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            // RedisBloom's module type name.
            Kind::Cuckoo => "MBbloomCF",
            Kind::Hash => "hash",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
        }
    }
}

/// A borrowed value, as an entry holds it. Strings are `Str` however they are stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Int(i64),
    Str(&'a [u8]),
    /// A string modified in place (APPEND, SETRANGE): "raw" whatever its length.
    Raw(&'a [u8]),
    Json(&'a [u8]),
    Cuckoo(&'a crate::filter::CuckooFilter),
    Hash(&'a Hash),
    List(&'a List),
    Set(&'a Set),
    ZSet(&'a ZSet),
}

impl Value {
    /// The value SET would store for these bytes (integer strings become `Int`).
    pub fn from_bytes(b: &[u8]) -> Value {
        match Value::int_of(b) {
            Some(n) => Value::Int(n),
            None => Value::string(b),
        }
    }

    /// The integer SET stores for these bytes, when they are an integer's canonical text.
    #[inline]
    pub fn int_of(b: &[u8]) -> Option<i64> {
        if b.len() <= 20 { parse_i64(b) } else { None }
    }

    /// A string value of exactly these bytes (inline when short), never an `Int`.
    #[inline]
    pub fn string(b: &[u8]) -> Value {
        match Small::new(b) {
            Some(s) => Value::Small(s),
            None => Value::Str(b.into()),
        }
    }

    #[inline]
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Int(n) => ValueRef::Int(*n),
            Value::Small(s) => ValueRef::Str(s.as_bytes()),
            Value::Str(s) => ValueRef::Str(s),
            Value::Raw(v) => ValueRef::Raw(v),
            Value::Json(s) => ValueRef::Json(s),
            Value::Cuckoo(f) => ValueRef::Cuckoo(f),
            Value::Hash(h) => ValueRef::Hash(h),
            Value::List(l) => ValueRef::List(l),
            Value::Set(x) => ValueRef::Set(x),
            Value::ZSet(z) => ValueRef::ZSet(z),
        }
    }

    /// The string made growable in place (what APPEND and SETRANGE need).
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, Value::Raw(_)) {
            let bytes = self.as_ref().to_bytes().unwrap_or_default();
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
            Value::Str(s) | Value::Json(s) => size_class(s.len()),
            Value::Raw(v) => size_class(v.capacity()) + size_class(std::mem::size_of::<Vec<u8>>()),
            Value::Cuckoo(f) => f.memory(),
            Value::Hash(h) => size_class(std::mem::size_of::<Hash>()) + h.heap_size(),
            Value::List(l) => size_class(std::mem::size_of::<List>()) + l.heap_size(),
            Value::Set(x) => size_class(std::mem::size_of::<Set>()) + x.heap_size(),
            Value::ZSet(z) => size_class(std::mem::size_of::<ZSet>()) + z.heap_size(),
        }
    }
}

impl<'a> ValueRef<'a> {
    pub fn kind(self) -> Kind {
        match self {
            ValueRef::Cuckoo(_) => Kind::Cuckoo,
            ValueRef::Hash(_) => Kind::Hash,
            ValueRef::List(_) => Kind::List,
            ValueRef::Set(_) => Kind::Set,
            ValueRef::ZSet(_) => Kind::ZSet,
            _ => Kind::String,
        }
    }

    /// Calls `f` with the string bytes of a string value; `None` for other types.
    #[inline]
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match self {
            ValueRef::Int(n) => {
                let mut b = itoa::Buffer::new();
                Some(f(b.format(n).as_bytes()))
            }
            ValueRef::Str(s) | ValueRef::Raw(s) | ValueRef::Json(s) => Some(f(s)),
            ValueRef::Cuckoo(_)
            | ValueRef::Hash(_)
            | ValueRef::List(_)
            | ValueRef::Set(_)
            | ValueRef::ZSet(_) => None,
        }
    }

    /// The string bytes, copied.
    pub fn to_bytes(self) -> Option<Vec<u8>> {
        self.with_bytes(|b| b.to_vec())
    }

    /// Length in bytes of a string value.
    pub fn str_len(self) -> Option<usize> {
        match self {
            ValueRef::Int(n) => {
                let mut b = itoa::Buffer::new();
                Some(b.format(n).len())
            }
            ValueRef::Str(s) | ValueRef::Raw(s) | ValueRef::Json(s) => Some(s.len()),
            ValueRef::Cuckoo(_)
            | ValueRef::Hash(_)
            | ValueRef::List(_)
            | ValueRef::Set(_)
            | ValueRef::ZSet(_) => None,
        }
    }

    pub fn encoding(self) -> &'static str {
        match self {
            ValueRef::Int(_) => "int",
            ValueRef::Str(s) | ValueRef::Json(s) if s.len() <= EMBSTR_MAX => "embstr",
            ValueRef::Str(_) | ValueRef::Json(_) | ValueRef::Raw(_) | ValueRef::Cuckoo(_) => "raw",
            ValueRef::Hash(h) => h.encoding(),
            ValueRef::List(l) => l.encoding(),
            ValueRef::Set(x) => x.encoding(),
            ValueRef::ZSet(z) => z.encoding(),
        }
    }

    /// An owned copy.
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Int(n) => Value::Int(n),
            ValueRef::Str(s) => Value::string(s),
            ValueRef::Raw(s) => Value::Raw(Box::new(s.to_vec())),
            ValueRef::Json(s) => Value::Json(s.into()),
            ValueRef::Cuckoo(f) => Value::Cuckoo(Box::new(f.clone())),
            ValueRef::Hash(h) => Value::Hash(Box::new(h.clone())),
            ValueRef::List(l) => Value::List(Box::new(l.clone())),
            ValueRef::Set(x) => Value::Set(Box::new(x.clone())),
            ValueRef::ZSet(z) => Value::ZSet(Box::new(z.clone())),
        }
    }
}

/// A collection type as a value: how commands find it in a key and put a new one there.
pub trait Collection: Default + Sized {
    fn into_value(self) -> Value;
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
    fn of(v: ValueRef<'_>) -> Option<&Self>;
    fn is_empty(&self) -> bool;
}

macro_rules! collection {
    ($t:ident) => {
        impl Collection for $t {
            fn into_value(self) -> Value {
                Value::$t(Box::new(self))
            }

            fn of_mut(v: &mut Value) -> Option<&mut $t> {
                match v {
                    Value::$t(c) => Some(c),
                    _ => None,
                }
            }

            fn of(v: ValueRef<'_>) -> Option<&$t> {
                match v {
                    ValueRef::$t(c) => Some(c),
                    _ => None,
                }
            }

            fn is_empty(&self) -> bool {
                $t::is_empty(self)
            }
        }
    };
}

collection!(Hash);
collection!(List);
collection!(Set);
collection!(ZSet);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(Value::from_bytes(b"123").as_ref().encoding(), "int");
        assert_eq!(
            Value::from_bytes(b"-9223372036854775808")
                .as_ref()
                .encoding(),
            "int"
        );
        assert_eq!(Value::from_bytes(b"0123").as_ref().encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 44]).as_ref().encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 45]).as_ref().encoding(), "raw");
        let mut v = Value::from_bytes(b"12");
        v.make_raw().extend_from_slice(b"3");
        assert_eq!(v.as_ref().encoding(), "raw");
        assert_eq!(v.as_ref().to_bytes().unwrap(), b"123");
    }
}
