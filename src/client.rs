//! A client of the node: its session state (owned by its connection task), what other
//! connections see of it (CLIENT LIST/KILL), and the registry of all clients (maxclients,
//! graceful shutdown).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::util::time::now_ms;

/// What CLIENT REPLY asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
}

/// Something a command asks the connection loop to do after its reply is encoded.
pub enum Action {
    /// Sleep, then reply OK (DEBUG SLEEP).
    Sleep(Duration),
    /// Stop the node (SHUTDOWN); this connection closes without a reply.
    Shutdown,
    /// Take a snapshot, then reply (SAVE) — without blocking other connections.
    Save,
    /// Fetch these keys of this database from the other replicas, then run the command again.
    Repair(u32, Vec<Vec<u8>>),
    /// Run the command on the node at this address and relay its reply.
    Forward(std::net::SocketAddr),
    /// Run this command instead on the node at this address and relay its reply (EXEC of a
    /// transaction another node owns becomes its HCEXEC).
    ForwardAs(std::net::SocketAddr, crate::resp::OwnedArgs),
    /// WATCH keys another node owns: ask it for their versions (HCVERSIONS) and keep them.
    WatchAt(std::net::SocketAddr),
    /// Run a Lua script on the script thread and relay its reply.
    Script(crate::script::Job),
    /// Wait until one of these keys is written, then run the command again (BLPOP and kin).
    Block(Block),
}

/// What a blocked command waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub db: u32,
    pub keys: Vec<Vec<u8>>,
    /// `None`: for ever.
    pub deadline: Option<std::time::Instant>,
    /// The reply when the time is up: a null array (BLPOP, BZPOPMIN, ...) or a null bulk
    /// (BLMOVE, BRPOPLPUSH).
    pub null_array: bool,
    /// The protocol the reply is in: a forwarded command's, not the peer connection's.
    pub proto: crate::resp::Protocol,
}

/// A client as other connections see it (CLIENT LIST, CLIENT KILL).
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub fd: i32,
    pub created_ms: u64,
    pub last_ms: AtomicU64,
    pub db: AtomicU32,
    pub resp: AtomicU32,
    /// Address of the last `&'static Command` run, 0 before the first.
    last_cmd: AtomicUsize,
    pub qbuf: AtomicUsize,
    pub name: Mutex<Option<Vec<u8>>>,
    pub lib_name: Mutex<Option<Vec<u8>>>,
    pub lib_ver: Mutex<Option<Vec<u8>>>,
    pub no_evict: std::sync::atomic::AtomicBool,
    /// Channels, patterns and shard channels subscribed to (CLIENT LIST's sub, psub, ssub).
    pub subscriptions: [AtomicUsize; 3],
    /// The ACL user it is logged in as; `None`: `default`.
    pub user: Mutex<Option<Arc<crate::acl::UserCell>>>,
    /// The socket, while open, so another task can shut it down; cleared before it closes so
    /// a reused descriptor is never touched.
    sock: Mutex<Option<i32>>,
}

impl ClientInfo {
    fn new(id: u64, addr: SocketAddr, laddr: SocketAddr, fd: i32) -> ClientInfo {
        let now = now_ms();
        ClientInfo {
            id,
            addr,
            laddr,
            fd,
            created_ms: now,
            last_ms: AtomicU64::new(now),
            db: AtomicU32::new(0),
            resp: AtomicU32::new(2),
            last_cmd: AtomicUsize::new(0),
            qbuf: AtomicUsize::new(0),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            no_evict: Default::default(),
            subscriptions: Default::default(),
            user: Mutex::new(None),
            sock: Mutex::new((fd >= 0).then_some(fd)),
        }
    }

    /// A client of the node's own (a script's `redis.call`), in no client list.
    pub fn internal(id: u64) -> ClientInfo {
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        ClientInfo::new(id, local, local, -1)
    }

    /// The address of the last command run (a `&'static Command` of the table), 0 before the
    /// first: the command layer names it (CLIENT LIST's `cmd=`).
    pub fn last_command_address(&self) -> usize {
        self.last_cmd.load(Ordering::Relaxed)
    }

    pub fn set_last_command_address(&self, a: usize) {
        self.last_cmd.store(a, Ordering::Relaxed);
    }

    /// Forgets the descriptor before the socket closes, so a kill can't hit a reused one.
    pub fn forget_socket(&self) {
        *self.sock.lock() = None;
    }

    fn shutdown_socket(&self, how: i32) {
        if let Some(fd) = *self.sock.lock() {
            // SAFETY: the descriptor is open while it is in `sock` (cleared under this lock
            // before the socket is closed); shutdown() does not invalidate it.
            unsafe {
                libc::shutdown(fd, how);
            }
        }
    }
}

/// Every connected client.
#[derive(Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    count: AtomicUsize,
    empty: Notify,
}

impl Clients {
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr, fd: i32) -> Arc<ClientInfo> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let info = Arc::new(ClientInfo::new(id, addr, laddr, fd));
        self.map.lock().insert(id, info.clone());
        self.count.fetch_add(1, Ordering::Relaxed);
        info
    }

    pub fn unregister(&self, id: u64) {
        if self.map.lock().remove(&id).is_some() && self.count.fetch_sub(1, Ordering::Relaxed) == 1
        {
            self.empty.notify_waiters();
        }
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map.lock().get(&id).cloned()
    }

    pub fn snapshot(&self) -> Vec<Arc<ClientInfo>> {
        self.map.lock().values().cloned().collect()
    }

    /// Closes a client's connection; true when it was connected.
    pub fn kill(&self, id: u64) -> bool {
        let info = self.map.lock().get(&id).cloned();
        match info {
            Some(i) => {
                i.shutdown_socket(libc::SHUT_RDWR);
                true
            }
            None => false,
        }
    }

    /// Stops reading from every client: each finishes the commands it has read, replies and
    /// closes (graceful shutdown).
    pub fn shutdown_all(&self) {
        for c in self.snapshot() {
            c.shutdown_socket(libc::SHUT_RD);
        }
    }

    pub fn kill_all(&self) {
        for c in self.snapshot() {
            c.shutdown_socket(libc::SHUT_RDWR);
        }
    }

    pub fn kill_idle(&self, now: u64, idle_ms: u64) {
        for c in self.snapshot() {
            if now.saturating_sub(c.last_ms.load(Ordering::Relaxed)) > idle_ms {
                c.shutdown_socket(libc::SHUT_RDWR);
            }
        }
    }

    /// Waits until no client is connected, or the timeout; true when empty.
    pub async fn wait_empty(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.empty.notified();
                if self.is_empty() {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

/// The state of one client, owned by its connection task.
pub struct ClientState {
    /// The last script this client sent with EVAL, and its SHA1: a client that sends the same
    /// script again and again does not have it hashed each time.
    pub last_script: Option<(std::sync::Arc<[u8]>, String)>,
    pub id: u64,
    pub db: u32,
    /// Passed AUTH (or HELLO AUTH); before that a client may run commands only while the
    /// default user needs no password (`Acl::auth_required`).
    pub authenticated: bool,
    /// The ACL user whose rights its commands have.
    pub user: Arc<crate::acl::UserCell>,
    /// The user's rules as this client last read them (`UserCell::cached`).
    pub rules: Option<(u64, Arc<crate::acl::User>)>,
    /// For a script's `redis.call` client, the client that ran the script: ACL refusals are
    /// worded and logged as Redis does for scripts, with the caller in the log.
    pub script_caller: Option<Arc<ClientInfo>>,
    pub no_touch: bool,
    pub reply_mode: ReplyMode,
    pub close_after_reply: bool,
    pub action: Option<Action>,
    pub info: Arc<ClientInfo>,
    /// The command being run was read-repaired already (don't repair it again).
    pub repaired: bool,
    /// Every peer vouched, through the read index, for a moment after every request of the
    /// batch being run arrived: its misses may be answered locally without asking again.
    pub vouched: bool,
    /// The command being run was forwarded here by another node (don't route it again).
    pub forwarded: bool,
    /// Writes this client ran on this node (not forwarded): before a later write goes to an
    /// owner, that owner must have received them (session order).
    pub local_writes: u64,
    /// The node this connection comes from, once it proved it holds the cluster secret.
    pub peer: Option<String>,
    /// A peer handshake in progress (between HCHELLO and HCAUTH).
    pub challenge: Option<crate::cluster::auth::Challenge>,
    /// Commands queued since MULTI.
    pub multi: Option<Transaction>,
    /// Keys WATCHed (database, key), with the version each had then: the stamp of its last
    /// write, `None` when it did not exist.
    pub watched: Watched,
    /// The node whose versions `watched` holds, when not this one (a cluster's owner of the
    /// watched keys): the transaction must run there.
    pub watch_owner: Option<std::net::SocketAddr>,
    /// Pub/sub channels, patterns and shard channels this connection listens to.
    pub subs: crate::pubsub::Subscriptions,
    /// CLIENT TRACKING is on.
    pub tracking: Option<crate::pubsub::TrackState>,
}

/// Watched keys: (database, key) → (Lamport time, node) of the last write, or absent.
pub type Watched = std::collections::HashMap<(u32, Box<[u8]>), Option<(u64, u64)>>;

/// A transaction being queued.
#[derive(Debug, Default)]
pub struct Transaction {
    /// Each command's arguments, as sent.
    pub queued: Vec<crate::resp::OwnedArgs>,
    /// Bytes queued (bounded by `client-query-buffer-limit`, as the queue is the client's).
    pub bytes: usize,
    /// A command was refused while queuing: EXEC answers EXECABORT.
    pub failed: bool,
}

impl ClientState {
    pub fn new(info: Arc<ClientInfo>, user: Arc<crate::acl::UserCell>) -> ClientState {
        ClientState {
            id: info.id,
            db: 0,
            authenticated: false,
            user,
            rules: None,
            script_caller: None,
            no_touch: false,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            action: None,
            info,
            repaired: false,
            vouched: false,
            forwarded: false,
            local_writes: 0,
            last_script: None,
            peer: None,
            challenge: None,
            multi: None,
            watched: Default::default(),
            watch_owner: None,
            subs: Default::default(),
            tracking: None,
        }
    }

    /// A new connection's state: the default user, authenticated while it needs no password
    /// (a later `requirepass` does not lock it out, as in Redis).
    pub fn opened(info: Arc<ClientInfo>, acl: &crate::acl::Acl) -> ClientState {
        let mut c = ClientState::new(info, acl.default_user());
        c.authenticated = !acl.auth_required();
        c
    }

    /// Logs the client in as `user` (AUTH, HELLO AUTH), or back as `default` (RESET).
    pub fn set_user(&mut self, user: Arc<crate::acl::UserCell>, authenticated: bool) {
        *self.info.user.lock() = (user.name != b"default").then(|| user.clone());
        self.user = user;
        self.rules = None;
        self.authenticated = authenticated;
    }

    /// Forgets every watched key (UNWATCH, DISCARD, EXEC, RESET).
    pub fn unwatch(&mut self) {
        self.watched.clear();
        self.watch_owner = None;
    }

    pub fn select(&mut self, db: u32) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }
}
