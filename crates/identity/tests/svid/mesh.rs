//! Mesh TLS between two sidecars, in memory: TLS 1.3 only, session resumption, and the
//! post-handshake peer check that catches what a resumed handshake does not verify.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use rampart_identity::{
    RevocationList, SharedRevocations, SpiffeServerVerifier, SvidError, SvidSource, check_peer,
    crypto_provider, mesh_client_config, mesh_server_config, serial_hex,
};
use rustls::{
    ClientConfig, HandshakeKind, NamedGroup, ProtocolVersion, ServerConfig, version::TLS12,
};

use crate::support::{bundle, connections, handshake, id, issue, test_ca};

struct Mesh {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    client_svid: Arc<SvidSource>,
    revocations: SharedRevocations,
}

/// `frontend` (client) calling `billing` (server), both with SVIDs of one CA.
fn mesh() -> Mesh {
    let ca = test_ca();
    let shared = bundle(&[&ca]).shared();
    let revocations = SharedRevocations::default();
    let billing = issue(&ca, &id("billing"));
    let frontend = issue(&ca, &id("frontend"));
    let server_svid = SvidSource::new(billing.chain, billing.key).unwrap();
    let client_svid = SvidSource::new(frontend.chain, frontend.key).unwrap();
    let alpn = vec![b"h2".to_vec()];
    let server = mesh_server_config(
        server_svid,
        shared.clone(),
        revocations.clone(),
        alpn.clone(),
    )
    .unwrap();
    let client = mesh_client_config(
        client_svid.clone(),
        id("billing"),
        shared,
        revocations.clone(),
        alpn,
    )
    .unwrap();
    Mesh {
        client: Arc::new(client),
        server: Arc::new(server),
        client_svid,
        revocations,
    }
}

#[test]
fn tls13_with_the_hybrid_group_and_both_ids_checked() {
    let mesh = mesh();
    let (mut client, mut server) = connections(&mesh.client, &mesh.server);
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(client.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(
        client.negotiated_key_exchange_group().map(|g| g.name()),
        Some(NamedGroup::X25519MLKEM768)
    );
    assert_eq!(server.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(client.handshake_kind(), Some(HandshakeKind::Full));
    let empty = RevocationList::default();
    let now = SystemTime::now();
    assert_eq!(check_peer(&server, &empty, now).unwrap(), id("frontend"));
    assert_eq!(check_peer(&client, &empty, now).unwrap(), id("billing"));
    let err = check_peer(&server, &empty, now + Duration::from_secs(7_200)).unwrap_err();
    assert!(matches!(err, SvidError::Expired), "{err}");
}

#[test]
fn resumed_sessions_skip_the_verifier_but_not_check_peer() {
    let mesh = mesh();
    let (mut client, mut server) = connections(&mesh.client, &mesh.server);
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(server.handshake_kind(), Some(HandshakeKind::Full));

    let (mut client, mut server) = connections(&mesh.client, &mesh.server);
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(client.handshake_kind(), Some(HandshakeKind::Resumed));
    assert_eq!(server.handshake_kind(), Some(HandshakeKind::Resumed));
    let now = SystemTime::now();
    let list = mesh.revocations.load();
    assert_eq!(check_peer(&server, &list, now).unwrap(), id("frontend"));
    assert_eq!(check_peer(&client, &list, now).unwrap(), id("billing"));

    // Revoking the client's serial does not stop a resumption (no verifier runs)...
    let serial = mesh.client_svid.serial();
    mesh.revocations
        .store(RevocationList::new([serial.clone()]));
    let (mut client, mut server) = connections(&mesh.client, &mesh.server);
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(server.handshake_kind(), Some(HandshakeKind::Resumed));
    // ...but the post-handshake check sees the client's certificate and refuses it.
    let leaf = &server.peer_certificates().unwrap()[0];
    assert_eq!(serial_hex(leaf).unwrap(), serial);
    let list = mesh.revocations.load();
    let err = check_peer(&server, &list, now).unwrap_err();
    assert!(
        matches!(&err, SvidError::Revoked { serial: s } if *s == serial),
        "{err}"
    );

    // A full handshake (a client without cached sessions) is refused by the verifier.
    let mut fresh = (*mesh.client).clone();
    fresh.resumption = rustls::client::Resumption::in_memory_sessions(8);
    let (mut client, mut server) = connections(&Arc::new(fresh), &mesh.server);
    let err = handshake(&mut client, &mut server).unwrap_err();
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)
    );
}

#[test]
fn a_tls12_only_client_cannot_connect() {
    let mesh = mesh();
    let shared = bundle(&[&test_ca()]).shared();
    let config = ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&TLS12])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(SpiffeServerVerifier::new(id("billing"), shared))
        .with_client_cert_resolver(mesh.client_svid.clone());
    let (mut client, mut server) = connections(&Arc::new(config), &mesh.server);
    let err = handshake(&mut client, &mut server).unwrap_err();
    assert!(matches!(err, rustls::Error::PeerIncompatible(_)), "{err:?}");
    assert!(server.protocol_version().is_none());
}
