//! The HTTP API's router, driven in-process (`tower::ServiceExt::oneshot`, no sockets) on a
//! node built once, with requests made from arbitrary bytes.
//!
//! Input: up to 8 requests, each
//! `[method] [route] [flags] [n] name[n] [n] key[n] [n] correlation-id[n] [len: u16 LE] body`.
//! `route` picks one of the router's paths; `name` and `key` are percent-encoded into its
//! `{name}` and `{key}` (route 20 takes the key bytes as a whole path, percent-encoding only
//! what a URI cannot hold, to reach the fallback; route 21 puts `name` in the filter routes'
//! `?store=` query). `flags`: 1 send X-Correlation-ID (the bytes, if a header may hold them),
//! 2 Content-Type: application/json, 4 X-Hypercache-Forwarded.
//!
//! Every request must be answered, with no 5xx other than 503 and 507 (the API's documented
//! "not now" answers), with the correlation id it sent echoed, and with a JSON body that parses
//! whenever the response says it is JSON. Between inputs the node is emptied and the stores
//! requests created are deleted.

#![no_main]

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use hypercache::http::{AppState, router};
use hypercache_fuzz::{Harness, memory_only};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct Http {
    harness: Harness,
    app: axum::Router,
    rt: tokio::runtime::Runtime,
}

static HTTP: LazyLock<Http> = LazyLock::new(|| {
    let harness = Harness::new(memory_only());
    let node = harness.node.clone();
    let registry = Arc::new(hypercache::http::prometheus::registry(
        Arc::downgrade(&node),
        &node.config.node.id,
    ));
    let app = router(AppState { node, registry });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    Http { harness, app, rt }
});

const METHODS: &[&str] = &[
    "GET", "PUT", "POST", "DELETE", "GET", "PUT", "HEAD", "PATCH", "OPTIONS", "TRACE",
];

const ROUTES: &[&str] = &[
    "/health",
    "/stats",
    "/api/cache/stats",
    "/api/cache/{key}",
    "/api/cache/",
    "/api/stores",
    "/api/stores/{name}",
    "/api/stores/{name}/cache/{key}",
    "/api/stores/{name}/cache/",
    "/api/filter/stats",
    "/api/filter/check/{key}",
    "/api/filter/check/",
    "/api/cluster/members",
    "/api/cluster/status",
    "/api/admin/snapshot",
    "/api/admin/aof-rewrite",
    "/api/admin/persistence-stats",
    "/api/admin/log-level",
    "/metrics",
    "/openapi.json",
    // 20: the key bytes as a path; 21: the filter routes with ?store=
    "",
    "/api/filter/check/{key}?store={name}",
];

fuzz_target!(|data: &[u8]| {
    let http = &*HTTP;
    let mut input = Input(data);
    for _ in 0..8 {
        let Some(req) = input.request() else { break };
        let (status, cid_sent, cid_back, json, body) =
            http.rt.block_on(send(http.app.clone(), req));
        assert!(
            !status.is_server_error()
                || status == StatusCode::SERVICE_UNAVAILABLE
                || status == StatusCode::INSUFFICIENT_STORAGE,
            "answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        if let Some(sent) = cid_sent {
            assert_eq!(
                cid_back.as_deref(),
                Some(sent.as_str()),
                "correlation id not echoed"
            );
        }
        if json
            && !body.is_empty()
            && let Err(e) = serde_json::from_slice::<serde_json::Value>(&body)
        {
            panic!(
                "a JSON response does not parse ({e}): {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    http.harness.reset(false);
});

async fn send(
    app: axum::Router,
    (req, cid): (Request<Body>, Option<String>),
) -> (StatusCode, Option<String>, Option<String>, bool, Vec<u8>) {
    let resp = app.oneshot(req).await.expect("the router is infallible");
    let status = resp.status();
    let back = resp
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .expect("a response body that can be read");
    (status, cid, back, json, body.to_vec())
}

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }

    fn field(&mut self) -> &'a [u8] {
        let n = self.byte().unwrap_or(0) as usize;
        self.take(n)
    }

    /// The next request and the correlation id it sends, if any.
    fn request(&mut self) -> Option<(Request<Body>, Option<String>)> {
        let method = METHODS[self.byte()? as usize % METHODS.len()];
        let route = self.byte().unwrap_or(0) as usize % ROUTES.len();
        let flags = self.byte().unwrap_or(0);
        let name = self.field();
        let key = self.field();
        let cid = self.field();
        let len = u16::from_le_bytes([self.byte().unwrap_or(0), self.byte().unwrap_or(0)]);
        let body = self.take(len as usize).to_vec();
        let path = if route == 20 {
            let mut p = String::from("/");
            encode(&mut p, key, b"/?&=%:@!$'()*+,;");
            p
        } else {
            let mut p = String::new();
            let mut rest = ROUTES[route];
            while let Some(i) = rest.find('{') {
                p.push_str(&rest[..i]);
                let j = rest[i..].find('}').map_or(rest.len(), |j| i + j + 1);
                encode(
                    &mut p,
                    if &rest[i..j] == "{name}" { name } else { key },
                    b"",
                );
                rest = &rest[j..];
            }
            p.push_str(rest);
            p
        };
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).ok()?)
            .uri(path);
        let mut sent = None;
        if flags & 1 != 0 {
            // The router keeps an id of 1..=128 visible characters, and makes one otherwise.
            if let Ok(s) = std::str::from_utf8(cid)
                && !s.is_empty()
                && s.len() <= 128
                && s.bytes().all(|c| c.is_ascii_graphic() || c == b' ')
                && !s.starts_with(' ')
                && !s.ends_with(' ')
            {
                sent = Some(s.to_string());
            }
            b = b.header("x-correlation-id", cid);
        }
        if flags & 2 != 0 {
            b = b.header(header::CONTENT_TYPE, "application/json");
        }
        if flags & 4 != 0 {
            b = b.header("x-hypercache-forwarded", "1");
        }
        // A request the builder refuses (a header value it cannot hold) is not one a client
        // could send: skip it.
        b.body(Body::from(body)).ok().map(|r| (r, sent))
    }
}

/// Percent-encodes `bytes` into `out`, leaving unreserved characters and those in `keep`.
fn encode(out: &mut String, bytes: &[u8], keep: &[u8]) {
    for &c in bytes {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) || keep.contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
}
