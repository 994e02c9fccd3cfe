//! The store's cuckoo filter over HTTP: its figures, and what it says of one key.

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{AppState, CorrelationId, error};
use crate::node::Node;
use crate::store::Access;
use crate::util::time::now_ms;

#[derive(Deserialize, IntoParams)]
pub struct StoreQuery {
    /// The store (default: `default`).
    pub store: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FalsePositiveRate {
    /// The configured rate (`cuckoo_filter_fpp`).
    pub configured: f64,
    /// False positives among the lookups of absent keys so far.
    pub observed: f64,
    /// What the fill of the filter predicts.
    pub expected: f64,
}

#[derive(Serialize, ToSchema)]
pub struct FilterOperations {
    pub adds: u64,
    pub lookups: u64,
    pub deletes: u64,
}

#[derive(Serialize, ToSchema)]
pub struct FilterStats {
    pub store: String,
    /// Fingerprints held (one per key).
    pub size: u64,
    /// Fingerprint slots.
    pub capacity: u64,
    pub load_factor: f64,
    /// Bytes of the fingerprint arrays.
    pub memory_usage: u64,
    pub fingerprint_bits: u32,
    pub bucket_size: usize,
    pub false_positive_rate: FalsePositiveRate,
    pub operations: FilterOperations,
    /// Lookups answered "definitely absent" (the keyspace was not consulted).
    pub negatives: u64,
    pub false_positives: u64,
    pub failed_adds: u64,
    pub kicks: u64,
    /// Growth layers added and rebuilds into one layer.
    pub resizes: u64,
    /// The same figures under the original HyperCache's names (its `FilterStats`), for
    /// clients and its Postman collection written against it.
    pub stats: CompatFilterStats,
    pub node: String,
    pub correlation_id: String,
}

/// The original HyperCache's `/api/filter/stats` `stats` object.
#[derive(Serialize, ToSchema)]
pub struct CompatFilterStats {
    pub size: u64,
    pub capacity: u64,
    pub load_factor: f64,
    pub memory_usage: u64,
    /// The configured rate (the original's "theoretical" rate).
    pub false_positive_rate: f64,
    pub add_operations: u64,
    pub lookup_operations: u64,
    pub delete_operations: u64,
    pub successful_adds: u64,
    pub failed_adds: u64,
    pub resize_operations: u64,
}

/// The database of the store asked for, or the message for its absence.
fn store_of(n: &Node, q: &StoreQuery) -> Result<u32, String> {
    let name = q.store.as_deref().unwrap_or("default");
    n.store
        .by_name(name)
        .map(|ks| ks.dbs()[0].index)
        .ok_or_else(|| format!("Store '{name}' not found"))
}

fn off(n: &Node, cid: &CorrelationId) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "The cuckoo filter is off for this store (cuckoo_filter: false)",
        n,
        cid,
    )
}

/// Figures of a store's cuckoo filter.
#[utoipa::path(get, path = "/api/filter/stats", params(StoreQuery),
    responses(
        (status = 200, description = "The filter's figures", body = FilterStats),
        (status = 404, description = "No such store, or its filter is off", body = super::api::ErrorResponse)))]
pub async fn stats(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<StoreQuery>,
) -> Response {
    let n = &st.node;
    let db = match store_of(n, &q) {
        Ok(db) => db,
        Err(msg) => return error(StatusCode::NOT_FOUND, &msg, n, &cid),
    };
    let ks = n.store.store_of(db);
    let (Some(f), Some(configured)) = (ks.filter_figures(), ks.filter_fpp()) else {
        return off(n, &cid);
    };
    Json(FilterStats {
        store: q.store.unwrap_or_else(|| "default".into()),
        size: f.size,
        capacity: f.capacity,
        load_factor: f.load_factor(),
        memory_usage: f.memory,
        fingerprint_bits: f.fingerprint_bits,
        bucket_size: f.bucket_size,
        false_positive_rate: FalsePositiveRate {
            configured,
            observed: f.observed_fpp(),
            expected: f.expected_fpp,
        },
        operations: FilterOperations {
            adds: f.ops.adds,
            lookups: f.ops.lookups,
            deletes: f.ops.deletes,
        },
        negatives: f.negatives,
        false_positives: f.false_positives,
        failed_adds: f.ops.failed_adds,
        kicks: f.ops.kicks,
        resizes: f.ops.resizes,
        stats: CompatFilterStats {
            size: f.size,
            capacity: f.capacity,
            load_factor: f.load_factor(),
            memory_usage: f.memory,
            false_positive_rate: configured,
            add_operations: f.ops.adds,
            lookup_operations: f.ops.lookups,
            delete_operations: f.ops.deletes,
            successful_adds: f.ops.adds.saturating_sub(f.ops.failed_adds),
            failed_adds: f.ops.failed_adds,
            resize_operations: f.ops.resizes,
        },
        node: n.config.node.id.clone(),
        correlation_id: cid.0,
    })
    .into_response()
}

#[derive(Serialize, ToSchema)]
pub struct FilterCheck {
    pub key: String,
    /// true: the key may be present; false: it is certainly absent.
    pub filter_says: bool,
    pub actually_exists: bool,
    /// The filter said "maybe" for a key this node does not hold.
    pub false_positive: bool,
    pub node: String,
    pub correlation_id: String,
}

/// What the filter says of one key, against the truth.
#[utoipa::path(get, path = "/api/filter/check/{key}", params(("key" = String, Path, description = "The key, percent-encoded"), StoreQuery),
    responses(
        (status = 200, description = "The filter's answer", body = FilterCheck),
        (status = 400, description = "Empty key", body = super::api::ErrorResponse),
        (status = 404, description = "No such store, or its filter is off", body = super::api::ErrorResponse)))]
pub async fn check(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<StoreQuery>,
    uri: Uri,
) -> Response {
    let n = &st.node;
    let key = super::api::key_under(&uri, "/api/filter/check/");
    if key.is_empty() {
        return error(StatusCode::BAD_REQUEST, "Empty key", n, &cid);
    }
    let db = match store_of(n, &q) {
        Ok(db) => db,
        Err(msg) => return error(StatusCode::NOT_FOUND, &msg, n, &cid),
    };
    let Some(says) = n.store.may_contain(db, &key) else {
        return off(n, &cid);
    };
    let exists = n
        .store
        .with_key(db, &key, now_ms(), Access::Peek, |k| k.exists());
    Json(FilterCheck {
        key: String::from_utf8_lossy(&key).into_owned(),
        filter_says: says,
        actually_exists: exists,
        false_positive: says && !exists,
        node: n.config.node.id.clone(),
        correlation_id: cid.0,
    })
    .into_response()
}
