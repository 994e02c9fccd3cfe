//! A named store's settings, from the file's `stores:` list or from the JSON the HTTP API
//! and peers exchange (whose schema is stricter, so both forms are checked here).

use std::time::Duration;

use super::units::MIB;
use super::validate::{check_fpp, check_store_name};
use super::{EvictionPolicy, InvalidValue, PersistenceStrategy};

/// A named store (keyspace) with its own policies. `None` fields inherit the
/// node-wide setting.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// `[A-Za-z0-9_-]{1,64}`, not all digits, unique (case-sensitive).
    /// `default` configures the default store.
    pub name: String,
    /// Bytes; 0 = share the node limit.
    pub max_memory: u64,
    pub eviction_policy: Option<EvictionPolicy>,
    /// `None` = inherit `cache.default_ttl`; `Some(ZERO)` (YAML `0`) = no
    /// default TTL for this store even if the node has one.
    pub default_ttl: Option<Duration>,
    /// On for the `default` store, off for the others unless set: about 1.5 bytes per key
    /// and 15–25 ns per local miss buy `/api/filter/*`, and in a cluster under
    /// `consistency_level: all` a definite "absent" without asking the peers (see the README).
    pub cuckoo_filter: bool,
    /// `None` = inherit `cache.cuckoo_filter_fpp`.
    pub cuckoo_filter_fpp: Option<f64>,
    pub persistence: Option<PersistenceStrategy>,
    pub replication_factor: Option<u32>,
}

impl StoreConfig {
    /// A store with every policy inherited (and the filter on for `default` only).
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            cuckoo_filter: name == "default",
            name,
            max_memory: 0,
            eviction_policy: None,
            default_ttl: None,
            cuckoo_filter_fpp: None,
            persistence: None,
            replication_factor: None,
        }
    }
}

impl StoreConfig {
    /// The store as JSON (the HTTP API, and the record that creates it on every node).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "max_memory": self.max_memory,
            "eviction_policy": self.eviction_policy.map(|p| p.name()),
            "default_ttl_ms": self.default_ttl.map(|d| d.as_millis() as u64),
            "cuckoo_filter": self.cuckoo_filter,
            "cuckoo_filter_fpp": self.cuckoo_filter_fpp,
            "persistence": self.persistence.map(|p| p.name()),
            "replication_factor": self.replication_factor,
        })
    }

    /// Eviction policy names the JSON API accepts (exactly, as its schema lists them).
    pub const POLICY_NAMES: &'static [&'static str] = &[
        "lru",
        "lfu",
        "ttl",
        "session",
        "random",
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ];
    /// Persistence strategies the JSON API accepts.
    /// (`hybrid` and `aof_only` are the original HyperCache's names.)
    pub const PERSISTENCE_NAMES: &'static [&'static str] = &[
        "aof+snapshot",
        "aof",
        "snapshot",
        "disabled",
        "hybrid",
        "aof_only",
    ];
    /// The largest whole number JSON carries exactly.
    pub const JSON_MAX_INT: u64 = (1 << 53) - 1;
    /// The longest default TTL, in ms (as the HTTP API's TTLs).
    pub const MAX_TTL_MS: u64 = 1_000_000_000_000_000;

    /// `max_memory` as text, the original HyperCache's form: exactly `[1-9][0-9]{0,3}(MB|GB)`
    /// (the schema's pattern, so the API accepts what its schema allows and nothing else).
    fn size_text(t: &str) -> Option<u64> {
        let (digits, unit) = t.split_at(t.len().checked_sub(2)?);
        let scale = match unit {
            "MB" => MIB,
            "GB" => 1024 * MIB,
            _ => return None,
        };
        Self::small_number(digits, 4).map(|n| n * scale)
    }

    /// `default_ttl` as text: `0`, or `[1-9][0-9]{0,5}` then `ms`, `s`, `m`, `h` or `d`.
    fn ttl_text(t: &str) -> Option<Duration> {
        if t == "0" {
            return Some(Duration::ZERO);
        }
        let split = t.find(|c: char| !c.is_ascii_digit())?;
        let n = Self::small_number(&t[..split], 6)?;
        let ms = match &t[split..] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        Some(Duration::from_millis(n * ms))
    }

    /// 1 to `max_digits` ASCII digits without a leading zero.
    fn small_number(digits: &str, max_digits: usize) -> Option<u64> {
        let ok = !digits.is_empty()
            && digits.len() <= max_digits
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| digits.parse().ok()).flatten()
    }

    /// A store from JSON (the HTTP API, and the records that create stores on every node),
    /// validated as strictly as its schema states; the error names the field. Null fields are
    /// absent ones.
    pub fn from_json(v: &serde_json::Value) -> Result<StoreConfig, (String, String)> {
        use serde_json::Value as J;
        let bad = |f: &str, m: &str| (f.to_string(), m.to_string());
        let Some(obj) = v.as_object() else {
            return Err(bad("body", "must be a JSON object"));
        };
        let name = match obj.get("name") {
            Some(J::String(n)) => n.clone(),
            Some(J::Null) | None => return Err(bad("name", "is required")),
            Some(_) => return Err(bad("name", "must be a string")),
        };
        check_store_name(&name).map_err(|m| bad("name", &m))?;
        let mut s = StoreConfig::new(name);
        for (k, val) in obj {
            if val.is_null() {
                continue;
            }
            // JSON Schema counts 5.0 as an integer too.
            let int = |max: u64, what: &str| {
                val.as_u64()
                    .or_else(|| {
                        val.as_f64()
                            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= max as f64)
                            .map(|f| f as u64)
                    })
                    .filter(|&n| n <= max)
                    .ok_or_else(|| bad(k, what))
            };
            let one_of = |names: &[&str]| {
                val.as_str()
                    .filter(|t| names.contains(t))
                    .ok_or_else(|| bad(k, &format!("must be one of: {}", names.join(", "))))
            };
            match k.as_str() {
                "name" => {}
                "max_memory" => {
                    // A store's tables and filter alone take tens of KB: a smaller limit
                    // could refuse every write.
                    let what = "must be 0 (no limit of its own), a whole number of bytes from 1048576 (1MB), or 1MB to 9999GB as text (\"512MB\")";
                    let m = match val.as_str() {
                        // The original HyperCache's form.
                        Some(t) => Self::size_text(t).ok_or_else(|| bad(k, what))?,
                        None => int(Self::JSON_MAX_INT, what)?,
                    };
                    if m != 0 && m < MIB {
                        return Err(bad(k, what));
                    }
                    s.max_memory = m;
                }
                "default_ttl_ms" => {
                    s.default_ttl = Some(Duration::from_millis(int(
                        Self::MAX_TTL_MS,
                        "must be a whole number of milliseconds up to 1e15 (0 = none)",
                    )?))
                }
                // The original HyperCache's form: "0" (none), "30m", "1h".
                "default_ttl" => {
                    let what = "must be \"0\" (none) or 1 to 999999 of ms, s, m, h or d (\"30m\")";
                    let t = val.as_str().ok_or_else(|| bad(k, what))?;
                    let ttl = Self::ttl_text(t).ok_or_else(|| bad(k, what))?;
                    // default_ttl_ms, ours and exact, wins when both are given.
                    if obj.get("default_ttl_ms").is_none_or(|v| v.is_null()) {
                        s.default_ttl = Some(ttl);
                    }
                }
                "eviction_policy" => {
                    let t = one_of(Self::POLICY_NAMES)?;
                    s.eviction_policy = Some(t.parse().map_err(|e: InvalidValue| bad(k, &e.0))?);
                }
                "cuckoo_filter" => {
                    s.cuckoo_filter = val
                        .as_bool()
                        .ok_or_else(|| bad(k, "must be true or false"))?
                }
                "cuckoo_filter_fpp" => {
                    let f = val.as_f64().ok_or_else(|| bad(k, "must be a number"))?;
                    check_fpp(f).map_err(|m| bad(k, &m))?;
                    s.cuckoo_filter_fpp = Some(f);
                }
                "persistence" => {
                    let t = one_of(Self::PERSISTENCE_NAMES)?;
                    s.persistence = Some(t.parse().map_err(|e: InvalidValue| bad(k, &e.0))?);
                }
                "replication_factor" => {
                    let rf = int(
                        i32::MAX as u64,
                        "must be a whole number from 1 to 2147483647",
                    )?;
                    if rf == 0 {
                        return Err(bad(k, "must be a whole number from 1 to 2147483647"));
                    }
                    s.replication_factor = Some(rf as u32);
                }
                other => return Err(bad(other, "unknown field")),
            }
        }
        Ok(s)
    }
}
