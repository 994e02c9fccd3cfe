//! A peer's replication batch (`HCREPL <from> <end> <sent_ms> <records>`), decoded and applied
//! (`Keyspace::apply_remote`, last writer wins) by the real command on an in-process node.
//!
//! Input: a sequence of chunks `[kind] [len: u16 LE] [len bytes]`. By `kind % 8`, a chunk's
//! bytes become a record with a good checksum (0-5), one with a bad checksum (6), or are put
//! in the batch as they are (7), so the fuzzer reaches the decoder without forging CRCs and
//! still tries torn and corrupt framing. A record may be a mutation or a correlation marker
//! (`0xC0` + varint length + id). After the batch, a local write and a few reads run on the
//! node, as a client's would after a peer's batch.
//!
//! The node is built once and emptied between inputs (its Lamport clock cannot be put back,
//! but records are validated and stamps bounded, so the clock an input starts from changes
//! nothing it can observe). The client is an authenticated peer named `fuzz-peer`, as a node
//! that passed the handshake would be.

#![no_main]

use std::sync::Mutex;

use hypercache::persist::codec;
use hypercache_fuzz::{Harness, NOW, memory_only};
use libfuzzer_sys::fuzz_target;

static HARNESS: Mutex<Option<Harness>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut guard = HARNESS.lock().unwrap_or_else(|e| e.into_inner());
    let h = guard.get_or_insert_with(|| Harness::new(memory_only()));
    let batch = batch(data);
    let mut client = h.client();
    client.peer = Some("fuzz-peer".into());
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
