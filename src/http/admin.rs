//! Admin routes: snapshots, AOF rewrites, persistence figures and the log level.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AppState, CorrelationId, error};
use crate::node::Node;
use crate::persist::SaveError;

#[derive(Serialize, ToSchema)]
pub struct SaveResponse {
    pub success: bool,
    pub message: String,
    pub path: String,
    pub keys: u64,
    pub bytes: u64,
    pub duration_ms: u64,
    pub node: String,
    pub correlation_id: String,
}

/// Writes a snapshot (and, with an AOF, starts a new AOF generation on it) and waits for it.
async fn save(n: &Node, cid: CorrelationId, need_aof: bool, done: &str) -> Response {
    let Some(p) = n.persistence.clone() else {
        return error(
            StatusCode::CONFLICT,
            "persistence is disabled on this node (persistence.strategy: disabled)",
            n,
            &cid,
        );
    };
    if need_aof && p.aof().is_none() {
        return error(
            StatusCode::CONFLICT,
            "the append-only file is disabled on this node",
            n,
            &cid,
        );
    }
    let Some(node) = n.arc() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is shutting down",
            n,
            &cid,
        );
    };
    let result = tokio::task::spawn_blocking(move || p.save(&node.store)).await;
    match result {
        Ok(Ok(info)) => {
            tracing::info!(
                component = "http",
                action = "save",
                keys = info.keys,
                bytes = info.bytes,
                duration_ms = info.duration_ms,
                "snapshot written on request"
            );
            Json(SaveResponse {
                success: true,
                message: done.to_string(),
                path: info.path.display().to_string(),
                keys: info.keys,
                bytes: info.bytes,
                duration_ms: info.duration_ms,
                node: n.config.node.id.clone(),
                correlation_id: cid.0,
            })
            .into_response()
        }
        Ok(Err(SaveError::InProgress)) => error(
            StatusCode::CONFLICT,
            "Background save already in progress",
            n,
            &cid,
        ),
        Ok(Err(SaveError::Io(e))) => {
            tracing::error!(component = "http", action = "save", error = %e, "snapshot on request failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, &e, n, &cid)
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the save task failed: {e}"),
            n,
            &cid,
        ),
    }
}

/// Writes a snapshot now (BGSAVE, waited for).
#[utoipa::path(post, path = "/api/admin/snapshot", responses(
    (status = 200, description = "Written", body = SaveResponse),
    (status = 409, description = "Persistence disabled, or a save is already running", body = super::api::ErrorResponse),
    (status = 500, description = "The disk refused it", body = super::api::ErrorResponse)))]
pub async fn snapshot(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Response {
    save(&st.node, cid, false, "Snapshot written").await
}

/// Compacts the AOF: a snapshot becomes the new base and the log restarts from it.
#[utoipa::path(post, path = "/api/admin/aof-rewrite", responses(
    (status = 200, description = "Rewritten", body = SaveResponse),
    (status = 409, description = "No AOF, or a save is already running", body = super::api::ErrorResponse),
    (status = 500, description = "The disk refused it", body = super::api::ErrorResponse)))]
pub async fn aof_rewrite(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Response {
    save(&st.node, cid, true, "AOF rewritten").await
}

#[derive(Serialize, ToSchema)]
pub struct AofStats {
    pub fsync_policy: String,
    pub generation: u64,
    pub current_size: u64,
    pub base_size: u64,
    pub appended_offset: u64,
    pub durable_offset: u64,
    pub fsyncs: u64,
    pub last_fsync_ms: u64,
    pub last_write_ok: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PersistenceStats {
    pub enabled: bool,
    pub strategy: String,
    pub data_dir: Option<String>,
    pub loading: bool,
    pub changes_since_last_save: u64,
    pub save_in_progress: bool,
    pub last_save_unix: u64,
    pub last_save_ok: bool,
    pub last_error: Option<String>,
    pub last_save_duration_ms: u64,
    pub last_save_bytes: u64,
    pub last_save_keys: u64,
    pub saves: u64,
    pub aof_rewrites: u64,
    pub aof: Option<AofStats>,
    /// Why writes are refused, when they are.
    pub refusing_writes: Option<String>,
    pub node: String,
    pub correlation_id: String,
}

/// Persistence figures (INFO persistence, as JSON).
#[utoipa::path(get, path = "/api/admin/persistence-stats", responses((status = 200, description = "Persistence figures", body = PersistenceStats)))]
pub async fn persistence_stats(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Json<PersistenceStats> {
    let n = &st.node;
    let node = n.config.node.id.clone();
    let Some(p) = &n.persistence else {
        return Json(PersistenceStats {
            enabled: false,
            strategy: "disabled".into(),
            data_dir: None,
            loading: n.is_loading(),
            changes_since_last_save: 0,
            save_in_progress: false,
            last_save_unix: n.lastsave(),
            last_save_ok: true,
            last_error: None,
            last_save_duration_ms: 0,
            last_save_bytes: 0,
            last_save_keys: 0,
            saves: 0,
            aof_rewrites: 0,
            aof: None,
            refusing_writes: None,
            node,
            correlation_id: cid.0,
        });
    };
    let s = p.status();
    let aof = p.aof().map(|a| {
        let x = a.status();
        AofStats {
            fsync_policy: a.policy().name().into(),
            generation: x.seq,
            current_size: x.current_size,
            base_size: x.base_size,
            appended_offset: x.appended,
            durable_offset: x.durable,
            fsyncs: x.fsyncs,
            last_fsync_ms: x.last_fsync_ms,
            last_write_ok: x.last_write_ok,
        }
    });
    Json(PersistenceStats {
        enabled: true,
        strategy: p.config().strategy.name().into(),
        data_dir: Some(p.dir().display().to_string()),
        loading: p.is_loading(),
        changes_since_last_save: p.changes_since_save(),
        save_in_progress: s.in_progress,
        last_save_unix: s.last_save_unix,
        last_save_ok: s.last_ok,
        last_error: s.last_error,
        last_save_duration_ms: s.last_duration_ms,
        last_save_bytes: s.last_bytes,
        last_save_keys: s.last_keys,
        saves: s.saves,
        aof_rewrites: s.rewrites,
        aof,
        refusing_writes: p.refuses_writes(),
        node,
        correlation_id: cid.0,
    })
}

#[derive(Deserialize, ToSchema)]
pub struct LogLevelRequest {
    pub level: Level,
}

/// Our level names and Redis's (verbose, notice, warning).
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Verbose,
    Info,
    Notice,
    Warn,
    Warning,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Verbose => "verbose",
            Level::Info => "info",
            Level::Notice => "notice",
            Level::Warn => "warn",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LogLevelResponse {
    pub success: bool,
    pub level: String,
    pub node: String,
    pub correlation_id: String,
}

/// The log level in force (the same setting as `CONFIG GET loglevel`).
#[utoipa::path(get, path = "/api/admin/log-level", responses(
    (status = 200, description = "The level", body = LogLevelResponse)))]
pub async fn get_log_level(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Response {
    let n = &st.node;
    Json(LogLevelResponse {
        success: true,
        level: n.settings.loglevel.read().clone(),
        node: n.config.node.id.clone(),
        correlation_id: cid.0,
    })
    .into_response()
}

/// Changes the log level at runtime (the same setting as `CONFIG SET loglevel`).
#[utoipa::path(put, path = "/api/admin/log-level", request_body = LogLevelRequest, responses(
    (status = 200, description = "Changed", body = LogLevelResponse),
    (status = 400, description = "Unknown level or bad body", body = super::api::ErrorResponse)))]
pub async fn log_level(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Response {
    let n = &st.node;
    let body = match body {
        Ok(b) => b,
        Err(e) => return error(e.status(), &e.body_text(), n, &cid),
    };
    let req: LogLevelRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Expected {{\"level\": \"...\"}}: {e}"),
                n,
                &cid,
            );
        }
    };
    let level = req.level.name().to_string();
    if let Err(e) = crate::telemetry::set_level(&level) {
        return error(StatusCode::BAD_REQUEST, &e, n, &cid);
    }
    *n.settings.loglevel.write() = level.clone();
    tracing::warn!(component = "http", action = "log_level", level = %level, "log level changed");
    Json(LogLevelResponse {
        success: true,
        level,
        node: n.config.node.id.clone(),
        correlation_id: cid.0,
    })
    .into_response()
}
