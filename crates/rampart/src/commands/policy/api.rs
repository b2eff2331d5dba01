//! The control plane's policy API (`/v1/policy…`, admin token, control CA), as the CLI uses
//! it. JSON shapes: docs/policy.md, "Distribution".

use crate::cli::ControlArgs;
use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use rampart_policy::{PolicySource, ShadowEntry};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Every call (connect, send, read the whole answer) ends within this.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer read (a version's source can be large).
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// An admin client of the policy API.
pub struct PolicyApi {
    base: String,
    authorization: HeaderValue,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// `POST /v1/policy`.
#[derive(Debug, Serialize)]
pub struct ApplyRequest {
    pub source: PolicySource,
    pub segments_from_current: bool,
    pub author: String,
    pub message: String,
    pub dry_run: bool,
}

/// The answer to an accepted `POST /v1/policy`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Applied {
    pub version: u64,
    #[serde(default)]
    pub diff: String,
    #[serde(default)]
    pub unchanged: bool,
}

/// The answer to a refused `POST /v1/policy` (422).
#[derive(Debug, Serialize, Deserialize)]
pub struct Refused {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub problems: Vec<String>,
}

/// One version of the set: what `GET /v1/policy` and `GET /v1/policy/versions/{n}` carry.
#[derive(Debug, Deserialize)]
pub struct Version {
    pub source: PolicySource,
}

/// `GET /v1/policy`.
#[derive(Debug, Deserialize)]
pub struct Current {
    #[serde(default)]
    pub enforced: Option<Version>,
}

/// One row of `GET /v1/policy/history` (fields not shown are ignored).
#[derive(Debug, Serialize, Deserialize)]
pub struct HistoryRow {
    pub version: u64,
    #[serde(default)]
    pub created_at: serde_json::Value,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub added: u64,
    #[serde(default)]
    pub removed: u64,
}

/// `GET /v1/policy/dry-run-report`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    #[serde(default)]
    pub shadow_version: Option<u64>,
    #[serde(default)]
    pub entries: Vec<ShadowEntry>,
}

/// What `POST /v1/policy` answered.
pub enum ApplyOutcome {
    Applied(Applied),
    Refused(Refused),
}

impl PolicyApi {
    /// A client from the command line's (or environment's) URL, token and CA.
    pub fn new(args: &ControlArgs) -> anyhow::Result<Self> {
        let token = match &args.auth.token {
            Some(t) => t.trim().to_owned(),
            None => {
                let path = rampart_control::default_token_path();
                std::fs::read_to_string(&path)
                    .with_context(|| format!("no --token given and cannot read `{}` (run `rampart up` first, or set RAMPART_TOKEN)", path.display()))?
                    .trim()
                    .to_owned()
            }
        };
        let ca = args
            .auth
            .ca
            .clone()
            .unwrap_or_else(rampart_control::default_ca_path);
        let base = args.control.trim_end_matches('/').to_owned();
        anyhow::ensure!(
            base.starts_with("https://"),
            "the control plane is reached over `https://` only, not `{base}`"
        );
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                anyhow::anyhow!("the admin token holds characters a header cannot carry")
            })?;
        authorization.set_sensitive(true);
        let mut tls = rampart_identity::client_config(Some(&ca), false, Vec::new())
            .with_context(|| format!("cannot use the CA file `{}`", ca.display()))?;
        tls.alpn_protocols.clear();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(TIMEOUT));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            base,
            authorization,
            http,
        })
    }

    /// `GET /v1/policy`.
    pub async fn current(&self) -> anyhow::Result<Current> {
        self.expect(Method::GET, "/v1/policy", None).await
    }

    /// `GET /v1/policy/versions/{n}`.
    pub async fn version(&self, n: u64) -> anyhow::Result<Version> {
        self.expect(Method::GET, &format!("/v1/policy/versions/{n}"), None)
            .await
    }

    /// `GET /v1/policy/history`, newest first.
    pub async fn history(&self) -> anyhow::Result<Vec<HistoryRow>> {
        self.expect(Method::GET, "/v1/policy/history", None).await
    }

    /// `GET /v1/policy/dry-run-report`.
    pub async fn report(&self) -> anyhow::Result<Report> {
        self.expect(Method::GET, "/v1/policy/dry-run-report", None)
            .await
    }

    /// `DELETE /v1/policy/dry-run`.
    pub async fn stop_dry_run(&self) -> anyhow::Result<()> {
        let (status, body) = self
            .call(Method::DELETE, "/v1/policy/dry-run", None)
            .await?;
        anyhow::ensure!(status.is_success(), "{}", refusal(status, &body));
        Ok(())
    }

    /// `POST /v1/policy`.
    pub async fn apply(&self, request: &ApplyRequest) -> anyhow::Result<ApplyOutcome> {
        let body = serde_json::to_vec(request)?;
        let (status, body) = self.call(Method::POST, "/v1/policy", Some(body)).await?;
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            return Ok(ApplyOutcome::Refused(
                serde_json::from_slice(&body)
                    .context("the control plane refused the set with an answer that is not JSON")?,
            ));
        }
        anyhow::ensure!(status.is_success(), "{}", refusal(status, &body));
        Ok(ApplyOutcome::Applied(
            serde_json::from_slice(&body)
                .context("the control plane's answer is not the expected JSON")?,
        ))
    }

    /// One call whose answer must be 2xx JSON of type `T`.
    async fn expect<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<T> {
        let (status, body) = self.call(method, path, body).await?;
        anyhow::ensure!(status.is_success(), "{}", refusal(status, &body));
        serde_json::from_slice(&body)
            .with_context(|| format!("the answer of `{path}` is not the expected JSON"))
    }

    /// One request, its answer read whole, within [`TIMEOUT`].
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, self.authorization.clone());
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .with_context(|| format!("cannot reach the control plane at {}", self.base))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("cannot read the answer of `{path}`: {e}"))?
                .to_bytes();
            anyhow::Ok((status, body))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("`{url}` did not answer within {TIMEOUT:?}"))?
    }
}

/// A non-2xx answer for people: the server's `error` field when there is one.
fn refusal(status: StatusCode, body: &[u8]) -> String {
    let reason = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    format!("the control plane answered {status}: {reason}")
}
