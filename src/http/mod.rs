//! The HTTP/JSON API (axum) on `network.http_port`: the same data as RESP, through the same
//! write path (every change a Mutation: AOF, replication, stamps), plus health, stats, cluster
//! and admin routes, Prometheus metrics and the OpenAPI description.
//!
//! Every request carries a correlation id — taken from `X-Correlation-ID` or made (UUID v4) —
//! echoed in the response header and body, attached to every log line the request causes, and
//! sent along with its Mutations to the peers that apply them.

pub mod admin;
pub mod api;
pub mod filter;
pub mod forward;
pub mod prometheus;
pub mod pubsub;
pub mod stores;

use std::sync::Arc;
use std::time::Instant;

use crate::config::TokenScope;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tracing::Instrument;
use utoipa::OpenApi;

use crate::node::Node;

pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// The correlation id of the request being handled.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

#[derive(Clone)]
pub struct AppState {
    pub node: Arc<Node>,
    pub registry: Arc<prometheus_client::registry::Registry>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "HyperCache HTTP API",
        description = "The JSON API of a HyperCache node."
    ),
    paths(
        api::health,
        api::put_key,
        api::get_key,
        api::delete_key,
        api::stats,
        api::cache_stats,
        api::members,
        api::cluster_status,
        filter::stats,
        filter::check,
        stores::create,
        stores::list,
        stores::get,
        stores::delete,
        stores::get_key,
        stores::put_key,
        stores::delete_key,
        admin::snapshot,
        admin::aof_rewrite,
        admin::persistence_stats,
        admin::get_log_level,
        admin::log_level,
        pubsub::stream,
        pubsub::publish,
        prometheus::metrics,
        openapi_json,
        dashboard,
    )
)]
pub struct ApiDoc;

/// The built-in dashboard: one page, no external assets, fed by the JSON routes above.
#[utoipa::path(get, path = "/dashboard", responses((status = 200, description = "The dashboard page", content_type = "text/html")))]
pub async fn dashboard() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("dashboard.html"),
    )
        .into_response()
}

/// The OpenAPI description of this API.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    let doc = ApiDoc::openapi();
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc.to_json().unwrap_or_default(),
    )
        .into_response()
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(api::health))
        .route("/dashboard", get(dashboard))
        .route("/stats", get(api::stats))
        .route("/api/cache/stats", get(api::cache_stats))
        .route(
            "/api/cache/{*key}",
            get(api::get_key).put(api::put_key).delete(api::delete_key),
        )
        .route(
            "/api/cache/",
            get(api::empty_key)
                .put(api::empty_key)
                .delete(api::empty_key),
        )
        .route("/api/stores", get(stores::list).post(stores::create))
        .route(
            "/api/stores/{name}",
            get(stores::get).delete(stores::delete),
        )
        .route(
            "/api/stores/{name}/cache/{*key}",
            get(stores::get_key)
                .put(stores::put_key)
                .delete(stores::delete_key),
        )
        .route(
            "/api/stores/{name}/cache/",
            get(api::empty_key)
                .put(api::empty_key)
                .delete(api::empty_key),
        )
        .route("/api/filter/stats", get(filter::stats))
        .route("/api/filter/check/{*key}", get(filter::check))
        .route("/api/filter/check/", get(api::empty_key))
        .route("/api/cluster/members", get(api::members))
        .route("/api/cluster/status", get(api::cluster_status))
        .route("/api/admin/snapshot", post(admin::snapshot))
        .route("/api/admin/aof-rewrite", post(admin::aof_rewrite))
        .route(
            "/api/admin/persistence-stats",
            get(admin::persistence_stats),
        )
        .route(
            "/api/admin/log-level",
            get(admin::get_log_level).put(admin::log_level),
        )
        .route(
            "/api/pubsub/{*channel}",
            get(pubsub::stream).post(pubsub::publish),
        )
        .route("/metrics", get(prometheus::metrics))
        .route("/openapi.json", get(openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(
            state.node.config.network.http_max_body as usize,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn(correlate))
        .with_state(state)
}

/// Gives every request its correlation id, a span that carries it, and a log line.
async fn correlate(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(CorrelationId(id.clone()));
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("http", correlation_id = %id);
    let started = Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    let identity = resp
        .extensions()
        .get::<Identity>()
        .map_or("anonymous", |i| i.0.as_str())
        .to_owned();
    let _g = span.enter();
    tracing::info!(
        component = "http",
        action = "request",
        method = %method,
        path = %path,
        identity = %identity,
        status,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "HTTP request"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(CORRELATION_HEADER, v);
    }
    resp
}

async fn not_found(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Response {
    error(StatusCode::NOT_FOUND, "No such route", &st.node, &cid)
}

async fn method_not_allowed(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        &st.node,
        &cid,
    )
}

/// A JSON error response.
pub fn error(status: StatusCode, msg: &str, node: &Node, cid: &CorrelationId) -> Response {
    (
        status,
        axum::Json(api::ErrorResponse {
            success: false,
            error: msg.to_string(),
            key: None,
            store: None,
            node: node.config.node.id.clone(),
            correlation_id: cid.0.clone(),
        }),
    )
        .into_response()
}

/// Serves the HTTP API on `listener` until the node shuts down: at most
/// `http_max_connections` connections at once (more wait in the kernel's queue), each closed
/// when it sends no request head for `http_idle_timeout` (that covers a half-sent head too)
/// or stalls mid-body for `request_timeout`.
///
/// With `tls`, each connection first completes a TLS handshake (within `http_idle_timeout`),
/// with the certificate current when it arrived.
pub async fn serve(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<crate::tls::Tls>>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let registry = Arc::new(prometheus::registry(
        Arc::downgrade(&node),
        &node.config.node.id,
    ));
    let app = router(AppState {
        node: node.clone(),
        registry,
    });
    let net = &node.config.network;
    let (idle, stall) = (net.http_idle_timeout, net.request_timeout);
    let permits = Arc::new(tokio::sync::Semaphore::new(node.http_connections()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = node.shutdown_requested() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(component = "http", action = "accept", error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = node.shutdown_requested() => break,
        };
        let _ = stream.set_nodelay(true);
        // Tokens are the HTTP API's own credentials: with them it is not unprotected.
        let sec = &node.config.security;
        let tokens = sec.http_token.is_some() || !sec.http_tokens.is_empty();
        let denied = node.settings.refuses_remote(node.settings.has_password())
            && !tokens
            && !peer.ip().to_canonical().is_loopback();
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let mut req = req.map(|b| {
                let b = tower_http::timeout::TimeoutBody::new(stall, b);
                axum::body::Body::new(b)
            });
            req.extensions_mut().insert(Peer { addr: peer, denied });
            app.clone().oneshot(req)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(idle);
        let watcher = graceful.watcher();
        let acceptor = tls.as_ref().map(|t| t.acceptor(crate::tls::Listener::Http));
        tokio::spawn(async move {
            match acceptor {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn).await;
                }
                Some(acceptor) => match tokio::time::timeout(idle, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let conn = builder.serve_connection(TokioIo::new(tls), service);
                        let _ = watcher.watch(conn).await;
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(component = "http", action = "tls_handshake", addr = %peer, error = %e, "TLS handshake failed");
                    }
                    Err(_) => {
                        tracing::debug!(component = "http", action = "tls_handshake", addr = %peer, "TLS handshake timed out");
                    }
                },
            }
            drop(permit);
        });
    }
    drop(listener);
    // Requests in flight finish; idle keep-alive connections close.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
}

/// The connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: std::net::SocketAddr,
    /// Protected mode refuses this connection.
    pub denied: bool,
}

/// Routes anyone may call: liveness, the dashboard's page (it holds no data: its requests
/// carry the token), and the metrics unless `security.metrics_auth`.
fn is_open(path: &str, metrics_auth: bool) -> bool {
    path == "/health" || path == "/dashboard" || (path == "/metrics" && !metrics_auth)
}

/// Who made a request: a scoped token's name, `http_token`, `password`, or `anonymous` (an
/// open route, or no credentials configured). The request's log line carries it.
#[derive(Debug, Clone)]
pub struct Identity(pub String);

/// The scope a request needs: the admin routes and store management (creating, deleting a
/// store) admin; other changes write; reads read.
fn needed_scope(method: &axum::http::Method, path: &str) -> TokenScope {
    use axum::http::Method;
    let reads = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let store_itself = path == "/api/stores"
        || path
            .strip_prefix("/api/stores/")
            .is_some_and(|rest| !rest.contains('/'));
    if path.starts_with("/api/admin/") || (store_itself && !reads) {
        TokenScope::Admin
    } else if reads {
        TokenScope::Read
    } else {
        TokenScope::Write
    }
}

/// Protected mode, then the bearer token: a scoped token (`security.http_tokens`, its scope
/// checked: 403 when it falls short), `security.http_token`, or the password (both with
/// every right). A missing or unknown token is 401.
async fn authorize(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let n = &st.node;
    let cid = req
        .extensions()
        .get::<CorrelationId>()
        .cloned()
        .unwrap_or_else(|| CorrelationId(String::new()));
    if req.extensions().get::<Peer>().is_some_and(|p| p.denied) {
        return error(
            StatusCode::FORBIDDEN,
            crate::error::DENIED.trim_start_matches('-').trim_end(),
            n,
            &cid,
        );
    }
    let sec = &n.config.security;
    if is_open(req.uri().path(), sec.metrics_auth) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    let with = |identity: &str, mut r: Response| {
        r.extensions_mut().insert(Identity(identity.to_owned()));
        r
    };
    let digest = given
        .filter(|_| !sec.http_tokens.is_empty())
        .map(crate::config::HttpToken::digest);
    if let Some(d) = &digest
        && let Some(t) = sec.http_tokens.iter().find(|t| t.is(d))
    {
        let needed = needed_scope(req.method(), req.uri().path());
        if t.scope.allows(needed) {
            let name = t.name.clone();
            return with(&name, next.run(req).await);
        }
        let msg = format!(
            "NOPERM the token '{}' has the {} scope; {} {} needs {}",
            t.name,
            t.scope,
            req.method(),
            req.uri().path(),
            needed
        );
        return with(&t.name, error(StatusCode::FORBIDDEN, &msg, n, &cid));
    }
    let identity = match &sec.http_token {
        Some(t) => given.is_some_and(|g| t.matches(g)).then_some("http_token"),
        None if !n.settings.has_password() && sec.http_tokens.is_empty() => Some("anonymous"),
        None => (n.settings.has_password()
            && given.is_some_and(|g| n.settings.password_matches(g)))
        .then_some("password"),
    };
    if let Some(identity) = identity {
        return with(identity, next.run(req).await);
    }
    n.stats.auth_failed(crate::node::AuthFailure::Http);
    if n.stats.auth_log.due(1000) {
        let addr = req.extensions().get::<Peer>().map(|p| p.addr.to_string());
        tracing::warn!(component = "http", action = "auth", addr, path = %req.uri().path(), token_given = given.is_some(), "HTTP request refused: missing or wrong bearer token (logged at most once a second)");
    }
    let msg = if given.is_some() {
        "WRONGPASS invalid bearer token"
    } else {
        "NOAUTH Authentication required (Authorization: Bearer <token>)"
    };
    let mut r = error(StatusCode::UNAUTHORIZED, msg, n, &cid);
    r.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"hypercache\""),
    );
    r
}
