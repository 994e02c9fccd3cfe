//! The slow log (Redis's SLOWLOG): the commands that took longer than
//! `slowlog-log-slower-than` microseconds, newest first, at most `slowlog-max-len` of them.
//! The time is the command's own execution, not its I/O, as in Redis.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

/// Arguments kept per entry (Redis's SLOWLOG_ENTRY_MAX_ARGC).
const MAX_ARGC: usize = 32;
/// Bytes kept per argument (Redis's SLOWLOG_ENTRY_MAX_STRING).
const MAX_ARG_BYTES: usize = 128;

/// One slow command.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: u64,
    /// Unix time, seconds.
    pub time: u64,
    pub micros: u64,
    pub args: Vec<Vec<u8>>,
    /// `ip:port` of the client.
    pub addr: String,
    pub name: Vec<u8>,
}

pub struct SlowLog {
    /// Microseconds; negative = off, 0 = every command.
    threshold_us: AtomicI64,
    max_len: AtomicU64,
    next_id: AtomicU64,
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for SlowLog {
    /// Redis's defaults: 10 ms, 128 entries.
    fn default() -> Self {
        SlowLog {
            threshold_us: AtomicI64::new(10_000),
            max_len: AtomicU64::new(128),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }
}

impl SlowLog {
    pub fn threshold_us(&self) -> i64 {
        self.threshold_us.load(Ordering::Relaxed)
    }

    pub fn set_threshold_us(&self, us: i64) {
        self.threshold_us.store(us, Ordering::Relaxed);
    }

    pub fn max_len(&self) -> u64 {
        self.max_len.load(Ordering::Relaxed)
    }

    /// A shorter log drops its oldest entries at once (as Redis's CONFIG SET does).
    pub fn set_max_len(&self, n: u64) {
        self.max_len.store(n, Ordering::Relaxed);
        let mut e = self.entries.lock();
        e.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }

    /// Whether commands are timed for the log at all.
    #[inline]
    pub fn on(&self) -> bool {
        self.threshold_us() >= 0
    }

    /// Whether a command that took `micros` belongs in the log.
    #[inline]
    pub fn is_slow(&self, micros: u64) -> bool {
        let t = self.threshold_us();
        t >= 0 && micros >= t as u64
    }

    /// Records a command, its arguments cut as Redis cuts them.
    pub fn push(&self, args: &[&[u8]], micros: u64, addr: String, name: Vec<u8>) {
        let max = usize::try_from(self.max_len()).unwrap_or(usize::MAX);
        if max == 0 {
            return;
        }
        let kept = args.len().min(MAX_ARGC);
        let mut out = Vec::with_capacity(kept);
        for (i, a) in args.iter().take(kept).enumerate() {
            if kept < args.len() && i == kept - 1 {
                let more = args.len() - kept + 1;
                out.push(format!("... ({more} more arguments)").into_bytes());
            } else if a.len() > MAX_ARG_BYTES {
                let mut v = a[..MAX_ARG_BYTES].to_vec();
                v.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_ARG_BYTES).as_bytes(),
                );
                out.push(v);
            } else {
                out.push(a.to_vec());
            }
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time: crate::util::time::now_ms() / 1000,
            micros,
            args: out,
            addr,
            name,
        };
        let mut e = self.entries.lock();
        e.push_front(entry);
        e.truncate(max);
    }

    /// The newest `n` entries (all with `None`).
    pub fn get(&self, n: Option<usize>) -> Vec<Entry> {
        let e = self.entries.lock();
        e.iter().take(n.unwrap_or(usize::MAX)).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_cut_as_redis_cuts_them() {
        let log = SlowLog::default();
        let long = vec![b'x'; 200];
        let mut args: Vec<&[u8]> = vec![b"rpush", b"list"];
        args.extend(std::iter::repeat_n(long.as_slice(), 40));
        log.push(&args, 5, "127.0.0.1:1".into(), b"c".to_vec());
        let e = &log.get(None)[0];
        assert_eq!(e.args.len(), 32);
        assert_eq!(e.args[0], b"rpush");
        assert_eq!(e.args[2].len(), 128 + "... (72 more bytes)".len());
        assert!(e.args[2].ends_with(b"... (72 more bytes)"));
        assert_eq!(e.args[31], b"... (11 more arguments)");
    }

    #[test]
    fn newest_first_bounded_and_numbered() {
        let log = SlowLog::default();
        log.set_max_len(3);
        for i in 0..5u8 {
            log.push(&[&[b'a' + i]], u64::from(i), String::new(), Vec::new());
        }
        let got: Vec<(u64, Vec<u8>)> = log
            .get(None)
            .into_iter()
            .map(|e| (e.id, e.args[0].clone()))
            .collect();
        assert_eq!(
            got,
            [(4, b"e".to_vec()), (3, b"d".to_vec()), (2, b"c".to_vec())]
        );
        assert_eq!(log.get(Some(1)).len(), 1);
        log.set_max_len(1);
        assert_eq!(log.len(), 1);
        log.reset();
        assert!(log.is_empty());
        // Ids go on after a reset, as Redis's.
        log.push(&[b"x"], 1, String::new(), Vec::new());
        assert_eq!(log.get(None)[0].id, 5);
    }

    #[test]
    fn threshold_negative_is_off_zero_is_everything() {
        let log = SlowLog::default();
        assert!(log.on() && !log.is_slow(9_999) && log.is_slow(10_000));
        log.set_threshold_us(0);
        assert!(log.is_slow(0));
        log.set_threshold_us(-1);
        assert!(!log.on() && !log.is_slow(u64::MAX));
    }
}
