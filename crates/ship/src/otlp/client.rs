//! One `POST {endpoint}/v1/logs` with bounded retries: 429, 502, 503, 504, timeouts and
//! connection errors are retried with exponential back-off (honouring `Retry-After`), anything
//! else gives the batch up.

use super::{OtlpError, OtlpOptions};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::Duration;

const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Most bytes of a response body read (it is only logged).
const MAX_REPLY: usize = 4096;

/// An HTTP(S) client bound to one OTLP endpoint.
pub(crate) struct OtlpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: Uri,
    headers: HeaderMap,
    timeout: Duration,
    max_retries: u32,
}

/// How a single attempt went.
enum Attempt {
    Done,
    Retry(Option<Duration>, String),
    Fail(String),
}

// === impl OtlpClient ===

impl OtlpClient {
    pub(crate) fn new(options: &OtlpOptions) -> Result<Self, OtlpError> {
        let url = format!("{}/v1/logs", options.endpoint.trim_end_matches('/'));
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| OtlpError::Endpoint(url.clone(), e.to_string()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(OtlpError::Endpoint(
                url,
                "scheme must be http or https".into(),
            ));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &options.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| OtlpError::Header(name.clone()))?;
            let mut value =
                HeaderValue::from_str(value).map_err(|_| OtlpError::Header(name.to_string()))?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(options.timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| OtlpError::Tls(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            client,
            uri,
            headers,
            timeout: options.timeout,
            max_retries: options.max_retries,
        })
    }

    /// Sends `body`, retrying what may pass later. `Err` once the batch is given up.
    pub(crate) async fn send(&self, body: Bytes) -> Result<(), String> {
        let mut backoff = BACKOFF_MIN;
        let mut attempt = 0;
        loop {
            match self.attempt(body.clone()).await {
                Attempt::Done => return Ok(()),
                Attempt::Fail(reason) => return Err(reason),
                Attempt::Retry(_, reason) if attempt >= self.max_retries => {
                    return Err(format!("{reason} (after {} retries)", self.max_retries));
                }
                Attempt::Retry(after, reason) => {
                    tracing::debug!(%reason, attempt, "otlp export retried");
                    tokio::time::sleep(after.unwrap_or(backoff).min(BACKOFF_MAX)).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, body: Bytes) -> Attempt {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        let response = match tokio::time::timeout(self.timeout, self.client.request(request)).await
        {
            Err(_) => return Attempt::Retry(None, "timed out".into()),
            Ok(Err(e)) => return Attempt::Retry(None, format!("connection failed: {e}")),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Reading the (small) body lets the connection go back to the pool.
        let reply = tokio::time::timeout(self.timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            return Attempt::Done;
        }
        let text = String::from_utf8_lossy(&reply[..reply.len().min(MAX_REPLY)]).into_owned();
        let reason = format!("status {status}: {text}");
        match status {
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Attempt::Retry(retry_after, reason),
            _ => Attempt::Fail(reason),
        }
    }
}
