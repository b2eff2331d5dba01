//! A stand-in OpenID provider for token tests: discovery and JWKS over TLS (a throwaway CA) on
//! loopback, serving the public keys of `rampart_token::SigningKey`s, and minting tokens.

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rampart_testkit::TestCa;
use rampart_token::{Algorithm, Jwks, SigningKey};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The audience and scope the test routes demand.
pub const AUDIENCE: &str = "orders";
pub const SCOPE: &str = "orders.read";

/// A running test issuer.
pub struct Idp {
    /// `https://127.0.0.1:<port>`: the `iss` of its tokens.
    pub issuer: String,
    /// The PEM file of the CA its TLS certificate chains to.
    pub ca: PathBuf,
    /// The key it signs with.
    pub key: SigningKey,
    state: Arc<State>,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

struct State {
    issuer: String,
    jwks: Mutex<Jwks>,
    jwks_fetches: AtomicUsize,
    discoveries: AtomicUsize,
    /// Tokens its introspection endpoint calls inactive.
    revoked: Mutex<HashSet<String>>,
    introspections: AtomicUsize,
    /// The `Authorization` header of the last introspection request.
    introspection_auth: Mutex<Option<String>>,
    /// Introspection answers 503 while set.
    introspection_down: AtomicBool,
}

// === impl Idp ===

impl Idp {
    /// Starts serving discovery and a JWKS with one fresh ES256 key.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new();
        let ca_path = ca.write_to(dir.path());
        let server = tokio_rustls::TlsAcceptor::from(ca.issue(&["127.0.0.1"]).server_config());
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("https://{}", tcp.local_addr().unwrap());
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let state = Arc::new(State {
            issuer: issuer.clone(),
            jwks: Mutex::new(Jwks {
                keys: vec![key.public_jwk()],
            }),
            jwks_fetches: AtomicUsize::new(0),
            discoveries: AtomicUsize::new(0),
            revoked: Mutex::new(HashSet::new()),
            introspections: AtomicUsize::new(0),
            introspection_auth: Mutex::new(None),
            introspection_down: AtomicBool::new(false),
        });
        let serving = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = tcp.accept().await {
                let (server, state) = (server.clone(), serving.clone());
                tokio::spawn(async move {
                    let Ok(tls) = server.accept(stream).await else {
                        return;
                    };
                    let svc = service_fn(move |req| answer(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Self {
            issuer,
            ca: ca_path,
            key,
            state,
            task,
            _dir: dir,
        }
    }

    /// Serves exactly the public keys of `keys` from now on.
    pub fn publish(&self, keys: &[&SigningKey]) {
        *self.state.jwks.lock().unwrap() = Jwks {
            keys: keys.iter().map(|k| k.public_jwk()).collect(),
        };
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many times the discovery document was fetched.
    pub fn discoveries(&self) -> usize {
        self.state.discoveries.load(Ordering::SeqCst)
    }

    /// From now on, introspection calls `token` inactive (as after RFC 7009 revocation).
    pub fn revoke(&self, token: &str) {
        self.state.revoked.lock().unwrap().insert(token.to_owned());
    }

    /// How many introspection requests were answered.
    pub fn introspections(&self) -> usize {
        self.state.introspections.load(Ordering::SeqCst)
    }

    /// The `Authorization` header of the last introspection request.
    pub fn introspection_auth(&self) -> Option<String> {
        self.state.introspection_auth.lock().unwrap().clone()
    }

    /// Makes introspection answer 503 (`true`) or work again.
    pub fn fail_introspection(&self, down: bool) {
        self.state.introspection_down.store(down, Ordering::SeqCst);
    }

    /// Stops accepting connections (connections are never kept alive, so none stay open).
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Claims of a valid token: this issuer, the test audience and scope, valid for 5 minutes.
    pub fn claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.issuer,
            "sub": "svc-orders",
            "aud": AUDIENCE,
            "scope": format!("{SCOPE} orders.write"),
            "client_id": "svc-orders",
            "iat": now,
            "exp": now + 300,
            "jti": format!("jti-{}", rand_suffix()),
        })
    }

    /// A valid token signed with the issuer's key.
    pub fn token(&self) -> String {
        self.sign(&self.key, &self.claims())
    }

    /// `claims` signed with `key` as an RFC 9068 access token.
    pub fn sign(&self, key: &SigningKey, claims: &Value) -> String {
        key.sign("at+jwt", claims).unwrap()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.uri().path() {
        "/.well-known/openid-configuration" => {
            state.discoveries.fetch_add(1, Ordering::SeqCst);
            json!({
                "issuer": state.issuer,
                "jwks_uri": format!("{}/jwks", state.issuer),
                "introspection_endpoint": format!("{}/introspect", state.issuer),
            })
        }
        "/introspect" => return Ok(introspect(&state, req).await),
        "/jwks" => {
            state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
            serde_json::to_value(&*state.jwks.lock().unwrap()).unwrap()
        }
        _ => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"not found")));
            *r.status_mut() = http::StatusCode::NOT_FOUND;
            return Ok(r);
        }
    };
    let mut r = Response::new(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// RFC 7662: `active` is false for revoked tokens; the form's `token` is taken as sent.
async fn introspect(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned());
    *state.introspection_auth.lock().unwrap() = auth;
    let form = req.into_body().collect().await.unwrap().to_bytes();
    if state.introspection_down.load(Ordering::SeqCst) {
        let mut r = Response::new(Full::new(Bytes::from_static(b"down")));
        *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        return r;
    }
    state.introspections.fetch_add(1, Ordering::SeqCst);
    let form = String::from_utf8(form.to_vec()).unwrap();
    let token = form
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .unwrap_or_default();
    let active = !state.revoked.lock().unwrap().contains(token);
    let mut r = Response::new(Full::new(Bytes::from(
        json!({ "active": active }).to_string(),
    )));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn rand_suffix() -> u64 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst) as u64
}
