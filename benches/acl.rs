//! The ACL check's cost in nanoseconds, per command of a restricted user: the rules read
//! through the client's copy, the command's bit, its keys against the user's patterns.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hypercache::acl::Acl;
use hypercache::command::table;
use hypercache::resp::OwnedArgs;

fn check(c: &mut Criterion) {
    let acl = Acl::new(None, &[], None).expect("no users given");
    let rules: Vec<&[u8]> = vec![b"on", b">pw", b"~key:*", b"~counter:*", b"+get", b"+set"];
    let cell = acl.set_user(b"bench", &rules).expect("valid rules").cell;
    let mut copy = None;
    for (name, call) in [
        ("GET", vec![&b"GET"[..], b"key:000000012345"]),
        ("SET", vec![&b"SET"[..], b"key:000000012345", b"xxx"]),
    ] {
        let owned = OwnedArgs::of(call.iter().copied());
        let args = owned.args();
        let cmd = table::lookup(&args[0]).expect("in the table");
        c.bench_function(&format!("acl check, {name}, restricted user"), |b| {
            b.iter(|| black_box(cell.cached(&mut copy).check(cmd, black_box(&args)).is_ok()))
        });
    }
}

criterion_group!(benches, check);
criterion_main!(benches);
