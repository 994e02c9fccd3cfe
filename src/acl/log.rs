//! ACL LOG: the recent refusals, newest first, alike ones within a minute counted together
//! as Redis groups them.

use std::collections::VecDeque;

/// What was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

/// Where the refused command ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    /// The command, key or channel refused (AUTH's name for a failed login).
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    pub at_ms: u64,
    /// The client as CLIENT LIST shows it (the last one, when grouped).
    pub client: String,
}

/// Alike entries this close in time are counted as one (Redis's 60 s).
const GROUPING_MS: u64 = 60_000;
/// How many recent entries a new one is compared with.
const SCAN: usize = 10;

#[derive(Default)]
pub struct Log {
    entries: VecDeque<Entry>,
}

impl Log {
    /// Adds a refusal, keeping at most `max` entries.
    pub fn add(&mut self, e: Entry, max: usize) {
        let alike = self.entries.iter().take(SCAN).position(|c| {
            c.reason == e.reason
                && c.context == e.context
                && c.at_ms.abs_diff(e.at_ms) <= GROUPING_MS
                && c.object == e.object
                && c.username == e.username
        });
        match alike.and_then(|i| self.entries.remove(i)) {
            Some(mut c) => {
                c.count += 1;
                c.at_ms = e.at_ms;
                c.client = e.client;
                self.entries.push_front(c);
            }
            None => self.entries.push_front(e),
        }
        self.entries.truncate(max);
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    pub fn recent(&self, n: usize) -> Vec<Entry> {
        self.entries.iter().take(n).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn truncate(&mut self, max: usize) {
        self.entries.truncate(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(object: &str, at_ms: u64) -> Entry {
        Entry {
            count: 1,
            reason: Reason::Key,
            context: Context::Toplevel,
            object: object.into(),
            username: b"alice".to_vec(),
            at_ms,
            client: format!("at={at_ms}"),
        }
    }

    #[test]
    fn groups_alike_entries_within_a_minute_and_keeps_the_newest_first() {
        let mut log = Log::default();
        log.add(entry("k1", 1_000), 128);
        log.add(entry("k2", 2_000), 128);
        log.add(entry("k1", 3_000), 128);
        let r = log.recent(10);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].object.as_slice(), r[0].count), (&b"k1"[..], 2));
        assert_eq!(r[0].client, "at=3000");
        // A minute later it is a new entry.
        log.add(entry("k1", 3_000 + GROUPING_MS + 1), 128);
        assert_eq!(log.len(), 3);
    }

    #[test]
    fn keeps_at_most_max_entries() {
        let mut log = Log::default();
        for i in 0..20 {
            log.add(entry(&format!("k{i}"), i), 5);
        }
        assert_eq!(log.len(), 5);
        assert_eq!(log.recent(1)[0].object, b"k19");
        log.reset();
        assert!(log.is_empty());
    }
}
