//! Reloading the configuration: bad configurations are refused and the old one keeps serving;
//! good ones serve at once.

use crate::support::{Gw, config, get};
use rampart_events::SecurityKind;
use rampart_testkit::{RecordingUpstream, free_port};

fn routes(up: &RecordingUpstream, extra: &str) -> String {
    format!(
        "clusters: [{{ name: up, endpoints: [\"{}\"] }}]\nroutes:\n  - {{ name: old, match: {{ path_prefix: /old }}, cluster: up }}\n{extra}",
        up.addr()
    )
}

#[tokio::test]
async fn bad_configurations_are_refused_and_the_old_one_keeps_serving() {
    let up = RecordingUpstream::start();
    let mut gw = Gw::start(&routes(&up, "")).await;
    assert_eq!(get(gw.http(), "/old").await.status, 200);

    // Listener addresses cannot change without a restart.
    let moved = config(&format!(
        "listeners: [{{ name: http, address: \"127.0.0.1:{}\" }}]\n{}",
        free_port(),
        routes(
            &up,
            "  - { name: new, match: { path_prefix: /new }, cluster: up }\n"
        )
    ));
    assert!(gw.handle.reload(&moved).is_err());
    gw.security(SecurityKind::ConfigRejected).await;

    // Passes the config checks but cannot be compiled: an endpoint that is no authority.
    let bad_endpoint = config(
        "clusters: [{ name: bad, endpoints: [\"[::1:80\"] }]\nroutes: [{ name: new, match: { path_prefix: /new }, cluster: bad }]\n",
    );
    assert!(gw.handle.reload(&bad_endpoint).is_err());
    gw.security(SecurityKind::ConfigRejected).await;
    let start = rampart_proxy::Gateway::start(
        &bad_endpoint,
        rampart_proxy::GatewayOptions {
            name: "t".into(),
            bus: rampart_events::EventBus::new(16),
            local_ca: None,
            mesh: None,
        },
    )
    .await;
    assert!(
        start.is_err(),
        "a gateway started with an uncompilable config"
    );

    assert_eq!(gw.handle.config_version(), 1);
    assert_eq!(get(gw.http(), "/old").await.status, 200);
    assert_eq!(get(gw.http(), "/new").await.status, 404);
    let text = gw.metrics().await;
    assert_eq!(
        crate::support::metric(
            &text,
            "rampart_config_reloads_total",
            &[("result", "refused")]
        ),
        Some(2.0),
        "{text}"
    );
}

#[tokio::test]
async fn a_good_configuration_serves_at_once() {
    let up = RecordingUpstream::start();
    let mut gw = Gw::start(&routes(&up, "")).await;
    assert_eq!(get(gw.http(), "/new").await.status, 404);

    let mut next = config(&routes(
        &up,
        "  - { name: new, match: { path_prefix: /new }, cluster: up }\n",
    ));
    // Same addresses as the running gateway (port 0 in both).
    next.gateway.listeners = gw.config.gateway.listeners.clone();
    assert_eq!(gw.handle.reload(&next).unwrap(), 2);
    assert_eq!(gw.handle.config_version(), 2);
    gw.security(SecurityKind::ConfigApplied).await;
    assert_eq!(get(gw.http(), "/new").await.status, 200);
    assert_eq!(get(gw.http(), "/old").await.status, 200);
    let readyz = get(gw.admin(), "/readyz").await;
    assert!(readyz.text().contains("version 2"), "{}", readyz.text());

    // Removing a route takes effect too.
    let fewer = config(&format!(
        "clusters: [{{ name: up, endpoints: [\"{}\"] }}]\nroutes: [{{ name: new, match: {{ path_prefix: /new }}, cluster: up }}]\n",
        up.addr()
    ));
    assert_eq!(gw.handle.reload(&fewer).unwrap(), 3);
    assert_eq!(get(gw.http(), "/old").await.status, 404);
    assert_eq!(get(gw.http(), "/new").await.status, 200);
}

#[tokio::test]
async fn rate_limit_state_survives_a_reload_that_keeps_the_limit() {
    let up = RecordingUpstream::start();
    let yaml = format!(
        "clusters: [{{ name: up, endpoints: [\"{}\"] }}]\nroutes: [{{ name: rl, cluster: up, rate_limit: {{ requests_per_second: 1, burst: 2 }} }}]\n",
        up.addr()
    );
    let gw = Gw::start(&yaml).await;
    for _ in 0..2 {
        assert_eq!(get(gw.http(), "/").await.status, 200);
    }
    assert_eq!(get(gw.http(), "/").await.status, 429);
    assert_eq!(gw.handle.reload(&config(&yaml)).unwrap(), 2);
    // The same limit after a reload: the bucket is not refilled by reloading.
    assert_eq!(get(gw.http(), "/").await.status, 429);
}
