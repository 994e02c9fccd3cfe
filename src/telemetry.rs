//! Logging: JSON lines on stdout through `tracing`, with a level that can change at runtime.

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

type Handle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

static HANDLE: OnceLock<Handle> = OnceLock::new();

/// Maps our level names and Redis's (`verbose`, `notice`, `warning`) to a tracing filter.
pub fn filter_for(level: &str) -> Result<EnvFilter, String> {
    let l = match level.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" | "verbose" => "debug",
        "info" | "notice" => "info",
        "warn" | "warning" => "warn",
        "error" | "fatal" | "nothing" => "error",
        other => return Err(format!("unknown log level '{other}'")),
    };
    Ok(EnvFilter::new(l))
}

/// Installs the JSON logger once per process; later calls only change the level.
pub fn init(level: &str) {
    let filter = filter_for(level).unwrap_or_else(|_| EnvFilter::new("info"));
    if HANDLE.get().is_some() {
        let _ = set_level(level);
        return;
    }
    let (layer, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .with_writer(std::io::stdout);
    if tracing_subscriber::registry()
        .with(layer)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = HANDLE.set(handle);
    }
}

/// Changes the log level of the running process (CONFIG SET loglevel).
pub fn set_level(level: &str) -> Result<(), String> {
    let filter = filter_for(level)?;
    if let Some(h) = HANDLE.get() {
        h.reload(filter).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_level_names_are_understood() {
        assert!(filter_for("notice").is_ok());
        assert!(filter_for("WARNING").is_ok());
        assert!(filter_for("loud").is_err());
    }
}
