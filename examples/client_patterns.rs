//! Four patterns an application builds on HyperCache, with the `redis` crate as it talks to
//! Redis: cache-aside, sessions, a reliable queue and a lock. Each checks what it claims.
//!
//!     cargo run --example client_patterns -- [--port 8080]
//!
//! (The same four in Python, with redis-py: examples/python/.)

use std::collections::HashMap;

use redis::{Commands, Connection, RedisResult};

fn main() -> RedisResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map_or("8080", String::as_str);
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?.get_connection()?;
    cache_aside(&mut c)?;
    sessions(&mut c)?;
    queue(&mut c)?;
    lock(&mut c)?;
    Ok(())
}

/// Reads the cache first; on a miss loads the source of truth and caches it with a TTL.
fn cache_aside(c: &mut Connection) -> RedisResult<()> {
    let mut loads = 0;
    let mut get_user = |c: &mut Connection, id: u32| -> RedisResult<String> {
        let key = format!("user:{id}");
        if let Some(v) = c.get::<_, Option<String>>(&key)? {
            return Ok(v);
        }
        loads += 1;
        let v = format!(r#"{{"id":{id},"name":"Ada"}}"#); // the database's answer
        let _: () = c.set_ex(&key, &v, 300)?;
        Ok(v)
    };
    let _: () = c.del("user:42")?;
    let first = get_user(c, 42)?;
    let second = get_user(c, 42)?;
    assert_eq!(first, second);
    assert_eq!(loads, 1, "the second read came from the cache");
    let ttl: i64 = c.ttl("user:42")?;
    assert!((1..=300).contains(&ttl));
    println!("cache-aside: ok");
    Ok(())
}

/// A hash per session, its expiry slid on each request, in one transaction.
fn sessions(c: &mut Connection) -> RedisResult<()> {
    let key = "session:example";
    let _: () = c.del(key)?;
    let _: () = redis::pipe()
        .atomic()
        .hset(key, "user", "ada")
        .expire(key, 1800)
        .query(c)?;
    let (hits, fields): (i64, HashMap<String, String>) = redis::pipe()
        .atomic()
        .hincr(key, "hits", 1)
        .expire(key, 1800)
        .ignore()
        .hgetall(key)
        .query(c)?;
    assert_eq!(hits, 1);
    assert_eq!(fields.get("user").map(String::as_str), Some("ada"));
    println!("sessions: ok");
    Ok(())
}

/// Producers LPUSH; a worker BLMOVEs a job into its processing list, and removes it once done.
fn queue(c: &mut Connection) -> RedisResult<()> {
    let _: () = c.del(&["jobs", "jobs:processing:w1"])?;
    for i in 0..3 {
        let _: () = c.lpush("jobs", format!("job-{i}"))?;
    }
    let mut done = Vec::new();
    loop {
        let job: Option<String> = redis::cmd("BLMOVE")
            .arg("jobs")
            .arg("jobs:processing:w1")
            .arg("RIGHT")
            .arg("LEFT")
            .arg(0.1)
            .query(c)?;
        let Some(job) = job else { break };
        done.push(job.clone());
        let _: () = c.lrem("jobs:processing:w1", 1, &job)?;
    }
    assert_eq!(done, ["job-0", "job-1", "job-2"]);
    let left: i64 = c.llen("jobs:processing:w1")?;
    assert_eq!(left, 0);
    println!("queue: ok");
    Ok(())
}

/// SET NX PX takes the lock with a token; a script releases it only for that token.
fn lock(c: &mut Connection) -> RedisResult<()> {
    let release = redis::Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    );
    let _: () = c.del("lock:report")?;
    let take = |c: &mut Connection, token: &str| -> RedisResult<bool> {
        let r: Option<String> = redis::cmd("SET")
            .arg("lock:report")
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(10_000)
            .query(c)?;
        Ok(r.is_some())
    };
    assert!(take(c, "token-a")?);
    assert!(!take(c, "token-b")?, "held");
    let wrong: i64 = release.key("lock:report").arg("token-b").invoke(c)?;
    assert_eq!(wrong, 0, "only the holder releases");
    let right: i64 = release.key("lock:report").arg("token-a").invoke(c)?;
    assert_eq!(right, 1);
    println!("lock: ok");
    Ok(())
}
