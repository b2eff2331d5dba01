use std::fs;

use super::*;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn creates_a_private_token_file_and_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/admin-token");
    let created = AdminToken::load_or_create(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);

    let secret = created.secret().expose().clone();
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(fs::read_to_string(&path).unwrap(), format!("{secret}\n"));

    let reused = AdminToken::load_or_create(&path).unwrap();
    assert_eq!(reused.secret().expose(), &secret);
    assert!(reused.verify(&secret));
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn every_token_is_different() {
    let a = AdminToken::generate().unwrap();
    let b = AdminToken::generate().unwrap();
    assert_ne!(a.secret().expose(), b.secret().expose());
}

#[test]
fn refuses_a_token_file_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin-token");
    AdminToken::load_or_create(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

    let err = AdminToken::load_or_create(&path).unwrap_err();
    assert!(
        matches!(err, ControlError::TokenPermissions { mode: 0o644, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");
    let err = AdminToken::load(&path).unwrap_err();
    assert!(matches!(err, ControlError::TokenPermissions { .. }));
}

#[test]
fn refuses_malformed_token_files_without_showing_them() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("empty", "\n"),
        ("short", "tooshort\n"),
        (
            "spaces",
            "a token with spaces that is long enough to pass\n",
        ),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = AdminToken::load(&path).unwrap_err();
        assert!(
            matches!(err, ControlError::TokenMalformed { .. }),
            "{name}: {err:?}"
        );
        let message = err.to_string();
        assert!(!message.contains("tooshort") && !message.contains("with spaces"));
    }
}

#[test]
fn verifies_only_the_exact_token() {
    let token = AdminToken::new(Sensitive::new("a".repeat(40))).unwrap();
    assert!(token.verify(&"a".repeat(40)));
    assert!(!token.verify(&"a".repeat(39)));
    assert!(!token.verify(&"a".repeat(41)));
    assert!(!token.verify(&format!("{}b", "a".repeat(39))));
    assert!(!token.verify(""));
}

#[test]
fn never_prints_the_token() {
    let token = AdminToken::generate().unwrap();
    let secret = token.secret().expose().clone();
    let shown = format!("{token:?} {:?} {}", token.secret(), token.secret());
    assert!(!shown.contains(&secret));
    assert!(shown.contains("REDACTED"));
}

#[test]
fn operator_tokens_are_checked() {
    assert!(AdminToken::new(Sensitive::new("short".into())).is_err());
    assert!(AdminToken::new(Sensitive::new(format!("{}\n", "a".repeat(40)))).is_err());
    assert!(AdminToken::new(Sensitive::new("Ab0-._~+/=".repeat(4))).is_ok());
}
