//! The RESP request parser on arbitrary bytes, fed in arbitrary pieces.
//!
//! Input: `[limit selector] [split seed] stream...`. The stream is parsed twice: all at once,
//! and arriving in pieces whose sizes come from the seed (as a connection's reads would), the
//! parser resuming on the same frame start each time. Both must find the same commands and
//! the same error, and every frame must stay inside the bytes it was given.

#![no_main]

use hypercache::resp::parser::INLINE_MAX;
use hypercache::resp::{Frame, Limits, Parser, ProtocolError};
use libfuzzer_sys::fuzz_target;

type Outcome = (Vec<Vec<Vec<u8>>>, Option<ProtocolError>);

fuzz_target!(|data: &[u8]| {
    let [sel, seed, stream @ ..] = data else {
        return;
    };
    // Past INLINE_MAX bytes without a line end, how much has arrived decides between waiting
    // and "too big" (as in Redis), so only shorter streams must parse alike however split.
    if stream.len() > INLINE_MAX {
        return;
    }
    let limits = Limits {
        max_bulk_len: [0, 1, 7, 64, 4096, 512 * 1024 * 1024, u64::MAX / 2, u64::MAX]
            [*sel as usize & 7],
        // The limits of a client that has not authenticated, for one input in two.
        unauthenticated: *sel & 8 != 0,
    };
    let whole = parse(stream, &limits, &mut |_| usize::MAX);
    // Pieces of 1..=N bytes from a small deterministic generator, N by the seed's top bits.
    let max_piece = [1usize, 2, 3, 7, 16, 64, 512, 4096][(*seed >> 5) as usize];
    let mut state = u32::from(*seed) | 0x9e37_0000;
    let mut next = |_: usize| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        1 + state as usize % max_piece
    };
    let pieces = parse(stream, &limits, &mut next);
    assert_eq!(
        whole, pieces,
        "the same bytes, split differently, parse differently"
    );
});

/// Feeds `input` to one parser, `piece(n)` more bytes whenever it asks for more, and returns
/// the commands it found and the error it stopped on.
fn parse(input: &[u8], limits: &Limits, piece: &mut dyn FnMut(usize) -> usize) -> Outcome {
    let mut p = Parser::new();
    let mut cmds = Vec::new();
    // What has arrived, as a connection's read buffer; `start` is where the frame begins.
    let mut arrived = piece(0).min(input.len());
    let mut start = 0;
    loop {
        let buf = &input[start..arrived];
        let frame = match p.parse(buf, limits) {
            Ok(f) => f,
            Err(e) => return (cmds, Some(e)),
        };
        assert!(p.in_progress() <= buf.len(), "consumed past the input");
        match frame {
            Frame::Command { len } => {
                assert!(
                    len > 0 && len <= buf.len(),
                    "command of {len} bytes in {}",
                    buf.len()
                );
                let args = p.args(buf);
                assert!(!args.is_empty());
                let frame_bytes = buf[..len].as_ptr_range();
                let mut total = 0;
                for a in args.iter() {
                    total += a.len();
                    // Multibulk arguments are views into the frame; inline ones are unescaped
                    // into the parser's own buffer, and never longer than the line.
                    if buf[0] == b'*' {
                        let r = a.as_ptr_range();
                        assert!(
                            frame_bytes.start <= r.start && r.end <= frame_bytes.end,
                            "argument outside its frame"
                        );
                    }
                }
                assert!(total <= len, "arguments longer than their frame");
                cmds.push(args.iter().map(<[u8]>::to_vec).collect());
                start += len;
            }
            Frame::Empty { len } => {
                assert!(
                    len > 0 && len <= buf.len(),
                    "empty frame of {len} bytes in {}",
                    buf.len()
                );
                start += len;
            }
            Frame::Incomplete { hint } => {
                assert!(hint > 0, "incomplete, but wants no more bytes");
                if arrived == input.len() {
                    return (cmds, None);
                }
                arrived = (arrived + piece(hint)).min(input.len());
            }
        }
    }
}
