//! The persistence codec on arbitrary bytes: mutation payloads, framed records, AOF and
//! snapshot files.
//!
//! Input: `[mode] bytes...`. The bytes are decoded as a bare mutation payload, as one framed
//! record, and as a file (magic, header record, records); with `mode & 1` the file's
//! checksums are filled in first (`codec::seal`), so the fuzzer reaches the records without
//! having to forge CRCs. Every mutation that decodes must round-trip: encoding it and decoding
//! that gives the same mutation, and encoding that again the same bytes. A file that starts
//! with a valid snapshot header is also written to a temporary file (only those, so the file
//! system is touched rarely) and read back with `snapshot::read`, the only snapshot reader,
//! which takes a path.

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use hypercache::persist::codec::{
    self, AOF_MAGIC, FRAME_HEADER, SNAPSHOT_MAGIC, decode_header, decode_mutation, encode_header,
    encode_mutation, unframe,
};
use hypercache::persist::{snapshot, tools};
use hypercache::store::mutation::{Origin, OwnedMutation};
use libfuzzer_sys::fuzz_target;

static SNAPSHOT_FILE: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = PathBuf::from("/dev/shm");
    let dir = if dir.is_dir() {
        dir
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("hypercache-fuzz-{}.hcs", std::process::id()))
});

fuzz_target!(|data: &[u8]| {
    let [mode, bytes @ ..] = data else {
        return;
    };
    round_trip(bytes);
    if let Ok((payload, used)) = unframe(bytes) {
        assert_eq!(used, FRAME_HEADER + payload.len());
        assert!(used <= bytes.len());
        round_trip(payload);
    }
    let mut file = bytes.to_vec();
    if mode & 1 != 0 && file.len() > 8 {
        codec::seal(&mut file[8..]);
    }
    for magic in [AOF_MAGIC, SNAPSHOT_MAGIC] {
        let Ok((header, mut at)) = decode_header(&file, magic) else {
            continue;
        };
        assert!(at <= file.len());
        let mut again = Vec::new();
        encode_header(&mut again, magic, &header);
        assert_eq!(
            decode_header(&again, magic),
            Ok((header.clone(), again.len())),
            "a header does not round-trip"
        );
        while at < file.len() {
            let Ok((payload, used)) = unframe(&file[at..]) else {
                break;
            };
            assert!(used >= FRAME_HEADER && at + used <= file.len());
            round_trip(payload);
            at += used;
        }
        if magic == SNAPSHOT_MAGIC {
            read_snapshot(&file);
        }
    }
});

/// Decodes a mutation payload; when it decodes, checks that it round-trips.
fn round_trip(payload: &[u8]) -> Option<OwnedMutation> {
    let m = decode_mutation(payload, Origin::Replay).ok()?;
    let mut record = Vec::new();
    encode_mutation(&mut record, &m.as_mutation());
    let (p, used) = unframe(&record).expect("a record we framed does not unframe");
    assert_eq!(used, record.len());
    let again = decode_mutation(p, Origin::Replay).expect("a record we encoded does not decode");
    assert_eq!(again, m, "decode(encode(m)) != m");
    let mut record2 = Vec::new();
    encode_mutation(&mut record2, &again.as_mutation());
    // A table-encoded collection lists its members in table order, which depends on how the
    // table was built: the encoding is stable up to that order — same length, same value.
    if record2 != record {
        assert_eq!(record2.len(), record.len(), "encoding is not stable");
        let (p2, _) = unframe(&record2).expect("a record we framed does not unframe");
        let third =
            decode_mutation(p2, Origin::Replay).expect("a record we encoded does not decode");
        assert_eq!(third, m, "encoding is not stable");
    }
    let _ = tools::describe(&m);
    Some(m)
}

fn read_snapshot(file: &[u8]) {
    let path = &*SNAPSHOT_FILE;
    if std::fs::write(path, file).is_err() {
        return;
    }
    let mut n = 0u64;
    let r = snapshot::read(path, |m| {
        n += 1;
        let mut record = Vec::new();
        encode_mutation(&mut record, &m.as_mutation());
        let (p, _) = unframe(&record).expect("a record we framed does not unframe");
        assert_eq!(
            decode_mutation(p, Origin::Replay).as_ref(),
            Ok(&m),
            "a snapshot record does not round-trip"
        );
        Ok(())
    });
    if let Ok(loaded) = r {
        assert_eq!(
            loaded.keys, n,
            "key count differs from the records passed on"
        );
    }
    let _ = std::fs::remove_file(path);
}
