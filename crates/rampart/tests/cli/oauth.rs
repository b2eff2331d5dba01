//! `rampart oauth …` against `rampart up`: a client registered with the CLI gets tokens from a
//! real OAuth2 client library (Python's authlib) using discovery; keys rotate from the CLI.

use std::path::Path;
use std::process::Command;

use rampart_testkit::process::RampartProcess;

use crate::support::{BIN, Ports, WAIT, config, up, write};

async fn cli(args: &[&str], token: &str) -> serde_json::Value {
    let mut p = RampartProcess::spawn(BIN, args, &[("RAMPART_TOKEN", token)]);
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
    serde_json::from_str(&p.stdout()).unwrap()
}

#[tokio::test]
async fn oauth_clients_from_the_cli_get_tokens_with_authlib() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let yaml = format!(
        "{}oauth: {{ access_token_ttl: 2m }}\n",
        config(&ports, "one")
    );
    let file = write(tmp.path(), "rampart.yaml", &yaml);
    let data = tmp.path().join("data");
    let mut p = up(&file, &data, &ports).await;
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let token = token.trim();
    let control = format!("https://127.0.0.1:{}", ports.control);
    let ca = data.join("ca.pem");
    let common = [
        "--control",
        &control,
        "--ca",
        ca.to_str().unwrap(),
        "--json",
    ];

    let mut create = vec![
        "oauth",
        "client",
        "create",
        "--name",
        "orders",
        "--scopes",
        "orders.read,orders.write",
        "--audience",
        "orders",
    ];
    create.extend(common);
    let created = cli(&create, token).await;
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();

    let mut list = vec!["oauth", "client", "list"];
    list.extend(common);
    let listed = cli(&list, token).await;
    assert_eq!(listed["clients"][0]["client_id"], id.as_str());
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once"
    );

    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../control/tests/control/oauth/authlib_client.py");
    let run = |url: String, ca: std::path::PathBuf, id: String, secret: String| {
        tokio::task::spawn_blocking(move || {
            Command::new("python3")
                .arg(script)
                .args([url.as_str(), ca.to_str().unwrap(), &id, &secret])
                .output()
                .unwrap()
        })
    };
    let out = run(control.clone(), ca.clone(), id.clone(), secret.clone())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        out["client_secret_basic"]["expires_in"], 120,
        "oauth.access_token_ttl applies"
    );
    assert_eq!(out["client_secret_post"]["scope"], "orders.read");

    let mut rotate = vec!["oauth", "rotate-keys"];
    rotate.extend(common);
    let rotated = cli(&rotate, token).await;
    let published: Vec<String> = serde_json::from_value(out["jwks_kids"].clone()).unwrap();
    assert!(published.contains(&rotated["active_kid"].as_str().unwrap().to_owned()));
    assert_eq!(rotated["retired_kids"].as_array().unwrap().len(), 1);

    p.signal("TERM");
    assert!(p.wait_exit(WAIT).await.unwrap().success(), "{}", p.output());
}
