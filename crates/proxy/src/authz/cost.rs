//! What the authorization stage costs per request (run in release, by hand):
//! `cargo test --release -p rampart-proxy --lib authz::cost -- --ignored --nocapture`.

use super::{AuthzRt, PolicyState, Verdict};
use crate::authz::Ask;
use crate::metrics::Metrics;
use crate::shared::ConnInfo;
use crate::snapshot::Snapshot;
use http::Method;
use rampart_policy::{Distribution, PolicyRelease, PolicySource};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const POLICIES: &str = r#"
@id("public-reads")
permit(principal, action == Rampart::Action::"GET", resource is Rampart::Route)
when { resource.path like "/public/*" };

@id("no-admin")
forbid(principal, action, resource is Rampart::Route)
when { resource.path like "/admin*" };
"#;

/// The same decisions, but a policy reads the path other than by `like` / `==`: the memo key
/// holds the whole path, so distinct paths are decided by Cedar every time.
const WHOLE_PATH: &str = r#"
@id("no-x")
forbid(principal, action, resource is Rampart::Route)
when { ["/x"].contains(resource.path) };
"#;

#[test]
#[ignore = "a measurement, not a check: run by hand in release"]
fn authorize_per_request() {
    let config = rampart_config::from_str(
        "cost",
        "admin: { listen: \"127.0.0.3:0\" }\ncontrol: { listen: \"127.0.0.5:0\" }\ngateway:\n  listeners: [{ name: http, address: \"127.0.0.1:0\" }]\n  clusters: [{ name: up, endpoints: [\"127.0.0.1:9\"] }]\n  routes: [{ name: all, cluster: up }]\n",
    )
    .unwrap();
    let metrics = Metrics::new();
    let snap = Snapshot::compile(&config, 1, None, &metrics, None).unwrap();
    let route = snap.routes[0].clone();
    let runtime = |files: &[&str]| {
        let rt = AuthzRt::new(&metrics);
        let source = PolicySource {
            files: files
                .iter()
                .enumerate()
                .map(|(i, text)| (format!("p{i}.cedar"), (*text).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            segments: Default::default(),
        };
        let release = PolicyRelease {
            version: 1,
            digest: source.digest(),
            source,
        };
        rt.install(
            PolicyState::compile(&Distribution {
                enforced: Some(release),
                shadow: None,
            })
            .unwrap(),
        );
        rt
    };
    let tested = runtime(&[POLICIES]);
    let whole = runtime(&[POLICIES, WHOLE_PATH]);
    let conn = ConnInfo {
        peer: "127.0.0.1:5000".parse().unwrap(),
        listener: Arc::from("http"),
        tls: false,
        peer_id: None,
        client_cert: None,
    };
    let paths: Vec<String> = (0..20_000).map(|i| format!("/public/{i}")).collect();
    let run = |label: &str, rt: &AuthzRt, paths: &[String]| {
        let n = 20_000;
        let start = Instant::now();
        let mut allowed = 0;
        for i in 0..n {
            let ask = Ask {
                conn: &conn,
                own_service: None,
                route: &route,
                host: "localhost",
                path: &paths[i % paths.len()],
                method: &Method::GET,
                verified: None,
                token: None,
                client: conn.peer.ip(),
                observed: false,
            };
            if let Verdict::Allowed(_) = rt.authorize(true, &ask) {
                allowed += 1;
            }
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{label}: {per:.2} µs per request ({allowed} allowed)");
        assert_eq!(allowed, n);
    };
    run(
        "same request (memo hits)",
        &tested,
        &["/public/a".to_owned()],
    );
    run(
        "distinct paths, tested by like (memo hits)",
        &tested,
        &paths,
    );
    run(
        "distinct paths, read whole (Cedar every time)",
        &whole,
        &paths,
    );
}
