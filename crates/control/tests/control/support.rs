//! A control plane on loopback with everything it needs in a temp dir, and raw clients.

mod workload;

pub use self::workload::{Workload, ders, next_event};

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Version, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rampart_control::{
    AdminToken, ControlClient, ControlHandle, ControlOptions, ControlPlane, Limits, api::ErrorBody,
    server_alpn, workload_bundle,
};
use rampart_core::spiffe::TrustDomain;
use rampart_events::EventBus;
use rampart_identity::{
    LocalCa, SharedTrustBundle, SniResolver, SpiffeClientVerifier, client_config,
    server_config_with_client_auth,
};
use rampart_store::Store;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub const VERSION: &str = "9.9.9-test";
pub const TRUST_DOMAIN: &str = "rampart.local";
/// How long the SVIDs the test control plane issues are valid.
pub const SVID_TTL: Duration = Duration::from_secs(600);

pub struct Plane {
    /// Holds the CA, the store and the token until the test ends.
    dir: TempDir,
    settings: Settings,
    pub handle: ControlHandle,
    pub token: AdminToken,
    pub bus: EventBus,
    pub store: Store,
    pub ca_path: PathBuf,
    /// The DER of the control plane's CA certificate.
    pub ca_der: Vec<u8>,
    /// The workload trust bundle, shared with the server's TLS verifier.
    pub bundle: SharedTrustBundle,
    pub url: String,
    /// The secrets store the plane serves, when it serves one (tests that edit the database
    /// behind its back clear its cache).
    pub secrets: Option<rampart_secrets::Secrets>,
}

/// How to start a test control plane.
#[derive(Clone, Debug)]
pub struct Settings {
    pub proxy_ttl: Duration,
    pub limits: Limits,
    pub workload_ttl: Duration,
    /// Whether rollover may create CA generations (in `<tempdir>/ca-generations`).
    pub ca_dir: bool,
    /// The configuration's `policy` section.
    pub policy: Option<rampart_config::PolicyConfig>,
    /// Serve a secrets store with this seal mode (`None`: no secrets store).
    pub secrets: Option<rampart_config::SealMode>,
    /// The OAuth2 authorization server's settings.
    pub oauth: rampart_control::OAuthSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            proxy_ttl: Duration::from_secs(30),
            limits: Limits::default(),
            workload_ttl: Duration::from_secs(30),
            ca_dir: true,
            policy: None,
            secrets: None,
            oauth: rampart_control::OAuthSettings::default(),
        }
    }
}

/// A raw answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub async fn start() -> Plane {
    start_settings(Settings::default()).await
}

pub async fn start_with(proxy_ttl: Duration, limits: Limits) -> Plane {
    start_settings(Settings {
        proxy_ttl,
        limits,
        ..Settings::default()
    })
    .await
}

pub async fn start_settings(settings: Settings) -> Plane {
    launch(tempfile::tempdir().unwrap(), settings).await
}

/// Starts a control plane, or says why it did not start.
pub async fn try_start_settings(
    settings: Settings,
) -> Result<Plane, rampart_control::ControlError> {
    try_launch(tempfile::tempdir().unwrap(), settings).await
}

/// Starts a control plane on the data in `dir` (created on the first start).
async fn launch(dir: TempDir, settings: Settings) -> Plane {
    try_launch(dir, settings).await.unwrap()
}

async fn try_launch(
    dir: TempDir,
    settings: Settings,
) -> Result<Plane, rampart_control::ControlError> {
    let data = dir.path().join("data");
    let ca = Arc::new(LocalCa::load_or_create(&data).unwrap());
    let cert = ca
        .issue_server_cert(&["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap();
    let resolver = SniResolver::new(vec![(vec!["localhost".to_owned()], cert)]).unwrap();
    let trust_domain: TrustDomain = TRUST_DOMAIN.parse().unwrap();
    let bundle = workload_bundle(&ca, &trust_domain).unwrap().shared();
    let tls = server_config_with_client_auth(
        Arc::new(resolver),
        server_alpn(),
        SpiffeClientVerifier::optional(bundle.clone()),
    )
    .unwrap();
    let store = Store::open(&format!("sqlite://{}", data.join("rampart.db").display()))
        .await
        .unwrap();
    let token = AdminToken::load_or_create(&data.join("admin-token")).unwrap();
    let bus = EventBus::new(1024);
    let options = ControlOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Arc::new(tls),
        token: token.clone(),
        store: store.clone(),
        bus: bus.clone(),
        proxy_ttl: settings.proxy_ttl,
        version: VERSION.to_owned(),
        trust_domain,
        ca: ca.clone(),
        ca_dir: settings.ca_dir.then(|| dir.path().join("ca-generations")),
        bundle: bundle.clone(),
        svid_ttl: SVID_TTL,
        workload_ttl: settings.workload_ttl,
    };
    let secrets = match settings.secrets {
        Some(seal) => {
            let config = rampart_config::SecretsConfig {
                seal,
                ..Default::default()
            };
            Some(
                rampart_secrets::Secrets::open(store.clone(), &config, &data)
                    .await
                    .unwrap(),
            )
        }
        None => None,
    };
    let handle = ControlPlane::start_with_secrets(
        options,
        settings.limits.clone(),
        settings.oauth.clone(),
        settings.policy.clone(),
        secrets.clone(),
    )
    .await?;
    let url = format!("https://127.0.0.1:{}", handle.local_addr().port());
    Ok(Plane {
        ca_path: ca.cert_path().to_owned(),
        ca_der: ca.cert_der().to_vec(),
        dir,
        settings,
        handle,
        token,
        bus,
        store,
        bundle,
        url,
        secrets,
    })
}

impl Plane {
    /// Stops this control plane and starts another on the same data (CA, store, token, CA
    /// generations), on a new port.
    pub async fn restart(self) -> Plane {
        let settings = self.settings.clone();
        self.restart_with(settings).await
    }

    /// Like [`Plane::restart`], with other settings (e.g. another `policy` section).
    pub async fn restart_with(self, settings: Settings) -> Plane {
        let Plane {
            dir, handle, store, ..
        } = self;
        handle.shutdown().await;
        store.close().await;
        launch(dir, settings).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    pub fn client(&self) -> ControlClient {
        self.client_with_token(self.token.secret().expose())
    }

    pub fn client_with_token(&self, token: &str) -> ControlClient {
        ControlClient::new(&self.url, token.to_owned().into(), &self.ca_path).unwrap()
    }

    /// The bearer header value of the right token.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token.secret().expose())
    }

    /// One request over a fresh HTTP/1.1 connection.
    pub async fn h1(&self, method: Method, path: &str, auth: Option<&str>, body: &str) -> Reply {
        raw(
            self.addr(),
            &self.ca_path,
            Version::HTTP_11,
            method,
            path,
            auth,
            body,
        )
        .await
    }

    /// One request over a fresh h2 connection.
    pub async fn h2(&self, method: Method, path: &str, auth: Option<&str>, body: &str) -> Reply {
        raw(
            self.addr(),
            &self.ca_path,
            Version::HTTP_2,
            method,
            path,
            auth,
            body,
        )
        .await
    }
}

impl Reply {
    pub fn error(&self) -> ErrorBody {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not an error body ({e}): {:?}", self.body))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Sends one request over TLS with ALPN for `version` only and returns the whole answer.
pub async fn raw(
    addr: SocketAddr,
    ca: &Path,
    version: Version,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> Reply {
    let config = client_config(Some(ca), false, vec![alpn(version).to_vec()]).unwrap();
    raw_tls(addr, config, version, method, path, auth, body).await
}

/// The ALPN protocol of `version`.
pub fn alpn(version: Version) -> &'static [u8] {
    match version {
        Version::HTTP_2 => b"h2",
        _ => b"http/1.1",
    }
}

/// Like [`raw`], over the TLS client configuration `config` (whose ALPN must offer only
/// `version`), e.g. one that presents a client certificate.
pub async fn raw_tls(
    addr: SocketAddr,
    config: rustls::ClientConfig,
    version: Version,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> Reply {
    let alpn = alpn(version);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
    let io = TokioIo::new(tls);

    let mut request = Request::builder()
        .method(method)
        .uri(format!("https://localhost{path}"))
        .version(version);
    if version == Version::HTTP_11 {
        request = request.header(header::HOST, "localhost");
    }
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    if !body.is_empty() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();

    let response = match version {
        Version::HTTP_2 => {
            let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
            tokio::spawn(conn);
            send.send_request(request).await.unwrap()
        }
        _ => {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            send.send_request(request).await.unwrap()
        }
    };
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}
