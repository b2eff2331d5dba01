//! Loading and validation: stable ids, pointed errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rampart_policy::{Flow, Policies, PolicyEngine, PolicyError, PolicyId, Segment, Segments};

#[test]
fn ids_come_from_annotation_or_file_stem_and_index() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.cedar"),
        r#"permit(principal is Rampart::User, action == Rampart::Action::"GET", resource);
@id("named") forbid(principal, action, resource is Rampart::Secret);
permit(principal is Rampart::Client, action == Rampart::Action::"GET", resource);
"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not cedar").unwrap();
    let p = Policies::load_dir(dir.path()).unwrap();
    let ids: Vec<&str> = p.ids().map(PolicyId::as_str).collect();
    assert_eq!(ids, ["orders.0", "named", "orders.2"]);
}

#[test]
fn unknown_attribute_is_refused_with_file_line_column_and_id() {
    let err = Policies::from_sources([(
        "bad.cedar",
        "permit(principal, action, resource);\n@id(\"p-bad\")\npermit(principal is Rampart::Workload, action, resource)\n  when { principal.team == \"x\" };\n",
    )])
    .unwrap_err();
    let PolicyError::Validation(problems) = &err else {
        panic!("expected validation error, got {err}");
    };
    assert_eq!(problems.len(), 1, "{err}");
    let p = &problems[0];
    assert_eq!(p.file, "bad.cedar");
    assert_eq!(p.policy_id.as_deref(), Some("p-bad"));
    assert_eq!(p.line, Some(4), "{err}");
    assert!(p.column.is_some_and(|c| c >= 10), "{err}");
    assert!(p.message.contains("team"), "{err}");
    assert!(err.to_string().contains("bad.cedar:4:"), "{err}");
}

#[test]
fn wrong_type_is_refused() {
    let err = Policies::from_sources([(
        "types.cedar",
        "permit(principal is Rampart::Workload, action, resource)\n  when { principal.segment > 3 };\n",
    )])
    .unwrap_err();
    let PolicyError::Validation(problems) = &err else {
        panic!("expected validation error, got {err}");
    };
    assert_eq!(problems[0].policy_id.as_deref(), Some("types.0"));
    assert_eq!(problems[0].line, Some(2), "{err}");
}

#[test]
fn unknown_entity_type_and_action_are_refused() {
    for text in [
        "permit(principal is Rampart::Robot, action, resource);",
        "permit(principal, action == Rampart::Action::\"CONNECT\", resource);",
    ] {
        assert!(
            matches!(
                Policies::from_sources([("x.cedar", text)]),
                Err(PolicyError::Validation(_))
            ),
            "{text}"
        );
    }
}

#[test]
fn syntax_error_points_at_the_line() {
    let err = Policies::from_sources([(
        "syn.cedar",
        "permit(principal, action, resource);\npermit(principal action);\n",
    )])
    .unwrap_err();
    let PolicyError::Parse(problems) = &err else {
        panic!("expected parse error, got {err}");
    };
    assert_eq!(problems[0].file, "syn.cedar");
    assert_eq!(problems[0].line, Some(2), "{err}");
}

#[test]
fn duplicate_ids_are_refused() {
    let err = Policies::from_sources([
        ("a.cedar", "@id(\"p\") permit(principal, action, resource);"),
        ("b.cedar", "@id(\"p\") permit(principal, action, resource);"),
    ])
    .unwrap_err();
    assert!(
        matches!(err, PolicyError::DuplicateId { ref id, .. } if id == "p"),
        "{err}"
    );
}

#[test]
fn templates_are_refused() {
    let err = Policies::from_sources([(
        "t.cedar",
        "permit(principal == ?principal, action, resource);",
    )])
    .unwrap_err();
    assert!(matches!(err, PolicyError::Template { .. }), "{err}");
}

#[test]
fn segments_with_undeclared_names_are_refused() {
    let mut s = Segments {
        segments: vec![Segment {
            name: String::from("edge"),
            cidrs: Vec::new(),
        }],
        ..Segments::default()
    };
    s.flows.push(Flow {
        from: String::from("edge"),
        to: String::from("nowhere"),
        actions: None,
    });
    assert!(matches!(
        PolicyEngine::compile(Policies::new(), &s),
        Err(PolicyError::Segments(_))
    ));
    s.flows[0].to = String::from("edge");
    s.flows[0].actions = Some(vec![String::from("CONNECT")]);
    assert!(matches!(s.compile(), Err(PolicyError::Segments(_))));
    s.flows[0].actions = None;
    s.segments.push(Segment {
        name: String::from("Bad Name\""),
        cidrs: Vec::new(),
    });
    assert!(matches!(s.compile(), Err(PolicyError::Segments(_))));
}

#[test]
fn segments_deserialize_and_compile_to_named_policies() {
    let s: Segments = serde_json::from_str(
        r#"{"segments":[{"name":"edge"},{"name":"app"}],
            "services":{"gateway":"edge","orders":"app"},
            "flows":[{"from":"edge","to":"app","actions":["GET","POST"]}]}"#,
    )
    .unwrap();
    assert_eq!(s.segment_of("orders"), Some("app"));
    let text = s.to_cedar().unwrap();
    assert!(text.contains(r#"@id("segment-flow:edge->app")"#), "{text}");
    assert!(text.contains(r#"principal.segment == "edge" && resource.segment == "app""#));
    let p = s.compile().unwrap();
    assert_eq!(
        p.ids().map(PolicyId::as_str).collect::<Vec<_>>(),
        ["segment-flow:edge->app"]
    );
}
