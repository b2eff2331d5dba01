//! Fetching an issuer's metadata and key set: HTTPS only, verified against the configured CA
//! (or the system roots), bounded in time and size.

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::time::Duration;

/// The largest metadata or JWKS document accepted.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Connecting to an issuer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a document could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{0}` is not an `https://` URL")]
    NotHttps(String),
    #[error("request to `{url}` failed")]
    Request {
        url: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error("`{url}` answered {status}")]
    Status { url: String, status: u16 },
    #[error("the body of `{0}` is too large or broken")]
    Body(String),
    #[error("`{url}` is not a valid document")]
    Json {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the metadata names issuer `{found}`, not `{expected}`")]
    IssuerMismatch { expected: String, found: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// An HTTPS client for one issuer's documents.
#[derive(Clone)]
pub struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

// === impl Fetcher ===

impl Fetcher {
    /// A client trusting the PEM roots in `ca`, or the system's roots without one.
    pub fn new(ca: Option<&Path>) -> Result<Self, rampart_identity::IdentityError> {
        let tls = rampart_identity::client_config(ca, false, Vec::new())?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { client })
    }

    /// `GET url` as JSON of type `T`.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<(T, Bytes), FetchError> {
        let body = self.get(url).await?;
        let value = serde_json::from_slice(&body).map_err(|source| FetchError::Json {
            url: url.to_owned(),
            source,
        })?;
        Ok((value, body))
    }

    /// `POST url` of the form `body` with HTTP Basic credentials `authorization` (a complete
    /// header value, kept out of errors), as JSON of type `T`.
    pub async fn post_form<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        authorization: &str,
        body: String,
    ) -> Result<T, FetchError> {
        let uri = https_uri(url)?;
        let mut auth = http::HeaderValue::from_str(authorization)
            .map_err(|_| FetchError::Body(url.to_owned()))?;
        auth.set_sensitive(true);
        let req = Request::post(uri)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "rampart")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, auth)
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| FetchError::NotHttps(url.to_owned()))?;
        let body = self.send(url, req).await?;
        serde_json::from_slice(&body).map_err(|source| FetchError::Json {
            url: url.to_owned(),
            source,
        })
    }

    async fn get(&self, url: &str) -> Result<Bytes, FetchError> {
        let uri = https_uri(url)?;
        let req = Request::get(uri)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "rampart")
            .body(Full::new(Bytes::new()))
            .map_err(|_| FetchError::NotHttps(url.to_owned()))?;
        self.send(url, req).await
    }

    async fn send(&self, url: &str, req: Request<Full<Bytes>>) -> Result<Bytes, FetchError> {
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|source| FetchError::Request {
                url: url.to_owned(),
                source,
            })?;
        if !resp.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: resp.status().as_u16(),
            });
        }
        Limited::new(resp.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|_| FetchError::Body(url.to_owned()))
    }
}

/// `url` as a URI, if it is an `https://` URL.
fn https_uri(url: &str) -> Result<Uri, FetchError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| FetchError::NotHttps(url.to_owned()))?;
    if uri.scheme_str() != Some("https") {
        return Err(FetchError::NotHttps(url.to_owned()));
    }
    Ok(uri)
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").finish_non_exhaustive()
    }
}
