//! The layers over the file: `HYPERCACHE_*` variables, read through the table of keys, then
//! command-line flags. Both name the variable or flag in their errors, since there is no
//! file line to point at.

use super::keys::{self, Key};
use super::validate::{check_host, check_node_id};
use super::yaml::Spans;
use super::{Config, ConfigError, InvalidValue, Overrides};

impl Config {
    /// Applies `HYPERCACHE_*` values in the order given (a later one wins). Names the table
    /// does not know are left alone: `HYPERCACHE_CONFIG` is the caller's, others may belong
    /// to tooling.
    pub(super) fn apply_env(
        &mut self,
        env: &[(String, String)],
        spans: &mut Spans,
    ) -> Result<(), ConfigError> {
        for (var, value) in env {
            let Some(key) = keys::by_env(var) else {
                continue;
            };
            let fail = |message: String| ConfigError::Env {
                var: var.clone(),
                message,
            };
            if let Some(check) = key.check {
                check(value).map_err(fail)?;
            }
            let also = key.also.iter().filter_map(|path| keys::by_yaml(path));
            for k in std::iter::once(key).chain(also) {
                self.set_text(k, value, spans).map_err(|e| fail(e.0))?;
            }
        }
        Ok(())
    }

    /// Sets one key from text in the file's grammar; its file position no longer applies.
    fn set_text(&mut self, key: &Key, value: &str, spans: &mut Spans) -> Result<(), InvalidValue> {
        if let Some(load) = key.load {
            load(self, value)?;
        }
        for path in key.yaml {
            spans.remove(*path);
        }
        Ok(())
    }

    /// Flags come typed from clap (ports as numbers, the data directory as a path that need
    /// not be UTF-8), so they are applied field by field rather than as text; the table
    /// lists them, and a test in `cli.rs` keeps the two in step.
    pub(super) fn apply_overrides(
        &mut self,
        o: &Overrides,
        spans: &mut Spans,
    ) -> Result<(), ConfigError> {
        let fail = |flag: &str, message: String| ConfigError::Flag {
            flag: flag.to_owned(),
            message,
        };
        if let Some(id) = &o.node_id {
            check_node_id(id).map_err(|m| fail("--node-id", m))?;
            self.node.id = id.clone();
            spans.remove("node.id");
        }
        if let Some(bind) = &o.bind {
            check_host(bind).map_err(|m| fail("--bind", m))?;
            self.set_bind(bind, spans);
        }
        if let Some(p) = o.resp_port {
            self.network.resp_port = p;
            spans.remove("network.resp_port");
        }
        if let Some(p) = o.http_port {
            self.network.http_port = p;
            spans.remove("network.http_port");
        }
        if let Some(p) = o.gossip_port {
            self.network.gossip_port = p;
            spans.remove("network.gossip_port");
        }
        if let Some(dir) = &o.data_dir {
            if dir.as_os_str().is_empty() {
                return Err(fail("--data-dir", "must not be empty".to_owned()));
            }
            self.node.data_dir = Some(dir.clone());
            spans.remove("node.data_dir");
        }
        if let Some(level) = &o.log_level {
            self.logging.level = level
                .parse()
                .map_err(|e: InvalidValue| fail("--log-level", e.0))?;
            spans.remove("logging.level");
        }
        Ok(())
    }

    fn set_bind(&mut self, addr: &str, spans: &mut Spans) {
        self.network.resp_bind_addr = addr.to_owned();
        self.network.http_bind_addr = addr.to_owned();
        spans.remove("network.resp_bind_addr");
        spans.remove("network.http_bind_addr");
    }
}
