//! Mesh settings: mesh listeners, mesh clusters and per-listener routes.

#![allow(clippy::unwrap_used)]

use rampart_config::{MeshTarget, from_str};

#[test]
fn mesh_listener_cluster_and_route_listeners_parse() {
    let yaml = r#"
gateway:
  listeners:
    - { name: inbound, address: "0.0.0.0:15006", mesh: true }
    - { name: outbound, address: "127.0.0.1:15001" }
  clusters:
    - { name: app, endpoints: ["127.0.0.1:8080"] }
    - { name: orders, mesh: { service: orders } }
    - { name: billing, mesh: { service: billing, namespace: shop }, endpoints: ["10.0.0.7:15006"] }
  routes:
    - { name: in, listeners: [inbound], cluster: app }
    - { name: to-orders, listeners: [outbound], match: { host: orders }, cluster: orders }
    - { name: any, cluster: app }
"#;
    let c = from_str("t", yaml).unwrap();
    let g = &c.gateway;
    assert!(g.listeners[0].mesh);
    assert!(!g.listeners[1].mesh);
    assert_eq!(
        g.clusters[1].mesh,
        Some(MeshTarget {
            service: "orders".into(),
            namespace: "default".into()
        })
    );
    assert!(g.clusters[1].endpoints.is_empty());
    assert_eq!(g.clusters[2].mesh.as_ref().unwrap().namespace, "shop");
    assert_eq!(g.routes[0].listeners, ["inbound"]);
    assert!(g.routes[2].listeners.is_empty());
    assert!(g.clusters[0].mesh.is_none());
}

#[test]
fn mesh_conflicts_and_unknown_listeners_are_errors() {
    let yaml = r#"
gateway:
  listeners:
    - { name: inbound, address: "127.0.0.1:15006", mesh: true, tls: {} }
    - { name: other, address: "127.0.0.1:15007", mesh: true, h2c: true }
  clusters:
    - { name: a, mesh: { service: a }, tls: { danger_skip_verify: true } }
    - { name: b, mesh: { service: "b/c", namespace: "" } }
    - { name: c, mesh: { service: c }, protocol: http2 }
    - { name: d, mesh: { service: d }, builtin: echo }
    - { name: plain }
  routes:
    - { name: r, listeners: [inbound, nowhere], cluster: a }
"#;
    let e = from_str("t", yaml).unwrap_err();
    let paths: Vec<_> = e.errors.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "gateway.listeners[0].tls",
        "gateway.listeners[1].h2c",
        "gateway.clusters[0].tls",
        "gateway.clusters[1].mesh.service",
        "gateway.clusters[1].mesh.namespace",
        "gateway.clusters[2].protocol",
        "gateway.clusters[3].builtin",
        "gateway.clusters[4].endpoints",
        "gateway.routes[0].listeners[1]",
    ] {
        assert!(paths.contains(&want), "missing {want} in {paths:?}");
    }
    assert!(
        !paths.contains(&"gateway.routes[0].listeners[0]"),
        "{paths:?}"
    );
    assert!(
        !paths.contains(&"gateway.clusters[0].endpoints"),
        "{paths:?}"
    );
    assert!(e.to_string().contains("unknown listener `nowhere`"), "{e}");
}

#[test]
fn mesh_target_rejects_unknown_fields() {
    let yaml = r#"
gateway:
  clusters:
    - { name: a, mesh: { service: a, port: 1 } }
"#;
    let e = from_str("t", yaml).unwrap_err();
    assert!(
        e.errors
            .iter()
            .any(|e| e.path.starts_with("gateway.clusters[0].mesh")),
        "{e}"
    );
}

#[test]
fn mesh_settings_round_trip_and_stay_out_of_plain_configs() {
    let plain = from_str(
        "t",
        "gateway:\n  clusters: [{ name: a, endpoints: [\"127.0.0.1:1\"] }]\n  routes: [{ name: r, cluster: a }]\n",
    )
    .unwrap();
    let text = serde_norway::to_string(&plain).unwrap();
    assert!(!text.contains("mesh"), "{text}");
    // Only the gateway's own (empty) listener list, none per route.
    assert_eq!(text.matches("listeners:").count(), 1, "{text}");

    let yaml = r#"
gateway:
  listeners: [{ name: inbound, address: "127.0.0.1:15006", mesh: true }]
  clusters: [{ name: orders, mesh: { service: orders, namespace: shop } }]
  routes: [{ name: r, listeners: [inbound], cluster: orders }]
"#;
    let config = from_str("t", yaml).unwrap();
    let again = from_str("again", &serde_norway::to_string(&config).unwrap()).unwrap();
    assert_eq!(again, config);
}
