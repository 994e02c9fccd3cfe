//! Load for what redis-benchmark cannot send, against any RESP server (HyperCache or Redis):
//!
//! - `tx`: transactions `MULTI; INCR key:<r>; EXEC`, `--pipeline` of them per round trip on each
//!   of `--conns` connections; prints transactions per second.
//! - `fanout`: `--subs` subscribers of one channel and one publisher pipelining PUBLISH;
//!   prints messages delivered per second (all subscribers together).
//! - `latency`: one publisher on `--addr` at `--rate` messages per second, subscribers on
//!   every `--sub-addr`; prints the delivery latency percentiles (publish to receipt).
//!
//! cargo run --release --example loadgen -- tx --addr 127.0.0.1:6379 --pipeline 16

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn frame(out: &mut Vec<u8>, argv: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// The end of the reply starting at `at`, if it is complete.
fn reply_end(buf: &[u8], at: usize) -> Option<usize> {
    let eol = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
    let n = || -> i64 {
        std::str::from_utf8(&buf[at + 1..eol])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1)
    };
    match buf[at] {
        b'$' | b'=' | b'!' => {
            let len = n();
            if len < 0 {
                return Some(eol + 2);
            }
            let end = eol + 2 + len as usize + 2;
            (end <= buf.len()).then_some(end)
        }
        b'*' | b'>' | b'~' | b'%' => {
            let count = if buf[at] == b'%' { 2 * n() } else { n() };
            let mut end = eol + 2;
            for _ in 0..count.max(0) {
                end = reply_end(buf, end)?;
            }
            Some(end)
        }
        _ => Some(eol + 2),
    }
}

/// Reads until `count` whole replies came; returns them (raw) one after another.
async fn read_replies(s: &mut TcpStream, buf: &mut Vec<u8>, count: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(count);
    let mut at = 0;
    loop {
        while out.len() < count {
            match reply_end(buf, at) {
                Some(end) => {
                    out.push((at, end));
                    at = end;
                }
                None => break,
            }
        }
        if out.len() == count {
            // Keep what came after them for the next call.
            let rest = buf.split_off(at);
            let done = std::mem::replace(buf, rest);
            drop(done);
            return out;
        }
        let mut chunk = [0u8; 65536];
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn tx(args: &[String]) {
    let addr = arg(args, "--addr", "127.0.0.1:6379");
    let conns: usize = arg(args, "--conns", "50").parse().unwrap();
    let pipeline: usize = arg(args, "--pipeline", "1").parse().unwrap();
    let secs: u64 = arg(args, "--seconds", "5").parse().unwrap();
    let keys: u64 = arg(args, "--keys", "100000").parse().unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (addr, done, stop) = (addr.clone(), done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            s.set_nodelay(true).unwrap();
            let mut buf = Vec::new();
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                out.clear();
                for _ in 0..pipeline {
                    let key = format!("key:{}", fastrand::u64(0..keys));
                    frame(&mut out, &[b"MULTI"]);
                    frame(&mut out, &[b"INCR", key.as_bytes()]);
                    frame(&mut out, &[b"EXEC"]);
                }
                s.write_all(&out).await.expect("write");
                let replies = read_replies(&mut s, &mut buf, 3 * pipeline).await;
                assert_eq!(replies.len(), 3 * pipeline);
                done.fetch_add(pipeline as u64, Ordering::Relaxed);
            }
        }));
    }
    // A second of warm-up, then the measured window.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (start, t0) = (done.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let n = done.load(Ordering::Relaxed) - start;
    stop.store(true, Ordering::Relaxed);
    println!(
        "tx: {:.0} transactions/s ({} connections, pipeline {pipeline})",
        n as f64 / t0.elapsed().as_secs_f64(),
        conns
    );
    for t in tasks {
        let _ = t.await;
    }
}

async fn subscribe(addr: &str, channel: &str) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).unwrap();
    let mut out = Vec::new();
    frame(&mut out, &[b"SUBSCRIBE", channel.as_bytes()]);
    s.write_all(&out).await.unwrap();
    let mut buf = Vec::new();
    read_replies(&mut s, &mut buf, 1).await;
    (s, buf)
}

async fn fanout(args: &[String]) {
    let addr = arg(args, "--addr", "127.0.0.1:6379");
    let subs: usize = arg(args, "--subs", "100").parse().unwrap();
    let pipeline: usize = arg(args, "--pipeline", "16").parse().unwrap();
    let secs: u64 = arg(args, "--seconds", "5").parse().unwrap();
    let size: usize = arg(args, "--size", "16").parse().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..subs {
        let (mut s, mut buf) = subscribe(&addr, "fanout").await;
        let (received, stop) = (received.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut chunk = vec![0u8; 1 << 16];
            while !stop.load(Ordering::Relaxed) {
                let mut at = 0;
                let mut n = 0;
                while let Some(end) = reply_end(&buf, at) {
                    at = end;
                    n += 1;
                }
                buf.drain(..at);
                received.fetch_add(n, Ordering::Relaxed);
                match tokio::time::timeout(Duration::from_millis(200), s.read(&mut chunk)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(k)) => buf.extend_from_slice(&chunk[..k]),
                    Err(_) => {}
                }
            }
        }));
    }
    let publisher = {
        let (addr, stop) = (addr.clone(), stop.clone());
        tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            s.set_nodelay(true).unwrap();
            let payload = vec![b'm'; size];
            let mut out = Vec::new();
            for _ in 0..pipeline {
                frame(&mut out, &[b"PUBLISH", b"fanout", &payload]);
            }
            let mut buf = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                s.write_all(&out).await.unwrap();
                read_replies(&mut s, &mut buf, pipeline).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (start, t0) = (received.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let n = received.load(Ordering::Relaxed) - start;
    stop.store(true, Ordering::Relaxed);
    println!(
        "fanout: {:.0} messages delivered/s ({subs} subscribers, publisher pipeline {pipeline}, {size}-byte messages)",
        n as f64 / t0.elapsed().as_secs_f64()
    );
    let _ = publisher.await;
    for t in tasks {
        let _ = t.await;
    }
}

async fn latency(args: &[String]) {
    let addr = arg(args, "--addr", "127.0.0.1:6379");
    let sub_addrs: Vec<String> = args
        .iter()
        .enumerate()
        .filter(|(_, a)| *a == "--sub-addr")
        .filter_map(|(i, _)| args.get(i + 1).cloned())
        .collect();
    let rate: u64 = arg(args, "--rate", "1000").parse().unwrap();
    let secs: u64 = arg(args, "--seconds", "5").parse().unwrap();
    let samples = Arc::new(parking_lot::Mutex::new(Vec::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for a in &sub_addrs {
        let (mut s, mut buf) = subscribe(a, "latency").await;
        let (samples, stop) = (samples.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut chunk = vec![0u8; 1 << 16];
            while !stop.load(Ordering::Relaxed) {
                let mut at = 0;
                while let Some(end) = reply_end(&buf, at) {
                    // [message, channel, <sent µs>]: the last bulk's text.
                    let text = String::from_utf8_lossy(&buf[at..end]);
                    if let Some(sent) = text
                        .trim_end()
                        .rsplit("\r\n")
                        .next()
                        .and_then(|v| v.parse::<u64>().ok())
                    {
                        samples.lock().push(now_us().saturating_sub(sent));
                    }
                    at = end;
                }
                buf.drain(..at);
                match tokio::time::timeout(Duration::from_millis(200), s.read(&mut chunk)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(k)) => buf.extend_from_slice(&chunk[..k]),
                    Err(_) => {}
                }
            }
        }));
    }
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    let every = Duration::from_micros(1_000_000 / rate.max(1));
    let mut tick = tokio::time::interval(every);
    let t0 = Instant::now();
    let mut sent = 0u64;
    while t0.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        let mut out = Vec::new();
        frame(
            &mut out,
            &[b"PUBLISH", b"latency", now_us().to_string().as_bytes()],
        );
        s.write_all(&out).await.unwrap();
        read_replies(&mut s, &mut buf, 1).await;
        sent += 1;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let mut v = samples.lock().clone();
    v.sort_unstable();
    let pct = |p: f64| {
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "latency: {sent} published, {} received on {} subscribers; p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        v.len(),
        sub_addrs.len(),
        pct(0.5) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
        v.last().copied().unwrap_or(0) as f64 / 1000.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.get(1).map(String::as_str) {
        Some("tx") => rt.block_on(tx(&args)),
        Some("fanout") => rt.block_on(fanout(&args)),
        Some("latency") => rt.block_on(latency(&args)),
        _ => eprintln!("usage: loadgen tx|fanout|latency [--addr HOST:PORT] [options]"),
    }
}
