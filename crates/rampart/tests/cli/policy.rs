use crate::support::*;
use rampart_testkit::process::RampartProcess;

const POLICY: &str = "@id(\"no-admin\")\nforbid(principal, action, resource is Rampart::Service)\n  when { resource.path like \"/admin*\" };\n";
const SEGMENTS: &str = "segments: [{ name: edge }, { name: app }, { name: data }]\nservices: { gateway: edge, orders: app, db: data }\nflows:\n  - { from: edge, to: app }\n";
const TESTS: &str = r#"tests:
  - name: gateway calls orders
    request: { principal: "spiffe://t/ns/default/sa/gateway", action: GET, resource: "service:orders", path: /orders }
    expect: allow
    policies: ["segment-flow:edge->app"]
  - name: encoded admin is still admin
    request: { principal: "spiffe://t/ns/default/sa/gateway", action: GET, resource: "service:orders", path: "/public/%2e%2e/%61dmin" }
    expect: deny
    policies: [no-admin]
"#;

#[tokio::test]
async fn policy_validate_test_and_explain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    write(&dir, "base.cedar", POLICY);
    write(&dir, "mesh.tests.yaml", TESTS);
    let seg = write(tmp.path(), "segments.yaml", SEGMENTS);
    let (dir_s, seg_s) = (dir.to_str().unwrap(), seg.to_str().unwrap());
    let junit = tmp.path().join("junit.xml");

    let mut p = RampartProcess::spawn(
        BIN,
        &["policy", "validate", "--segments", seg_s, dir_s],
        &[],
    );
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
    assert!(p.stdout().contains("2 policies"), "{}", p.output());

    let args = [
        "policy",
        "test",
        "--segments",
        seg_s,
        "--junit",
        junit.to_str().unwrap(),
        dir_s,
    ];
    let mut p = RampartProcess::spawn(BIN, &args, &[]);
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"2\" failures=\"0\""), "{xml}");

    // A failing expectation fails the run and lands in the JUnit report.
    write(
        &dir,
        "wrong.tests.yaml",
        "tests:\n  - name: orders may call db\n    request: { principal: \"spiffe://t/ns/default/sa/orders\", action: GET, resource: \"service:db\" }\n    expect: allow\n",
    );
    let mut p = RampartProcess::spawn(BIN, &args, &[]);
    assert!(
        !p.wait_exit(WAIT).await.unwrap().success(),
        "{}",
        p.output()
    );
    assert!(p.stdout().contains("FAIL"), "{}", p.output());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("failures=\"1\"") && xml.contains("<failure"),
        "{xml}"
    );

    let mut p = RampartProcess::spawn(
        BIN,
        &[
            "policy",
            "explain",
            "--segments",
            seg_s,
            "--principal",
            "spiffe://t/ns/default/sa/gateway",
            "--action",
            "GET",
            "--resource",
            "service:orders",
            "--path",
            "//admin/x",
            dir_s,
        ],
        &[],
    );
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
    let out = p.stdout();
    assert!(
        out.contains("decision: DENY") && out.contains("no-admin"),
        "{out}"
    );

    // An invalid policy is refused with file, line and column.
    write(
        &dir,
        "bad.cedar",
        "permit(principal is Rampart::Workload, action, resource)\n  when { principal.team == \"x\" };\n",
    );
    let mut p = RampartProcess::spawn(BIN, &["policy", "validate", dir_s], &[]);
    assert!(!p.wait_exit(WAIT).await.unwrap().success());
    assert!(
        p.stderr().contains("bad.cedar:2:10 [policy bad.0]"),
        "{}",
        p.output()
    );
}
