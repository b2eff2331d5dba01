//! Platform keys in the secrets store (`docs/secrets.md`, "Platform keys"): the token signing
//! keys and the client secret hashes are kept encrypted under the reserved prefix, rows of an
//! older release are moved at the first unsealed start, the reserved prefix is refused over
//! HTTP even to the admin token, a sealed store makes the token endpoint fail closed while
//! the JWKS keeps serving, and only tokens for the secrets audience (the default or the
//! configured one) open the secrets API. The CA generations' keys live in the store when it
//! is unsealed at start: new ones never touch the disk, key files are imported, and SVIDs keep
//! issuing and verifying across restarts; sealed at start, they stay in 0600 files.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use rampart_config::SealMode;
use rampart_control::api::RolloverStep;
use rampart_events::SecurityKind;
use rampart_secrets::Platform;
use rampart_token::{Jwks, Policy, VerifyingKeys, verify};
use serde_json::Value;

use crate::{
    oauth::create_client,
    secrets::{admin, errors, next_access, send, vault},
    secrets_authz::client_token_for,
    support::{Plane, Reply, Settings, next_event, start_settings},
};

fn http1(plane: &Plane) -> rustls::ClientConfig {
    rampart_identity::client_config(Some(&plane.ca_path), false, vec![b"http/1.1".to_vec()])
        .unwrap()
}

/// `POST /oauth2/token` (client_credentials) for the client `id` / `secret`.
async fn token_reply(plane: &Plane, id: &str, secret: &str) -> Reply {
    let form = format!(
        "grant_type=client_credentials&client_id={id}&client_secret={secret}&audience=orders"
    );
    send(
        plane,
        http1(plane),
        "POST",
        "/oauth2/token",
        &[("content-type", "application/x-www-form-urlencoded")],
        &form,
    )
    .await
}

async fn token(plane: &Plane, id: &str, secret: &str) -> String {
    let reply = token_reply(plane, id, secret).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

async fn jwks(plane: &Plane) -> Jwks {
    let reply = send(plane, http1(plane), "GET", "/oauth2/jwks", &[], "").await;
    assert_eq!(reply.status, StatusCode::OK);
    serde_json::from_slice(&reply.body).unwrap()
}

/// Whether `token` (issued by this plane) verifies against the plane's current JWKS.
async fn verifies(plane: &Plane, token: &str) -> bool {
    verifies_from(plane, token, &plane.url).await
}

/// Whether `token`, issued by `issuer` (the plane before a restart on another port), verifies
/// against the plane's current JWKS.
async fn verifies_from(plane: &Plane, token: &str, issuer: &str) -> bool {
    let keys = VerifyingKeys::from_jwks(&jwks(plane).await);
    verify(token, &keys, &Policy::new(issuer), SystemTime::now()).is_ok()
}

/// Every file under the data directory (database, WAL, key files) as one haystack.
fn data_bytes(plane: &Plane) -> Vec<u8> {
    fn walk(dir: &std::path::Path, out: &mut Vec<u8>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.extend_from_slice(&bytes);
            }
        }
    }
    let mut out = Vec::new();
    walk(plane.ca_path.parent().unwrap(), &mut out);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The private keys (PKCS#8 DER) of every signing key, from the secrets store, and checks
/// that the table holds none of them.
async fn stored_private_keys(plane: &Plane) -> Vec<Vec<u8>> {
    let platform = plane.secrets.as_ref().unwrap().platform();
    let publics = plane.store.signing_key_publics().await.unwrap();
    let mut out = Vec::new();
    for rec in plane.store.list_signing_keys().await.unwrap() {
        assert!(rec.private_pkcs8.is_empty(), "key {} in clear", rec.kid);
        let public = publics.iter().find(|(kid, _)| *kid == rec.kid).unwrap();
        assert!(public.1.is_some(), "key {} has its public JWK", rec.kid);
        let der = platform
            .get(&format!("oauth-signing/{}", rec.kid))
            .await
            .unwrap()
            .unwrap();
        assert!(der.len() > 32);
        out.push(der.to_vec());
    }
    assert!(out.len() >= 2, "active and next");
    out
}

#[tokio::test]
async fn signing_keys_and_client_hashes_are_encrypted_and_survive_rotate_root_and_restart() {
    let plane = start_settings(Settings {
        secrets: Some(SealMode::Auto),
        ..Settings::default()
    })
    .await;
    let created = create_client(&plane, &["orders.read"], Some("orders")).await;
    let id = created.client.client_id.clone();
    let secret = created.client_secret.clone().unwrap();
    let first = token(&plane, &id, &secret).await;
    assert!(verifies(&plane, &first).await);

    // The keys and the hash are in the secrets store, not in their tables.
    let keys = stored_private_keys(&plane).await;
    let row = plane.store.oauth_client(&id).await.unwrap().unwrap();
    assert_eq!(row.secret_hash, None);
    let platform = plane.secrets.as_ref().unwrap().platform();
    let phc = platform
        .get(&format!("oauth-client/{id}"))
        .await
        .unwrap()
        .unwrap();
    assert!(phc.starts_with(b"$argon2id$"));
    let haystack = data_bytes(&plane);
    assert!(contains(&haystack, id.as_bytes()), "the scan sees the rows");
    for der in &keys {
        assert!(!contains(&haystack, der), "a signing key in clear on disk");
    }
    assert!(!contains(&haystack, &phc), "a client secret hash in clear");

    // The reserved prefix is refused over HTTP, to the admin token too, and audited.
    let mut events = plane.bus.subscribe();
    let kid = plane.store.list_signing_keys().await.unwrap()[0]
        .kid
        .clone();
    let path = format!("/v1/secret/data/sys/platform/oauth-signing/{kid}");
    let read = admin(&plane, "GET", &path, "").await;
    assert_eq!(read.status, StatusCode::FORBIDDEN);
    assert_eq!(errors(&read), ["permission denied"]);
    let detail = next_access(&mut events).await;
    assert!(
        detail.contains("decision=deny policies=reserved-path"),
        "{detail}"
    );
    for (method, path, body) in [
        ("PUT", path.as_str(), r#"{"data":{"x":"y"}}"#),
        (
            "DELETE",
            "/v1/secret/metadata/sys/platform/oauth-signing",
            "",
        ),
        ("LIST", "/v1/secret/metadata/sys/platform/", ""),
        ("GET", "/v1/secret/metadata/sys/platform", ""),
        (
            "PUT",
            "/v1/secret/destroy/sys/platform/local-ca/key",
            r#"{"versions":[1]}"#,
        ),
    ] {
        let reply = admin(&plane, method, path, body).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    let listed = admin(&plane, "LIST", "/v1/secret/metadata/", "").await;
    assert_eq!(
        listed.status,
        StatusCode::NOT_FOUND,
        "the root lists nothing"
    );
    assert!(
        platform
            .get(&format!("oauth-signing/{kid}"))
            .await
            .unwrap()
            .is_some()
    );

    // rotate-root rewraps the platform keys with everything else; tokens still verify.
    let rotated = admin(&plane, "PUT", "/v1/sys/rotate", "").await;
    assert!(rotated.status.is_success(), "{:?}", rotated.body);
    let secrets = plane.secrets.clone().unwrap();
    assert!(secrets.wait_rewrapped(Duration::from_secs(60)).await);
    let (_, version) = plane
        .store
        .secret_read(&Platform::path(&format!("oauth-signing/{kid}")), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version.unwrap().kek_id, 2);
    let second = token(&plane, &id, &secret).await;
    assert!(verifies(&plane, &first).await && verifies(&plane, &second).await);

    // A signing key rotation keeps them in the store.
    let rotated = plane.client().rotate_oauth_keys().await.unwrap();
    let third = token(&plane, &id, &secret).await;
    assert!(verifies(&plane, &third).await);
    assert_eq!(
        rampart_token::peek_header(&third).unwrap().kid.as_deref(),
        Some(rotated.active_kid.as_str())
    );
    stored_private_keys(&plane).await;

    // After a restart (on another port, so another issuer) the same keys sign and the same
    // secret authenticates.
    let old_issuer = plane.url.clone();
    let plane = plane.restart().await;
    let fourth = token(&plane, &id, &secret).await;
    assert!(verifies(&plane, &fourth).await);
    assert!(verifies_from(&plane, &third, &old_issuer).await);
    assert_eq!(
        rampart_token::peek_header(&fourth).unwrap().kid,
        rampart_token::peek_header(&third).unwrap().kid,
        "the same active key"
    );
}

#[tokio::test]
async fn plaintext_rows_of_an_older_release_are_moved_at_the_first_unsealed_start() {
    // Without a secrets store the keys and the hash stay in their tables (as before).
    let plane = start_settings(Settings::default()).await;
    let created = create_client(&plane, &["orders.read"], Some("orders")).await;
    let id = created.client.client_id.clone();
    let secret = created.client_secret.clone().unwrap();
    let before = token(&plane, &id, &secret).await;
    let plain: Vec<Vec<u8>> = plane
        .store
        .list_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.private_pkcs8)
        .collect();
    assert!(plain.iter().all(|der| !der.is_empty()));
    let phc = plane
        .store
        .oauth_client(&id)
        .await
        .unwrap()
        .unwrap()
        .secret_hash
        .unwrap();

    let old_issuer = plane.url.clone();
    let plane = plane
        .restart_with(Settings {
            secrets: Some(SealMode::Auto),
            ..Settings::default()
        })
        .await;
    let moved = stored_private_keys(&plane).await;
    for der in &plain {
        assert!(moved.contains(der), "the same keys, moved");
    }
    assert_eq!(
        plane
            .store
            .oauth_client(&id)
            .await
            .unwrap()
            .unwrap()
            .secret_hash,
        None
    );
    let platform = plane.secrets.as_ref().unwrap().platform();
    let stored = platform
        .get(&format!("oauth-client/{id}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.as_slice(), phc.as_bytes());
    // Tokens of before still verify; the secret still authenticates.
    assert!(verifies_from(&plane, &before, &old_issuer).await);
    let after = token(&plane, &id, &secret).await;
    assert!(verifies(&plane, &after).await);
    // Deleting the client forgets its hash.
    assert!(plane.client().delete_oauth_client(&id).await.unwrap());
    assert!(
        platform
            .get(&format!("oauth-client/{id}"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn plaintext_rows_move_at_the_first_use_after_a_shamir_unseal() {
    let plane = start_settings(Settings::default()).await;
    let created = create_client(&plane, &["orders.read"], Some("orders")).await;
    let id = created.client.client_id.clone();
    let secret = created.client_secret.clone().unwrap();
    let other = create_client(&plane, &["orders.read"], Some("orders")).await;
    let before = token(&plane, &id, &secret).await;
    let old_issuer = plane.url.clone();
    let plane = plane
        .restart_with(Settings {
            secrets: Some(SealMode::Shamir),
            ..Settings::default()
        })
        .await;
    // Sealed (not even initialized): the keys of the table are still published.
    assert!(verifies_from(&plane, &before, &old_issuer).await);
    assert_eq!(
        token_reply(&plane, &id, &secret).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let init = admin(
        &plane,
        "PUT",
        "/v1/sys/init",
        r#"{"secret_shares":1,"secret_threshold":1}"#,
    )
    .await;
    let share = init.json()["keys"][0].as_str().unwrap().to_owned();
    let body = format!(r#"{{"key":"{share}"}}"#);
    let reply = vault(&plane, "PUT", "/v1/sys/unseal", None, &body).await;
    assert_eq!(reply.json()["sealed"], false);
    let after = token(&plane, &id, &secret).await;
    assert!(verifies(&plane, &after).await);
    assert!(verifies_from(&plane, &before, &old_issuer).await);
    stored_private_keys(&plane).await;
    for client in [&id, &other.client.client_id] {
        let row = plane.store.oauth_client(client).await.unwrap().unwrap();
        assert_eq!(row.secret_hash, None, "every hash moved");
    }
}

#[tokio::test]
async fn a_sealed_store_makes_the_token_endpoint_fail_closed_and_jwks_keeps_serving() {
    let plane = start_settings(Settings {
        secrets: Some(SealMode::Shamir),
        ..Settings::default()
    })
    .await;
    // Uninitialized: no key exists yet, nothing signs.
    assert!(jwks(&plane).await.keys.is_empty());
    let init = admin(
        &plane,
        "PUT",
        "/v1/sys/init",
        r#"{"secret_shares":1,"secret_threshold":1}"#,
    )
    .await;
    let share = init.json()["keys"][0].as_str().unwrap().to_owned();
    let body = format!(r#"{{"key":"{share}"}}"#);
    let reply = vault(&plane, "PUT", "/v1/sys/unseal", None, &body).await;
    assert_eq!(reply.json()["sealed"], false, "{:?}", reply.body);

    let created = create_client(&plane, &["orders.read"], Some("orders")).await;
    let id = created.client.client_id.clone();
    let secret = created.client_secret.clone().unwrap();
    let live = token(&plane, &id, &secret).await;
    assert!(verifies(&plane, &live).await);
    let published = jwks(&plane).await.keys.len();
    assert!(published >= 2);

    // Sealed: 503 temporarily_unavailable; the JWKS still lists the keys.
    let mut events = plane.bus.subscribe();
    assert!(
        admin(&plane, "PUT", "/v1/sys/seal", "")
            .await
            .status
            .is_success()
    );
    let _ = next_event(&mut events, SecurityKind::SecretsSeal).await;
    let refused = token_reply(&plane, &id, &secret).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.json()["error"], "temporarily_unavailable");
    let unknown = token_reply(&plane, "rc_nobody", "nothing").await;
    assert_eq!(unknown.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(jwks(&plane).await.keys.len(), published);
    assert!(verifies(&plane, &live).await);
    // A signing key rotation waits for the unseal.
    assert!(plane.client().rotate_oauth_keys().await.is_err());

    // A restart starts sealed: the public keys are served from their table.
    let old_issuer = plane.url.clone();
    let plane = plane.restart().await;
    assert_eq!(jwks(&plane).await.keys.len(), published);
    assert!(verifies_from(&plane, &live, &old_issuer).await);
    let refused = token_reply(&plane, &id, &secret).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    let reply = vault(&plane, "PUT", "/v1/sys/unseal", None, &body).await;
    assert_eq!(reply.json()["sealed"], false);
    let again = token(&plane, &id, &secret).await;
    assert!(verifies(&plane, &again).await);
}

#[tokio::test]
async fn only_tokens_for_the_secrets_audience_open_the_secrets_api() {
    let plane = start_settings(Settings {
        secrets: Some(SealMode::Auto),
        ..Settings::default()
    })
    .await;
    admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/db",
        r#"{"data":{"p":"v1"}}"#,
    )
    .await;
    let (wrong, wrong_id) = client_token_for(&plane, "orders").await;
    let (right, right_id) = client_token_for(&plane, &format!("{}/v1/secret", plane.url)).await;
    let cedar = format!(
        r#"permit(principal == Rampart::Client::"{wrong_id}", action == Rampart::Action::"read_secret", resource);
permit(principal == Rampart::Client::"{right_id}", action == Rampart::Action::"read_secret", resource);"#
    );
    let source = rampart_policy::PolicySource {
        files: std::collections::BTreeMap::from([("s.cedar".to_owned(), cedar)]),
        segments: rampart_policy::Segments::default(),
    };
    plane
        .client()
        .apply_policy(&rampart_control::api::ApplyPolicy {
            source,
            segments_from_current: false,
            author: "test".to_owned(),
            message: String::new(),
            dry_run: false,
        })
        .await
        .unwrap();
    let mut events = plane.bus.subscribe();

    // A token minted for another audience is refused, though a policy permits its client.
    let refused = vault(&plane, "GET", "/v1/secret/data/app/db", Some(&wrong), "").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(errors(&refused), ["permission denied"]);
    let event = next_event(&mut events, SecurityKind::AuthFailed).await;
    assert!(
        event.detail.contains("secrets audience"),
        "{}",
        event.detail
    );
    let bearer = format!("Bearer {wrong}");
    let refused = send(
        &plane,
        http1(&plane),
        "GET",
        "/v1/secret/data/app/db",
        &[("authorization", bearer.as_str())],
        "",
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The same client's token for the secrets audience reads.
    let read = vault(&plane, "GET", "/v1/secret/data/app/db", Some(&right), "").await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    let body: Value = read.json();
    assert_eq!(body["data"]["data"]["p"], "v1");
}

// === the CA generations' keys ===

/// `<tempdir>/ca-generations`, where rollover creates the generations (a sibling of `data`).
fn generations_dir(plane: &Plane) -> std::path::PathBuf {
    plane
        .ca_path
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("ca-generations")
}

/// The files under `dir` that hold a PEM private key.
fn private_key_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(private_key_files(&path));
        } else if contains(&std::fs::read(&path).unwrap(), b"PRIVATE KEY") {
            out.push(path);
        }
    }
    out
}

/// The base64 body lines of a PEM key (how it would appear in a file).
fn pem_lines(pem: &[u8]) -> Vec<Vec<u8>> {
    String::from_utf8_lossy(pem)
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 32)
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

/// Generation `n`'s key from the secrets store (PEM).
async fn generation_key(plane: &Plane, n: u32) -> Vec<u8> {
    let platform = plane.secrets.as_ref().unwrap().platform();
    let key = platform
        .get(&format!("ca-generations/gen-{n}/key"))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("generation {n}'s key is not in the store"));
    assert!(contains(&key, b"PRIVATE KEY"));
    key.to_vec()
}

fn roots(plane: &Plane) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    plane.bundle.load().roots().to_vec()
}

/// `(generation, active, trusted)` of every generation.
async fn generations(plane: &Plane) -> Vec<(u32, bool, bool)> {
    let status = plane.client().ca_status().await.unwrap();
    status
        .generations
        .iter()
        .map(|g| (g.generation, g.active, g.trusted))
        .collect()
}

async fn step(plane: &Plane, step: RolloverStep) {
    plane.client().ca_rollover(step, true).await.unwrap();
}

#[tokio::test]
async fn ca_generation_keys_live_in_the_secrets_store_across_a_rollover_and_restarts() {
    let plane = start_settings(Settings {
        secrets: Some(SealMode::Auto),
        ..Settings::default()
    })
    .await;
    let old_root = roots(&plane)[0].clone();
    let before = plane.join("orders", "shop").await;
    step(&plane, RolloverStep::Prepare).await;
    let dir = generations_dir(&plane);
    assert!(dir.join("gen-2/ca.pem").exists());
    assert!(
        !dir.join("gen-2/ca-key.pem").exists(),
        "no key file written"
    );
    assert_eq!(private_key_files(&dir), Vec::<std::path::PathBuf>::new());
    let key = generation_key(&plane, 2).await;
    step(&plane, RolloverStep::Activate).await;
    assert_eq!(
        generations(&plane).await,
        [(1, false, true), (2, true, true)]
    );
    let new_root = roots(&plane)[1].clone();
    let after = plane.join("billing", "shop").await;
    assert!(after.verifies_with(std::slice::from_ref(&new_root)));
    assert!(!after.verifies_with(std::slice::from_ref(&old_root)));
    assert!(private_key_files(&dir).is_empty());
    // Neither the data directory nor the generations hold the key in clear.
    let mut haystack = data_bytes(&plane);
    haystack.extend(tree_bytes(&dir));
    assert!(
        contains(&haystack, b"BEGIN CERTIFICATE"),
        "the scan sees files"
    );
    for line in pem_lines(&key) {
        assert!(!contains(&haystack, &line), "generation 2's key in clear");
    }
    // The leftovers of an interrupted prepare of generation 3: a certificate without a key.
    std::fs::create_dir_all(dir.join("gen-3")).unwrap();
    std::fs::copy(dir.join("gen-2/ca.pem"), dir.join("gen-3/ca.pem")).unwrap();

    // A restart loads generation 2 with its key from the store: SVIDs still issue and verify.
    let plane = plane.restart().await;
    assert_eq!(
        generations(&plane).await,
        [(1, false, true), (2, true, true)]
    );
    assert_eq!(roots(&plane), [old_root.clone(), new_root.clone()]);
    assert!(before.verifies_with(&roots(&plane)));
    assert!(after.verifies_with(&roots(&plane)));
    let joined = plane.join("inventory", "shop").await;
    assert!(joined.verifies_with(std::slice::from_ref(&new_root)));
    assert_eq!(generation_key(&plane, 2).await, key, "the same key");
    assert!(private_key_files(&dir).is_empty());

    // The next prepare discards the leftovers and creates a new CA, its key in the store.
    step(&plane, RolloverStep::Prepare).await;
    let status = plane.client().ca_status().await.unwrap();
    assert_eq!(status.generations.len(), 3);
    assert_ne!(
        status.generations[2].fingerprint, status.generations[1].fingerprint,
        "a new CA, not the copied certificate"
    );
    assert_ne!(generation_key(&plane, 3).await, key);
    assert!(private_key_files(&dir).is_empty());
    step(&plane, RolloverStep::Activate).await;
    let plane = plane.restart().await;
    let third = roots(&plane)[2].clone();
    let joined = plane.join("shipping", "shop").await;
    assert!(joined.verifies_with(std::slice::from_ref(&third)));
    assert!(private_key_files(&dir).is_empty());
}

#[tokio::test]
async fn ca_generation_key_files_of_an_older_release_are_imported_at_the_first_unsealed_start() {
    // Without a secrets store the generations keep 0600 key files, as before this release.
    let plane = start_settings(Settings::default()).await;
    for s in [
        RolloverStep::Prepare,
        RolloverStep::Activate,
        RolloverStep::Prepare,
        RolloverStep::Activate,
        RolloverStep::Retire,
    ] {
        step(&plane, s).await;
    }
    assert_eq!(
        generations(&plane).await,
        [(1, false, false), (2, false, false), (3, true, true)]
    );
    let dir = generations_dir(&plane);
    let key2 = std::fs::read(dir.join("gen-2/ca-key.pem")).unwrap();
    let key3 = std::fs::read(dir.join("gen-3/ca-key.pem")).unwrap();
    assert_eq!(private_key_files(&dir).len(), 2);
    let root = roots(&plane);
    assert_eq!(root.len(), 1);

    let plane = plane
        .restart_with(Settings {
            secrets: Some(SealMode::Auto),
            ..Settings::default()
        })
        .await;
    assert_eq!(
        private_key_files(&dir),
        Vec::<std::path::PathBuf>::new(),
        "both key files, trusted or retired, were imported and removed"
    );
    assert_eq!(generation_key(&plane, 2).await, key2);
    assert_eq!(generation_key(&plane, 3).await, key3);
    assert_eq!(roots(&plane), root);
    let joined = plane.join("orders", "shop").await;
    assert!(joined.verifies_with(&root));

    // The next start reads the key from the store.
    let plane = plane.restart().await;
    let joined = plane.join("billing", "shop").await;
    assert!(joined.verifies_with(&root));
    assert!(private_key_files(&dir).is_empty());
}

#[tokio::test]
async fn with_a_store_sealed_at_start_generation_keys_stay_in_files_until_an_unsealed_start() {
    let plane = start_settings(Settings {
        secrets: Some(SealMode::Shamir),
        ..Settings::default()
    })
    .await;
    step(&plane, RolloverStep::Prepare).await;
    let key_file = generations_dir(&plane).join("gen-2/ca-key.pem");
    let key = std::fs::read(&key_file).unwrap();
    assert!(
        contains(&key, b"PRIVATE KEY"),
        "TLS must work before the unseal"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    step(&plane, RolloverStep::Activate).await;
    let plane = plane.restart().await;
    let root = roots(&plane)[1].clone();
    let joined = plane.join("orders", "shop").await;
    assert!(joined.verifies_with(std::slice::from_ref(&root)));
    assert!(key_file.exists());

    // Switched to auto-unseal, the key moves into the store.
    let plane = plane
        .restart_with(Settings {
            secrets: Some(SealMode::Auto),
            ..Settings::default()
        })
        .await;
    assert!(!key_file.exists());
    assert_eq!(generation_key(&plane, 2).await, key);
    let joined = plane.join("billing", "shop").await;
    assert!(joined.verifies_with(std::slice::from_ref(&root)));
}

#[tokio::test]
async fn with_key_files_a_half_written_generation_is_discarded_by_the_next_prepare() {
    // A certificate without its key (e.g. left by a prepare with the store, interrupted
    // before it was recorded, then a start with key files): prepare starts over.
    let plane = start_settings(Settings::default()).await;
    let dir = generations_dir(&plane);
    std::fs::create_dir_all(dir.join("gen-2")).unwrap();
    std::fs::copy(&plane.ca_path, dir.join("gen-2/ca.pem")).unwrap();
    step(&plane, RolloverStep::Prepare).await;
    let status = plane.client().ca_status().await.unwrap();
    assert_ne!(
        status.generations[1].fingerprint,
        status.generations[0].fingerprint
    );
    assert!(dir.join("gen-2/ca-key.pem").exists());
    step(&plane, RolloverStep::Activate).await;
    let joined = plane.join("orders", "shop").await;
    assert!(joined.verifies_with(std::slice::from_ref(&roots(&plane)[1])));
}

/// Every file under `dir`, concatenated.
fn tree_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(tree_bytes(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

// === a configured secrets audience ===

#[tokio::test]
async fn a_configured_token_audience_replaces_the_default_one() {
    let plane = start_settings(Settings {
        secrets: Some(SealMode::Auto),
        oauth: rampart_control::OAuthSettings {
            secrets_audience: Some("urn:example:secrets".to_owned()),
            ..rampart_control::OAuthSettings::default()
        },
        ..Settings::default()
    })
    .await;
    admin(
        &plane,
        "PUT",
        "/v1/secret/data/app/db",
        r#"{"data":{"p":"v1"}}"#,
    )
    .await;
    let (default, default_id) = client_token_for(&plane, &format!("{}/v1/secret", plane.url)).await;
    let (custom, custom_id) = client_token_for(&plane, "urn:example:secrets").await;
    let cedar = format!(
        r#"permit(principal == Rampart::Client::"{default_id}", action == Rampart::Action::"read_secret", resource);
permit(principal == Rampart::Client::"{custom_id}", action == Rampart::Action::"read_secret", resource);"#
    );
    plane
        .client()
        .apply_policy(&rampart_control::api::ApplyPolicy {
            source: rampart_policy::PolicySource {
                files: std::collections::BTreeMap::from([("s.cedar".to_owned(), cedar)]),
                segments: rampart_policy::Segments::default(),
            },
            segments_from_current: false,
            author: "test".to_owned(),
            message: String::new(),
            dry_run: false,
        })
        .await
        .unwrap();
    let mut events = plane.bus.subscribe();

    // The default audience no longer opens the secrets API.
    let refused = vault(&plane, "GET", "/v1/secret/data/app/db", Some(&default), "").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let event = next_event(&mut events, SecurityKind::AuthFailed).await;
    assert!(
        event.detail.contains("secrets audience"),
        "{}",
        event.detail
    );
    // The configured one does.
    let read = vault(&plane, "GET", "/v1/secret/data/app/db", Some(&custom), "").await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    assert_eq!(read.json()["data"]["data"]["p"], "v1");
}
