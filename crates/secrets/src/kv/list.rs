//! LIST: the immediate children of a prefix, folders ending in `/`, sorted.

use std::collections::BTreeSet;

/// The immediate children under `prefix` (empty or ending in `/`) of the full `paths`.
pub fn children(prefix: &str, paths: &[String]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for path in paths {
        let Some(rest) = path.strip_prefix(prefix) else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        match rest.find('/') {
            Some(i) => out.insert(rest[..=i].to_owned()),
            None => out.insert(rest.to_owned()),
        };
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn immediate_children() {
        let paths: Vec<String> = [
            "app",
            "app/db",
            "app/web/key",
            "app/web/tls",
            "apple",
            "b/c",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(children("", &paths), ["app", "app/", "apple", "b/"]);
        assert_eq!(children("app/", &paths), ["db", "web/"]);
        assert!(children("zzz/", &paths).is_empty());
    }
}
