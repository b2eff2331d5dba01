//! Sidecars in process against a real control plane on loopback: bootstrap, renewal, the
//! watch driving routes, and revocation reaching the data plane.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use rampart_control::{
    AdminToken, ControlClient, ControlHandle, ControlOptions, ControlPlane, api::RevokeRequest,
    server_alpn, workload_bundle,
};
use rampart_core::{Sensitive, spiffe::TrustDomain};
use rampart_events::EventBus;
use rampart_identity::{
    LocalCa, SniResolver, SpiffeClientVerifier, server_config_with_client_auth,
};
use rampart_mesh::{Origin, Sidecar, SidecarHandle, SidecarOptions, Workload};
use rampart_store::Store;
use rampart_testkit::{RawReply, RecordingUpstream, send_raw};
use rustls_pki_types::{CertificateDer, pem::PemObject};
use tempfile::TempDir;
use tokio::time::{Instant, sleep};

const TRUST_DOMAIN: &str = "rampart.local";

/// A control plane like `rampart up`'s, with SVIDs valid for `svid_ttl`.
struct Plane {
    dir: TempDir,
    handle: ControlHandle,
    url: String,
    admin: ControlClient,
}

async fn plane(svid_ttl: Duration) -> Plane {
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
        ca_dir: None,
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
    async fn token(&self, service: &str) -> Sensitive<String> {
        self.handle
            .join_tokens()
            .create("default", service, Duration::from_secs(60))
            .await
            .unwrap()
            .token
    }

    /// Options for a sidecar of `service` on free loopback ports, its data under the plane's
    /// temporary directory.
    async fn options(&self, service: &str, app: SocketAddr) -> SidecarOptions {
        let mut options = SidecarOptions::new(service, &app.to_string(), &self.url);
        options.join_token = Some(self.token(service).await);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        (options.inbound, options.outbound, options.admin) = (any, any, any);
        options.data_dir = self.dir.path().join(format!("sidecar-{service}"));
        options
    }
}

async fn call(sidecar: &SidecarHandle, host: &str, path: &str) -> RawReply {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let addr = sidecar.outbound_addr().unwrap();
    send_raw(addr, req.as_bytes(), Duration::from_secs(5)).await
}

/// Polls `check` every 100 ms until it holds; panics after `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        sleep(Duration::from_millis(100)).await;
    }
}

fn kept_serial(dir: &Path) -> String {
    let pem = std::fs::read(dir.join("svid.pem")).unwrap();
    let leaf = CertificateDer::pem_slice_iter(&pem)
        .next()
        .unwrap()
        .unwrap();
    rampart_identity::serial_hex(&leaf).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_svid_is_renewed_at_half_life_and_kept() {
    // Issued a minute in the past and valid 70 s from now: half-life is 5 s away.
    let plane = plane(Duration::from_secs(70)).await;
    let app = RecordingUpstream::start();
    let sidecar = Sidecar::start(plane.options("a", app.addr()).await)
        .await
        .unwrap();
    assert_eq!(sidecar.origin(), Origin::JoinToken);
    assert_eq!(
        sidecar.spiffe_id().to_string(),
        format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/a")
    );
    let first = sidecar.serial();
    assert_eq!(kept_serial(sidecar.data_dir()), first);

    eventually(Duration::from_secs(20), "a renewal", || async {
        sidecar.serial() != first
    })
    .await;
    let second = sidecar.serial();
    eventually(Duration::from_secs(5), "the renewed SVID kept", || async {
        kept_serial(sidecar.data_dir()) == second
    })
    .await;

    // Renewing on demand works too, with a fresh serial each time.
    sidecar.renew_now().await.unwrap();
    assert_ne!(sidecar.serial(), second);
    sidecar.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_routes_to_new_services_and_revocation_cuts_them_off() {
    let plane = plane(Duration::from_secs(3600)).await;
    let app_a = RecordingUpstream::builder().name("app-a").start();
    let app_b = RecordingUpstream::builder().name("app-b").start();
    let a = Sidecar::start(plane.options("a", app_a.addr()).await)
        .await
        .unwrap();
    // B joins after A: A learns of it from the watch and gets a route.
    let b = Sidecar::start(plane.options("b", app_b.addr()).await)
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "a route from A to B", || async {
        call(&a, "b", "/hello").await.status() == Some(200)
    })
    .await;
    let seen = app_b.requests().last().cloned().unwrap();
    assert_eq!(
        seen.header_str("x-rampart-peer-id"),
        Some(format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/a").as_str())
    );
    // B calls A back by its qualified name.
    assert_eq!(call(&b, "a.default", "/back").await.status(), Some(200));
    assert_eq!(app_a.count(), 1);

    // A is revoked: B refuses it at once, and A knows it is revoked.
    let revoked = plane
        .admin
        .revoke(&RevokeRequest::service("a", "default"))
        .await
        .unwrap();
    assert_eq!(revoked.revoked, [a.serial()]);
    let before = app_b.count();
    eventually(Duration::from_secs(3), "A refused by B", || async {
        call(&a, "b", "/after").await.status() != Some(200)
    })
    .await;
    assert_eq!(app_b.count(), before);

    // A cannot renew, and notes the refusal so that a restart does not resume with it.
    let revoked_serial = a.serial();
    assert!(a.renew_now().await.is_err());
    let refused = a.data_dir().join("refused");
    eventually(Duration::from_secs(5), "the refusal noted", || async {
        std::fs::read_to_string(&refused).is_ok_and(|s| s.trim() == revoked_serial)
    })
    .await;
    let mut options = plane.options("a", app_a.addr()).await;
    options.data_dir = a.data_dir().to_owned();
    a.shutdown(Duration::from_secs(1)).await;

    // A new join token admits A again, with a fresh SVID that B accepts.
    let a = Sidecar::start(options).await.unwrap();
    assert_eq!(a.origin(), Origin::JoinToken);
    assert_ne!(a.serial(), revoked_serial);
    eventually(Duration::from_secs(10), "A admitted again", || async {
        call(&a, "b", "/again").await.status() == Some(200)
    })
    .await;
    b.shutdown(Duration::from_secs(1)).await;
    a.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_data_directory_without_the_control_plane() {
    let plane = plane(Duration::from_secs(3600)).await;
    let app = RecordingUpstream::start();
    let mut options = plane.options("a", app.addr()).await;
    // The kept snapshot names this inbound address: the restart must bind it again.
    options.inbound = SocketAddr::from(([127, 0, 0, 1], rampart_testkit::free_port()));
    let sidecar = Sidecar::start(options.clone()).await.unwrap();
    let serial = sidecar.serial();
    // It knows itself from the snapshot (it registered), as a mesh peer of itself.
    eventually(Duration::from_secs(10), "a route to itself", || async {
        call(&sidecar, "a", "/self").await.status() == Some(200)
    })
    .await;
    sidecar.shutdown(Duration::from_secs(1)).await;
    let Plane { dir, handle, .. } = plane;
    handle.shutdown().await;

    // The token is spent and the control plane gone: the kept SVID is what remains.
    let mut again = options;
    again.join_token = None;
    again.first_snapshot_wait = Duration::from_millis(100);
    let resumed = Sidecar::start(again).await.unwrap();
    assert_eq!(resumed.origin(), Origin::Persisted);
    assert_eq!(resumed.serial(), serial);
    // It serves from the kept snapshot: through its outbound listener to its own inbound one.
    let reply = call(&resumed, "a", "/self").await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    resumed.shutdown(Duration::from_secs(1)).await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_workload_or_a_spent_token_is_refused() {
    let plane = plane(Duration::from_secs(3600)).await;
    let app = RecordingUpstream::start();
    let token = plane.token("b").await;
    let mut options = plane.options("a", app.addr()).await;
    options.join_token = Some(token.clone());
    let err = Sidecar::start(options.clone()).await.unwrap_err();
    assert!(err.to_string().contains("/sa/b"), "{err}");
    assert!(!err.to_string().contains(token.expose()));

    // The token was spent on that attempt.
    options.workload = Workload {
        service: "b".to_owned(),
        namespace: "default".to_owned(),
    };
    options.data_dir = plane.dir.path().join("other");
    let err = Sidecar::start(options).await.unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
}
