//! The `oauth` section: the authorization server's issuer and token lifetime.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rampart_config::from_str;

#[test]
fn defaults_to_five_minutes_and_no_issuer() {
    let c = from_str("empty", "").unwrap();
    assert_eq!(c.oauth.issuer, None);
    assert_eq!(c.oauth.access_token_ttl.0, Duration::from_secs(300));
}

#[test]
fn parses_issuer_and_ttl_and_rejects_unknown_keys() {
    let c = from_str(
        "t",
        "oauth: { issuer: \"https://auth.example\", access_token_ttl: 2m }",
    )
    .unwrap();
    assert_eq!(c.oauth.issuer.as_deref(), Some("https://auth.example"));
    assert_eq!(c.oauth.access_token_ttl.0, Duration::from_secs(120));
    let errors = from_str("t", "oauth: { isuer: x }").unwrap_err();
    assert!(errors.to_string().contains("isuer"), "{errors}");
}
