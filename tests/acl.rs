//! ACL against the real binary: the replies compared byte for byte with a real redis-server,
//! each kind of rule with the `redis` crate and with redis-py, users from the configuration
//! and from an ACL file, the log, and a cluster whose default user is off.

mod common;

use std::time::Duration;

use common::cluster::TestCluster;
use common::{Raw, Reference, Server, python, wait_until};
use redis::{Commands, Value};

fn as_user(s: &Server, user: &str, pass: &str) -> redis::Connection {
    redis::Client::open(format!("redis://{user}:{pass}@{}/", s.addr))
        .unwrap()
        .get_connection()
        .unwrap()
}

#[track_caller]
fn err_text(r: redis::RedisResult<Value>) -> String {
    match r {
        Err(e) => {
            let code = e.code().unwrap_or("");
            format!("{code} {}", e.detail().unwrap_or(""))
                .trim()
                .to_string()
        }
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

fn run(c: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
}

/// The same script to redis-server and to us, on one connection each: every reply must be
/// the same bytes. What Redis orders by its hash tables (ACL CAT <category>, several single
/// commands in a user's description) is left to the other tests.
#[test]
fn acl_replies_match_redis_byte_for_byte() {
    let redis = Reference::start();
    let hc = Server::start();
    let mut want = Raw::connect(redis.addr);
    let mut got = Raw::connect(hc.addr);
    let script: &[&[&str]] = &[
        &[
            "ACL", "SETUSER", "alice", "on", ">pw", "~cache:*", "%R~ro:*", "&news", "+@read",
            "+set", "+eval",
        ],
        &["ACL", "SETUSER", "alice", "+multi", "+exec", "+sort"],
        &["ACL", "SETUSER", "bob", "(~x", "+get)"],
        &["ACL", "SETUSER", "bob", "(~x"],
        &["ACL", "SETUSER", "bob", "badrule"],
        &["ACL", "SETUSER", "bob", "+nosuch"],
        &["ACL", "SETUSER", "bob", "-@nosuch"],
        &["ACL", "SETUSER", "bob", "+config|get|x"],
        &["ACL", "SETUSER", "bob", "+config|"],
        &["ACL", "SETUSER", "bob", "%X~a"],
        &["ACL", "SETUSER", "bob", "#ABC"],
        &["ACL", "SETUSER", "bob", "<nothere"],
        &["ACL", "SETUSER", "bob", "~*", "~x"],
        &["ACL", "SETUSER", "bob", "&*", "&x"],
        &["ACL", "SETUSER", "a b"],
        &[
            "ACL", "SETUSER", "hashuser", "on", "nopass", "+@hash", "~h:*",
        ],
        &["ACL", "GETUSER", "hashuser"],
        &["ACL", "GETUSER", "nobody"],
        &[
            "ACL",
            "SETUSER",
            "sel",
            "on",
            "+get",
            "~a*",
            "(+set ~b* &c)",
        ],
        &["ACL", "GETUSER", "sel"],
        &["ACL", "USERS"],
        &["ACL", "WHOAMI"],
        &["ACL", "CAT", "nosuch"],
        &["ACL", "DELUSER", "default"],
        &["ACL", "DRYRUN", "alice", "set", "ro:1", "x"],
        &["ACL", "DRYRUN", "alice", "flushall"],
        &["ACL", "DRYRUN", "alice", "get", "cache:1"],
        &["ACL", "DRYRUN", "alice", "publish", "sport", "m"],
        &["ACL", "DRYRUN", "alice", "config", "set", "a", "b"],
        &["ACL", "DRYRUN", "nobody", "get", "x"],
        &["ACL", "DRYRUN", "alice", "nosuchcmd", "x"],
        &["ACL", "DRYRUN", "alice", "get"],
        &["ACL", "DRYRUN", "sel", "set", "a1", "v"],
        &["ACL", "DRYRUN", "sel", "set", "b1", "v"],
        &["ACL", "GENPASS", "0"],
        &["ACL", "GENPASS", "5000"],
        &["ACL", "GENPASS", "x"],
        &["ACL", "LOG", "x"],
        &["ACL", "LOG", "RESET"],
        &["ACL", "LOG", "0"],
        &["ACL", "HELP"],
        &["ACL", "NOSUCH"],
        &["ACL"],
        &["ACL", "LOAD"],
        &["ACL", "SAVE"],
        &["AUTH", "onlypass"],
        &["AUTH", "alice", "wrong"],
        &["AUTH", "nobody", "pw"],
        &["HELLO", "2", "AUTH", "alice", "wrong"],
        &["CLIENT", "KILL", "USER", "nobody"],
        &["AUTH", "alice", "pw"],
        &["ACL", "WHOAMI"],
        &["GET", "zz"],
        &["SET", "ro:1", "x"],
        &["GET", "ro:1"],
        &["SET", "cache:1", "v"],
        &["GET", "cache:1"],
        &["SET", "cache:2", "v", "GET"],
        &["MGET", "cache:1", "zz"],
        &["FLUSHALL"],
        &["CONFIG", "SET", "maxmemory", "1"],
        &["EVAL", "return redis.call('del','cache:1')", "0"],
        &["EVAL", "return redis.pcall('get','zz')", "0"],
        &["EVAL", "return redis.call('get','cache:1')", "0"],
        &["PUBLISH", "news", "hi"],
        &["PUBLISH", "sport", "hi"],
        &["SORT", "cache:l", "BY", "w_*"],
        &["SORT", "cache:l", "GET", "#"],
        &["MULTI"],
        &["GET", "cache:1"],
        &["SET", "zz", "1"],
        &["EXEC"],
        &["DISCARD"],
        &["AUTH", "default", "anything"],
        &["ACL", "WHOAMI"],
        &["ACL", "SETUSER", "alice", "-exec"],
        &["AUTH", "alice", "pw"],
        &["EXEC"],
        &["AUTH", "default", "x"],
        &["ACL", "SETUSER", "alice", "reset"],
        &["ACL", "GETUSER", "alice"],
        &["CONFIG", "SET", "requirepass", "s3"],
        &["ACL", "GETUSER", "default"],
        &["AUTH", "x"],
        &["AUTH", "s3"],
        &["CONFIG", "SET", "requirepass", ""],
        &["ACL", "GETUSER", "default"],
        &["ACL", "DELUSER", "alice", "bob", "sel", "nobody"],
        &["ACL", "LIST"],
        &["ACL", "DELUSER", "hashuser"],
        &["ACL", "LIST"],
        &["CONFIG", "GET", "acllog-max-len"],
        &["CONFIG", "GET", "aclfile"],
    ];
    for cmd in script {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let (w, g) = (want.cmd(&args), got.cmd(&args));
        assert_eq!(
            String::from_utf8_lossy(&w),
            String::from_utf8_lossy(&g),
            "{cmd:?}"
        );
    }
}

/// ACL CAT <category>: the same commands as Redis's (in our table's order; Redis lists them
/// in its hash table's), for every category, less the commands this node does not have.
#[test]
fn categories_hold_the_commands_redis_puts_in_them() {
    let redis = Reference::start();
    let hc = Server::start();
    let (mut r, mut h) = (redis.conn(), hc.conn());
    let ours: std::collections::HashSet<String> =
        redis::cmd("COMMAND").arg("LIST").query(&mut h).unwrap();
    let cats: Vec<String> = redis::cmd("ACL").arg("CAT").query(&mut r).unwrap();
    let mut mine: Vec<String> = redis::cmd("ACL").arg("CAT").query(&mut h).unwrap();
    // Ours has one more, last: the Cuckoo filter's commands.
    assert_eq!(mine.pop().as_deref(), Some("cuckoo"));
    assert_eq!(mine, cats);
    for cat in cats {
        let theirs: std::collections::HashSet<String> = redis::cmd("ACL")
            .arg("CAT")
            .arg(&cat)
            .query(&mut r)
            .unwrap();
        let mine: std::collections::HashSet<String> = redis::cmd("ACL")
            .arg("CAT")
            .arg(&cat)
            .query(&mut h)
            .unwrap();
        // Subcommands we lack (CLIENT PAUSE, ...), and 7.2's two CLIENT subcommands.
        let known = |n: &String| !n.contains('|') && ours.contains(n);
        let missing: Vec<_> = theirs.difference(&mine).filter(|n| known(n)).collect();
        assert!(missing.is_empty(), "@{cat}: missing {missing:?}");
        let extra: Vec<_> = mine
            .difference(&theirs)
            .filter(|n| !n.starts_with("cf.") && !n.starts_with("hc") && *n != "stores")
            .filter(|n| !["client|no-touch", "client|setinfo"].contains(&n.as_str()))
            .collect();
        assert!(extra.is_empty(), "@{cat}: extra {extra:?}");
    }
}

#[test]
fn every_kind_of_rule_with_the_redis_crate() {
    let s = Server::start();
    let mut admin = s.conn();
    let setuser = |c: &mut redis::Connection, args: &[&str]| {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER").arg(args);
        let ok: String = cmd.query(c).unwrap();
        assert_eq!(ok, "OK");
    };
    setuser(
        &mut admin,
        &[
            "app",
            "on",
            ">pw",
            "~app:*",
            "%R~shared:*",
            "%W~inbox:*",
            "&app.*",
            "+@all",
            "-@dangerous",
            "-config",
            "+config|get",
            "(~audit:* +get)",
        ],
    );
    let _: () = admin.set("shared:x", "1").unwrap();
    let _: () = admin.set("audit:1", "a").unwrap();
    let mut app = as_user(&s, "app", "pw");
    let who: String = redis::cmd("ACL").arg("WHOAMI").query(&mut app).unwrap();
    assert_eq!(who, "app");
    // ~: read and write.
    let _: () = app.set("app:1", "v").unwrap();
    assert_eq!(app.get::<_, String>("app:1").unwrap(), "v");
    // %R~: read only.
    assert_eq!(app.get::<_, String>("shared:x").unwrap(), "1");
    assert!(err_text(run(&mut app, &["SET", "shared:x", "2"])).starts_with("NOPERM"));
    assert!(err_text(run(&mut app, &["INCR", "shared:x"])).contains("keys"));
    // %W~: write only; a read of it is refused, EXISTS (no value read) is not.
    let _: () = app.set("inbox:1", "m").unwrap();
    assert!(err_text(run(&mut app, &["GET", "inbox:1"])).contains("one of the keys"));
    assert_eq!(app.exists::<_, i64>("inbox:1").unwrap(), 1);
    // Another key: no pattern.
    assert_eq!(
        err_text(run(&mut app, &["GET", "other"])),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    // A selector: GET on audit:*, nothing else there.
    assert_eq!(app.get::<_, String>("audit:1").unwrap(), "a");
    assert!(err_text(run(&mut app, &["SET", "audit:1", "b"])).starts_with("NOPERM"));
    // Categories and subcommands.
    assert_eq!(
        err_text(run(&mut app, &["FLUSHALL"])),
        "NOPERM this user has no permissions to run the 'flushall' command"
    );
    assert!(run(&mut app, &["CONFIG", "GET", "maxmemory"]).is_ok());
    assert_eq!(
        err_text(run(&mut app, &["CONFIG", "SET", "maxmemory", "0"])),
        "NOPERM this user has no permissions to run the 'config|set' command"
    );
    // MONITOR and CLIENT KILL are @admin: refused.
    assert!(err_text(run(&mut app, &["MONITOR"])).starts_with("NOPERM"));
    assert!(err_text(run(&mut app, &["CLIENT", "KILL", "ID", "1"])).starts_with("NOPERM"));
    // Channels: PUBLISH by pattern match, PSUBSCRIBE only with the pattern as given.
    assert_eq!(app.publish::<_, _, i64>("app.events", "m").unwrap(), 0);
    assert!(err_text(run(&mut app, &["PUBLISH", "other", "m"])).contains("channels"));
    assert!(err_text(run(&mut app, &["PSUBSCRIBE", "app.e*"])).contains("channels"));
    // MULTI/EXEC: a refused command aborts the transaction.
    assert!(run(&mut app, &["MULTI"]).is_ok());
    assert!(run(&mut app, &["SET", "app:2", "v"]).is_ok());
    assert!(err_text(run(&mut app, &["SET", "shared:x", "v"])).starts_with("NOPERM"));
    assert!(err_text(run(&mut app, &["EXEC"])).starts_with("EXECABORT"));
    assert_eq!(app.exists::<_, i64>("app:2").unwrap(), 0);
    // Scripts: redis.call has the caller's rights.
    let e = err_text(run(
        &mut app,
        &["EVAL", "return redis.call('set','shared:x','9')", "0"],
    ));
    assert!(
        e.contains("The user executing the script can't access"),
        "{e}"
    );
    let v: String = redis::cmd("EVAL")
        .arg("return redis.call('get','shared:x')")
        .arg(0)
        .query(&mut app)
        .unwrap();
    assert_eq!(v, "1");
    // A rights change reaches the logged-in client at its next command.
    setuser(&mut admin, &["app", "-set"]);
    assert!(err_text(run(&mut app, &["SET", "app:1", "w"])).contains("'set'"));
    setuser(&mut admin, &["app", "+set"]);
    assert!(run(&mut app, &["SET", "app:1", "w"]).is_ok());
    // ACL LOG: the refusals, newest first, with their context.
    let log: Vec<std::collections::HashMap<String, Value>> = redis::cmd("ACL")
        .arg("LOG")
        .arg(50)
        .query(&mut admin)
        .unwrap();
    let text = |e: &std::collections::HashMap<String, Value>, f: &str| match &e[f] {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    };
    assert_eq!(text(&log[0], "object"), "set");
    assert_eq!(text(&log[0], "reason"), "command");
    assert!(
        log.iter()
            .any(|e| text(e, "context") == "lua" && text(e, "object") == "shared:x")
    );
    assert!(log.iter().any(|e| text(e, "context") == "multi"));
    assert!(
        log.iter()
            .any(|e| text(e, "reason") == "channel" && text(e, "object") == "other")
    );
    assert!(text(&log[0], "client-info").contains("user=app"));
    // CLIENT LIST names the user; CLIENT KILL USER disconnects its clients.
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    assert!(list.contains("user=app"), "{list}");
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("USER")
        .arg("app")
        .query(&mut admin)
        .unwrap();
    assert_eq!(killed, 1);
    assert!(run(&mut app, &["PING"]).is_err());
}

/// A subscriber's connection still answers (PING, in subscribed mode).
fn open(raw: &mut Raw) -> bool {
    raw.cmd(&[b"PING"]).starts_with(b"*2\r\n$4\r\npong")
}

#[test]
fn deleting_a_user_or_its_channels_disconnects_its_clients() {
    let s = Server::start();
    let mut admin = s.conn();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "sub", "on", ">pw", "+@all", "&news.*", "&alerts"])
        .query(&mut admin)
        .unwrap();
    let mut raw = Raw::connect(s.addr);
    assert_eq!(raw.cmd(&[b"AUTH", b"sub", b"pw"]), b"+OK\r\n");
    raw.cmd(&[b"SUBSCRIBE", b"alerts"]);
    let mut other = Raw::connect(s.addr);
    assert_eq!(other.cmd(&[b"AUTH", b"sub", b"pw"]), b"+OK\r\n");
    other.cmd(&[b"PSUBSCRIBE", b"news.*"]);
    // Losing an unrelated channel keeps both; losing `alerts` drops its subscriber only.
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "sub", "resetchannels", "&news.*", "&alerts"])
        .query(&mut admin)
        .unwrap();
    assert!(open(&mut raw) && open(&mut other));
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "sub", "resetchannels", "&news.*"])
        .query(&mut admin)
        .unwrap();
    assert!(
        raw.drains_to_end(Duration::from_secs(5)),
        "the alerts subscriber is dropped"
    );
    assert!(open(&mut other));
    // Deleting the user disconnects the rest of its clients.
    let mut c = as_user(&s, "sub", "pw");
    let n: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg("sub")
        .query(&mut admin)
        .unwrap();
    assert_eq!(n, 1);
    assert!(
        other.drains_to_end(Duration::from_secs(5)),
        "the user's clients are dropped"
    );
    assert!(run(&mut c, &["PING"]).is_err());
    let mut fresh = Raw::connect(s.addr);
    assert!(
        String::from_utf8_lossy(&fresh.cmd(&[b"AUTH", b"sub", b"pw"])).starts_with("-WRONGPASS")
    );
}

#[test]
fn the_log_groups_refusals_and_keeps_acllog_max_len() {
    let s = Server::start();
    let mut admin = s.conn();
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "ro", "on", ">pw", "+get", "~k*"])
        .query(&mut admin)
        .unwrap();
    let mut ro = as_user(&s, "ro", "pw");
    for _ in 0..3 {
        assert!(run(&mut ro, &["GET", "x"]).is_err());
    }
    let log: Vec<std::collections::HashMap<String, Value>> =
        redis::cmd("ACL").arg("LOG").query(&mut admin).unwrap();
    assert_eq!(log[0]["object"], Value::BulkString(b"x".to_vec()));
    assert_eq!(log[0]["count"], Value::Int(3));
    // Failed logins are logged under the name tried; a stream of them does not write a
    // line each to the node's log (AUTH logs them at most once a second).
    let mut raw = Raw::connect(s.addr);
    for _ in 0..50 {
        raw.cmd(&[b"AUTH", b"ghost", b"x"]);
    }
    let lines = s
        .log_text()
        .lines()
        .filter(|l| l.contains("AUTH failed") || l.contains("\"reason\":\"auth\""))
        .count();
    assert!(
        (1..=3).contains(&lines),
        "{lines} log lines for 50 failed logins"
    );
    let log: Vec<std::collections::HashMap<String, Value>> = redis::cmd("ACL")
        .arg("LOG")
        .arg(1)
        .query(&mut admin)
        .unwrap();
    assert_eq!(log[0]["reason"], Value::BulkString(b"auth".to_vec()));
    assert_eq!(log[0]["username"], Value::BulkString(b"ghost".to_vec()));
    // The limit: distinct refusals past it push the oldest out.
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "acllog-max-len", "5"])
        .query(&mut admin)
        .unwrap();
    for i in 0..20 {
        assert!(run(&mut ro, &["GET", &format!("other{i}")]).is_err());
    }
    let log: Vec<Value> = redis::cmd("ACL")
        .arg("LOG")
        .arg(100)
        .query(&mut admin)
        .unwrap();
    assert_eq!(log.len(), 5);
    let _: () = redis::cmd("ACL")
        .arg(&["LOG", "RESET"])
        .query(&mut admin)
        .unwrap();
    let log: Vec<Value> = redis::cmd("ACL").arg("LOG").query(&mut admin).unwrap();
    assert!(log.is_empty());
}

#[test]
fn users_from_the_config_and_from_an_acl_file() {
    // The config's users, beside requirepass (the default user's password).
    let yaml = "security:\n  requirepass: adminpw\n  users:\n    - \"app on >apppw ~app:* +@read +@write\"\n    - \"ops on >opspw allkeys +@admin\"\n";
    let s = Server::start_with(&[], Some(yaml));
    let mut app = as_user(&s, "app", "apppw");
    let _: () = app.set("app:1", "v").unwrap();
    assert!(err_text(run(&mut app, &["GET", "x"])).starts_with("NOPERM"));
    let mut admin = as_user(&s, "default", "adminpw");
    let users: Vec<String> = redis::cmd("ACL").arg("USERS").query(&mut admin).unwrap();
    assert_eq!(users, ["app", "default", "ops"]);
    let mut raw = Raw::connect(s.addr);
    assert!(String::from_utf8_lossy(&raw.cmd(&[b"GET", b"x"])).starts_with("-NOAUTH"));
    drop(s);

    // An ACL file: loaded at start, by ACL LOAD, written by ACL SAVE.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.acl");
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser app on >pw ~app:* +@read\n",
    )
    .unwrap();
    let yaml = format!("security:\n  acl_file: {}\n", file.display());
    let s = Server::start_with(&[], Some(&yaml));
    let mut c = s.conn();
    let mut app = as_user(&s, "app", "pw");
    assert!(run(&mut app, &["GET", "app:1"]).is_ok());
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "new", "on", ">npw", "+ping"])
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("ACL").arg("SAVE").query(&mut c).unwrap();
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("user new on #"), "{saved}");
    assert_eq!(saved.lines().count(), 3);
    // A file with errors changes nothing, and says where they are.
    std::fs::write(&file, "user app on >pw +nosuch\n").unwrap();
    let e = err_text(run(&mut c, &["ACL", "LOAD"]));
    assert!(
        e.contains("users.acl:1: Error in ACL SETUSER modifier '+nosuch'"),
        "{e}"
    );
    assert!(run(&mut app, &["GET", "app:1"]).is_ok());
    // A good one replaces the users: `new` is gone (and its clients), `app` keeps its
    // connection with its new rules.
    let mut newc = as_user(&s, "new", "npw");
    std::fs::write(&file, "user app on >pw ~app:* +@read +@write\n").unwrap();
    let _: () = redis::cmd("ACL").arg("LOAD").query(&mut c).unwrap();
    let _: () = app.set("app:1", "w").unwrap();
    wait_until("new's client is dropped", || {
        run(&mut newc, &["PING"]).is_err()
    });
    drop(s);

    // A node whose ACL file is bad does not start, and says why.
    std::fs::write(&file, "user app bogus\n").unwrap();
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(&cfg, &yaml).unwrap();
    let out = common::command(&dir.path().join("data"), &[], Some(&cfg))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Error in ACL SETUSER modifier 'bogus': Syntax error"),
        "{err}"
    );
    // Both places at once is refused, as Redis refuses it.
    let both = format!("{yaml}  users:\n    - \"x on\"\n");
    std::fs::write(&cfg, both).unwrap();
    let out = common::command(&dir.path().join("data"), &[], Some(&cfg))
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// redis-py logs in with a username and gets `NoPermissionError` for a refused command.
#[test]
fn redis_py_logs_in_as_a_user() {
    let py = python();
    let s = Server::start();
    let mut admin = s.conn();
    let _: () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "py",
            "on",
            ">pypw",
            "~py:*",
            "+@read",
            "+@write",
            "-@dangerous",
            "+acl|whoami",
        ])
        .query(&mut admin)
        .unwrap();
    let script = r#"
import sys, redis
r = redis.Redis(port=int(sys.argv[1]), username="py", password="pypw")
r.set("py:1", "v")
assert r.get("py:1") == b"v"
assert r.acl_whoami() == "py"
try:
    r.get("other")
    sys.exit("GET other was allowed")
except redis.exceptions.NoPermissionError as e:
    assert "keys" in str(e), e
try:
    r.flushall()
    sys.exit("FLUSHALL was allowed")
except redis.exceptions.NoPermissionError:
    pass
try:
    redis.Redis(port=int(sys.argv[1]), username="py", password="bad").ping()
    sys.exit("a wrong password was accepted")
except redis.exceptions.AuthenticationError:
    pass
print("py-acl: ok")
"#;
    let out = std::process::Command::new(py)
        .args(["-c", script, &s.addr.port().to_string()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("py-acl: ok"),
        "{text}"
    );
}

/// Users are per node; peers act with the cluster secret, not a user: with the default user
/// off on every node, a client's write still replicates and is forwarded.
#[test]
fn peers_are_not_users() {
    let c = TestCluster::start_secured(3, "", Some("cluster-s3cret"), None);
    for i in 0..3 {
        let mut conn = c.conn(i);
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "app", "on", ">pw", "allkeys", "+@all"])
            .query(&mut conn)
            .unwrap();
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "default", "off"])
            .query(&mut conn)
            .unwrap();
    }
    let mut first = as_user(c.server(0), "app", "pw");
    for i in 0..20 {
        let _: () = first.set(format!("k{i}"), i).unwrap();
        let _: i64 = first.incr(format!("n{i}"), 1).unwrap();
    }
    let mut third = as_user(c.server(2), "app", "pw");
    wait_until("the writes reach node 3", || {
        (0..20).all(|i| {
            third.get::<_, Option<i64>>(format!("k{i}")).ok().flatten() == Some(i)
                && third.get::<_, Option<i64>>(format!("n{i}")).ok().flatten() == Some(1)
        })
    });
    // The default user is off: a client that does not log in can do nothing.
    let mut raw = Raw::connect(c.server(1).addr);
    assert!(String::from_utf8_lossy(&raw.cmd(&[b"GET", b"k1"])).starts_with("-NOAUTH"));
}
