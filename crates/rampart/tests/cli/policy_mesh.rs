//! Authorization through real proxies: `rampart up` (control plane and gateway) and three
//! `rampart sidecar` processes (orders and billing in segment `app`, db in `data`) with their
//! apps, a config with segments, flows and Cedar policies, and the `rampart policy` commands
//! against it: the decision matrix, path tricks, an update reaching every proxy within 1 s, an
//! invalid set refused with a pointed error, a dry run and the history.

use crate::support::*;
use rampart_testkit::RecordingUpstream;
use rampart_testkit::process::{RampartProcess, free_port};
use rampart_testkit::raw::{RawReply, send_raw};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// The gateway's own policies (the segment flows come from the `segments` and `flows`).
const BASE_POLICIES: &str = r#"// Every caller may use the gateway's routes.
@id("gateway-routes")
permit(principal, action, resource is Rampart::Route);

// `/admin` and below are closed to everyone, at every proxy.
@id("no-admin")
forbid(principal, action, resource)
when { resource.path == "/admin" || resource.path like "/admin/*" };
"#;

/// Added by the first `rampart policy apply`.
const FREEZE: &str = r#"@id("freeze")
forbid(principal, action, resource)
when { resource.path like "/frozen*" };
"#;

/// Tried in dry-run mode at the gateway: `/shadowed` would be closed.
const P8: &str = r#"@id("p8")
forbid(principal, action, resource is Rampart::Route)
when { resource.path like "/shadowed*" };
"#;

/// Tried in dry-run mode: orders may no longer read billing.
const P7: &str = r#"@id("p7")
forbid(principal is Rampart::Workload, action == Rampart::Action::"GET", resource is Rampart::Service)
when { principal.service == "orders" && resource.service == "billing" };
"#;

/// Does not validate: `Workload` has no attribute `team` (line 3).
const BAD: &str = "@id(\"p-bad\")\npermit(principal is Rampart::Workload, action, resource)\nwhen { principal.team == \"x\" };\n";

fn mesh_config(p: &Ports, web: &RecordingUpstream, access_log: &Path) -> String {
    let cedar: String = BASE_POLICIES
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    format!(
        r#"
admin: {{ listen: "127.0.0.1:{admin}" }}
control: {{ listen: "127.0.0.1:{control}", proxy_ttl: 10s }}
gateway:
  access_log: {log}
  listeners:
    - {{ name: http, address: "127.0.0.1:{http}" }}
  clusters:
    - {{ name: orders, mesh: {{ service: orders }} }}
    - {{ name: web, endpoints: ["{web}"] }}
  routes:
    - {{ name: orders, match: {{ path_prefix: /orders }}, cluster: orders }}
    - {{ name: web, match: {{ path_prefix: / }}, cluster: web }}
policy:
  cedar: |
{cedar}  segments:
    edge: {{ services: [gateway] }}
    app:  {{ services: [orders, billing] }}
    data: {{ services: [db] }}
  flows:
    - {{ from: edge, to: app }}
    - {{ from: app, to: app }}
    - {{ from: app, to: data, actions: [GET, POST] }}
"#,
        admin = p.admin,
        control = p.control,
        http = p.http,
        web = web.addr(),
        log = access_log.display(),
    )
}

/// One sidecar process with its app.
struct Member {
    process: RampartProcess,
    app: RecordingUpstream,
    outbound: u16,
    log: PathBuf,
}

/// The control plane, the gateway and the members.
struct Mesh {
    tmp: tempfile::TempDir,
    control: RampartProcess,
    url: String,
    ca: PathBuf,
    admin_token: String,
    http: u16,
    web: RecordingUpstream,
    gateway_log: PathBuf,
    orders: Member,
    billing: Member,
    db: Member,
}

/// Runs `rampart ARGS` against the mesh's control plane; (success, stdout, stderr).
async fn rampart(mesh: &Mesh, args: &[&str]) -> (bool, String, String) {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--control", &mesh.url, "--ca", mesh.ca.to_str().unwrap()]);
    let mut p = RampartProcess::spawn(BIN, &full, &[("RAMPART_TOKEN", &mesh.admin_token)]);
    let status = p.wait_exit(WAIT).await.expect("the command exits");
    (status.success(), p.stdout(), p.stderr())
}

async fn join_token(url: &str, ca: &Path, admin_token: &str, service: &str) -> String {
    let mut p = RampartProcess::spawn(
        BIN,
        &[
            "identity",
            "join-token",
            "--service",
            service,
            "--control",
            url,
            "--ca",
            ca.to_str().unwrap(),
            "--json",
        ],
        &[("RAMPART_TOKEN", admin_token)],
    );
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
    let v: serde_json::Value = serde_json::from_str(&p.stdout()).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

async fn member(tmp: &Path, url: &str, ca: &Path, admin_token: &str, service: &str) -> Member {
    let app = RecordingUpstream::builder()
        .name(format!("{service}-app"))
        .start();
    let token = join_token(url, ca, admin_token, service).await;
    let (inbound, outbound, admin) = (free_port(), free_port(), free_port());
    let log = tmp.join(format!("{service}.jsonl"));
    let args = [
        "sidecar".to_owned(),
        "--service".to_owned(),
        service.to_owned(),
        "--app".to_owned(),
        app.addr().to_string(),
        "--control".to_owned(),
        url.to_owned(),
        "--inbound".to_owned(),
        format!("127.0.0.1:{inbound}"),
        "--outbound".to_owned(),
        format!("127.0.0.1:{outbound}"),
        "--admin".to_owned(),
        format!("127.0.0.1:{admin}"),
        "--data-dir".to_owned(),
        tmp.join(service).to_str().unwrap().to_owned(),
        "--access-log".to_owned(),
        log.to_str().unwrap().to_owned(),
        "--drain".to_owned(),
        "1s".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut process = RampartProcess::spawn(
        BIN,
        &args,
        &[("RAMPART_JOIN_TOKEN", &token), ("RAMPART_LOG", "info")],
    );
    process.wait_for_port(Ports::addr(inbound), WAIT).await;
    process.wait_for_port(Ports::addr(outbound), WAIT).await;
    Member {
        process,
        app,
        outbound,
        log,
    }
}

impl Mesh {
    async fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let ports = Ports::new();
        let web = RecordingUpstream::builder().name("web").start();
        let gateway_log = tmp.path().join("gateway.jsonl");
        let file = write(
            tmp.path(),
            "rampart.yaml",
            &mesh_config(&ports, &web, &gateway_log),
        );
        let data = tmp.path().join("data");
        let control = up(&file, &data, &ports).await;
        let url = format!("https://127.0.0.1:{}", ports.control);
        let ca = data.join("ca.pem");
        let admin_token = std::fs::read_to_string(data.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        let orders = member(tmp.path(), &url, &ca, &admin_token, "orders").await;
        let billing = member(tmp.path(), &url, &ca, &admin_token, "billing").await;
        let db = member(tmp.path(), &url, &ca, &admin_token, "db").await;
        Self {
            tmp,
            control,
            url,
            ca,
            admin_token,
            http: ports.http,
            web,
            gateway_log,
            orders,
            billing,
            db,
        }
    }

    /// A policy directory under the test's temporary directory.
    fn policy_dir(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            write(&dir, file, text);
        }
        dir
    }
}

/// `METHOD path` to `port` with `Host: host`.
async fn send(port: u16, method: &str, host: &str, path: &str) -> RawReply {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    send_raw(Ports::addr(port), req.as_bytes(), Duration::from_secs(5)).await
}

/// Sends until the answer is `want`; the time it took. Panics with the last answer after
/// `limit`.
async fn until(
    port: u16,
    method: &str,
    host: &str,
    path: &str,
    want: u16,
    limit: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let reply = send(port, method, host, path).await;
        if reply.status() == Some(want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "no {want} for {method} {host}{path} via port {port} within {limit:?}; last: {reply:?}"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

/// The JSON lines of an access log that satisfy `pred`, now.
fn logged_now(file: &Path, pred: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v| pred(v))
        .collect()
}

/// The JSON lines of an access log that satisfy `pred`, waiting up to 5 s for one to appear.
async fn logged(file: &Path, pred: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let found: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|v| pred(v))
            .collect();
        if !found.is_empty() || start.elapsed() > Duration::from_secs(5) {
            return found;
        }
        sleep(Duration::from_millis(100)).await;
    }
}

fn authz(v: &serde_json::Value) -> &serde_json::Value {
    &v["rampart.authz"]
}

fn policies(v: &serde_json::Value) -> Vec<String> {
    authz(v)["policies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `text` holds `name:LINE:COL` with both numbers present.
fn has_location(text: &str, name: &str) -> bool {
    text.match_indices(&format!("{name}:")).any(|(i, m)| {
        let rest = &text[i + m.len()..];
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().unwrap_or("");
        let col = parts.next().unwrap_or("");
        !line.is_empty()
            && line.bytes().all(|b| b.is_ascii_digit())
            && col.bytes().take_while(u8::is_ascii_digit).count() > 0
    })
}

#[tokio::test]
async fn segments_and_policies_are_enforced_everywhere_and_follow_apply() {
    let mut mesh = Mesh::start().await;
    let long = Duration::from_secs(15);

    // --- The matrix. The gateway (edge) reaches orders (app): edge → app.
    until(mesh.http, "GET", "localhost", "/orders/1", 200, long).await;
    assert!(
        mesh.orders
            .app
            .requests()
            .iter()
            .any(|r| r.path == "/orders/1")
    );
    // orders → billing: app → app, any action.
    until(
        mesh.orders.outbound,
        "GET",
        "billing",
        "/invoices",
        200,
        long,
    )
    .await;
    let reply = send(mesh.orders.outbound, "DELETE", "billing", "/invoices/1").await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    // orders → db: app → data, GET and POST only.
    until(mesh.orders.outbound, "GET", "db", "/rows", 200, long).await;
    let reply = send(mesh.orders.outbound, "POST", "db", "/rows").await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    let before = mesh.db.app.count();
    let reply = send(mesh.orders.outbound, "DELETE", "db", "/rows/1").await;
    assert_eq!(reply.status(), Some(403), "{reply:?}");
    assert!(
        !reply.text().contains("segment-flow"),
        "no policy detail to the caller: {reply:?}"
    );
    assert_eq!(
        mesh.db.app.count(),
        before,
        "a denied call never reaches the app"
    );
    // db → orders and db → billing: no flow from data → denied.
    for target in ["orders", "billing"] {
        let reply = send(mesh.db.outbound, "GET", target, "/x").await;
        assert_eq!(reply.status(), Some(403), "db → {target}: {reply:?}");
    }
    assert!(!mesh.orders.app.requests().iter().any(|r| r.path == "/x"));
    // billing → db GET: app → data.
    until(
        mesh.billing.outbound,
        "GET",
        "db",
        "/from-billing",
        200,
        long,
    )
    .await;

    // Each decision is in the proxies' access logs.
    let denied = logged(&mesh.db.log, |v| {
        v["http.request.method"] == "DELETE" && authz(v)["decision"] == "deny"
    })
    .await;
    assert!(!denied.is_empty(), "no denied DELETE in db's access log");
    assert!(
        authz(&denied[0])["principal"]
            .as_str()
            .unwrap_or("")
            .contains("sa/orders"),
        "{}",
        denied[0]
    );
    let allowed = logged(&mesh.db.log, |v| {
        v["http.request.method"] == "GET" && authz(v)["decision"] == "allow"
    })
    .await;
    assert!(
        allowed
            .iter()
            .any(|v| policies(v).contains(&"segment-flow:app->data".to_owned())),
        "{allowed:?}"
    );
    let from_db = logged(&mesh.orders.log, |v| authz(v)["decision"] == "deny").await;
    assert!(
        from_db.iter().any(|v| authz(v)["principal"]
            .as_str()
            .unwrap_or("")
            .contains("sa/db")
            && policies(v).is_empty()),
        "db → orders is a default deny: {from_db:?}"
    );
    let edge = logged(&mesh.orders.log, |v| {
        authz(v)["decision"] == "allow"
            && authz(v)["principal"]
                .as_str()
                .unwrap_or("")
                .contains("sa/gateway")
    })
    .await;
    assert!(
        edge.iter()
            .any(|v| policies(v).contains(&"segment-flow:edge->app".to_owned())),
        "{edge:?}"
    );

    // --- Path tricks never reach `/admin` behind the gateway; `/ADMIN` is another path.
    for trick in [
        "/admin",
        "/admin/x",
        "/%61dmin",
        "//admin",
        "/public/../admin",
        "/public/%2e%2e/admin",
    ] {
        let reply = send(mesh.http, "GET", "localhost", trick).await;
        assert_ne!(reply.status(), Some(200), "{trick}: {reply:?}");
    }
    assert!(
        mesh.web.requests().iter().all(|r| !r.path.to_ascii_lowercase().contains("admin")
            || r.path.starts_with("/ADMIN")),
        "{:?}",
        mesh.web.requests().iter().map(|r| r.path.clone()).collect::<Vec<_>>()
    );
    let reply = send(mesh.http, "GET", "localhost", "/ADMIN").await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    assert_eq!(mesh.web.requests().last().unwrap().path, "/ADMIN");
    let forbidden = logged(&mesh.gateway_log, |v| {
        authz(v)["decision"] == "deny" && policies(v) == ["no-admin"]
    })
    .await;
    assert!(
        !forbidden.is_empty(),
        "no `no-admin` denial in the gateway's access log"
    );

    // --- An update reaches the gateway and every sidecar within 1 s.
    for (port, host) in [
        (mesh.http, "localhost"),
        (mesh.orders.outbound, "billing"),
        (mesh.orders.outbound, "db"),
        (mesh.billing.outbound, "orders"),
    ] {
        let reply = send(port, "GET", host, "/frozen").await;
        assert_eq!(reply.status(), Some(200), "{host}: {reply:?}");
    }
    let v2 = mesh.policy_dir(
        "v2",
        &[("base.cedar", BASE_POLICIES), ("freeze.cedar", FREEZE)],
    );
    let (ok, out, err) = rampart(
        &mesh,
        &[
            "policy",
            "apply",
            v2.to_str().unwrap(),
            "--author",
            "alice",
            "-m",
            "freeze frozen paths",
        ],
    )
    .await;
    let applied = Instant::now();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("version"), "{out}");
    assert!(
        out.contains("+forbid(principal, action, resource)"),
        "the diff: {out}"
    );
    for (port, host) in [
        (mesh.http, "localhost"),
        (mesh.orders.outbound, "billing"),
        (mesh.orders.outbound, "db"),
        (mesh.billing.outbound, "orders"),
    ] {
        until(port, "GET", host, "/frozen", 403, Duration::from_secs(5)).await;
        let elapsed = applied.elapsed();
        assert!(elapsed < Duration::from_secs(1), "{host} took {elapsed:?}");
    }
    let (ok, out, _) = rampart(&mesh, &["policy", "diff", v2.to_str().unwrap()]).await;
    assert!(ok && out.trim() == "no changes", "{out}");
    let (ok, out, _) = rampart(&mesh, &["policy", "diff", v2.to_str().unwrap(), "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(ok && v["unchanged"] == true && v["diff"] == "", "{out}");
    let (ok, out, _) = rampart(&mesh, &["policy", "apply", v2.to_str().unwrap()]).await;
    assert!(ok && out.contains("unchanged"), "{out}");

    // --- An invalid set is refused with a pointed error; the old set keeps enforcing.
    let bad = mesh.policy_dir("bad", &[("base.cedar", BASE_POLICIES), ("bad.cedar", BAD)]);
    let (ok, out, err) = rampart(&mesh, &["policy", "apply", bad.to_str().unwrap()]).await;
    assert!(!ok, "{out}\n{err}");
    assert!(
        has_location(&err, "bad.cedar"),
        "no bad.cedar:LINE:COL in: {err}"
    );
    assert!(err.contains("team"), "{err}");
    sleep(Duration::from_millis(300)).await;
    assert_eq!(
        send(mesh.http, "GET", "localhost", "/frozen")
            .await
            .status(),
        Some(403)
    );
    assert_eq!(
        send(mesh.orders.outbound, "GET", "billing", "/ok")
            .await
            .status(),
        Some(200)
    );

    // --- A dry run records disagreements without enforcing them.
    let v3 = mesh.policy_dir(
        "v3",
        &[
            ("base.cedar", BASE_POLICIES),
            ("freeze.cedar", FREEZE),
            ("p7.cedar", P7),
            ("p8.cedar", P8),
        ],
    );
    let (ok, out, err) = rampart(
        &mesh,
        &[
            "policy",
            "apply",
            v3.to_str().unwrap(),
            "--dry-run",
            "--author",
            "bob",
            "-m",
            "try p7",
        ],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    // Requests until billing's sidecar has the shadow set (its access log marks the first
    // disagreement), then three more: none is refused.
    let shadowed = |v: &serde_json::Value| !authz(v)["shadow"].is_null();
    let start = Instant::now();
    loop {
        let reply = send(mesh.orders.outbound, "GET", "billing", "/invoices/1").await;
        assert_eq!(
            reply.status(),
            Some(200),
            "the dry-run set is not enforced: {reply:?}"
        );
        if !logged_now(&mesh.billing.log, shadowed).is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "billing never evaluated the dry-run set"
        );
        sleep(Duration::from_millis(50)).await;
    }
    let first = logged_now(&mesh.billing.log, shadowed).len();
    for _ in 0..3 {
        let reply = send(mesh.orders.outbound, "GET", "billing", "/invoices/1").await;
        assert_eq!(
            reply.status(),
            Some(200),
            "the dry-run set is not enforced: {reply:?}"
        );
    }
    let start = Instant::now();
    while logged_now(&mesh.billing.log, shadowed).len() < first + 3 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "billing's access log misses disagreements"
        );
        sleep(Duration::from_millis(50)).await;
    }
    let total = logged_now(&mesh.billing.log, shadowed).len();
    let want = format!(
        "{total} requests from orders → billing (GET) would now be denied, by policy p7 (e.g. /invoices/1)"
    );
    let start = Instant::now();
    loop {
        let (ok, out, err) = rampart(&mesh, &["policy", "dry-run-report"]).await;
        assert!(ok, "{out}\n{err}");
        if out.contains(&want) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no `{want}` in: {out}"
        );
        sleep(Duration::from_millis(300)).await;
    }
    // The gateway of `rampart up` reports its disagreements too.
    let start = Instant::now();
    loop {
        let reply = send(mesh.http, "GET", "localhost", "/shadowed").await;
        assert_eq!(
            reply.status(),
            Some(200),
            "the dry-run set is not enforced: {reply:?}"
        );
        if !logged_now(&mesh.gateway_log, shadowed).is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the gateway never evaluated the dry-run set"
        );
        sleep(Duration::from_millis(50)).await;
    }
    let want = "from anonymous → web (GET) would now be denied, by policy p8 (e.g. /shadowed)";
    let start = Instant::now();
    loop {
        let (ok, out, err) = rampart(&mesh, &["policy", "dry-run-report"]).await;
        assert!(ok, "{out}\n{err}");
        if out.contains(want) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no `{want}` in: {out}"
        );
        sleep(Duration::from_millis(300)).await;
    }
    let (ok, out, _) = rampart(&mesh, &["policy", "dry-run-report", "--json"]).await;
    assert!(ok, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        report["entries"].as_array().is_some_and(|e| !e.is_empty()),
        "{report}"
    );

    // --- The history shows every version with its author and message.
    let (ok, out, err) = rampart(&mesh, &["policy", "history"]).await;
    assert!(ok, "{out}\n{err}");
    for needle in ["alice", "freeze frozen paths", "bob", "try p7", "config"] {
        assert!(out.contains(needle), "no `{needle}` in:\n{out}");
    }
    let (ok, out, _) = rampart(&mesh, &["policy", "diff", "--from", "1", "--to", "2"]).await;
    assert!(ok && out.contains("+@id(\"freeze\")"), "{out}");
    let (ok, _, err) = rampart(&mesh, &["policy", "dry-run-stop"]).await;
    assert!(ok, "{err}");

    assert!(
        mesh.control.try_exit().is_none(),
        "{}",
        mesh.control.output()
    );
    for m in [&mut mesh.orders, &mut mesh.billing, &mut mesh.db] {
        assert!(m.process.try_exit().is_none(), "{}", m.process.output());
    }
}
