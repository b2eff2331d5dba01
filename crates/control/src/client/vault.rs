//! The Vault-compatible calls of [`ControlClient`]: the secrets store's `/v1/secret/…` and
//! `/v1/sys/…` routes, as `rampart secret` and `rampart operator` call them. The answer is
//! returned whatever its status, since Vault's `{"errors": […]}` bodies are for the caller to
//! render; only a failure to get an answer is an error.

use http::Method;
use serde_json::Value;

use super::{ControlClient, json};
use crate::ControlError;

/// The longest non-JSON body kept, in characters (e.g. a proxy's HTML error page).
const MAX_TEXT_CHARS: usize = 200;

/// One answer of the Vault-compatible API: its status, success or not, and its body.
///
/// Its `Debug` shows the status only: a read's body holds the secret's values.
#[derive(Clone, PartialEq)]
pub struct VaultReply {
    /// The HTTP status, e.g. `200`, `404` (no such secret) or `503` (the store is sealed).
    pub status: u16,
    /// The body as JSON: `Null` when empty, a `String` of its first 200 characters when it
    /// is not JSON.
    pub body: Value,
}

// === impl VaultReply ===

impl VaultReply {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The server's `errors` (Vault's error body), else the body's text; empty when the body
    /// is.
    pub fn errors(&self) -> Vec<String> {
        match self.body.get("errors").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                .collect(),
            None => match &self.body {
                Value::Null => Vec::new(),
                Value::String(text) => vec![text.clone()],
                other => vec![other.to_string()],
            },
        }
    }
}

impl std::fmt::Debug for VaultReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultReply")
            .field("status", &self.status)
            .field("body", &"**REDACTED**")
            .finish()
    }
}

// === impl ControlClient ===

impl ControlClient {
    /// One request to the Vault-compatible API: `method` (e.g. `GET`, `PUT`, or the custom
    /// `LIST`, `Method::from_bytes(b"LIST")`) on `path_and_query` (starting `/v1/`), with
    /// `body` as JSON. The admin token, when the client has one, goes as
    /// `Authorization: Bearer`, which these routes accept like `X-Vault-Token`; without one
    /// only the unauthenticated routes answer (seal status, unseal).
    ///
    /// Any status is returned, as a [`VaultReply`]; errors are failing to reach the control
    /// plane, TLS, the timeout and an unreadable body.
    pub async fn vault(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<VaultReply, ControlError> {
        if !path_and_query.starts_with("/v1/") {
            return Err(ControlError::InvalidUrl {
                url: path_and_query.to_owned(),
                reason: "a secrets api path starts with `/v1/`",
            });
        }
        let body = body.map(json).transpose()?;
        let answer = self.call(method, path_and_query, body).await?;
        Ok(VaultReply {
            status: answer.status.as_u16(),
            body: parse_body(&answer.body),
        })
    }

    /// `PUT /v1/sys/unseal` with one unseal `share`, serialized straight from the borrowed
    /// string: no `serde_json::Value` copy of it is made (the caller keeps the share in a
    /// zeroizing buffer). The encoded request body itself belongs to the HTTP stack once
    /// sent and is not wiped.
    pub async fn vault_unseal(&self, share: &str) -> Result<VaultReply, ControlError> {
        #[derive(serde::Serialize)]
        struct Unseal<'a> {
            key: &'a str,
        }
        let body = json(&Unseal { key: share })?;
        let answer = self.call(Method::PUT, "/v1/sys/unseal", Some(body)).await?;
        Ok(VaultReply {
            status: answer.status.as_u16(),
            body: parse_body(&answer.body),
        })
    }
}

/// `bytes` as JSON: `Null` when empty, a truncated `String` when not JSON.
fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| {
        Value::String(
            String::from_utf8_lossy(bytes)
                .chars()
                .take(MAX_TEXT_CHARS)
                .collect(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_null_or_truncated_text() {
        assert_eq!(parse_body(b""), Value::Null);
        assert_eq!(parse_body(br#"{"a":1}"#)["a"], 1);
        let html = "<html>".repeat(100);
        let text = parse_body(html.as_bytes());
        assert_eq!(
            text.as_str().map(|t| t.chars().count()),
            Some(MAX_TEXT_CHARS)
        );
    }

    #[test]
    fn errors_are_vaults_list_else_the_text() {
        let reply = |status, body| VaultReply { status, body };
        let listed = reply(400, serde_json::json!({"errors": ["a", {"b": 1}]}));
        assert_eq!(listed.errors(), ["a", r#"{"b":1}"#]);
        assert!(!listed.is_success());
        assert_eq!(reply(502, Value::String("bad".into())).errors(), ["bad"]);
        let empty = reply(204, Value::Null);
        assert!(empty.errors().is_empty());
        assert!(empty.is_success());
    }

    #[test]
    fn debug_never_shows_the_body() {
        let reply = VaultReply {
            status: 200,
            body: serde_json::json!({"data": {"data": {"password": "hunter2"}}}),
        };
        let shown = format!("{reply:?}");
        assert!(
            shown.contains("200") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
