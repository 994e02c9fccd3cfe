//! The cuckoo filter's costs in nanoseconds: lookups of present and absent items, inserts,
//! and a store lookup of an absent key with and without the filter in front of the table.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hypercache::filter::CuckooFilter;
use hypercache::store::mutation::Bus;
use hypercache::store::{Access, Keyspace, Value};

fn h(i: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes())
}

fn filter(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let mut f = CuckooFilter::for_keys(N as usize, 0.01);
    for i in 0..N {
        let _ = f.insert(h(i));
    }
    let mut i = 0u64;
    c.bench_function("filter lookup, present (1M items)", |b| {
        b.iter(|| {
            i = (i + 1) % N;
            black_box(f.peek(black_box(h(i))))
        })
    });
    c.bench_function("filter lookup, absent (1M items)", |b| {
        b.iter(|| {
            i += 1;
            black_box(f.peek(black_box(h(N + i))))
        })
    });
    let mut g = CuckooFilter::for_keys(1024, 0.01);
    let mut j = 0u64;
    c.bench_function("filter insert+remove", |b| {
        b.iter(|| {
            j += 1;
            let _ = g.insert(h(j));
            g.remove(h(j.wrapping_sub(512)));
        })
    });
}

fn store_miss(c: &mut Criterion) {
    for (name, fpp) in [("without filter", None), ("with filter", Some(0.01))] {
        let s = Keyspace::new(1, 64, Bus::new(1, Vec::new()));
        s.default_store().set_filter(fpp);
        for i in 0..1_000_000u64 {
            s.with_key(0, format!("key:{i}").as_bytes(), 0, Access::Write, |k| {
                k.set(Value::Int(i as i64), 0)
            });
        }
        let keys: Vec<Vec<u8>> = (0..4096)
            .map(|i| format!("absent:{i}").into_bytes())
            .collect();
        let mut i = 0;
        c.bench_function(&format!("store GET miss, 1M keys, {name}"), |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                black_box(s.with_key(0, &keys[i], 0, Access::Read, |k| k.exists()))
            })
        });
    }
}

criterion_group!(benches, filter, store_miss);
criterion_main!(benches);
