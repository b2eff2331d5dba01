//! CA rollover: a new root is trusted beside the old one, then the old one is retired.

use std::{sync::Arc, time::SystemTime};

use rampart_identity::{SvidError, TrustBundle, verify_svid};

use crate::support::{bundle, client, exchange, id, issue, serve, td, test_ca};

#[test]
fn bundle_add_and_remove() {
    let old = test_ca();
    let new = test_ca();
    let mut bundle = TrustBundle::new(td());
    bundle.add(old.ca.cert_der().clone()).unwrap();
    bundle.add(old.ca.cert_der().clone()).unwrap();
    bundle.add(new.ca.cert_der().clone()).unwrap();
    assert_eq!(
        bundle.roots(),
        [old.ca.cert_der().clone(), new.ca.cert_der().clone()]
    );
    assert!(bundle.remove(old.ca.cert_der()));
    assert!(!bundle.remove(old.ca.cert_der()));
    assert_eq!(bundle.roots(), [new.ca.cert_der().clone()]);

    // A leaf is not a root.
    let svid = issue(&old, &id("x"));
    let err = bundle.add(svid.chain[0].clone()).unwrap_err();
    assert!(matches!(err, SvidError::InvalidRoot { .. }), "{err:?}");
}

#[test]
fn verify_svid_during_and_after_rollover() {
    let old = test_ca();
    let new = test_ca();
    let from_old = issue(&old, &id("billing"));
    let from_new = issue(&new, &id("billing"));
    let mut both = bundle(&[&old, &new]);
    let now = SystemTime::now();
    assert!(verify_svid(&from_old.chain, &both, now).is_ok());
    assert!(verify_svid(&from_new.chain, &both, now).is_ok());
    both.remove(old.ca.cert_der());
    let err = verify_svid(&from_old.chain, &both, now).unwrap_err();
    assert!(matches!(err, SvidError::Untrusted { .. }), "{err:?}");
    assert!(verify_svid(&from_new.chain, &both, now).is_ok());
}

#[tokio::test]
async fn handshakes_follow_the_live_bundle() {
    let old = test_ca();
    let new = test_ca();
    let server_svid = issue(&new, &id("billing"));
    let old_client = issue(&old, &id("orders"));
    let new_client = issue(&new, &id("orders"));

    let shared = bundle(&[&old, &new]).shared();
    let (addr, mut accepted) = serve(&server_svid, shared.clone()).await;
    for svid in [&old_client, &new_client] {
        exchange(client(svid, &id("billing"), shared.clone()), addr)
            .await
            .unwrap();
        assert_eq!(accepted.recv().await.unwrap().unwrap(), Some(id("orders")));
    }

    // Retire the old root: the running server refuses the old SVID from now on.
    let mut retired = (**shared.load()).clone();
    retired.remove(old.ca.cert_der());
    shared.store(Arc::new(retired));
    let err = exchange(client(&old_client, &id("billing"), shared.clone()), addr).await;
    assert!(err.is_err());
    let refusal = accepted.recv().await.unwrap().unwrap_err();
    assert!(refusal.contains("UnknownIssuer"), "{refusal}");
    exchange(client(&new_client, &id("billing"), shared.clone()), addr)
        .await
        .unwrap();
    assert_eq!(accepted.recv().await.unwrap().unwrap(), Some(id("orders")));
}
