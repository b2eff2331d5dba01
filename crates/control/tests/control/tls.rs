//! The transport: TLS with the control plane's CA only, h1 and h2 by ALPN, bounded handshakes,
//! graceful shutdown.

use std::time::Duration;

use http::{Method, StatusCode, Version};
use rampart_control::{ControlClient, ControlError, Limits};
use rampart_identity::LocalCa;
use tokio::{io::AsyncReadExt, net::TcpStream};

use crate::support::{start, start_with};

#[tokio::test]
async fn a_client_with_the_wrong_ca_fails_with_a_tls_error() {
    let plane = start().await;
    let other = tempfile::tempdir().unwrap();
    let other_ca = LocalCa::load_or_create(other.path()).unwrap();
    let client = ControlClient::new(
        &plane.url,
        plane.token.secret().clone(),
        other_ca.cert_path(),
    )
    .unwrap();
    let err = client.health().await.unwrap_err();
    assert!(matches!(err, ControlError::Tls { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("tls handshake"), "{message}");
    assert!(!message.contains(plane.token.secret().expose().as_str()));
}

#[tokio::test]
async fn an_absent_server_is_unreachable() {
    let plane = start().await;
    let url = plane.url.clone();
    plane.handle.shutdown().await;
    let client = ControlClient::new(&url, "t".repeat(64).into(), &plane.ca_path).unwrap();
    let err = client.health().await.unwrap_err();
    assert!(matches!(err, ControlError::Unreachable { .. }), "{err:?}");
}

#[tokio::test]
async fn h2_and_http1_are_served_by_alpn() {
    let plane = start().await;
    let auth = plane.bearer();
    let reply = plane.h2(Method::GET, "/v1/health", Some(&auth), "").await;
    assert_eq!(reply.version, Version::HTTP_2);
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["status"], "ok");

    let reply = plane.h1(Method::GET, "/v1/status", Some(&auth), "").await;
    assert_eq!(reply.version, Version::HTTP_11);
    assert_eq!(reply.status, StatusCode::OK);

    // The client offers both and gets h2; it works either way.
    assert!(plane.client().health().await.unwrap().is_ok());
}

#[tokio::test]
async fn a_stalled_handshake_is_dropped() {
    let limits = Limits {
        handshake_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let plane = start_with(Duration::from_secs(30), limits).await;
    let mut tcp = TcpStream::connect(plane.addr()).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut buf))
        .await
        .expect("the server closes a stalled handshake");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(plane.client().health().await.unwrap().is_ok());
}

#[tokio::test]
async fn shutdown_is_graceful_and_stops_listening() {
    let plane = start().await;
    let client = plane.client();
    assert!(client.health().await.unwrap().is_ok());
    let addr = plane.addr();
    tokio::time::timeout(Duration::from_secs(5), plane.handle.shutdown())
        .await
        .expect("shutdown within 5 s");
    assert!(TcpStream::connect(addr).await.is_err());
}
