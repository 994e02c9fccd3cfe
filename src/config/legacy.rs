//! The original HyperCache's configuration files, read as ours: its keys that mean what one
//! of ours means become that key (`enable_aof`, a store's `ttl`, `stores:` as a map keyed by
//! name, `cache.stores`, `persistence: aof_only` or `hybrid`); its keys with no counterpart
//! here (its storage engine's tuning, log buffering) are accepted and named in
//! [`super::Config::notes`], which the node logs as warnings at start and `config validate`
//! prints. Anything else unknown is still an error, so a typo is never silently ignored.

use serde_saphyr::Spanned;

use super::error::ConfigError;
use super::units::parse_bool;
use super::yaml::{Converter, OneOrMany, Raw, RawConfig, RawStore, RawStorePersistence, RawStores};
use super::{Config, SyncPolicy};

/// What the original's keys asked for beyond a rename, applied after the file is read.
#[derive(Default)]
pub(super) struct Adopted {
    notes: Vec<String>,
    /// The strictest `fsync` of a store's persistence table, with its key.
    fsync: Option<(SyncPolicy, String)>,
}

/// Notes an original key that was present (`raw`), with why it has no effect.
fn ignored<T>(notes: &mut Vec<String>, raw: Option<T>, key: &str, why: &str) {
    if raw.is_some() {
        note(notes, key, why);
    }
}

fn note(notes: &mut Vec<String>, key: &str, why: &str) {
    notes.push(format!(
        "{key}: a key of the original HyperCache, without effect here: {why}"
    ));
}

/// Moves one alias into its key; both set is an error naming the alias.
fn alias(
    cv: &mut Converter<'_>,
    ours: &mut Raw,
    theirs: Raw,
    names: (&str, &str),
) -> Result<(), ConfigError> {
    let Some(t) = theirs else { return Ok(()) };
    if ours.is_some() {
        let pos = (t.referenced.line(), t.referenced.column());
        return Err(cv.error(
            names.1,
            pos,
            format!("set only one of {} and {}", names.0, names.1),
        ));
    }
    *ours = Some(t);
    Ok(())
}

fn text_at(value: &str, at: &Spanned<String>) -> Spanned<String> {
    Spanned::new(value.to_owned(), at.referenced, at.defined)
}

/// Rewrites the original's keys in `raw` into ours, before the keys are read.
pub(super) fn adopt(cv: &mut Converter<'_>, raw: &mut RawConfig) -> Result<Adopted, ConfigError> {
    let mut out = Adopted::default();
    let notes = &mut out.notes;
    ignored(
        notes,
        raw.storage.take(),
        "storage",
        "HyperCache keeps data in memory, persisted by its AOF and snapshots; there is no storage engine to tune",
    );
    if let Some(node) = raw.node.as_mut() {
        ignored(
            notes,
            node.protocol.take(),
            "node.protocol",
            "every node serves RESP and HTTP both",
        );
        // `host:port` of the RESP listener.
        if let Some(b) = node.bind_addr.take() {
            let net = raw.network.get_or_insert_with(Default::default);
            match b.value.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && !host.contains(':') => {
                    alias(
                        cv,
                        &mut net.resp_bind_addr,
                        Some(text_at(host, &b)),
                        ("network.resp_bind_addr", "node.bind_addr"),
                    )?;
                    alias(
                        cv,
                        &mut net.resp_port,
                        Some(text_at(port, &b)),
                        ("network.resp_port", "node.bind_addr"),
                    )?;
                }
                _ => alias(
                    cv,
                    &mut net.resp_bind_addr,
                    Some(b),
                    ("network.resp_bind_addr", "node.bind_addr"),
                )?,
            }
        }
    }
    if let Some(p) = raw.persistence.as_mut() {
        alias(
            cv,
            &mut p.aof_enabled,
            p.enable_aof.take(),
            ("persistence.aof_enabled", "persistence.enable_aof"),
        )?;
        alias(
            cv,
            &mut p.retain,
            p.retain_logs.take(),
            ("persistence.retain", "persistence.retain_logs"),
        )?;
        ignored(
            notes,
            p.sync_interval.take(),
            "persistence.sync_interval",
            "sync_policy everysec syncs once a second",
        );
        ignored(
            notes,
            p.compression_level.take(),
            "persistence.compression_level",
            "snapshots and the AOF are written uncompressed",
        );
    }
    if let Some(l) = raw.logging.as_mut() {
        let console = l.enable_console.take();
        let file = l.enable_file.take();
        if let Some(at) = console.as_ref().or(file.as_ref()) {
            let on = |cv: &mut Converter<'_>, key: &str, r: &Raw| match r {
                Some(r) => cv.convert(key, r, parse_bool),
                None => Ok(false),
            };
            let console_on = on(cv, "logging.enable_console", &console)?;
            let file_on = on(cv, "logging.enable_file", &file)?;
            if l.output.is_some() {
                let pos = (at.referenced.line(), at.referenced.column());
                return Err(cv.error(
                    "logging.enable_console",
                    pos,
                    "set only one of logging.output and logging.enable_console/enable_file".into(),
                ));
            }
            let mut outputs: Vec<Spanned<String>> = Vec::new();
            if console_on {
                outputs.push(text_at("console", at));
            }
            if file_on {
                outputs.push(text_at("file", at));
            }
            l.output = Some(Spanned::new(
                OneOrMany::Many(outputs),
                at.referenced,
                at.defined,
            ));
        }
        ignored(
            notes,
            l.buffer_size.take(),
            "logging.buffer_size",
            "each line is written whole as it is logged; there is no buffer to size",
        );
        ignored(
            notes,
            l.log_file.take(),
            "logging.log_file",
            "the file is hypercache-<node.id>.log in logging.log_dir",
        );
    }
    // Stores: the map form and `cache.stores` join the list.
    let mut stores: Vec<Spanned<RawStore>> = Vec::new();
    match raw.stores.take() {
        Some(RawStores::List(list)) => stores = list,
        Some(RawStores::Map(map)) => {
            for (name, mut store) in map {
                alias(
                    cv,
                    &mut store.value.name,
                    Some(name.clone()),
                    ("the store's map key", "name"),
                )
                .map_err(|_| {
                    let pos = (name.referenced.line(), name.referenced.column());
                    cv.error(
                        &format!("stores.{}", name.value),
                        pos,
                        "a store in the map form is named by its key; remove its `name`".into(),
                    )
                })?;
                stores.push(store);
            }
        }
        None => {}
    }
    if let Some(list) = raw.cache.as_mut().and_then(|c| c.stores.take()) {
        stores.extend(list);
    }
    for (i, store) in stores.iter_mut().enumerate() {
        adopt_store(cv, i, &mut store.value, &mut out)?;
    }
    if !stores.is_empty() {
        raw.stores = Some(RawStores::List(stores));
    }
    Ok(out)
}

fn adopt_store(
    cv: &mut Converter<'_>,
    i: usize,
    s: &mut RawStore,
    out: &mut Adopted,
) -> Result<(), ConfigError> {
    let key = |f: &str| format!("stores[{i}].{f}");
    alias(
        cv,
        &mut s.default_ttl,
        s.ttl.take(),
        (&key("default_ttl"), &key("ttl")),
    )?;
    alias(
        cv,
        &mut s.cuckoo_filter,
        s.enable_cuckoo_filter.take(),
        (&key("cuckoo_filter"), &key("enable_cuckoo_filter")),
    )?;
    ignored(
        &mut out.notes,
        s.cuckoo_filter_capacity.take(),
        &key("cuckoo_filter_capacity"),
        "the filter grows with the store",
    );
    if let Some(p) = s.persistence.take() {
        match p.value {
            RawStorePersistence::Mode(m) => s.mode = Some(Spanned::new(m, p.referenced, p.defined)),
            RawStorePersistence::Table(t) => {
                s.mode = t.mode;
                if let Some(f) = t.fsync {
                    let k = key("persistence.fsync");
                    let policy: SyncPolicy = cv.convert(&k, &f, str::parse)?;
                    if out
                        .fsync
                        .as_ref()
                        .is_none_or(|(p, _)| strictness(policy) > strictness(*p))
                    {
                        out.fsync = Some((policy, k));
                    }
                }
                ignored(
                    &mut out.notes,
                    t.snapshot_interval,
                    &key("persistence.snapshot_interval"),
                    "snapshots are node-wide: persistence.snapshot_interval",
                );
                ignored(
                    &mut out.notes,
                    t.compression,
                    &key("persistence.compression"),
                    "snapshots and the AOF are written uncompressed",
                );
                ignored(
                    &mut out.notes,
                    t.batch_size,
                    &key("persistence.batch_size"),
                    "the AOF batches what arrives between two writes",
                );
            }
        }
    }
    // `enable_persistence: false` is the strategy `disabled`; true keeps the node's.
    if let Some(e) = s.enable_persistence.take()
        && !cv.convert(&key("enable_persistence"), &e, parse_bool)?
    {
        alias(
            cv,
            &mut s.mode,
            Some(text_at("disabled", &e)),
            (&key("persistence"), &key("enable_persistence")),
        )?;
    }
    Ok(())
}

fn strictness(p: SyncPolicy) -> u8 {
    match p {
        SyncPolicy::No => 0,
        SyncPolicy::EverySec => 1,
        SyncPolicy::Always => 2,
    }
}

/// After every key is read: a store's fsync asks the node's one AOF for at least that much
/// (a store cannot be fsynced apart from the others), and the notes are kept.
pub(super) fn apply(adopted: Adopted, config: &mut Config) {
    let mut notes = adopted.notes;
    if let Some((policy, key)) = adopted.fsync
        && strictness(policy) > strictness(config.persistence.sync_policy)
    {
        notes.push(format!(
            "{key}: the node's AOF is shared by its stores, so persistence.sync_policy is raised from {} to {policy}",
            config.persistence.sync_policy
        ));
        config.persistence.sync_policy = policy;
    }
    config.notes = notes;
}
