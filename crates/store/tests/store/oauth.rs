//! The OAuth tables, on both backends: clients, signing-key rotation and revoked tokens.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_store::{OAuthClientRecord, SigningKeyRecord};

use crate::harness::TestDb;

const T0: u64 = 1_700_000_000_000;

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn client(id: &str, created_ms: u64) -> OAuthClientRecord {
    OAuthClientRecord {
        id: id.to_owned(),
        name: format!("{id} service"),
        scopes: vec!["orders.read".to_owned(), "orders.write".to_owned()],
        auth_method: "client_secret".to_owned(),
        secret_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        public_jwk: None,
        tls_subject: None,
        default_audience: Some("orders".to_owned()),
        created_at: at(created_ms),
    }
}

fn key(kid: &str, state: &str, created_ms: u64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg: "ES256".to_owned(),
        private_pkcs8: vec![0x30, 0x81, 0x87, 0x02, 0x01, 0x00, kid.len() as u8],
        state: state.to_owned(),
        created_at: at(created_ms),
        activates_at: None,
        retire_after: None,
    }
}

pub async fn oauth_clients_round_trip_list_and_delete(db: &TestDb) {
    let store = db.open().await;
    let mut tls = client("billing", T0 + 10);
    tls.auth_method = "tls_client_auth".to_owned();
    tls.secret_hash = None;
    tls.tls_subject = Some("spiffe://rampart.local/ns/shop/sa/billing".to_owned());
    tls.default_audience = None;
    store.insert_oauth_client(&tls).await.unwrap();
    store
        .insert_oauth_client(&client("orders", T0))
        .await
        .unwrap();
    assert!(
        store
            .insert_oauth_client(&client("orders", T0))
            .await
            .is_err(),
        "ids are unique"
    );

    assert_eq!(
        store.oauth_client("orders").await.unwrap(),
        Some(client("orders", T0))
    );
    assert_eq!(store.oauth_client("nope").await.unwrap(), None);
    let listed = store.list_oauth_clients().await.unwrap();
    assert_eq!(listed, vec![client("orders", T0), tls]);

    assert!(store.delete_oauth_client("orders").await.unwrap());
    assert!(!store.delete_oauth_client("orders").await.unwrap());
    assert_eq!(store.oauth_client("orders").await.unwrap(), None);
}

pub async fn signing_keys_rotate_next_to_active_to_retired(db: &TestDb) {
    let store = db.open().await;
    store
        .insert_signing_key(&key("k1", "active", T0))
        .await
        .unwrap();
    store
        .insert_signing_key(&key("k2", "next", T0 + 1))
        .await
        .unwrap();

    store
        .rotate_signing_keys(&key("k3", "next", T0 + 2), at(T0 + 100), at(T0 + 500))
        .await
        .unwrap();
    let keys = store.list_signing_keys().await.unwrap();
    let states: Vec<_> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.state.as_str()))
        .collect();
    assert_eq!(
        states,
        [("k1", "retired"), ("k2", "active"), ("k3", "next")]
    );
    assert_eq!(keys[0].retire_after, Some(at(T0 + 500)));
    assert_eq!(keys[1].activates_at, Some(at(T0 + 100)));
    assert_eq!(keys[2].private_pkcs8, key("k3", "next", 0).private_pkcs8);

    assert_eq!(store.prune_signing_keys(at(T0 + 499)).await.unwrap(), 0);
    assert_eq!(store.prune_signing_keys(at(T0 + 500)).await.unwrap(), 1);
    let kids: Vec<_> = store
        .list_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k2", "k3"]);
}

pub async fn signing_key_debug_hides_the_private_key(db: &TestDb) {
    let store = db.open().await;
    let mut secret = key("k1", "active", T0);
    secret.private_pkcs8 = b"PRIVATE-KEY-BYTES".to_vec();
    store.insert_signing_key(&secret).await.unwrap();
    let loaded = store.list_signing_keys().await.unwrap();
    let shown = format!("{loaded:?}");
    assert!(shown.contains("k1"));
    assert!(!shown.contains("80, 82, 73"), "{shown}");
    assert_eq!(loaded[0].private_pkcs8, b"PRIVATE-KEY-BYTES");
}

pub async fn revoked_tokens_are_idempotent_and_pruned_at_expiry(db: &TestDb) {
    let store = db.open().await;
    assert!(!store.is_token_revoked("jti-1").await.unwrap());
    assert!(store.revoke_token("jti-1", at(T0 + 300)).await.unwrap());
    assert!(!store.revoke_token("jti-1", at(T0 + 300)).await.unwrap());
    assert!(store.revoke_token("jti-2", at(T0 + 600)).await.unwrap());
    assert!(store.is_token_revoked("jti-1").await.unwrap());

    assert_eq!(store.prune_revoked_tokens(at(T0 + 299)).await.unwrap(), 0);
    assert_eq!(store.prune_revoked_tokens(at(T0 + 300)).await.unwrap(), 1);
    assert!(!store.is_token_revoked("jti-1").await.unwrap());
    assert!(store.is_token_revoked("jti-2").await.unwrap());
}

pub async fn platform_key_columns_seal_and_clear(db: &TestDb) {
    let store = db.open().await;
    store
        .insert_signing_key(&key("k1", "active", T0))
        .await
        .unwrap();
    store
        .insert_signing_key(&key("k2", "next", T0 + 1))
        .await
        .unwrap();
    assert_eq!(
        store.signing_key_publics().await.unwrap(),
        vec![("k1".to_owned(), None), ("k2".to_owned(), None)]
    );
    assert!(
        store
            .seal_signing_key("k1", r#"{"kty":"EC"}"#)
            .await
            .unwrap()
    );
    assert!(!store.seal_signing_key("nope", "{}").await.unwrap());
    let keys = store.list_signing_keys().await.unwrap();
    assert!(
        keys[0].private_pkcs8.is_empty(),
        "the private key is blanked"
    );
    assert!(!keys[1].private_pkcs8.is_empty());
    assert_eq!(
        store.signing_key_publics().await.unwrap()[0],
        ("k1".to_owned(), Some(r#"{"kty":"EC"}"#.to_owned()))
    );

    store
        .insert_oauth_client(&client("orders", T0))
        .await
        .unwrap();
    assert!(
        store
            .set_oauth_client_secret_hash("orders", None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_oauth_client_secret_hash("nope", None)
            .await
            .unwrap()
    );
    let row = store.oauth_client("orders").await.unwrap().unwrap();
    assert_eq!(row.secret_hash, None);
}
