//! Lua scripting (EVAL and kin): the script cache, and the one thread scripts run on.
//!
//! A script runs on its own thread, holding the transaction gate closed (nothing runs
//! between its commands, as on Redis's one thread) with its writes one atomic group for the
//! AOF and the replicas (`Bus::group`): replicas and recovery apply the script's effects,
//! never the script. Off the I/O threads so that a script that runs too long does not stop
//! the node: past `busy-reply-threshold` the other clients get `-BUSY` and SCRIPT KILL
//! reaches it (a hook checks every so many Lua instructions).
//!
//! Lua 5.1 as Redis, through `mlua` (the maintained successor of rlua, with the interpreter
//! vendored and built by cc, so the node needs no system Lua).

pub mod functions;
pub mod lua;
pub mod msgpack;
mod raw;
pub mod structs;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::node::Node;

/// Scripts the cache keeps at most, and their bytes: SCRIPT LOAD and EVAL past them are
/// refused (a client must not grow memory without bound by sending distinct scripts).
pub const MAX_SCRIPTS: usize = 100_000;
pub const MAX_SCRIPT_BYTES: usize = 256 << 20;
/// How long a library's code may run while FUNCTION LOAD registers it (Redis's 500 ms).
pub const LOAD_TIMEOUT_MS: u64 = 500;
/// The script thread's stack.
const SCRIPT_STACK: usize = 64 << 20;

/// What the script thread is asked to run.
pub enum Run {
    /// EVAL / EVALSHA: the script's SHA1, and its source when the caller had it (EVAL; else
    /// the cache's).
    Script {
        sha: String,
        source: Option<Arc<[u8]>>,
    },
    /// FCALL / FCALL_RO: the function to call.
    Function(String),
    /// A FUNCTION subcommand (its arguments from `FUNCTION` on), run where the libraries live.
    Manage(Vec<Vec<u8>>),
}

/// A script to run, with its caller's keys, arguments, database and protocol.
pub struct Job {
    pub run: Run,
    pub keys: Vec<Vec<u8>>,
    pub args: Vec<Vec<u8>>,
    pub db: u32,
    pub resp3: bool,
    /// EVAL_RO / EVALSHA_RO / FCALL_RO: a write is refused.
    pub read_only: bool,
    /// Whose rights `redis.call` has, and who called (for the ACL log).
    pub user: std::sync::Arc<crate::acl::UserCell>,
    pub caller: std::sync::Arc<crate::client::ClientInfo>,
}

/// What a script answered: its reply in the client's protocol. (SELECT inside a script does
/// not change the caller's database, as in Redis 7.)
pub struct Done {
    pub reply: Vec<u8>,
}

/// What the script thread is handed: a connection's run of scripts (a pipeline's consecutive
/// EVALs go over together) with the channel their replies come back on, or work to run on
/// its event loop (a connection moving there).
pub enum ToScripts {
    Jobs(Vec<Job>, tokio::sync::oneshot::Sender<Vec<Done>>),
    Run(Box<dyn FnOnce() + Send>),
}

/// Hands work to an I/O thread (`Scripts::to_io`).
pub type ToIo = Box<dyn Fn(Box<dyn FnOnce() + Send>) -> bool + Send + Sync>;

type JobQueue = tokio::sync::mpsc::UnboundedSender<ToScripts>;

thread_local! {
    /// This thread is the script thread: scripts run here inline.
    static HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is the script thread.
pub fn on_script_thread() -> bool {
    HERE.with(|h| h.get())
}

pub struct Scripts {
    // Fx: the keys are SHA1s already.
    cache: Mutex<rustc_hash::FxHashMap<String, Arc<[u8]>>>,
    bytes: AtomicUsize,
    jobs: Mutex<Option<JobQueue>>,
    /// A script runs: since when (ms since the epoch; 0: none).
    pub running_since: AtomicU64,
    /// SCRIPT KILL asked for it.
    pub kill: AtomicBool,
    /// The running script wrote (it cannot be killed then: half its effects would stay).
    pub wrote: AtomicBool,
    /// `busy-reply-threshold` (`lua-time-limit`), ms.
    pub busy_ms: AtomicU64,
    /// While a FUNCTION subcommand runs library code: when it must have ended (ms since the
    /// epoch; 0: none). Library code runs outside the gate, with no client waiting on -BUSY:
    /// it gets Redis's 500 ms and no more.
    pub load_deadline: AtomicU64,
    /// Libraries and functions loaded (FUNCTION STATS, answered while a script runs).
    pub libraries: AtomicUsize,
    pub functions: AtomicUsize,
    /// The store's libraries version those counts are of.
    pub libraries_version: AtomicU64,
    /// Connections moved to the script thread's event loop (they kept sending scripts).
    pub moved: AtomicU64,
    /// Connections moved back from it to an I/O thread (they stopped sending scripts).
    pub returned: AtomicU64,
    /// Hands work to one of the I/O threads' event loops (set by the server as they start):
    /// false when there is none.
    pub to_io: std::sync::OnceLock<ToIo>,
    /// Run on the script thread's event loop as it starts (the server's per-thread tasks).
    pub thread_setup: std::sync::OnceLock<fn(&Arc<Node>)>,
}

impl Default for Scripts {
    fn default() -> Scripts {
        Scripts {
            cache: Default::default(),
            bytes: AtomicUsize::new(0),
            jobs: Mutex::new(None),
            running_since: AtomicU64::new(0),
            kill: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            busy_ms: AtomicU64::new(5000),
            load_deadline: AtomicU64::new(0),
            libraries: AtomicUsize::new(0),
            functions: AtomicUsize::new(0),
            libraries_version: AtomicU64::new(0),
            moved: AtomicU64::new(0),
            returned: AtomicU64::new(0),
            to_io: Default::default(),
            thread_setup: Default::default(),
        }
    }
}

/// The SHA1 of a script's source, in hex, as Redis names scripts.
pub fn sha1_hex(source: &[u8]) -> String {
    sha1_smol::Sha1::from(source).digest().to_string()
}

impl Scripts {
    /// Caches a script; its SHA1. `None` when the cache is full.
    pub fn load(&self, source: &[u8]) -> Option<(String, Arc<[u8]>)> {
        self.learn(source).map(|(sha, text, _)| (sha, text))
    }

    /// [`Scripts::load`], saying whether the script is new here.
    pub fn learn(&self, source: &[u8]) -> Option<(String, Arc<[u8]>, bool)> {
        let sha = sha1_hex(source);
        let mut cache = self.cache.lock();
        if let Some(s) = cache.get(&sha) {
            return Some((sha, s.clone(), false));
        }
        if cache.len() >= MAX_SCRIPTS
            || self.bytes.load(Ordering::Relaxed) + source.len() > MAX_SCRIPT_BYTES
        {
            return None;
        }
        let text: Arc<[u8]> = source.into();
        self.bytes.fetch_add(source.len(), Ordering::Relaxed);
        cache.insert(sha.clone(), text.clone());
        Some((sha, text, true))
    }

    pub fn get(&self, sha: &str) -> Option<Arc<[u8]>> {
        self.cache.lock().get(&sha.to_ascii_lowercase()).cloned()
    }

    pub fn exists(&self, sha: &str) -> bool {
        self.cache.lock().contains_key(&sha.to_ascii_lowercase())
    }

    /// Whether the script of this (lower-case) SHA1 is cached.
    pub fn has(&self, sha: &str) -> bool {
        self.cache.lock().contains_key(sha)
    }

    /// SCRIPT FLUSH: forgets every script (the VM drops its compiled ones on its next run).
    pub fn flush(&self) {
        self.cache.lock().clear();
        self.bytes.store(0, Ordering::Relaxed);
    }

    /// Whether a script has run past `busy-reply-threshold`.
    pub fn busy(&self) -> bool {
        let since = self.running_since.load(Ordering::Acquire);
        since != 0
            && crate::util::time::now_ms().saturating_sub(since)
                >= self.busy_ms.load(Ordering::Relaxed)
    }

    /// Hands a connection's run of scripts to the script thread (started on first use),
    /// which runs them in order; their replies come back together on the returned channel.
    /// On the script thread itself they run at once.
    pub fn submit(&self, node: &Node, jobs: Vec<Job>) -> tokio::sync::oneshot::Receiver<Vec<Done>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if on_script_thread() {
            let _ = tx.send(lua::run_here(jobs));
            return rx;
        }
        // A failed send drops `tx`: the caller sees the script thread gone.
        self.send(node, ToScripts::Jobs(jobs, tx));
        rx
    }

    /// Runs `f` on the script thread's event loop; false when there is no script thread.
    pub fn run_there(&self, node: &Node, f: Box<dyn FnOnce() + Send>) -> bool {
        self.send(node, ToScripts::Run(f))
    }

    fn send(&self, node: &Node, msg: ToScripts) -> bool {
        let mut queue = self.jobs.lock();
        if queue.is_none()
            && let Some(node) = node.arc()
        {
            let (jtx, jrx) = tokio::sync::mpsc::unbounded_channel();
            let spawned = std::thread::Builder::new()
                .name("hypercache-lua".into())
                // Conversions recurse up to their depth limits (1,000 levels): room for them,
                // in a debug build too.
                .stack_size(SCRIPT_STACK)
                .spawn(move || {
                    HERE.with(|h| h.set(true));
                    lua::serve_thread(node, jrx)
                });
            if spawned.is_ok() {
                *queue = Some(jtx);
            }
        }
        queue.as_ref().is_some_and(|q| q.send(msg).is_ok())
    }
}

/// FUNCTION STATS's reply, from the counts the script thread keeps.
pub fn stats(s: &Scripts, out: &mut crate::resp::Out) {
    let since = s.running_since.load(Ordering::Acquire);
    out.map(2);
    out.bulk(b"running_script");
    if since == 0 {
        out.null();
    } else {
        out.map(3);
        out.bulk(b"name");
        out.bulk(b"script");
        out.bulk(b"command");
        out.array(0);
        out.bulk(b"duration_ms");
        out.int(crate::util::time::now_ms().saturating_sub(since) as i64);
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(s.libraries.load(Ordering::Relaxed) as i64);
    out.bulk(b"functions_count");
    out.int(s.functions.load(Ordering::Relaxed) as i64);
}
