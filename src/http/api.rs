//! Cache, health, stats and cluster routes.
//!
//! Values: a JSON string is stored as its bytes (so RESP GET returns them as they are); any
//! other JSON value is stored as its JSON text and remembered as JSON, so HTTP reads return it
//! with its type while RESP GET returns the text. A value written over RESP reads back over
//! HTTP as a JSON string; bytes that are not UTF-8 come back base64-encoded, with
//! `"value_encoding": "base64"` beside them.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;

use super::{AppState, CorrelationId, error};
use crate::node::Node;
use crate::store::{Access, Value, ValueRef};
use crate::util::time::now_ms;

#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    pub success: bool,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The named store of a `/api/stores/{name}/cache/...` route (the original's field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub node: String,
    pub correlation_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    pub healthy: bool,
    pub node: String,
    pub cluster_size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub correlation_id: String,
}

/// Liveness and readiness of the node.
#[utoipa::path(get, path = "/health", responses(
    (status = 200, description = "The node serves", body = HealthResponse),
    (status = 503, description = "Loading, or the disk refuses writes", body = HealthResponse)))]
pub async fn health(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Response {
    let n = &st.node;
    let reason = if n.is_loading() {
        Some("loading the data directory".to_string())
    } else {
        n.persistence.as_ref().and_then(|p| p.refuses_writes())
    };
    let body = HealthResponse {
        healthy: reason.is_none(),
        node: n.config.node.id.clone(),
        cluster_size: n.cluster.live_size(),
        reason,
        correlation_id: cid.0,
    };
    let status = if body.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The key of a `/api/cache/{key}` path: percent-decoded, binary-safe.
fn key_of(uri: &Uri) -> Vec<u8> {
    key_under(uri, "/api/cache/")
}

/// The percent-decoded rest of the path after `prefix` (taken from the raw path, so keys may
/// hold `/` and any byte).
pub fn key_under(uri: &Uri, prefix: &str) -> Vec<u8> {
    let raw = uri.path().strip_prefix(prefix).unwrap_or("");
    percent_decode(raw.as_bytes())
}

pub fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `/api/cache/` without a key.
pub async fn empty_key(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Response {
    error(StatusCode::BAD_REQUEST, "Empty key", &st.node, &cid)
}

/// Values up to this many bytes of JSON are echoed back by PUT.
pub const ECHO_MAX: usize = 4096;

/// JSON text without the whitespace between tokens (strings left as they are), so a value
/// reads back over RESP as compact text.
fn compact_json(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let (mut in_str, mut escaped) = (false, false);
    for &c in text.as_bytes() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
            out.push(c);
        } else if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(c);
        }
    }
    out
}

#[derive(Serialize, ToSchema)]
pub struct KeyValue {
    pub key: String,
    /// The value; PUT echoes it only up to 4096 bytes of JSON (see `size`).
    #[schema(schema_with = any_but_null)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Box<serde_json::value::RawValue>>,
    /// The stored value's size in bytes (PUT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_encoding: Option<String>,
    /// The type of a value that is not a string, as TYPE names it (`hash`, ...).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Milliseconds until the key expires; null without a TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_remaining_ms: Option<Option<i64>>,
}

/// Any JSON value but null.
fn any_but_null() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    let of = |t| ObjectBuilder::new().schema_type(t);
    AnyOfBuilder::new()
        .item(of(Type::String))
        .item(of(Type::Number))
        .item(of(Type::Boolean))
        .item(of(Type::Array))
        .item(of(Type::Object))
        .description(Some("Any JSON value but null"))
        .into()
}

/// The body of `PUT /api/cache/{key}`. Documentation only: the handler reads the JSON itself,
/// to answer every mistake with a JSON 400. TTL fields may be null (no TTL); with none, the
/// configured `cache.default_ttl` applies.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SetRequest {
    #[schema(schema_with = any_but_null)]
    pub value: serde_json::Value,
    #[schema(exclusive_minimum = 0.0, maximum = 1e15)]
    pub ttl_ms: Option<f64>,
    #[schema(exclusive_minimum = 0.0, maximum = 1e12)]
    pub ttl_seconds: Option<f64>,
    #[schema(exclusive_minimum = 0.0, maximum = 2.7e8)]
    pub ttl_hours: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct SetResponse {
    pub success: bool,
    pub message: String,
    pub data: KeyValue,
    /// The named store of a `/api/stores/{name}/cache/...` route (the original's field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub node: String,
    pub replicated: bool,
    pub correlation_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct GetResponse {
    pub success: bool,
    pub data: KeyValue,
    /// The named store of a `/api/stores/{name}/cache/...` route (the original's field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub node: String,
    /// False when the value had to be fetched from another replica first.
    pub local: bool,
    pub correlation_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct DeleteResponse {
    pub success: bool,
    pub message: String,
    pub existed: bool,
    pub key: String,
    /// The named store of a `/api/stores/{name}/cache/...` route (the original's field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub node: String,
    pub replicated: bool,
    pub correlation_id: String,
}

/// The name of a named store (`db` with the NAMED bit) for its routes' answers.
fn store_name(n: &Node, db: u32) -> Option<String> {
    if db & crate::store::NAMED == 0 {
        return None;
    }
    n.store.find(db).map(|ks| ks.name.to_string())
}

/// The JSON error for a typed error: the same text as over RESP, with its HTTP status.
pub(super) fn error_of(n: &Node, e: &crate::error::Error, cid: &CorrelationId) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(status, &e.to_string(), n, cid)
}

/// Settles a write made since `mark` (durable and acknowledged as the configured policies
/// ask); true when it was queued for a replica.
pub(super) async fn settle(
    n: &Node,
    mark: crate::write::Mark,
) -> Result<bool, crate::error::Error> {
    let receipt = mark.receipt(n);
    let replicated = receipt.replicated;
    crate::write::settle(n, receipt, crate::write::WaitOn::Any).await?;
    Ok(replicated)
}

/// Sets a key (JSON body `{"value": ..., "ttl_ms"|"ttl_seconds"|"ttl_hours": n}`).
#[utoipa::path(put, path = "/api/cache/{key}", params(("key" = String, Path, description = "The key, percent-encoded")),
    request_body(content = SetRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored", body = SetResponse),
        (status = 400, description = "Bad body or key", body = ErrorResponse),
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
    put_in(&st.node, cid, &headers, &uri, 0, key_of(&uri), body).await
}

/// The path and query a relayed request goes to.
fn path_of(uri: &Uri) -> &str {
    uri.path_and_query().map_or(uri.path(), |p| p.as_str())
}

/// PUT of a key of store `db` (the default store's routes and `/api/stores/{name}/cache`).
pub async fn put_in(
    n: &Node,
    cid: CorrelationId,
    headers: &HeaderMap,
    uri: &Uri,
    db: u32,
    key: Vec<u8>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return error(e.status(), &e.body_text(), n, &cid),
    };
    if key.is_empty() {
        return error(StatusCode::BAD_REQUEST, "Empty key", n, &cid);
    }
    if let Some(t) = super::forward::target(n, headers, db, &key) {
        return super::forward::relay(n, &cid, headers, t, "PUT", path_of(uri), &body).await;
    }
    // The body is checked and taken apart without building a tree of it: a value is kept as
    // the text it came in (a string as its bytes), so a 16 MB array costs 16 MB, not a
    // gigabyte of nodes.
    let fields: std::collections::HashMap<std::borrow::Cow<'_, str>, &serde_json::value::RawValue> =
        match serde_json::from_slice::<&serde_json::value::RawValue>(&body) {
            Ok(raw) if raw.get().trim_start().starts_with('{') => {
                match serde_json::from_str(raw.get()) {
                    Ok(f) => f,
                    Err(e) => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            &format!("Malformed JSON: {e}"),
                            n,
                            &cid,
                        );
                    }
                }
            }
            Ok(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "The body must be a JSON object with a \"value\"",
                    n,
                    &cid,
                );
            }
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("Malformed JSON: {e}"),
                    n,
                    &cid,
                );
            }
        };
    let value = match fields.get("value").map(|v| v.get()) {
        None | Some("null") => {
            return error(
                StatusCode::BAD_REQUEST,
                "Missing \"value\" (it may not be null)",
                n,
                &cid,
            );
        }
        Some(v) => v,
    };
    let now = now_ms();
    let mut ttl_ms: Option<u64> = None;
    // Each field's bound keeps the TTL under 1e15 ms; the OpenAPI schema states the same.
    for (field, scale, max) in [
        ("ttl_ms", 1.0, 1e15),
        ("ttl_seconds", 1000.0, 1e12),
        ("ttl_hours", 3_600_000.0, 2.7e8),
    ] {
        if let Some(v) = fields.get(field).filter(|v| v.get() != "null") {
            match serde_json::from_str::<f64>(v.get()) {
                Ok(x) if x > 0.0 && x <= max => ttl_ms = Some((x * scale).ceil() as u64),
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!("\"{field}\" must be a number above 0 and at most {max:e}"),
                        n,
                        &cid,
                    );
                }
            }
        }
    }
    let ttl_ms = ttl_ms.or(n.store.store_of(db).default_ttl(&n.config.cache));
    let intent = crate::write::Intent {
        db,
        while_loading: false,
        grows: Some(body.len() as u64),
    };
    if let Err(e) = crate::write::admit(n, intent, now) {
        return error_of(n, &e, &cid);
    }
    let stored = if value.starts_with('"') {
        match serde_json::from_str::<std::borrow::Cow<'_, str>>(value) {
            Ok(s) => Value::from_bytes(s.as_bytes()),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("Malformed JSON: {e}"),
                    n,
                    &cid,
                );
            }
        }
    } else {
        Value::Json(compact_json(value).into_boxed_slice())
    };
    let size = stored.as_ref().str_len().unwrap_or(0);
    if stored.as_ref().str_len().unwrap_or(0) as u64 > n.settings.proto_max_bulk_len() {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The value exceeds proto-max-bulk-len",
            n,
            &cid,
        );
    }
    let expire_at = ttl_ms.map_or(0, |t| now + t);
    let mark = crate::write::Mark::take(n, true);
    // A string does not replace a collection: a client of the API would lose it unawares.
    // Inside the transaction gate, as every RESP command: an EXEC never sees it half-way.
    let wrong_type = {
        let _inside = n.store.gate.enter();
        n.store
            .with_key_traced(db, &key, now, Access::Write, Some(&cid.0), |k| {
                if k.value().is_some_and(|v| v.kind().is_collection()) {
                    return true;
                }
                k.set(stored, expire_at);
                false
            })
    };
    crate::pubsub::notify::flush(n, None, true, None);
    if wrong_type {
        return error_of(n, &crate::error::Error::WrongType, &cid);
    }
    tracing::debug!(component = "http", action = "set", key = %lossy(&key), "key set");
    let replicated = match settle(n, mark).await {
        Ok(r) => r,
        Err(e) => return error_of(n, &e, &cid),
    };
    // Echoed only when small: a big value is not sent back to the one who just sent it.
    let echo = (value.len() <= ECHO_MAX)
        .then(|| serde_json::value::RawValue::from_string(value.to_string()).ok())
        .flatten();
    Json(SetResponse {
        success: true,
        message: "Key set successfully".into(),
        data: KeyValue {
            key: lossy(&key),
            value: echo,
            size: Some(size),
            value_encoding: None,
            kind: None,
            ttl_remaining_ms: None,
        },
        store: store_name(n, db),
        node: n.config.node.id.clone(),
        replicated,
        correlation_id: cid.0,
    })
    .into_response()
}

/// The JSON form of a stored value (and its encoding when it is not UTF-8). JSON values are
/// embedded as their text (checked, never parsed into a tree).
fn to_json(v: ValueRef<'_>) -> Option<(Box<serde_json::value::RawValue>, Option<String>)> {
    use serde_json::value::RawValue;
    if let ValueRef::Json(t) = v
        && let Ok(text) = std::str::from_utf8(t)
        && let Ok(raw) = RawValue::from_string(text.to_string())
    {
        return Some((raw, None));
    }
    let set_members;
    let elements: Option<Vec<std::borrow::Cow<'_, [u8]>>> = match v {
        ValueRef::List(l) => Some(l.iter().collect()),
        ValueRef::Set(x) => {
            set_members = x.to_vecs();
            Some(set_members.iter().map(|m| m.as_slice().into()).collect())
        }
        _ => None,
    };
    if let Some(elements) = elements {
        // An array of its elements; all in base64 when any is not UTF-8.
        let utf8 = elements.iter().all(|e| std::str::from_utf8(e).is_ok());
        let items: Vec<serde_json::Value> = elements
            .iter()
            .map(|e| {
                serde_json::Value::String(match utf8 {
                    true => String::from_utf8_lossy(e).into_owned(),
                    false => base64::engine::general_purpose::STANDARD.encode(e),
                })
            })
            .collect();
        let raw = RawValue::from_string(serde_json::to_string(&items).ok()?).ok()?;
        return Some((raw, (!utf8).then(|| "base64".to_string())));
    }
    if let ValueRef::ZSet(z) = v {
        // An array of [member, score], lowest first; members in base64 when any is not UTF-8.
        let utf8 = z.iter().all(|(_, m)| std::str::from_utf8(m).is_ok());
        let items: Vec<serde_json::Value> = z
            .iter()
            .map(|(s, m)| {
                let member = match utf8 {
                    true => String::from_utf8_lossy(m).into_owned(),
                    false => base64::engine::general_purpose::STANDARD.encode(m),
                };
                // JSON has no infinities: those scores go as Redis writes them.
                let score = match serde_json::Number::from_f64(s) {
                    Some(n) if s.is_finite() => serde_json::Value::Number(n),
                    _ => serde_json::Value::String(if s > 0.0 { "inf" } else { "-inf" }.into()),
                };
                serde_json::json!([member, score])
            })
            .collect();
        let raw = RawValue::from_string(serde_json::to_string(&items).ok()?).ok()?;
        return Some((raw, (!utf8).then(|| "base64".to_string())));
    }
    if let ValueRef::Hash(h) = v {
        // An object of its fields; all in base64 when any field or value is not UTF-8.
        let utf8 = h
            .iter()
            .all(|(f, v)| std::str::from_utf8(f).is_ok() && std::str::from_utf8(v).is_ok());
        let text = |b: &[u8]| match utf8 {
            true => String::from_utf8_lossy(b).into_owned(),
            false => base64::engine::general_purpose::STANDARD.encode(b),
        };
        let object: serde_json::Map<String, serde_json::Value> = h
            .iter()
            .map(|(f, v)| (text(f), serde_json::Value::String(text(v))))
            .collect();
        let raw = RawValue::from_string(serde_json::to_string(&object).ok()?).ok()?;
        return Some((raw, (!utf8).then(|| "base64".to_string())));
    }
    let string = |s: &str| RawValue::from_string(serde_json::to_string(s).unwrap_or_default());
    v.with_bytes(|b| match std::str::from_utf8(b) {
        Ok(s) => string(s).ok().map(|r| (r, None)),
        Err(_) => string(&base64::engine::general_purpose::STANDARD.encode(b))
            .ok()
            .map(|r| (r, Some("base64".to_string()))),
    })
    .flatten()
}

/// Reads a key.
#[utoipa::path(get, path = "/api/cache/{key}", params(("key" = String, Path, description = "The key, percent-encoded")),
    responses(
        (status = 200, description = "Found", body = GetResponse),
        (status = 404, description = "Not found", body = ErrorResponse),
        (status = 503, description = "Loading", body = ErrorResponse)))]
pub async fn get_key(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    get_in(&st.node, cid, &headers, &uri, 0, key_of(&uri)).await
}

/// GET of a key of store `db`.
pub async fn get_in(
    n: &Node,
    cid: CorrelationId,
    headers: &HeaderMap,
    uri: &Uri,
    db: u32,
    key: Vec<u8>,
) -> Response {
    if key.is_empty() {
        return error(StatusCode::BAD_REQUEST, "Empty key", n, &cid);
    }
    if let Some(t) = super::forward::target(n, headers, db, &key) {
        return super::forward::relay(n, &cid, headers, t, "GET", path_of(uri), b"").await;
    }
    if n.is_loading() {
        return error_of(n, &crate::error::Error::Loading, &cid);
    }
    let mut local = true;
    let arrived = std::time::Instant::now();
    let now = now_ms();
    if n.cluster.has_peers()
        && !n
            .store
            .with_key(db, &key, now, Access::Peek, |k| k.exists())
        && n.cluster.must_repair(&n.store, db, &key)
    {
        local = !n
            .cluster
            .read(&n.store, db, std::slice::from_ref(&key), arrived)
            .await
            .installed;
    }
    let now = now_ms();
    let found = n.store.with_key(db, &key, now, Access::Read, |k| {
        k.entry().map(|e| {
            let kind = e.value().kind();
            let kind = (kind != crate::store::Kind::String).then(|| kind.name().to_string());
            (to_json(e.value()), e.expire_at(), kind)
        })
    });
    match found {
        None => (
            StatusCode::NOT_FOUND,
            Json(ErrorResponse {
                success: false,
                error: "Key not found".into(),
                key: Some(lossy(&key)),
                store: store_name(n, db),
                node: n.config.node.id.clone(),
                correlation_id: cid.0,
            }),
        )
            .into_response(),
        Some((None, _, _)) => error(
            StatusCode::CONFLICT,
            "The key holds a value that is not a string",
            n,
            &cid,
        ),
        Some((Some((value, enc)), expire_at, kind)) => Json(GetResponse {
            success: true,
            data: KeyValue {
                key: lossy(&key),
                value: Some(value),
                size: None,
                value_encoding: enc,
                kind,
                ttl_remaining_ms: Some(
                    (expire_at != 0).then(|| expire_at.saturating_sub(now) as i64),
                ),
            },
            store: store_name(n, db),
            node: n.config.node.id.clone(),
            local,
            correlation_id: cid.0,
        })
        .into_response(),
    }
}

/// Deletes a key.
#[utoipa::path(delete, path = "/api/cache/{key}", params(("key" = String, Path, description = "The key, percent-encoded")),
    responses(
        (status = 200, description = "Deleted, or not there", body = DeleteResponse),
        (status = 503, description = "Loading, or not enough replicas acknowledged", body = ErrorResponse),
        (status = 507, description = "The disk refuses writes", body = ErrorResponse)))]
pub async fn delete_key(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    delete_in(&st.node, cid, &headers, &uri, 0, key_of(&uri)).await
}

/// DELETE of a key of store `db`.
pub async fn delete_in(
    n: &Node,
    cid: CorrelationId,
    headers: &HeaderMap,
    uri: &Uri,
    db: u32,
    key: Vec<u8>,
) -> Response {
    if key.is_empty() {
        return error(StatusCode::BAD_REQUEST, "Empty key", n, &cid);
    }
    if let Some(t) = super::forward::target(n, headers, db, &key) {
        return super::forward::relay(n, &cid, headers, t, "DELETE", path_of(uri), b"").await;
    }
    let now = now_ms();
    let intent = crate::write::Intent {
        db,
        while_loading: false,
        grows: None,
    };
    if let Err(e) = crate::write::admit(n, intent, now) {
        return error_of(n, &e, &cid);
    }
    if n.cluster.has_peers()
        && !n
            .store
            .with_key(db, &key, now, Access::Peek, |k| k.exists())
    {
        let arrived = std::time::Instant::now();
        n.cluster
            .read(&n.store, db, std::slice::from_ref(&key), arrived)
            .await;
    }
    let mark = crate::write::Mark::take(n, true);
    let existed = {
        let _inside = n.store.gate.enter();
        n.store
            .with_key_traced(db, &key, now_ms(), Access::Write, Some(&cid.0), |k| {
                k.delete().is_some()
            })
    };
    crate::pubsub::notify::flush(n, None, true, None);
    tracing::debug!(component = "http", action = "delete", key = %lossy(&key), existed, "key deleted");
    let replicated = match settle(n, mark).await {
        Ok(r) => r,
        Err(e) => return error_of(n, &e, &cid),
    };
    Json(DeleteResponse {
        success: true,
        message: if existed {
            "Key deleted"
        } else {
            "Key not found"
        }
        .into(),
        existed,
        key: lossy(&key),
        store: store_name(n, db),
        node: n.config.node.id.clone(),
        replicated,
        correlation_id: cid.0,
    })
    .into_response()
}

#[derive(Serialize, ToSchema)]
pub struct StatsResponse {
    pub node: String,
    pub keys: usize,
    pub expiring_keys: usize,
    pub memory_bytes: u64,
    pub dataset_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub hit_rate: f64,
    pub evictions: u64,
    pub expirations: u64,
    pub commands_processed: u64,
    /// Calls by command name.
    pub operations: std::collections::BTreeMap<String, u64>,
    /// Command latency over every command, from the sampled histogram (one command in
    /// sixteen is timed; each figure is a bucket's upper bound), milliseconds.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// The commands with the highest sampled mean latency, slowest first (at most 5).
    pub slowest_commands: Vec<SlowCommand>,
    pub connected_clients: usize,
    pub uptime_seconds: u64,
    pub correlation_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct SlowCommand {
    pub command: String,
    pub calls: u64,
    pub mean_ms: f64,
}

/// (p50, p99) in ms over every command's sampled latencies, and the slowest commands.
fn latency_of(n: &Node) -> (f64, f64, Vec<SlowCommand>) {
    let mut cum = [0u64; crate::metrics::BOUNDS_US.len()];
    let mut count = 0;
    let mut slow = Vec::new();
    for (slot, calls, _) in n.metrics.calls() {
        let Some((c, sum, k)) = n.metrics.latency(slot) else {
            continue;
        };
        for (a, b) in cum.iter_mut().zip(c) {
            *a += b;
        }
        count += k;
        if let Some(cmd) = crate::command::table::by_slot(slot) {
            slow.push(SlowCommand {
                command: crate::command::table::full_name(cmd),
                calls,
                mean_ms: sum as f64 / k as f64 / 1000.0,
            });
        }
    }
    slow.sort_by(|a, b| b.mean_ms.total_cmp(&a.mean_ms));
    slow.truncate(5);
    let at = |q| crate::metrics::CommandMetrics::quantile_us(&cum, count, q) as f64 / 1000.0;
    (at(0.5), at(0.99), slow)
}

fn stats_of(n: &Node, cid: CorrelationId) -> StatsResponse {
    let (latency_p50_ms, latency_p99_ms, slowest_commands) = latency_of(n);
    let now = now_ms();
    let t = n.store.totals(now);
    let lookups = t.stats.hits + t.stats.misses;
    StatsResponse {
        node: n.config.node.id.clone(),
        keys: t.keys,
        expiring_keys: t.volatile,
        memory_bytes: crate::store::memory::allocated(),
        dataset_bytes: t.used as u64,
        hits: t.stats.hits,
        misses: t.stats.misses,
        hit_rate: if lookups == 0 {
            0.0
        } else {
            t.stats.hits as f64 / lookups as f64
        },
        evictions: t.stats.evicted,
        expirations: t.stats.expired,
        commands_processed: n.stats.total_commands_processed.load(Ordering::Relaxed),
        operations: crate::command::table::named_calls(&n.metrics)
            .into_iter()
            .map(|(k, c, _)| (k, c))
            .collect(),
        latency_p50_ms,
        latency_p99_ms,
        slowest_commands,
        connected_clients: n.clients.len(),
        uptime_seconds: n.started.elapsed().as_secs(),
        correlation_id: cid.0,
    }
}

/// Node statistics (the counters INFO reads).
#[utoipa::path(get, path = "/stats", responses((status = 200, description = "Statistics", body = StatsResponse)))]
pub async fn stats(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Json<StatsResponse> {
    Json(stats_of(&st.node, cid))
}

/// Cache statistics (the same as /stats).
#[utoipa::path(get, path = "/api/cache/stats", responses((status = 200, description = "Statistics", body = StatsResponse)))]
pub async fn cache_stats(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Json<StatsResponse> {
    Json(stats_of(&st.node, cid))
}

#[derive(Serialize, ToSchema)]
pub struct MemberInfo {
    pub node_id: String,
    pub address: String,
    pub resp_port: Option<u16>,
    pub http_port: Option<u16>,
    pub gossip_port: u16,
    /// alive | dead, and the state the node announces (joining, ready, leaving).
    pub status: String,
    pub state: String,
    pub version: String,
    /// Unix time (ms) this node last saw the member alive.
    pub last_seen: u64,
}

#[derive(Serialize, ToSchema)]
pub struct MembersResponse {
    pub node: String,
    pub cluster_size: usize,
    pub members: Vec<MemberInfo>,
    /// Members listed (dead ones not yet forgotten included): the original HyperCache's name.
    pub total_count: usize,
    pub correlation_id: String,
}

/// Every member of the cluster.
#[utoipa::path(get, path = "/api/cluster/members", responses((status = 200, description = "Members", body = MembersResponse)))]
pub async fn members(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Json<MembersResponse> {
    let n = &st.node;
    let mut list: Vec<MemberInfo> = n
        .cluster
        .members()
        .into_iter()
        .map(|m| MemberInfo {
            address: m.gossip_addr.ip().to_string(),
            resp_port: m.resp_addr.map(|a| a.port()),
            http_port: m.http_port,
            gossip_port: m.gossip_addr.port(),
            status: if m.live { "alive" } else { "dead" }.into(),
            state: m.state,
            version: m.version,
            last_seen: m.last_seen,
            node_id: m.node_id,
        })
        .collect();
    if !list.iter().any(|m| m.node_id == n.config.node.id) {
        let resp = *n.resp_addr.lock();
        list.push(MemberInfo {
            node_id: n.config.node.id.clone(),
            address: resp.map(|a| a.ip().to_string()).unwrap_or_default(),
            resp_port: resp.map(|a| a.port()),
            http_port: n.http_addr.lock().map(|a| a.port()),
            gossip_port: n.config.network.gossip_port,
            status: "alive".into(),
            state: "ready".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            last_seen: now_ms(),
        });
    }
    list.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    Json(MembersResponse {
        node: n.config.node.id.clone(),
        cluster_size: n.cluster.live_size(),
        total_count: list.len(),
        members: list,
        correlation_id: cid.0,
    })
}

#[derive(Serialize, ToSchema)]
pub struct PeerStatus {
    pub node_id: String,
    pub connected: bool,
    pub queue_bytes: usize,
    pub sent_records: u64,
    pub acknowledged_offset: u64,
    pub queued_offset: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ClusterStatusResponse {
    pub node: String,
    pub cluster_size: usize,
    pub ring: Vec<String>,
    /// Each ring member's share of the hash space (0..1), by node id.
    pub ring_share: std::collections::BTreeMap<String, f64>,
    pub virtual_nodes_per_node: usize,
    pub replication_factor: usize,
    pub consistency_level: String,
    pub converged: bool,
    pub replication_lag_p50_ms: u64,
    pub replication_lag_p99_ms: u64,
    pub read_repairs: u64,
    pub stale_rejected: u64,
    pub anti_entropy_keys_pulled: u64,
    pub anti_entropy_keys_pushed: u64,
    pub peers: Vec<PeerStatus>,
    pub correlation_id: String,
}

/// The ring, replication and convergence.
#[utoipa::path(get, path = "/api/cluster/status", responses((status = 200, description = "Cluster status", body = ClusterStatusResponse)))]
pub async fn cluster_status(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Json<ClusterStatusResponse> {
    let n = &st.node;
    let c = &n.cluster;
    let s = &c.stats;
    let (p50, p99) = s.lag_percentiles();
    Json(ClusterStatusResponse {
        node: n.config.node.id.clone(),
        cluster_size: c.live_size(),
        ring: c.ring().nodes().to_vec(),
        ring_share: {
            let ring = c.ring();
            ring.nodes().iter().cloned().zip(ring.shares()).collect()
        },
        virtual_nodes_per_node: crate::cluster::ring::VNODES,
        replication_factor: c.replicator.rf(),
        consistency_level: c.consistency.name().into(),
        converged: c.converged(),
        replication_lag_p50_ms: p50,
        replication_lag_p99_ms: p99,
        read_repairs: s.read_repairs.load(Ordering::Relaxed),
        stale_rejected: s.stale_rejected.load(Ordering::Relaxed),
        anti_entropy_keys_pulled: s.sync_keys_pulled.load(Ordering::Relaxed),
        anti_entropy_keys_pushed: s.sync_keys_pushed.load(Ordering::Relaxed),
        peers: c
            .replicator
            .peers()
            .iter()
            .map(|p| PeerStatus {
                node_id: p.node_id.clone(),
                connected: p.connected.load(Ordering::Relaxed),
                queue_bytes: p.backlog(),
                sent_records: p.sent_records.load(Ordering::Relaxed),
                acknowledged_offset: p.acked.load(Ordering::Relaxed),
                queued_offset: p.queued(),
            })
            .collect(),
        correlation_id: cid.0,
    })
}
