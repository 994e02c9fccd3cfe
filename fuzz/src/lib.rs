//! What the fuzz targets share: an in-process node without persistence, a client of it, a
//! way to put the node back as it was between inputs, and the caps that keep one input from
//! asking the node for gigabytes it would legitimately hand out.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use hypercache::client::{ClientInfo, ClientState};
use hypercache::command;
use hypercache::config::{Config, PersistenceStrategy};
use hypercache::node::Node;
use hypercache::resp::{Out, Protocol};

/// Whether to step around known bugs (`FUZZ_SKIP_KNOWN=1`). Each one is reported, and an
/// input that shows it is kept under `fuzz/regressions/<target>/`; `scripts/fuzz.sh` replays
/// those without this, so they fail until the bug is fixed, and fuzzes with it, so the fuzzer
/// looks for new bugs instead of finding the known ones again. Where a target steps around
/// one says which bug it is; remove the step once the bug is fixed.
pub fn skip_known() -> bool {
    static SKIP: LazyLock<bool> =
        LazyLock::new(|| std::env::var_os("FUZZ_SKIP_KNOWN").is_some_and(|v| v == "1"));
    *SKIP
}

/// The time commands run at (ms since the epoch); targets add to it as an input goes on.
pub const NOW: u64 = 1_700_000_000_000;

/// The largest string a command may make (`proto-max-bulk-len`, at its smallest allowed
/// value): it also bounds LCS's table, SETRANGE and APPEND.
pub const MAX_STRING: u64 = 1 << 20;

/// A node's configuration for fuzzing: memory only, small limits.
pub fn memory_only() -> Config {
    let mut c = Config::default();
    c.node.id = "fuzz-node".into();
    c.persistence.enabled = false;
    c.persistence.strategy = PersistenceStrategy::Disabled;
    c.cache.proto_max_bulk_len = MAX_STRING;
    // A node limit, so that eviction runs too (CONFIG SET maxmemory may lower it).
    c.cache.max_memory = 16 << 20;
    c
}

/// CONFIG SET parameters a command may change, put back after every input.
const SETTABLE: &[&str] = &[
    "maxclients",
    "maxmemory",
    "maxmemory-policy",
    "maxmemory-samples",
    "lfu-log-factor",
    "lfu-decay-time",
    "hz",
    "timeout",
    "requirepass",
    "loglevel",
    "hll-sparse-max-bytes",
];

/// A node and one registered client of it.
pub struct Harness {
    pub node: Arc<Node>,
    pub info: Arc<ClientInfo>,
    /// The settable parameters' values when the node was made.
    defaults: Vec<(&'static str, Vec<u8>)>,
}

impl Harness {
    pub fn new(config: Config) -> Harness {
        let node = Node::new(config, Vec::new());
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("address");
        let info = node.clients.register(addr, addr, -1);
        let mut h = Harness {
            node,
            info,
            defaults: Vec::new(),
        };
        let mut client = h.client();
        for p in SETTABLE {
            let reply = h.run(&mut client, &[b"CONFIG", b"GET", p.as_bytes()], NOW);
            let mut bulks = bulks(&reply).into_iter();
            if let (Some(_), Some(v)) = (bulks.next(), bulks.next()) {
                h.defaults.push((p, v));
            }
        }
        h
    }

    /// A fresh client state (database 0, authenticated, replies on).
    pub fn client(&self) -> ClientState {
        let mut c = ClientState::new(self.info.clone(), self.node.acl.default_user());
        c.authenticated = true;
        c
    }

    /// Runs one command and returns its reply.
    pub fn run(&self, client: &mut ClientState, argv: &[&[u8]], now: u64) -> Vec<u8> {
        let mut out = Out::new(Protocol::Resp2);
        command::run(&self.node, client, &mut out, argv, now);
        out.buf
    }

    /// Puts the node back: no keys, no named stores, the settable parameters as they were
    /// (`config_changed`: a CONFIG command ran since the last reset).
    pub fn reset(&self, config_changed: bool) {
        let store = &self.node.store;
        for ks in store.stores().into_iter().skip(1) {
            store.drop_store(&ks.name);
        }
        store.flushall(false);
        // An input may have changed the users (ACL SETUSER default -@all ...).
        self.node.acl.reset();
        if config_changed {
            let mut client = self.client();
            for (p, v) in &self.defaults {
                self.run(&mut client, &[b"CONFIG", b"SET", p.as_bytes(), v], NOW);
            }
        }
    }
}

/// The bulk strings of a RESP2 array reply (enough to read CONFIG GET's).
fn bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = reply;
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..nl.saturating_sub(1)];
        rest = &rest[nl + 1..];
        if let Some(n) = line.strip_prefix(b"$") {
            let n: usize = std::str::from_utf8(n)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if rest.len() < n + 2 {
                break;
            }
            out.push(rest[..n].to_vec());
            rest = &rest[n + 2..];
        }
    }
    out
}

/// Parses a decimal argument as RESP commands do (None when it is not one).
fn int(a: &[u8]) -> Option<i64> {
    std::str::from_utf8(a).ok()?.parse().ok()
}

/// Whether the fuzz harness runs this command line, and why not. The argv is the command as
/// the client sent it (an `HCFWD <db>` prefix included).
///
/// Left out, because they act outside the command (the connection loop carries out what they
/// ask for, and this harness has no connection loop) or have a target of their own:
/// - DEBUG (SLEEP would stop the connection; PARTITION/HEAL change the cluster's fault state),
///   SHUTDOWN, SAVE, BGSAVE, BGREWRITEAOF;
/// - HCREPL (peers' record batches: the `hcrepl_payload` target).
///
/// Capped, so that one input of a few KB cannot make the node allocate or work without bound
/// in ways a real client may legitimately ask for (the node's own limit is
/// `proto-max-bulk-len`, set to its 1 MB minimum here; see [`memory_only`]):
/// - SETRANGE offset <= 64 KiB (each call may allocate offset+len bytes, and there may be
///   hundreds in one input); the same 64 KiB for SETBIT's and BITFIELD's written bits;
/// - CF.RESERVE capacity <= 4096 and CF.INSERT/CF.INSERTNX CAPACITY <= 4096 (a filter's whole
///   state is re-published on every write: a 2^30-item filter is a gigabyte per CF.ADD);
/// - EXPANSION <= 2 (a growing filter's layers are capacity * expansion^n);
/// - MAXITERATIONS <= 512 (the kicks per failed insert);
/// - CONFIG SET proto-max-bulk-len / client-query-buffer-limit (they would lift the 1 MB cap).
pub fn allowed(argv: &[&[u8]]) -> bool {
    let mut argv = argv;
    // HCFWD <db> <command...> runs the command inside it.
    while argv.len() >= 3 && argv[0].eq_ignore_ascii_case(b"hcfwd") {
        argv = &argv[2..];
    }
    let Some(name) = argv.first() else {
        return true;
    };
    let name = name.to_ascii_lowercase();
    let is = |i: usize, s: &str| {
        argv.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()))
    };
    let arg_int = |i: usize| argv.get(i).and_then(|a| int(a));
    match name.as_slice() {
        b"debug" | b"shutdown" | b"save" | b"bgsave" | b"bgrewriteaof" | b"hcrepl" => false,
        b"setrange" => arg_int(2).is_none_or(|o| o <= 64 * 1024),
        b"setbit" => arg_int(2).is_none_or(|o| o <= 8 * 64 * 1024),
        b"bitfield" => bitfield_writes_within(argv.get(2..).unwrap_or_default(), 8 * 64 * 1024),
        b"config" => {
            !(is(1, "set")
                && argv.iter().skip(2).any(|a| {
                    a.eq_ignore_ascii_case(b"proto-max-bulk-len")
                        || a.eq_ignore_ascii_case(b"client-query-buffer-limit")
                }))
        }
        n if n.starts_with(b"cf.") => {
            if n == b"cf.reserve" && arg_int(2).is_some_and(|c| c > 4096) {
                return false;
            }
            // Options are found anywhere in argv (RedisBloom), so check every position.
            for (i, a) in argv.iter().enumerate().skip(1) {
                let next = arg_int(i + 1).unwrap_or(0);
                if (a.eq_ignore_ascii_case(b"expansion") && next > 2)
                    || (a.eq_ignore_ascii_case(b"maxiterations") && next > 512)
                {
                    return false;
                }
                // CF.INSERT tells its options apart by their first letter ('c' = CAPACITY).
                if (n == b"cf.insert" || n == b"cf.insertnx")
                    && a.first().is_some_and(|c| c.eq_ignore_ascii_case(&b'c'))
                    && next > 4096
                {
                    return false;
                }
            }
            true
        }
        _ => true,
    }
}

/// Whether every SET/INCRBY of a BITFIELD writes below bit `max` (`#N` counted as N fields of
/// the widest type); the walk follows the command's own and stops where it would fail.
fn bitfield_writes_within(args: &[&[u8]], max: i64) -> bool {
    let mut j = 0;
    while j < args.len() {
        let step = match args[j].to_ascii_lowercase().as_slice() {
            b"get" => 3,
            b"set" | b"incrby" => 4,
            b"overflow" => 2,
            _ => return true,
        };
        if step == 4
            && let Some(off) = args.get(j + 2)
        {
            let (fields, digits) = match off.split_first() {
                Some((b'#', rest)) => (true, rest),
                _ => (false, &off[..]),
            };
            let bit = int(digits).map(|n| n.saturating_mul(if fields { 64 } else { 1 }));
            if bit.is_some_and(|b| b > max) {
                return false;
            }
        }
        j += step;
    }
    true
}
