//! Path rules: 1–512 bytes, `/`-separated segments, no empty, `.` or `..` segments, no control
//! characters; leading and trailing `/` trimmed.

use crate::error::SecretsError;

/// Longest path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 512;

/// Validates `path` and returns it with leading and trailing `/` trimmed.
pub fn validate_path(path: &str) -> Result<String, SecretsError> {
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
}
