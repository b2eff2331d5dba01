use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::testing::{Ca, TRUST_DOMAIN, workload};

/// Nothing listens there: a bootstrap attempt fails as unreachable at once.
const NOWHERE: &str = "https://127.0.0.1:1";

struct Kept {
    tmp: tempfile::TempDir,
    dir: DataDir,
    serial: String,
}

/// A data directory holding an SVID for `a` valid for `ttl`, pinned to `pin`.
fn kept(ttl: Duration, pin: &str) -> Kept {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new(&tmp.path().join("ca"));
    let issued = ca.issue("a", ttl);
    let dir = DataDir::open(tmp.path().join("data")).unwrap();
    dir.save_svid(
        &encoding::certificates_pem(&issued.chain),
        &issued.fresh.key_pem,
    )
    .unwrap();
    dir.save_bundle(&ca.root_pem()).unwrap();
    dir.save_pin(pin).unwrap();
    let serial = rampart_identity::serial_hex(&issued.chain[0]).unwrap();
    Kept { tmp, dir, serial }
}

fn token(pin: &str) -> Sensitive<String> {
    Sensitive::new(format!(
        "rampart-join.{}.{}.{pin}",
        "1".repeat(32),
        "2".repeat(64)
    ))
}

async fn obtain_a(dir: &DataDir, token: Option<&Sensitive<String>>) -> Result<Start, MeshError> {
    obtain(NOWHERE, token, &workload("a"), dir, Duration::ZERO).await
}

#[tokio::test]
async fn a_valid_kept_svid_is_used_without_a_token() {
    let k = kept(Duration::from_secs(3600), &"ab".repeat(32));
    let start = obtain_a(&k.dir, None).await.unwrap();
    assert_eq!(start.origin, Origin::Persisted);
    assert_eq!(start.identity.svid.serial(), k.serial);
    assert_eq!(start.identity.pin, "ab".repeat(32));
    assert_eq!(
        start.identity.svid.spiffe_id().to_string(),
        format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/a")
    );
    // A token for the same control plane is kept for later, not spent.
    let start = obtain_a(&k.dir, Some(&token(&"ab".repeat(32))))
        .await
        .unwrap();
    assert_eq!(start.origin, Origin::Persisted);
}

#[tokio::test]
async fn nothing_usable_and_no_token_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = DataDir::open(tmp.path()).unwrap();
    let err = obtain_a(&empty, None).await.err().unwrap();
    assert!(matches!(err, MeshError::NoJoinToken { .. }), "{err}");
    assert!(err.to_string().contains("RAMPART_JOIN_TOKEN"));

    // About to expire.
    let k = kept(Duration::from_secs(10), &"ab".repeat(32));
    let err = obtain_a(&k.dir, None).await.err().unwrap();
    assert!(matches!(err, MeshError::NoJoinToken { .. }), "{err}");

    // Another workload's SVID.
    let k = kept(Duration::from_secs(3600), &"ab".repeat(32));
    let other = obtain(NOWHERE, None, &workload("b"), &k.dir, Duration::ZERO).await;
    assert!(matches!(
        other.err().unwrap(),
        MeshError::NoJoinToken { .. }
    ));
}

#[tokio::test]
async fn a_kept_svid_revoked_by_the_kept_snapshot_is_not_used() {
    let k = kept(Duration::from_secs(3600), &"ab".repeat(32));
    let snapshot = MeshSnapshot {
        version: 3,
        trust_domain: TRUST_DOMAIN.to_owned(),
        bundle_pem: Vec::new(),
        revoked_serials: vec![k.serial.clone()],
        services: Vec::new(),
        policy: Default::default(),
    };
    k.dir.save_snapshot(&snapshot).unwrap();
    let err = obtain_a(&k.dir, None).await.err().unwrap();
    assert!(matches!(err, MeshError::NoJoinToken { .. }), "{err}");
}

#[tokio::test]
async fn a_kept_svid_the_control_plane_refused_is_not_used() {
    let k = kept(Duration::from_secs(3600), &"ab".repeat(32));
    k.dir.save_refused("0123").unwrap();
    obtain_a(&k.dir, None).await.unwrap();
    k.dir.save_refused(&k.serial).unwrap();
    let err = obtain_a(&k.dir, None).await.err().unwrap();
    assert!(matches!(err, MeshError::NoJoinToken { .. }), "{err}");
}

#[tokio::test]
async fn a_key_open_to_others_stops_the_start() {
    let k = kept(Duration::from_secs(3600), &"ab".repeat(32));
    let key = k.tmp.path().join("data/svid-key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = obtain_a(&k.dir, None).await.err().unwrap();
    assert!(matches!(err, MeshError::KeyPermissions { .. }), "{err}");
}

#[tokio::test]
async fn a_token_for_another_control_plane_wins_over_the_kept_svid() {
    let k = kept(Duration::from_secs(3600), &"ab".repeat(32));
    let err = obtain_a(&k.dir, Some(&token(&"cd".repeat(32))))
        .await
        .err()
        .unwrap();
    // It tried the token's control plane (which is not there).
    assert!(
        matches!(err, MeshError::Control(ControlError::Unreachable { .. })),
        "{err}"
    );
    // A malformed token is refused before anything else, without being repeated.
    let bad = Sensitive::new("rampart-join.s3cret".to_owned());
    let err = obtain_a(&k.dir, Some(&bad)).await.err().unwrap();
    assert!(!err.to_string().contains("s3cret"), "{err}");
}
