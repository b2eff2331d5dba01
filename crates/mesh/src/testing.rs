//! Test helpers: a throwaway CA that signs SVIDs the way the control plane does.

use std::{path::Path, time::Duration};

use rampart_core::spiffe::{SpiffeId, TrustDomain};
use rampart_identity::LocalCa;
use rustls_pki_types::CertificateDer;

use crate::{bootstrap::Workload, encoding::FreshKey};

pub(crate) const TRUST_DOMAIN: &str = "example.org";

/// A CA in `dir` for [`TRUST_DOMAIN`].
pub(crate) struct Ca {
    pub ca: LocalCa,
}

/// An SVID as the control plane would answer it, with its key.
pub(crate) struct Issued {
    pub chain: Vec<CertificateDer<'static>>,
    pub fresh: FreshKey,
}

impl Ca {
    pub fn new(dir: &Path) -> Self {
        Self {
            ca: LocalCa::load_or_create(dir).unwrap(),
        }
    }

    /// An SVID for `service` in `default`, valid for `ttl`.
    pub fn issue(&self, service: &str, ttl: Duration) -> Issued {
        let td = TrustDomain::parse(TRUST_DOMAIN).unwrap();
        let id = SpiffeId::workload(&td, "default", service).unwrap();
        let fresh = FreshKey::generate().unwrap();
        let csr = rustls_pki_types::CertificateSigningRequestDer::from(
            pem::parse(&fresh.csr_pem).unwrap().contents().to_vec(),
        );
        let cert = rampart_identity::sign_svid_csr(&self.ca, csr.as_ref(), &id, ttl).unwrap();
        Issued {
            chain: vec![cert],
            fresh,
        }
    }

    pub fn root_pem(&self) -> String {
        self.ca.cert_pem().to_owned()
    }
}

pub(crate) fn workload(service: &str) -> Workload {
    Workload {
        service: service.to_owned(),
        namespace: "default".to_owned(),
    }
}
