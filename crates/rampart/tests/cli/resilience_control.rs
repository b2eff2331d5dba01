//! The control plane away (issue 8): `rampart up` and two `rampart sidecar` processes (orders
//! in segment `app`, db in `data`, GET allowed from app to data, DELETE not). The control
//! plane is killed (SIGKILL) under a bounded load: traffic and policy enforcement go on
//! unchanged, the identity budget keeps counting down and `control_plane_reachable` drops to 0;
//! db restarted while the control plane is down serves from its kept snapshot with the same
//! policy; `rampart status --sidecar` reports it all. A sidecar without a usable snapshot
//! refuses to start. (JWKS outages: valid tokens with cached keys pass and unknown keys are
//! refused, `crates/proxy/tests/gateway/jwt/keys.rs`, `cached_keys_survive_an_issuer_outage`.)

use crate::support::*;
use rampart_testkit::RecordingUpstream;
use rampart_testkit::process::{RampartProcess, free_port};
use rampart_testkit::raw::{RawReply, send_raw};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::{Instant, sleep};

const POLICIES: &str = r#"@id("gateway-routes")
permit(principal, action, resource is Rampart::Route);
"#;

fn mesh_config(p: &Ports) -> String {
    let cedar: String = POLICIES.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        r#"
admin: {{ listen: "127.0.0.1:{admin}" }}
control: {{ listen: "127.0.0.1:{control}", proxy_ttl: 10s }}
gateway:
  listeners:
    - {{ name: http, address: "127.0.0.1:{http}" }}
  clusters:
    - {{ name: echo, builtin: echo }}
  routes:
    - {{ name: echo, match: {{ path_prefix: / }}, cluster: echo }}
policy:
  cedar: |
{cedar}  segments:
    edge: {{ services: [gateway] }}
    app:  {{ services: [orders] }}
    data: {{ services: [db] }}
  flows:
    - {{ from: edge, to: app }}
    - {{ from: app, to: data, actions: [GET] }}
"#,
        admin = p.admin,
        control = p.control,
        http = p.http,
    )
}

/// A sidecar's fixed ports and data directory, so that it can be restarted as itself.
struct Member {
    service: &'static str,
    app: RecordingUpstream,
    inbound: u16,
    outbound: u16,
    admin: u16,
    data: PathBuf,
    process: RampartProcess,
}

impl Member {
    fn spawn(&self, url: &str, token: Option<&str>) -> RampartProcess {
        spawn_sidecar(
            self.service,
            &self.app,
            url,
            (self.inbound, self.outbound, self.admin),
            &self.data,
            token,
        )
    }
}

fn spawn_sidecar(
    service: &str,
    app: &RecordingUpstream,
    url: &str,
    (inbound, outbound, admin): (u16, u16, u16),
    data: &Path,
    token: Option<&str>,
) -> RampartProcess {
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
        data.to_str().unwrap().to_owned(),
        "--drain".to_owned(),
        "1s".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut env = vec![("RAMPART_LOG", "info")];
    if let Some(t) = token {
        env.push(("RAMPART_JOIN_TOKEN", t));
    }
    RampartProcess::spawn(BIN, &args, &env)
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

async fn member(
    tmp: &Path,
    url: &str,
    ca: &Path,
    admin_token: &str,
    service: &'static str,
) -> Member {
    let app = RecordingUpstream::builder()
        .name(format!("{service}-app"))
        .start();
    let token = join_token(url, ca, admin_token, service).await;
    let (inbound, outbound, admin) = (free_port(), free_port(), free_port());
    let data = tmp.join(service);
    let mut process = spawn_sidecar(
        service,
        &app,
        url,
        (inbound, outbound, admin),
        &data,
        Some(&token),
    );
    process.wait_for_port(Ports::addr(inbound), WAIT).await;
    process.wait_for_port(Ports::addr(outbound), WAIT).await;
    Member {
        service,
        app,
        inbound,
        outbound,
        admin,
        data,
        process,
    }
}

/// `METHOD path` to `port` with `Host: host`.
async fn send(port: u16, method: &str, host: &str, path: &str) -> RawReply {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    send_raw(Ports::addr(port), req.as_bytes(), Duration::from_secs(5)).await
}

/// Sends until the answer is `want`, for up to `limit`.
async fn until(port: u16, method: &str, host: &str, path: &str, want: u16, limit: Duration) {
    let start = Instant::now();
    loop {
        let reply = send(port, method, host, path).await;
        if reply.status() == Some(want) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "no {want} for {method} {host}{path} via port {port} within {limit:?}; last: {reply:?}"
        );
        sleep(Duration::from_millis(50)).await;
    }
}

/// The unlabelled gauge `name` on the admin listener's `/metrics`, if shown.
async fn gauge(admin: u16, name: &str) -> Option<f64> {
    let reply = get(admin, "/metrics").await;
    reply
        .text()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name).then(|| v.trim().parse().ok()).flatten()
        })
}

/// Waits up to `limit` for the gauge `name` to satisfy `pred`; its value.
async fn gauge_until(admin: u16, name: &str, limit: Duration, pred: impl Fn(f64) -> bool) -> f64 {
    let start = Instant::now();
    loop {
        let value = gauge(admin, name).await;
        if let Some(v) = value.filter(|v| pred(*v)) {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "`{name}` is {value:?} after {limit:?}"
        );
        sleep(Duration::from_millis(100)).await;
    }
}

/// `rampart status --sidecar 127.0.0.1:ADMIN`: its output.
async fn status(admin: u16) -> String {
    let addr = format!("127.0.0.1:{admin}");
    let mut p = RampartProcess::spawn(BIN, &["status", "--sidecar", &addr], &[]);
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
    p.stdout()
}

/// A paced load through orders' outbound listener: GETs to db (allowed) and DELETEs (denied),
/// until stopped or 3000 rounds; every answer that is not the expected one is kept.
struct Load {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, Vec<String>)>,
}

impl Load {
    fn start(outbound: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let (mut rounds, mut wrong) = (0, Vec::new());
            while !flag.load(Ordering::SeqCst) && rounds < 3000 {
                rounds += 1;
                for (method, want) in [("GET", 200), ("DELETE", 403)] {
                    let reply = send(outbound, method, "db", &format!("/load/{rounds}")).await;
                    if reply.status() != Some(want) {
                        wrong.push(format!("{method} #{rounds}: {reply:?}"));
                    }
                }
                sleep(Duration::from_millis(10)).await;
            }
            (rounds, wrong)
        });
        Self { stop, task }
    }

    async fn stop(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap()
    }
}

#[tokio::test]
async fn the_mesh_keeps_serving_and_enforcing_without_the_control_plane() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let file = write(tmp.path(), "rampart.yaml", &mesh_config(&ports));
    let data = tmp.path().join("data");
    let mut control = up(&file, &data, &ports).await;
    let url = format!("https://127.0.0.1:{}", ports.control);
    let ca = data.join("ca.pem");
    let admin_token = std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();
    let mut orders = member(tmp.path(), &url, &ca, &admin_token, "orders").await;
    let mut db = member(tmp.path(), &url, &ca, &admin_token, "db").await;
    let long = Duration::from_secs(20);

    // Policy in force: app → data GET only.
    until(orders.outbound, "GET", "db", "/rows", 200, long).await;
    until(orders.outbound, "DELETE", "db", "/rows/1", 403, long).await;
    let (reachable, budget) = (
        "rampart_control_plane_reachable",
        "rampart_identity_budget_seconds",
    );
    for m in [&orders, &db] {
        gauge_until(m.admin, reachable, long, |v| v == 1.0).await;
        gauge_until(m.admin, budget, long, |v| v > 60.0).await;
    }
    let version = gauge_until(db.admin, "rampart_snapshot_version", long, |v| v > 0.0).await;
    let out = status(db.admin).await;
    assert!(out.contains("identity valid for"), "{out}");
    assert!(out.contains("control plane reachable"), "{out}");

    // --- The control plane dies (SIGKILL) under load.
    let load = Load::start(orders.outbound);
    sleep(Duration::from_secs(1)).await;
    control.kill();
    for m in [&orders, &db] {
        gauge_until(m.admin, reachable, long, |v| v == 0.0).await;
    }
    // The identity budget keeps counting down, and is still far from spent.
    let first = gauge_until(db.admin, budget, long, |v| v > 60.0).await;
    sleep(Duration::from_millis(2500)).await;
    let second = gauge_until(db.admin, budget, long, |v| v > 0.0).await;
    assert!(
        second < first,
        "the budget does not decrease: {first} then {second}"
    );
    let (rounds, wrong) = load.stop().await;
    assert!(rounds >= 50, "only {rounds} rounds of load");
    assert!(
        wrong.is_empty(),
        "{} of {rounds} rounds changed: {wrong:?}",
        wrong.len()
    );
    let out = status(db.admin).await;
    assert!(out.contains("identity valid for"), "{out}");
    assert!(out.contains("control plane unreachable for"), "{out}");
    assert!(out.contains(&format!("snapshot v{version} age")), "{out}");

    // --- db restarts while the control plane is down: its kept SVID and snapshot.
    let denied_before = db.app.count();
    db.process.signal("TERM");
    assert!(
        db.process.wait_exit(WAIT).await.is_some(),
        "db did not stop"
    );
    db.process = db.spawn(&url, None);
    db.process
        .wait_for_port(Ports::addr(db.inbound), WAIT)
        .await;
    until(orders.outbound, "GET", "db", "/after-restart", 200, long).await;
    let reply = send(orders.outbound, "DELETE", "db", "/rows/2").await;
    assert_eq!(reply.status(), Some(403), "{reply:?}");
    let gets = db
        .app
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(gets, 0, "no DELETE ever reached db's app");
    assert!(db.app.count() > denied_before);
    assert_eq!(
        gauge_until(db.admin, "rampart_snapshot_version", long, |v| v > 0.0).await,
        version,
        "the same snapshot"
    );
    gauge_until(db.admin, reachable, long, |v| v == 0.0).await;
    gauge_until(db.admin, budget, long, |v| v > 60.0).await;

    // --- Without a usable snapshot (corrupt), db refuses to start: no snapshot, no traffic.
    db.process.signal("TERM");
    assert!(
        db.process.wait_exit(WAIT).await.is_some(),
        "db did not stop"
    );
    std::fs::write(db.data.join("snapshot.json"), b"{\"version\": 3, \"serv").unwrap();
    let mut refused = db.spawn(&url, None);
    let status = refused.wait_exit(WAIT).await.expect("it exits");
    assert!(!status.success(), "{}", refused.output());
    let err = refused.output();
    assert!(err.contains("no snapshot, no traffic"), "{err}");
    assert!(err.contains("corrupt"), "{err}");
    // It refused before binding anything (the port itself may be reused by now).
    assert!(!err.contains("is up"), "{err}");

    assert!(
        orders.process.try_exit().is_none(),
        "{}",
        orders.process.output()
    );
}

/// Two tokens of the control plane's issuer for `client` (`orders.read`, audience `orders`)
/// and one of the same shape signed by a key the issuer never published (kid `stranger`).
async fn tokens(issuer: &str, ca: &Path, client: &(String, String)) -> [String; 3] {
    const SCRIPT: &str = r#"
import json, sys, time, warnings
warnings.simplefilter("ignore")
import requests
from authlib.jose import JsonWebKey, jwt
issuer, ca, cid, secret = sys.argv[1:5]
meta = requests.get(issuer + "/.well-known/openid-configuration", verify=ca, timeout=10).json()
def fetch():
    r = requests.post(meta["token_endpoint"], data={"grant_type": "client_credentials", "scope": "orders.read"}, auth=(cid, secret), verify=ca, timeout=10)
    r.raise_for_status()
    return r.json()["access_token"]
first, second = fetch(), fetch()
now = int(time.time())
claims = {"iss": issuer, "sub": cid, "client_id": cid, "aud": "orders", "scope": "orders.read", "iat": now, "nbf": now, "exp": now + 300, "jti": "stranger-1"}
key = JsonWebKey.generate_key("EC", "P-256", is_private=True)
stranger = jwt.encode({"alg": "ES256", "kid": "stranger", "typ": "JWT"}, claims, key).decode()
print(json.dumps([first, second, stranger]))
"#;
    let args = [
        issuer.to_owned(),
        ca.to_str().unwrap().to_owned(),
        client.0.clone(),
        client.1.clone(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg("-c")
            .arg(SCRIPT)
            .args(&args)
            .output()
            .expect("python3 runs (scripts/test installs authlib)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `GET path` to `port` with `Host: host` and a bearer `token`.
async fn send_bearer(port: u16, host: &str, path: &str, token: &str) -> RawReply {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    send_raw(Ports::addr(port), req.as_bytes(), Duration::from_secs(5)).await
}

#[tokio::test]
async fn cached_issuer_keys_outlive_the_control_plane_and_unknown_keys_stay_out() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let issuer = format!("https://127.0.0.1:{}", ports.control);
    let text = format!(
        r#"
admin: {{ listen: "127.0.0.1:{admin}" }}
control: {{ listen: "127.0.0.1:{control}", proxy_ttl: 10s }}
oauth: {{ issuer: "{issuer}" }}
gateway:
  listeners:
    - {{ name: http, address: "127.0.0.1:{http}" }}
  clusters:
    - {{ name: echo, builtin: echo }}
  routes:
    - {{ name: echo, match: {{ path_prefix: / }}, cluster: echo }}
"#,
        admin = ports.admin,
        control = ports.control,
        http = ports.http,
    );
    let file = write(tmp.path(), "rampart.yaml", &text);
    let data = tmp.path().join("data");
    let mut control = up(&file, &data, &ports).await;
    let ca = data.join("ca.pem");
    let admin_token = std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();
    let mut p = RampartProcess::spawn(
        BIN,
        &[
            "oauth",
            "client",
            "create",
            "--name",
            "web",
            "--scopes",
            "orders.read",
            "--audience",
            "orders",
            "--control",
            &issuer,
            "--ca",
            ca.to_str().unwrap(),
            "--json",
        ],
        &[("RAMPART_TOKEN", &admin_token)],
    );
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
    let created: serde_json::Value = serde_json::from_str(&p.stdout()).unwrap();
    let client = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    let [first, second, stranger] = tokens(&issuer, &ca, &client).await;

    // orders demands tokens of the control plane's issuer; web calls it through the mesh.
    let app = RecordingUpstream::builder().name("orders-app").start();
    let token = join_token(&issuer, &ca, &admin_token, "orders").await;
    let (inbound, outbound, admin) = (free_port(), free_port(), free_port());
    let args = [
        "sidecar",
        "--service",
        "orders",
        "--app",
        &app.addr().to_string(),
        "--control",
        &issuer,
        "--inbound",
        &format!("127.0.0.1:{inbound}"),
        "--outbound",
        &format!("127.0.0.1:{outbound}"),
        "--admin",
        &format!("127.0.0.1:{admin}"),
        "--data-dir",
        tmp.path().join("orders").to_str().unwrap(),
        "--drain",
        "1s",
        "--jwt-issuer",
        &issuer,
        "--jwt-ca",
        ca.to_str().unwrap(),
        "--jwt-audience",
        "orders",
    ]
    .map(str::to_owned);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut orders = RampartProcess::spawn(
        BIN,
        &args,
        &[("RAMPART_JOIN_TOKEN", &token), ("RAMPART_LOG", "info")],
    );
    orders.wait_for_port(Ports::addr(inbound), WAIT).await;
    let mut web = member(tmp.path(), &issuer, &ca, &admin_token, "web").await;
    let long = Duration::from_secs(20);

    // Before: the first token passes (the keys are fetched and cached), none and a stranger's
    // do not.
    let start = Instant::now();
    loop {
        let reply = send_bearer(web.outbound, "orders", "/before", &first).await;
        if reply.status() == Some(200) {
            break;
        }
        assert!(
            start.elapsed() < long,
            "the valid token never passed: {reply:?}"
        );
        sleep(Duration::from_millis(100)).await;
    }
    let reply = send(web.outbound, "GET", "orders", "/none").await;
    assert_eq!(reply.status(), Some(401), "{reply:?}");

    // The issuer (the control plane) dies.
    control.kill();
    gauge_until(web.admin, "rampart_control_plane_reachable", long, |v| {
        v == 0.0
    })
    .await;
    // A token never presented before verifies with the cached key; the first still passes.
    let reply = send_bearer(web.outbound, "orders", "/after", &second).await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    let reply = send_bearer(web.outbound, "orders", "/after-again", &first).await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    // A key the sidecar never saw cannot be fetched now: refused, never let through.
    let seen = app.count();
    for _ in 0..3 {
        let reply = send_bearer(web.outbound, "orders", "/stranger", &stranger).await;
        assert_eq!(reply.status(), Some(401), "{reply:?}");
    }
    let reply = send(web.outbound, "GET", "orders", "/none-after").await;
    assert_eq!(reply.status(), Some(401), "{reply:?}");
    assert_eq!(app.count(), seen, "nothing refused reaches the app");
    assert!(
        app.requests()
            .iter()
            .all(|r| !r.path.starts_with("/stranger")),
        "a stranger's token got through"
    );
    assert!(orders.try_exit().is_none(), "{}", orders.output());
    assert!(web.process.try_exit().is_none(), "{}", web.process.output());
}
