//! The `hypercache` binary: runs a node, or one of the tools.

use std::process::ExitCode;

use clap::Parser;
use hypercache::cli::Cli;
use hypercache::config::Config;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start: a background thread returns freed pages to the
/// kernel within a second (without it, pages freed by a table resize stay resident until the
/// next allocation burst, and RSS runs far above what is in use).
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 60] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(command) = &cli.command {
        return hypercache::cli::run_tool(&cli, command);
    }
    let config = match Config::load(cli.config.as_deref(), &cli.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hypercache: {e}");
            return ExitCode::from(1);
        }
    };
    hypercache::telemetry::init(&config.logging, &config.node.id);
    for note in &config.notes {
        tracing::warn!(component = "config", action = "legacy_key", "{note}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hypercache")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hypercache: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(hypercache::server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(component = "node", action = "start", error = %e, "cannot start");
            eprintln!("hypercache: {e}");
            ExitCode::from(1)
        }
    }
}
