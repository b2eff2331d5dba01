//! Path normalisation before matching: what is matched is exactly what goes upstream.

use std::borrow::Cow;

/// Why a path cannot be normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not an origin-form path (must start with `/`).
    NotAbsolute,
    /// `%` not followed by two hex digits.
    BadPercentEncoding,
    /// `..` segments climb above the root.
    AboveRoot,
}

/// Normalises a request path: decodes percent-encoded unreserved characters (RFC 3986 §2.3),
/// upper-cases the hex of other escapes, merges repeated slashes, and removes `.` and `..`
/// segments. Encoded slashes (`%2F`) stay encoded, so they never split a segment.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(path) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path)?;
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "" => trailing_slash = i == last,
            "." => trailing_slash = i == last,
            ".." => {
                if out.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
                trailing_slash = i == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut result = String::with_capacity(decoded.len());
    for s in &out {
        result.push('/');
        result.push_str(s);
    }
    if trailing_slash || result.is_empty() {
        result.push('/');
    }
    Ok(Cow::Owned(result))
}

/// The common case needs no work: no escapes, no empty or dot segments.
fn is_normal(path: &str) -> bool {
    let b = path.as_bytes();
    !b.contains(&b'%')
        && !path.contains("//")
        && !path.contains("/./")
        && !path.contains("/../")
        && !path.ends_with("/.")
        && !path.ends_with("/..")
}

fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let b = path.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(PathError::BadPercentEncoding)?;
            let v = std::str::from_utf8(hex)
                .ok()
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(PathError::BadPercentEncoding)?;
            if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(v));
            } else {
                out.push('%');
                out.push_str(&format!("{v:02X}"));
            }
            i += 3;
        } else {
            // The request target was already checked to be ASCII by the HTTP parser.
            out.push(char::from(b[i]));
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> String {
        normalize(p).unwrap().into_owned()
    }

    #[test]
    fn normalises() {
        assert_eq!(n("/a/b"), "/a/b");
        assert!(matches!(normalize("/a/b").unwrap(), Cow::Borrowed(_)));
        assert_eq!(n("/a//b///c"), "/a/b/c");
        assert_eq!(n("/a/./b/../c"), "/a/c");
        assert_eq!(n("/a/b/.."), "/a/");
        assert_eq!(n("/%61%2Dz/%7e"), "/a-z/~");
        assert_eq!(n("/a%2fb"), "/a%2Fb");
        assert_eq!(n("/a/%2e%2e/x"), "/x");
        assert_eq!(n("/admin/%2e/x"), "/admin/x");
        assert_eq!(n("/"), "/");
        assert_eq!(n("//"), "/");
    }

    #[test]
    fn refuses() {
        assert_eq!(normalize("a/b"), Err(PathError::NotAbsolute));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadPercentEncoding));
        assert_eq!(normalize("/a%2"), Err(PathError::BadPercentEncoding));
        assert_eq!(normalize("/../etc/passwd"), Err(PathError::AboveRoot));
        assert_eq!(normalize("/a/%2e%2e/%2e%2e/b"), Err(PathError::AboveRoot));
    }
}
