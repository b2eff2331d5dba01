//! The `policy` section: Cedar policies (a directory and inline text), segments and flows, and
//! the semantic errors reported with their field paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_config::{ConfigErrors, from_file, from_str};

const SECTION: &str = r#"
policy:
  dir: policies
  cedar: |
    @id("public-reads")
    permit(principal, action == Rampart::Action::"GET", resource is Rampart::Route)
    when { resource.path like "/public/*" };
  segments:
    edge: { services: [gateway] }
    app:  { services: [orders, billing], cidrs: [10.0.1.0/24] }
    data: { services: [db] }
  flows:
    - { from: edge, to: app }
    - { from: app, to: data, actions: [GET, POST] }
"#;

/// The error paths of a refused configuration.
fn paths(errors: &ConfigErrors) -> Vec<&str> {
    errors.errors.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn no_policy_section_means_authorization_off() {
    let c = from_str("t", "gateway: {}").unwrap();
    assert_eq!(c.policy, None);
    let c = from_str("quickstart", rampart_config::QUICKSTART).unwrap();
    assert!(c.policy.is_some(), "the quickstart shows policies in use");
}

#[test]
fn the_section_parses_with_dir_relative_to_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("policies")).unwrap();
    let file = tmp.path().join("rampart.yaml");
    std::fs::write(&file, SECTION).unwrap();
    let c = from_file(&file).unwrap();
    let p = c.policy.expect("a policy section");
    assert_eq!(
        p.dir.as_deref(),
        Some(tmp.path().join("policies").as_path())
    );
    assert!(
        p.cedar
            .as_deref()
            .unwrap()
            .contains("@id(\"public-reads\")")
    );
    assert_eq!(
        p.segments.keys().collect::<Vec<_>>(),
        ["app", "data", "edge"]
    );
    assert_eq!(p.segments["app"].services, ["orders", "billing"]);
    assert_eq!(p.segments["app"].cidrs[0].to_string(), "10.0.1.0/24");
    assert!(p.segments["edge"].cidrs.is_empty());
    assert_eq!(p.flows.len(), 2);
    assert_eq!(
        (p.flows[0].from.as_str(), p.flows[0].to.as_str()),
        ("edge", "app")
    );
    assert_eq!(p.flows[0].actions, None);
    assert_eq!(
        p.flows[1].actions.as_deref(),
        Some(&["GET".to_owned(), "POST".to_owned()][..])
    );
}

#[test]
fn a_missing_dir_is_reported_at_policy_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rampart.yaml");
    std::fs::write(&file, SECTION).unwrap();
    let errors = from_file(&file).unwrap_err();
    assert_eq!(paths(&errors), ["policy.dir"], "{errors}");
    assert!(errors.to_string().contains("not a directory"), "{errors}");

    // A file is not a directory either.
    std::fs::write(tmp.path().join("policies"), "x").unwrap();
    let errors = from_file(&file).unwrap_err();
    assert_eq!(paths(&errors), ["policy.dir"], "{errors}");
}

#[test]
fn semantic_errors_name_their_fields() {
    let yaml = r#"
policy:
  segments:
    Edge: { services: [gateway] }
    app:  { services: [orders, ""] }
    data: { services: [orders] }
  flows:
    - { from: app, to: nowhere }
    - { from: app, to: data, actions: [GET, FETCH] }
"#;
    let errors = from_str("t", yaml).unwrap_err();
    let got = paths(&errors);
    for (path, words) in [
        ("policy.segments.Edge", "lowercase"),
        ("policy.segments.app.services[1]", "must not be empty"),
        (
            "policy.segments.data.services[0]",
            "already in segment `app`",
        ),
        ("policy.flows[0].to", "unknown segment `nowhere`"),
        ("policy.flows[1].actions[1]", "unknown action `FETCH`"),
    ] {
        let e = errors
            .errors
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no error at {path}: {got:?}"));
        assert!(e.message.contains(words), "{path}: {}", e.message);
    }
    assert_eq!(got.len(), 5, "{errors}");
}

#[test]
fn unknown_keys_and_bad_cidrs_are_refused() {
    let errors = from_str("t", "policy: { rules: [] }").unwrap_err();
    assert!(errors.to_string().contains("rules"), "{errors}");
    let errors = from_str(
        "t",
        "policy: { segments: { app: { cidrs: [10.0.0.300/8] } } }",
    )
    .unwrap_err();
    assert!(
        errors.errors.iter().any(|e| e.path.starts_with("policy")),
        "{errors}"
    );
}

#[test]
fn lowercase_segment_names_digits_dash_and_underscore_are_fine() {
    let yaml = "policy:\n  segments: { app-1: {}, data_2: {} }\n  flows: [{ from: app-1, to: data_2, actions: [read_secret, admin] }]\n";
    let c = from_str("t", yaml).unwrap();
    assert_eq!(c.policy.unwrap().flows[0].to, "data_2");
}
