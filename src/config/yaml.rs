//! The file layer: YAML read through serde into `Raw*` structs that mirror the file's shape
//! (so unknown keys, duplicates and wrong shapes are refused with a line), then every key's
//! text turned into its value by its entry in [`super::keys::KEYS`], remembering where each
//! value was so later checks can point at its line. Config files are hostile: nothing here
//! may panic on what a file contains.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use super::error::position;
use super::keys::{KEYS, Load, Read};
use super::secret::{Secret, read_secret_file};
use super::units::{
    parse_bool, parse_duration, parse_f64, parse_replication_factor, parse_size, text,
};
use super::{
    Config, ConfigError, InvalidValue, LogOutput, PersistenceConfig, PersistenceStrategy,
    StoreConfig,
};

pub(super) fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Key path -> (line, column) of the value in the file.
pub(super) type Spans = HashMap<String, (u64, u64)>;

/// A scalar as the file wrote it, with where.
pub(super) type Raw = Option<Spanned<String>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub(super) node: Option<RawNode>,
    pub(super) network: Option<RawNetwork>,
    pub(super) cluster: Option<RawCluster>,
    pub(super) cache: Option<RawCache>,
    pub(super) persistence: Option<RawPersistence>,
    pub(super) logging: Option<RawLogging>,
    pub(super) metrics: Option<RawMetrics>,
    pub(super) security: Option<RawSecurity>,
    pub(super) tls: Option<RawTls>,
    pub(super) stores: Option<RawStores>,
    /// The original's storage-engine section (see `legacy.rs`).
    pub(super) storage: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMetrics {
    pub(super) enabled: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawNode {
    pub(super) id: Raw,
    pub(super) data_dir: Raw,
    /// The original's (see `legacy.rs`).
    pub(super) protocol: Raw,
    pub(super) bind_addr: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawNetwork {
    pub(super) resp_bind_addr: Raw,
    pub(super) resp_port: Raw,
    pub(super) http_bind_addr: Raw,
    pub(super) http_port: Raw,
    pub(super) gossip_port: Raw,
    pub(super) advertise_addr: Raw,
    pub(super) io_threads: Raw,
    pub(super) busy_poll: Raw,
    pub(super) http_max_body: Raw,
    pub(super) request_timeout: Raw,
    pub(super) http_idle_timeout: Raw,
    pub(super) http_max_connections: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCluster {
    pub(super) seeds: Option<Vec<Spanned<String>>>,
    pub(super) seed_dns: Raw,
    pub(super) replication_factor: Raw,
    pub(super) consistency_level: Raw,
    pub(super) tombstone_ttl: Raw,
    pub(super) gossip_interval: Raw,
    pub(super) forget_dead_after: Raw,
    pub(super) write_timeout: Raw,
    pub(super) read_timeout: Raw,
    pub(super) secret: Raw,
    pub(super) secret_file: Raw,
    pub(super) max_clock_skew: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCache {
    pub(super) max_memory: Raw,
    pub(super) default_ttl: Raw,
    pub(super) cleanup_interval: Raw,
    pub(super) eviction_policy: Raw,
    pub(super) maxmemory_samples: Raw,
    pub(super) cuckoo_filter_fpp: Raw,
    pub(super) memory_warning: Raw,
    pub(super) memory_critical: Raw,
    pub(super) memory_panic: Raw,
    pub(super) databases: Raw,
    pub(super) maxclients: Raw,
    pub(super) proto_max_bulk_len: Raw,
    pub(super) client_query_buffer_limit: Raw,
    pub(super) timeout: Raw,
    pub(super) max_stores: Raw,
    pub(super) client_output_buffer_limit: Raw,
    pub(super) notify_keyspace_events: Raw,
    pub(super) notify_replicated_writes: Raw,
    /// The original's stores list inside `cache:` (see `legacy.rs`).
    pub(super) stores: Option<Vec<Spanned<RawStore>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSecurity {
    pub(super) requirepass: Raw,
    pub(super) requirepass_file: Raw,
    pub(super) http_token: Raw,
    pub(super) http_token_file: Raw,
    pub(super) protected_mode: Raw,
    pub(super) enable_debug_command: Raw,
    pub(super) metrics_auth: Raw,
    pub(super) http_tokens: Option<Vec<Spanned<RawHttpToken>>>,
    /// Redis's `user` lines, without the word `user`: `alice on >pw ~app:* +@read`.
    pub(super) users: Option<Vec<String>>,
    pub(super) acl_file: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTls {
    pub(super) cert_file: Raw,
    pub(super) key_file: Raw,
    pub(super) ca_cert_file: Raw,
    pub(super) auth_clients: Raw,
    pub(super) https_port: Raw,
    pub(super) port: Raw,
    pub(super) cluster: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttpToken {
    pub(super) name: Raw,
    pub(super) scope: Raw,
    pub(super) sha256: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPersistence {
    pub(super) enabled: Raw,
    pub(super) strategy: Raw,
    pub(super) sync_policy: Raw,
    pub(super) snapshot_interval: Raw,
    pub(super) max_log_size: Raw,
    pub(super) retain: Raw,
    pub(super) allow_partial_recovery: Raw,
    /// Legacy alias: adjusts `strategy`.
    pub(super) aof_enabled: Raw,
    /// Legacy alias: adjusts `strategy`.
    pub(super) snapshot_enabled: Raw,
    /// The original's (see `legacy.rs`).
    pub(super) enable_aof: Raw,
    pub(super) sync_interval: Raw,
    pub(super) compression_level: Raw,
    pub(super) retain_logs: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLogging {
    pub(super) level: Raw,
    pub(super) output: Option<Spanned<OneOrMany>>,
    pub(super) log_dir: Raw,
    pub(super) max_file_size: Raw,
    pub(super) max_files: Raw,
    pub(super) structured: Raw,
    /// The original's (see `legacy.rs`).
    pub(super) enable_console: Raw,
    pub(super) enable_file: Raw,
    pub(super) buffer_size: Raw,
    pub(super) log_file: Raw,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStore {
    pub(super) name: Raw,
    pub(super) max_memory: Raw,
    pub(super) eviction_policy: Raw,
    pub(super) default_ttl: Raw,
    pub(super) cuckoo_filter: Raw,
    pub(super) cuckoo_filter_fpp: Raw,
    /// A strategy, or the original's table (`mode`, `fsync`, ...): `legacy.rs` reads it into
    /// `mode`.
    pub(super) persistence: Option<Spanned<RawStorePersistence>>,
    pub(super) replication_factor: Raw,
    /// The original's (see `legacy.rs`).
    pub(super) ttl: Raw,
    pub(super) enable_cuckoo_filter: Raw,
    pub(super) cuckoo_filter_capacity: Raw,
    pub(super) enable_persistence: Raw,
    #[serde(skip)]
    pub(super) mode: Raw,
}

/// `stores:` as our list (`- name: carts`) or the original's map keyed by name
/// (`carts: {...}`).
pub(super) enum RawStores {
    List(Vec<Spanned<RawStore>>),
    Map(Vec<(Spanned<String>, Spanned<RawStore>)>),
}

impl<'de> Deserialize<'de> for RawStores {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawStores;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of stores, or a map of stores by name")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawStores, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<RawStore>>()? {
                    items.push(item);
                }
                Ok(RawStores::List(items))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawStores, A::Error> {
                let mut items = Vec::new();
                while let Some(entry) = map.next_entry::<Spanned<String>, Spanned<RawStore>>()? {
                    items.push(entry);
                }
                Ok(RawStores::Map(items))
            }
        }
        d.deserialize_any(V)
    }
}

/// A store's `persistence`: a strategy, or the original's table.
pub(super) enum RawStorePersistence {
    Mode(String),
    Table(Box<RawStorePersistenceTable>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStorePersistenceTable {
    pub(super) mode: Raw,
    pub(super) fsync: Raw,
    pub(super) snapshot_interval: Raw,
    pub(super) compression: Raw,
    pub(super) batch_size: Raw,
}

impl<'de> Deserialize<'de> for RawStorePersistence {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawStorePersistence;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a persistence strategy, or a table with mode and fsync")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawStorePersistence, E> {
                Ok(RawStorePersistence::Mode(v.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawStorePersistence, A::Error> {
                let table = RawStorePersistenceTable::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(RawStorePersistence::Table(Box::new(table)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A single string or a list of strings (`output: file` or `[console, file]`).
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    items.push(item);
                }
                Ok(OneOrMany::Many(items))
            }
        }
        d.deserialize_any(V)
    }
}

/// Converts raw text to typed values, remembering where each key was.
pub(super) struct Converter<'a> {
    origin: &'a str,
    src: &'a str,
    spans: Spans,
}

impl Converter<'_> {
    pub(super) fn error(&self, key: &str, at: (u64, u64), message: String) -> ConfigError {
        ConfigError::Invalid {
            origin: Some(self.origin.to_owned()),
            key: key.to_owned(),
            position: Some(position(self.src, self.origin, at, &message)),
            message,
        }
    }

    pub(super) fn convert<T>(
        &mut self,
        key: &str,
        raw: &Spanned<String>,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Result<T, ConfigError> {
        let pos = (raw.referenced.line(), raw.referenced.column());
        self.spans.insert(key.to_owned(), pos);
        parse(&raw.value).map_err(|e| self.error(key, pos, e.0))
    }

    /// Overwrites `slot` when the key is present.
    fn set<T>(
        &mut self,
        key: &str,
        raw: Raw,
        slot: &mut T,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Result<(), ConfigError> {
        if let Some(raw) = raw {
            *slot = self.convert(key, &raw, parse)?;
        }
        Ok(())
    }

    /// A scalar key, read by its table entry.
    fn leaf(
        &mut self,
        key: &str,
        raw: Raw,
        config: &mut Config,
        load: Load,
    ) -> Result<(), ConfigError> {
        match raw {
            Some(raw) => self.convert(key, &raw, |s| load(config, s)),
            None => Ok(()),
        }
    }

    /// `cluster.seeds`: a list, each item named by its index.
    pub(super) fn seeds(
        &mut self,
        raw: Option<Vec<Spanned<String>>>,
        out: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        if let Some(seeds) = raw {
            out.clear();
            for (i, seed) in seeds.iter().enumerate() {
                let v = self.convert(&format!("cluster.seeds[{i}]"), seed, text)?;
                // The original's files also give several in one item, comma-separated.
                out.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
            }
        }
        Ok(())
    }

    /// `security.http_tokens`: each named once, with its scope and the SHA-256 of the token.
    pub(super) fn http_tokens(
        &mut self,
        raw: Option<Vec<Spanned<RawHttpToken>>>,
        out: &mut Vec<super::HttpToken>,
    ) -> Result<(), ConfigError> {
        for (i, t) in raw.into_iter().flatten().enumerate() {
            let pos = (t.referenced.line(), t.referenced.column());
            let key = |f: &str| format!("security.http_tokens[{i}].{f}");
            let t = t.value;
            let required = |cv: &Self, f: &str| cv.error(&key(f), pos, "is required".into());
            let name = match &t.name {
                Some(n) => self.convert(&key("name"), n, |s| {
                    let ok = !s.is_empty()
                        && s.len() <= 64
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
                    ok.then(|| s.to_owned())
                        .ok_or_else(|| InvalidValue("must be 1-64 of A-Z a-z 0-9 _ - .".into()))
                })?,
                None => return Err(required(self, "name")),
            };
            let scope = match &t.scope {
                Some(s) => self.convert(&key("scope"), s, str::parse)?,
                None => return Err(required(self, "scope")),
            };
            let sha256 = match &t.sha256 {
                Some(h) => self.convert(&key("sha256"), h, super::parse_sha256)?,
                None => return Err(required(self, "sha256")),
            };
            if let Some(same) = out.iter().find(|o| o.name == name || o.sha256 == sha256) {
                let what = if same.name == name { "name" } else { "sha256" };
                return Err(self.error(
                    &key(what),
                    pos,
                    format!("the same {what} as the token '{}'", same.name),
                ));
            }
            out.push(super::HttpToken {
                name,
                scope,
                sha256,
            });
        }
        Ok(())
    }

    /// A secret given inline or as a file (whose trailing newline is not part of it).
    pub(super) fn secret(
        &mut self,
        (inline_key, inline): (&str, Raw),
        (file_key, file): (&str, Raw),
        out: &mut Option<Secret>,
    ) -> Result<(), ConfigError> {
        if let (Some(_), Some(f)) = (&inline, &file) {
            let pos = (f.referenced.line(), f.referenced.column());
            return Err(self.error(
                file_key,
                pos,
                format!("set only one of {inline_key} and {file_key}"),
            ));
        }
        self.set(inline_key, inline, out, |s| inline_secret(s).map(Some))?;
        self.set(file_key, file, out, read_secret_file)
    }

    /// The legacy `aof_enabled`/`snapshot_enabled` switches, each overriding one half of
    /// `strategy`; then `enabled` and `strategy` are made to agree.
    pub(super) fn legacy_persistence(
        &mut self,
        aof_enabled: Raw,
        snapshot_enabled: Raw,
        out: &mut PersistenceConfig,
    ) -> Result<(), ConfigError> {
        let explicit_strategy = self.spans.contains_key("persistence.strategy");
        // Legacy booleans override one half of the strategy each.
        let mut aof = out.strategy.aof();
        let mut snapshot = out.strategy.snapshot();
        let mut legacy_key = None;
        if let Some(raw) = &aof_enabled {
            aof = self.convert("persistence.aof_enabled", raw, parse_bool)?;
            legacy_key = Some(("persistence.aof_enabled", raw));
        }
        if let Some(raw) = &snapshot_enabled {
            snapshot = self.convert("persistence.snapshot_enabled", raw, parse_bool)?;
            legacy_key = Some(("persistence.snapshot_enabled", raw));
        }
        if let Some((key, raw)) = legacy_key {
            let derived = PersistenceStrategy::from_parts(aof, snapshot);
            if explicit_strategy && derived != out.strategy {
                let pos = (raw.referenced.line(), raw.referenced.column());
                return Err(self.error(
                    key,
                    pos,
                    format!(
                        "conflicts with persistence.strategy '{}' (set only one of them)",
                        out.strategy
                    ),
                ));
            }
            out.strategy = derived;
        }

        // Keep the two switches consistent so either can be checked.
        if out.strategy == PersistenceStrategy::Disabled {
            out.enabled = false;
        } else if !out.enabled {
            out.strategy = PersistenceStrategy::Disabled;
        }
        Ok(())
    }

    /// `logging.output`: one name or a list of them.
    pub(super) fn output(
        &mut self,
        raw: Option<Spanned<OneOrMany>>,
        out: &mut Vec<LogOutput>,
    ) -> Result<(), ConfigError> {
        if let Some(spanned) = raw {
            let items = match spanned.value {
                OneOrMany::One(v) => vec![Spanned {
                    value: v,
                    referenced: spanned.referenced,
                    defined: spanned.defined,
                }],
                OneOrMany::Many(items) => items,
            };
            self.spans.insert(
                "logging.output".to_owned(),
                (spanned.referenced.line(), spanned.referenced.column()),
            );
            out.clear();
            for (i, item) in items.iter().enumerate() {
                let v: LogOutput =
                    self.convert(&format!("logging.output[{i}]"), item, str::parse)?;
                // Duplicates are harmless; drop them.
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        Ok(())
    }

    pub(super) fn stores(
        &mut self,
        raw: Option<RawStores>,
        out: &mut Vec<StoreConfig>,
    ) -> Result<(), ConfigError> {
        // `legacy::adopt` has turned the map form into the list.
        let list = match raw {
            Some(RawStores::List(list)) => list,
            Some(RawStores::Map(map)) => map.into_iter().map(|(_, s)| s).collect(),
            None => Vec::new(),
        };
        for (i, store) in list.into_iter().enumerate() {
            let s = self.store(i, store)?;
            out.push(s);
        }
        Ok(())
    }

    fn store(&mut self, i: usize, r: Spanned<RawStore>) -> Result<StoreConfig, ConfigError> {
        let pos = (r.referenced.line(), r.referenced.column());
        let key = |field: &str| format!("stores[{i}].{field}");
        let raw = r.value;
        let name = match &raw.name {
            Some(name) => self.convert(&key("name"), name, text)?,
            None => return Err(self.error(&key("name"), pos, "is required".to_owned())),
        };
        let mut s = StoreConfig::new(name);
        self.set(
            &key("max_memory"),
            raw.max_memory,
            &mut s.max_memory,
            parse_size,
        )?;
        self.set(
            &key("eviction_policy"),
            raw.eviction_policy,
            &mut s.eviction_policy,
            |v| v.parse().map(Some),
        )?;
        // Zero is kept as Some(ZERO): it means "no TTL" rather than "inherit".
        self.set(
            &key("default_ttl"),
            raw.default_ttl,
            &mut s.default_ttl,
            |v| parse_duration(v).map(Some),
        )?;
        self.set(
            &key("cuckoo_filter"),
            raw.cuckoo_filter,
            &mut s.cuckoo_filter,
            parse_bool,
        )?;
        self.set(
            &key("cuckoo_filter_fpp"),
            raw.cuckoo_filter_fpp,
            &mut s.cuckoo_filter_fpp,
            |v| parse_f64(v).map(Some),
        )?;
        self.set(&key("persistence"), raw.mode, &mut s.persistence, |v| {
            v.parse().map(Some)
        })?;
        self.set(
            &key("replication_factor"),
            raw.replication_factor,
            &mut s.replication_factor,
            parse_replication_factor,
        )?;
        Ok(s)
    }
}

/// The inline form of a secret (`security.requirepass: ...`, or its variable).
pub(super) fn inline_secret(s: &str) -> Result<Secret, InvalidValue> {
    if s.is_empty() {
        return Err(InvalidValue("must not be empty".into()));
    }
    Ok(Secret::new(s))
}

/// One line of block-style YAML: first column, `- ` column, key and its column.
struct LineShape<'a> {
    indent: usize,
    dash: Option<usize>,
    key: Option<&'a str>,
    key_col: usize,
}

fn line_shape(line: &str) -> Option<LineShape<'_>> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let mut rest = &line[indent..];
    if rest.is_empty() || rest.starts_with('#') {
        return None;
    }
    let mut dash = None;
    let mut key_col = indent;
    if rest == "-" || rest.starts_with("- ") {
        dash = Some(indent);
        let after = rest[1..].trim_start_matches(' ');
        key_col = indent + (rest.len() - after.len());
        rest = after;
    }
    let key = rest.split_once(':').and_then(|(k, v)| {
        let plain = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        (plain && (v.is_empty() || v.starts_with([' ', '#']))).then_some(k)
    });
    Some(LineShape {
        indent,
        dash,
        key,
        key_col,
    })
}

/// Best-effort dotted path (`stores[1].name`) of the key on a 1-based line,
/// read from block-style indentation. `None` when the line has no plain key.
pub(super) fn key_path_at(src: &str, line: u64) -> Option<String> {
    let lines: Vec<&str> = src.lines().collect();
    let mut i = usize::try_from(line).ok()?.checked_sub(1)?;
    let here = line_shape(lines.get(i)?)?;
    let mut parts = Vec::new();
    match here.key {
        Some(k) => parts.push(k.to_owned()),
        // A scalar list item is named by its index alone.
        None if here.dash.is_some() => {}
        None => return None,
    }
    let mut col = here.key_col;
    let mut dash = here.dash;
    loop {
        if let Some(d) = dash {
            // Count earlier items of this list, then continue at its key.
            let mut index = 0;
            loop {
                let Some(j) = i.checked_sub(1) else {
                    return Some(join_path(parts));
                };
                i = j;
                let Some(s) = line_shape(lines[i]) else {
                    continue;
                };
                if s.dash == Some(d) {
                    index += 1;
                } else if s.indent <= d {
                    parts.push(format!("[{index}]"));
                    parts.push(s.key?.to_owned());
                    col = s.key_col;
                    dash = s.dash;
                    break;
                }
            }
        } else {
            let Some(j) = i.checked_sub(1) else {
                return Some(join_path(parts));
            };
            i = j;
            let Some(s) = line_shape(lines[i]) else {
                continue;
            };
            if s.key_col == col && s.dash.is_some_and(|d| d < col) {
                // First key of the list item we are in.
                dash = s.dash;
            } else if s.key_col < col {
                parts.push(s.key?.to_owned());
                col = s.key_col;
                dash = s.dash;
            }
        }
    }
}

fn join_path(mut parts: Vec<String>) -> String {
    parts.reverse();
    let mut out = String::new();
    for p in parts {
        if !out.is_empty() && !p.starts_with('[') {
            out.push('.');
        }
        out.push_str(&p);
    }
    out
}

/// Parses YAML into a `Config` without semantic checks; also returns where
/// each key was so later checks can report lines.
pub(super) fn parse_yaml(src: &str, origin: &str) -> Result<(Config, Spans), ConfigError> {
    let mut raw: RawConfig = serde_saphyr::from_str(src).map_err(|e| {
        let rendered = e.render_with_options(serde_saphyr::render_options! {
            formatter: &serde_saphyr::UserMessageFormatter,
            source_name: Some(origin),
        });
        // Our Display already starts with the origin; drop the parser's tag.
        let mut message = rendered
            .strip_prefix("error: ")
            .map(str::to_owned)
            .unwrap_or(rendered);
        let loc = e.location();
        // The parser does not name the key path; add it when we can tell.
        if let Some(l) = loc
            && let Some(path) = key_path_at(src, l.line())
        {
            let prefix = format!("line {} column {}: ", l.line(), l.column());
            if let Some(rest) = message.strip_prefix(&prefix) {
                message = format!("{prefix}{path}: {rest}");
            }
        }
        ConfigError::Parse {
            origin: origin.to_owned(),
            line: loc.map(|l| l.line()).filter(|&l| l > 0),
            column: loc.map(|l| l.column()).filter(|&c| c > 0),
            message,
        }
    })?;

    let mut config = Config::default();
    let mut conv = Converter {
        origin,
        src,
        spans: Spans::new(),
    };
    let adopted = super::legacy::adopt(&mut conv, &mut raw)?;
    // In table order, so the first bad value reported is the same whatever the file's order.
    for key in KEYS {
        match (key.read, key.load) {
            (Read::Leaf(take), Some(load)) => {
                conv.leaf(key.path(), take(&mut raw), &mut config, load)?
            }
            (Read::Own(read), _) => read(&mut conv, &mut raw, &mut config)?,
            (Read::Leaf(_), None) | (Read::No, _) => {}
        }
    }
    super::legacy::apply(adopted, &mut config);
    Ok((config, conv.spans))
}
