//! The library's error type, and the one place it is mapped to RESP error lines and HTTP codes.

use std::borrow::Cow;

/// A command failed. `Display` is the RESP error line without the leading `-`, exactly as
/// Redis words it, so clients that match on error text keep working.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR value is out of range, must be positive")]
    NotPositive,
    #[error("ERR syntax error")]
    Syntax,
    /// A string that is not a HyperLogLog, given to a PF* command.
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    /// A HyperLogLog whose registers do not decode.
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    CorruptHll,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR index out of range")]
    IndexOutOfRange,
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(String),
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(&'static str),
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    Oom,
    #[error("LOADING Redis is loading the dataset in memory")]
    Loading,
    /// The disk refuses the AOF's writes (the text is Redis's `-MISCONF ...` line).
    #[error("{0}")]
    Misconf(String),
    /// Too few replicas acknowledged a write in time (`-TRYAGAIN ...`).
    #[error("{0}")]
    TryAgain(String),
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// An internal command from a connection that is not an authenticated peer.
    #[error("NOPERM this command is only for authenticated cluster peers")]
    PeersOnly,
    /// A background job of this kind is already running.
    #[error("ERR Background save already in progress")]
    InProgress,
    /// Any other `ERR ...` message.
    #[error("ERR {0}")]
    Msg(Cow<'static, str>),
    /// A complete error line with its own code (e.g. `NOPROTO ...`).
    #[error("{0}")]
    Coded(Cow<'static, str>),
}

impl Error {
    pub fn msg(m: impl Into<Cow<'static, str>>) -> Self {
        Error::Msg(m.into())
    }

    pub fn coded(m: impl Into<Cow<'static, str>>) -> Self {
        Error::Coded(m.into())
    }

    /// The HTTP status this error maps to on the HTTP API.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::WrongType | Error::NotHll | Error::CorruptHll => 409,
            Error::Oom | Error::Misconf(_) => 507,
            Error::Loading | Error::TryAgain(_) => 503,
            Error::NoAuth => 401,
            Error::PeersOnly => 403,
            Error::NoSuchKey => 404,
            _ => 400,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Redis's protected-mode refusal, word for word (RESP; HTTP sends its text as JSON).
pub const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_redis() {
        assert_eq!(
            Error::Arity("get".into()).to_string(),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(Error::msg("x y").to_string(), "ERR x y");
        assert_eq!(
            Error::WrongType.to_string(),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(Error::WrongType.http_status(), 409);
    }
}
