//! Routing of HTTP requests when the replication factor is smaller than the cluster: a node
//! that holds no replica of a key relays the request to the HTTP API of one that does, and
//! returns its answer as it is (status, JSON body, the same correlation id). The relayed
//! request carries a header so that it is never relayed again.

use std::net::SocketAddr;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{CorrelationId, error};
use crate::node::Node;

pub const FORWARDED_HEADER: &str = "x-hypercache-forwarded";

/// The largest answer relayed (a value is at most `http_max_body` plus its JSON envelope).
const MAX_REPLY: usize = 1 << 30;

/// The HTTP address of a replica of `key` when this node holds none; `None` when it does (or
/// the request was relayed here already).
pub fn target(
    n: &Node,
    headers: &HeaderMap,
    db: u32,
    key: &[u8],
) -> Option<Result<SocketAddr, ()>> {
    let c = &n.cluster;
    if !c.has_peers() || headers.contains_key(FORWARDED_HEADER) || c.replicator.holds(db, key) {
        return None;
    }
    let ring = c.ring();
    let replicas: Vec<String> = ring
        .replicas(key, c.replicator.rf_for(db))
        .into_iter()
        .map(String::from)
        .collect();
    let members = c.members();
    let addr = replicas
        .iter()
        .filter(|id| !c.replicator.is_blocked(id))
        .find_map(|id| {
            let m = members.iter().find(|m| &m.node_id == id && m.live)?;
            Some(SocketAddr::new(m.resp_addr?.ip(), m.http_port?))
        });
    Some(addr.ok_or(()))
}

/// Relays a request to `addr` and answers with what it said; 503 when it cannot be reached.
pub async fn relay(
    n: &Node,
    cid: &CorrelationId,
    headers: &HeaderMap,
    target: Result<SocketAddr, ()>,
    method: &str,
    path: &str,
    body: &[u8],
) -> Response {
    // The caller's credentials travel with the request: the replica checks them as this
    // node did.
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.contains(['\r', '\n']));
    let Ok(addr) = target else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "TRYAGAIN no replica of this key is reachable",
            n,
            cid,
        );
    };
    let call = tokio::time::timeout(
        n.config.cluster.write_timeout,
        exchange(addr, method, path, body, &cid.0, auth),
    )
    .await;
    match call {
        Ok(Ok((status, content_type, reply))) => {
            tracing::debug!(component = "http", action = "forward", to = %addr, status, "request relayed");
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut r = (status, reply).into_response();
            if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
                r.headers_mut().insert(axum::http::header::CONTENT_TYPE, ct);
            }
            r
        }
        Ok(Err(e)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("TRYAGAIN the key's replica {addr} did not answer: {e}"),
            n,
            cid,
        ),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("TRYAGAIN the key's replica {addr} did not answer in time"),
            n,
            cid,
        ),
    }
}

/// One HTTP/1.1 exchange with a peer's API (ours, so a plain `Connection: close` request and
/// a `Content-Length` answer are all it takes).
async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    cid: &str,
    auth: Option<&str>,
) -> std::io::Result<(u16, Option<String>, Vec<u8>)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Correlation-ID: {cid}\r\n{auth}{FORWARDED_HEADER}: 1\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut reply = Vec::new();
    (&mut s)
        .take(MAX_REPLY as u64)
        .read_to_end(&mut reply)
        .await?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP answer");
    let end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = std::str::from_utf8(&reply[..end]).map_err(|_| bad())?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    let mut content_type = None;
    let mut length = None;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-type") {
            content_type = Some(v.to_string());
        } else if k.eq_ignore_ascii_case("content-length") {
            length = v.parse::<usize>().ok();
        }
    }
    let mut body = reply.split_off(end + 4);
    if let Some(len) = length {
        if body.len() < len {
            return Err(bad());
        }
        body.truncate(len);
    }
    Ok((status, content_type, body))
}
