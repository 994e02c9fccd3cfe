//! Command line. Flags are the highest-precedence layer of the configuration
//! (see [`crate::config::Config::load`]); clap deliberately reads no
//! environment variables so that `load` alone decides env precedence.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};

#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(
    name = "hypercache",
    version,
    about = "HyperCache: a Redis-compatible distributed cache"
)]
pub struct Cli {
    /// YAML config file (default: $HYPERCACHE_CONFIG, else built-in defaults)
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Node id (also names the default data directory)
    #[arg(long, value_name = "ID")]
    pub node_id: Option<String>,
    /// Bind address for both the RESP and HTTP listeners
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// RESP (Redis protocol) port; 0 = ephemeral
    #[arg(long, value_name = "N")]
    pub resp_port: Option<u16>,
    /// HTTP API port; 0 = ephemeral
    #[arg(long, value_name = "N")]
    pub http_port: Option<u16>,
    /// Gossip port; 0 = ephemeral
    #[arg(long, value_name = "N")]
    pub gossip_port: Option<u16>,
    /// Data directory (default: ./data/<node-id>)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log level: trace, debug, info, warn, error
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Configuration tools
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Append-only file tools
    Aof {
        #[command(subcommand)]
        action: AofAction,
    },
    /// Snapshot tools
    Snapshot {
        #[command(subcommand)]
        action: SnapshotAction,
    },
    /// Ask this node's `/health` (for container health checks: the image has no curl);
    /// exits 0 when healthy. Reads the same file, variables and flags as the node.
    Health {
        /// Seconds to wait for the answer
        #[arg(long, value_name = "SECONDS", default_value_t = 3)]
        timeout: u64,
    },
    /// Print the SHA-256 of a token read from standard input (its trailing line break
    /// dropped), for `security.http_tokens`
    HashToken,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AofAction {
    /// Print every record of an AOF file
    Dump { file: PathBuf },
    /// Check an AOF file (as redis-check-aof); --fix truncates it to its last valid record
    Check {
        file: PathBuf,
        #[arg(long)]
        fix: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum SnapshotAction {
    /// Print every key of a snapshot file
    Dump { file: PathBuf },
}

/// Runs a subcommand; returns the exit status.
pub fn run_tool(cli: &Cli, command: &Command) -> ExitCode {
    use crate::persist::tools;
    let code = match command {
        Command::Config { action } => return run_config_action(action),
        Command::Health { timeout } => return run_health(cli, Duration::from_secs(*timeout)),
        Command::HashToken => return run_hash_token(),
        Command::Aof {
            action: AofAction::Dump { file },
        } => tools::aof_dump(file),
        Command::Aof {
            action: AofAction::Check { file, fix },
        } => tools::aof_check(file, *fix),
        Command::Snapshot {
            action: SnapshotAction::Dump { file },
        } => tools::snapshot_dump(file),
    };
    ExitCode::from(code as u8)
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ConfigAction {
    /// Check a config file (file only: no environment, no flags)
    Validate { file: PathBuf },
}

impl Cli {
    /// The flag layer for [`Config::load`].
    pub fn overrides(&self) -> Overrides {
        Overrides {
            node_id: self.node_id.clone(),
            bind: self.bind.clone(),
            resp_port: self.resp_port,
            http_port: self.http_port,
            gossip_port: self.gossip_port,
            data_dir: self.data_dir.clone(),
            log_level: self.log_level.clone(),
        }
    }
}

/// `config validate FILE`: `Ok` holds "FILE: ok" plus a summary line,
/// `Err` the full error message.
pub fn validate_config_file(file: &Path) -> Result<String, String> {
    match Config::from_file(file) {
        Ok(config) => {
            // The users' rules are read as the node reads them (and its ACL file, if any).
            let acl = crate::acl::Acl::from_config(&config)
                .map_err(|e| format!("{}: ACL users: {e}", file.display()))?;
            let mut report = format!("{}: ok\n{}", file.display(), config.summary());
            report.push_str(&format!("\nACL users: {}", acl.users().len()));
            for note in &config.notes {
                report.push_str("\nnote: ");
                report.push_str(note);
            }
            Ok(report)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Runs a `config` subcommand, printing its result.
pub fn run_config_action(action: &ConfigAction) -> ExitCode {
    match action {
        ConfigAction::Validate { file } => match validate_config_file(file) {
            Ok(report) => {
                println!("{report}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("{message}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `hash-token`: a token from standard input, as `security.http_tokens` keeps it.
fn run_hash_token() -> ExitCode {
    let mut token = Vec::new();
    // A token is short; more than this is not one.
    if std::io::stdin().take(4096).read_to_end(&mut token).is_err() {
        eprintln!("hypercache: cannot read the token from standard input");
        return ExitCode::FAILURE;
    }
    while let [rest @ .., b'\n' | b'\r'] = token.as_slice() {
        token.truncate(rest.len());
    }
    if token.is_empty() {
        eprintln!("hypercache: no token on standard input");
        return ExitCode::FAILURE;
    }
    println!("{}", crate::config::sha256_hex(&token));
    ExitCode::SUCCESS
}

/// `health`: the node's own `/health`, on the address its configuration gives.
fn run_health(cli: &Cli, timeout: Duration) -> ExitCode {
    let config = match Config::load(cli.config.as_deref(), &cli.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hypercache: {e}");
            return ExitCode::FAILURE;
        }
    };
    let host = match config.network.http_bind_addr.as_str() {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "::1",
        h => h,
    };
    match probe_health(host, config.network.http_port, timeout) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hypercache: health: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One `GET /health` over HTTP/1.0, bounded in time and in bytes read; `Ok` holds the
/// status line of a 200 answer.
pub fn probe_health(host: &str, port: u16, timeout: Duration) -> Result<String, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?
        .collect();
    let addr = addrs
        .first()
        .ok_or_else(|| format!("{host}:{port} has no address"))?;
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    stream
        .set_write_timeout(Some(left()))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    // The status line is all we need; 4 KiB holds it and the JSON body.
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    while len < buf.len() {
        stream
            .set_read_timeout(Some(left()))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            // A status line already read is enough when the rest is slow.
            Err(_) if buf[..len].contains(&b'\n') => break,
            Err(e) => return Err(format!("no answer from {addr}: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&buf[..len]);
    let status = text.lines().next().unwrap_or("").trim().to_string();
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code == "200" {
        Ok(status)
    } else {
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").trim();
        Err(format!("{addr} answered {status:?} {body}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_become_overrides() {
        let cli = Cli::try_parse_from([
            "hypercache",
            "--config",
            "c.yaml",
            "--node-id",
            "n2",
            "--bind",
            "0.0.0.0",
            "--resp-port",
            "0",
            "--http-port",
            "9100",
            "--gossip-port",
            "7000",
            "--data-dir",
            "/tmp/d",
            "--log-level",
            "debug",
        ])
        .expect("valid command line");
        assert_eq!(cli.config, Some(PathBuf::from("c.yaml")));
        assert_eq!(cli.command, None);
        let o = cli.overrides();
        assert_eq!(o.node_id.as_deref(), Some("n2"));
        assert_eq!(o.bind.as_deref(), Some("0.0.0.0"));
        assert_eq!(o.resp_port, Some(0));
        assert_eq!(o.http_port, Some(9100));
        assert_eq!(o.gossip_port, Some(7000));
        assert_eq!(o.data_dir, Some(PathBuf::from("/tmp/d")));
        assert_eq!(o.log_level.as_deref(), Some("debug"));
    }

    #[test]
    fn flags_match_the_table_of_keys() {
        let cli = Cli::command();
        let mut longs: Vec<String> = cli
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(|l| format!("--{l}"))
            .filter(|l| !["--config", "--help", "--version"].contains(&l.as_str()))
            .collect();
        let mut table: Vec<&str> = crate::config::keys::KEYS
            .iter()
            .filter_map(|k| k.flag)
            .collect();
        longs.sort_unstable();
        table.sort_unstable();
        assert_eq!(
            longs, table,
            "a flag is missing here or in config::keys::KEYS"
        );
    }

    #[test]
    fn no_flags_means_no_overrides() {
        let cli = Cli::try_parse_from(["hypercache"]).expect("valid command line");
        assert_eq!(cli.overrides(), Overrides::default());
    }

    #[test]
    fn bad_port_is_rejected() {
        assert!(Cli::try_parse_from(["hypercache", "--resp-port", "70000"]).is_err());
    }

    #[test]
    fn config_validate_subcommand() {
        let cli = Cli::try_parse_from(["hypercache", "config", "validate", "x.yaml"])
            .expect("valid command line");
        assert_eq!(
            cli.command,
            Some(Command::Config {
                action: ConfigAction::Validate {
                    file: PathBuf::from("x.yaml")
                }
            })
        );
        assert!(Cli::try_parse_from(["hypercache", "config", "validate"]).is_err());
    }

    #[test]
    fn validate_reports_ok_and_errors() {
        let good = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/node2-config.yaml"
        ));
        let report = validate_config_file(good).expect("example config is valid");
        assert!(
            report.starts_with(&format!("{}: ok\n", good.display())),
            "{report}"
        );
        assert!(report.contains("node node-2"), "{report}");

        let missing = Path::new("/nonexistent/hypercache.yaml");
        let err = validate_config_file(missing).expect_err("missing file");
        assert!(err.contains("/nonexistent/hypercache.yaml"), "{err}");
    }
}
