//! The OAuth2 authorization server over real TLS: clients, `client_credentials`, discovery,
//! JWKS, introspection, revocation, key rotation and token exchange.

mod authlib;
mod client_auth;

use std::time::{Duration, SystemTime};

use base64::{Engine, engine::general_purpose::STANDARD};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rampart_control::api::{CreateOAuthClient, OAuthClientAuth, OAuthClientCreated};
use rampart_events::{Event, SecurityKind, Subscription};
use rampart_token::{Jwks, Policy, VerifyingKeys, peek_header, verify};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::{Plane, Reply, start};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

pub async fn create_client(
    plane: &Plane,
    scopes: &[&str],
    audience: Option<&str>,
) -> OAuthClientCreated {
    plane
        .client()
        .create_oauth_client(&CreateOAuthClient {
            name: "orders service".to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            auth: OAuthClientAuth::Secret,
            jwk: None,
            tls_subject: None,
            audience: audience.map(str::to_owned),
        })
        .await
        .unwrap()
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// One form POST (or GET without a body) over a fresh HTTP/1.1 connection.
async fn send(plane: &Plane, method: Method, path: &str, auth: Option<&str>, form: &str) -> Reply {
    let config =
        rampart_identity::client_config(Some(&plane.ca_path), false, vec![b"http/1.1".to_vec()])
            .unwrap();
    send_with(plane, config, method, path, auth, form).await
}

/// Like [`send`], over `config` (e.g. presenting a client certificate; ALPN http/1.1).
async fn send_with(
    plane: &Plane,
    config: rustls::ClientConfig,
    method: Method,
    path: &str,
    auth: Option<&str>,
    form: &str,
) -> Reply {
    let tcp = TcpStream::connect(plane.addr()).await.unwrap();
    let tls = TlsConnector::from(std::sync::Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "localhost");
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    if !form.is_empty() {
        request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let response = sender
        .send_request(
            request
                .body(Full::new(Bytes::from(form.to_owned())))
                .unwrap(),
        )
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

async fn token(plane: &Plane, created: &OAuthClientCreated, form: &str) -> Reply {
    let secret = created.client_secret.as_deref().unwrap();
    send(
        plane,
        Method::POST,
        "/oauth2/token",
        Some(&basic(&created.client.client_id, secret)),
        form,
    )
    .await
}

async fn access_token(plane: &Plane, created: &OAuthClientCreated, form: &str) -> String {
    let reply = token(plane, created, form).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

async fn jwks(plane: &Plane) -> Jwks {
    let discovery = send(
        plane,
        Method::GET,
        "/.well-known/openid-configuration",
        None,
        "",
    )
    .await;
    assert_eq!(discovery.status, StatusCode::OK);
    let jwks_uri = discovery.json()["jwks_uri"].as_str().unwrap().to_owned();
    let path = jwks_uri
        .strip_prefix(&plane.url)
        .expect("jwks_uri on the issuer");
    let reply = send(plane, Method::GET, path, None, "").await;
    assert_eq!(reply.status, StatusCode::OK);
    serde_json::from_slice(&reply.body).unwrap()
}

async fn introspect(plane: &Plane, created: &OAuthClientCreated, token: &str) -> Value {
    let reply = send(
        plane,
        Method::POST,
        "/oauth2/introspect",
        Some(&basic(
            &created.client.client_id,
            created.client_secret.as_deref().unwrap(),
        )),
        &format!("token={token}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    reply.json()
}

async fn next_auth_failure(events: &mut Subscription) -> String {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("an event within 5 s")
            .expect("the bus is open");
        if let Event::Security(e) = &*event
            && e.kind == SecurityKind::AuthFailed
        {
            return e.detail.clone();
        }
    }
}

#[tokio::test]
async fn client_secret_is_shown_once_and_stored_as_argon2id() {
    let plane = start().await;
    let created = create_client(&plane, &["orders.read"], Some("orders")).await;
    let secret = created.client_secret.clone().unwrap();
    assert!(secret.len() >= 43);

    let stored = plane
        .store
        .oauth_client(&created.client.client_id)
        .await
        .unwrap()
        .unwrap();
    let hash = stored.secret_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(&secret));

    let listed = plane.client().list_oauth_clients().await.unwrap();
    assert_eq!(listed.clients, vec![created.client.clone()]);
    let raw = send(
        &plane,
        Method::GET,
        "/v1/oauth/clients",
        Some(&plane.bearer()),
        "",
    )
    .await;
    assert!(!String::from_utf8_lossy(&raw.body).contains(&secret));

    let unsupported = plane
        .client()
        .create_oauth_client(&CreateOAuthClient {
            name: "x".to_owned(),
            scopes: vec![],
            auth: OAuthClientAuth::PrivateKeyJwt,
            jwk: None,
            tls_subject: None,
            audience: None,
        })
        .await;
    assert!(unsupported.is_err());

    assert!(
        plane
            .client()
            .delete_oauth_client(&created.client.client_id)
            .await
            .unwrap()
    );
    assert!(
        !plane
            .client()
            .delete_oauth_client(&created.client.client_id)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn client_credentials_with_basic_and_post_verify_against_discovered_jwks() {
    let plane = start().await;
    let created = create_client(&plane, &["orders.read", "orders.write"], Some("orders")).await;
    let id = &created.client.client_id;
    let secret = created.client_secret.as_deref().unwrap();

    let basic_reply = token(
        &plane,
        &created,
        "grant_type=client_credentials&scope=orders.read",
    )
    .await;
    assert_eq!(basic_reply.status, StatusCode::OK, "{:?}", basic_reply.body);
    assert_eq!(basic_reply.headers[header::CACHE_CONTROL], "no-store");
    let answer = basic_reply.json();
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 300);
    assert_eq!(answer["scope"], "orders.read");

    let post_reply = send(
        &plane,
        Method::POST,
        "/oauth2/token",
        None,
        &format!(
            "grant_type=client_credentials&client_id={id}&client_secret={secret}&audience=billing"
        ),
    )
    .await;
    assert_eq!(post_reply.status, StatusCode::OK, "{:?}", post_reply.body);
    assert_eq!(post_reply.json()["scope"], "orders.read orders.write");

    let keys = VerifyingKeys::from_jwks(&jwks(&plane).await);
    let mut policy = Policy::new(plane.url.clone());
    policy.audiences = vec!["orders".to_owned()];
    policy.required_scopes = vec!["orders.read".to_owned()];
    let token = answer["access_token"].as_str().unwrap();
    assert_eq!(peek_header(token).unwrap().typ.as_deref(), Some("at+jwt"));
    let verified = verify(token, &keys, &policy, SystemTime::now()).unwrap();
    assert_eq!(verified.subject, *id);
    assert_eq!(verified.client_id.as_deref(), Some(id.as_str()));
    assert_eq!(verified.scopes, ["orders.read"]);
    assert!(verified.jti.is_some());
    let exp = verified
        .expires_at
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(exp <= Duration::from_secs(300) && exp > Duration::from_secs(290));

    let post_token = post_reply.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        verify(&post_token, &keys, &policy, SystemTime::now()).is_err(),
        "aud is billing"
    );
    policy.audiences = vec!["billing".to_owned()];
    verify(&post_token, &keys, &policy, SystemTime::now()).unwrap();
}

#[tokio::test]
async fn token_endpoint_refusals_follow_rfc_6749() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();
    let created = create_client(&plane, &["orders.read"], Some("orders")).await;
    let id = created.client.client_id.clone();
    let secret = created.client_secret.clone().unwrap();

    let wrong = send(
        &plane,
        Method::POST,
        "/oauth2/token",
        Some(&basic(&id, "not-the-secret")),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["error"], "invalid_client");
    assert!(
        wrong.headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let detail = next_auth_failure(&mut events).await;
    assert!(detail.contains("invalid_client"), "{detail}");
    assert!(!detail.contains("not-the-secret"));

    let unknown = send(
        &plane,
        Method::POST,
        "/oauth2/token",
        Some(&basic("rc_nobody", &secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(!next_auth_failure(&mut events).await.contains(&secret));

    let scope = token(
        &plane,
        &created,
        "grant_type=client_credentials&scope=orders.write",
    )
    .await;
    assert_eq!(scope.status, StatusCode::BAD_REQUEST);
    assert_eq!(scope.json()["error"], "invalid_scope");
    assert!(
        next_auth_failure(&mut events)
            .await
            .contains("invalid_scope")
    );

    let grant = token(
        &plane,
        &created,
        "grant_type=password&username=a&password=b",
    )
    .await;
    assert_eq!(grant.json()["error"], "unsupported_grant_type");
    let missing = token(&plane, &created, "scope=orders.read").await;
    assert_eq!(missing.json()["error"], "invalid_request");
    let repeated = token(
        &plane,
        &created,
        "grant_type=client_credentials&scope=a&scope=b",
    )
    .await;
    assert_eq!(repeated.json()["error"], "invalid_request");
    let both = send(
        &plane,
        Method::POST,
        "/oauth2/token",
        Some(&basic(&id, &secret)),
        &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
    )
    .await;
    assert_eq!(both.json()["error"], "invalid_request");

    let no_audience = create_client(&plane, &["a"], None).await;
    let reply = token(&plane, &no_audience, "grant_type=client_credentials").await;
    assert_eq!(reply.json()["error"], "invalid_request");
}

#[tokio::test]
async fn introspection_and_revocation() {
    let plane = start().await;
    let owner = create_client(&plane, &["orders.read"], Some("orders")).await;
    let other = create_client(&plane, &["x"], Some("x")).await;
    let token = access_token(&plane, &owner, "grant_type=client_credentials").await;

    let active = introspect(&plane, &other, &token).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], owner.client.client_id.as_str());
    assert_eq!(active["scope"], "orders.read");
    assert_eq!(active["aud"], "orders");

    assert_eq!(
        introspect(&plane, &other, "not.a.token").await,
        serde_json::json!({"active": false})
    );
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(introspect(&plane, &other, &tampered).await["active"], false);

    // A token signed by a key of another issuer is not ours.
    let foreign_key = rampart_token::SigningKey::generate(rampart_token::Algorithm::ES256).unwrap();
    let foreign = foreign_key
        .sign(
            "at+jwt",
            &serde_json::json!({"iss": plane.url, "sub": "x", "exp": 9_999_999_999u64, "jti": "j"}),
        )
        .unwrap();
    assert_eq!(introspect(&plane, &other, &foreign).await["active"], false);

    // Introspection needs client authentication.
    let anonymous = send(
        &plane,
        Method::POST,
        "/oauth2/introspect",
        None,
        &format!("token={token}"),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // Only the client the token was issued to may revoke it.
    let by_other = send(
        &plane,
        Method::POST,
        "/oauth2/revoke",
        Some(&basic(
            &other.client.client_id,
            other.client_secret.as_deref().unwrap(),
        )),
        &format!("token={token}"),
    )
    .await;
    assert_eq!(by_other.status, StatusCode::BAD_REQUEST);
    assert_eq!(introspect(&plane, &other, &token).await["active"], true);

    let owner_auth = basic(
        &owner.client.client_id,
        owner.client_secret.as_deref().unwrap(),
    );
    let revoked = send(
        &plane,
        Method::POST,
        "/oauth2/revoke",
        Some(&owner_auth),
        &format!("token={token}"),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(introspect(&plane, &other, &token).await["active"], false);

    let unknown = send(
        &plane,
        Method::POST,
        "/oauth2/revoke",
        Some(&owner_auth),
        "token=whatever",
    )
    .await;
    assert_eq!(unknown.status, StatusCode::OK);
}

#[tokio::test]
async fn rotation_publishes_the_next_key_before_it_signs() {
    let plane = start().await;
    let created = create_client(&plane, &["a"], Some("svc")).await;
    let before = jwks(&plane).await;
    assert_eq!(before.keys.len(), 2, "active and next");
    let first = access_token(&plane, &created, "grant_type=client_credentials").await;
    let first_kid = peek_header(&first).unwrap().kid.unwrap();
    let next_kid = before
        .keys
        .iter()
        .filter_map(|k| k.kid.clone())
        .find(|kid| *kid != first_kid)
        .unwrap();

    let rotated = plane.client().rotate_oauth_keys().await.unwrap();
    assert_eq!(
        rotated.active_kid, next_kid,
        "the published next key now signs"
    );
    assert_eq!(rotated.retired_kids, vec![first_kid.clone()]);

    let second = access_token(&plane, &created, "grant_type=client_credentials").await;
    assert_eq!(peek_header(&second).unwrap().kid.unwrap(), next_kid);
    let after = jwks(&plane).await;
    let kids: Vec<_> = after.keys.iter().filter_map(|k| k.kid.clone()).collect();
    assert!(
        kids.contains(&first_kid),
        "retired key stays until its tokens expire"
    );
    assert!(
        kids.contains(&rotated.next_kid),
        "the new next key is published at once"
    );
    let keys = VerifyingKeys::from_jwks(&after);
    let policy = Policy::new(plane.url.clone());
    verify(&first, &keys, &policy, SystemTime::now()).unwrap();
    verify(&second, &keys, &policy, SystemTime::now()).unwrap();

    // The keys survive a restart.
    let plane = plane.restart().await;
    let third = access_token(&plane, &created, "grant_type=client_credentials").await;
    assert_eq!(peek_header(&third).unwrap().kid.unwrap(), next_kid);
}

#[tokio::test]
async fn token_exchange_down_scopes_and_chains_act() {
    let plane = start().await;
    let user = create_client(&plane, &["orders.read", "orders.write"], Some("gateway")).await;
    let service = create_client(&plane, &["orders.read", "billing"], Some("orders")).await;
    let subject = access_token(&plane, &user, "grant_type=client_credentials").await;

    let form = format!(
        "grant_type={EXCHANGE}&subject_token={subject}&subject_token_type={ACCESS_TOKEN_TYPE}"
    );
    let reply = token(&plane, &service, &form).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let answer = reply.json();
    assert_eq!(answer["scope"], "orders.read", "intersection of both");
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN_TYPE);
    let exchanged = answer["access_token"].as_str().unwrap().to_owned();
    let claims = introspect(&plane, &user, &exchanged).await;
    assert_eq!(claims["sub"], user.client.client_id.as_str());
    assert_eq!(claims["client_id"], service.client.client_id.as_str());
    assert_eq!(
        claims["act"],
        serde_json::json!({"sub": service.client.client_id})
    );

    let too_wide = token(&plane, &service, &format!("{form}&scope=billing")).await;
    assert_eq!(too_wide.json()["error"], "invalid_scope");

    // A second hop nests the previous actor.
    let form2 = format!(
        "grant_type={EXCHANGE}&subject_token={exchanged}&subject_token_type={ACCESS_TOKEN_TYPE}"
    );
    let again = access_token(&plane, &user, &form2).await;
    let claims = introspect(&plane, &user, &again).await;
    assert_eq!(
        claims["act"],
        serde_json::json!({"sub": user.client.client_id, "act": {"sub": service.client.client_id}})
    );

    let bad = token(
        &plane,
        &service,
        &format!(
            "grant_type={EXCHANGE}&subject_token=x.y.z&subject_token_type={ACCESS_TOKEN_TYPE}"
        ),
    )
    .await;
    assert_eq!(bad.json()["error"], "invalid_grant");
}
