//! SPIFFE identities: trust domains and SPIFFE ids, parsed by the rules of the SPIFFE ID
//! specification (`spiffe://<trust-domain>/<path>`), and the workload ids Rampart gives its
//! services (`spiffe://<trust-domain>/ns/<namespace>/sa/<service>`).
//!
//! Ids are parsed once, into types that cannot hold an invalid value; comparison is exact
//! (the spec allows no normalisation beyond the lowercase trust domain, which we require).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

const SCHEME: &str = "spiffe://";
const MAX_TRUST_DOMAIN_LEN: usize = 255;
const MAX_ID_LEN: usize = 2048;

/// The trust domain of a SPIFFE id, such as `prod.example.org`: 1 to 255 lowercase letters,
/// digits, `.`, `-` and `_`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrustDomain(String);

/// A SPIFFE id: a trust domain and a path of non-empty segments made of `[A-Za-z0-9._-]`,
/// none of them `.` or `..`. The path may be empty (the id of the trust domain itself).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpiffeId {
    trust_domain: TrustDomain,
    /// Empty, or `/seg` repeated.
    path: String,
}

/// Why a string is not a valid trust domain or SPIFFE id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeIdError {
    #[error("a SPIFFE id cannot be empty")]
    Empty,
    #[error("a SPIFFE id must start with `spiffe://`")]
    WrongScheme,
    #[error("the trust domain is missing")]
    MissingTrustDomain,
    #[error("the trust domain is longer than 255 characters")]
    TrustDomainTooLong,
    #[error(
        "trust domain characters are limited to lowercase letters, digits, `.`, `-` and `_`, found `{0}`"
    )]
    TrustDomainChar(char),
    #[error("a SPIFFE id cannot contain user info")]
    UserInfo,
    #[error("a SPIFFE id cannot contain a port")]
    Port,
    #[error("a SPIFFE id cannot contain a query")]
    Query,
    #[error("a SPIFFE id cannot contain a fragment")]
    Fragment,
    #[error("path segments cannot be empty")]
    EmptySegment,
    #[error("path segments cannot be `.` or `..`")]
    DotSegment,
    #[error("path characters are limited to letters, digits, `.`, `-` and `_`, found `{0}`")]
    PathChar(char),
    #[error("a SPIFFE id is limited to 2048 bytes, this one has {0}")]
    TooLong(usize),
}

// === impl TrustDomain ===

impl TrustDomain {
    /// Parses a trust domain name (without scheme or path).
    pub fn parse(name: &str) -> Result<Self, SpiffeIdError> {
        check_trust_domain(name)?;
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SPIFFE id of the trust domain itself (`spiffe://<td>`, empty path).
    pub fn id(&self) -> SpiffeId {
        SpiffeId {
            trust_domain: self.clone(),
            path: String::new(),
        }
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TrustDomain {
    type Err = SpiffeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for TrustDomain {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TrustDomain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(de::Error::custom)
    }
}

// === impl SpiffeId ===

impl SpiffeId {
    /// Parses `spiffe://<trust-domain>[/<segment>...]`.
    pub fn parse(id: &str) -> Result<Self, SpiffeIdError> {
        if id.is_empty() {
            return Err(SpiffeIdError::Empty);
        }
        if id.len() > MAX_ID_LEN {
            return Err(SpiffeIdError::TooLong(id.len()));
        }
        let rest = id.strip_prefix(SCHEME).ok_or(SpiffeIdError::WrongScheme)?;
        if let Some(i) = rest.find(['?', '#']) {
            return Err(match rest[i..].starts_with('?') {
                true => SpiffeIdError::Query,
                false => SpiffeIdError::Fragment,
            });
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(SpiffeIdError::UserInfo);
        }
        if authority.contains(':') {
            return Err(SpiffeIdError::Port);
        }
        check_trust_domain(authority)?;
        check_path(path)?;
        Ok(Self {
            trust_domain: TrustDomain(authority.to_owned()),
            path: path.to_owned(),
        })
    }

    /// `spiffe://<td>/ns/<namespace>/sa/<service>`, the id of a Rampart workload.
    /// `namespace` and `service` must each be one valid path segment.
    pub fn workload(
        trust_domain: &TrustDomain,
        namespace: &str,
        service: &str,
    ) -> Result<Self, SpiffeIdError> {
        check_segment(namespace)?;
        check_segment(service)?;
        Ok(Self {
            trust_domain: trust_domain.clone(),
            path: format!("/ns/{namespace}/sa/{service}"),
        })
    }

    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The path, empty or starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The namespace of a workload id (`/ns/<namespace>/sa/<service>`), `None` for ids of
    /// another shape.
    pub fn namespace(&self) -> Option<&str> {
        self.workload_parts().map(|(ns, _)| ns)
    }

    /// The service of a workload id (`/ns/<namespace>/sa/<service>`), `None` for ids of
    /// another shape.
    pub fn service(&self) -> Option<&str> {
        self.workload_parts().map(|(_, sa)| sa)
    }

    fn workload_parts(&self) -> Option<(&str, &str)> {
        let mut segments = self.path.strip_prefix('/')?.split('/');
        match (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) {
            (Some("ns"), Some(ns), Some("sa"), Some(sa), None) => Some((ns, sa)),
            _ => None,
        }
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}{}", self.trust_domain, self.path)
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for SpiffeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SpiffeId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(de::Error::custom)
    }
}

// === helpers ===

fn check_trust_domain(name: &str) -> Result<(), SpiffeIdError> {
    if name.is_empty() {
        return Err(SpiffeIdError::MissingTrustDomain);
    }
    if name.len() > MAX_TRUST_DOMAIN_LEN {
        return Err(SpiffeIdError::TrustDomainTooLong);
    }
    match name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '-' | '_'))
    {
        Some(c) => Err(SpiffeIdError::TrustDomainChar(c)),
        None => Ok(()),
    }
}

/// `path` is empty or `/seg` repeated; a trailing `/` makes an empty last segment.
fn check_path(path: &str) -> Result<(), SpiffeIdError> {
    match path.strip_prefix('/') {
        None => Ok(()),
        Some(segments) => segments.split('/').try_for_each(check_segment),
    }
}

fn check_segment(segment: &str) -> Result<(), SpiffeIdError> {
    match segment {
        "" => Err(SpiffeIdError::EmptySegment),
        "." | ".." => Err(SpiffeIdError::DotSegment),
        _ => match segment
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_'))
        {
            Some(c) => Err(SpiffeIdError::PathChar(c)),
            None => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_ids() {
        for (id, td, path) in [
            ("spiffe://example.org", "example.org", ""),
            ("spiffe://example.org/workload", "example.org", "/workload"),
            (
                "spiffe://prod-1.example_2.org/a/B/c.d-e_f",
                "prod-1.example_2.org",
                "/a/B/c.d-e_f",
            ),
            ("spiffe://td/.../a..b/.x", "td", "/.../a..b/.x"),
            ("spiffe://1.2.3.4/x", "1.2.3.4", "/x"),
        ] {
            let parsed = SpiffeId::parse(id).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(parsed.trust_domain().as_str(), td);
            assert_eq!(parsed.path(), path);
            assert_eq!(parsed.to_string(), id);
        }
    }

    #[test]
    fn refuses_invalid_ids() {
        use SpiffeIdError::*;
        let long_td = format!("spiffe://{}", "a".repeat(256));
        let long_id = format!("spiffe://td/{}", "a".repeat(2048));
        for (id, error) in [
            ("", Empty),
            ("http://example.org/a", WrongScheme),
            ("SPIFFE://example.org/a", WrongScheme),
            ("spiffe:/example.org/a", WrongScheme),
            ("spiffe://", MissingTrustDomain),
            ("spiffe:///a", MissingTrustDomain),
            ("spiffe://Example.org/a", TrustDomainChar('E')),
            ("spiffe://exa%6dple.org/a", TrustDomainChar('%')),
            ("spiffe://user@example.org/a", UserInfo),
            ("spiffe://example.org:8080/a", Port),
            ("spiffe://example.org/a?x=1", Query),
            ("spiffe://example.org/a#frag", Fragment),
            ("spiffe://example.org/", EmptySegment),
            ("spiffe://example.org/a/", EmptySegment),
            ("spiffe://example.org//a", EmptySegment),
            ("spiffe://example.org/./a", DotSegment),
            ("spiffe://example.org/a/..", DotSegment),
            ("spiffe://example.org/a%20b", PathChar('%')),
            ("spiffe://example.org/a b", PathChar(' ')),
            ("spiffe://example.org/é", PathChar('é')),
            (long_td.as_str(), TrustDomainTooLong),
            (long_id.as_str(), TooLong(long_id.len())),
        ] {
            assert_eq!(SpiffeId::parse(id), Err(error), "{id}");
        }
    }

    #[test]
    fn trust_domains() {
        assert_eq!(
            TrustDomain::parse("a.b-c_d9").unwrap().to_string(),
            "a.b-c_d9"
        );
        assert_eq!(
            TrustDomain::parse(&"x".repeat(255)).unwrap().as_str().len(),
            255
        );
        assert_eq!(
            TrustDomain::parse(&"x".repeat(256)),
            Err(SpiffeIdError::TrustDomainTooLong)
        );
        assert_eq!(
            TrustDomain::parse(""),
            Err(SpiffeIdError::MissingTrustDomain)
        );
        assert_eq!(
            TrustDomain::parse("td/x"),
            Err(SpiffeIdError::TrustDomainChar('/'))
        );
        assert_eq!(
            TrustDomain::parse("td").unwrap().id().to_string(),
            "spiffe://td"
        );
    }

    #[test]
    fn workload_ids() {
        let td = TrustDomain::parse("prod.example.org").unwrap();
        let id = SpiffeId::workload(&td, "shop", "billing").unwrap();
        assert_eq!(
            id.to_string(),
            "spiffe://prod.example.org/ns/shop/sa/billing"
        );
        assert_eq!(
            (id.namespace(), id.service()),
            (Some("shop"), Some("billing"))
        );
        assert_eq!(SpiffeId::parse(&id.to_string()).unwrap(), id);
        assert_eq!(
            SpiffeId::workload(&td, "a/b", "c"),
            Err(SpiffeIdError::PathChar('/'))
        );
        assert_eq!(
            SpiffeId::workload(&td, "ns", ".."),
            Err(SpiffeIdError::DotSegment)
        );
        for other in [
            "spiffe://td/ns/a/sa",
            "spiffe://td/ns/a/sa/b/c",
            "spiffe://td/x/a/sa/b",
        ] {
            let id = SpiffeId::parse(other).unwrap();
            assert_eq!((id.namespace(), id.service()), (None, None), "{other}");
        }
    }

    #[test]
    fn serde_as_string() {
        let id = SpiffeId::parse("spiffe://td/ns/a/sa/b").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, r#""spiffe://td/ns/a/sa/b""#);
        assert_eq!(serde_json::from_str::<SpiffeId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<SpiffeId>(r#""spiffe://td/a/""#).is_err());
        let td: TrustDomain = serde_json::from_str(r#""td""#).unwrap();
        assert_eq!(serde_json::to_string(&td).unwrap(), r#""td""#);
        assert!(serde_json::from_str::<TrustDomain>(r#""TD""#).is_err());
    }
}
