//! Reply encoder: writes RESP2 or RESP3 straight into a connection's output buffer.
//!
//! Commands call these methods instead of building reply values, so a reply costs no allocation
//! beyond the (reused) output buffer.

/// The protocol a client speaks, switched by `HELLO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

impl Protocol {
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// An output buffer plus the protocol to encode replies in.
#[derive(Debug, Default)]
pub struct Out {
    pub buf: Vec<u8>,
    pub proto: Protocol,
}

impl Out {
    pub fn new(proto: Protocol) -> Self {
        Out {
            buf: Vec::with_capacity(16 * 1024),
            proto,
        }
    }

    #[inline]
    pub fn resp3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    #[inline]
    fn header(&mut self, tag: u8, n: i64) {
        self.buf.push(tag);
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A status reply (`+text`); `text` must not contain CR or LF.
    #[inline]
    pub fn simple(&mut self, text: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply; `msg` carries its own code (`ERR ...`, `WRONGTYPE ...`). Newlines are
    /// replaced so that user text can never break the framing.
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// An error reply from raw bytes (protocol errors echo the byte they choked on).
    pub fn error_bytes(&mut self, msg: &[u8]) {
        self.buf.push(b'-');
        self.buf.extend(
            msg.iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `n`.
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null bulk string (RESP2 `$-1`, RESP3 `_`).
    #[inline]
    pub fn null(&mut self) {
        if self.resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array (RESP2 `*-1`, RESP3 `_`).
    pub fn null_array(&mut self) {
        if self.resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// An out-of-band push of `n` elements (pub/sub messages, invalidations): `>` in RESP3,
    /// an array in RESP2.
    pub fn push(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'>', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A map of `n` pairs (a flat array of 2n in RESP2).
    pub fn map(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A set of `n` members (an array in RESP2).
    pub fn set(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'~', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A boolean (an integer 0/1 in RESP2).
    pub fn boolean(&mut self, b: bool) {
        if self.resp3() {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// A double, formatted as Redis does (`%.17g`; `inf`/`-inf`). RESP2 sends it as a bulk.
    pub fn double(&mut self, v: f64) {
        let mut tmp = Vec::with_capacity(32);
        crate::util::num::fmt_double(v, &mut tmp);
        if self.resp3() {
            self.buf.push(b',');
            self.buf.extend_from_slice(&tmp);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(&tmp);
        }
    }

    /// A verbatim string (`=len\r\ntxt:...` in RESP3, a bulk in RESP2), as INFO replies.
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3() {
            self.header(b'=', text.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_forms() {
        let mut o = Out::new(Protocol::Resp2);
        o.null();
        o.map(1);
        o.boolean(true);
        o.verbatim(b"x");
        assert_eq!(o.buf, b"$-1\r\n*2\r\n:1\r\n$1\r\nx\r\n");
        let mut o = Out::new(Protocol::Resp3);
        o.null();
        o.map(1);
        o.boolean(true);
        o.verbatim(b"x");
        assert_eq!(o.buf, b"_\r\n%1\r\n#t\r\n=5\r\ntxt:x\r\n");
    }

    #[test]
    fn errors_cannot_break_framing() {
        let mut o = Out::new(Protocol::Resp2);
        o.error("ERR bad\r\nthing");
        assert_eq!(o.buf, b"-ERR bad  thing\r\n");
    }
}
