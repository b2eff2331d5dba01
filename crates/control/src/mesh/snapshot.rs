//! Building a [`MeshSnapshot`] from the store's rows.

use rampart_core::spiffe::TrustDomain;
use rampart_identity::TrustBundle;
use rampart_policy::Distribution;
use rampart_store::{RevocationRecord, WorkloadEndpointRecord};

use crate::{
    api::{MeshEndpoint, MeshService, MeshSnapshot},
    encoding::cert_pem,
};

/// A snapshot with nothing in it yet.
pub(super) fn empty(trust_domain: &TrustDomain, version: u64) -> MeshSnapshot {
    MeshSnapshot {
        version,
        trust_domain: trust_domain.to_string(),
        bundle_pem: Vec::new(),
        revoked_serials: Vec::new(),
        services: Vec::new(),
        policy: Distribution::default(),
    }
}

/// The snapshot of these rows (version 0): `endpoints` come ordered by namespace, service,
/// SPIFFE id and instance, so each service's endpoints are adjacent.
pub(super) fn build(
    trust_domain: &TrustDomain,
    bundle: &TrustBundle,
    revocations: &[RevocationRecord],
    endpoints: &[WorkloadEndpointRecord],
) -> MeshSnapshot {
    let mut services: Vec<MeshService> = Vec::new();
    for endpoint in endpoints {
        let entry = MeshEndpoint {
            instance: endpoint.instance.clone(),
            address: endpoint.address.clone(),
        };
        match services.last_mut() {
            Some(last) if last.spiffe_id == endpoint.spiffe_id => last.endpoints.push(entry),
            _ => services.push(MeshService {
                service: endpoint.service.clone(),
                namespace: endpoint.namespace.clone(),
                spiffe_id: endpoint.spiffe_id.clone(),
                endpoints: vec![entry],
            }),
        }
    }
    let mut revoked_serials: Vec<String> = revocations.iter().map(|r| r.serial.clone()).collect();
    revoked_serials.sort();
    MeshSnapshot {
        version: 0,
        trust_domain: trust_domain.to_string(),
        bundle_pem: bundle.roots().iter().map(cert_pem).collect(),
        revoked_serials,
        services,
        policy: Distribution::default(),
    }
}

/// Whether two distributions hold the same releases (by version and digest: a release never
/// changes once recorded), without comparing the sets' text.
pub(super) fn same_policy(a: &Distribution, b: &Distribution) -> bool {
    let key = |d: &Distribution| {
        let release = |r: &Option<rampart_policy::PolicyRelease>| {
            r.as_ref().map(|r| (r.version, r.digest.clone()))
        };
        (release(&d.enforced), release(&d.shadow))
    };
    key(a) == key(b)
}

/// Whether `a` and `b` say the same, whatever their versions and policy.
pub(super) fn same_content(a: &MeshSnapshot, b: &MeshSnapshot) -> bool {
    a.trust_domain == b.trust_domain
        && a.bundle_pem == b.bundle_pem
        && a.revoked_serials == b.revoked_serials
        && a.services == b.services
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn endpoint(service: &str, instance: &str) -> WorkloadEndpointRecord {
        WorkloadEndpointRecord {
            spiffe_id: format!("spiffe://rampart.local/ns/shop/sa/{service}"),
            instance: instance.to_owned(),
            service: service.to_owned(),
            namespace: "shop".to_owned(),
            address: format!("{instance}.{service}:15006"),
            registered_at: UNIX_EPOCH,
            last_seen: UNIX_EPOCH,
        }
    }

    fn revocation(serial: &str) -> RevocationRecord {
        RevocationRecord {
            serial: serial.to_owned(),
            spiffe_id: String::new(),
            revoked_at: UNIX_EPOCH,
            expires_at: UNIX_EPOCH,
            reason: String::new(),
        }
    }

    #[test]
    fn groups_endpoints_by_service_and_sorts_serials() {
        let td: TrustDomain = "rampart.local".parse().unwrap();
        let bundle = TrustBundle::new(td.clone());
        let endpoints = [
            endpoint("cart", "a"),
            endpoint("orders", "a"),
            endpoint("orders", "b"),
        ];
        let snapshot = build(
            &td,
            &bundle,
            &[revocation("0b"), revocation("0a")],
            &endpoints,
        );
        assert_eq!(snapshot.revoked_serials, ["0a", "0b"]);
        let services: Vec<_> = snapshot
            .services
            .iter()
            .map(|s| (s.service.as_str(), s.endpoints.len()))
            .collect();
        assert_eq!(services, [("cart", 1), ("orders", 2)]);
        assert_eq!(snapshot.services[1].endpoints[1].address, "b.orders:15006");

        let newer = MeshSnapshot {
            version: 9,
            ..snapshot.clone()
        };
        assert!(same_content(&snapshot, &newer));
        let fewer = build(&td, &bundle, &[], &endpoints);
        assert!(!same_content(&snapshot, &fewer));
    }
}
