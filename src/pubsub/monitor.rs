//! MONITOR: every command a client runs, as Redis shows it
//! (`+1339518083.107412 [0 127.0.0.1:60866] "set" "k" "v"`), appended to each monitoring
//! client's mailbox. Without monitors the cost per command is one relaxed load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

use super::Mailbox;
use crate::config::OutputLimit;

#[derive(Default)]
pub struct Monitors {
    on: AtomicBool,
    boxes: RwLock<Vec<Arc<Mailbox>>>,
}

impl Monitors {
    #[inline]
    pub fn any(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    pub fn add(&self, m: &Arc<Mailbox>) {
        let mut b = self.boxes.write();
        if !b.iter().any(|x| x.client_id == m.client_id) {
            b.push(m.clone());
        }
        self.on.store(true, Ordering::Relaxed);
    }

    pub fn remove(&self, client_id: u64) {
        let mut b = self.boxes.write();
        b.retain(|m| m.client_id != client_id);
        self.on.store(!b.is_empty(), Ordering::Relaxed);
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        self.boxes.read().len()
    }

    /// Sends one command to every monitor but its own client (Redis does not echo a
    /// monitor's commands to itself).
    pub fn feed(&self, from: u64, db: u32, addr: &str, args: &[&[u8]], limit: OutputLimit) {
        let boxes = self.boxes.read();
        if boxes.iter().all(|m| m.client_id == from) {
            return;
        }
        let now = crate::util::time::since_epoch();
        let line = render(now.as_secs(), now.subsec_micros(), db, addr, args);
        for m in boxes.iter().filter(|m| m.client_id != from) {
            m.push_raw(&line, limit);
        }
    }
}

/// One monitor line: a simple string, each argument quoted as Redis's `sdscatrepr`.
pub fn render(secs: u64, micros: u32, db: u32, addr: &str, args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("+{secs}.{micros:06} [{db} {addr}]").into_bytes();
    for a in args {
        out.extend_from_slice(b" \"");
        for &c in *a {
            match c {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'"' => out.extend_from_slice(b"\\\""),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                7 => out.extend_from_slice(b"\\a"),
                8 => out.extend_from_slice(b"\\b"),
                0x20..=0x7e => out.push(c),
                _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
            }
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_quote_as_redis_does() {
        let line = render(
            1339518083,
            7412,
            3,
            "127.0.0.1:60866",
            &[b"set", b"k\"\\", b"a\r\n\t\x07\x08\x00\xff z"],
        );
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "+1339518083.007412 [3 127.0.0.1:60866] \"set\" \"k\\\"\\\\\" \"a\\r\\n\\t\\a\\b\\x00\\xff z\"\r\n"
        );
    }

    #[test]
    fn on_while_a_monitor_remains() {
        let m = Monitors::default();
        let a = Mailbox::new(1, crate::resp::Protocol::Resp2);
        let b = Mailbox::new(2, crate::resp::Protocol::Resp2);
        m.add(&a);
        m.add(&a);
        m.add(&b);
        assert_eq!(m.count(), 2);
        m.feed(1, 0, "x:1", &[b"ping"], OutputLimit::default());
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        a.take_into(&mut got_a);
        b.take_into(&mut got_b);
        assert!(got_a.is_empty(), "not echoed to its own client");
        assert!(got_b.ends_with(b"[0 x:1] \"ping\"\r\n"));
        m.remove(1);
        assert!(m.any());
        m.remove(2);
        assert!(!m.any());
    }
}
