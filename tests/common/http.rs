//! A small HTTP client for tests (ureq), answering status, correlation header and JSON body.

use std::time::Duration;

pub struct Reply {
    pub status: u16,
    pub correlation: Option<String>,
    pub content_type: String,
    pub text: String,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Sends `method` to `url` with an optional body and headers.
pub fn request(method: &str, url: &str, body: Option<&[u8]>, headers: &[(&str, &str)]) -> Reply {
    let a = agent();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(body.unwrap_or_default().to_vec())
        .expect("request");
    let mut resp = a.run(req).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let correlation = header("x-correlation-id");
    let content_type = header("content-type").unwrap_or_default();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap_or_default();
    Reply {
        status: resp.status().as_u16(),
        correlation,
        content_type,
        text,
    }
}

pub fn get(url: &str) -> Reply {
    request("GET", url, None, &[])
}

pub fn delete(url: &str) -> Reply {
    request("DELETE", url, None, &[])
}

pub fn put_json(url: &str, body: &serde_json::Value) -> Reply {
    put_raw(url, body.to_string().as_bytes())
}

pub fn put_raw(url: &str, body: &[u8]) -> Reply {
    request(
        "PUT",
        url,
        Some(body),
        &[("content-type", "application/json")],
    )
}

/// Percent-encodes every byte outside the unreserved set.
pub fn encode(key: &[u8]) -> String {
    key.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
