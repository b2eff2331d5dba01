//! A control plane like `rampart up`'s on loopback, and sidecar options for it.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use rampart_control::{
    AdminToken, ControlClient, ControlHandle, ControlOptions, ControlPlane, server_alpn,
    workload_bundle,
};
use rampart_core::{Sensitive, spiffe::TrustDomain};
use rampart_events::EventBus;
use rampart_identity::{
    LocalCa, SniResolver, SpiffeClientVerifier, server_config_with_client_auth,
};
use rampart_mesh::SidecarOptions;
use rampart_store::Store;
use tempfile::TempDir;

pub const TRUST_DOMAIN: &str = "rampart.local";

/// A running control plane, its data under a temporary directory.
pub struct Plane {
    pub dir: TempDir,
    pub handle: ControlHandle,
    pub url: String,
    pub admin: ControlClient,
}

/// A control plane like `rampart up`'s, with SVIDs valid for `svid_ttl` and CA rollover
/// enabled (generations in `<data>/ca-generations`).
pub async fn plane(svid_ttl: Duration) -> Plane {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    rampart_identity::install_default_provider();
    let ca = Arc::new(LocalCa::load_or_create(&data).unwrap());
    // The chain includes the root: first contact pins it by fingerprint.
    let cert = ca
        .issue_server_cert_with_root(&["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap();
    let resolver = SniResolver::new(vec![(vec!["localhost".to_owned()], cert)]).unwrap();
    let trust_domain: TrustDomain = TRUST_DOMAIN.parse().unwrap();
    let bundle = workload_bundle(&ca, &trust_domain).unwrap().shared();
    let tls = server_config_with_client_auth(
        Arc::new(resolver),
        server_alpn(),
        SpiffeClientVerifier::optional(bundle.clone()),
    )
    .unwrap();
    let store = Store::open(&format!("sqlite://{}", data.join("rampart.db").display()))
        .await
        .unwrap();
    let token = AdminToken::load_or_create(&data.join("admin-token")).unwrap();
    let handle = ControlPlane::start(ControlOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Arc::new(tls),
        token: token.clone(),
        store,
        bus: EventBus::new(1024),
        proxy_ttl: Duration::from_secs(30),
        version: "test".to_owned(),
        trust_domain,
        ca: ca.clone(),
        ca_dir: Some(data.join("ca-generations")),
        bundle,
        svid_ttl,
        workload_ttl: Duration::from_secs(30),
    })
    .await
    .unwrap();
    let url = format!("https://127.0.0.1:{}", handle.local_addr().port());
    let admin = ControlClient::new(&url, token.secret().clone(), ca.cert_path()).unwrap();
    Plane {
        dir,
        handle,
        url,
        admin,
    }
}

impl Plane {
    /// A join token for `service` in `default`.
    pub async fn token(&self, service: &str) -> Sensitive<String> {
        self.handle
            .join_tokens()
            .create("default", service, Duration::from_secs(60))
            .await
            .unwrap()
            .token
    }

    /// Options for a sidecar of `service` on free loopback ports, its data under the plane's
    /// temporary directory.
    pub async fn options(&self, service: &str, app: SocketAddr) -> SidecarOptions {
        let mut options = SidecarOptions::new(service, &app.to_string(), &self.url);
        options.join_token = Some(self.token(service).await);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        (options.inbound, options.outbound, options.admin) = (any, any, any);
        options.data_dir = self.dir.path().join(format!("sidecar-{service}"));
        options
    }

    /// The root certificate file of CA generation `n` (1 is the control plane's own CA).
    pub fn root_of_generation(&self, n: u32) -> PathBuf {
        let data = self.dir.path().join("data");
        match n {
            1 => data.join("ca.pem"),
            n => data
                .join("ca-generations")
                .join(format!("gen-{n}"))
                .join("ca.pem"),
        }
    }
}
