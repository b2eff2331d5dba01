use rampart_config::{Balance, QUICKSTART, RateKey, from_file, from_str};

#[test]
fn quickstart_is_valid() {
    let c = from_str("quickstart", QUICKSTART).unwrap();
    assert_eq!(c.gateway.listeners.len(), 2);
    assert_eq!(c.admin.listen.port(), 9901);
    assert_eq!(c.control.listen.port(), 7400);
    assert!(c.gateway.listeners[1].tls.is_some());
    assert_eq!(
        c.gateway.routes[0].rate_limit.as_ref().unwrap().key,
        RateKey::ClientIp
    );
}

#[test]
fn reports_every_error_with_its_path() {
    let yaml = r#"
admin: { listen: "not an address" }
bogus: 1
gateway:
  timeouts: { header_read: soon }
  clusters:
    - name: a
      endpoints: ["127.0.0.1:80"]
      balance: random
    - name: b
      endpoints: ["nohost"]
  routes:
    - name: r1
      cluster: missing
      match: { path_prefix: "api", methods: [get] }
    - name: r2
      cluster: b
      extra: true
    - name: r3
      cluster: b
      match: { path_regex: "(" }
      rate_limit: { requests_per_second: 0, key: "cookie" }
"#;
    let e = from_str("test.yaml", yaml).unwrap_err();
    let paths: Vec<_> = e.errors.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "admin.listen",
        "bogus",
        "gateway.timeouts.header_read",
        "gateway.clusters[0].balance",
        "gateway.routes[1].extra",
        "gateway.routes[2].rate_limit.key",
    ] {
        assert!(paths.contains(&want), "missing {want} in {paths:?}");
    }
    let text = e.to_string();
    assert!(text.starts_with("`test.yaml` has"), "{text}");
}

#[test]
fn semantic_errors_are_all_reported() {
    let yaml = r#"
gateway:
  listeners:
    - { name: a, address: "127.0.0.1:8080" }
    - { name: a, address: "127.0.0.1:8080", tls: { certificates: [{ cert: /nope.pem, key: /nope.key }] } }
  clusters:
    - { name: b, endpoints: ["nohost", "h:0"] }
    - { name: e, builtin: echo, endpoints: ["x:1"] }
  routes:
    - name: r1
      cluster: missing
      match: { path_prefix: "api", path_exact: "/x", methods: [get] }
      headers: { request_add: { "bad name": v } }
    - name: r1
      cluster: b
      match: { path_regex: "(" }
      rate_limit: { requests_per_second: 0 }
"#;
    let e = from_str("t", yaml).unwrap_err();
    let paths: Vec<_> = e.errors.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "gateway.listeners[1].name",
        "gateway.listeners[1].address",
        "gateway.listeners[1].tls.certificates[0].cert",
        "gateway.listeners[1].tls.certificates[0].key",
        "gateway.clusters[0].endpoints[0]",
        "gateway.clusters[0].endpoints[1]",
        "gateway.clusters[1].endpoints",
        "gateway.routes[0].cluster",
        "gateway.routes[0].match",
        "gateway.routes[0].match.path_prefix",
        "gateway.routes[0].match.methods[0]",
        "gateway.routes[0].headers.request_add",
        "gateway.routes[1].name",
        "gateway.routes[1].match.path_regex",
        "gateway.routes[1].rate_limit.requests_per_second",
    ] {
        assert!(paths.contains(&want), "missing {want} in {paths:?}");
    }
}

#[test]
fn relative_paths_resolve_against_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.pem"), "x").unwrap();
    std::fs::write(dir.path().join("k.pem"), "x").unwrap();
    let file = dir.path().join("rampart.yaml");
    std::fs::write(
        &file,
        "gateway:\n  listeners:\n    - name: s\n      address: 127.0.0.1:1\n      tls:\n        certificates: [{cert: c.pem, key: k.pem}]\n  clusters: [{name: c, endpoints: ['127.0.0.1:2'], balance: least_request}]\n",
    )
    .unwrap();
    let c = from_file(&file).unwrap();
    let cert = &c.gateway.listeners[0].tls.as_ref().unwrap().certificates[0].cert;
    assert_eq!(cert, &dir.path().join("c.pem"));
    assert_eq!(c.gateway.clusters[0].balance, Balance::LeastRequest);
}

#[test]
fn unreadable_and_malformed_files() {
    let e = from_file(std::path::Path::new("/definitely/not/here.yaml")).unwrap_err();
    assert!(e.to_string().contains("/definitely/not/here.yaml"));
    let e = from_str("t", "gateway: [1, 2").unwrap_err();
    assert!(e.errors[0].message.contains("invalid YAML"));
    let e = from_str("t", "- 1\n- 2").unwrap_err();
    assert!(e.errors[0].message.contains("mapping"));
}
