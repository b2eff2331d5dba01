//! Path rules: 1–512 bytes, `/`-separated segments, no empty, `.` or `..` segments, no control
//! characters; leading and trailing `/` trimmed.

use crate::error::SecretsError;

/// Longest path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 512;

/// The reserved prefix of the platform's own keys (`docs/secrets.md`, "Platform keys"): the
/// public KV API refuses every path under it ([`SecretsError::Reserved`]) and LIST hides it.
pub const RESERVED_PREFIX: &str = "sys/platform";

/// Whether `path` (leading and trailing `/` ignored) is or is under [`RESERVED_PREFIX`].
pub fn is_reserved(path: &str) -> bool {
    let trimmed = path.trim_matches('/');
    trimmed
        .strip_prefix(RESERVED_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Validates `path` and returns it with leading and trailing `/` trimmed; a reserved path
/// is refused with [`SecretsError::Reserved`].
pub fn validate_path(path: &str) -> Result<String, SecretsError> {
    let trimmed = validate_internal(path)?;
    if is_reserved(&trimmed) {
        return Err(SecretsError::Reserved);
    }
    Ok(trimmed)
}

/// [`validate_path`] without the reserved-prefix check (the platform keys' own paths).
pub(crate) fn validate_internal(path: &str) -> Result<String, SecretsError> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Err(SecretsError::InvalidPath("empty path"));
    }
    check(trimmed)?;
    Ok(trimmed.to_owned())
}

/// Validates a LIST prefix: empty (the root) or a valid path; returns it trimmed and, unless
/// empty, ending in `/`.
pub fn validate_prefix(prefix: &str) -> Result<String, SecretsError> {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    check(trimmed)?;
    if is_reserved(trimmed) {
        return Err(SecretsError::Reserved);
    }
    Ok(format!("{trimmed}/"))
}

fn check(path: &str) -> Result<(), SecretsError> {
    if path.len() > MAX_PATH_LEN {
        return Err(SecretsError::InvalidPath("longer than 512 bytes"));
    }
    if path.chars().any(char::is_control) {
        return Err(SecretsError::InvalidPath("control character"));
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(SecretsError::InvalidPath("empty segment")),
            "." | ".." => return Err(SecretsError::InvalidPath("`.` or `..` segment")),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(validate_path("/a/b/").unwrap(), "a/b");
        assert_eq!(validate_path("app/db-password").unwrap(), "app/db-password");
        for bad in ["", "/", "a//b", "a/./b", "../x", "a/..", "a\nb", "a\u{7f}b"] {
            assert!(validate_path(bad).is_err(), "{bad:?}");
        }
        assert!(validate_path(&"a".repeat(512)).is_ok());
        assert!(validate_path(&"a".repeat(513)).is_err());
        assert_eq!(validate_prefix("").unwrap(), "");
        assert_eq!(validate_prefix("/app/").unwrap(), "app/");
        assert!(validate_prefix("a//").is_ok());
        assert!(validate_prefix("a//b").is_err());
    }

    #[test]
    fn reserved_prefix_is_refused() {
        for reserved in [
            "sys/platform",
            "/sys/platform/",
            "sys/platform/oauth-signing/k",
        ] {
            assert!(is_reserved(reserved), "{reserved}");
            assert!(matches!(
                validate_path(reserved),
                Err(SecretsError::Reserved)
            ));
            assert!(matches!(
                validate_prefix(reserved),
                Err(SecretsError::Reserved)
            ));
        }
        for free in [
            "sys",
            "sys/platforms",
            "sys/platformx/a",
            "app/sys/platform",
        ] {
            assert!(!is_reserved(free), "{free}");
            assert!(validate_path(free).is_ok());
        }
        assert!(validate_prefix("sys").is_ok());
        assert_eq!(
            validate_internal("sys/platform/a").unwrap(),
            "sys/platform/a"
        );
    }
}
