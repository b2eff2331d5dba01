//! The OAuth2 authorization server's HTTP surface (`docs/oauth.md`): discovery, JWKS and the
//! token, introspection and revocation endpoints, which authenticate the OAuth client and not
//! the admin token (see the auth layer); and the admin routes for clients and key rotation.

use std::net::SocketAddr;

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{ConnectInfo, Path, State, rejection::BytesRejection, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use rampart_events::{Event, SecurityEvent, SecurityKind};
use serde_json::json;

use crate::{
    api::{CreateOAuthClient, KeysRotated, OAuthClientCreated, OAuthClientList},
    oauth::{AuthServer, Authenticated, ClientCredentials, OAuthError, Params, SignError, TlsPeer},
    server::{
        auth,
        listener::PeerCertificates,
        reply::{ApiError, parse_json},
        state::SharedState,
    },
};

/// The discovery document (OpenID Connect Discovery 1.0, RFC 8414).
pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// The public signing keys.
pub(crate) const JWKS_PATH: &str = "/oauth2/jwks";
pub(crate) const TOKEN_PATH: &str = "/oauth2/token";
pub(crate) const INTROSPECT_PATH: &str = "/oauth2/introspect";
pub(crate) const REVOKE_PATH: &str = "/oauth2/revoke";

/// The client authentication methods of every endpoint.
const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "tls_client_auth",
];

/// The `service.name` of the events published here.
const SOURCE: &str = "rampart-control";

type Client = Option<Extension<ConnectInfo<SocketAddr>>>;
type Peer = Option<Extension<PeerCertificates>>;

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route(DISCOVERY_PATH, get(discovery))
        .route(JWKS_PATH, get(jwks))
        .route(TOKEN_PATH, post(token))
        .route(INTROSPECT_PATH, post(introspect))
        .route(REVOKE_PATH, post(revoke))
        .route("/v1/oauth/clients", post(create_client).get(list_clients))
        .route("/v1/oauth/clients/{id}", delete(delete_client))
        .route("/v1/oauth/keys/rotate", post(rotate_keys))
}

/// `200` with the server's metadata.
async fn discovery(State(state): State<SharedState>) -> Response {
    let oauth = &state.oauth;
    let body = json!({
        "issuer": oauth.issuer,
        "token_endpoint": oauth.url(TOKEN_PATH),
        "jwks_uri": oauth.url(JWKS_PATH),
        "introspection_endpoint": oauth.url(INTROSPECT_PATH),
        "revocation_endpoint": oauth.url(REVOKE_PATH),
        "grant_types_supported": ["client_credentials", crate::oauth::TOKEN_EXCHANGE_GRANT],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "tls_client_certificate_bound_access_tokens": true,
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "EdDSA"],
    });
    cached(Json(body).into_response(), "public, max-age=300")
}

/// `200` with the published public keys.
async fn jwks(State(state): State<SharedState>) -> Response {
    let keys = state.oauth.keys.jwks().await;
    cached(Json(keys).into_response(), "public, max-age=60")
}

/// `POST /oauth2/token`.
async fn token(
    State(state): State<SharedState>,
    client: Client,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let client = client.map(|Extension(ConnectInfo(addr))| addr);
    let answer = async {
        let (caller, params) = authenticated(&state, peer, TOKEN_PATH, &headers, body).await?;
        match params.require("grant_type")? {
            "client_credentials" => state.oauth.client_credentials(&caller, &params).await,
            crate::oauth::TOKEN_EXCHANGE_GRANT => state.oauth.exchange(&caller, &params).await,
            _ => Err(OAuthError::unsupported_grant_type(
                "use `client_credentials` or token exchange",
            )),
        }
    };
    match answer.await {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(error) => refused(&state, client, "token", error),
    }
}

/// `POST /oauth2/introspect` (RFC 7662), for any registered client.
async fn introspect(
    State(state): State<SharedState>,
    client: Client,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let client = client.map(|Extension(ConnectInfo(addr))| addr);
    let answer = async {
        let (_, params) = authenticated(&state, peer, INTROSPECT_PATH, &headers, body).await?;
        state.oauth.introspect(params.require("token")?).await
    };
    match answer.await {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(error) => refused(&state, client, "introspection", error),
    }
}

/// `POST /oauth2/revoke` (RFC 7009): `200` also for unknown tokens.
async fn revoke(
    State(state): State<SharedState>,
    client: Client,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let client = client.map(|Extension(ConnectInfo(addr))| addr);
    let answer = async {
        let (caller, params) = authenticated(&state, peer, REVOKE_PATH, &headers, body).await?;
        state
            .oauth
            .revoke(&caller.client, params.require("token")?)
            .await
    };
    match answer.await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(error) => refused(&state, client, "revocation", error),
    }
}

/// `201` with the client and its secret (shown this once).
async fn create_client(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CreateOAuthClient = parse_json(body)?;
    let created: OAuthClientCreated = state.oauth.create_client(&request).await?;
    Ok(no_store(
        (StatusCode::CREATED, Json(created)).into_response(),
    ))
}

async fn list_clients(State(state): State<SharedState>) -> Result<Json<OAuthClientList>, ApiError> {
    Ok(Json(OAuthClientList {
        clients: state.oauth.list_clients().await?,
    }))
}

/// `204`, or `404` for an unknown client.
async fn delete_client(
    State(state): State<SharedState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id.map_err(ApiError::path)?;
    match state.oauth.delete_client(&id).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found(format!(
            "oauth client `{id}` not found"
        ))),
    }
}

/// `200` with the keys after one rotation step.
async fn rotate_keys(State(state): State<SharedState>) -> Result<Json<KeysRotated>, ApiError> {
    let rotated = match state.oauth.keys.rotate().await {
        Ok(rotated) => rotated,
        Err(SignError::Sealed) => {
            return Err(ApiError::conflict(
                "the secrets store holding the signing keys is sealed; unseal it first",
            ));
        }
        Err(SignError::Control(error)) => return Err(error.into()),
    };
    // Revocations of tokens that expired are no longer needed; a good moment to forget them.
    if let Err(error) = state.oauth.prune().await {
        tracing::warn!(%error, "oauth: cannot prune revoked tokens");
    }
    tracing::info!(active = %rotated.active, next = %rotated.next, "oauth signing keys rotated");
    Ok(Json(KeysRotated {
        active_kid: rotated.active,
        next_kid: rotated.next,
        retired_kids: rotated.retired,
    }))
}

// === helpers ===

/// The form parameters and the client they authenticate (at `path`).
async fn authenticated(
    state: &SharedState,
    peer: Peer,
    path: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Authenticated, Params), OAuthError> {
    let oauth: &AuthServer = &state.oauth;
    let body = body.map_err(|_| OAuthError::invalid_request("cannot read the request body"))?;
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form {
        return Err(OAuthError::invalid_request(
            "the body must be `application/x-www-form-urlencoded`",
        ));
    }
    let params = Params::parse(&body)?;
    let credentials = ClientCredentials::from_request(headers, &params)?;
    let peer = match credentials {
        ClientCredentials::Tls { .. } => tls_peer(state, peer),
        _ => None,
    };
    let caller = oauth
        .authenticate(credentials, peer, &oauth.url(path))
        .await?;
    Ok((caller, params))
}

/// The connection's client certificate as an SVID that verifies against the current trust
/// bundle and is not revoked; `None` otherwise.
fn tls_peer(state: &SharedState, peer: Peer) -> Option<TlsPeer> {
    let Extension(PeerCertificates(chain)) = peer?;
    let bundle = state.authority.bundle().load();
    let id = rampart_identity::verify_svid(&chain, &bundle, std::time::SystemTime::now()).ok()?;
    let leaf = chain.first()?;
    if state.authority.mesh().is_revoked(leaf) {
        return None;
    }
    Some(TlsPeer {
        spiffe_id: id.to_string(),
        leaf_der: leaf.to_vec(),
    })
}

/// The error answer, with a security event (the code and description, never a credential
/// or token) and, for `invalid_client`, a count against the per-address brake.
fn refused(
    state: &SharedState,
    client: Option<SocketAddr>,
    endpoint: &str,
    error: OAuthError,
) -> Response {
    if error.code != "server_error" {
        let detail = format!("oauth {endpoint} refused: {error}");
        tracing::warn!(client = ?client, error = %error, "oauth {endpoint} refused");
        state.bus.publish(Event::Security(SecurityEvent::new(
            SecurityKind::AuthFailed,
            SOURCE,
            client,
            &detail,
        )));
    }
    if error.code == "invalid_client" {
        auth::record_failure(state, client);
    }
    error.into_response()
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn cached(mut response: Response, policy: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}
