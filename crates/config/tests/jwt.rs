//! Route `auth.jwt`: parsing, defaults and the checks that keep the allow-list safe.

#![allow(clippy::unwrap_used)]

use rampart_config::from_str;

fn with_auth(auth: &str) -> String {
    format!(
        r#"
gateway:
  clusters: [{{ name: app, endpoints: ["127.0.0.1:8080"] }}]
  routes:
    - name: api
      match: {{ path_prefix: /api/ }}
      cluster: app
      auth:
{auth}
"#
    )
}

#[test]
fn jwt_route_parses_with_defaults() {
    let yaml = with_auth(
        r#"        jwt:
          issuers:
            - issuer: https://127.0.0.1:7400
          audiences: [orders]
          scopes: [orders.read]
          claims: { tenant: acme, level: 3 }
          forward_claims: true"#,
    );
    let c = from_str("t", &yaml).unwrap();
    let jwt = &c.gateway.routes[0].auth.as_ref().unwrap().jwt;
    assert_eq!(jwt.issuers[0].algorithms, ["ES256", "EdDSA"]);
    assert!(jwt.issuers[0].jwks_uri.is_none());
    assert_eq!(jwt.audiences, ["orders"]);
    assert_eq!(jwt.claims["tenant"], serde_json::json!("acme"));
    assert_eq!(jwt.claims["level"], serde_json::json!(3));
    assert!(jwt.forward_claims);
    assert!(!jwt.strip_token);
}

#[test]
fn jwt_refuses_unsafe_or_unknown_settings() {
    let yaml = with_auth(
        r#"        jwt:
          issuers:
            - issuer: http://idp.example
              algorithms: [none, HS256, ES256, XX999]
              ca: /nonexistent/ca.pem
            - issuer: https://idp.example
              jwks_uri: ftp://idp.example/keys"#,
    );
    let e = from_str("t", &yaml).unwrap_err().to_string();
    for want in [
        "gateway.routes[0].auth.jwt.issuers[0].issuer",
        "issuers[0].algorithms[0]",
        "issuers[0].algorithms[1]",
        "unknown algorithm `XX999`",
        "issuers[0].ca",
        "issuers[1].jwks_uri",
    ] {
        assert!(e.contains(want), "missing `{want}` in: {e}");
    }
    assert!(!e.contains("algorithms[2]"), "ES256 is fine: {e}");
}

#[test]
fn jwt_needs_an_issuer() {
    let yaml = with_auth("        jwt: { issuers: [] }");
    let e = from_str("t", &yaml).unwrap_err().to_string();
    assert!(e.contains("at least one issuer"), "{e}");
}

#[test]
fn the_quickstart_secure_route_trusts_its_own_control_plane() {
    let c = rampart_config::from_str("quickstart", rampart_config::QUICKSTART).unwrap();
    let route = c
        .gateway
        .routes
        .iter()
        .find(|r| r.name == "secure-api")
        .expect("the quickstart shows a route that needs a token");
    let jwt = &route.auth.as_ref().unwrap().jwt;
    // The issuer is the quickstart's own control plane (its default issuer), so `rampart up`
    // trusts it through the local CA: no `ca` file is named.
    assert_eq!(
        jwt.issuers[0].issuer,
        format!("https://{}", c.control.listen)
    );
    assert!(jwt.issuers[0].ca.is_none());
    assert_eq!(jwt.scopes, ["api.read"]);
}
