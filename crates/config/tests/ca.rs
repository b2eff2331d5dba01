//! The `ca` section: trust domain, SVID lifetime and an operator-provided upstream CA.

#![allow(clippy::unwrap_used)]

use rampart_config::{from_file, from_str};
use std::time::Duration;

#[test]
fn defaults_are_rampart_local_and_one_hour() {
    let c = from_str("t", "").unwrap();
    assert_eq!(c.ca.trust_domain, "rampart.local");
    assert_eq!(c.ca.svid_ttl.0, Duration::from_secs(3_600));
    assert!(c.ca.upstream.is_none());
}

#[test]
fn upstream_paths_are_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), "x").unwrap();
    std::fs::write(dir.path().join("root-key.pem"), "x").unwrap();
    let file = dir.path().join("rampart.yaml");
    std::fs::write(
        &file,
        "ca:\n  trust_domain: example.org\n  svid_ttl: 30m\n  upstream: { cert: root.pem, key: root-key.pem }\n",
    )
    .unwrap();
    let c = from_file(&file).unwrap();
    assert_eq!(c.ca.trust_domain, "example.org");
    assert_eq!(c.ca.svid_ttl.0, Duration::from_secs(1_800));
    let upstream = c.ca.upstream.unwrap();
    assert_eq!(upstream.cert, dir.path().join("root.pem"));
    assert_eq!(upstream.key, dir.path().join("root-key.pem"));
}

#[test]
fn bad_ca_settings_are_reported_with_their_paths() {
    let yaml = "ca:\n  trust_domain: Example.ORG\n  svid_ttl: 10s\n  upstream: { cert: /nonexistent/root.pem, key: /nonexistent/key.pem }\n";
    let errors = from_str("t", yaml).unwrap_err().to_string();
    for expected in [
        "ca.trust_domain",
        "ca.svid_ttl",
        "ca.upstream.cert",
        "ca.upstream.key",
    ] {
        assert!(errors.contains(expected), "{expected} missing in: {errors}");
    }
    let unknown = from_str("t", "ca:\n  root: x\n").unwrap_err().to_string();
    assert!(unknown.contains("root"), "{unknown}");
}
