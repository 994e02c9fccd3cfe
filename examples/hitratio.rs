//! Hit ratio of a cache-aside workload: GET a key drawn from a Zipf(0.99) distribution over
//! `--keys` keys, SET it on a miss. Run against any Redis-compatible server (its maxmemory and
//! policy set beforehand) — `scripts/bench-hitratio.sh` runs Redis and HyperCache side by side.
//!
//! cargo run --release --example hitratio -- --addr 127.0.0.1:6379 --keys 1000000 --gets 10000000

use std::time::Instant;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn main() -> redis::RedisResult<()> {
    let addr = arg("--addr", "127.0.0.1:6379");
    let keys: usize = arg("--keys", "1000000").parse().expect("--keys");
    let gets: usize = arg("--gets", "10000000").parse().expect("--gets");
    let value_size: usize = arg("--value", "16").parse().expect("--value");
    let seed: u64 = arg("--seed", "1").parse().expect("--seed");
    let batch = 500;
    // Zipf(0.99) by inverse transform over the cumulative weights.
    let mut cdf = Vec::with_capacity(keys);
    let mut sum = 0.0;
    for r in 1..=keys {
        sum += 1.0 / (r as f64).powf(0.99);
        cdf.push(sum);
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    // Ranks are scattered over the key space, so hot keys are not neighbours.
    let mut perm: Vec<u32> = (0..keys as u32).collect();
    rng.shuffle(&mut perm);
    let mut c = redis::Client::open(format!("redis://{addr}/"))?.get_connection()?;
    let value = vec![b'v'; value_size];
    let (mut hits, mut done) = (0usize, 0usize);
    let (mut late_hits, mut late) = (0usize, 0usize);
    let started = Instant::now();
    while done < gets {
        let n = batch.min(gets - done);
        let names: Vec<String> = (0..n)
            .map(|_| {
                let x = rng.f64() * sum;
                let rank = cdf.partition_point(|&c| c < x).min(keys - 1);
                format!("key:{:012}", perm[rank])
            })
            .collect();
        let mut p = redis::pipe();
        for k in &names {
            p.cmd("GET").arg(k);
        }
        let got: Vec<Option<Vec<u8>>> = p.query(&mut c)?;
        let mut sets = redis::pipe();
        let mut misses = 0;
        for (k, v) in names.iter().zip(&got) {
            if v.is_some() {
                hits += 1;
                if done >= gets / 2 {
                    late_hits += 1;
                }
            } else {
                misses += 1;
                // Errors (OOM) are answers too: the cache refused to keep it.
                sets.cmd("SET").arg(k).arg(&value[..]).ignore();
            }
            if done >= gets / 2 {
                late += 1;
            }
        }
        if misses > 0 {
            let _: redis::RedisResult<()> = sets.query(&mut c);
        }
        done += n;
    }
    let info: String = redis::cmd("INFO").arg("memory").query(&mut c)?;
    let used = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap_or("?")
        .trim()
        .to_string();
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut c)?;
    println!(
        "addr={addr} gets={gets} hit_ratio={:.4} hit_ratio_second_half={:.4} keys_held={dbsize} used_memory={used} secs={:.1}",
        hits as f64 / gets as f64,
        late_hits as f64 / late.max(1) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
