//! HyperCache: a Redis-compatible, distributed in-memory cache.

pub mod acl;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod collections;
pub mod command;
pub mod config;
pub mod error;
pub mod filter;
pub mod http;
pub mod latency;
pub mod metrics;
pub mod node;
pub mod persist;
pub mod pubsub;
pub mod resp;
pub mod script;
pub mod server;
pub mod slowlog;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod util;
pub mod write;
