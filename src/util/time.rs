//! Wall-clock time, read in one place: milliseconds since the Unix epoch for deadlines,
//! stamps of figures and logs, and the exact duration where a finer one is needed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch (zero if the clock reads before it).
#[inline]
pub fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
#[inline]
pub fn now_ms() -> u64 {
    since_epoch().as_millis() as u64
}
