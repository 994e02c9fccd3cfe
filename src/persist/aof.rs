//! The append-only file: every Mutation as a CRC-framed record, written by one thread with
//! group commit.
//!
//! Publishing a mutation (on the thread that made it, under its shard's lock) only encodes the
//! record into a shared buffer. The writer thread takes whatever has accumulated, writes it in
//! one `write` (every millisecond while records flow; only the first record after a pause wakes
//! it, so a busy client thread makes no system call for the AOF), and — with `sync_policy: always` — fsyncs before advancing the durable offset
//! that waiting clients watch. Clients that wrote in the meantime share that one fsync, so
//! throughput grows with the number of clients. `everysec` fsyncs once a second; `no` never.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::config::SyncPolicy;
use crate::persist::codec::{self, AOF_MAGIC, FORMAT_VERSION, FileHeader, Marker};
use crate::store::mutation::{Mutation, MutationSink, Origin};

thread_local! {
    /// Connections of this I/O thread waiting for durability wait here; the thread's relay
    /// task wakes them. Waking many tasks from the writer thread directly would cost one
    /// cross-thread wake-up (a syscall) per task and per fsync; this way it is one per thread.
    static LOCAL_DURABLE: Arc<tokio::sync::Notify> = Arc::new(tokio::sync::Notify::new());
}

/// Buffered bytes past which a publisher wakes the writer at once.
const WAKE_AT: usize = 1 << 20;
/// How long, under `always`, the writer polls for new records after a round before sleeping.
const SPIN_AFTER_ROUND: Duration = Duration::from_micros(200);
/// How often the writer drains the buffer when nobody is waiting for durability.
const DRAIN_EVERY: Duration = Duration::from_millis(1);

/// The name of generation `seq`'s AOF file.
pub fn file_name(seq: u64) -> String {
    format!("aof-{seq:06}.hca")
}

/// Figures for INFO persistence and the admin API.
#[derive(Debug, Default, Clone)]
pub struct AofStatus {
    pub enabled: bool,
    pub seq: u64,
    pub current_size: u64,
    pub base_size: u64,
    pub last_write_ok: bool,
    pub last_error: Option<String>,
    pub last_fsync_ms: u64,
    pub appended: u64,
    pub durable: u64,
    pub fsyncs: u64,
    pub fsync_micros: u64,
    pub writes: u64,
    pub written_bytes: u64,
    /// Bytes the AOF's buffers hold allocated (records waiting and the writer's buffer).
    pub buffer_capacity: u64,
}

struct Pending {
    /// Encoded records not yet handed to the writer.
    buf: Vec<u8>,
    /// Logical offset (bytes appended since start) at the end of `buf`.
    appended: u64,
    /// A switch to a new file at this logical offset, for generation `seq`.
    rotate: Option<(u64, u64)>,
    stop: bool,
    /// The writer sleeps until kicked (it found nothing to do): the next record wakes it.
    /// Otherwise it comes back by itself within [`DRAIN_EVERY`], and publishers leave it be.
    asleep: bool,
    /// An atomic group is under way (see [`Group`]).
    group: Group,
    /// A rotation asked for while a group was open: it is placed after the group's end, so a
    /// group never straddles two files.
    rotate_after: Option<u64>,
}

/// Where the AOF stands with an atomic group: its `Begin` marker is written only with its
/// first record, so a transaction that changed nothing on disk leaves nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    None,
    Begun,
    Open,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Everything up to this logical offset is written (and fsynced under `always`).
    durable: AtomicU64,
    /// Notified whenever `durable` moves or the error state changes.
    durable_changed: tokio::sync::Notify,
    failed: AtomicBool,
    /// Mirror of `pending.appended`, for the writer's lock-free spin.
    published: AtomicU64,
    /// Capacity of the writer's own buffer (for [`AofStatus::buffer_capacity`]).
    held: AtomicUsize,
    status: Mutex<AofStatus>,
    rotated: Condvar,
    rotated_seq: Mutex<u64>,
    policy: SyncPolicy,
    dir: PathBuf,
    node_id: String,
}

/// The AOF of a node: the sink that records mutations and the writer thread.
pub struct Aof {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Aof {
    /// An AOF for `dir` that buffers records until [`Aof::start`] opens the file.
    pub fn new(dir: &Path, node_id: &str, policy: SyncPolicy) -> Arc<Aof> {
        Arc::new(Aof {
            shared: Arc::new(Shared {
                pending: Mutex::new(Pending {
                    buf: Vec::with_capacity(KEEP_CAPACITY),
                    appended: 0,
                    rotate: None,
                    stop: false,
                    asleep: false,
                    group: Group::None,
                    rotate_after: None,
                }),
                wake: Condvar::new(),
                durable: AtomicU64::new(0),
                durable_changed: tokio::sync::Notify::new(),
                failed: AtomicBool::new(false),
                published: AtomicU64::new(0),
                held: AtomicUsize::new(0),
                status: Mutex::new(AofStatus {
                    enabled: true,
                    last_write_ok: true,
                    ..Default::default()
                }),
                rotated: Condvar::new(),
                rotated_seq: Mutex::new(0),
                policy,
                dir: dir.to_path_buf(),
                node_id: node_id.to_string(),
            }),
            thread: Mutex::new(None),
        })
    }

    pub fn policy(&self) -> SyncPolicy {
        self.shared.policy
    }

    /// Starts the writer on generation `seq`'s file (appending after `valid_len` bytes, or
    /// creating it with a header when it does not exist).
    pub fn start(&self, seq: u64) -> std::io::Result<()> {
        let file = open_for_append(&self.shared.dir, &self.shared.node_id, seq)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        {
            let mut st = self.shared.status.lock();
            st.seq = seq;
            st.current_size = size;
            st.base_size = size;
        }
        *self.shared.rotated_seq.lock() = seq;
        let shared = self.shared.clone();
        let h = std::thread::Builder::new()
            .name("hypercache-aof".into())
            .spawn(move || writer(shared, file))?;
        *self.thread.lock() = Some(h);
        Ok(())
    }

    /// Switches to generation `seq`: records published after this call go to the new file.
    /// Returns once the writer has opened it (or failed to).
    pub fn rotate(&self, seq: u64) -> bool {
        {
            let mut p = self.shared.pending.lock();
            if p.group == Group::Open {
                p.rotate_after = Some(seq);
            } else {
                let at = p.appended;
                p.rotate = Some((at, seq));
                self.shared.wake.notify_one();
            }
        }
        let mut done = self.shared.rotated_seq.lock();
        let deadline = Instant::now() + Duration::from_secs(30);
        while *done < seq {
            if self
                .shared
                .rotated
                .wait_until(&mut done, deadline)
                .timed_out()
            {
                return false;
            }
        }
        true
    }

    /// Waits, up to `limit`, until no atomic group is open and everything published so far is
    /// durable (written; fsynced under `always`). False if the time ran out or the AOF failed.
    pub fn settle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let target = loop {
            let p = self.shared.pending.lock();
            if p.group != Group::Open {
                break p.appended;
            }
            drop(p);
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(100));
        };
        {
            let _p = self.shared.pending.lock();
            self.shared.wake.notify_one();
        }
        while self.durable() < target {
            if self.failed() || Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// True while the last write or fsync failed; writes are refused with MISCONF then.
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    pub fn status(&self) -> AofStatus {
        let mut s = self.shared.status.lock().clone();
        s.durable = self.shared.durable.load(Ordering::Acquire);
        let p = self.shared.pending.lock();
        s.appended = p.appended;
        s.buffer_capacity = (p.buf.capacity() + self.shared.held.load(Ordering::Relaxed)) as u64;
        s
    }

    /// The logical offset just past the last record appended: a write's records are covered
    /// by any offset read after they were published.
    #[inline]
    pub fn published(&self) -> u64 {
        self.shared.published.load(Ordering::Acquire)
    }

    pub fn durable(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// Waits until everything up to `offset` is durable. False if the AOF failed first.
    pub async fn wait_durable(&self, offset: u64) -> bool {
        self.wait_on(offset, &self.shared.durable_changed).await
    }

    /// Waits, on an I/O thread running [`Aof::relay`], until everything up to `offset` is
    /// durable. False if the AOF failed first.
    pub async fn wait_durable_local(&self, offset: u64) -> bool {
        let local = LOCAL_DURABLE.with(|l| l.clone());
        self.wait_on(offset, &local).await
    }

    /// Wakes the writer if `offset` is not durable yet, then waits for `changed` until it is
    /// (true) or the AOF fails (false).
    async fn wait_on(&self, offset: u64, changed: &tokio::sync::Notify) -> bool {
        if self.durable() < offset {
            // One wake-up serves every client that waits meanwhile (group commit). Taking the
            // lock orders it with the writer's check, so the wake-up cannot be lost.
            let _p = self.shared.pending.lock();
            self.shared.wake.notify_one();
        }
        loop {
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.durable() >= offset {
                return true;
            }
            if self.failed() {
                return false;
            }
            notified.await;
        }
    }

    /// Runs on each I/O thread: passes the writer's progress on to the thread's waiters.
    pub async fn relay(self: Arc<Self>) {
        let local = LOCAL_DURABLE.with(|l| l.clone());
        loop {
            let changed = self.shared.durable_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            local.notify_waiters();
            changed.await;
        }
    }

    /// Writes out and fsyncs everything buffered, then stops the writer (graceful shutdown).
    pub fn stop(&self) {
        {
            let mut p = self.shared.pending.lock();
            p.stop = true;
            self.shared.wake.notify_one();
        }
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
    }
}

impl MutationSink for Aof {
    fn publish(&self, m: &Mutation<'_>) {
        // A replay comes from the AOF itself.
        if m.origin == Origin::Replay {
            return;
        }
        let mut p = self.shared.pending.lock();
        let before = p.buf.len();
        if p.group == Group::Begun {
            p.group = Group::Open;
            codec::encode_marker_unsealed(&mut p.buf, Marker::Begin);
        }
        codec::encode_mutation_unsealed(&mut p.buf, m);
        p.appended += (p.buf.len() - before) as u64;
        let at = p.appended;
        self.shared.published.store(at, Ordering::Release);
        // Waking the writer costs a futex call here and a context switch: only a writer that
        // went to sleep (no traffic for a drain interval) is woken, by the first record; a
        // busy one drains on its own timer. Also a big buffer, and clients that wait.
        let kick = (p.asleep && before == 0) || p.buf.len() > WAKE_AT;
        if kick {
            p.asleep = false;
        }
        drop(p);
        if kick {
            self.shared.wake.notify_one();
        }
    }
}

impl Aof {
    /// The records published until [`Aof::group_end`] form one atomic group.
    pub fn group_begin(&self) {
        self.shared.pending.lock().group = Group::Begun;
    }

    /// Closes the group: its `End` marker follows its last record (recovery applies a group
    /// only once it reads this), then any rotation asked for meanwhile takes its place.
    pub fn group_end(&self) {
        let mut p = self.shared.pending.lock();
        let was = std::mem::replace(&mut p.group, Group::None);
        let mut kick = false;
        if was == Group::Open {
            let before = p.buf.len();
            codec::encode_marker_unsealed(&mut p.buf, Marker::End);
            p.appended += (p.buf.len() - before) as u64;
            let at = p.appended;
            self.shared.published.store(at, Ordering::Release);
            kick = p.asleep && before == 0;
        }
        if let Some(seq) = p.rotate_after.take() {
            p.rotate = Some((p.appended, seq));
            kick = true;
        }
        if kick {
            p.asleep = false;
            drop(p);
            self.shared.wake.notify_one();
        }
    }
}

fn open_for_append(dir: &Path, node_id: &str, seq: u64) -> std::io::Result<File> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(seq));
    let exists = path.exists();
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    if !exists || file.metadata()?.len() == 0 {
        let mut head = Vec::new();
        codec::encode_header(
            &mut head,
            AOF_MAGIC,
            &FileHeader {
                version: FORMAT_VERSION,
                node_id: node_id.to_string(),
                seq,
                created_ms: crate::util::time::now_ms(),
            },
        );
        file.write_all(&head)?;
        file.sync_all()?;
        super::sync_dir(dir)?;
    }
    Ok(file)
}

/// The writer thread: drains the buffer into the file, fsyncs per policy, rotates on request.
fn writer(shared: Arc<Shared>, mut file: File) {
    // Bytes taken from the buffer but not yet written: kept across failures, never dropped.
    let mut unwritten: Vec<u8> = Vec::new();
    // Logical offset at the end of `unwritten` (or of what was last written).
    let mut taken_end: u64 = 0;
    // A rotation whose point has been reached: done once `unwritten` is in the old file.
    let mut rotation: Option<u64> = None;
    let mut last_fsync = Instant::now();
    let mut dirty = false; // written but not fsynced
    let mut failing = false;
    let mut last_round = Instant::now() - Duration::from_secs(1);
    // The last round wrote records (so more are likely on their way).
    let mut wrote = false;
    loop {
        // Under `always`, clients answered by the last round send their next writes within
        // microseconds: poll briefly for them rather than sleep and pay a wake-up each round.
        if shared.policy == SyncPolicy::Always && unwritten.is_empty() && rotation.is_none() {
            while last_round.elapsed() < SPIN_AFTER_ROUND
                && shared.published.load(Ordering::Acquire) <= taken_end
            {
                std::thread::yield_now();
            }
        }
        let mut seal_from = usize::MAX;
        let stop = {
            let mut p = shared.pending.lock();
            let idle = |p: &Pending| p.buf.is_empty() && p.rotate.is_none() && !p.stop;
            let mine_done = unwritten.is_empty() && rotation.is_none();
            // Records are buffered but nobody waits for them: gather more before the next write.
            let gather = |p: &Pending| {
                shared.policy != SyncPolicy::Always && !p.stop && p.rotate.is_none() && mine_done
            };
            if idle(&p) && mine_done {
                if wrote && gather(&p) {
                    // Traffic flows: come back in a drain interval rather than be woken (a
                    // futex call on a client's thread) by the next record.
                    shared.wake.wait_for(&mut p, DRAIN_EVERY);
                } else {
                    // Nothing to do: sleep long (until kicked, or the next everysec fsync is
                    // due), with buffers back to their resting size.
                    trim(&mut p.buf, 0);
                    trim(&mut unwritten, 0);
                    shared.held.store(unwritten.capacity(), Ordering::Relaxed);
                    let wait = if dirty && shared.policy == SyncPolicy::EverySec {
                        Duration::from_secs(1).saturating_sub(last_fsync.elapsed())
                    } else {
                        Duration::from_secs(1)
                    };
                    if !wait.is_zero() {
                        p.asleep = true;
                        shared.wake.wait_for(&mut p, wait);
                        p.asleep = false;
                        if !p.buf.is_empty() && gather(&p) {
                            shared.wake.wait_for(&mut p, DRAIN_EVERY);
                        }
                    }
                }
            } else if gather(&p) {
                shared.wake.wait_for(&mut p, DRAIN_EVERY);
            }
            wrote = false;
            if failing {
                // Retry at a gentle pace, taking newer records along.
                drop(p);
                std::thread::sleep(Duration::from_millis(100));
                p = shared.pending.lock();
            }
            if rotation.is_none() {
                // Take what is buffered, never past a pending rotation point.
                let buffered_start = p.appended - p.buf.len() as u64;
                let end = match p.rotate {
                    Some((at, _)) => at.max(buffered_start),
                    None => p.appended,
                };
                let n = (end - buffered_start) as usize;
                if n > 0 {
                    seal_from = unwritten.len();
                    if unwritten.is_empty() && n == p.buf.len() {
                        // The common case: take the whole buffer without copying.
                        std::mem::swap(&mut unwritten, &mut p.buf);
                    } else {
                        unwritten.extend_from_slice(&p.buf[..n]);
                        p.buf.drain(..n);
                    }
                    taken_end = end;
                }
                if let Some((_, s)) = p.rotate.take() {
                    rotation = Some(s);
                }
            }
            p.stop
        };
        // Checksums are computed here, off the clients' threads and outside the lock.
        if seal_from < unwritten.len() {
            codec::seal(&mut unwritten[seal_from..]);
        }

        if !unwritten.is_empty() {
            if let Err(e) = file.write_all(&unwritten) {
                // A partial write may have left a torn record: cut back to the last good end.
                let good = shared.status.lock().current_size;
                let _ = file.set_len(good);
                fail(&shared, &e);
                failing = true;
                continue;
            }
            {
                let mut st = shared.status.lock();
                st.current_size += unwritten.len() as u64;
                st.writes += 1;
                st.written_bytes += unwritten.len() as u64;
            }
            let n = unwritten.len();
            unwritten.clear();
            // A burst of big records must not pin its buffers at their peak size.
            trim(&mut unwritten, n);
            shared.held.store(unwritten.capacity(), Ordering::Relaxed);
            dirty = true;
            wrote = true;
        }
        let must_sync = dirty
            && (shared.policy == SyncPolicy::Always
                || rotation.is_some()
                || stop
                || (shared.policy == SyncPolicy::EverySec
                    && last_fsync.elapsed() >= Duration::from_secs(1)));
        if must_sync {
            let t = Instant::now();
            let r = file.sync_data();
            {
                let mut st = shared.status.lock();
                st.fsyncs += 1;
                st.fsync_micros += t.elapsed().as_micros() as u64;
            }
            if let Err(e) = r {
                fail(&shared, &e);
                failing = true;
                continue;
            }
            dirty = false;
            last_fsync = Instant::now();
            shared.status.lock().last_fsync_ms = crate::util::time::now_ms();
        }
        if failing {
            failing = false;
            recover(&shared);
        }
        last_round = Instant::now();
        // Under `always` only fsynced bytes count as durable; otherwise written ones do.
        if !dirty || shared.policy != SyncPolicy::Always {
            let prev = shared.durable.swap(taken_end, Ordering::AcqRel);
            if prev != taken_end {
                shared.durable_changed.notify_waiters();
            }
        }
        if let Some(next) = rotation {
            match open_for_append(&shared.dir, &shared.node_id, next) {
                Ok(f) => {
                    file = f;
                    rotation = None;
                    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                    {
                        let mut st = shared.status.lock();
                        st.seq = next;
                        st.current_size = size;
                        st.base_size = size;
                    }
                    *shared.rotated_seq.lock() = next;
                    shared.rotated.notify_all();
                }
                Err(e) => {
                    // Records keep waiting in the buffer until the new file can be opened.
                    fail(&shared, &e);
                    failing = true;
                    continue;
                }
            }
        }
        if stop
            && unwritten.is_empty()
            && rotation.is_none()
            && shared.pending.lock().buf.is_empty()
        {
            let _ = file.sync_all();
            return;
        }
    }
}

/// Capacity a buffer keeps between bursts.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Gives an empty buffer's memory back when it is far larger than `used` (what the last round
/// needed): the peak of a burst is not kept, a steady load keeps its buffer.
fn trim(buf: &mut Vec<u8>, used: usize) {
    if buf.is_empty() && buf.capacity() > KEEP_CAPACITY && buf.capacity() / 4 > used {
        *buf = Vec::with_capacity(KEEP_CAPACITY);
    }
}

fn fail(shared: &Shared, e: &std::io::Error) {
    // The reason first, then the flag: whoever sees the flag finds the reason (MISCONF's text).
    let mut st = shared.status.lock();
    st.last_write_ok = false;
    st.last_error = Some(e.to_string());
    drop(st);
    if !shared.failed.swap(true, Ordering::AcqRel) {
        tracing::error!(component = "persistence", action = "aof_write", error = %e, "AOF write failed; refusing writes until it succeeds");
    }
    shared.durable_changed.notify_waiters();
}

fn recover(shared: &Shared) {
    if shared.failed.swap(false, Ordering::AcqRel) {
        tracing::info!(
            component = "persistence",
            action = "aof_write",
            "AOF writes succeed again; accepting writes"
        );
        let mut st = shared.status.lock();
        st.last_write_ok = true;
        st.last_error = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ValueRef;
    use crate::store::mutation::Op;
    use crate::store::stamp::Stamp;

    fn set(aof: &Aof, n: u64, value: &[u8]) {
        aof.publish(&Mutation {
            db: 0,
            stamp: Stamp {
                lamport: n,
                node: 1,
            },
            origin: Origin::Local,
            trace: None,
            op: Op::Set {
                key: format!("k{n}").as_bytes(),
                value: ValueRef::Str(value),
                expire_at: 0,
            },
        });
    }

    fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn buffers_shrink_after_a_burst() {
        let dir = tempfile::tempdir().unwrap();
        let aof = Aof::new(dir.path(), "n1", SyncPolicy::EverySec);
        aof.start(1).unwrap();
        let big = vec![b'x'; 512 * 1024];
        for n in 1..=64 {
            set(&aof, n, &big);
        }
        let end = aof.status().appended;
        wait_until("the burst to be written", || aof.durable() >= end);
        assert!(aof.status().written_bytes >= 32 << 20);
        // Once idle, the writer gives the burst's memory back.
        wait_until("the buffers to shrink", || {
            aof.status().buffer_capacity <= 2 * KEEP_CAPACITY as u64
        });
        // And a steady trickle is still written without anyone waiting for it.
        set(&aof, 100, b"v");
        let end = aof.status().appended;
        wait_until("a small record to be written", || aof.durable() >= end);
        aof.stop();
    }

    #[test]
    fn records_are_written_whatever_the_writer_was_doing() {
        // Records arrive while the writer drains, gathers, or sleeps: none may wait for a
        // kick that never comes.
        let dir = tempfile::tempdir().unwrap();
        let aof = Aof::new(dir.path(), "n1", SyncPolicy::EverySec);
        aof.start(1).unwrap();
        for n in 1..=200u64 {
            set(&aof, n, b"value");
            if n % 7 == 0 {
                std::thread::sleep(Duration::from_micros(n * 20));
            }
            if n % 50 == 0 {
                let end = aof.status().appended;
                wait_until("the records to be written", || aof.durable() >= end);
            }
        }
        aof.stop();
        let len = std::fs::metadata(dir.path().join(file_name(1)))
            .unwrap()
            .len();
        assert_eq!(len, aof.status().current_size);
    }

    #[test]
    fn a_group_is_never_split_by_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let aof = Aof::new(dir.path(), "n1", SyncPolicy::EverySec);
        aof.start(1).unwrap();
        aof.group_begin();
        set(&aof, 1, b"a");
        // Asked for mid-group: it waits for the group's end.
        let rotating = {
            let aof = aof.clone();
            std::thread::spawn(move || aof.rotate(2))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(aof.status().seq, 1, "rotated inside the group");
        set(&aof, 2, b"b");
        aof.group_end();
        assert!(rotating.join().unwrap());
        set(&aof, 3, b"c");
        aof.stop();
        let mut lines = Vec::new();
        for seq in [1, 2] {
            crate::persist::tools::scan_aof(&dir.path().join(file_name(seq)), |_, e| {
                lines.push(match e {
                    crate::persist::tools::Entry::Marker(m) => format!("{seq}:{m:?}"),
                    crate::persist::tools::Entry::Mutation(m) => {
                        format!("{seq}:{}", m.stamp.lamport)
                    }
                })
            })
            .unwrap();
        }
        assert_eq!(lines, ["1:Begin", "1:1", "1:2", "1:End", "2:3"]);
    }

    #[test]
    fn a_group_without_records_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let aof = Aof::new(dir.path(), "n1", SyncPolicy::EverySec);
        aof.start(1).unwrap();
        aof.group_begin();
        aof.group_end();
        assert_eq!(aof.published(), 0);
        aof.stop();
    }
}
