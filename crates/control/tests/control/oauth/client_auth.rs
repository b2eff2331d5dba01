//! `private_key_jwt` (RFC 7523) and `tls_client_auth` with certificate-bound tokens (RFC 8705).

use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use rampart_control::api::{CreateOAuthClient, OAuthClientAuth, OAuthClientCreated};
use rampart_token::{
    Algorithm, Policy, SigningKey, VerifyingKeys, certificate_thumbprint, check_binding, verify,
};
use serde_json::json;

use super::{introspect, jwks, send, send_with};
use crate::support::{Plane, Workload, start};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn register(
    plane: &Plane,
    auth: OAuthClientAuth,
    jwk: Option<serde_json::Value>,
    tls_subject: Option<&str>,
) -> Result<OAuthClientCreated, rampart_control::ControlError> {
    plane
        .client()
        .create_oauth_client(&CreateOAuthClient {
            name: "svc".to_owned(),
            scopes: vec!["orders.read".to_owned()],
            auth,
            jwk,
            tls_subject: tls_subject.map(str::to_owned),
            audience: Some("orders".to_owned()),
        })
        .await
}

fn assertion(key: &SigningKey, client_id: &str, aud: &str, jti: &str, lifetime: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    key.sign(
        "JWT",
        &json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + lifetime, "jti": jti}),
    )
    .unwrap()
}

async fn with_assertion(plane: &Plane, client_id: &str, assertion: &str) -> crate::support::Reply {
    send(
        plane,
        Method::POST,
        "/oauth2/token",
        None,
        &format!(
            "grant_type=client_credentials&client_id={client_id}&client_assertion_type={JWT_BEARER}&client_assertion={assertion}"
        ),
    )
    .await
}

#[tokio::test]
async fn private_key_jwt_authenticates_once_per_assertion() {
    let plane = start().await;
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let jwk = serde_json::to_value(key.public_jwk()).unwrap();
    let created = register(
        &plane,
        OAuthClientAuth::PrivateKeyJwt,
        Some(jwk.clone()),
        None,
    )
    .await
    .unwrap();
    assert_eq!(created.client_secret, None);
    assert_eq!(created.client.auth_method, "private_key_jwt");
    let id = &created.client.client_id;
    let token_url = format!("{}/oauth2/token", plane.url);

    let a1 = assertion(&key, id, &token_url, "a1", 60);
    let ok = with_assertion(&plane, id, &a1).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let token = ok.json()["access_token"].as_str().unwrap().to_owned();
    let keys = VerifyingKeys::from_jwks(&jwks(&plane).await);
    let verified = verify(
        &token,
        &keys,
        &Policy::new(plane.url.clone()),
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(verified.client_id.as_deref(), Some(id.as_str()));

    // The issuer is an accepted audience too.
    let a2 = assertion(&key, id, &plane.url, "a2", 60);
    assert_eq!(with_assertion(&plane, id, &a2).await.status, StatusCode::OK);

    let replay = with_assertion(&plane, id, &a1).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.json()["error"], "invalid_client");

    let other_key = SigningKey::generate(Algorithm::ES256).unwrap();
    let forged = assertion(&other_key, id, &token_url, "a3", 60);
    assert_eq!(
        with_assertion(&plane, id, &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    let wrong_aud = assertion(&key, id, "https://elsewhere", "a4", 60);
    assert_eq!(
        with_assertion(&plane, id, &wrong_aud).await.status,
        StatusCode::UNAUTHORIZED
    );
    let too_long = assertion(&key, id, &token_url, "a5", 3600);
    assert_eq!(
        with_assertion(&plane, id, &too_long).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A JWK with private material is refused at registration.
    let mut private = jwk;
    private["d"] = json!("AAAA");
    assert!(
        register(&plane, OAuthClientAuth::PrivateKeyJwt, Some(private), None)
            .await
            .is_err()
    );
    assert!(
        register(&plane, OAuthClientAuth::PrivateKeyJwt, None, None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn tls_client_auth_issues_certificate_bound_tokens() {
    let plane = start().await;
    let workload: Workload = plane.join("orders", "shop").await;
    let created = register(
        &plane,
        OAuthClientAuth::Tls,
        None,
        Some(&workload.spiffe_id),
    )
    .await
    .unwrap();
    assert_eq!(
        created.client.tls_subject.as_deref(),
        Some(workload.spiffe_id.as_str())
    );
    let id = &created.client.client_id;
    let mtls = rampart_identity::client_config_with_client_auth(
        &plane.ca_path,
        vec![b"http/1.1".to_vec()],
        workload.chain.clone(),
        workload.key_der(),
    )
    .unwrap();

    let form = format!("grant_type=client_credentials&client_id={id}");
    let reply = send_with(&plane, mtls, Method::POST, "/oauth2/token", None, &form).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let keys = VerifyingKeys::from_jwks(&jwks(&plane).await);
    let verified = verify(
        &token,
        &keys,
        &Policy::new(plane.url.clone()),
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(
        verified.cnf_x5t_s256.as_deref(),
        Some(certificate_thumbprint(&workload.chain[0]).as_str())
    );
    check_binding(&verified, Some(&workload.chain[0])).unwrap();
    assert!(check_binding(&verified, None).is_err());

    // Without the certificate, the client id alone is nothing.
    let bare = send(&plane, Method::POST, "/oauth2/token", None, &form).await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bare.json()["error"], "invalid_client");

    // Another workload's certificate does not authenticate this client.
    let other: Workload = plane.join("cart", "shop").await;
    let other_tls = rampart_identity::client_config_with_client_auth(
        &plane.ca_path,
        vec![b"http/1.1".to_vec()],
        other.chain.clone(),
        other.key_der(),
    )
    .unwrap();
    let wrong = send_with(
        &plane,
        other_tls,
        Method::POST,
        "/oauth2/token",
        None,
        &form,
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let secret_client = super::create_client(&plane, &["x"], Some("x")).await;
    assert_eq!(
        introspect(&plane, &secret_client, &token).await["cnf"]["x5t#S256"],
        verified.cnf_x5t_s256.unwrap().as_str()
    );
    assert!(
        register(&plane, OAuthClientAuth::Tls, None, Some("not a spiffe id"))
            .await
            .is_err()
    );
}
