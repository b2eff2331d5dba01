//! The built-in echo upstream: answers with a JSON description of the request it received.
//! It lets `rampart up` serve a request right after start, with no other server running.

use crate::body::{Observed, UpstreamBody};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;

/// Headers whose values are never echoed back.
const REDACTED: &[&str] = &["authorization", "cookie", "proxy-authorization"];

pub async fn respond(req: Request<UpstreamBody>) -> Response<Observed> {
    let (parts, body) = req.into_parts();
    let body_len = match body.collect().await {
        Ok(b) => b.to_bytes().len(),
        Err(_) => 0,
    };
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            let value = if REDACTED.contains(&k.as_str()) {
                "**REDACTED**".to_string()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            (k.as_str().to_string(), serde_json::Value::String(value))
        })
        .collect();
    let doc = serde_json::json!({
        "upstream": "rampart-echo",
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body_len": body_len,
    });
    let text = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    let mut resp = Response::new(Observed::full(text));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
