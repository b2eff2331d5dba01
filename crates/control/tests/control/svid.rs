//! Workload bootstrap: an SVID for a join token and a CSR, renewal over mTLS.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use http::{Method, StatusCode};
use rampart_control::{
    ControlClient, ControlError,
    api::{CreateJoinToken, RequestSvid, SvidIssued},
};
use rampart_events::{Event, SecurityEvent, SecurityKind, Subscription};
use rampart_identity::{TrustBundle, make_csr, verify_svid};
use rcgen::KeyPair;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::{Plane, SVID_TTL, TRUST_DOMAIN, start};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A fresh key and its CSR in PEM.
fn key_and_csr() -> (KeyPair, String) {
    let (key, csr) = make_csr().unwrap();
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", csr.to_vec()));
    (key, pem)
}

async fn join_token(plane: &Plane, service: &str) -> (String, String) {
    let created = plane
        .client()
        .create_join_token(&CreateJoinToken {
            service: service.to_owned(),
            namespace: "shop".to_owned(),
            ttl_secs: 600,
        })
        .await
        .unwrap();
    (created.token, created.spiffe_id)
}

fn svid_body(token: &str, csr_pem: &str) -> String {
    serde_json::to_string(&RequestSvid {
        join_token: token.to_owned(),
        csr_pem: csr_pem.to_owned(),
    })
    .unwrap()
}

fn ders(pems: &[String]) -> Vec<CertificateDer<'static>> {
    pems.iter()
        .map(|p| {
            let pem = pem::parse(p).unwrap();
            assert_eq!(pem.tag(), "CERTIFICATE");
            CertificateDer::from(pem.into_contents())
        })
        .collect()
}

/// Checks an issued SVID: it verifies against the bundle it came with, names `id`, and its
/// times are consistent with the test control plane's TTL.
fn check_issued(issued: &SvidIssued, id: &str) -> Vec<CertificateDer<'static>> {
    assert_eq!(issued.spiffe_id, id);
    let chain = ders(&issued.svid_chain_pem);
    let mut bundle = TrustBundle::new(TRUST_DOMAIN.parse().unwrap());
    for root in ders(&issued.bundle_pem) {
        bundle.add(root).unwrap();
    }
    let verified = verify_svid(&chain, &bundle, SystemTime::now()).unwrap();
    assert_eq!(verified.to_string(), id);
    let ttl = SVID_TTL.as_millis() as i64;
    let now = now_ms();
    assert!(
        (issued.expires_at_ms - (now + ttl)).abs() < 5_000,
        "{issued:?}"
    );
    assert!(issued.renew_after_ms > now && issued.renew_after_ms < issued.expires_at_ms);
    chain
}

/// The next security event of `kind` on the bus, skipping others.
async fn next_event(events: &mut Subscription, kind: SecurityKind) -> SecurityEvent {
    loop {
        let event: Arc<Event> = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("an event within 5 s")
            .expect("the bus is open");
        if let Event::Security(e) = &*event
            && e.kind == kind
        {
            return e.clone();
        }
    }
}

fn workload(plane: &Plane) -> ControlClient {
    ControlClient::workload(&plane.url, &plane.ca_path).unwrap()
}

#[tokio::test]
async fn a_join_token_and_a_csr_get_an_svid_without_the_admin_token() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();
    let (token, id) = join_token(&plane, "orders").await;
    let (key, csr_pem) = key_and_csr();
    let body = svid_body(&token, &csr_pem);
    // Only the CSR travels: the key stays with the workload.
    assert!(!body.contains("PRIVATE KEY"));
    assert!(!body.contains(&key.serialize_pem()));

    let reply = plane
        .h1(Method::POST, "/v1/identity/svid", None, &body)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let issued: SvidIssued = serde_json::from_slice(&reply.body).unwrap();
    let chain = check_issued(&issued, &id);
    assert_eq!(chain.len(), 1, "a root CA adds no intermediates");
    assert_eq!(issued.bundle_pem.len(), 1);
    assert_eq!(
        ders(&issued.bundle_pem)[0].as_ref(),
        plane.ca_der.as_slice()
    );

    let event = next_event(&mut events, SecurityKind::SvidIssued).await;
    assert!(event.detail.contains(&id), "{}", event.detail);
    assert!(!event.detail.contains(&token));

    // Over h2 too, and the other routes still need the admin token.
    for path in ["/v1/status", "/v1/config/versions"] {
        let reply = plane.h2(Method::GET, path, None, "").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let reply = plane
        .h1(
            Method::POST,
            "/v1/identity/join-tokens",
            None,
            r#"{"service":"x"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_replayed_token_is_refused_and_published() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();
    let (token, id) = join_token(&plane, "orders").await;
    let client = workload(&plane);
    let (_key, csr_pem) = key_and_csr();
    let issued = client.request_svid(&token, &csr_pem).await.unwrap();
    check_issued(&issued, &id);

    let (_key, csr_pem) = key_and_csr();
    let reply = plane
        .h1(
            Method::POST,
            "/v1/identity/svid",
            None,
            &svid_body(&token, &csr_pem),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let error = reply.error();
    assert_eq!(error.code, "unauthorized");
    assert!(error.error.contains("already used"), "{}", error.error);
    assert!(!error.error.contains(&token));
    let event = next_event(&mut events, SecurityKind::JoinTokenRejected).await;
    assert!(event.detail.contains("already used"), "{}", event.detail);

    let error = client.request_svid(&token, &csr_pem).await.unwrap_err();
    assert!(
        matches!(error, ControlError::Unauthorized { .. }),
        "{error:?}"
    );
    let error = client
        .request_svid("rampart-join.nope", &csr_pem)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ControlError::Unauthorized { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_bad_csr_is_refused_without_burning_the_token() {
    let plane = start().await;
    let (token, id) = join_token(&plane, "orders").await;
    let (_key, csr) = make_csr().unwrap();
    let mut broken = csr.to_vec();
    let last = broken.len() - 1;
    broken[last] ^= 0x01; // in the signature
    let broken_pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", broken));
    for csr_pem in [
        broken_pem.as_str(),
        "not pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let reply = plane
            .h1(
                Method::POST,
                "/v1/identity/svid",
                None,
                &svid_body(&token, csr_pem),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{csr_pem}");
        assert_eq!(reply.error().code, "bad_request");
    }
    let reply = plane
        .h1(Method::POST, "/v1/identity/svid", None, r#"{"csr_pem":""}"#)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // The token still works.
    let (_key, csr_pem) = key_and_csr();
    let issued = workload(&plane)
        .request_svid(&token, &csr_pem)
        .await
        .unwrap();
    check_issued(&issued, &id);
}

/// A CSR for a fresh key that asks for `uris` (URI SANs) and `dns` (DNS SANs).
fn greedy_csr(uris: &[&str], dns: &[&str]) -> String {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.subject_alt_names = uris
        .iter()
        .map(|u| rcgen::SanType::URI((*u).try_into().unwrap()))
        .chain(
            dns.iter()
                .map(|d| rcgen::SanType::DnsName((*d).try_into().unwrap())),
        )
        .collect();
    params.serialize_request(&key).unwrap().pem().unwrap()
}

#[tokio::test]
async fn a_csr_asking_for_another_identity_is_refused_and_published() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();
    let billing = format!("spiffe://{TRUST_DOMAIN}/ns/shop/sa/billing");
    for csr_pem in [
        greedy_csr(&[&billing], &[]),
        greedy_csr(&[], &["billing.shop.svc"]),
    ] {
        let (token, id) = join_token(&plane, "orders").await;
        let reply = plane
            .h1(
                Method::POST,
                "/v1/identity/svid",
                None,
                &svid_body(&token, &csr_pem),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        let error = reply.error();
        assert!(
            error.error.contains("does not allow") && error.error.contains(&id),
            "{}",
            error.error
        );
        let event = next_event(&mut events, SecurityKind::SvidRefused).await;
        assert!(event.detail.contains("does not allow"), "{}", event.detail);
        // The token was spent on the attempt.
        let (_key, good) = key_and_csr();
        let error = workload(&plane)
            .request_svid(&token, &good)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ControlError::Unauthorized { .. }),
            "{error:?}"
        );
    }
    // A CSR naming exactly the token's identity is fine.
    let (token, id) = join_token(&plane, "orders").await;
    let issued = workload(&plane)
        .request_svid(&token, &greedy_csr(&[&id], &[]))
        .await
        .unwrap();
    check_issued(&issued, &id);
}

#[tokio::test]
async fn renewal_with_the_svid_over_mtls_keeps_the_identity() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();
    let (token, id) = join_token(&plane, "orders").await;
    let (key, csr_pem) = key_and_csr();
    let first = workload(&plane)
        .request_svid(&token, &csr_pem)
        .await
        .unwrap();
    let chain = check_issued(&first, &id);
    next_event(&mut events, SecurityKind::SvidIssued).await;

    // Certificate times have a resolution of one second.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let key_der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let renewing = workload(&plane)
        .with_client_identity(chain, key_der)
        .unwrap();
    let (_new_key, new_csr) = key_and_csr();
    let renewed = renewing.renew_svid(&new_csr).await.unwrap();
    check_issued(&renewed, &id);
    assert!(renewed.expires_at_ms > first.expires_at_ms, "{renewed:?}");
    assert_ne!(renewed.svid_chain_pem[0], first.svid_chain_pem[0]);
    let event = next_event(&mut events, SecurityKind::SvidRenewed).await;
    assert!(event.detail.contains(&id), "{}", event.detail);

    // A bad CSR is still refused on renewal.
    let error = renewing.renew_svid("not pem").await.unwrap_err();
    assert!(
        matches!(error, ControlError::Http { status: 400, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn renewal_without_a_client_certificate_is_refused() {
    let plane = start().await;
    let mut events = plane.bus.subscribe();
    let (_key, csr_pem) = key_and_csr();
    let error = workload(&plane).renew_svid(&csr_pem).await.unwrap_err();
    assert!(
        matches!(error, ControlError::Unauthorized { .. }),
        "{error:?}"
    );
    let event = next_event(&mut events, SecurityKind::AuthFailed).await;
    assert!(event.detail.contains("renewal"), "{}", event.detail);

    // The admin token is no substitute for the SVID.
    let body = serde_json::json!({ "csr_pem": csr_pem }).to_string();
    let reply = plane
        .h1(
            Method::POST,
            "/v1/identity/svid/renew",
            Some(&plane.bearer()),
            &body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error().code, "unauthorized");
}
