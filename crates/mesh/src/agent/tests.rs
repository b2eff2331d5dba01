use std::time::Duration;

use rampart_control::api::{MeshEndpoint, MeshService};

use super::*;
use crate::testing::{Ca, TRUST_DOMAIN};

struct Fixture {
    _tmp: tempfile::TempDir,
    ca: Ca,
    agent: Agent,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new(&tmp.path().join("ca"));
    let issued = ca.issue("a", Duration::from_secs(3600));
    let svid = SvidSource::new(issued.chain, issued.fresh.key_der()).unwrap();
    let bundle =
        encoding::bundle(svid.spiffe_id().trust_domain().clone(), &[ca.root_pem()]).unwrap();
    let shape = SidecarShape {
        namespace: "default".to_owned(),
        app: "127.0.0.1:1".to_owned(),
        inbound: "127.0.0.1:0".parse().unwrap(),
        outbound: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
        inbound_jwt: None,
    };
    let agent = Agent::new(
        "https://127.0.0.1:1".to_owned(),
        "00".repeat(32),
        svid,
        bundle,
        DataDir::open(tmp.path().join("data")).unwrap(),
        shape,
        rampart_events::EventBus::default(),
    );
    Fixture {
        _tmp: tmp,
        ca,
        agent,
    }
}

fn service(name: &str, addresses: &[&str]) -> MeshService {
    MeshService {
        service: name.to_owned(),
        namespace: "default".to_owned(),
        spiffe_id: format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/{name}"),
        endpoints: addresses
            .iter()
            .enumerate()
            .map(|(i, a)| MeshEndpoint {
                instance: format!("{name}-{i}"),
                address: (*a).to_owned(),
            })
            .collect(),
    }
}

fn snapshot(f: &Fixture, services: Vec<MeshService>, revoked: Vec<String>) -> MeshSnapshot {
    MeshSnapshot {
        version: 1,
        trust_domain: TRUST_DOMAIN.to_owned(),
        bundle_pem: vec![f.ca.root_pem()],
        revoked_serials: revoked,
        services,
        policy: Default::default(),
    }
}

#[test]
fn the_gateway_requires_a_policy_until_the_first_one_is_installed() {
    let f = fixture();
    assert!(f.agent.policy_required(), "fail closed from the start");
    assert!(f.agent.gateway_config().policy.is_some());
    assert!(f.agent.set_policy_required(false));
    assert!(!f.agent.set_policy_required(false), "no change");
    assert_eq!(f.agent.gateway_config().policy, None);
    assert!(f.agent.set_policy_required(true));
    assert!(f.agent.gateway_config().policy.is_some());
}

#[test]
fn a_snapshot_fills_the_directory_and_reports_new_services() {
    let f = fixture();
    let s = snapshot(
        &f,
        vec![service("b", &["127.0.0.1:2", "127.0.0.1:3"])],
        vec![],
    );
    let applied = f.agent.apply(&s).unwrap();
    assert!(applied.services && !applied.own_revoked);
    assert_eq!(
        f.agent.directory.get("default", "b"),
        ["127.0.0.1:2", "127.0.0.1:3"]
    );
    assert_eq!(f.agent.targets().len(), 1);
    assert_eq!(*f.agent.applied().borrow(), 1);

    // Same services, other endpoints: no new configuration needed.
    let s = snapshot(&f, vec![service("b", &["127.0.0.1:4"])], vec![]);
    assert!(!f.agent.apply(&s).unwrap().services);
    assert_eq!(f.agent.directory.get("default", "b"), ["127.0.0.1:4"]);

    // A service leaving is a change, and leaves the directory too.
    let s = snapshot(&f, vec![service("c", &["127.0.0.1:5"])], vec![]);
    assert!(f.agent.apply(&s).unwrap().services);
    assert!(f.agent.directory.get("default", "b").is_empty());
}

#[test]
fn unchanged_parts_are_not_swapped() {
    let f = fixture();
    let s = snapshot(&f, vec![], vec!["0a".to_owned()]);
    f.agent.apply(&s).unwrap();
    let (bundle, revocations) = (f.agent.bundle.load_full(), f.agent.revocations.load());
    f.agent.apply(&s).unwrap();
    // Swapping in equal values would make the gateway rebuild its TLS (and lose sessions).
    assert!(Arc::ptr_eq(&bundle, &f.agent.bundle.load_full()));
    assert!(Arc::ptr_eq(&revocations, &f.agent.revocations.load()));
    let s = snapshot(&f, vec![], vec!["0b".to_owned()]);
    f.agent.apply(&s).unwrap();
    assert!(f.agent.revocations.load().is_revoked("0b"));
    assert!(!f.agent.revocations.load().is_revoked("0a"));
}

#[test]
fn its_own_revocation_is_noticed() {
    let f = fixture();
    let own = f.agent.svid.serial();
    let s = snapshot(&f, vec![], vec![own.to_uppercase()]);
    assert!(f.agent.apply(&s).unwrap().own_revoked);
}

#[test]
fn a_bad_bundle_is_ignored_and_another_trust_domain_refused() {
    let f = fixture();
    let before = f.agent.bundle.load_full();
    let mut s = snapshot(&f, vec![service("b", &["127.0.0.1:2"])], vec![]);
    s.bundle_pem = vec!["not pem".to_owned()];
    f.agent.apply(&s).unwrap();
    assert!(Arc::ptr_eq(&before, &f.agent.bundle.load_full()));
    s.bundle_pem.clear();
    f.agent.apply(&s).unwrap();
    assert!(Arc::ptr_eq(&before, &f.agent.bundle.load_full()));

    // A rollover: the snapshot brings a second root, and both are trusted.
    let tmp = tempfile::tempdir().unwrap();
    let next = Ca::new(tmp.path());
    s.bundle_pem = vec![f.ca.root_pem(), next.root_pem()];
    f.agent.apply(&s).unwrap();
    assert_eq!(f.agent.bundle.load().roots().len(), 2);

    let mut other = snapshot(&f, vec![], vec![]);
    other.trust_domain = "elsewhere.org".to_owned();
    let err = f.agent.apply(&other).unwrap_err();
    assert!(err.to_string().contains("elsewhere.org"), "{err}");
    // Nothing of it was applied.
    assert_eq!(f.agent.directory.get("default", "b"), ["127.0.0.1:2"]);
}
