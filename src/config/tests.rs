//! Loading as a whole: the file, the layers over it, and validation, through the public API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::yaml::key_path_at;
use super::*;

fn parse(yaml: &str) -> Result<Config, ConfigError> {
    Config::from_yaml_str(yaml, "test.yaml")
}

fn parse_ok(yaml: &str) -> Config {
    match parse(yaml) {
        Ok(c) => c,
        Err(e) => panic!("expected ok, got:\n{e}"),
    }
}

fn parse_err(yaml: &str) -> (ConfigError, String) {
    match parse(yaml) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => {
            let msg = e.to_string();
            (e, msg)
        }
    }
}

fn example(n: u32) -> PathBuf {
    PathBuf::from(format!(
        "{}/configs/node{n}-config.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
}

const NO_ENV: [(&str, &str); 0] = [];

#[test]
fn defaults() {
    let c = parse_ok("");
    assert_eq!(c, Config::default());
    assert_eq!(c.node.id, "node-1");
    assert_eq!(c.data_dir(), PathBuf::from("./data/node-1"));
    assert_eq!(c.network.resp_bind_addr, "127.0.0.1");
    assert_eq!(c.network.http_bind_addr, "127.0.0.1");
    assert_eq!(
        (
            c.network.resp_port,
            c.network.http_port,
            c.network.gossip_port
        ),
        (8080, 9080, 7946)
    );
    assert_eq!(c.network.advertise_addr, None);
    assert!(c.cluster.seeds.is_empty());
    assert_eq!(c.cluster.replication_factor, None);
    assert_eq!(c.cluster.consistency_level, ConsistencyLevel::Eventual);
    assert_eq!(c.cluster.tombstone_ttl, Duration::from_secs(3600));
    assert_eq!(c.cache.max_memory, 0);
    assert_eq!(c.cache.default_ttl, None);
    assert_eq!(c.cache.cleanup_interval, Duration::from_millis(100));
    assert_eq!(c.cache.eviction_policy, EvictionPolicy::Lru);
    assert_eq!(c.cache.maxmemory_samples, 5);
    assert_eq!(c.cache.cuckoo_filter_fpp, 0.01);
    assert_eq!(c.cache.databases, 16);
    assert_eq!(c.cache.maxclients, 10_000);
    assert_eq!(c.cache.proto_max_bulk_len, 512 * 1024 * 1024);
    assert_eq!(c.cache.client_query_buffer_limit, 1024 * 1024 * 1024);
    assert_eq!(c.cache.timeout, Duration::ZERO);
    assert!(c.persistence.enabled && c.persistence.is_active());
    assert_eq!(c.persistence.strategy, PersistenceStrategy::AofAndSnapshot);
    assert_eq!(c.persistence.sync_policy, SyncPolicy::EverySec);
    assert_eq!(c.persistence.snapshot_interval, Duration::from_secs(300));
    assert_eq!(c.persistence.max_log_size, 64 * 1024 * 1024);
    assert_eq!(c.persistence.retain, 3);
    assert!(!c.persistence.allow_partial_recovery);
    assert_eq!(c.logging.level, LogLevel::Info);
    assert_eq!(c.logging.output, vec![LogOutput::Console]);
    assert_eq!(c.logging.log_dir, PathBuf::from("./logs"));
    assert_eq!(c.logging.max_file_size, 100 * 1024 * 1024);
    assert_eq!(c.logging.max_files, 5);
    assert!(c.logging.structured);
    assert!(c.stores.is_empty());
    c.validate().expect("defaults are valid");
    // Comments only, empty sections and nulls also mean defaults.
    assert_eq!(parse_ok("# nothing\n"), Config::default());
    assert_eq!(parse_ok("cache:\nnode: ~\nstores:\n"), Config::default());
}

#[test]
fn every_key_set() {
    let c = parse_ok(
        r#"
node:
  id: cache-a
  data_dir: /var/lib/hc
network:
  resp_bind_addr: 0.0.0.0
  resp_port: 6379
  http_bind_addr: "::"
  http_port: 0
  gossip_port: 0
  advertise_addr: 10.1.2.3:7000
cluster:
  seeds: ["10.0.0.1:7946", "db-2.internal:7946", "[::1]:7946"]
  seed_dns: hc.service.consul
  replication_factor: 2
  consistency_level: QUORUM
  tombstone_ttl: 2d
cache:
  max_memory: 1.5GB
  default_ttl: 30m
  cleanup_interval: 250ms
  eviction_policy: allkeys-lfu
  maxmemory_samples: 10
  cuckoo_filter_fpp: 0.001
  databases: 1
  maxclients: 50
  proto_max_bulk_len: 1MB
  client_query_buffer_limit: 2GB
  timeout: 300
persistence:
  enabled: true
  strategy: aof
  sync_policy: always
  snapshot_interval: 10m
  max_log_size: 128MB
  retain: 7
  allow_partial_recovery: yes
logging:
  level: fatal
  output: file
  log_dir: /var/log/hc
  max_file_size: 10MB
  max_files: 2
  structured: false
stores:
  - name: sessions
    max_memory: 256MB
    eviction_policy: session
    default_ttl: 0
    cuckoo_filter: true
    cuckoo_filter_fpp: 0.05
    persistence: snapshot
    replication_factor: 1
  - name: default
"#,
    );
    assert_eq!(c.node.id, "cache-a");
    assert_eq!(c.data_dir(), PathBuf::from("/var/lib/hc"));
    assert_eq!(c.network.resp_bind_addr, "0.0.0.0");
    assert_eq!(c.network.resp_port, 6379);
    assert_eq!(c.network.http_bind_addr, "::");
    assert_eq!((c.network.http_port, c.network.gossip_port), (0, 0));
    assert_eq!(c.network.advertise_addr.as_deref(), Some("10.1.2.3:7000"));
    assert_eq!(
        c.cluster.seeds,
        vec!["10.0.0.1:7946", "db-2.internal:7946", "[::1]:7946"]
    );
    assert_eq!(c.cluster.seed_dns.as_deref(), Some("hc.service.consul"));
    assert_eq!(c.cluster.replication_factor, Some(2));
    assert_eq!(c.cluster.consistency_level, ConsistencyLevel::Quorum);
    assert_eq!(c.cluster.tombstone_ttl, Duration::from_secs(2 * 86_400));
    assert_eq!(c.cache.max_memory, 1536 * 1024 * 1024);
    assert_eq!(c.cache.default_ttl, Some(Duration::from_secs(1800)));
    assert_eq!(c.cache.cleanup_interval, Duration::from_millis(250));
    assert_eq!(c.cache.eviction_policy, EvictionPolicy::Lfu);
    assert_eq!(c.cache.maxmemory_samples, 10);
    assert_eq!(c.cache.cuckoo_filter_fpp, 0.001);
    assert_eq!(c.cache.databases, 1);
    assert_eq!(c.cache.maxclients, 50);
    assert_eq!(c.cache.proto_max_bulk_len, 1024 * 1024);
    assert_eq!(c.cache.client_query_buffer_limit, 2 * 1024 * 1024 * 1024);
    assert_eq!(c.cache.timeout, Duration::from_secs(300));
    assert!(c.persistence.enabled);
    assert_eq!(c.persistence.strategy, PersistenceStrategy::Aof);
    assert_eq!(c.persistence.sync_policy, SyncPolicy::Always);
    assert_eq!(c.persistence.snapshot_interval, Duration::from_secs(600));
    assert_eq!(c.persistence.max_log_size, 128 * 1024 * 1024);
    assert_eq!(c.persistence.retain, 7);
    assert!(c.persistence.allow_partial_recovery);
    assert_eq!(c.logging.level, LogLevel::Error);
    assert_eq!(c.logging.output, vec![LogOutput::File]);
    assert_eq!(c.logging.log_dir, PathBuf::from("/var/log/hc"));
    assert_eq!(c.logging.max_file_size, 10 * 1024 * 1024);
    assert_eq!(c.logging.max_files, 2);
    assert!(!c.logging.structured);
    assert_eq!(
        c.stores,
        vec![
            StoreConfig {
                name: "sessions".into(),
                max_memory: 256 * 1024 * 1024,
                eviction_policy: Some(EvictionPolicy::Session),
                default_ttl: Some(Duration::ZERO),
                cuckoo_filter: true,
                cuckoo_filter_fpp: Some(0.05),
                persistence: Some(PersistenceStrategy::Snapshot),
                replication_factor: Some(1),
            },
            StoreConfig::new("default"),
        ]
    );
}

#[test]
fn bad_size_in_file_names_key_and_line() {
    let (e, msg) = parse_err("node:\n  id: a\ncache:\n  max_memory: abc\n");
    assert_eq!(e.line(), Some(4));
    assert_eq!(e.key(), Some("cache.max_memory"));
    assert!(
        msg.contains("cache.max_memory: invalid size 'abc' (use e.g. 512MB, 1GB)"),
        "{msg}"
    );
    assert!(msg.starts_with("test.yaml: line 4 column 15:"), "{msg}");
    // Snippet shows the offending line and where.
    assert!(msg.contains("--> test.yaml:4:15"), "{msg}");
    assert!(msg.contains("4 |   max_memory: abc"), "{msg}");
}

#[test]
fn bad_duration_and_numbers_name_key_and_line() {
    let (e, msg) = parse_err("cache:\n  timeout: -3s\n");
    assert_eq!((e.line(), e.key()), (Some(2), Some("cache.timeout")));
    assert!(msg.contains("negative"), "{msg}");

    let (e, msg) = parse_err("network:\n  resp_port: 70000\n");
    assert_eq!((e.line(), e.key()), (Some(2), Some("network.resp_port")));
    assert!(msg.contains("invalid port '70000'"), "{msg}");

    let (e, _) = parse_err("cache:\n  databases: 1.5\n");
    assert_eq!((e.line(), e.key()), (Some(2), Some("cache.databases")));

    let (e, _) = parse_err("persistence:\n  enabled: maybe\n");
    assert_eq!((e.line(), e.key()), (Some(2), Some("persistence.enabled")));
}

#[test]
fn unknown_key_rejected_with_line() {
    let (e, msg) = parse_err("cache:\n  max_memory: 1GB\n  max_memroy: 2GB\n");
    assert!(matches!(e, ConfigError::Parse { .. }), "{e:?}");
    assert_eq!(e.line(), Some(3));
    assert!(msg.contains("max_memroy"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.starts_with("test.yaml: "), "{msg}");

    let (e, msg) = parse_err("nodes:\n  id: x\n");
    assert_eq!(e.line(), Some(1));
    assert!(msg.contains("nodes"), "{msg}");

    let (e, msg) = parse_err("stores:\n  - name: a\n    colour: red\n");
    assert_eq!(e.line(), Some(3));
    assert!(msg.contains("colour"), "{msg}");
}

#[test]
fn bad_enum_names_key_and_line() {
    let (e, msg) = parse_err("node:\n  id: n\n\ncache:\n  eviction_policy: fifo\n");
    assert_eq!(
        (e.line(), e.key()),
        (Some(5), Some("cache.eviction_policy"))
    );
    assert!(msg.contains("invalid eviction policy 'fifo'"), "{msg}");
    assert!(msg.contains("allkeys-lru"), "{msg}");

    let (e, msg) = parse_err("persistence:\n  sync_policy: sometimes\n");
    assert_eq!(
        (e.line(), e.key()),
        (Some(2), Some("persistence.sync_policy"))
    );
    assert!(msg.contains("always, everysec, no"), "{msg}");

    let (e, _) = parse_err("logging:\n  output: [console, syslog]\n");
    assert_eq!((e.line(), e.key()), (Some(2), Some("logging.output[1]")));

    let (e, _) = parse_err("stores:\n  - name: a\n  - name: b\n    persistence: tape\n");
    assert_eq!(
        (e.line(), e.key()),
        (Some(4), Some("stores[1].persistence"))
    );
}

#[test]
fn structural_errors_have_location() {
    let (e, msg) = parse_err("cache:\n  max_memory: [1, 2]\n");
    assert_eq!(e.line(), Some(2), "{msg}");
    let (e, _) = parse_err("cache: [\n");
    assert!(e.line().is_some());
    let (e, msg) = parse_err("cache:\n  databases: 2\n  databases: 3\n");
    assert_eq!(e.line(), Some(3), "{msg}");
    assert!(msg.contains("duplicate"), "{msg}");
}

#[test]
fn parser_errors_get_key_paths() {
    let doc = "\
# comment
node:
  id: a

stores:
  - name: a
    max_memory: 1GB
  - name: b
    # note
    eviction_policy: lru
cluster:
  seeds:
  - 10.0.0.1:1
  - 10.0.0.2:2
cache:
  max_memory: 5
";
    let want = [
        (1, None),
        (2, Some("node")),
        (3, Some("node.id")),
        (4, None),
        (6, Some("stores[0].name")),
        (7, Some("stores[0].max_memory")),
        (8, Some("stores[1].name")),
        (10, Some("stores[1].eviction_policy")),
        (13, Some("cluster.seeds[0]")),
        (14, Some("cluster.seeds[1]")),
        (16, Some("cache.max_memory")),
        (99, None),
    ];
    for (line, path) in want {
        assert_eq!(key_path_at(doc, line).as_deref(), path, "line {line}");
    }

    let (e, msg) = parse_err("cache:\n  max_memory: [1]\n");
    assert_eq!(e.line(), Some(2));
    assert!(
        msg.starts_with("test.yaml: line 2 column 15: cache.max_memory: "),
        "{msg}"
    );
    let (_, msg) = parse_err("stores:\n  - name: a\n    colour: red\n");
    assert!(
        msg.contains(": stores[0].colour: unknown field `colour`"),
        "{msg}"
    );
}

#[test]
fn enum_names() {
    let cases = [
        ("lru", EvictionPolicy::Lru, "allkeys-lru"),
        ("allkeys-lru", EvictionPolicy::Lru, "allkeys-lru"),
        ("LFU", EvictionPolicy::Lfu, "allkeys-lfu"),
        ("allkeys_lfu", EvictionPolicy::Lfu, "allkeys-lfu"),
        ("ttl", EvictionPolicy::Ttl, "volatile-ttl"),
        ("volatile-ttl", EvictionPolicy::Ttl, "volatile-ttl"),
        ("session", EvictionPolicy::Session, "volatile-lru"),
        ("random", EvictionPolicy::Random, "allkeys-random"),
        ("allkeys-random", EvictionPolicy::Random, "allkeys-random"),
        ("noeviction", EvictionPolicy::NoEviction, "noeviction"),
        ("volatile-lru", EvictionPolicy::VolatileLru, "volatile-lru"),
        ("Volatile-LFU", EvictionPolicy::VolatileLfu, "volatile-lfu"),
        (
            "volatile-random",
            EvictionPolicy::VolatileRandom,
            "volatile-random",
        ),
    ];
    for (text, policy, redis) in cases {
        assert_eq!(text.parse::<EvictionPolicy>(), Ok(policy), "{text}");
        assert_eq!(policy.redis_name(), redis);
        // Our own name always parses back.
        assert_eq!(policy.name().parse::<EvictionPolicy>(), Ok(policy));
    }
    assert_eq!(EvictionPolicy::Session.name(), "session");
    assert!("fifo".parse::<EvictionPolicy>().is_err());

    let strategies = [
        ("aof+snapshot", PersistenceStrategy::AofAndSnapshot),
        ("aof", PersistenceStrategy::Aof),
        ("aof_only", PersistenceStrategy::Aof),
        ("snapshot", PersistenceStrategy::Snapshot),
        ("disabled", PersistenceStrategy::Disabled),
    ];
    for (text, s) in strategies {
        assert_eq!(text.parse::<PersistenceStrategy>(), Ok(s), "{text}");
    }
    let syncs = [
        ("always", SyncPolicy::Always),
        ("everysec", SyncPolicy::EverySec),
        ("periodic", SyncPolicy::EverySec),
        ("no", SyncPolicy::No),
        ("never", SyncPolicy::No),
    ];
    for (text, s) in syncs {
        assert_eq!(text.parse::<SyncPolicy>(), Ok(s), "{text}");
    }
    assert_eq!("fatal".parse::<LogLevel>(), Ok(LogLevel::Error));
    assert_eq!("WARN".parse::<LogLevel>(), Ok(LogLevel::Warn));
    assert_eq!("all".parse::<ConsistencyLevel>(), Ok(ConsistencyLevel::All));
    assert!("verbose".parse::<LogLevel>().is_err());
    // YAML 1.1 would read `no` as a boolean; we must get the policy.
    let c = parse_ok("persistence:\n  sync_policy: no\n");
    assert_eq!(c.persistence.sync_policy, SyncPolicy::No);
}

#[test]
fn legacy_persistence_flags() {
    let c = parse_ok("persistence:\n  aof_enabled: false\n");
    assert_eq!(c.persistence.strategy, PersistenceStrategy::Snapshot);
    let c = parse_ok("persistence:\n  snapshot_enabled: false\n");
    assert_eq!(c.persistence.strategy, PersistenceStrategy::Aof);
    let c = parse_ok("persistence:\n  aof_enabled: false\n  snapshot_enabled: false\n");
    assert_eq!(c.persistence.strategy, PersistenceStrategy::Disabled);
    assert!(!c.persistence.enabled);
    let c = parse_ok("persistence:\n  strategy: aof\n  aof_enabled: true\n");
    assert_eq!(c.persistence.strategy, PersistenceStrategy::Aof);
    let (e, msg) = parse_err("persistence:\n  strategy: aof\n  snapshot_enabled: true\n");
    assert_eq!(e.line(), Some(3));
    assert!(msg.contains("conflicts with persistence.strategy"), "{msg}");
    // enabled and strategy are kept consistent.
    let c = parse_ok("persistence:\n  enabled: false\n");
    assert_eq!(c.persistence.strategy, PersistenceStrategy::Disabled);
    assert!(!c.persistence.is_active());
    let c = parse_ok("persistence:\n  strategy: disabled\n");
    assert!(!c.persistence.enabled);
}

#[test]
fn logging_output_forms() {
    let c = parse_ok("logging:\n  output: [console, file, console]\n");
    assert_eq!(c.logging.output, vec![LogOutput::Console, LogOutput::File]);
    let c = parse_ok("logging:\n  output:\n    - file\n");
    assert_eq!(c.logging.output, vec![LogOutput::File]);
    let (e, _) = parse_err("logging:\n  output: []\n");
    assert_eq!((e.line(), e.key()), (Some(2), Some("logging.output")));
}

#[test]
fn range_checks() {
    let cases = [
        (
            "cache:\n  cuckoo_filter_fpp: 1\n",
            "cache.cuckoo_filter_fpp",
        ),
        (
            "cache:\n  cuckoo_filter_fpp: 0\n",
            "cache.cuckoo_filter_fpp",
        ),
        (
            "cache:\n  cuckoo_filter_fpp: .nan\n",
            "cache.cuckoo_filter_fpp",
        ),
        ("cache:\n  databases: 0\n", "cache.databases"),
        ("cache:\n  databases: 1025\n", "cache.databases"),
        (
            "cache:\n  maxmemory_samples: 0\n",
            "cache.maxmemory_samples",
        ),
        ("cache:\n  maxclients: 0\n", "cache.maxclients"),
        (
            "cache:\n  proto_max_bulk_len: 1000KB\n",
            "cache.proto_max_bulk_len",
        ),
        (
            "cache:\n  proto_max_bulk_len: 2GB\n",
            "cache.proto_max_bulk_len",
        ),
        ("cache:\n  cleanup_interval: 0\n", "cache.cleanup_interval"),
        (
            "cluster:\n  replication_factor: 0\n",
            "cluster.replication_factor",
        ),
        ("cluster:\n  tombstone_ttl: 0s\n", "cluster.tombstone_ttl"),
        ("cluster:\n  seeds: [\"10.0.0.1\"]\n", "cluster.seeds[0]"),
        (
            "cluster:\n  seeds: [\"a:1\", \"b:0\"]\n",
            "cluster.seeds[1]",
        ),
        ("cluster:\n  seeds: [\"::1:7946\"]\n", "cluster.seeds[0]"),
        ("persistence:\n  retain: 0\n", "persistence.retain"),
        (
            "persistence:\n  snapshot_interval: 0\n",
            "persistence.snapshot_interval",
        ),
        ("logging:\n  max_files: 0\n", "logging.max_files"),
        ("node:\n  id: ../etc\n", "node.id"),
        ("node:\n  id: \"\"\n", "node.id"),
        (
            "network:\n  resp_bind_addr: 127.0.0.1:80\n",
            "network.resp_bind_addr",
        ),
        (
            "network:\n  advertise_addr: \"a b\"\n",
            "network.advertise_addr",
        ),
    ];
    for (yaml, key) in cases {
        let (e, msg) = parse_err(yaml);
        assert_eq!(e.key(), Some(key), "{yaml}: {msg}");
        assert_eq!(e.line(), Some(2), "{yaml}: {msg}");
    }
    // Zero is "off" for these.
    let c = parse_ok("cache:\n  timeout: 0\n  default_ttl: 0\n  max_memory: 0\n");
    assert_eq!(c.cache.default_ttl, None);
    assert_eq!(c.cache.timeout, Duration::ZERO);
    let c = parse_ok("cluster:\n  replication_factor: all\n");
    assert_eq!(c.cluster.replication_factor, None);
}

#[test]
fn port_conflicts() {
    let (e, msg) = parse_err("network:\n  resp_port: 9000\n  http_port: 9000\n");
    assert_eq!((e.key(), e.line()), (Some("network.http_port"), Some(3)));
    assert!(msg.contains("network.resp_port"), "{msg}");
    let (e, _) = parse_err("network:\n  gossip_port: 8080\n");
    assert_eq!((e.key(), e.line()), (Some("network.gossip_port"), Some(2)));
    // Only the other side of the clash is in the file: point at it.
    let (e, msg) = parse_err("node:\n  id: a\nnetwork:\n  resp_port: 9080\n");
    assert_eq!(
        (e.key(), e.line()),
        (Some("network.http_port"), Some(4)),
        "{msg}"
    );
    // Port 0 (ephemeral) may repeat.
    let c = parse_ok("network:\n  resp_port: 0\n  http_port: 0\n  gossip_port: 0\n");
    assert_eq!(c.network.resp_port, 0);
}

#[test]
fn store_validation() {
    let (e, msg) = parse_err("stores:\n  - name: a\n  - name: b\n  - name: a\n");
    assert_eq!((e.key(), e.line()), (Some("stores[2].name"), Some(4)));
    assert!(msg.contains("duplicate store name 'a'"), "{msg}");
    assert!(msg.contains("stores[0]"), "{msg}");

    for bad in ["\"\"", "has space", "dot.ted", "123", "é"] {
        let (e, msg) = parse_err(&format!("stores:\n  - name: {bad}\n"));
        assert_eq!(e.key(), Some("stores[0].name"), "{bad}: {msg}");
        assert_eq!(e.line(), Some(2), "{bad}: {msg}");
    }
    let long = "x".repeat(65);
    let (e, _) = parse_err(&format!("stores:\n  - name: {long}\n"));
    assert_eq!(e.key(), Some("stores[0].name"));
    parse_ok(&format!(
        "stores:\n  - name: {}\n  - name: a1_-B\n",
        "x".repeat(64)
    ));

    let (e, msg) = parse_err("stores:\n  - name: a\n  - max_memory: 1GB\n");
    assert_eq!((e.key(), e.line()), (Some("stores[1].name"), Some(3)));
    assert!(msg.contains("required"), "{msg}");

    let (e, _) = parse_err("stores:\n  - name: a\n    replication_factor: 0\n");
    assert_eq!(e.key(), Some("stores[0].replication_factor"));
    let (e, _) = parse_err("stores:\n  - name: a\n    cuckoo_filter_fpp: 2\n");
    assert_eq!(e.key(), Some("stores[0].cuckoo_filter_fpp"));

    // validate() catches the same problems on a hand-built Config.
    let c = Config {
        stores: vec![StoreConfig::new("x"), StoreConfig::new("x")],
        ..Config::default()
    };
    let e = c.validate().expect_err("duplicate");
    assert_eq!(e.key(), Some("stores[1].name"));
    assert_eq!(e.line(), None);
    assert!(
        e.to_string().starts_with("stores[1].name: duplicate"),
        "{e}"
    );
}

#[test]
fn precedence_default_file_env_flag() {
    let dir = std::env::temp_dir().join(format!("hc-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("prec.yaml");
    std::fs::write(
            &file,
            "node:\n  id: from-file\nnetwork:\n  resp_port: 1001\n  http_port: 1002\n  gossip_port: 1003\nlogging:\n  level: warn\n",
        )
        .expect("write temp config");

    // Defaults only.
    let c = Config::load_with_env(None, &Overrides::default(), NO_ENV).expect("defaults");
    assert_eq!(c, Config::default());

    // File beats defaults.
    let c = Config::load_with_env(Some(&file), &Overrides::default(), NO_ENV).expect("file");
    assert_eq!(c.node.id, "from-file");
    assert_eq!(c.network.resp_port, 1001);
    assert_eq!(c.logging.level, LogLevel::Warn);
    assert_eq!(c.cache, CacheConfig::default());

    // Env beats file; HYPERCACHE_CONFIG is used when no path is given.
    let file_str = file.to_string_lossy().into_owned();
    let env = [
        ("HYPERCACHE_CONFIG", file_str.as_str()),
        ("HYPERCACHE_NODE_ID", "from-env"),
        ("HYPERCACHE_RESP_PORT", "2001"),
        ("HYPERCACHE_HTTP_PORT", "2002"),
        ("HYPERCACHE_BIND", "0.0.0.0"),
        ("HYPERCACHE_DATA_DIR", "/env/data"),
        ("HYPERCACHE_LOG_LEVEL", "debug"),
        ("HYPERCACHE_UNRELATED", "ignored"),
        ("PATH", "ignored"),
    ];
    let c = Config::load_with_env(None, &Overrides::default(), env).expect("env");
    assert_eq!(c.node.id, "from-env");
    assert_eq!(c.network.resp_port, 2001);
    assert_eq!(c.network.http_port, 2002);
    assert_eq!(c.network.gossip_port, 1003, "file value kept");
    assert_eq!(c.network.resp_bind_addr, "0.0.0.0");
    assert_eq!(c.network.http_bind_addr, "0.0.0.0");
    assert_eq!(c.data_dir(), PathBuf::from("/env/data"));
    assert_eq!(c.logging.level, LogLevel::Debug);

    // Flags beat env.
    let flags = Overrides {
        node_id: Some("from-flag".into()),
        bind: Some("::1".into()),
        resp_port: Some(0),
        http_port: None,
        gossip_port: Some(3003),
        data_dir: None,
        log_level: Some("trace".into()),
    };
    let c = Config::load_with_env(None, &flags, env).expect("flags");
    assert_eq!(c.node.id, "from-flag");
    assert_eq!(c.network.resp_port, 0);
    assert_eq!(c.network.http_port, 2002, "env value kept");
    assert_eq!(c.network.gossip_port, 3003);
    assert_eq!(c.network.resp_bind_addr, "::1");
    assert_eq!(c.logging.level, LogLevel::Trace);
    assert_eq!(c.data_dir(), PathBuf::from("/env/data"));

    // The node id moves the default data dir.
    let c = Config::load_with_env(
        None,
        &Overrides {
            node_id: Some("n9".into()),
            ..Overrides::default()
        },
        NO_ENV,
    )
    .expect("node id");
    assert_eq!(c.data_dir(), PathBuf::from("./data/n9"));

    // An explicit path beats HYPERCACHE_CONFIG.
    let err = Config::load_with_env(
        Some(Path::new("/nonexistent/x.yaml")),
        &Overrides::default(),
        [("HYPERCACHE_CONFIG", file_str.as_str())],
    )
    .expect_err("missing file");
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/x.yaml"), "{err}");

    // Overriding a conflicting port fixes it.
    std::fs::write(&file, "network:\n  resp_port: 5000\n  http_port: 5000\n")
        .expect("write temp config");
    let fixed = Config::load_with_env(
        Some(&file),
        &Overrides::default(),
        [("HYPERCACHE_HTTP_PORT", "5001")],
    )
    .expect("env resolves the conflict");
    assert_eq!(fixed.network.http_port, 5001);
    std::fs::write(&file, "network:\n  resp_port: 5000\n").expect("write temp config");
    let e = Config::load_with_env(
        Some(&file),
        &Overrides::default(),
        [("HYPERCACHE_HTTP_PORT", "5000")],
    )
    .expect_err("env creates a conflict");
    assert_eq!(e.key(), Some("network.http_port"));
    // http_port came from env, so the file position is resp_port's.
    assert_eq!(e.line(), Some(2), "{e}");
    // With no file involved there is no position at all.
    let e = Config::load_with_env(
        None,
        &Overrides::default(),
        [("HYPERCACHE_HTTP_PORT", "8080")],
    )
    .expect_err("env creates a conflict");
    assert_eq!((e.key(), e.line()), (Some("network.http_port"), None));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_env_and_flags_are_named() {
    let cases = [
        ("HYPERCACHE_RESP_PORT", "abc"),
        ("HYPERCACHE_HTTP_PORT", "-1"),
        ("HYPERCACHE_GOSSIP_PORT", "65536"),
        ("HYPERCACHE_NODE_ID", "a/b"),
        ("HYPERCACHE_BIND", "not an addr"),
        ("HYPERCACHE_LOG_LEVEL", "loud"),
    ];
    for (var, value) in cases {
        let e = Config::load_with_env(None, &Overrides::default(), [(var, value)]).expect_err(var);
        assert!(matches!(e, ConfigError::Env { .. }), "{e:?}");
        assert!(e.to_string().contains(var), "{e}");
    }
    // Empty means unset.
    let c = Config::load_with_env(None, &Overrides::default(), [("HYPERCACHE_RESP_PORT", "")])
        .expect("empty env value");
    assert_eq!(c.network.resp_port, 8080);

    let flags = Overrides {
        log_level: Some("loud".into()),
        ..Overrides::default()
    };
    let e = Config::load_with_env(None, &flags, NO_ENV).expect_err("bad flag");
    assert!(e.to_string().contains("--log-level"), "{e}");
    let flags = Overrides {
        http_port: Some(8080),
        ..Overrides::default()
    };
    let e = Config::load_with_env(None, &flags, NO_ENV).expect_err("port clash");
    assert_eq!(e.key(), Some("network.http_port"));
}

#[test]
fn example_configs_load() {
    for n in 1..=3u16 {
        let path = example(u32::from(n));
        let c = Config::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.node.id, format!("node-{n}"));
        assert_eq!(
            c.data_dir(),
            PathBuf::from(format!("./data/cluster/node-{n}"))
        );
        assert_eq!(c.network.resp_port, 8079 + n);
        assert_eq!(c.network.http_port, 9079 + n);
        assert_eq!(c.network.gossip_port, 7945 + n);
        let mut want_seeds: Vec<String> = (1..=3u16)
            .filter(|&m| m != n)
            .map(|m| format!("127.0.0.1:{}", 7945 + m))
            .collect();
        want_seeds.sort();
        let mut seeds = c.cluster.seeds.clone();
        seeds.sort();
        assert_eq!(seeds, want_seeds);
        assert_eq!(c.logging.log_dir, PathBuf::from("./logs"));
        assert_eq!(c.persistence.strategy, PersistenceStrategy::AofAndSnapshot);
        assert_eq!(c.persistence.sync_policy, SyncPolicy::EverySec);
        assert!(c.persistence.is_active());

        // The commented stores example must parse once uncommented.
        let text = std::fs::read_to_string(&path).expect("read example");
        let start = text.find("# stores:").expect("stores example present");
        let uncommented: String = text[..start].to_owned()
            + &text[start..]
                .lines()
                .map(|l| l.strip_prefix("# ").unwrap_or(l))
                .collect::<Vec<_>>()
                .join("\n");
        let c =
            Config::from_yaml_str(&uncommented, "uncommented").unwrap_or_else(|e| panic!("{e}"));
        assert!(c.stores.len() >= 2, "{:?}", c.stores);
    }
}

#[test]
fn summary_mentions_key_facts() {
    let s = parse_ok("cache:\n  max_memory: 2GB\n").summary();
    assert!(s.contains("node node-1"), "{s}");
    assert!(s.contains("max_memory 2GB"), "{s}");
    assert!(s.contains("aof+snapshot (everysec)"), "{s}");
}

// The original HyperCache's files (legacy.rs): their keys read as ours, or accepted and noted.

#[test]
fn original_node_file_reads_as_ours() {
    let c = parse_ok(
        r#"
node:
  id: "legacy-1"
  data_dir: "/data"
  protocol: "resp"
network:
  resp_bind_addr: "0.0.0.0"
  http_bind_addr: "0.0.0.0"
  advertise_addr: ""
cluster:
  seeds: ["10.0.0.2:7946,10.0.0.3:7946"]
storage:
  memtable_size: "64MB"
  compaction_threads: 4
persistence:
  enabled: true
  strategy: "hybrid"
  enable_aof: true
  sync_interval: "1s"
  compression_level: 6
  retain_logs: 4
cache:
  stores:
    - name: "default"
      max_memory: "256MB"
      ttl: "1h"
      enable_cuckoo_filter: false
      cuckoo_filter_capacity: 10000
      enable_persistence: false
logging:
  enable_console: true
  enable_file: false
  buffer_size: 1000
"#,
    );
    assert_eq!(c.network.advertise_addr, None, "empty means choose one");
    assert_eq!(c.cluster.seeds, ["10.0.0.2:7946", "10.0.0.3:7946"]);
    assert_eq!(c.persistence.strategy, PersistenceStrategy::AofAndSnapshot);
    assert_eq!(c.persistence.retain, 4);
    assert_eq!(c.logging.output, [LogOutput::Console]);
    let s = &c.stores[0];
    assert_eq!(s.name, "default");
    assert_eq!(s.max_memory, 256 * MIB);
    assert_eq!(s.default_ttl, Some(Duration::from_secs(3600)));
    assert!(!s.cuckoo_filter);
    assert_eq!(s.persistence, Some(PersistenceStrategy::Disabled));
    let noted: Vec<&str> = c
        .notes
        .iter()
        .map(|n| n.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        noted,
        [
            "storage",
            "node.protocol",
            "persistence.sync_interval",
            "persistence.compression_level",
            "logging.buffer_size",
            "stores[0].cuckoo_filter_capacity",
        ]
    );
}

#[test]
fn original_stores_map_keyed_by_name() {
    let c = parse_ok(
        r#"
stores:
  user_sessions:
    eviction_policy: "session"
    cuckoo_filter: true
    persistence: "aof+snapshot"
    replication_factor: 3
  page_cache:
    eviction_policy: "lru"
    cuckoo_filter: false
    persistence: "aof_only"
    replication_factor: 2
  temporary_data:
    eviction_policy: "lfu"
    persistence: "disabled"
    replication_factor: 1
"#,
    );
    let got: Vec<_> = c
        .stores
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.eviction_policy,
                s.cuckoo_filter,
                s.persistence,
                s.replication_factor,
            )
        })
        .collect();
    use EvictionPolicy as E;
    use PersistenceStrategy as P;
    assert_eq!(
        got,
        [
            (
                "user_sessions",
                Some(E::Session),
                true,
                Some(P::AofAndSnapshot),
                Some(3)
            ),
            ("page_cache", Some(E::Lru), false, Some(P::Aof), Some(2)),
            (
                "temporary_data",
                Some(E::Lfu),
                false,
                Some(P::Disabled),
                Some(1)
            ),
        ]
    );
    assert!(c.notes.is_empty(), "{:?}", c.notes);
}

#[test]
fn original_store_persistence_table_raises_the_node_fsync() {
    let c = parse_ok(
        r#"
persistence:
  sync_policy: everysec
stores:
  critical_data:
    persistence:
      mode: "aof+snapshot"
      fsync: "always"
      snapshot_interval: "60s"
  session_cache:
    persistence:
      mode: "aof_only"
      fsync: "periodic"
      compression: true
"#,
    );
    assert_eq!(c.persistence.sync_policy, SyncPolicy::Always);
    assert_eq!(
        c.stores[0].persistence,
        Some(PersistenceStrategy::AofAndSnapshot)
    );
    assert_eq!(c.stores[1].persistence, Some(PersistenceStrategy::Aof));
    assert!(
        c.notes
            .iter()
            .any(|n| n.starts_with("stores[0].persistence.fsync")
                && n.contains("raised from everysec to always")),
        "{:?}",
        c.notes
    );
    // A policy no stricter than the node's changes nothing.
    let c = parse_ok(
        "persistence:\n  sync_policy: always\nstores:\n  s:\n    persistence:\n      fsync: never\n",
    );
    assert_eq!(c.persistence.sync_policy, SyncPolicy::Always);
}

#[test]
fn original_keys_still_refuse_conflicts_and_typos() {
    let (_, msg) = parse_err("persistence:\n  aof_enabled: true\n  enable_aof: false\n");
    assert!(
        msg.contains("persistence.enable_aof") && msg.contains("set only one"),
        "{msg}"
    );
    let (_, msg) = parse_err("stores:\n  carts:\n    name: other\n");
    assert!(
        msg.contains("stores.carts") && msg.contains("named by its key"),
        "{msg}"
    );
    let (_, msg) = parse_err("stores:\n  carts:\n    persistence:\n      mdoe: aof\n");
    assert!(msg.contains("mdoe"), "{msg}");
    let (_, msg) = parse_err("stores:\n  carts:\n    persistence:\n      fsync: sometimes\n");
    assert!(msg.contains("stores[0].persistence.fsync"), "{msg}");
    let (_, msg) = parse_err("logging:\n  output: [file]\n  enable_console: true\n");
    assert!(msg.contains("set only one of logging.output"), "{msg}");
    let c = parse_ok("node:\n  bind_addr: \"127.0.0.2:7000\"\n");
    assert_eq!(
        (c.network.resp_bind_addr.as_str(), c.network.resp_port),
        ("127.0.0.2", 7000)
    );
}

#[test]
fn http_tokens_are_named_scoped_and_hashed() {
    let h = "a".repeat(64);
    let c = parse_ok(&format!(
        "security:\n  http_tokens:\n    - name: app.reader\n      scope: read\n      sha256: {h}\n"
    ));
    let t = &c.security.http_tokens[0];
    assert_eq!((t.name.as_str(), t.scope), ("app.reader", TokenScope::Read));
    assert_eq!(t.sha256, [0xaa; 32]);
    assert!(
        !format!("{t:?}").contains("aaaa"),
        "the hash stays out of Debug"
    );
    for (yaml, want) in [
        (
            format!(
                "    - {{name: a, scope: read, sha256: {}}}\n",
                "g".repeat(64)
            ),
            "64 hex digits",
        ),
        (
            format!("    - {{name: a, scope: root, sha256: {h}}}\n"),
            "token scope",
        ),
        (
            format!("    - {{name: a, sha256: {h}}}\n"),
            "scope: is required",
        ),
        (
            format!("    - {{name: 'a b', scope: read, sha256: {h}}}\n"),
            "1-64 of",
        ),
        (
            format!(
                "    - {{name: a, scope: read, sha256: {h}}}\n    - {{name: a, scope: admin, sha256: {}}}\n",
                "b".repeat(64)
            ),
            "the same name as the token 'a'",
        ),
        (
            format!(
                "    - {{name: a, scope: read, sha256: {h}}}\n    - {{name: b, scope: admin, sha256: {h}}}\n"
            ),
            "the same sha256 as the token 'a'",
        ),
        (
            format!("    - {{name: a, scope: read, sha256: {h}, token: x}}\n"),
            "token",
        ),
    ] {
        let (_, msg) = parse_err(&format!("security:\n  http_tokens:\n{yaml}"));
        assert!(
            msg.contains(want) && msg.contains("http_tokens"),
            "{want}: {msg}"
        );
    }
    assert!(TokenScope::Admin.allows(TokenScope::Write));
    assert!(!TokenScope::Read.allows(TokenScope::Write));
}
