use super::*;
use crate::encoding::FreshKey;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn snapshot(version: u64) -> MeshSnapshot {
    serde_json::from_value(serde_json::json!({
        "version": version,
        "trust_domain": "example.org",
        "bundle_pem": [],
        "revoked_serials": ["0a"],
        "services": [{
            "service": "b",
            "namespace": "default",
            "spiffe_id": "spiffe://example.org/ns/default/sa/b",
            "endpoints": [{ "instance": "b-1", "address": "127.0.0.1:15006" }]
        }]
    }))
    .unwrap()
}

#[test]
fn an_empty_directory_holds_nothing_and_is_private() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a/b");
    let dir = DataDir::open(&path).unwrap();
    assert_eq!(mode(&path), 0o700);
    assert!(dir.load_svid().unwrap().is_none());
    assert!(dir.load_bundle().unwrap().is_none());
    assert!(dir.load_pin().unwrap().is_none());
    assert!(dir.load_snapshot().unwrap().is_none());
    // Opening again tightens a directory someone loosened.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    DataDir::open(&path).unwrap();
    assert_eq!(mode(&path), 0o700);
}

#[test]
fn the_svid_round_trips_with_a_private_key_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(tmp.path()).unwrap();
    let ca = rampart_testkit::TestCa::new();
    let leaf = ca.issue(&["localhost"]);
    let fresh = FreshKey::generate().unwrap();
    dir.save_svid(&leaf.cert_pem, &fresh.key_pem).unwrap();
    assert_eq!(mode(&tmp.path().join("svid-key.pem")), 0o600);
    let stored = dir.load_svid().unwrap().unwrap();
    assert_eq!(stored.chain.len(), 1);
    assert_eq!(stored.key.secret_der(), fresh.key_der().secret_der());
    assert!(!format!("{stored:?}").contains("BEGIN"));
    // No temporary file is left behind.
    let names: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    // A replacement is whole, and keeps the key private.
    let other = FreshKey::generate().unwrap();
    dir.save_svid(&leaf.cert_pem, &other.key_pem).unwrap();
    let stored = dir.load_svid().unwrap().unwrap();
    assert_eq!(stored.key.secret_der(), other.key_der().secret_der());
    assert_eq!(mode(&tmp.path().join("svid-key.pem")), 0o600);
}

#[test]
fn a_key_file_open_to_others_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(tmp.path()).unwrap();
    let ca = rampart_testkit::TestCa::new();
    let fresh = FreshKey::generate().unwrap();
    dir.save_svid(&ca.issue(&["x"]).cert_pem, &fresh.key_pem)
        .unwrap();
    let key = tmp.path().join("svid-key.pem");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let err = dir.load_svid().unwrap_err();
    assert!(
        matches!(err, MeshError::KeyPermissions { mode: 0o644, .. }),
        "{err}"
    );
}

#[test]
fn garbage_files_are_reported_without_their_content() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(tmp.path()).unwrap();
    let secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n";
    dir.save_svid("not a certificate", &Zeroizing::new(secret.to_owned()))
        .unwrap();
    let err = dir.load_svid().unwrap_err().to_string();
    assert!(err.contains("svid.pem"), "{err}");
    fs::write(tmp.path().join("snapshot.json"), b"{").unwrap();
    let err = dir.load_snapshot().unwrap_err().to_string();
    assert!(err.contains("snapshot.json"), "{err}");
}

#[test]
fn pin_bundle_and_snapshot_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(tmp.path()).unwrap();
    dir.save_pin(&"ab".repeat(32)).unwrap();
    assert_eq!(dir.load_pin().unwrap().unwrap(), "ab".repeat(32));
    assert!(dir.load_refused().unwrap().is_none());
    dir.save_refused("0abc").unwrap();
    assert_eq!(dir.load_refused().unwrap().unwrap(), "0abc");
    dir.save_bundle("PEM").unwrap();
    assert_eq!(dir.load_bundle().unwrap().unwrap(), "PEM");
    dir.save_snapshot(&snapshot(1)).unwrap();
    dir.save_snapshot(&snapshot(7)).unwrap();
    let back = dir.load_snapshot().unwrap().unwrap();
    assert_eq!(back.version, 7);
    assert_eq!(back.services[0].endpoints[0].address, "127.0.0.1:15006");
}

#[test]
fn the_snapshot_keeps_its_policy_and_older_ones_load_without() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(tmp.path()).unwrap();
    let older = snapshot(1);
    assert_eq!(older.policy, rampart_policy::Distribution::default());

    let mut source = rampart_policy::PolicySource::default();
    source.files.insert(
        "a.cedar".to_owned(),
        "permit(principal, action, resource);\n".to_owned(),
    );
    let mut with_policy = snapshot(2);
    with_policy.policy.enforced = Some(rampart_policy::PolicyRelease {
        version: 4,
        digest: source.digest(),
        source,
    });
    dir.save_snapshot(&with_policy).unwrap();
    assert_eq!(dir.load_snapshot().unwrap(), Some(with_policy));
}
