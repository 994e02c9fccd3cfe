//! A user and its selectors as Redis 7 defines them: the rules `ACL SETUSER` applies, the
//! check of a call against them, and the description `ACL LIST` prints. No I/O: tested in
//! memory.

use sha2::{Digest, Sha256};

use super::catalog::{self, READ, WRITE};
use crate::command::table::{self, Command};
use crate::resp::Args;
use crate::util::glob::glob_match;

/// Why a call was refused, ordered as Redis ranks them when no selector allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Command,
    Key,
    Channel,
}

/// A refusal and the argument it is about (the key or channel; 0 for the command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub denied: Denied,
    pub arg: usize,
}

/// A rule `ACL SETUSER` could not apply (Redis's `ACLSetUserStringError` texts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    Unknown,
    Syntax,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
}

impl RuleError {
    pub fn text(&self) -> &'static str {
        match self {
            RuleError::Unknown => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeysAfterAll => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            RuleError::ChannelsAfterAll => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
            }
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
            }
            RuleError::FirstArgOfSubcommand => {
                "Allowing first-arg of a subcommand is not supported"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyPattern {
    pattern: Vec<u8>,
    perm: u8,
    shape: Shape,
}

/// How a pattern is matched: most are a literal or a literal prefix (`app:*`), compared
/// without the glob matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Exact,
    Prefix,
    Glob,
}

impl KeyPattern {
    fn new(pattern: &[u8], perm: u8) -> KeyPattern {
        let special = |b: &u8| b"*?[\\".contains(b);
        let shape = match pattern.split_last() {
            _ if !pattern.iter().any(special) => Shape::Exact,
            Some((b'*', head)) if !head.iter().any(special) => Shape::Prefix,
            _ => Shape::Glob,
        };
        KeyPattern {
            pattern: pattern.to_vec(),
            perm,
            shape,
        }
    }

    #[inline]
    fn matches(&self, key: &[u8]) -> bool {
        match self.shape {
            Shape::Exact => key == self.pattern,
            // As Redis's glob, `*` does not match the empty key.
            Shape::Prefix => {
                !key.is_empty() && key.starts_with(&self.pattern[..self.pattern.len() - 1])
            }
            Shape::Glob => glob_match(&self.pattern, key, false),
        }
    }
}

/// What one selector allows: commands (a bit per command id), keys and channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    allowed: Vec<u64>,
    /// Every command allowed: the bits need not be read (cleared by any removal).
    all_commands: bool,
    /// Started from `+@all` (commands added later are allowed too): the description starts
    /// with it, as Redis's "future commands" bit.
    future: bool,
    /// Commands allowed only with one of these first arguments (`+select|0`).
    first_args: Vec<(usize, Vec<Vec<u8>>)>,
    /// `None`: every key.
    keys: Option<Vec<KeyPattern>>,
    /// `None`: every channel.
    channels: Option<Vec<Vec<u8>>>,
    /// The command rules as given, each command's last one kept (Redis 7.2's description,
    /// which reads back as the user wrote it).
    rules: Vec<String>,
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&b| b.is_ascii_whitespace() || b == 0)
}

impl Selector {
    fn empty() -> Selector {
        Selector {
            allowed: vec![0; catalog::count().div_ceil(64)],
            all_commands: false,
            future: false,
            first_args: Vec::new(),
            keys: Some(Vec::new()),
            channels: Some(Vec::new()),
            rules: Vec::new(),
        }
    }

    fn allows_id(&self, id: usize) -> bool {
        self.allowed
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn set_id(&mut self, id: usize, on: bool) {
        if let Some(w) = self.allowed.get_mut(id / 64) {
            if on {
                *w |= 1 << (id % 64);
            } else {
                *w &= !(1 << (id % 64));
                self.all_commands = false;
            }
        }
    }

    /// Everything allowed: the check can be skipped.
    pub fn unrestricted(&self) -> bool {
        self.all_commands
            && self.keys.is_none()
            && self.channels.is_none()
            && self.allowed.iter().all(|w| *w == u64::MAX)
    }

    fn note_rule(&mut self, sign: char, name: &str) {
        let name = name.to_ascii_lowercase();
        self.rules.retain(|r| r[1..] != name);
        self.rules.push(format!("{sign}{name}"));
    }

    fn set_command(&mut self, cmd: &'static Command, on: bool) {
        catalog::with_subcommands(cmd, |id| {
            self.set_id(id, on);
            self.first_args.retain(|(i, _)| *i != id);
        });
    }

    /// One rule of a selector (everything but the user's own flags and passwords).
    fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || is("~*") {
            self.keys = None;
        } else if is("resetkeys") {
            self.keys = Some(Vec::new());
        } else if is("allchannels") || is("&*") {
            self.channels = None;
        } else if is("resetchannels") {
            self.channels = Some(Vec::new());
        } else if is("allcommands") || is("+@all") {
            self.allowed.iter_mut().for_each(|w| *w = u64::MAX);
            self.all_commands = true;
            self.future = true;
            self.first_args.clear();
            self.rules.clear();
        } else if is("nocommands") || is("-@all") {
            self.allowed.iter_mut().for_each(|w| *w = 0);
            self.all_commands = false;
            self.future = false;
            self.first_args.clear();
            self.rules.clear();
        } else if op[0] == b'~' || op[0] == b'%' {
            let Some(keys) = &mut self.keys else {
                return Err(RuleError::KeysAfterAll);
            };
            let (perm, at) = if op[0] == b'%' {
                let mut perm = 0;
                let mut at = None;
                for (i, &c) in op.iter().enumerate().skip(1) {
                    match c.to_ascii_uppercase() {
                        b'R' if perm & READ == 0 => perm |= READ,
                        b'W' if perm & WRITE == 0 => perm |= WRITE,
                        b'~' => {
                            at = Some(i + 1);
                            break;
                        }
                        _ => return Err(RuleError::Syntax),
                    }
                }
                // `%R` without `~`: Redis reads it as a pattern of nothing.
                (perm, at.unwrap_or(op.len()))
            } else {
                (READ | WRITE, 1)
            };
            let pattern = &op[at..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match keys.iter_mut().find(|k| k.pattern == pattern) {
                Some(k) => k.perm |= perm,
                None => keys.push(KeyPattern::new(pattern, perm)),
            }
        } else if op[0] == b'&' {
            let Some(channels) = &mut self.channels else {
                return Err(RuleError::ChannelsAfterAll);
            };
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !channels.iter().any(|c| c == pattern) {
                channels.push(pattern.to_vec());
            }
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let cat = catalog::category(&op[2..]).ok_or(RuleError::Unknown)?;
            let on = op[0] == b'+';
            let mut ids = Vec::new();
            catalog::in_category(cat, |id| ids.push(id));
            for id in ids {
                self.set_id(id, on);
                self.first_args.retain(|(i, _)| *i != id);
            }
            self.note_rule(op[0] as char, &String::from_utf8_lossy(&op[1..]));
        } else if op[0] == b'+' {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let cmd = catalog::lookup(name).ok_or(RuleError::Unknown)?;
                    self.set_command(cmd, true);
                }
                Some(at) => {
                    let parent = catalog::lookup(&name[..at]).ok_or(RuleError::Unknown)?;
                    let sub = &name[at + 1..];
                    if table::parent_of(parent).is_some() {
                        return Err(RuleError::FirstArgOfSubcommand);
                    }
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if parent.is_container() {
                        let cmd = table::lookup_sub(parent, sub).ok_or(RuleError::Unknown)?;
                        self.set_command(cmd, true);
                    } else {
                        // A first argument of a plain command (deprecated in Redis, kept).
                        let id = catalog::id(parent);
                        let sub = sub.to_ascii_lowercase();
                        match self.first_args.iter_mut().find(|(i, _)| *i == id) {
                            Some((_, subs)) if !subs.contains(&sub) => subs.push(sub),
                            Some(_) => {}
                            None => self.first_args.push((id, vec![sub])),
                        }
                    }
                }
            }
            self.note_rule('+', &String::from_utf8_lossy(name));
        } else if op[0] == b'-' {
            let name = &op[1..];
            let cmd = catalog::lookup(name).ok_or(RuleError::Unknown)?;
            self.set_command(cmd, false);
            self.note_rule('-', &String::from_utf8_lossy(name));
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// Whether the selector allows the call: the command, then every key, then every
    /// channel.
    fn check(
        &self,
        cmd: &'static Command,
        id: usize,
        args: &Args<'_>,
        channels: &[(usize, bool)],
    ) -> Result<(), Refusal> {
        if !self.all_commands && !cmd.has(table::NO_AUTH) && !self.allows_id(id) {
            // A first argument allowed (`+select|0`): the argument after the name.
            let at = if table::parent_of(cmd).is_some() {
                2
            } else {
                1
            };
            let ok = args.len() > at
                && self.first_args.iter().any(|(i, subs)| {
                    *i == id && subs.iter().any(|s| s.eq_ignore_ascii_case(&args[at]))
                });
            if !ok {
                return Err(Refusal {
                    denied: Denied::Command,
                    arg: 0,
                });
            }
        }
        if let Some(patterns) = &self.keys {
            let mut refused = None;
            catalog::each_key(cmd, id, args, |i, need| {
                let key = &args[i];
                let ok = patterns
                    .iter()
                    .any(|p| p.perm & need == need && p.matches(key));
                if !ok {
                    refused = Some(i);
                }
                ok
            });
            if let Some(arg) = refused {
                return Err(Refusal {
                    denied: Denied::Key,
                    arg,
                });
            }
        }
        if let Some(allowed) = &self.channels {
            for &(i, pattern) in channels {
                if !channel_allowed(allowed, &args[i], pattern) {
                    return Err(Refusal {
                        denied: Denied::Channel,
                        arg: i,
                    });
                }
            }
        }
        Ok(())
    }

    fn describe_keys(&self, out: &mut String) {
        match &self.keys {
            None => out.push_str("~*"),
            Some(keys) => {
                let parts: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        let prefix = match k.perm {
                            READ => "%R~",
                            WRITE => "%W~",
                            _ => "~",
                        };
                        format!("{prefix}{}", String::from_utf8_lossy(&k.pattern))
                    })
                    .collect();
                out.push_str(&parts.join(" "));
            }
        }
    }

    fn describe_channels(&self, out: &mut String) {
        match &self.channels {
            None => out.push_str("&*"),
            Some(chans) => {
                let parts: Vec<String> = chans
                    .iter()
                    .map(|c| format!("&{}", String::from_utf8_lossy(c)))
                    .collect();
                out.push_str(&parts.join(" "));
            }
        }
    }

    /// The command rules: `+@all` or `-@all`, then the rules given since.
    pub fn describe_commands(&self) -> String {
        let mut s = String::from(if self.future { "+@all" } else { "-@all" });
        for r in &self.rules {
            s.push(' ');
            s.push_str(r);
        }
        s
    }

    /// GETUSER's `keys` field.
    pub fn keys_text(&self) -> String {
        let mut s = String::new();
        self.describe_keys(&mut s);
        s
    }

    /// GETUSER's `channels` field.
    pub fn channels_text(&self) -> String {
        let mut s = String::new();
        self.describe_channels(&mut s);
        s
    }

    /// As `ACL LIST` prints a selector: keys, channels, commands.
    fn describe(&self) -> String {
        let mut s = String::new();
        if self.keys.as_ref().is_none_or(|k| !k.is_empty()) {
            self.describe_keys(&mut s);
            s.push(' ');
        }
        if self.channels.is_some() {
            s.push_str("resetchannels ");
        }
        if self.channels.as_ref().is_none_or(|c| !c.is_empty()) {
            self.describe_channels(&mut s);
            s.push(' ');
        }
        s.push_str(&self.describe_commands());
        s
    }

    /// The channels of a subscriber this selector still allows (for killing the others).
    pub fn channel_list(&self) -> Option<&[Vec<u8>]> {
        self.channels.as_deref()
    }
}

/// A channel against a list: a pattern (PSUBSCRIBE) must be one of the list as written; a
/// channel must match one of them.
pub fn channel_allowed(list: &[Vec<u8>], channel: &[u8], pattern: bool) -> bool {
    list.iter().any(|p| {
        if pattern {
            p.as_slice() == channel
        } else {
            glob_match(p, channel, false)
        }
    })
}

/// A user's rules: flags, passwords (SHA-256, hex) and selectors (the root first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub enabled: bool,
    pub nopass: bool,
    /// `sanitize-payload` (Some(true)) or `skip-sanitize-payload` (Some(false)).
    pub sanitize: Option<bool>,
    pub passwords: Vec<String>,
    pub selectors: Vec<Selector>,
}

/// SHA-256 of a password, as lower-case hex (how Redis stores and shows it).
pub fn hash_password(pass: &[u8]) -> String {
    crate::util::hex::hex(&Sha256::digest(pass))
}

/// The hash a password rule names: `>pw`/`<pw` give the password, `#hex`/`!hex` its hash.
fn password_rule(op: &[u8]) -> Result<String, RuleError> {
    let rest = &op[1..];
    if op[0] == b'>' || op[0] == b'<' {
        Ok(hash_password(rest))
    } else if valid_hash(rest) {
        Ok(String::from_utf8_lossy(rest).into_owned())
    } else {
        Err(RuleError::BadHash)
    }
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64
        && h.iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

impl User {
    /// A user `ACL SETUSER` creates: off, no password, nothing allowed.
    pub fn new() -> User {
        User {
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::empty()],
        }
    }

    /// The `default` user of a fresh node: everything, no password.
    pub fn default_user() -> User {
        let mut u = User::new();
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            // Fixed rules, all valid.
            let _ = u.apply(op.as_bytes());
        }
        u
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// Root selector allows everything and there is no other: no check is needed.
    pub fn unrestricted(&self) -> bool {
        self.selectors.len() == 1 && self.root().unrestricted()
    }

    /// Applies one rule (an argument of ACL SETUSER; a selector is one `(...)` argument).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Some(false);
        } else if is("sanitize-payload") {
            self.sanitize = Some(true);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = password_rule(op)?;
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = password_rule(op)?;
            let before = self.passwords.len();
            self.passwords.retain(|p| *p != hash);
            if self.passwords.len() == before {
                return Err(RuleError::NoSuchPassword);
            }
        } else if op[0] == b'(' && op.len() > 1 && op[op.len() - 1] == b')' {
            let mut s = Selector::empty();
            for word in op[1..op.len() - 1]
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
            {
                s.apply(word)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for op in [
                "resetpass",
                "resetkeys",
                "resetchannels",
                "off",
                "sanitize-payload",
                "clearselectors",
                "-@all",
            ] {
                self.apply(op.as_bytes())?;
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// Whether `pass` is one of the user's passwords (or it has none to check).
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let given = hash_password(pass);
        self.passwords.iter().fold(false, |ok, p| {
            ok | constant_time_eq(p.as_bytes(), given.as_bytes())
        })
    }

    /// Checks a call: allowed when any selector allows all of it; else the most telling
    /// refusal (Redis's order: channel over key over command, then the later argument).
    pub fn check(&self, cmd: &'static Command, args: &Args<'_>) -> Result<(), Refusal> {
        let id = catalog::id(cmd);
        let mut channels = Vec::new();
        if catalog::info(id).channels {
            catalog::channels(cmd, args, &mut channels);
        }
        let mut worst: Option<Refusal> = None;
        for s in &self.selectors {
            match s.check(cmd, id, args, &channels) {
                Ok(()) => return Ok(()),
                Err(r) => {
                    if worst.is_none_or(|w| (r.denied, r.arg) > (w.denied, w.arg)) {
                        worst = Some(r);
                    }
                }
            }
        }
        Err(worst.unwrap_or(Refusal {
            denied: Denied::Command,
            arg: 0,
        }))
    }

    /// Whether a selector that allows the call also allows reading every key (SORT's BY and
    /// GET).
    pub fn reads_every_key(&self, cmd: &'static Command, args: &Args<'_>) -> bool {
        let id = catalog::id(cmd);
        self.selectors.iter().any(|s| {
            s.check(cmd, id, args, &[]).is_ok()
                && s.keys.as_ref().is_none_or(|k| {
                    k.iter()
                        .any(|p| p.perm & READ != 0 && p.pattern.as_slice() == b"*")
                })
        })
    }

    /// Whether some selector allows `channel` (`pattern`: as PSUBSCRIBE gave it): a
    /// subscriber keeps it after its user changed.
    pub fn channel_ok(&self, channel: &[u8], pattern: bool) -> bool {
        self.selectors.iter().any(|s| match &s.channels {
            None => true,
            Some(list) => channel_allowed(list, channel, pattern),
        })
    }

    /// Whether some selector allows every channel.
    pub fn all_channels(&self) -> bool {
        self.selectors.iter().any(|s| s.channels.is_none())
    }

    /// The user as `ACL LIST` shows it, after `user <name> `.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        s.push_str(if self.enabled { "on " } else { "off " });
        if self.nopass {
            s.push_str("nopass ");
        }
        match self.sanitize {
            Some(false) => s.push_str("skip-sanitize-payload "),
            Some(true) => s.push_str("sanitize-payload "),
            None => {}
        }
        for p in &self.passwords {
            s.push('#');
            s.push_str(p);
            s.push(' ');
        }
        s.push_str(&self.root().describe());
        for sel in &self.selectors[1..] {
            s.push_str(" (");
            s.push_str(&sel.describe());
            s.push(')');
        }
        s
    }

    /// The flags GETUSER lists, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }
}

impl Default for User {
    fn default() -> Self {
        User::new()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Joins `ACL SETUSER`'s arguments that a selector spans (`(~x` `+get)`) into one, as
/// Redis does; `Err(i)`: the selector opened at argument `i` is never closed.
pub fn merge_selectors(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, a) in args.iter().enumerate() {
        match &mut open {
            None if a.first() == Some(&b'(') && a.last() != Some(&b')') => {
                open = Some((i, a.to_vec()));
            }
            None => out.push(a.to_vec()),
            Some((_, sel)) => {
                sel.push(b' ');
                sel.extend_from_slice(a);
                if a.last() == Some(&b')')
                    && let Some((_, sel)) = open.take()
                {
                    out.push(sel);
                }
            }
        }
    }
    match open {
        Some((i, _)) => Err(i),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::OwnedArgs;

    fn user(rules: &[&str]) -> User {
        let mut u = User::new();
        for r in rules {
            u.apply(r.as_bytes()).unwrap();
        }
        u
    }

    fn check(u: &User, call: &[&str]) -> Result<(), Refusal> {
        let owned = OwnedArgs::of(call.iter().map(|s| s.as_bytes()));
        let args = owned.args();
        let mut cmd = table::lookup(&args[0]).unwrap();
        if cmd.is_container() {
            cmd = table::lookup_sub(cmd, &args[1]).unwrap();
        }
        u.check(cmd, &args)
    }

    fn denied(u: &User, call: &[&str]) -> Denied {
        check(u, call).unwrap_err().denied
    }

    #[test]
    fn describes_as_redis_lists_it() {
        let u = user(&[
            "on", ">pw", "~cache:*", "%R~ro:*", "&news", "+@read", "+set",
        ]);
        assert_eq!(
            u.describe(),
            format!(
                "on #{} ~cache:* %R~ro:* resetchannels &news -@all +@read +set",
                hash_password(b"pw")
            )
        );
        assert_eq!(User::default_user().describe(), "on nopass ~* &* +@all");
        assert_eq!(User::new().describe(), "off resetchannels -@all");
        let mut r = User::default_user();
        r.apply(b"reset").unwrap();
        assert_eq!(r.describe(), "off sanitize-payload resetchannels -@all");
        let s = user(&["(~x +get)"]);
        assert_eq!(
            s.describe(),
            "off resetchannels -@all (~x resetchannels -@all +get)"
        );
        // A command's later rule replaces its earlier one.
        let u = user(&["+get", "+set", "-get"]);
        assert_eq!(u.root().describe_commands(), "-@all +set -get");
    }

    #[test]
    fn commands_categories_and_subcommands() {
        let u = user(&["allkeys", "+@read", "-strlen", "+config|get", "+select|0"]);
        assert!(check(&u, &["get", "k"]).is_ok());
        assert_eq!(denied(&u, &["strlen", "k"]), Denied::Command);
        assert_eq!(denied(&u, &["set", "k", "v"]), Denied::Command);
        assert!(check(&u, &["config", "get", "maxmemory"]).is_ok());
        assert_eq!(
            denied(&u, &["config", "set", "maxmemory", "1"]),
            Denied::Command
        );
        assert!(check(&u, &["select", "0"]).is_ok());
        assert_eq!(denied(&u, &["select", "1"]), Denied::Command);
        // NO_AUTH commands (AUTH, HELLO) are always allowed.
        assert!(check(&u, &["auth", "a", "b"]).is_ok());
        // A whole container: all of its subcommands.
        // Removing from +@all: the rest still allowed, the removed not.
        let d = user(&["allkeys", "+@all", "-@dangerous"]);
        assert_eq!(denied(&d, &["flushall"]), Denied::Command);
        assert!(check(&d, &["get", "k"]).is_ok());
        assert_eq!(d.root().describe_commands(), "+@all -@dangerous");
        let c = user(&["allkeys", "+config", "-config|set"]);
        assert!(check(&c, &["config", "resetstat"]).is_ok());
        assert_eq!(denied(&c, &["config", "set", "a", "b"]), Denied::Command);
        let mut e = User::new();
        assert_eq!(e.apply(b"+nosuch"), Err(RuleError::Unknown));
        assert_eq!(e.apply(b"+@nosuch"), Err(RuleError::Unknown));
        assert_eq!(e.apply(b"bogus"), Err(RuleError::Syntax));
        assert_eq!(e.apply(b"+config|"), Err(RuleError::Syntax));
        assert_eq!(
            e.apply(b"+config|get|x"),
            Err(RuleError::FirstArgOfSubcommand)
        );
    }

    #[test]
    fn key_patterns_with_read_and_write() {
        let u = user(&["+@all", "~app:*", "%R~ro:*", "%W~wo:*"]);
        assert!(check(&u, &["get", "app:1"]).is_ok());
        assert!(check(&u, &["get", "ro:1"]).is_ok());
        assert_eq!(denied(&u, &["set", "ro:1", "v"]), Denied::Key);
        assert!(check(&u, &["set", "wo:1", "v"]).is_ok());
        assert_eq!(denied(&u, &["get", "wo:1"]), Denied::Key);
        // INCR reads and writes; SET ... GET reads too.
        assert_eq!(denied(&u, &["incr", "wo:1"]), Denied::Key);
        assert_eq!(denied(&u, &["set", "wo:1", "v", "get"]), Denied::Key);
        // Metadata needs any matching pattern; an unmatched key none.
        assert!(check(&u, &["exists", "wo:1"]).is_ok());
        assert_eq!(denied(&u, &["exists", "other"]), Denied::Key);
        // The refusal names the first key refused.
        let r = check(&u, &["mget", "app:1", "x", "y"]).unwrap_err();
        assert_eq!(
            r,
            Refusal {
                denied: Denied::Key,
                arg: 2
            }
        );
        // Store commands: the destination written, the sources read.
        assert!(check(&u, &["sunionstore", "wo:d", "ro:a", "app:b"]).is_ok());
        assert_eq!(denied(&u, &["sunionstore", "ro:d", "ro:a"]), Denied::Key);
        assert_eq!(denied(&u, &["sort", "ro:a", "store", "ro:b"]), Denied::Key);
        let mut e = user(&["~*"]);
        assert_eq!(e.apply(b"~x"), Err(RuleError::KeysAfterAll));
        assert_eq!(User::new().apply(b"%X~x"), Err(RuleError::Syntax));
    }

    #[test]
    fn literal_and_prefix_patterns_match_as_the_glob_does() {
        for (pattern, key) in [
            ("app:*", "app:1"),
            ("app:*", "app:"),
            ("app:*", "ap"),
            ("app:*", "xapp:1"),
            ("exact", "exact"),
            ("exact", "exact1"),
            ("a?c*", "abcd"),
            ("a\\*", "a*"),
            ("*", ""),
            ("[ab]*", "b1"),
        ] {
            let p = KeyPattern::new(pattern.as_bytes(), READ);
            assert_eq!(
                p.matches(key.as_bytes()),
                glob_match(pattern.as_bytes(), key.as_bytes(), false),
                "{pattern} {key}"
            );
        }
        assert_eq!(KeyPattern::new(b"app:*", READ).shape, Shape::Prefix);
        assert_eq!(KeyPattern::new(b"app", READ).shape, Shape::Exact);
        assert_eq!(KeyPattern::new(b"a?*", READ).shape, Shape::Glob);
    }

    #[test]
    fn channels_and_patterns() {
        let u = user(&["+@all", "allkeys", "&news.*"]);
        assert!(check(&u, &["publish", "news.tech", "m"]).is_ok());
        assert_eq!(denied(&u, &["publish", "sport", "m"]), Denied::Channel);
        assert!(check(&u, &["subscribe", "news.a", "news.b"]).is_ok());
        // A pattern must be one the user was given, as written.
        assert!(check(&u, &["psubscribe", "news.*"]).is_ok());
        assert_eq!(denied(&u, &["psubscribe", "news.t*"]), Denied::Channel);
        let mut e = user(&["&*"]);
        assert_eq!(e.apply(b"&x"), Err(RuleError::ChannelsAfterAll));
    }

    #[test]
    fn selectors_allow_what_the_root_does_not() {
        let u = user(&["+get", "~a*", "(+set ~b*)"]);
        assert!(check(&u, &["get", "a1"]).is_ok());
        assert!(check(&u, &["set", "b1", "v"]).is_ok());
        // Neither selector allows all of it: the key refusal ranks over the command's.
        assert_eq!(denied(&u, &["set", "a1", "v"]), Denied::Key);
        assert_eq!(denied(&u, &["del", "a1"]), Denied::Command);
        let mut c = u.clone();
        c.apply(b"clearselectors").unwrap();
        assert_eq!(c.selectors.len(), 1);
    }

    #[test]
    fn passwords_by_text_and_hash() {
        let mut u = user(&[">one", &format!("#{}", hash_password(b"two"))]);
        assert!(u.password_ok(b"one") && u.password_ok(b"two") && !u.password_ok(b"x"));
        u.apply(b"<one").unwrap();
        assert!(!u.password_ok(b"one"));
        assert_eq!(u.apply(b"<one"), Err(RuleError::NoSuchPassword));
        assert_eq!(u.apply(b"#ABC"), Err(RuleError::BadHash));
        u.apply(b"nopass").unwrap();
        assert!(u.password_ok(b"anything") && u.passwords.is_empty());
    }

    #[test]
    fn merges_selector_arguments() {
        let args: Vec<&[u8]> = vec![b"on", b"(~x", b"+get)", b"(+set)"];
        assert_eq!(
            merge_selectors(&args).unwrap(),
            vec![b"on".to_vec(), b"(~x +get)".to_vec(), b"(+set)".to_vec()]
        );
        assert_eq!(merge_selectors(&[b"on", b"(~x"]), Err(1));
    }
}
