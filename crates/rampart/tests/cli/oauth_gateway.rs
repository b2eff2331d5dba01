//! End to end through `rampart up`: a client registered with the CLI gets a token from the
//! control plane with a real OAuth2 library (Python's authlib, by discovery) and calls a gateway
//! route that demands it (`auth.jwt`): 200 with the token (the echo upstream sees the verified
//! claims), 401 without one, 403 without the route's scope, and 401 once the token is revoked
//! (RFC 7009) on a route that asks the issuer's introspection endpoint.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use rampart_testkit::process::RampartProcess;

use crate::support::{BIN, Ports, WAIT, config, up, write};

/// `rampart up` with the issuer set explicitly and one protected route, `/api/`, to the echo
/// upstream; with `introspection`, the route also asks the issuer whether tokens are active.
/// The issuer names no `ca`: it is this process's own control plane, so `rampart up` trusts
/// its local CA for it.
fn gateway_config(p: &Ports, introspection: Option<(&str, &Path)>) -> String {
    let issuer = format!("https://127.0.0.1:{}", p.control);
    let introspection = introspection.map_or(String::new(), |(id, secret)| {
        format!(
            "\n              introspection: {{ client_id: \"{id}\", client_secret_file: \"{}\", cache: 1s }}",
            secret.display()
        )
    });
    format!(
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
    - name: api
      match: {{ path_prefix: /api/ }}
      cluster: echo
      auth:
        jwt:
          issuers:
            - issuer: "{issuer}"{introspection}
          audiences: [orders]
          scopes: [orders.read]
          forward_claims: true
"#,
        admin = p.admin,
        control = p.control,
        http = p.http,
    )
}

async fn cli(args: &[&str], token: &str) -> serde_json::Value {
    let mut p = RampartProcess::spawn(BIN, args, &[("RAMPART_TOKEN", token)]);
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
    serde_json::from_str(&p.stdout()).unwrap()
}

/// Creates an OAuth client with the CLI; returns its id and secret.
async fn create_client(control: &str, ca: &Path, admin: &str, name: &str) -> (String, String) {
    let created = cli(
        &[
            "oauth",
            "client",
            "create",
            "--name",
            name,
            "--scopes",
            "orders.read,orders.write",
            "--audience",
            "orders",
            "--control",
            control,
            "--ca",
            ca.to_str().unwrap(),
            "--json",
        ],
        admin,
    )
    .await;
    (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// Runs the authlib script; returns what it printed.
async fn authlib(args: Vec<String>) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/oauth_gateway_client.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args(&args)
            .output()
            .expect("python3 runs (scripts/test installs authlib)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "authlib client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_common(out: &serde_json::Value, client_id: &str) {
    let ok = &out["with_token"];
    assert_eq!(ok["status"], 200, "{out}");
    let headers = &ok["body"]["headers"];
    let claims = &ok["claims"];
    assert_eq!(claims["sub"], client_id, "the principal is the client");
    assert_eq!(claims["client_id"], client_id);
    assert_eq!(claims["aud"], "orders");
    assert_eq!(headers["authorization"], "**REDACTED**");

    let none = &out["without_token"];
    assert_eq!(none["status"], 401, "{out}");
    assert_eq!(none["www_authenticate"], "Bearer realm=\"rampart\"");

    let narrow = &out["lacking_scope"];
    assert_eq!(narrow["status"], 403, "{out}");
    let challenge = narrow["www_authenticate"].as_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"orders.read\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn authlib_token_passes_the_gateway_route() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let data = tmp.path().join("data");
    let file = write(tmp.path(), "rampart.yaml", &gateway_config(&ports, None));
    // One start, on a fresh data directory: the route's issuer is trusted through the local
    // CA that this very start creates.
    let mut p = up(&file, &data, &ports).await;
    let admin = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let control = format!("https://127.0.0.1:{}", ports.control);
    let ca = data.join("ca.pem");
    let (id, secret) = create_client(&control, &ca, admin.trim(), "orders").await;

    let out = authlib(vec![
        control.clone(),
        ca.to_str().unwrap().to_owned(),
        id.clone(),
        secret,
        format!("http://127.0.0.1:{}", ports.http),
        "keep".to_owned(),
    ])
    .await;
    assert_common(&out, &id);

    p.signal("TERM");
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
}

#[tokio::test]
async fn a_token_revoked_with_rfc7009_is_refused_by_the_route() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let data = tmp.path().join("data");
    let control = format!("https://127.0.0.1:{}", ports.control);
    let ca = data.join("ca.pem");

    // First start: the CA exists and both clients are registered (the data directory keeps
    // them): the caller, and the gateway's own client for introspection.
    let bootstrap = write(tmp.path(), "bootstrap.yaml", &config(&ports, "bootstrap"));
    let mut first = up(&bootstrap, &data, &ports).await;
    let admin = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let (id, secret) = create_client(&control, &ca, admin.trim(), "orders").await;
    let (gw_id, gw_secret) = create_client(&control, &ca, admin.trim(), "gateway").await;
    first.signal("TERM");
    assert!(
        first.wait_exit(WAIT).await.unwrap().success(),
        "{}",
        first.output()
    );

    let secret_file = tmp.path().join("gateway-client-secret");
    std::fs::write(&secret_file, &gw_secret).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let yaml = gateway_config(&ports, Some((&gw_id, &secret_file)));
    let file = write(tmp.path(), "rampart.yaml", &yaml);
    let mut p = up(&file, &data, &ports).await;

    let out = authlib(vec![
        control.clone(),
        ca.to_str().unwrap().to_owned(),
        id.clone(),
        secret,
        format!("http://127.0.0.1:{}", ports.http),
        "revoke".to_owned(),
    ])
    .await;
    assert_common(&out, &id);
    let revoked = &out["after_revocation"];
    assert_eq!(revoked["status"], 401, "{out}");
    assert!(
        revoked["www_authenticate"]
            .as_str()
            .unwrap()
            .contains("error_description=\"token_inactive\""),
        "{out}"
    );
    // The gateway caches answers for 1 s: the revocation is seen within a few seconds.
    assert!(
        out["revocation_seen_after_s"].as_f64().unwrap() < 5.0,
        "{out}"
    );

    p.signal("TERM");
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
    assert!(
        !p.output().contains(&gw_secret),
        "the introspection secret never appears in the logs"
    );
}
