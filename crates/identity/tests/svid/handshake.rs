//! Mutual TLS between two workloads over loopback.

use std::sync::Arc;

use rampart_identity::{SpiffeServerVerifier, SvidError, crypto_provider, peer_spiffe_id};
use rustls::{CertificateError, ClientConfig, OtherError, pki_types::ServerName};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;

use crate::support::{bundle, client, exchange, id, issue, serve, test_ca};

#[tokio::test]
async fn mtls_both_ways_and_the_server_sees_the_client_id() {
    let ca = test_ca();
    let shared = bundle(&[&ca]).shared();
    let billing = issue(&ca, &id("billing"));
    let orders = issue(&ca, &id("orders"));
    for (server, server_id, client_svid, client_id) in [
        (&billing, id("billing"), &orders, id("orders")),
        (&orders, id("orders"), &billing, id("billing")),
    ] {
        let (addr, mut accepted) = serve(server, shared.clone()).await;
        let tls = exchange(client(client_svid, &server_id, shared.clone()), addr)
            .await
            .unwrap();
        assert_eq!(peer_spiffe_id(tls.get_ref().1), Some(server_id));
        assert_eq!(accepted.recv().await.unwrap().unwrap(), Some(client_id));
    }
}

#[tokio::test]
async fn client_refuses_a_server_with_another_identity() {
    let ca = test_ca();
    let shared = bundle(&[&ca]).shared();
    let orders = issue(&ca, &id("orders"));
    let (addr, _accepted) = serve(&orders, shared.clone()).await;
    // Same CA, same trust domain, but not the service the client means to reach.
    let me = issue(&ca, &id("frontend"));
    let err = exchange(client(&me, &id("billing"), shared), addr)
        .await
        .unwrap_err();
    let tls = err
        .get_ref()
        .unwrap()
        .downcast_ref::<rustls::Error>()
        .unwrap();
    let rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(other))) = tls else {
        panic!("{tls:?}");
    };
    let svid_error = other.downcast_ref::<SvidError>().unwrap();
    assert!(
        matches!(svid_error, SvidError::UnexpectedId { expected, found }
            if *expected == id("billing") && *found == id("orders")),
        "{svid_error}"
    );
}

#[tokio::test]
async fn server_refuses_a_client_without_certificate() {
    let ca = test_ca();
    let shared = bundle(&[&ca]).shared();
    let billing = issue(&ca, &id("billing"));
    let (addr, mut accepted) = serve(&billing, shared.clone()).await;

    let provider = crypto_provider();
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(SpiffeServerVerifier::new(id("billing"), shared))
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::IpAddress(addr.ip().into());
    let result = async {
        let mut tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        tls.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await
    }
    .await;
    assert!(result.is_err());
    let refusal = accepted.recv().await.unwrap().unwrap_err();
    assert!(
        refusal.contains("NoCertificatesPresented") || refusal.contains("certificate"),
        "{refusal}"
    );
}

#[tokio::test]
async fn server_refuses_a_client_from_another_ca() {
    let ca = test_ca();
    let rogue = test_ca();
    let shared = bundle(&[&ca]).shared();
    let billing = issue(&ca, &id("billing"));
    let (addr, mut accepted) = serve(&billing, shared.clone()).await;
    let impostor = issue(&rogue, &id("orders"));
    assert!(
        exchange(client(&impostor, &id("billing"), shared), addr)
            .await
            .is_err()
    );
    let refusal = accepted.recv().await.unwrap().unwrap_err();
    assert!(refusal.contains("UnknownIssuer"), "{refusal}");
}
