//! `secrets.seal: shamir` through the CLI: data requests answer 503 until `rampart operator
//! init` and three `rampart operator unseal`; a wrong share is refused clearly and forgets the
//! progress; `operator seal` and a restart close the store again. And a caller with a valid
//! OAuth2 token but no permitting Cedar policy gets 403.

use crate::secrets::{Instance, python, text};

#[tokio::test]
async fn shamir_sealing_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let mut up = Instance::start(tmp.path(), "{ seal: shamir }", &[]).await;

    let sealed = up.cli(&["secret", "get", "app/db"], None).await;
    assert!(!sealed.status.success());
    assert!(
        String::from_utf8_lossy(&sealed.stderr).contains("503"),
        "{}",
        text(&sealed)
    );
    let status = json(&up.cli_ok(&["operator", "status", "--json"], None).await);
    assert_eq!(status["seal"]["initialized"], false, "{status}");
    assert_eq!(status["seal"]["sealed"], true);

    let init = up
        .cli(
            &[
                "operator",
                "init",
                "--shares",
                "5",
                "--threshold",
                "3",
                "--json",
            ],
            None,
        )
        .await;
    assert!(init.status.success(), "{}", text(&init));
    assert!(
        String::from_utf8_lossy(&init.stderr).contains("shown once"),
        "{}",
        text(&init)
    );
    let shares: Vec<String> = json(&String::from_utf8_lossy(&init.stdout))["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shares.len(), 5);
    let again = up
        .cli(
            &["operator", "init", "--shares", "5", "--threshold", "3"],
            None,
        )
        .await;
    assert!(
        !again.status.success(),
        "a second init is refused: {}",
        text(&again)
    );
    let still = up.cli(&["secret", "put", "app/db", "k=v"], None).await;
    assert!(
        String::from_utf8_lossy(&still.stderr).contains("503"),
        "{}",
        text(&still)
    );

    // Two good shares (one as an argument, one on stdin), then a tampered one.
    let progress = json(
        &up.cli_ok(&["operator", "unseal", "--json", &shares[0]], None)
            .await,
    );
    assert_eq!(progress["progress"], 1, "{progress}");
    assert_eq!(progress["sealed"], true);
    up.cli_ok(&["operator", "unseal"], Some(&format!("{}\n", shares[1])))
        .await;
    let wrong = up
        .cli(&["operator", "unseal"], Some(&tampered(&shares[2])))
        .await;
    assert!(
        !wrong.status.success(),
        "a wrong share is refused: {}",
        text(&wrong)
    );
    let message = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        message.contains("share"),
        "the error says what is wrong: {message}"
    );
    assert!(
        !message.contains(&shares[2][..16]),
        "the share is never echoed: {message}"
    );
    let status = json(&up.cli_ok(&["operator", "status", "--json"], None).await);
    assert_eq!(status["seal"]["sealed"], true);
    assert_eq!(
        status["seal"]["progress"], 0,
        "the progress is forgotten: {status}"
    );

    unseal(&up, &shares[2..5]).await;
    up.cli_ok(&["secret", "put", "app/db", "password=shamir-pw"], None)
        .await;
    let got = up
        .cli_ok(&["secret", "get", "app/db", "--field", "password"], None)
        .await;
    assert_eq!(got.trim(), "shamir-pw");

    // A valid OAuth2 token of this control plane for the secrets audience, but no Cedar
    // policy permits it: 403.
    let audience = format!("{}/v1/secret", up.addr());
    let created = json(
        &up.cli_ok(
            &[
                "oauth",
                "client",
                "create",
                "--name",
                "reader",
                "--scopes",
                "secrets",
                "--audience",
                &audience,
                "--json",
            ],
            None,
        )
        .await,
    );
    let secret_file = tmp.path().join("client-secret");
    std::fs::write(&secret_file, created["client_secret"].as_str().unwrap()).unwrap();
    let denied = python(
        "secrets_oauth_client.py",
        vec![
            up.addr(),
            up.ca().display().to_string(),
            created["client_id"].as_str().unwrap().to_owned(),
            secret_file.display().to_string(),
            "app/db".to_owned(),
        ],
    )
    .await;
    assert_eq!(denied["token"], true, "{denied}");
    assert_eq!(denied["x_vault_token"], 403, "{denied}");
    assert_eq!(denied["bearer"], 403, "{denied}");

    up.cli_ok(&["operator", "seal"], None).await;
    let resealed = up.cli(&["secret", "get", "app/db"], None).await;
    assert!(
        String::from_utf8_lossy(&resealed.stderr).contains("503"),
        "{}",
        text(&resealed)
    );
    unseal(&up, &shares[0..3]).await;
    let got = up
        .cli_ok(&["secret", "get", "app/db", "--field", "password"], None)
        .await;
    assert_eq!(got.trim(), "shamir-pw");

    // A restart starts sealed; any three shares open it and the data is there.
    up.stop().await;
    up.restart(&[]).await;
    let after_restart = up.cli(&["secret", "get", "app/db"], None).await;
    assert!(
        String::from_utf8_lossy(&after_restart.stderr).contains("503"),
        "{}",
        text(&after_restart)
    );
    unseal(
        &up,
        &[shares[4].clone(), shares[1].clone(), shares[3].clone()],
    )
    .await;
    let got = up
        .cli_ok(&["secret", "get", "app/db", "--field", "password"], None)
        .await;
    assert_eq!(got.trim(), "shamir-pw");
    up.stop().await;
}

/// Gives `shares` on stdin, one `operator unseal` each; the last one must open the store.
async fn unseal(up: &Instance, shares: &[String]) {
    let mut last = serde_json::Value::Null;
    for share in shares {
        last = json(
            &up.cli_ok(
                &["operator", "unseal", "--json"],
                Some(&format!("{share}\n")),
            )
            .await,
        );
    }
    assert_eq!(last["sealed"], false, "{last}");
}

/// `share` with its last hex digit changed: well-formed, but not a share of this key.
fn tampered(share: &str) -> String {
    let mut s = share.to_owned();
    let last = s.pop().unwrap();
    s.push(if last == '0' { '1' } else { '0' });
    s.push('\n');
    s
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
