//! Named stores over HTTP: create, list, inspect, delete, and their data at
//! `/api/stores/{name}/cache/{key}` with exactly the semantics of `/api/cache/{key}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::api::{self, ErrorResponse};
use super::{AppState, CorrelationId, error};
use crate::config::StoreConfig;
use crate::node::Node;
use crate::store::Store;

/// A store as the API shows it: its configuration and its figures.
#[derive(Serialize, ToSchema)]
pub struct StoreInfo {
    pub name: String,
    /// Bytes; 0 = bounded only by the node's `cache.max_memory`.
    pub max_memory: u64,
    pub eviction_policy: String,
    /// Milliseconds; null = none.
    pub default_ttl_ms: Option<u64>,
    pub cuckoo_filter: bool,
    pub cuckoo_filter_fpp: Option<f64>,
    pub persistence: String,
    pub replication_factor: Option<u32>,
    /// Declared in the configuration file (cannot be deleted over the API).
    pub from_config: bool,
    pub keys: u64,
    pub memory_bytes: u64,
    /// normal, warning, critical or panic.
    pub memory_pressure: String,
}

fn info_of(n: &Node, ks: &Store) -> StoreInfo {
    let spec = ks.spec.read().clone();
    StoreInfo {
        name: ks.name.to_string(),
        max_memory: ks.limits.max(),
        eviction_policy: ks.limits.policy().name().to_string(),
        default_ttl_ms: ks.default_ttl(&n.config.cache),
        cuckoo_filter: ks.filter_fpp().is_some(),
        cuckoo_filter_fpp: ks.filter_fpp(),
        persistence: spec
            .as_ref()
            .and_then(|s| s.persistence)
            .unwrap_or_default()
            .name()
            .to_string(),
        replication_factor: spec.as_ref().and_then(|s| s.replication_factor),
        from_config: &*ks.name == "default"
            || ks.from_config.load(std::sync::atomic::Ordering::Relaxed),
        keys: ks.keys(),
        memory_bytes: ks.used(),
        memory_pressure: ks
            .limits
            .level()
            .max(n.store.node_limits.level())
            .name()
            .to_string(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct StoreResponse {
    pub success: bool,
    pub store: StoreInfo,
    /// The original HyperCache's figures of the store.
    pub stats: StoreStats,
    pub node: String,
    pub correlation_id: String,
}

/// A store's figures under the original HyperCache's names.
#[derive(Serialize, ToSchema)]
pub struct StoreStats {
    pub total_items: u64,
    /// Bytes.
    pub total_memory: u64,
    pub hit_count: u64,
    pub miss_count: u64,
    /// hit_count / (hit_count + miss_count); 0 before any lookup.
    pub hit_rate: f64,
}

fn stats_of(ks: &Store) -> StoreStats {
    let (hits, misses) = ks.hits_misses();
    let lookups = hits + misses;
    StoreStats {
        total_items: ks.keys(),
        total_memory: ks.used(),
        hit_count: hits,
        miss_count: misses,
        hit_rate: if lookups == 0 {
            0.0
        } else {
            hits as f64 / lookups as f64
        },
    }
}

#[derive(Serialize, ToSchema)]
pub struct StoreList {
    pub success: bool,
    pub stores: Vec<StoreInfo>,
    /// Stores listed: the original HyperCache's name.
    pub total_count: usize,
    pub node: String,
    pub correlation_id: String,
}

/// The body of POST /api/stores (only `name` is required). Documentation only: the handler
/// reads the JSON itself (`StoreConfig::from_json`), exactly as strictly.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CreateStore {
    /// 1-64 characters of A-Z a-z 0-9 _ -, not all digits.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9_-]*[A-Za-z_-][A-Za-z0-9_-]*$"
    )]
    pub name: String,
    /// Bytes: 0 (bounded only by the node's `cache.max_memory`) or at least 1MB.
    #[schema(schema_with = max_memory_schema)]
    pub max_memory: Option<u64>,
    #[schema(schema_with = policy_schema)]
    pub eviction_policy: Option<String>,
    /// Milliseconds; 0 = none. Without it, the node's `cache.default_ttl` applies.
    #[schema(minimum = 0, maximum = 1000000000000000_i64)]
    pub default_ttl_ms: Option<u64>,
    /// The original HyperCache's form of `default_ttl_ms` ("0" = none, "30m"); with both,
    /// `default_ttl_ms` applies.
    #[schema(pattern = "^(0|[1-9][0-9]{0,5}(ms|s|m|h|d))$")]
    pub default_ttl: Option<String>,
    pub cuckoo_filter: Option<bool>,
    #[schema(exclusive_minimum = 0.0, exclusive_maximum = 1.0)]
    pub cuckoo_filter_fpp: Option<f64>,
    #[schema(schema_with = persistence_schema)]
    pub persistence: Option<String>,
    #[schema(minimum = 1, maximum = 2147483647_i64)]
    pub replication_factor: Option<u32>,
}

fn names_schema(names: &[&str], what: &str) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let mut values: Vec<serde_json::Value> = names.iter().map(|n| (*n).into()).collect();
    values.push(serde_json::Value::Null);
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values))
        .description(Some(what))
        .into()
}

fn max_memory_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([0]))
                .description(Some("No limit of its own")),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1_048_576))
                .maximum(Some(StoreConfig::JSON_MAX_INT as i64)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[1-9][0-9]{0,3}(MB|GB)$"))
                .description(Some("The original HyperCache's form")),
        )
        .description(Some(
            "Bytes: 0 (bounded only by the node's cache.max_memory) or at least 1MB; or text, 512MB",
        ))
        .into()
}

fn policy_schema() -> utoipa::openapi::schema::Schema {
    names_schema(
        StoreConfig::POLICY_NAMES,
        "The eviction policy (HyperCache's or Redis's name)",
    )
}

fn persistence_schema() -> utoipa::openapi::schema::Schema {
    names_schema(StoreConfig::PERSISTENCE_NAMES, "What is written to disk")
}

/// Creates a store on every node.
#[utoipa::path(post, path = "/api/stores", request_body(content = CreateStore, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = StoreResponse),
        (status = 400, description = "A bad field (named in the error)", body = ErrorResponse),
        (status = 409, description = "The store exists", body = ErrorResponse),
        (status = 413, description = "Body too large")))]
pub async fn create(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let n = &st.node;
    let body = match body {
        Ok(b) => b,
        Err(e) => return error(e.status(), &e.body_text(), n, &cid),
    };
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Malformed JSON: {e}"),
                n,
                &cid,
            );
        }
    };
    let spec = match StoreConfig::from_json(&json) {
        Ok(s) => s,
        Err((field, msg)) => {
            return error(StatusCode::BAD_REQUEST, &format!("{field}: {msg}"), n, &cid);
        }
    };
    if n.store.by_name(&spec.name).is_some() {
        return error(
            StatusCode::CONFLICT,
            &format!("Store '{}' already exists", spec.name),
            n,
            &cid,
        );
    }
    let mark = crate::write::Mark::take(n, true);
    let ks = match n.store.define_store(&spec, false, Some(&cid.0)) {
        Ok(ks) => ks,
        Err(why) => {
            return error(StatusCode::CONFLICT, &format!("name: {why}"), n, &cid);
        }
    };
    tracing::info!(component = "store", action = "create", store = %spec.name, "store created");
    let info = info_of(n, ks);
    let stats = stats_of(ks);
    if let Err(e) = api::settle(n, mark).await {
        return api::error_of(n, &e, &cid);
    }
    (
        StatusCode::CREATED,
        Json(StoreResponse {
            success: true,
            store: info,
            stats,
            node: n.config.node.id.clone(),
            correlation_id: cid.0,
        }),
    )
        .into_response()
}

/// Every store of this node, `default` first.
#[utoipa::path(get, path = "/api/stores", responses((status = 200, description = "The stores", body = StoreList)))]
pub async fn list(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Json<StoreList> {
    let n = &st.node;
    let stores: Vec<StoreInfo> = n
        .store
        .stores()
        .into_iter()
        .map(|k| info_of(n, k))
        .collect();
    Json(StoreList {
        success: true,
        total_count: stores.len(),
        stores,
        node: n.config.node.id.clone(),
        correlation_id: cid.0,
    })
}

fn not_found(n: &Node, name: &str, cid: &CorrelationId) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("Store '{name}' not found"),
        n,
        cid,
    )
}

/// The store name and the rest of the path after it.
fn split(uri: &Uri) -> (String, String) {
    let rest = uri.path().strip_prefix("/api/stores/").unwrap_or("");
    let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let name = String::from_utf8_lossy(&api::percent_decode(name.as_bytes())).into_owned();
    (name, tail.to_string())
}

/// One store's configuration and figures.
#[utoipa::path(get, path = "/api/stores/{name}", params(("name" = String, Path, description = "The store")),
    responses(
        (status = 200, description = "The store", body = StoreResponse),
        (status = 404, description = "No such store", body = ErrorResponse)))]
pub async fn get(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    uri: Uri,
) -> Response {
    let n = &st.node;
    let (name, _) = split(&uri);
    let Some(ks) = n.store.by_name(&name) else {
        return not_found(n, &name, &cid);
    };
    Json(StoreResponse {
        success: true,
        store: info_of(n, ks),
        stats: stats_of(ks),
        node: n.config.node.id.clone(),
        correlation_id: cid.0,
    })
    .into_response()
}

#[derive(Serialize, ToSchema)]
pub struct DeleteStoreResponse {
    pub success: bool,
    pub message: String,
    pub name: String,
    pub node: String,
    pub correlation_id: String,
}

/// Deletes a store and its data on every node.
#[utoipa::path(delete, path = "/api/stores/{name}", params(("name" = String, Path, description = "The store")),
    responses(
        (status = 200, description = "Deleted", body = DeleteStoreResponse),
        (status = 404, description = "No such store", body = ErrorResponse),
        (status = 409, description = "`default`, or declared in the configuration file", body = ErrorResponse)))]
pub async fn delete(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    uri: Uri,
) -> Response {
    let n = &st.node;
    let (name, _) = split(&uri);
    let mark = crate::write::Mark::take(n, true);
    let r = n.store.delete_store(&name, Some(&cid.0));
    match r {
        Ok(()) => {}
        Err("not found") => return not_found(n, &name, &cid),
        Err(why) => {
            return error(
                StatusCode::CONFLICT,
                &format!("Store '{name}' cannot be deleted: {why}"),
                n,
                &cid,
            );
        }
    }
    tracing::info!(component = "store", action = "delete", store = %name, "store deleted");
    if let Err(e) = api::settle(n, mark).await {
        return api::error_of(n, &e, &cid);
    }
    Json(DeleteStoreResponse {
        success: true,
        message: "Store deleted".into(),
        name,
        node: n.config.node.id.clone(),
        correlation_id: cid.0,
    })
    .into_response()
}

/// The store's database and the key of a `/api/stores/{name}/cache/{key}` path.
fn store_key(n: &Node, uri: &Uri) -> Result<(u32, Vec<u8>), String> {
    let (name, tail) = split(uri);
    let Some(key) = tail.strip_prefix("cache/") else {
        return Err(format!("Store '{name}' not found"));
    };
    let Some(ks) = n.store.by_name(&name) else {
        return Err(format!("Store '{name}' not found"));
    };
    Ok((ks.dbs()[0].index, api::percent_decode(key.as_bytes())))
}

/// Reads a key of a store.
#[utoipa::path(get, path = "/api/stores/{name}/cache/{key}",
    params(("name" = String, Path, description = "The store"), ("key" = String, Path, description = "The key, percent-encoded")),
    responses(
        (status = 200, description = "Found", body = api::GetResponse),
        (status = 400, description = "Empty key", body = ErrorResponse),
        (status = 404, description = "No such store or key", body = ErrorResponse),
        (status = 409, description = "The key holds a value that is not a string", body = ErrorResponse),
        (status = 503, description = "Loading", body = ErrorResponse)))]
pub async fn get_key(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let n = &st.node;
    match store_key(n, &uri) {
        Ok((db, key)) => api::get_in(n, cid, &headers, &uri, db, key).await,
        Err(msg) => error(StatusCode::NOT_FOUND, &msg, n, &cid),
    }
}

/// Sets a key of a store (the body of `PUT /api/cache/{key}`).
#[utoipa::path(put, path = "/api/stores/{name}/cache/{key}",
    params(("name" = String, Path, description = "The store"), ("key" = String, Path, description = "The key, percent-encoded")),
    request_body(content = api::SetRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored", body = api::SetResponse),
        (status = 400, description = "Bad body or key", body = ErrorResponse),
        (status = 404, description = "No such store", body = ErrorResponse),
        (status = 413, description = "Body too large"),
        (status = 503, description = "Loading, or not enough replicas acknowledged", body = ErrorResponse),
        (status = 507, description = "The disk refuses writes, or memory is at its panic level (OOM)", body = ErrorResponse)))]
pub async fn put_key(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let n = &st.node;
    match store_key(n, &uri) {
        Ok((db, key)) => api::put_in(n, cid, &headers, &uri, db, key, body).await,
        Err(msg) => error(StatusCode::NOT_FOUND, &msg, n, &cid),
    }
}

/// Deletes a key of a store.
#[utoipa::path(delete, path = "/api/stores/{name}/cache/{key}",
    params(("name" = String, Path, description = "The store"), ("key" = String, Path, description = "The key, percent-encoded")),
    responses(
        (status = 200, description = "Deleted, or there was nothing to delete", body = api::DeleteResponse),
        (status = 400, description = "Empty key", body = ErrorResponse),
        (status = 404, description = "No such store", body = ErrorResponse),
        (status = 503, description = "Loading, or not enough replicas acknowledged", body = ErrorResponse),
        (status = 507, description = "The disk refuses writes", body = ErrorResponse)))]
pub async fn delete_key(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let n = &st.node;
    match store_key(n, &uri) {
        Ok((db, key)) => api::delete_in(n, cid, &headers, &uri, db, key).await,
        Err(msg) => error(StatusCode::NOT_FOUND, &msg, n, &cid),
    }
}
