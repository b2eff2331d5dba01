//! [`ControlClient`]: the CLI's (and remote proxies') way to the control-plane API, over TLS
//! with the control plane's own CA and the admin token.

mod logs;
mod mesh;
mod oauth;
mod policy;
mod vault;
mod watch;

pub use logs::{LogPage, LoggedEvent};

use std::{
    error::Error as StdError,
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use rampart_core::Sensitive;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    ControlError,
    api::{
        ConfigVersions, CreateJoinToken, ErrorBody, Health, Heartbeat, HeartbeatAck,
        JoinTokenCreated, RenewSvid, RequestSvid, Status, SvidIssued,
    },
};

pub use self::vault::VaultReply;
pub use self::watch::{MeshWatch, WATCH_SILENCE};

/// Where the CLI finds the control plane unless told otherwise.
pub const DEFAULT_CONTROL_URL: &str = "https://127.0.0.1:7400";
/// The environment variable that holds the admin token for the CLI.
pub const TOKEN_ENV: &str = "RAMPART_TOKEN";
/// The environment variable that names the CA file the CLI trusts.
pub const CA_ENV: &str = "RAMPART_CA";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response body read.
const MAX_RESPONSE_BYTES: usize = 40 * 1024 * 1024;

/// A client of the control-plane API. Cheap to clone; clones share connections.
///
/// It speaks HTTPS only, trusts only the given CA file (or what the given TLS configuration
/// trusts), offers h2 and HTTP/1.1 by ALPN and sends the admin token, when it has one, on
/// every request (marked sensitive, so h2 never indexes it).
#[derive(Clone)]
pub struct ControlClient {
    base: String,
    /// The admin token's header; `None` for a workload's client.
    authorization: Option<HeaderValue>,
    /// The CA file it trusts; `None` when built from a TLS configuration.
    ca_path: Option<PathBuf>,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// The admin-token file the CLI reads by default: `./.rampart/admin-token`.
pub fn default_token_path() -> PathBuf {
    Path::new(".rampart").join("admin-token")
}

/// The CA file the CLI trusts by default: `./.rampart/ca.pem`.
pub fn default_ca_path() -> PathBuf {
    Path::new(".rampart").join("ca.pem")
}

// === impl ControlClient ===

impl ControlClient {
    /// A client of the control plane at `url` (`https://host:port`, optionally with a base
    /// path), trusting only the certificates in `ca_pem_path`. Requests time out after 10 s.
    pub fn new(
        url: &str,
        token: Sensitive<String>,
        ca_pem_path: &Path,
    ) -> Result<Self, ControlError> {
        let tls = rampart_identity::client_config(Some(ca_pem_path), false, Vec::new())?;
        let mut client = Self::from_tls_config(url, Some(token), tls)?;
        client.ca_path = Some(ca_pem_path.to_owned());
        Ok(client)
    }

    /// A client for a workload, which holds no admin token: it can only
    /// [`request_svid`](Self::request_svid) with a join token, and
    /// [`renew_svid`](Self::renew_svid) and the mesh calls once built
    /// [`with_client_identity`](Self::with_client_identity).
    pub fn workload(url: &str, ca_pem_path: &Path) -> Result<Self, ControlError> {
        let tls = rampart_identity::client_config(Some(ca_pem_path), false, Vec::new())?;
        let mut client = Self::from_tls_config(url, None, tls)?;
        client.ca_path = Some(ca_pem_path.to_owned());
        Ok(client)
    }

    /// A client of the control plane at `url` over `tls`, the caller's own configuration
    /// (e.g. a sidecar's, pinning the control plane's CA and presenting its SVID), sending
    /// `token` as the admin token when given. Its ALPN protocols are replaced with `h2` and
    /// `http/1.1`. Requests time out after 10 s.
    pub fn from_tls_config(
        url: &str,
        token: Option<Sensitive<String>>,
        mut tls: rustls::ClientConfig,
    ) -> Result<Self, ControlError> {
        let authorization = token.map(|token| bearer(&token)).transpose()?;
        // The connector sets the protocols it speaks, and refuses a configuration that has any.
        tls.alpn_protocols.clear();
        Self::build(url, authorization, None, tls)
    }

    /// This client presenting `cert_chain` (the workload's SVID, leaf first) with its `key`
    /// as the TLS client certificate, e.g. for [`renew_svid`](Self::renew_svid). The key
    /// stays in this process: it only signs the TLS handshake. Only for a client built from a
    /// CA file ([`NoCaFile`](ControlError::NoCaFile) otherwise: build the TLS configuration
    /// with the certificate and use [`from_tls_config`](Self::from_tls_config)).
    pub fn with_client_identity(
        self,
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, ControlError> {
        let ca_path = self.ca_path.clone().ok_or(ControlError::NoCaFile)?;
        let tls = rampart_identity::client_config_with_client_auth(
            &ca_path,
            Vec::new(),
            cert_chain,
            key,
        )?;
        let client = Self::build(&self.base, self.authorization, Some(ca_path), tls)?;
        Ok(client.with_timeout(self.timeout))
    }

    fn build(
        url: &str,
        authorization: Option<HeaderValue>,
        ca_path: Option<PathBuf>,
        tls: rustls::ClientConfig,
    ) -> Result<Self, ControlError> {
        let base = parse_base(url)?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(DEFAULT_TIMEOUT));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_all_versions()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            base,
            authorization,
            ca_path,
            http,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sets how long a whole request (connect, handshake, answer) may take.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The control plane's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET /v1/health`. A degraded control plane answers `503` with its health, which is
    /// returned like a healthy one: check [`Health::is_ok`].
    pub async fn health(&self) -> Result<Health, ControlError> {
        let answer = self.call(Method::GET, "/v1/health", None).await?;
        answer.decode(&[StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE])
    }

    /// `GET /v1/status`: health and proxies; degraded like [`ControlClient::health`].
    pub async fn status(&self) -> Result<Status, ControlError> {
        let answer = self.call(Method::GET, "/v1/status", None).await?;
        answer.decode(&[StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE])
    }

    /// `POST /v1/proxies/heartbeat`.
    pub async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<HeartbeatAck, ControlError> {
        let body = json(heartbeat)?;
        let answer = self
            .call(Method::POST, "/v1/proxies/heartbeat", Some(body))
            .await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `DELETE /v1/proxies/{id}`: whether the proxy was known.
    pub async fn remove_proxy(&self, id: &str) -> Result<bool, ControlError> {
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:@-".contains(&b))
        {
            return Err(ControlError::InvalidProxyId { id: id.to_owned() });
        }
        let answer = self
            .call(Method::DELETE, &format!("/v1/proxies/{id}"), None)
            .await?;
        match answer.status {
            StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(answer.error()),
        }
    }

    /// `GET /v1/config/versions?limit=N`: the latest `limit` configurations, newest first.
    pub async fn config_versions(&self, limit: u32) -> Result<ConfigVersions, ControlError> {
        let path = format!("/v1/config/versions?limit={limit}");
        let answer = self.call(Method::GET, &path, None).await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `POST /v1/identity/join-tokens`: a one-time token for a workload's identity.
    pub async fn create_join_token(
        &self,
        request: &CreateJoinToken,
    ) -> Result<JoinTokenCreated, ControlError> {
        let body = json(request)?;
        let answer = self
            .call(Method::POST, "/v1/identity/join-tokens", Some(body))
            .await?;
        answer.decode(&[StatusCode::CREATED])
    }

    /// `POST /v1/identity/svid`: redeems `join_token` (once) for an SVID of the identity it
    /// names, signed from `csr_pem` (a PEM CSR; the key stays with the caller).
    pub async fn request_svid(
        &self,
        join_token: &str,
        csr_pem: &str,
    ) -> Result<SvidIssued, ControlError> {
        let body = json(&RequestSvid {
            join_token: join_token.to_owned(),
            csr_pem: csr_pem.to_owned(),
        })?;
        let answer = self
            .call(Method::POST, "/v1/identity/svid", Some(body))
            .await?;
        answer.decode(&[StatusCode::OK])
    }

    /// `POST /v1/identity/svid/renew`: a new SVID for the identity of the client certificate
    /// (see [`with_client_identity`](Self::with_client_identity)), signed from `csr_pem`.
    pub async fn renew_svid(&self, csr_pem: &str) -> Result<SvidIssued, ControlError> {
        let body = json(&RenewSvid {
            csr_pem: csr_pem.to_owned(),
        })?;
        let answer = self
            .call(Method::POST, "/v1/identity/svid/renew", Some(body))
            .await?;
        answer.decode(&[StatusCode::OK])
    }

    /// One request, its answer read whole, all within the client's timeout.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ControlError> {
        let exchange = async {
            let response = self.send(method, path, body).await?;
            let status = response.status();
            let body = read_whole(response).await?;
            Ok(Answer { status, body })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| self.timed_out())?
    }

    /// Sends one request and returns as soon as the answer's head is in; the body is left to
    /// the caller (and to its own bound on time).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<http::Response<hyper::body::Incoming>, ControlError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::ACCEPT, "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header(header::AUTHORIZATION, authorization.clone());
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|_| ControlError::InvalidUrl {
                url: self.base.clone(),
                reason: "cannot form a request uri",
            })?;
        self.http
            .request(request)
            .await
            .map_err(|e| self.failed(&e))
    }

    fn timed_out(&self) -> ControlError {
        ControlError::Timeout {
            url: self.base.clone(),
            after: self.timeout,
        }
    }

    /// Tells a TLS failure (most often: not the control plane's CA) from an unreachable server.
    fn failed(&self, error: &hyper_util::client::legacy::Error) -> ControlError {
        let mut source: Option<&(dyn StdError + 'static)> = Some(error);
        let mut innermost = error.to_string();
        while let Some(e) = source {
            let tls = rustls_error(e);
            if let Some(tls) = tls {
                return ControlError::Tls {
                    url: self.base.clone(),
                    reason: tls.to_string(),
                };
            }
            innermost = e.to_string();
            source = e.source();
        }
        ControlError::Unreachable {
            url: self.base.clone(),
            reason: innermost,
        }
    }
}

impl std::fmt::Debug for ControlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient")
            .field("url", &self.base)
            .field("token", &"**REDACTED**")
            .field("timeout", &self.timeout)
            .finish()
    }
}

// === impl Answer ===

/// A response, read whole.
struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Answer {
    /// The body as `T` when the status is one of `expected`, else the error it stands for.
    fn decode<T: DeserializeOwned>(self, expected: &[StatusCode]) -> Result<T, ControlError> {
        if expected.contains(&self.status) {
            match serde_json::from_slice(&self.body) {
                Ok(value) => return Ok(value),
                Err(e) if self.status.is_success() => {
                    return Err(ControlError::InvalidResponse {
                        reason: format!("{} body: {e}", self.status.as_u16()),
                    });
                }
                // E.g. a 503 that is not a degraded health but an overload: an error below.
                Err(_) => {}
            }
        }
        Err(self.error())
    }

    fn error(&self) -> ControlError {
        let message = match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(body) => body.error,
            Err(_) => {
                let text = String::from_utf8_lossy(&self.body);
                text.chars().take(200).collect()
            }
        };
        match self.status {
            StatusCode::UNAUTHORIZED => ControlError::Unauthorized { message },
            StatusCode::TOO_MANY_REQUESTS => ControlError::RateLimited { message },
            status => ControlError::Http {
                status: status.as_u16(),
                message,
            },
        }
    }
}

// === helpers ===

/// The body of `response`, up to [`MAX_RESPONSE_BYTES`].
async fn read_whole(
    response: http::Response<hyper::body::Incoming>,
) -> Result<Bytes, ControlError> {
    Ok(Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| ControlError::InvalidResponse {
            reason: format!("cannot read the response body: {e}"),
        })?
        .to_bytes())
}

/// The `Authorization` header for the admin token `token`, marked sensitive.
fn bearer(token: &Sensitive<String>) -> Result<HeaderValue, ControlError> {
    let bearer = Sensitive::new(format!("Bearer {}", token.expose()));
    let mut authorization =
        HeaderValue::from_str(bearer.expose()).map_err(|_| ControlError::InvalidToken {
            reason: "the token holds characters an http header cannot carry",
        })?;
    authorization.set_sensitive(true);
    Ok(authorization)
}

/// `https://host[:port][/base]` without a trailing slash; anything else is refused, since the
/// token must never travel in clear text.
fn parse_base(url: &str) -> Result<String, ControlError> {
    let invalid = |reason| ControlError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let uri: Uri = url.parse().map_err(|_| invalid("not a url"))?;
    if uri.scheme_str() != Some("https") {
        return Err(invalid("the control plane is reached over `https://` only"));
    }
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("credentials belong in `--token`, not in the url"));
    }
    if uri.query().is_some() {
        return Err(invalid("a query string is not allowed"));
    }
    let path = uri.path().trim_end_matches('/');
    Ok(format!("https://{authority}{path}"))
}

/// The rustls error `error` is or wraps, through any number of `io::Error`s.
fn rustls_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = error.downcast_ref::<std::io::Error>()?.get_ref()?;
    rustls_error(inner)
}

fn json(value: &impl Serialize) -> Result<Vec<u8>, ControlError> {
    serde_json::to_vec(value).map_err(|e| ControlError::InvalidResponse {
        reason: format!("cannot encode the request: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_https_only() {
        assert_eq!(
            parse_base("https://127.0.0.1:7400").unwrap(),
            "https://127.0.0.1:7400"
        );
        assert_eq!(parse_base("https://h:1/api/").unwrap(), "https://h:1/api");
        for bad in [
            "http://127.0.0.1:7400",
            "127.0.0.1:7400",
            "https://u:p@h:1",
            "https://h/?a=b",
            "",
        ] {
            assert!(parse_base(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn default_paths_are_in_the_local_data_dir() {
        assert_eq!(default_token_path(), PathBuf::from(".rampart/admin-token"));
        assert_eq!(default_ca_path(), PathBuf::from(".rampart/ca.pem"));
    }
}
