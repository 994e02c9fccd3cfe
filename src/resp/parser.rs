//! Client frame parser: multibulk (`*N\r\n$L\r\n...`) and inline commands.
//!
//! Written by hand because it is the hot path: arguments are returned as ranges into the
//! connection's read buffer (no copy, no allocation per command), and parsing resumes where it
//! stopped when a frame arrives in pieces, so a large frame is never re-scanned.
//! Behaviour and error texts follow Redis 7's `processMultibulkBuffer`/`processInlineBuffer`.

use memchr::memchr;

use crate::util::num::parse_i64;

/// Longest inline command, or multibulk/bulk header, Redis accepts before `\r\n`.
pub const INLINE_MAX: usize = 64 * 1024;

/// The protocol limits a parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest single argument.
    pub max_bulk_len: u64,
    /// The client has not authenticated yet while a password is required: as Redis 7, it
    /// may send at most [`UNAUTH_MAX_ARGS`] arguments of at most [`UNAUTH_MAX_BULK`] bytes.
    pub unauthenticated: bool,
}

/// Arguments per command for a client that has not authenticated (Redis 7's limit).
pub const UNAUTH_MAX_ARGS: i64 = 10;
/// Bytes per argument for a client that has not authenticated (Redis 7's limit).
pub const UNAUTH_MAX_BULK: i64 = 16 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            unauthenticated: false,
        }
    }
}

/// A malformed frame. The text follows `-ERR Protocol error: `; the connection is then closed.
/// Bytes, not a string: Redis echoes the offending byte as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub Vec<u8>);

/// What one call to [`Parser::parse`] found at the front of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A complete command of `len` bytes; its arguments are in [`Parser::args`].
    Command { len: usize },
    /// A frame with no arguments (`*0`, `*-1`, a blank inline line): skip `len` bytes.
    Empty { len: usize },
    /// More bytes are needed; `hint` is how many more at least, when known.
    Incomplete { hint: usize },
}

/// Resumable parser state for one connection.
#[derive(Debug, Default)]
pub struct Parser {
    /// Arguments still to read in the current multibulk frame (0: not inside one).
    remaining: usize,
    /// Length of the bulk whose header was read, or `None` when the next thing is a header.
    bulk: Option<usize>,
    /// Offset, relative to the frame start, of the next unread byte.
    pos: usize,
    /// Argument ranges relative to the frame start (or to `inline` for inline frames).
    ranges: Vec<(usize, usize)>,
    /// Inline commands may contain escapes, so their arguments are unescaped into here.
    inline: Vec<u8>,
    is_inline: bool,
}

/// A command's arguments, owned: copied out of the read buffer to run later (a blocked
/// command's retry, a command queued by MULTI) or built from slices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedArgs {
    data: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl OwnedArgs {
    pub fn copy(args: &Args<'_>) -> OwnedArgs {
        OwnedArgs::of(args.iter())
    }

    pub fn of<'b>(argv: impl IntoIterator<Item = &'b [u8]>) -> OwnedArgs {
        let mut data = Vec::new();
        let mut ranges = Vec::new();
        for a in argv {
            ranges.push((data.len(), data.len() + a.len()));
            data.extend_from_slice(a);
        }
        OwnedArgs { data, ranges }
    }

    pub fn args(&self) -> Args<'_> {
        Args::new(&self.data, &self.ranges)
    }

    /// Bytes of the arguments.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }
}

/// The arguments of one command: views into the read buffer (or the inline scratch buffer).
#[derive(Clone, Copy)]
pub struct Args<'a> {
    data: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    pub fn new(data: &'a [u8], ranges: &'a [(usize, usize)]) -> Self {
        Args { data, ranges }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.ranges.get(i).map(|&(s, e)| &self.data[s..e])
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + '_ {
        self.ranges.iter().map(|&(s, e)| &self.data[s..e])
    }

    /// The arguments `from..to` (clamped to what there is).
    pub fn slice(&self, from: usize, to: usize) -> Args<'a> {
        let to = to.min(self.ranges.len());
        Args {
            data: self.data,
            ranges: &self.ranges[from.min(to)..to],
        }
    }

    /// The arguments from `from` on.
    pub fn slice_from(&self, from: usize) -> Args<'a> {
        Args {
            data: self.data,
            ranges: &self.ranges[from.min(self.ranges.len())..],
        }
    }
}

impl<'a> std::ops::Index<usize> for Args<'a> {
    type Output = [u8];
    #[inline]
    fn index(&self, i: usize) -> &[u8] {
        let (s, e) = self.ranges[i];
        &self.data[s..e]
    }
}

impl std::fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

fn err(msg: &str) -> ProtocolError {
    ProtocolError(msg.as_bytes().to_vec())
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of the current, unfinished frame already consumed by the parser.
    pub fn in_progress(&self) -> usize {
        self.pos
    }

    /// The arguments of the frame last returned as [`Frame::Command`]; `buf` must be the same
    /// slice (starting at that frame) that was passed to `parse`.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        if self.is_inline {
            Args::new(&self.inline, &self.ranges)
        } else {
            Args::new(buf, &self.ranges)
        }
    }

    /// Parses the frame at the start of `buf`. After `Command`/`Empty`, the caller skips `len`
    /// bytes and calls again with the rest; after `Incomplete`, it calls again with the same
    /// frame start once more bytes have arrived.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Frame, ProtocolError> {
        if self.remaining == 0 {
            // Starting a new frame.
            self.ranges.clear();
            self.pos = 0;
            self.bulk = None;
            self.is_inline = false;
            match buf.first() {
                None => return Ok(Frame::Incomplete { hint: 1 }),
                Some(b'*') => {}
                Some(_) => return self.parse_inline(buf),
            }
            let Some(cr) = memchr(b'\r', buf) else {
                if buf.len() > INLINE_MAX {
                    return Err(err("too big mbulk count string"));
                }
                return Ok(Frame::Incomplete { hint: 1 });
            };
            // Redis also waits for the byte after '\r' (assumed '\n') before going on.
            if cr + 2 > buf.len() {
                return Ok(Frame::Incomplete { hint: 1 });
            }
            let count = match parse_i64(&buf[1..cr]) {
                Some(n) if n <= i32::MAX as i64 => n,
                _ => return Err(err("invalid multibulk length")),
            };
            if count > UNAUTH_MAX_ARGS && limits.unauthenticated {
                return Err(err("unauthenticated multibulk length"));
            }
            if count <= 0 {
                return Ok(Frame::Empty { len: cr + 2 });
            }
            self.remaining = count as usize;
            self.pos = cr + 2;
            // Avoid reallocating a huge vector for a lying header; grow as args arrive.
            self.ranges.reserve(self.remaining.min(1024));
        }
        self.parse_bulks(buf, limits)
    }

    fn parse_bulks(&mut self, buf: &[u8], limits: &Limits) -> Result<Frame, ProtocolError> {
        while self.remaining > 0 {
            let len = match self.bulk {
                Some(len) => len,
                None => {
                    let rest = &buf[self.pos.min(buf.len())..];
                    let Some(cr) = memchr(b'\r', rest) else {
                        if rest.len() > INLINE_MAX {
                            return Err(err("too big bulk count string"));
                        }
                        return Ok(Frame::Incomplete { hint: 1 });
                    };
                    if cr + 2 > rest.len() {
                        return Ok(Frame::Incomplete { hint: 1 });
                    }
                    if rest[0] != b'$' {
                        let mut m = b"expected '$', got '".to_vec();
                        m.push(rest[0]);
                        m.push(b'\'');
                        return Err(ProtocolError(m));
                    }
                    let len = match parse_i64(&rest[1..cr]) {
                        Some(n) if n > UNAUTH_MAX_BULK && limits.unauthenticated => {
                            return Err(err("unauthenticated bulk length"));
                        }
                        Some(n) if n >= 0 && (n as u64) <= limits.max_bulk_len => n as usize,
                        _ => return Err(err("invalid bulk length")),
                    };
                    self.pos += cr + 2;
                    self.bulk = Some(len);
                    len
                }
            };
            // Redis skips the two bytes after the payload without checking them.
            let need = self.pos + len + 2;
            if buf.len() < need {
                return Ok(Frame::Incomplete {
                    hint: need - buf.len(),
                });
            }
            self.ranges.push((self.pos, self.pos + len));
            self.pos = need;
            self.bulk = None;
            self.remaining -= 1;
        }
        let len = self.pos;
        self.pos = 0;
        Ok(Frame::Command { len })
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Frame, ProtocolError> {
        let Some(nl) = memchr(b'\n', buf) else {
            if buf.len() > INLINE_MAX {
                return Err(err("too big inline request"));
            }
            return Ok(Frame::Incomplete { hint: 1 });
        };
        let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        self.is_inline = true;
        self.inline.clear();
        if !split_inline(&buf[..line_end], &mut self.inline, &mut self.ranges) {
            return Err(err("unbalanced quotes in request"));
        }
        if self.ranges.is_empty() {
            return Ok(Frame::Empty { len: nl + 1 });
        }
        Ok(Frame::Command { len: nl + 1 })
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn is_space(c: u8) -> bool {
    // C isspace in the "C" locale.
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Splits an inline command line the way redis-cli and Redis do (`sdssplitargs`): blanks separate
/// words, "double quotes" take \n \r \t \b \a \xHH escapes, 'single quotes' take \'. A closing
/// quote must be followed by a blank or the end. Returns false on unbalanced quotes.
pub fn split_inline(line: &[u8], out: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> bool {
    // C string semantics: a NUL ends the line.
    let line = match memchr(0, line) {
        Some(n) => &line[..n],
        None => line,
    };
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return true;
        }
        let start = out.len();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = line.get(i).copied();
            if in_dq {
                match c {
                    None => return false,
                    Some(b'\\')
                        if line.get(i + 1) == Some(&b'x')
                            && line.get(i + 2).and_then(|&h| hex_val(h)).is_some()
                            && line.get(i + 3).and_then(|&h| hex_val(h)).is_some() =>
                    {
                        let hi = hex_val(line[i + 2]).unwrap_or(0);
                        let lo = hex_val(line[i + 3]).unwrap_or(0);
                        out.push(hi * 16 + lo);
                        i += 4;
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        out.push(match line[i + 1] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        });
                        i += 2;
                    }
                    Some(b'"') => {
                        if i + 1 < line.len() && !is_space(line[i + 1]) {
                            return false;
                        }
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        out.push(c);
                        i += 1;
                    }
                }
            } else if in_sq {
                match c {
                    None => return false,
                    Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                        out.push(b'\'');
                        i += 2;
                    }
                    Some(b'\'') => {
                        if i + 1 < line.len() && !is_space(line[i + 1]) {
                            return false;
                        }
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        out.push(c);
                        i += 1;
                    }
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => {
                        if c.is_some() {
                            i += 1;
                        }
                        break;
                    }
                    Some(b'"') => {
                        in_dq = true;
                        i += 1;
                    }
                    Some(b'\'') => {
                        in_sq = true;
                        i += 1;
                    }
                    Some(c) => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
        }
        ranges.push((start, out.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = Parser::new();
        let lim = Limits::default();
        let mut cmds = Vec::new();
        let mut at = 0;
        loop {
            match p.parse(&input[at..], &lim)? {
                Frame::Command { len } => {
                    cmds.push(p.args(&input[at..]).iter().map(|a| a.to_vec()).collect());
                    at += len;
                }
                Frame::Empty { len } => at += len,
                Frame::Incomplete { .. } => return Ok(cmds),
            }
        }
    }

    fn v(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_and_pipeline() {
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n";
        let cmds = parse_all(input).unwrap();
        assert_eq!(cmds, vec![v(&["GET", "k"]), v(&["SET", "k", ""])]);
    }

    #[test]
    fn split_at_every_offset_resumes() {
        let input = b"*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$5\r\nhello\r\nPING\r\n";
        for cut in 0..input.len() {
            let mut p = Parser::new();
            let lim = Limits::default();
            let mut buf = input[..cut].to_vec();
            let mut got = Vec::new();
            let mut fed = cut;
            loop {
                match p.parse(&buf, &lim).unwrap() {
                    Frame::Command { len } => {
                        got.push(p.args(&buf).iter().map(|a| a.to_vec()).collect::<Vec<_>>());
                        buf.drain(..len);
                    }
                    Frame::Empty { len } => {
                        buf.drain(..len);
                    }
                    Frame::Incomplete { .. } => {
                        if fed == input.len() {
                            break;
                        }
                        buf.push(input[fed]);
                        fed += 1;
                    }
                }
            }
            assert_eq!(
                got,
                vec![
                    vec![b"SET".to_vec(), b"k\r\n\0".to_vec(), b"hello".to_vec()],
                    v(&["PING"])
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn protocol_errors_have_redis_text() {
        let cases: &[(&[u8], &str)] = &[
            (b"*abc\r\n", "invalid multibulk length"),
            (b"*-\r\n", "invalid multibulk length"),
            (b"*3000000000\r\n", "invalid multibulk length"),
            (b"*1\r\n$-1\r\n", "invalid bulk length"),
            (b"*1\r\n$x\r\n", "invalid bulk length"),
            (b"*1\r\n$536870913\r\n", "invalid bulk length"),
            (b"*1\r\n+foo\r\n", "expected '$', got '+'"),
            (b"SET \"abc\r\n", "unbalanced quotes in request"),
        ];
        for (input, want) in cases {
            assert_eq!(parse_all(input), Err(err(want)), "{:?}", input);
        }
        let big = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(parse_all(&big), Err(err("too big inline request")));
        let mut big = b"*".to_vec();
        big.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(parse_all(&big), Err(err("too big mbulk count string")));
        let mut big = b"*1\r\n$".to_vec();
        big.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(parse_all(&big), Err(err("too big bulk count string")));
    }

    #[test]
    fn empty_frames_are_skipped() {
        let cmds = parse_all(b"*0\r\n*-1\r\n\r\n   \r\nPING\r\n").unwrap();
        assert_eq!(cmds, vec![v(&["PING"])]);
    }

    #[test]
    fn inline_quoting() {
        let cmds = parse_all(b"SET \"a b\\x41\\n\" 'it\\'s'\nGET x\r\n").unwrap();
        assert_eq!(
            cmds,
            vec![
                vec![b"SET".to_vec(), b"a bA\n".to_vec(), b"it's".to_vec()],
                v(&["GET", "x"])
            ]
        );
        assert!(parse_all(b"SET \"a\"b\r\n").is_err());
    }

    #[test]
    fn huge_lengths_do_not_allocate_up_front() {
        // A header promising 2^31-1 arguments must not reserve them.
        let mut p = Parser::new();
        let f = p.parse(b"*2147483647\r\n", &Limits::default()).unwrap();
        assert_eq!(f, Frame::Incomplete { hint: 1 });
        assert!(p.ranges.capacity() <= 1024);
    }

    #[test]
    fn unauthenticated_clients_get_redis_7_limits() {
        let lim = Limits {
            unauthenticated: true,
            ..Limits::default()
        };
        let mut p = Parser::new();
        assert_eq!(
            p.parse(b"*11\r\n", &lim),
            Err(err("unauthenticated multibulk length"))
        );
        let mut p = Parser::new();
        assert_eq!(
            p.parse(b"*1\r\n$16385\r\n", &lim),
            Err(err("unauthenticated bulk length"))
        );
        // At the limits, and once authenticated, the same frames are fine.
        let mut p = Parser::new();
        let ok = b"*10\r\n$16384\r\n";
        assert!(matches!(p.parse(ok, &lim), Ok(Frame::Incomplete { .. })));
        let mut p = Parser::new();
        let big = b"*11\r\n$536870912\r\n";
        assert!(matches!(
            p.parse(big, &Limits::default()),
            Ok(Frame::Incomplete { .. })
        ));
    }
}
