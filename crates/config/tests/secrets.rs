//! The `secrets` section: seal mode, root key sources, versions and the token audience of the
//! secrets API.
#![allow(clippy::unwrap_used)]

use rampart_config::{SealMode, from_str};

#[test]
fn defaults_to_auto_unseal_and_the_issuer_audience() {
    let c = from_str("empty", "").unwrap();
    assert_eq!(c.secrets.seal, SealMode::Auto);
    assert_eq!(c.secrets.max_versions, 10);
    assert_eq!(c.secrets.token_audience, None);
}

#[test]
fn parses_a_token_audience() {
    let c = from_str(
        "t",
        "secrets: { seal: shamir, token_audience: \"https://vault.example/secrets\" }",
    )
    .unwrap();
    assert_eq!(c.secrets.seal, SealMode::Shamir);
    assert_eq!(
        c.secrets.token_audience.as_deref(),
        Some("https://vault.example/secrets")
    );
    let c = from_str("t", "secrets: { token_audience: secrets-api }").unwrap();
    assert_eq!(c.secrets.token_audience.as_deref(), Some("secrets-api"));
}

#[test]
fn rejects_an_empty_long_or_spaced_token_audience() {
    for (value, message) in [
        ("\"\"", "1 to 512 characters"),
        (&format!("\"{}\"", "a".repeat(513)), "1 to 512 characters"),
        ("\"a b\"", "whitespace"),
        ("\"a\\tb\"", "whitespace"),
        ("\"a\\u0001b\"", "control"),
    ] {
        let text = format!("secrets: {{ token_audience: {value} }}");
        let errors = from_str("t", &text).unwrap_err().to_string();
        assert!(
            errors.contains("secrets.token_audience"),
            "{value}: {errors}"
        );
        assert!(errors.contains(message), "{value}: {errors}");
    }
    let c = from_str(
        "t",
        &format!("secrets: {{ token_audience: {} }}", "a".repeat(512)),
    );
    assert!(c.is_ok(), "512 characters are allowed");
}

#[test]
fn rejects_unknown_secrets_keys() {
    let errors = from_str("t", "secrets: { token_audiences: x }")
        .unwrap_err()
        .to_string();
    assert!(errors.contains("token_audiences"), "{errors}");
}
