//! A peer's replication batch (`HCREPL <from> <end> <sent_ms> <records>`), decoded and applied
//! (`Store::apply_remote`, last writer wins) by the real command on an in-process node.
//!
//! Input: a sequence of chunks `[kind] [len: u16 LE] [len bytes]`. By `kind % 8`, a chunk's
//! bytes become a record with a good checksum (0-5), one with a bad checksum (6), or are put
//! in the batch as they are (7), so the fuzzer reaches the decoder without forging CRCs and
//! still tries torn and corrupt framing. A record may be a mutation or a correlation marker
//! (`0xC0` + varint length + id). After the batch, a local write and a few reads run on the
//! node, as a client's would after a peer's batch.
//!
//! The node is built once and emptied between inputs. Its Lamport clock cannot be put back,
//! so the node is rebuilt when an input has left it within 2^20 ticks of overflowing: a later
//! input never inherits a clock a huge stamp left there (below that, the clock an input starts
//! from changes nothing it can observe: the keyspace is empty and every stamp it compares comes
//! from the input or from ticks after it). A replaced node is kept, not dropped: the named
//! stores a node creates live for the process (`Box::leak`), and dropping their node would
//! leave them unreachable, which LeakSanitizer reports.

#![no_main]

use std::sync::Mutex;

use hypercache::persist::codec;
use hypercache::persist::mutation::{Origin, OwnedOp};
use hypercache_fuzz::{Harness, NOW, memory_only, skip_known};
use libfuzzer_sys::fuzz_target;

/// The node's databases (`cache.databases`, left at its default by `memory_only`).
const DATABASES: usize = 16;

static HARNESS: Mutex<Option<Harness>> = Mutex::new(None);
static REPLACED: Mutex<Vec<Harness>> = Mutex::new(Vec::new());

fuzz_target!(|data: &[u8]| {
    let mut guard = HARNESS.lock().unwrap_or_else(|e| e.into_inner());
    if guard
        .as_ref()
        .is_none_or(|h| h.node.store.bus().clock().now() > u64::MAX - (1 << 20))
        && let Some(old) = guard.replace(Harness::new(memory_only()))
    {
        REPLACED.lock().unwrap_or_else(|e| e.into_inner()).push(old);
    }
    let Some(h) = guard.as_ref() else { return };
    let batch = batch(data);
    if skip_known() && shows_known_bug(&batch) {
        return;
    }
    let mut client = h.client();
    let run = |client: &mut _, argv: &[&[u8]]| h.run(client, argv, NOW);
    let reply = run(
        &mut client,
        &[b"HCREPL", b"fuzz-peer", b"42", b"1700000000000", &batch],
    );
    assert!(
        reply == b":42\r\n" || reply.starts_with(b"-"),
        "HCREPL answered {:?}",
        String::from_utf8_lossy(&reply)
    );
    // A client's commands after the batch: a write (it takes the next Lamport stamp) and reads
    // over whatever the batch left.
    run(&mut client, &[b"SET", b"fuzz:local", b"v"]);
    run(&mut client, &[b"INCR", b"fuzz:counter"]);
    run(&mut client, &[b"SCAN", b"0", b"COUNT", b"1000"]);
    run(&mut client, &[b"DBSIZE"]);
    run(&mut client, &[b"STORES"]);
    h.reset(false);
});

/// Whether a record of the batch shows a known bug (see `hypercache_fuzz::skip_known`):
/// - fuzz/regressions/hcrepl_payload/lamport-overflow: a stamp within a few ticks of 2^64 is
///   taken as is (`LamportClock::observe`), and the next local write's tick overflows (a panic
///   with overflow checks, a clock back at 0 without them).
/// - fuzz/regressions/hcrepl_payload/swapdb-deadlock: a SwapDb naming a database the node does
///   not have (16 and up, or the id of a store it lacks) resolves it to database 0
///   (`db_or_first`); with the other side 0 too, `apply_inner` locks database 0's shards twice
///   and never returns (with another side, it swaps that database with database 0).
fn shows_known_bug(mut batch: &[u8]) -> bool {
    while let Ok((payload, used)) = codec::unframe(batch) {
        batch = &batch[used..];
        let Ok(m) = codec::decode_mutation(payload, Origin::Peer) else {
            continue;
        };
        if m.stamp.lamport > u64::MAX - (1 << 20) {
            return true;
        }
        if let OwnedOp::SwapDb { other } = m.op
            && other != m.db
            && (other.max(m.db) as usize) >= DATABASES
        {
            return true;
        }
    }
    false
}

/// The batch the chunks describe.
fn batch(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let [kind, rest @ ..] = data {
        let len = match rest {
            [a, b, ..] => u16::from_le_bytes([*a, *b]) as usize,
            _ => 0,
        };
        let rest = rest.get(2..).unwrap_or_default();
        let (body, tail) = rest.split_at(len.min(rest.len()));
        data = tail;
        match kind % 8 {
            0..=5 => codec::frame(&mut out, |p| p.extend_from_slice(body)),
            6 => {
                let at = out.len();
                codec::frame(&mut out, |p| p.extend_from_slice(body));
                out[at + 4] ^= 0x5a;
            }
            _ => out.extend_from_slice(body),
        }
    }
    out
}
