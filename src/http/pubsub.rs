//! Pub/sub over HTTP: `GET /api/pubsub/{channel}` streams the channel's messages as
//! Server-Sent Events, `POST /api/pubsub/{channel}` publishes one. Both reach the same
//! subscribers as SUBSCRIBE and PUBLISH, on every node of the cluster.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AppState, CorrelationId, api, error};
use crate::node::Node;
use crate::pubsub::{Format, Kind, Mailbox};

/// A comment line sent this often on a quiet stream, so proxies keep it open.
const KEEPALIVE: Duration = Duration::from_secs(15);

#[derive(Deserialize, ToSchema)]
pub struct PublishRequest {
    /// The message: a string is sent as it is, any other JSON value as its JSON text.
    pub message: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct PublishResponse {
    pub success: bool,
    pub channel: String,
    /// Subscribers of this node that received it (peers deliver to theirs).
    pub receivers: usize,
    pub node: String,
    pub correlation_id: String,
}

fn channel_of(uri: &Uri) -> Vec<u8> {
    api::key_under(uri, "/api/pubsub/")
}

#[utoipa::path(get, path = "/api/pubsub/{channel}", params(("channel" = String, Path, description = "The channel, percent-encoded")),
    responses(
        (status = 200, description = "Server-Sent Events: first `event: subscribe`, then one `event: message` per message, `data: {\"channel\": ..., \"message\": ...}`", content_type = "text/event-stream"),
        (status = 400, description = "No channel", body = api::ErrorResponse)))]
pub async fn stream(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    uri: Uri,
) -> Response {
    let channel = channel_of(&uri);
    if channel.is_empty() {
        return error(StatusCode::BAD_REQUEST, "No channel", &st.node, &cid);
    }
    let node = st.node.clone();
    let mailbox = Mailbox::with_format(node.pubsub.stream_id(), Format::Sse);
    node.pubsub.subscribe(Kind::Channel, &channel, &mailbox);
    let hello = serde_json::json!({
        "channel": String::from_utf8_lossy(&channel),
        "node": node.config.node.id,
        "correlation_id": cid.0,
    });
    let first = format!("event: subscribe\ndata: {hello}\n\n");
    let leave = Leave {
        node,
        channel,
        id: mailbox.client_id,
    };
    let events = futures_util::stream::unfold(
        (Some(first), mailbox, leave),
        |(first, mailbox, leave)| async move {
            if let Some(f) = first {
                return Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(f)),
                    (None, mailbox, leave),
                ));
            }
            let mut buf = Vec::new();
            loop {
                match tokio::time::timeout(KEEPALIVE, mailbox.delivered()).await {
                    Err(_) => {
                        let ping = Bytes::from_static(b": keepalive\n\n");
                        return Some((Ok(ping), (None, mailbox, leave)));
                    }
                    Ok(()) => {
                        // Over its output limit: the stream ends.
                        if !mailbox.take_into(&mut buf) {
                            return None;
                        }
                        if !buf.is_empty() {
                            return Some((Ok(Bytes::from(buf)), (None, mailbox, leave)));
                        }
                    }
                }
            }
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(events),
    )
        .into_response()
}

/// Unsubscribes a stream once its client has gone (the body is dropped).
struct Leave {
    node: Arc<Node>,
    channel: Vec<u8>,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.node
            .pubsub
            .unsubscribe(Kind::Channel, &self.channel, self.id);
    }
}

#[utoipa::path(post, path = "/api/pubsub/{channel}", params(("channel" = String, Path, description = "The channel, percent-encoded")),
    request_body(content = PublishRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Published", body = PublishResponse),
        (status = 400, description = "Bad body or no channel", body = api::ErrorResponse)))]
pub async fn publish(
    State(st): State<AppState>,
    Extension(cid): Extension<CorrelationId>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let node = &st.node;
    let channel = channel_of(&uri);
    if channel.is_empty() {
        return error(StatusCode::BAD_REQUEST, "No channel", node, &cid);
    }
    let req: PublishRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("Invalid JSON body (want {{\"message\": ...}}): {e}");
            return error(StatusCode::BAD_REQUEST, &msg, node, &cid);
        }
    };
    let message = match req.message {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    let receivers = node.publish(&channel, message.as_bytes(), false);
    tracing::debug!(component = "pubsub", action = "publish", channel = %String::from_utf8_lossy(&channel), receivers, "published over HTTP");
    Json(PublishResponse {
        success: true,
        channel: String::from_utf8_lossy(&channel).into_owned(),
        receivers,
        node: node.config.node.id.clone(),
        correlation_id: cid.0,
    })
    .into_response()
}
