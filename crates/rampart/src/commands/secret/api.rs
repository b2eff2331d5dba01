//! [`VaultApi`]: the CLI's way to the control plane's Vault-compatible routes (`/v1/secret/…`,
//! `/v1/sys/…`), over HTTPS with the control plane's CA and the admin token in
//! `X-Vault-Token`, exactly as `bao`/`vault` and hvac call them.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::cli::{ControlArgs, ControlAuth};

/// How long one request (connect, handshake, answer) may take.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer read.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A client of the control plane's Vault-compatible API.
pub struct VaultApi {
    base: String,
    /// `X-Vault-Token`, marked sensitive; `None` when no token was given or found (the
    /// unauthenticated routes: seal status, unseal).
    token: Option<HeaderValue>,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// An answer: its status and its JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

// === impl VaultApi ===

impl VaultApi {
    /// A client for the control plane `args` names, with its admin token (`--token`,
    /// `RAMPART_TOKEN`, else `./.rampart/admin-token`) when `need_token`, or when one is found.
    pub fn new(args: &ControlArgs, need_token: bool) -> anyhow::Result<Self> {
        Self::from_parts(&args.control, &args.auth, need_token)
    }

    /// Like [`new`](Self::new), from the URL and the credentials' arguments.
    pub fn from_parts(url: &str, auth: &ControlAuth, need_token: bool) -> anyhow::Result<Self> {
        let token = match &auth.token {
            Some(t) => Some(t.trim().to_owned()),
            None => {
                let path = rampart_control::default_token_path();
                match std::fs::read_to_string(&path) {
                    Ok(t) => Some(t.trim().to_owned()),
                    Err(e) if need_token => {
                        return Err(e).with_context(|| {
                            format!(
                                "no --token given and cannot read `{}` (set RAMPART_TOKEN)",
                                path.display()
                            )
                        });
                    }
                    Err(_) => None,
                }
            }
        };
        let token = token
            .map(|t| {
                let mut value = HeaderValue::from_str(&t)
                    .context("the token holds characters an http header cannot carry")?;
                value.set_sensitive(true);
                anyhow::Ok(value)
            })
            .transpose()?;
        let ca = auth
            .ca
            .clone()
            .unwrap_or_else(rampart_control::default_ca_path);
        rampart_identity::install_default_provider();
        let mut tls = rampart_identity::client_config(Some(ca.as_path()), false, Vec::new())
            .with_context(|| format!("cannot trust the CA in `{}`", ca.display()))?;
        tls.alpn_protocols.clear();
        let base = url.trim_end_matches('/').to_owned();
        if !base.starts_with("https://") {
            anyhow::bail!("the control plane is reached over `https://` only (got `{base}`)");
        }
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(TIMEOUT));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_all_versions()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { base, token, http })
    }

    /// The control plane's URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// One request to `path` (starting `/v1/`), the body as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Reply> {
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.header("x-vault-token", token.clone());
        }
        let bytes = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                serde_json::to_vec(body)?
            }
            None => Vec::new(),
        };
        let request = request
            .body(Full::new(Bytes::from(bytes)))
            .with_context(|| format!("cannot form a request to `{url}`"))?;
        let exchange = async {
            let response =
                self.http.request(request).await.map_err(|e| {
                    anyhow::anyhow!("cannot reach {}: {}", self.base, innermost(&e))
                })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("cannot read the answer: {e}"))?
                .to_bytes();
            let body = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&body).chars().take(200).collect())
                })
            };
            anyhow::Ok(Reply { status, body })
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("{method} {url}: no answer within {TIMEOUT:?}"))?
    }

    /// [`call`](Self::call), and the body of a 2xx answer; any other status is an error
    /// carrying the server's `errors`.
    pub async fn expect_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let reply = self.call(method, path, body).await?;
        if reply.status.is_success() {
            Ok(reply.body)
        } else {
            Err(reply.error())
        }
    }
}

// === impl Reply ===

impl Reply {
    /// The error this answer stands for: its status and the server's `errors`.
    pub fn error(&self) -> anyhow::Error {
        let errors: Vec<String> = match self.body.get("errors").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                .collect(),
            None => match &self.body {
                Value::Null => Vec::new(),
                Value::String(text) => vec![text.clone()],
                other => vec![other.to_string()],
            },
        };
        let hint = match self.status {
            StatusCode::SERVICE_UNAVAILABLE => {
                " (is the store sealed? see `rampart operator status`)"
            }
            StatusCode::FORBIDDEN => " (check the token, and the Cedar policies for this path)",
            _ => "",
        };
        if errors.is_empty() {
            anyhow::anyhow!("the control plane answered {}{hint}", self.status)
        } else {
            anyhow::anyhow!(
                "the control plane answered {}: {}{hint}",
                self.status,
                errors.join("; ")
            )
        }
    }
}

/// The innermost cause of a client error (e.g. the TLS or connection failure).
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut source = error;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}
