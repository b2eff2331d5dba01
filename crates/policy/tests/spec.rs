//! Request specs (policy test files, explain) → requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rampart_policy::{
    Action, Expect, Principal, RequestSpec, Resource, Segment, Segments, SpecError, TestFile,
};

fn segments() -> Segments {
    Segments {
        segments: vec![
            Segment {
                name: String::from("edge"),
                cidrs: Vec::new(),
            },
            Segment {
                name: String::from("app"),
                cidrs: Vec::new(),
            },
        ],
        services: [("gateway", "edge"), ("orders", "app")]
            .iter()
            .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
            .collect(),
        flows: vec![],
    }
}

fn spec(principal: &str, action: &str, resource: &str) -> RequestSpec {
    serde_json::from_value(serde_json::json!({
        "principal": principal, "action": action, "resource": resource, "path": "/orders"
    }))
    .unwrap()
}

#[test]
fn workload_and_service_take_segments_from_config() {
    let r = spec("spiffe://t/ns/default/sa/gateway", "GET", "service:orders")
        .to_request(&segments())
        .unwrap();
    assert_eq!(r.action, Action::Get);
    assert!(
        matches!(&r.principal, Principal::Workload { service, segment, namespace, .. }
        if service == "gateway" && segment == "edge" && namespace == "default")
    );
    assert!(
        matches!(&r.resource, Resource::Service { segment, path, .. }
        if segment == "app" && path == "/orders")
    );
    assert!(r.context.mtls);
}

#[test]
fn malformed_specs_are_refused() {
    let s = segments();
    assert!(matches!(
        spec("spiffe://t/orders", "GET", "service:orders").to_request(&s),
        Err(SpecError::Principal(_))
    ));
    assert!(matches!(
        spec("client:shop", "CONNECT", "service:orders").to_request(&s),
        Err(SpecError::Action(_))
    ));
    assert!(matches!(
        spec("user:alice", "GET", "orders").to_request(&s),
        Err(SpecError::Resource(_))
    ));
}

#[test]
fn test_files_deserialize() {
    let f: TestFile = serde_json::from_str(
        r#"{"tests":[{"name":"t","request":{"principal":"user:alice","action":"read_secret","resource":"secret:db"},"expect":"deny","policies":[]}]}"#,
    )
    .unwrap();
    assert_eq!(f.tests[0].expect, Expect::Deny);
    assert!(
        serde_json::from_str::<TestFile>(r#"{"tests":[{"name":"t","expect":"maybe"}]}"#).is_err()
    );
}

#[test]
fn anonymous_principal_spec() {
    let r = spec("anonymous", "GET", "route:api.example.com")
        .to_request(&segments())
        .unwrap();
    assert_eq!(r.principal, Principal::Anonymous);
    assert!(!r.context.mtls);
    assert!(matches!(
        spec("anonymous:x", "GET", "service:orders").to_request(&segments()),
        Err(SpecError::Principal(_))
    ));
}
