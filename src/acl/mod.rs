//! Access control as Redis 7 has it: users with passwords, each allowed some commands, keys
//! and channels (`user`), named by categories derived from the command table (`catalog`);
//! the refusals' log (`log`); the users of this node (`Acl`), from the configuration or an
//! ACL file.
//!
//! Users are per node, as in Redis and Redis Cluster: they are configuration, not data, so
//! they never enter the AOF, snapshots or replication stream (password hashes stay out of
//! data files), and a node's users are whatever its config or ACL file says. A cluster gives
//! every node the same file (one ConfigMap, one volume) or runs ACL SETUSER on each.

pub mod catalog;
pub mod log;
pub mod user;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};

pub use log::{Context, Entry, Reason};
pub use user::{Denied, Refusal, User};

/// A user as clients hold it: its name and its current rules. ACL SETUSER replaces the rules
/// in place, so a change reaches the clients logged in as the user at their next command.
#[derive(Debug)]
pub struct UserCell {
    pub name: Vec<u8>,
    rules: ArcSwap<User>,
    /// The rules allow everything: the check is one load.
    open: AtomicBool,
    /// Bumped by every change: a client keeps the rules it last read while this stays.
    generation: AtomicU64,
}

impl UserCell {
    fn new(name: &[u8], user: User) -> Arc<UserCell> {
        Arc::new(UserCell {
            name: name.to_vec(),
            open: AtomicBool::new(user.unrestricted()),
            rules: ArcSwap::from_pointee(user),
            generation: AtomicU64::new(0),
        })
    }

    /// The current rules, without touching the shared count (every command of a restricted
    /// user reads them).
    pub fn rules(&self) -> arc_swap::Guard<Arc<User>> {
        self.rules.load()
    }

    #[inline]
    pub fn unrestricted(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    fn set(&self, user: User) {
        self.open.store(user.unrestricted(), Ordering::Relaxed);
        self.rules.store(Arc::new(user));
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current rules through a client's copy: refreshed only when they changed, so a
    /// command of a restricted user reads one shared counter and writes nothing shared.
    #[inline]
    pub fn cached<'a>(&self, copy: &'a mut Option<(u64, Arc<User>)>) -> &'a Arc<User> {
        let now = self.generation.load(Ordering::Acquire);
        if copy.as_ref().is_some_and(|(g, _)| *g != now) {
            *copy = None;
        }
        &copy.get_or_insert_with(|| (now, self.rules.load_full())).1
    }

    pub fn name_text(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// The largest ACL file read (a hostile or mistaken path must not fill memory).
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// The most users a node keeps.
pub const MAX_USERS: usize = 100_000;

/// What ACL SETUSER did: the user and its rules before (None for a new user).
#[derive(Debug)]
pub struct Changed {
    pub cell: Arc<UserCell>,
    pub before: Option<Arc<User>>,
}

/// The users of this node.
pub struct Acl {
    users: RwLock<BTreeMap<Vec<u8>, Arc<UserCell>>>,
    default: Arc<UserCell>,
    /// The default user is on and needs no password: clients need not AUTH.
    default_open: AtomicBool,
    log: Mutex<log::Log>,
    pub log_max: AtomicUsize,
    file: Option<PathBuf>,
}

/// Redis's `user` lines' checks: a name without spaces or NUL.
pub fn valid_name(name: &[u8]) -> bool {
    !name.iter().any(|&b| b.is_ascii_whitespace() || b == 0)
}

/// Applies `ACL SETUSER`-style rules to `user`, or says which one failed as Redis does.
pub fn apply_rules(user: &mut User, rules: &[&[u8]]) -> Result<(), String> {
    let merged = user::merge_selectors(rules).map_err(|i| {
        format!(
            "Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(rules[i])
        )
    })?;
    for op in &merged {
        user.apply(op).map_err(|e| {
            format!(
                "Error in ACL SETUSER modifier '{}': {}",
                String::from_utf8_lossy(op),
                e.text()
            )
        })?;
    }
    Ok(())
}

/// Parses `user <name> <rules...>` lines (an ACL file, or the config's `users`): every line's
/// error is reported, as Redis's ACL LOAD does, and none is applied unless all are good.
fn parse_lines(source: &str, text: &str) -> Result<Vec<(Vec<u8>, User)>, String> {
    let mut users: Vec<(Vec<u8>, User)> = Vec::new();
    let mut errors = String::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&[u8]> = line
            .split([' ', '\t'])
            .filter(|w| !w.is_empty())
            .map(str::as_bytes)
            .collect();
        if words.len() < 2 || words[0] != b"user" {
            errors.push_str(&format!(
                "{source}:{n} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = words[1];
        if users.iter().any(|(u, _)| u == name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {n}. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        let mut u = User::new();
        match apply_rules(&mut u, &words[2..]) {
            Ok(()) => users.push((name.to_vec(), u)),
            Err(e) => errors.push_str(&format!("{source}:{n}: {e}. ")),
        }
    }
    if users.len() > MAX_USERS {
        errors.push_str(&format!("{source}: more than {MAX_USERS} users. "));
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        Err(errors)
    }
}

impl Acl {
    /// The node's users: `default` (with `requirepass` as its password), then the config's
    /// `user` lines, then the ACL file (Redis refuses both together; so do we).
    pub fn new(
        requirepass: Option<&[u8]>,
        lines: &[String],
        file: Option<PathBuf>,
    ) -> Result<Acl, String> {
        let acl = Acl::base(requirepass, file);
        if !lines.is_empty() && acl.file.is_some() {
            return Err("users are given both in the configuration (security.users) and in an ACL file (security.acl_file): define them in one place".into());
        }
        if !lines.is_empty() {
            let text: Vec<String> = lines.iter().map(|l| format!("user {l}")).collect();
            let parsed = parse_lines("security.users", &text.join("\n"))?;
            acl.install(parsed, false);
        }
        if acl.file.is_some() {
            acl.load()?;
        }
        acl.refresh_default();
        Ok(acl)
    }

    /// Only `default`, with `requirepass` as its password.
    fn base(requirepass: Option<&[u8]>, file: Option<PathBuf>) -> Acl {
        let mut default = User::default_user();
        if let Some(p) = requirepass {
            let _ = default.apply(b"resetpass");
            let _ = default.apply(&[b">", p].concat());
        }
        let default = UserCell::new(b"default", default);
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), default.clone());
        let acl = Acl {
            default_open: AtomicBool::new(false),
            default,
            users: RwLock::new(users),
            log: Mutex::new(log::Log::default()),
            log_max: AtomicUsize::new(128),
            file,
        };
        acl.refresh_default();
        acl
    }

    /// The users a node's configuration gives.
    pub fn from_config(c: &crate::config::Config) -> Result<Acl, String> {
        let pass = c.security.requirepass.as_ref().map(|p| p.expose());
        Acl::new(pass, &c.security.users, c.security.acl_file.clone())
    }

    /// A node whose users could not be loaded: `default` is off, so nothing runs until an
    /// ACL LOAD succeeds.
    pub fn closed(file: Option<PathBuf>) -> Acl {
        let acl = Acl::base(None, file);
        acl.default.set(User::new());
        acl.refresh_default();
        acl
    }

    fn refresh_default(&self) {
        let d = self.default.rules();
        self.default_open
            .store(d.enabled && d.nopass, Ordering::Relaxed);
    }

    /// Whether a client must AUTH before other commands (the default user needs a
    /// password or is off).
    #[inline]
    pub fn auth_required(&self) -> bool {
        !self.default_open.load(Ordering::Relaxed)
    }

    pub fn default_user(&self) -> Arc<UserCell> {
        self.default.clone()
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<UserCell>> {
        self.users.read().get(name).cloned()
    }

    /// The user if it exists, is on and `pass` is one of its passwords.
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<Arc<UserCell>> {
        let cell = self.get(name)?;
        let u = cell.rules();
        (u.enabled && u.password_ok(pass)).then_some(cell)
    }

    /// `CONFIG SET requirepass`: the default user's only password, or none.
    pub fn set_default_password(&self, pass: Option<&[u8]>) {
        let mut u = User::clone(&self.default.rules());
        let _ = u.apply(b"resetpass");
        match pass {
            Some(p) => {
                let _ = u.apply(&[b">", p].concat());
            }
            None => {
                let _ = u.apply(b"nopass");
            }
        }
        self.default.set(u);
        self.refresh_default();
    }

    /// ACL SETUSER: all the rules apply, or none.
    pub fn set_user(&self, name: &[u8], rules: &[&[u8]]) -> Result<Changed, String> {
        if !valid_name(name) {
            return Err("Usernames can't contain spaces or null characters".into());
        }
        let existing = self.get(name);
        let mut u = existing
            .as_ref()
            .map_or_else(User::new, |c| User::clone(&c.rules()));
        apply_rules(&mut u, rules)?;
        let changed = match existing {
            Some(cell) => {
                let before = cell.rules.load_full();
                cell.set(u);
                Changed {
                    cell,
                    before: Some(before),
                }
            }
            None => {
                let mut users = self.users.write();
                if users.len() >= MAX_USERS {
                    return Err(format!("this node already has {MAX_USERS} users"));
                }
                let cell = users
                    .entry(name.to_vec())
                    .or_insert_with(|| UserCell::new(name, u))
                    .clone();
                Changed { cell, before: None }
            }
        };
        self.refresh_default();
        Ok(changed)
    }

    /// ACL DELUSER: the users removed (whose clients the caller disconnects).
    pub fn delete(&self, names: &[&[u8]]) -> Result<Vec<Arc<UserCell>>, String> {
        if names.iter().any(|n| *n == b"default") {
            return Err("The 'default' user cannot be removed".into());
        }
        let mut users = self.users.write();
        let gone: Vec<_> = names.iter().filter_map(|n| users.remove(*n)).collect();
        drop(users);
        for cell in &gone {
            // A client still holding it can do nothing until it is disconnected.
            cell.set(User::new());
        }
        Ok(gone)
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<UserCell>> {
        self.users.read().values().cloned().collect()
    }

    /// ACL LIST's lines (and the ACL file's).
    pub fn list(&self) -> Vec<String> {
        self.users()
            .iter()
            .map(|c| format!("user {} {}", c.name_text(), c.rules().describe()))
            .collect()
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Puts parsed users in place: existing ones keep their cell (their clients see the new
    /// rules), new ones are added; returns the users that are gone.
    /// `fresh_default`: a list without `default` resets it (ACL LOAD, as Redis); otherwise
    /// it is kept (the config's users, beside `requirepass`).
    fn install(&self, parsed: Vec<(Vec<u8>, User)>, fresh_default: bool) -> Vec<Arc<UserCell>> {
        let mut users = self.users.write();
        let mut keep: BTreeMap<Vec<u8>, Arc<UserCell>> = BTreeMap::new();
        let mut has_default = false;
        for (name, u) in parsed {
            has_default |= name == b"default";
            let cell = match users.remove(&name) {
                Some(c) => {
                    c.set(u);
                    c
                }
                None => UserCell::new(&name, u),
            };
            keep.insert(name, cell);
        }
        if !has_default {
            if fresh_default {
                self.default.set(User::default_user());
            }
            users.remove(&b"default"[..]);
            keep.insert(b"default".to_vec(), self.default.clone());
        }
        let gone: Vec<_> = std::mem::replace(&mut *users, keep).into_values().collect();
        drop(users);
        for cell in &gone {
            cell.set(User::new());
        }
        self.refresh_default();
        gone
    }

    /// Back to a fresh node's users: `default` allowed everything without a password, no
    /// other (the fuzz harness runs every input on a clean node).
    pub fn reset(&self) {
        self.install(Vec::new(), true);
        self.log_reset();
    }

    /// ACL LOAD: the file replaces every user, or nothing changes (every error reported).
    pub fn load(&self) -> Result<Vec<Arc<UserCell>>, String> {
        let Some(path) = &self.file else {
            return Err(NO_FILE.into());
        };
        let shown = path.display().to_string();
        let text = read_limited(path)
            .map_err(|e| format!("Error loading ACLs, opening file '{shown}': {e}"))?;
        let parsed = parse_lines(&shown, &text).map_err(|e| {
            format!("{e}WARNING: ACL errors detected, no change to the previously active ACL rules was performed")
        })?;
        Ok(self.install(parsed, true))
    }

    /// ACL SAVE: every user to the file, written aside and renamed over it.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.file else {
            return Err(std::io::Error::other(NO_FILE));
        };
        let mut text = self.list().join("\n");
        text.push('\n');
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let r = (|| {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r
    }

    pub fn log_add(&self, e: Entry) {
        let max = self.log_max.load(Ordering::Relaxed);
        self.log.lock().add(e, max);
    }

    pub fn log_recent(&self, n: usize) -> Vec<Entry> {
        self.log.lock().recent(n)
    }

    pub fn log_reset(&self) {
        self.log.lock().reset();
    }

    pub fn set_log_max(&self, max: usize) {
        self.log_max.store(max, Ordering::Relaxed);
        self.log.lock().truncate(max);
    }
}

pub const NO_FILE: &str = "This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut text = String::new();
    let n = f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if n as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirepass_is_the_default_users_password() {
        let acl = Acl::new(None, &[], None).unwrap();
        assert!(!acl.auth_required());
        acl.set_default_password(Some(b"pw"));
        assert!(acl.auth_required());
        assert!(acl.authenticate(b"default", b"pw").is_some());
        assert!(acl.authenticate(b"default", b"no").is_none());
        acl.set_default_password(None);
        assert!(!acl.auth_required());
        let acl = Acl::new(Some(b"s3"), &[], None).unwrap();
        assert!(acl.auth_required() && acl.authenticate(b"default", b"s3").is_some());
    }

    #[test]
    fn setuser_is_all_or_nothing_and_deluser_spares_default() {
        let acl = Acl::new(None, &[], None).unwrap();
        let c = acl.set_user(b"alice", &[b"on", b">pw", b"+get"]).unwrap();
        assert!(c.before.is_none());
        let e = acl.set_user(b"alice", &[b"+set", b"+nosuch"]).unwrap_err();
        assert_eq!(
            e,
            "Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
        );
        assert_eq!(
            acl.get(b"alice")
                .unwrap()
                .rules()
                .root()
                .describe_commands(),
            "-@all +get"
        );
        assert!(acl.authenticate(b"alice", b"pw").is_some());
        assert!(acl.set_user(b"a b", &[]).is_err());
        assert!(acl.delete(&[b"default"]).is_err());
        let gone = acl.delete(&[b"alice", b"nobody"]).unwrap();
        assert_eq!(gone.len(), 1);
        assert!(!gone[0].rules().enabled);
        assert!(acl.authenticate(b"alice", b"pw").is_none());
    }

    #[test]
    fn files_load_whole_or_not_at_all_and_save_round_trips() {
        let dir = std::env::temp_dir().join(format!("hc-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.acl");
        std::fs::write(
            &path,
            "# team\nuser app on >pw ~app:* +@read\n\nuser default on nopass ~* &* +@all\n",
        )
        .unwrap();
        let acl = Acl::new(None, &[], Some(path.clone())).unwrap();
        let app = acl.get(b"app").unwrap();
        assert!(acl.authenticate(b"app", b"pw").is_some());
        std::fs::write(&path, "user app on >pw +nosuch\nfoo bar\n").unwrap();
        let e = acl.load().unwrap_err();
        assert!(
            e.contains(":1: Error in ACL SETUSER modifier '+nosuch'"),
            "{e}"
        );
        assert!(e.contains(":2 should start with user keyword"), "{e}");
        assert!(e.ends_with("no change to the previously active ACL rules was performed"));
        assert!(acl.authenticate(b"app", b"pw").is_some());
        acl.set_user(b"ops", &[b"on", b"nopass", b"+@admin"])
            .unwrap();
        acl.save().unwrap();
        let saved = std::fs::read_to_string(&path).unwrap();
        assert_eq!(saved.lines().count(), 3, "{saved}");
        // Loading it back keeps the cells (and so the clients) of the users still there.
        acl.load().unwrap();
        assert!(Arc::ptr_eq(&app, &acl.get(b"app").unwrap()));
        assert_eq!(
            acl.list(),
            saved.lines().map(str::to_string).collect::<Vec<_>>()
        );
        assert!(Acl::new(None, &["user x on".into()], Some(path)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
