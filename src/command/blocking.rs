//! What the blocking commands (BLPOP ... BZMPOP) share: the timeout argument, and asking the
//! connection to wait for keys. The waiting itself is the connection's (`server::blocked`):
//! it runs the command again whenever a key it waits on is written, until it is served.

use std::time::{Duration, Instant};

use super::Ctx;
use crate::client::{Action, Block};
use crate::error::{Error, Result};
use crate::util::num::parse_timeout_secs_ms;
use crate::util::time::now_ms;

/// Redis's `getTimeoutFromObjectOrReply` in seconds: `None` waits for ever (0).
pub fn timeout_arg(a: &[u8]) -> Result<Option<Duration>> {
    let ms = parse_timeout_secs_ms(a)
        .ok_or_else(|| Error::msg("timeout is not a float or out of range"))?;
    if ms < 0 {
        return Err(Error::msg("timeout is negative"));
    }
    if ms == 0 {
        return Ok(None);
    }
    if ms > i64::MAX - now_ms() as i64 {
        return Err(Error::msg("timeout is out of range"));
    }
    Ok(Some(Duration::from_millis(ms as u64)))
}

/// Nothing to serve yet: the connection waits for `keys` (of the client's database), then
/// runs the command again; when the time is up it answers a null (array or bulk).
pub fn block(cx: &mut Ctx<'_>, keys: &[&[u8]], timeout: Option<Duration>, null_array: bool) {
    cx.client.action = Some(Action::Block(Block {
        db: cx.client.db,
        keys: keys.iter().map(|k| k.to_vec()).collect(),
        deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
        null_array,
        proto: cx.out.proto,
    }));
}
