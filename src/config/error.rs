//! What loading can report: a bad value ([`InvalidValue`]) and, with where it came from, a
//! [`ConfigError`] whose `Display` is the message a person reads.

use std::path::PathBuf;

/// A value that does not parse (size, duration, enum name, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// Anything that can go wrong while loading configuration. `Display` is the
/// user-facing message (file, line, key and, for file errors, a snippet).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// YAML syntax or shape error (unknown key, mapping expected, ...).
    /// `message` comes from the YAML parser and already includes
    /// "line L column C" and a snippet.
    #[error("{origin}: {message}")]
    Parse {
        origin: String,
        line: Option<u64>,
        column: Option<u64>,
        message: String,
    },
    /// A key has a bad value. `key` is a dotted path such as
    /// `cache.max_memory` or `stores[2].name`. `origin` is set when a file
    /// was involved, `position` when the value came from it.
    #[error("{}", render_invalid(.origin.as_deref(), .key, .message, .position.as_deref()))]
    Invalid {
        origin: Option<String>,
        key: String,
        message: String,
        position: Option<Box<Position>>,
    },
    /// A `HYPERCACHE_*` environment variable has a bad value.
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    /// A command-line flag has a bad value.
    #[error("command-line flag {flag}: {message}")]
    Flag { flag: String, message: String },
}

/// Where in the file a bad value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// 1-based.
    pub line: u64,
    /// 1-based, in characters.
    pub column: u64,
    /// Rendered source excerpt with a caret under the value.
    pub snippet: String,
}

impl ConfigError {
    /// 1-based line in the config file, when known.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Parse { line, .. } => *line,
            Self::Invalid { position, .. } => position.as_ref().map(|p| p.line),
            _ => None,
        }
    }

    /// Dotted key path of the offending value, when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

fn render_invalid(
    origin: Option<&str>,
    key: &str,
    message: &str,
    position: Option<&Position>,
) -> String {
    let mut out = String::new();
    if let Some(origin) = origin {
        out.push_str(origin);
        out.push_str(": ");
    }
    if let Some(p) = position {
        out.push_str(&format!("line {} column {}: ", p.line, p.column));
    }
    out.push_str(key);
    out.push_str(": ");
    out.push_str(message);
    if let Some(p) = position {
        out.push('\n');
        out.push_str(&p.snippet);
    }
    out
}

/// Renders the offending line (and the one before it) with a caret, in the
/// same layout the YAML parser uses, so all file errors look alike.
pub(super) fn position(
    src: &str,
    origin: &str,
    (line, column): (u64, u64),
    message: &str,
) -> Box<Position> {
    let lines: Vec<&str> = src.lines().collect();
    let idx = usize::try_from(line)
        .unwrap_or(usize::MAX)
        .saturating_sub(1);
    let width = line.to_string().len();
    let blank = " ".repeat(width);
    let mut out = format!("{blank}--> {origin}:{line}:{column}\n{blank} |\n");
    if idx >= 1
        && let Some(prev) = lines.get(idx - 1)
    {
        out.push_str(&format!("{:>width$} | {prev}\n", line - 1));
    }
    if let Some(cur) = lines.get(idx) {
        out.push_str(&format!("{line:>width$} | {cur}\n"));
        let pad = " ".repeat(usize::try_from(column).unwrap_or(1).saturating_sub(1));
        out.push_str(&format!("{blank} | {pad}^ {message}"));
    }
    Box::new(Position {
        line,
        column,
        snippet: out,
    })
}
