use super::*;

fn shape() -> SidecarShape {
    SidecarShape {
        namespace: "default".to_owned(),
        app: "127.0.0.1:8080".to_owned(),
        inbound: "0.0.0.0:15006".parse().unwrap(),
        outbound: "127.0.0.1:15001".parse().unwrap(),
        admin: "127.0.0.1:15000".parse().unwrap(),
        inbound_jwt: None,
    }
}

fn target(service: &str, namespace: &str) -> MeshTarget {
    MeshTarget {
        service: service.to_owned(),
        namespace: namespace.to_owned(),
    }
}

/// The generated configuration passes the same checks as a file would.
fn reparsed(config: &Config) -> Config {
    let yaml = serde_norway::to_string(config).unwrap();
    rampart_config::from_str("generated", &yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

#[test]
fn an_empty_mesh_still_serves_the_app_on_inbound() {
    let config = shape().config(&[]);
    let reparsed = reparsed(&config);
    assert_eq!(reparsed.gateway, config.gateway);
    let g = &config.gateway;
    assert_eq!(g.listeners.len(), 2);
    let inbound = &g.listeners[0];
    assert!(inbound.mesh && inbound.tls.is_none());
    assert_eq!(inbound.address, "0.0.0.0:15006".parse().unwrap());
    assert!(!g.listeners[1].mesh);
    assert_eq!(config.admin.listen, "127.0.0.1:15000".parse().unwrap());
    assert_eq!(g.routes.len(), 1);
    assert_eq!(g.routes[0].listeners, [INBOUND]);
    assert_eq!(g.routes[0].cluster, APP);
    assert_eq!(g.clusters[0].endpoints, ["127.0.0.1:8080"]);
}

#[test]
fn inbound_jwt_guards_only_the_inbound_route() {
    let mut s = shape();
    s.inbound_jwt = Some(inbound_jwt(
        "https://127.0.0.1:7400",
        None,
        vec!["orders".to_owned()],
        vec!["orders.read".to_owned()],
    ));
    let config = s.config(&[target("b", "default")]);
    let reparsed = reparsed(&config);
    assert_eq!(reparsed.gateway, config.gateway);
    let routes = &config.gateway.routes;
    let jwt = &routes[0]
        .auth
        .as_ref()
        .expect("inbound demands a token")
        .jwt;
    assert_eq!(jwt.issuers[0].issuer, "https://127.0.0.1:7400");
    assert_eq!(jwt.audiences, ["orders"]);
    assert_eq!(jwt.scopes, ["orders.read"]);
    assert!(jwt.forward_claims);
    assert!(
        routes[1..].iter().all(|r| r.auth.is_none()),
        "outbound is not guarded"
    );
    assert!(shape().config(&[]).gateway.routes[0].auth.is_none());
}

#[test]
fn every_service_gets_a_mesh_cluster_and_outbound_routes_by_host() {
    let targets = [
        target("b", "other"),
        target("b", "default"),
        target("c", "default"),
        target("c", "default"),
    ];
    let config = shape().config(&targets);
    reparsed(&config);
    let g = &config.gateway;
    let clusters: Vec<_> = g.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        clusters,
        ["app", "mesh-b.default", "mesh-c.default", "mesh-b.other"]
    );
    let mesh = g.clusters[1].mesh.as_ref().unwrap();
    assert_eq!(
        (mesh.service.as_str(), mesh.namespace.as_str()),
        ("b", "default")
    );
    assert!(g.clusters[1].endpoints.is_empty());

    let outbound: Vec<_> = g
        .routes
        .iter()
        .filter(|r| r.listeners == [OUTBOUND])
        .map(|r| (r.matcher.host.clone().unwrap(), r.cluster.as_str()))
        .collect();
    // Qualified names first, then bare names with the own namespace first.
    assert_eq!(
        outbound,
        [
            ("b.default".to_owned(), "mesh-b.default"),
            ("c.default".to_owned(), "mesh-c.default"),
            ("b.other".to_owned(), "mesh-b.other"),
            ("b".to_owned(), "mesh-b.default"),
            ("c".to_owned(), "mesh-c.default"),
            ("b".to_owned(), "mesh-b.other"),
        ]
    );
    // No outbound route can be taken on the inbound listener, or the reverse.
    assert!(g.routes.iter().all(|r| r.listeners.len() == 1));
}

#[test]
fn a_service_whose_name_is_no_host_gets_no_route() {
    let config = shape().config(&[target("under_score", "default")]);
    reparsed(&config);
    assert_eq!(config.gateway.clusters.len(), 2);
    assert_eq!(config.gateway.routes.len(), 1);
}
