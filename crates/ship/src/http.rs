//! The HTTPS sink: `POST {collector}/v1/events/ingest` with the batch as zstd-compressed JSON
//! lines, over TLS with the proxy's SVID as client certificate. The TLS config is asked for on
//! every delivery, so a renewed SVID is used for new connections; a hyper client (and its
//! connection pool) is kept per config. See `docs/logs.md`, "Transport".

mod reply;

use crate::shipper::ShipError;
use crate::sink::{Batch, BoxFuture, Delivered, EventSink, SinkError};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Hands out the current TLS client config (trust bundle, SVID); called per delivery.
pub type TlsSource = Arc<dyn Fn() -> Arc<rustls::ClientConfig> + Send + Sync>;

/// The path of the collector's ingest endpoint.
pub const INGEST_PATH: &str = "/v1/events/ingest";
/// zstd level of request bodies.
const ZSTD_LEVEL: i32 = 3;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Delivers batches to the collector over HTTPS. See the module documentation.
pub struct HttpSink {
    endpoint: Uri,
    tls: TlsSource,
    bearer: Option<HeaderValue>,
    timeout: Duration,
    cached: Mutex<Option<Cached>>,
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client built for one TLS config; the `Arc` is held so its address stays unique.
struct Cached {
    config: Arc<rustls::ClientConfig>,
    client: HttpsClient,
}

// === impl HttpSink ===

impl HttpSink {
    /// A sink for the collector at `url` (`https://host:port`, optionally with a path prefix).
    pub fn new(url: &str, tls: TlsSource) -> Result<HttpSink, ShipError> {
        let bad = |reason: &str| ShipError::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let base: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if base.scheme_str() != Some("https") {
            return Err(bad("the scheme must be https"));
        }
        let authority = base.authority().ok_or_else(|| bad("no host"))?.clone();
        if base.query().is_some() {
            return Err(bad("a query is not allowed"));
        }
        let prefix = base.path().trim_end_matches('/');
        let endpoint = Uri::builder()
            .scheme("https")
            .authority(authority)
            .path_and_query(format!("{prefix}{INGEST_PATH}"))
            .build()
            .map_err(|e| bad(&e.to_string()))?;
        Ok(HttpSink {
            endpoint,
            tls,
            bearer: None,
            timeout: DEFAULT_TIMEOUT,
            cached: Mutex::new(None),
        })
    }

    /// Sends `Authorization: Bearer <token>` (the admin token, outside the mesh). Never logged.
    pub fn with_bearer(mut self, token: &str) -> Result<HttpSink, ShipError> {
        let mut value =
            HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| ShipError::Url {
                url: self.endpoint.to_string(),
                reason: "the bearer token is not a valid header value".into(),
            })?;
        value.set_sensitive(true);
        self.bearer = Some(value);
        Ok(self)
    }

    /// How long one delivery (connect, handshake, upload, answer) may take (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> HttpSink {
        self.timeout = timeout;
        self
    }

    /// The full ingest URL.
    pub fn endpoint(&self) -> &Uri {
        &self.endpoint
    }

    async fn post(&self, batch: &Batch) -> Result<Delivered, SinkError> {
        let body = compress(batch).await?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/x-ndjson")
            .header(CONTENT_ENCODING, "zstd");
        if let Some(bearer) = &self.bearer {
            request = request.header(AUTHORIZATION, bearer.clone());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| SinkError::Refused(format!("cannot build the request: {e}")))?;
        let client = self.client();
        let exchange = async move {
            let response = client
                .request(request)
                .await
                .map_err(|e| SinkError::Unreachable(error_chain(&e)))?;
            reply::read(response).await
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(SinkError::Unreachable(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// The client for the current TLS config, built anew when the config changed.
    fn client(&self) -> HttpsClient {
        let config = (self.tls)();
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.as_ref()
            && Arc::ptr_eq(&c.config, &config)
        {
            return c.client.clone();
        }
        let client = build_client(&config);
        *cached = Some(Cached {
            config,
            client: client.clone(),
        });
        client
    }
}

impl EventSink for HttpSink {
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<Delivered, SinkError>> {
        Box::pin(self.post(batch))
    }

    fn name(&self) -> &'static str {
        "http"
    }
}

impl std::fmt::Debug for HttpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSink")
            .field("endpoint", &self.endpoint)
            .field("bearer", &self.bearer.as_ref().map(|_| "**REDACTED**"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn build_client(config: &rustls::ClientConfig) -> HttpsClient {
    let mut tls = config.clone();
    // hyper-rustls sets ALPN itself and refuses a config that already has some.
    tls.alpn_protocols.clear();
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(DEFAULT_TIMEOUT));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_all_versions()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// The batch's lines joined by `\n`, zstd-compressed (off the async threads).
async fn compress(batch: &Batch) -> Result<Bytes, SinkError> {
    let size = batch.lines.iter().map(|l| l.len() + 1).sum();
    let mut raw = Vec::with_capacity(size);
    for (i, line) in batch.lines.iter().enumerate() {
        if i > 0 {
            raw.push(b'\n');
        }
        raw.extend_from_slice(line);
    }
    let packed = tokio::task::spawn_blocking(move || zstd::bulk::compress(&raw, ZSTD_LEVEL))
        .await
        .map_err(|e| SinkError::Refused(format!("compression task failed: {e}")))?
        .map_err(|e| SinkError::Refused(format!("cannot compress the batch: {e}")))?;
    Ok(Bytes::from(packed))
}

/// An error with its causes, for logs (hyper's outer messages alone say little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    let mut depth = 0;
    while let (Some(s), true) = (source, depth < 5) {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
        depth += 1;
    }
    text
}
