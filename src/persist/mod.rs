//! Persistence: the AOF and fork-less snapshots, both made of Mutation records.
//!
//! Files live in `node.data_dir` as generations: `snapshot-N.hcs` is an image of the data and
//! `aof-N.hca` holds every mutation after it. A rewrite (BGREWRITEAOF, BGSAVE, the timer, or the
//! AOF outgrowing `max_log_size`) first switches new records to `aof-(N+1)`, then writes
//! `snapshot-(N+1)`. Replaying an AOF over a snapshot that already contains some of its records
//! is harmless because every record carries the key's full resulting state, so a crash at any
//! moment of a rewrite recovers completely: without the new snapshot, snapshot N plus both AOFs;
//! with it, snapshot N+1 plus the new AOF.

pub mod aof;
pub mod codec;
pub mod recovery;
pub mod snapshot;
pub mod tools;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::config::{PersistenceConfig, PersistenceStrategy, SyncPolicy};
use crate::store::Keyspace;
use crate::store::mutation::{Mutation, MutationSink, Origin};

pub use aof::Aof;

/// fsyncs a directory so that a rename or a new file in it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The text of an I/O error as Redis prints strerror (without Rust's " (os error N)").
pub fn strerror(e: &str) -> String {
    match e.find(" (os error") {
        Some(i) => e[..i].to_string(),
        None => e.to_string(),
    }
}

/// Snapshot figures for INFO and the admin API.
#[derive(Debug, Clone, Default)]
pub struct SaveStatus {
    pub in_progress: bool,
    pub last_save_unix: u64,
    pub last_ok: bool,
    pub last_error: Option<String>,
    pub last_duration_ms: u64,
    pub last_bytes: u64,
    pub last_keys: u64,
    pub saves: u64,
    pub rewrites: u64,
    pub current_started_ms: u64,
    /// Written snapshots by duration, per bound of [`SNAPSHOT_SECONDS_BOUNDS`] (not
    /// cumulative), and their total time.
    pub duration_counts: [u64; SNAPSHOT_SECONDS_BOUNDS.len()],
    pub duration_sum_ms: u64,
}

/// Upper bounds, in seconds, of the snapshot-duration histogram (the original HyperCache's
/// `hypercache_snapshot_duration_seconds` buckets).
pub const SNAPSHOT_SECONDS_BOUNDS: [f64; 10] =
    [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 10.0, 30.0];

/// Why a save did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("Background save already in progress")]
    InProgress,
    #[error("{0}")]
    Io(String),
}

pub struct Persistence {
    config: PersistenceConfig,
    dir: PathBuf,
    node_id: String,
    aof: Option<Arc<Aof>>,
    /// The current generation (the AOF being appended to, the next snapshot is +1).
    seq: AtomicU64,
    saving: AtomicBool,
    status: Mutex<SaveStatus>,
    /// Mutations since the last snapshot (rdb_changes_since_last_save).
    changes: AtomicU64,
    loading: AtomicBool,
    /// The last snapshot failed (mirrors `status.last_ok`, readable without a lock).
    save_failed: AtomicBool,
    recovery: Mutex<Option<recovery::Report>>,
}

impl Persistence {
    /// Persistence for a node, or None when the config turns it off.
    pub fn new(config: &PersistenceConfig, dir: &Path, node_id: &str) -> Option<Arc<Persistence>> {
        if !config.is_active() || config.strategy == PersistenceStrategy::Disabled {
            return None;
        }
        let aof = config
            .strategy
            .aof()
            .then(|| Aof::new(dir, node_id, config.sync_policy));
        Some(Arc::new(Persistence {
            config: config.clone(),
            dir: dir.to_path_buf(),
            node_id: node_id.to_string(),
            aof,
            seq: AtomicU64::new(0),
            saving: AtomicBool::new(false),
            status: Mutex::new(SaveStatus {
                last_ok: true,
                last_save_unix: crate::util::time::now_ms() / 1000,
                ..Default::default()
            }),
            changes: AtomicU64::new(0),
            loading: AtomicBool::new(true),
            save_failed: AtomicBool::new(false),
            recovery: Mutex::new(None),
        }))
    }

    pub fn config(&self) -> &PersistenceConfig {
        &self.config
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn aof(&self) -> Option<&Arc<Aof>> {
        self.aof.as_ref()
    }

    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Acquire)
    }

    /// True when every acknowledged write must be fsynced first.
    pub fn sync_always(&self) -> bool {
        self.aof.is_some() && self.config.sync_policy == SyncPolicy::Always
    }

    pub fn changes_since_save(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> SaveStatus {
        self.status.lock().clone()
    }

    pub fn recovery_report(&self) -> Option<recovery::Report> {
        self.recovery.lock().clone()
    }

    /// Loads the data directory into `store`, then opens the AOF for appending.
    pub fn recover(&self, store: &Keyspace) -> Result<recovery::Report, recovery::RecoveryError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| recovery::RecoveryError::Io(format!("{}: {e}", self.dir.display())))?;
        let report = recovery::recover(
            store,
            &self.dir,
            self.aof.is_some(),
            self.config.allow_partial_recovery,
            crate::util::time::now_ms(),
        )?;
        self.seq.store(report.next_seq, Ordering::Release);
        if let Some(aof) = &self.aof {
            aof.start(report.next_seq)
                .map_err(|e| recovery::RecoveryError::Io(format!("{}: {e}", self.dir.display())))?;
        }
        *self.recovery.lock() = Some(report.clone());
        self.loading.store(false, Ordering::Release);
        Ok(report)
    }

    /// The MISCONF error writes get while the disk refuses our data, if it does. Two atomic
    /// loads when all is well: this runs before every write command.
    #[inline]
    pub fn refuses_writes(&self) -> Option<String> {
        let aof_failed = self.aof.as_ref().is_some_and(|a| a.failed());
        if !aof_failed && !self.save_failed.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(aof) = &self.aof
            && aof.failed()
        {
            let err = aof.status().last_error.unwrap_or_default();
            return Some(format!(
                "MISCONF Errors writing to the AOF file: {}",
                strerror(&err)
            ));
        }
        let st = self.status.lock();
        if !st.last_ok && self.config.strategy.snapshot() {
            return Some("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.".into());
        }
        None
    }

    /// Takes a snapshot (and, with an AOF, starts a new AOF generation after it). Runs on the
    /// calling thread; one at a time.
    pub fn save(&self, store: &Keyspace) -> Result<snapshot::SnapshotInfo, SaveError> {
        if self.saving.swap(true, Ordering::AcqRel) {
            return Err(SaveError::InProgress);
        }
        let r = self.save_locked(store);
        self.saving.store(false, Ordering::Release);
        r
    }

    pub fn save_in_progress(&self) -> bool {
        self.saving.load(Ordering::Acquire)
    }

    fn save_locked(&self, store: &Keyspace) -> Result<snapshot::SnapshotInfo, SaveError> {
        let next = self.seq.load(Ordering::Acquire) + 1;
        let started_ms = crate::util::time::now_ms();
        self.status.lock().in_progress = true;
        self.status.lock().current_started_ms = started_ms;
        let changes_before = self.changes.load(Ordering::Relaxed);
        if let Some(aof) = &self.aof
            && !aof.rotate(next)
        {
            let e = "could not open the next AOF file".to_string();
            self.finish_save(Err(e.clone()));
            return Err(SaveError::Io(e));
        }
        self.seq.store(next, Ordering::Release);
        let result = snapshot::write(
            store,
            &self.dir,
            &self.node_id,
            next,
            crate::util::time::now_ms(),
            self.aof.as_deref(),
        );
        match result {
            Ok(info) => {
                self.changes.fetch_sub(
                    changes_before.min(self.changes.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
                self.cleanup(next);
                tracing::info!(
                    component = "persistence",
                    action = "snapshot",
                    seq = next,
                    keys = info.keys,
                    bytes = info.bytes,
                    duration_ms = info.duration_ms,
                    "snapshot written"
                );
                self.finish_save(Ok(&info));
                Ok(info)
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!(component = "persistence", action = "snapshot", error = %msg, "snapshot failed");
                self.finish_save(Err(msg.clone()));
                Err(SaveError::Io(msg))
            }
        }
    }

    fn finish_save(&self, r: Result<&snapshot::SnapshotInfo, String>) {
        let mut st = self.status.lock();
        st.in_progress = false;
        match r {
            Ok(info) => {
                if !st.last_ok {
                    tracing::info!(
                        component = "persistence",
                        action = "snapshot",
                        "snapshots succeed again; accepting writes"
                    );
                }
                st.last_ok = true;
                st.last_error = None;
                self.save_failed.store(false, Ordering::Relaxed);
                st.last_save_unix = crate::util::time::now_ms() / 1000;
                st.last_duration_ms = info.duration_ms;
                st.last_bytes = info.bytes;
                st.last_keys = info.keys;
                st.saves += 1;
                let secs = info.duration_ms as f64 / 1000.0;
                if let Some(i) = SNAPSHOT_SECONDS_BOUNDS.iter().position(|b| secs <= *b) {
                    st.duration_counts[i] += 1;
                }
                st.duration_sum_ms += info.duration_ms;
                if self.aof.is_some() {
                    st.rewrites += 1;
                }
            }
            Err(e) => {
                st.last_ok = false;
                st.last_error = Some(e);
                self.save_failed.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Keeps the newest `retain` snapshots and the AOFs recovery could still need.
    fn cleanup(&self, newest: u64) {
        let Ok(files) = recovery::list(&self.dir) else {
            return;
        };
        let keep = self.config.retain.max(1) as usize;
        let kept: Vec<u64> = files.snapshots.iter().rev().take(keep).copied().collect();
        let oldest_kept = kept.last().copied().unwrap_or(newest);
        for s in files.snapshots.iter().filter(|s| !kept.contains(s)) {
            let _ = std::fs::remove_file(self.dir.join(snapshot::file_name(*s)));
        }
        for a in files.aofs.iter().filter(|&&a| a < oldest_kept) {
            let _ = std::fs::remove_file(self.dir.join(aof::file_name(*a)));
        }
        let _ = sync_dir(&self.dir);
    }

    /// Whether the AOF has outgrown `max_log_size` and should be rewritten.
    pub fn rewrite_due(&self) -> bool {
        match &self.aof {
            Some(aof) => {
                let st = aof.status();
                self.config.max_log_size > 0
                    && st.current_size.saturating_sub(st.base_size) > self.config.max_log_size
            }
            None => false,
        }
    }

    /// Flushes the AOF and stops its writer; with `save`, takes a final snapshot first.
    pub fn shutdown(&self, store: &Keyspace, save: bool) {
        if save && let Err(e) = self.save(store) {
            tracing::error!(component = "persistence", action = "shutdown", error = %e, "final snapshot failed");
        }
        if let Some(aof) = &self.aof {
            aof.stop();
        }
    }
}

impl MutationSink for Persistence {
    fn is_disk(&self) -> bool {
        true
    }

    fn group_begin(&self) {
        if let Some(aof) = &self.aof {
            aof.group_begin();
        }
    }

    fn group_end(&self) {
        if let Some(aof) = &self.aof {
            aof.group_end();
        }
    }

    fn publish(&self, m: &Mutation<'_>) {
        if m.origin == Origin::Replay {
            return;
        }
        self.changes.fetch_add(1, Ordering::Relaxed);
        if let Some(aof) = &self.aof {
            aof.publish(m);
        }
    }
}
