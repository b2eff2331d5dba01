//! The gateway of `rampart up` as a mesh member: a route to a mesh cluster reaches the
//! service's sidecar (a `rampart sidecar` process) over mTLS with the gateway's own SVID,
//! from the control plane's directory: `503` while no sidecar is registered, `200` once one
//! is, `503` again once it leaves.

use crate::support::*;
use rampart_testkit::RecordingUpstream;
use rampart_testkit::process::{RampartProcess, free_port};
use std::path::Path;
use std::time::Duration;
use tokio::time::{Instant, sleep};

const GATEWAY_ID: &str = "spiffe://rampart.local/ns/default/sa/gateway";

/// `rampart up` with one route, `/orders`, to the mesh cluster of service `orders`.
fn mesh_config(p: &Ports) -> String {
    format!(
        r#"
admin: {{ listen: "127.0.0.1:{admin}" }}
control: {{ listen: "127.0.0.1:{control}", proxy_ttl: 10s }}
gateway:
  listeners:
    - {{ name: http, address: "127.0.0.1:{http}" }}
  clusters:
    - {{ name: orders, mesh: {{ service: orders }} }}
  routes:
    - {{ name: orders, match: {{ path_prefix: /orders }}, cluster: orders }}
"#,
        admin = p.admin,
        control = p.control,
        http = p.http,
    )
}

/// A join token for `service`, from `rampart identity join-token`.
async fn join_token(control: &str, ca: &Path, admin_token: &str, service: &str) -> String {
    let mut p = RampartProcess::spawn(
        BIN,
        &[
            "identity",
            "join-token",
            "--service",
            service,
            "--control",
            control,
            "--ca",
            ca.to_str().unwrap(),
            "--json",
        ],
        &[("RAMPART_TOKEN", admin_token)],
    );
    let status = p.wait_exit(WAIT).await.expect("join-token exits");
    assert!(status.success(), "{}", p.output());
    let v: serde_json::Value = serde_json::from_str(&p.stdout()).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// Sends `GET path` to the gateway until it answers `want`; panics with the last answer after
/// `limit`.
async fn until_status(port: u16, path: &str, want: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let reply = get(port, path).await;
        if reply.status() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {want} for {path} within {limit:?}; last reply: {reply:?}"
        );
        sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_gateway_reaches_a_service_through_its_sidecar_as_a_mesh_member() {
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

    // No sidecar of `orders` yet: nowhere to go.
    let app = RecordingUpstream::builder().name("orders-app").start();
    let reply = get(ports.http, "/orders/1").await;
    assert_eq!(reply.status(), Some(503), "{reply:?}");
    assert_eq!(app.count(), 0);

    // A sidecar of `orders` registers in front of the app.
    let token = join_token(&url, &ca, &admin_token, "orders").await;
    let (inbound, outbound, admin) = (free_port(), free_port(), free_port());
    let args = [
        "sidecar".to_owned(),
        "--service".to_owned(),
        "orders".to_owned(),
        "--app".to_owned(),
        app.addr().to_string(),
        "--control".to_owned(),
        url.clone(),
        "--inbound".to_owned(),
        format!("127.0.0.1:{inbound}"),
        "--outbound".to_owned(),
        format!("127.0.0.1:{outbound}"),
        "--admin".to_owned(),
        format!("127.0.0.1:{admin}"),
        "--data-dir".to_owned(),
        tmp.path().join("orders").to_str().unwrap().to_owned(),
        "--drain".to_owned(),
        "1s".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut sidecar = RampartProcess::spawn(
        BIN,
        &args,
        &[("RAMPART_JOIN_TOKEN", &token), ("RAMPART_LOG", "info")],
    );
    sidecar.wait_for_port(Ports::addr(inbound), WAIT).await;

    // The gateway learns of it from the directory and reaches it over mTLS, as itself.
    until_status(ports.http, "/orders/1", 200, Duration::from_secs(15)).await;
    let seen = app.requests().last().cloned().unwrap();
    assert_eq!(seen.path, "/orders/1");
    assert_eq!(seen.header_str("x-rampart-peer-id"), Some(GATEWAY_ID));
    let reply = get(ports.http, "/orders/2?x=1").await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    assert!(reply.text().contains("x-upstream: orders-app"), "{reply:?}");

    // The sidecar leaves (it deregisters on SIGTERM): nowhere to go again.
    sidecar.signal("TERM");
    let exit = sidecar.wait_exit(WAIT).await.expect("exits after SIGTERM");
    assert!(exit.success(), "{}", sidecar.output());
    let served = app.count();
    until_status(ports.http, "/orders/3", 503, Duration::from_secs(10)).await;
    assert_eq!(app.count(), served);
    assert!(control.try_exit().is_none(), "{}", control.output());
}
