//! Logging: one JSON object per line, to stdout and/or size-rotated files, with a level that
//! can change at runtime.
//!
//! Every line has `@timestamp`, `level`, `message` and `node_id`; events add `component`,
//! `action`, `duration_ms`, `error` and the like; fields of the spans around an event (the
//! HTTP request's `correlation_id`) are copied onto it, so every line a request causes
//! carries its id. The formatter is ours (a small `Layer`) because tracing-subscriber's JSON
//! format nests span fields instead of putting them on the line.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogOutput, LoggingConfig};

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

/// Installs the logger once per process; later calls only change the level. A log file that
/// cannot be opened is reported on stderr and logging goes on to the other outputs.
pub fn init(config: &LoggingConfig, node_id: &str) {
    let level = config.level.name();
    let filter = filter_for(level).unwrap_or_else(|_| EnvFilter::new("info"));
    if HANDLE.get().is_some() {
        let _ = set_level(level);
        return;
    }
    let mut sinks = Vec::new();
    for out in &config.output {
        match out {
            LogOutput::Console => sinks.push(Sink::Stdout),
            LogOutput::File => match Rotating::open(
                &config.log_dir,
                node_id,
                config.max_file_size,
                config.max_files,
            ) {
                Ok(r) => sinks.push(Sink::File(Mutex::new(r))),
                Err(e) => eprintln!(
                    "hypercache: cannot open a log file in {}: {e}; logging to the other outputs",
                    config.log_dir.display()
                ),
            },
        }
    }
    let (layer, handle) = reload::Layer::new(filter);
    let json = JsonLayer {
        node_id: node_id.to_string(),
        sinks,
        structured: config.structured,
    };
    if tracing_subscriber::registry()
        .with(layer)
        .with(json)
        .try_init()
        .is_ok()
    {
        let _ = HANDLE.set(handle);
    }
}

/// Changes the log level of the running process (CONFIG SET loglevel, the admin route).
pub fn set_level(level: &str) -> Result<(), String> {
    let filter = filter_for(level)?;
    if let Some(h) = HANDLE.get() {
        h.reload(filter).map_err(|e| e.to_string())?;
    }
    Ok(())
}

enum Sink {
    Stdout,
    File(Mutex<Rotating>),
}

struct JsonLayer {
    node_id: String,
    sinks: Vec<Sink>,
    /// `logging.structured`: JSON lines (true) or text lines.
    structured: bool,
}

/// The fields recorded on a span, as JSON members (`"k":v,` each), kept in its extensions.
struct SpanFields(String);

/// Writes visited fields as JSON members straight into a line, without building a map;
/// `message` and `node_id` are kept aside to go first.
#[derive(Default)]
struct Fields {
    members: String,
    message: Option<String>,
    node_id: Option<String>,
    /// `logging.structured: false`: members as ` key=value` for people, not JSON.
    text: bool,
}

impl Fields {
    fn new(text: bool) -> Fields {
        Fields {
            text,
            ..Fields::default()
        }
    }

    fn key(&mut self, field: &Field) {
        if self.text {
            self.members.push(' ');
            self.members.push_str(field.name());
            self.members.push('=');
            return;
        }
        self.members.push(',');
        escape(&mut self.members, field.name());
        self.members.push(':');
    }

    fn string(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = Some(value.to_string()),
            "node_id" => self.node_id = Some(value.to_string()),
            _ => {
                self.key(field);
                // Text: a plain word as it is, anything else quoted.
                if self.text
                    && !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_graphic() && c != '"' && c != '=')
                {
                    self.members.push_str(value);
                } else {
                    escape(&mut self.members, value);
                }
            }
        }
    }

    fn raw(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        use std::fmt::Write as _;
        self.key(field);
        let _ = self.members.write_fmt(value);
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.string(field, &format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            // Six decimals at most: a figure computed in floating point reads 0.034896, not
            // 0.034895999999999996.
            let mut t = format!("{value:.6}");
            if t.contains('.') {
                t.truncate(t.trim_end_matches('0').trim_end_matches('.').len());
            }
            self.raw(field, format_args!("{t}"));
        } else {
            self.raw(field, format_args!("null"));
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.string(field, &value.to_string());
    }
}

/// Appends `s` as a JSON string.
fn escape(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(esc);
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

thread_local! {
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl<S> Layer<S> for JsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut f = Fields::new(!self.structured);
        attrs.record(&mut f);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(f.members));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(SpanFields(members)) = ext.get_mut::<SpanFields>() {
                let mut f = Fields {
                    members: std::mem::take(members),
                    ..Fields::new(!self.structured)
                };
                values.record(&mut f);
                *members = f.members;
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut f = Fields::new(!self.structured);
        event.record(&mut f);
        LINE.with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                return;
            };
            line.clear();
            let level = level_name(event.metadata().level());
            let node_id = f.node_id.as_deref().unwrap_or(&self.node_id);
            let message = f.message.as_deref().unwrap_or("");
            if self.structured {
                line.push_str("{\"@timestamp\":\"");
                push_rfc3339_now(&mut line);
                line.push_str("\",\"level\":\"");
                line.push_str(level);
                line.push_str("\",\"message\":");
                escape(&mut line, message);
                line.push_str(",\"node_id\":");
                escape(&mut line, node_id);
            } else {
                // `2026-12-01T14:00:00.123Z INFO  node-1 message key=value ...`
                push_rfc3339_now(&mut line);
                line.push(' ');
                line.push_str(&format!("{:<5}", level.to_ascii_uppercase()));
                line.push(' ');
                line.push_str(node_id);
                line.push(' ');
                line.push_str(message);
            }
            line.push_str(&f.members);
            // The fields of the spans around the event (the request's correlation_id).
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope.from_root() {
                    if let Some(SpanFields(members)) = span.extensions().get::<SpanFields>() {
                        line.push_str(members);
                    }
                }
            }
            line.push_str(if self.structured { "}\n" } else { "\n" });
            for sink in &self.sinks {
                match sink {
                    // A closed stdout must not take the node down.
                    Sink::Stdout => {
                        let _ = std::io::stdout().lock().write_all(line.as_bytes());
                    }
                    Sink::File(r) => r.lock().write(line.as_bytes()),
                }
            }
        });
    }
}

fn level_name(l: &tracing::Level) -> &'static str {
    match *l {
        tracing::Level::TRACE => "trace",
        tracing::Level::DEBUG => "debug",
        tracing::Level::INFO => "info",
        tracing::Level::WARN => "warn",
        tracing::Level::ERROR => "error",
    }
}

/// `hypercache-<node>.log` in `dir`, rotated at `max_size` bytes into `.1` … `.<max_files>`
/// (the oldest dropped).
struct Rotating {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
}

impl Rotating {
    fn open(dir: &Path, node_id: &str, max_size: u64, max_files: u32) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(format!("hypercache-{node_id}.log"));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(Rotating {
            path,
            file,
            size,
            max_size: max_size.max(1),
            max_files: max_files.max(1),
        })
    }

    fn rotated(&self, i: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{i}"));
        PathBuf::from(p)
    }

    fn write(&mut self, line: &[u8]) {
        if self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate();
        }
        // A full disk loses log lines, not the node.
        if self.file.write_all(line).is_ok() {
            self.size += line.len() as u64;
        }
    }

    fn rotate(&mut self) {
        let _ = fs::remove_file(self.rotated(self.max_files));
        for i in (1..self.max_files).rev() {
            let _ = fs::rename(self.rotated(i), self.rotated(i + 1));
        }
        let _ = fs::rename(&self.path, self.rotated(1));
        match OpenOptions::new()
            .create(true)
            .append(true)
            .truncate(false)
            .open(&self.path)
        {
            Ok(f) => {
                self.file = f;
                self.size = 0;
            }
            Err(e) => eprintln!("hypercache: cannot reopen {}: {e}", self.path.display()),
        }
    }
}

/// Appends now, as `2026-11-27T19:44:39.220061Z`.
fn push_rfc3339_now(out: &mut String) {
    let d = crate::util::time::since_epoch();
    push_rfc3339(out, d.as_secs(), d.subsec_micros());
}

fn push_rfc3339(out: &mut String, secs: u64, micros: u32) {
    use std::fmt::Write as _;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
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

    fn rfc3339(secs: u64, micros: u32) -> String {
        let mut s = String::new();
        push_rfc3339(&mut s, secs, micros);
        s
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = String::new();
        let nasty = "a\"b\\c\nd\u{1}é✓\u{7f}";
        escape(&mut out, nasty);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, nasty);
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é✓\u{7f}\"");
    }

    /// The lines a layer writes for `f`'s events, through a log file.
    fn lines_of(structured: bool, f: impl FnOnce()) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let file = Rotating::open(dir.path(), "t", 1 << 20, 1).unwrap();
        let layer = JsonLayer {
            node_id: "n1".into(),
            sinks: vec![Sink::File(Mutex::new(file))],
            structured,
        };
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        let text = std::fs::read_to_string(dir.path().join("hypercache-t.log")).unwrap();
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn lines_are_json_or_text_as_logging_structured_says() {
        let event = || {
            let span = tracing::info_span!("req", correlation_id = "c-1");
            let _in = span.enter();
            tracing::info!(
                component = "http",
                took = 0.034895999999999996_f64,
                path = "/a b",
                n = 3u64,
                "done"
            );
        };
        let json = lines_of(true, event);
        let v: serde_json::Value = serde_json::from_str(&json[0]).unwrap();
        assert_eq!(v["message"], "done");
        assert_eq!(v["node_id"], "n1");
        assert_eq!(v["correlation_id"], "c-1");
        assert_eq!(v["took"].to_string(), "0.034896");
        assert_eq!(v["n"], 3);
        let text = lines_of(false, event);
        let line = &text[0];
        assert!(
            line.ends_with(
                " INFO  n1 done component=http took=0.034896 path=\"/a b\" n=3 correlation_id=c-1"
            ),
            "{line}"
        );
        assert!(line.starts_with("20") && !line.starts_with('{'), "{line}");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000005Z");
        assert_eq!(
            rfc3339(1_795_808_679, 220_061),
            "2026-11-27T19:44:39.220061Z"
        );
        assert_eq!(
            rfc3339(4_107_542_399, 999_999),
            "2100-02-28T23:59:59.999999Z"
        );
    }

    #[test]
    fn log_files_rotate_at_their_size_and_keep_max_files() {
        let dir = std::env::temp_dir().join(format!("hc-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut r = Rotating::open(&dir, "n1", 100, 2).unwrap();
        let line = [b'x'; 39];
        for _ in 0..10 {
            r.write(&line);
        }
        let sizes: Vec<u64> = [
            "hypercache-n1.log",
            "hypercache-n1.log.1",
            "hypercache-n1.log.2",
        ]
        .iter()
        .map(|f| fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0))
        .collect();
        // Two lines per file: 10 lines make 5 files, of which the live one and two remain.
        assert_eq!(sizes, vec![78, 78, 78]);
        assert!(!dir.join("hypercache-n1.log.3").exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
