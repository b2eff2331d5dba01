//! The `policy` section of a configuration: enforced by a standalone `rampart gateway` and
//! recompiled on reload (an invalid set refuses the reload; the old set keeps enforcing),
//! checked by `rampart config check`, and the quickstart's policies through `rampart up`.

use crate::support::*;
use rampart_testkit::process::{RampartProcess, free_port};
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// A standalone gateway config on free ports, with `policy` YAML appended.
fn gateway_config(http: u16, admin: u16, policy: &str) -> String {
    format!(
        r#"
admin: {{ listen: "127.0.0.1:{admin}" }}
gateway:
  listeners:
    - {{ name: http, address: "127.0.0.1:{http}" }}
  clusters:
    - {{ name: echo, builtin: echo }}
  routes:
    - {{ name: all, match: {{ path_prefix: / }}, cluster: echo }}
{policy}"#
    )
}

const FORBID_ADMIN: &str = r#"policy:
  cedar: |
    @id("routes")
    permit(principal, action, resource is Rampart::Route);
    @id("no-admin")
    forbid(principal, action, resource) when { resource.path like "/admin*" };
"#;

const FORBID_HELLO: &str = r#"policy:
  cedar: |
    @id("routes")
    permit(principal, action, resource is Rampart::Route);
    @id("no-hello")
    forbid(principal, action, resource) when { resource.path like "/hello*" };
"#;

/// Line 3 of the inline text refers to an attribute `Workload` does not have.
const INVALID: &str = r#"policy:
  cedar: |
    @id("routes")
    permit(principal, action, resource is Rampart::Route);
    permit(principal is Rampart::Workload, action, resource) when { principal.team == "x" };
"#;

async fn status(port: u16, path: &str) -> Option<u16> {
    get(port, path).await.status()
}

/// Polls until `path` answers `want`; false after 10 s.
async fn becomes(port: u16, path: &str, want: u16) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if status(port, path).await == Some(want) {
            return true;
        }
        sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_standalone_gateway_enforces_its_policy_section_and_reloads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (http, admin) = (free_port(), free_port());
    let file = write(
        tmp.path(),
        "rampart.yaml",
        &gateway_config(http, admin, FORBID_ADMIN),
    );
    let mut p = RampartProcess::spawn(
        BIN,
        &["gateway", "--config", file.to_str().unwrap()],
        &[("RAMPART_LOG", "info")],
    );
    p.wait_for_port(Ports::addr(http), WAIT).await;
    // The set is installed before the listeners accept: the very first request is decided by
    // it (never `policy_unavailable`).
    let reply = get(http, "/hello").await;
    assert_eq!(reply.status(), Some(200), "{reply:?}\n{}", p.output());
    let reply = get(http, "/admin/users").await;
    assert_eq!(reply.status(), Some(403), "{reply:?}");
    assert!(
        !reply.text().contains("no-admin"),
        "no policy detail: {reply:?}"
    );

    // An invalid set refuses the whole reload, with a pointed error; the old set enforces.
    write(
        tmp.path(),
        "rampart.yaml",
        &gateway_config(http, admin, INVALID),
    );
    p.wait_for_line("configuration refused", WAIT).await;
    assert!(p.stderr().contains("inline.cedar:3:"), "{}", p.stderr());
    assert_eq!(status(http, "/admin").await, Some(403));
    assert_eq!(status(http, "/hello").await, Some(200));

    // A valid change is recompiled and installed.
    write(
        tmp.path(),
        "rampart.yaml",
        &gateway_config(http, admin, FORBID_HELLO),
    );
    assert!(becomes(http, "/hello", 403).await, "{}", p.output());
    assert_eq!(status(http, "/admin").await, Some(200));

    // Without the section, authorization is off.
    write(tmp.path(), "rampart.yaml", &gateway_config(http, admin, ""));
    assert!(becomes(http, "/hello", 200).await, "{}", p.output());
    assert!(p.try_exit().is_none(), "{}", p.output());
}

#[tokio::test]
async fn config_check_compiles_the_policy_set() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = write(tmp.path(), "bad.yaml", &gateway_config(1, 2, INVALID));
    let mut p = RampartProcess::spawn(BIN, &["config", "check", bad.to_str().unwrap()], &[]);
    assert!(!p.wait_exit(WAIT).await.unwrap().success());
    assert!(p.stderr().contains("inline.cedar:3:"), "{}", p.output());
    assert!(p.stderr().contains("team"), "{}", p.output());

    let mut p = RampartProcess::spawn(
        BIN,
        &["config", "check", "--json", bad.to_str().unwrap()],
        &[],
    );
    assert!(!p.wait_exit(WAIT).await.unwrap().success());
    let v: serde_json::Value = serde_json::from_str(&p.stdout()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"][0]["path"], "policy", "{v}");

    let good = write(tmp.path(), "good.yaml", &gateway_config(1, 2, FORBID_ADMIN));
    let mut p = RampartProcess::spawn(BIN, &["config", "check", good.to_str().unwrap()], &[]);
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
    assert!(p.stdout().contains("2 policies"), "{}", p.output());
}

#[tokio::test]
async fn the_quickstart_policies_keep_the_quickstart_working() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let text = rampart_config::QUICKSTART
        .replace("127.0.0.1:9901", &format!("127.0.0.1:{}", ports.admin))
        .replace("127.0.0.1:7400", &format!("127.0.0.1:{}", ports.control))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{}", ports.http))
        .replace("127.0.0.1:8443", &format!("127.0.0.1:{}", ports.https));
    let file = write(tmp.path(), "quickstart.yaml", &text);
    let mut p = up(&file, &tmp.path().join("data"), &ports).await;
    // Anonymous callers use the echo routes as before, from the very first request.
    assert_eq!(
        status(ports.http, "/api/hello").await,
        Some(200),
        "{}",
        p.output()
    );
    assert_eq!(status(ports.http, "/hello").await, Some(200));
    // `/secure/` still wants its token first.
    assert_eq!(status(ports.http, "/secure/x").await, Some(401));
    // The example forbid closes `/admin` and below, however the path is spelled.
    for path in ["/admin", "/admin/x", "/%61dmin", "//admin", "/x/../admin"] {
        assert_eq!(status(ports.http, path).await, Some(403), "{path}");
    }
    assert_eq!(status(ports.http, "/ADMIN").await, Some(200));
    assert!(p.try_exit().is_none(), "{}", p.output());
}
