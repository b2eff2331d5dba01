//! Form-encoded request parameters (RFC 6749 §3.2: a parameter must not appear twice).

use std::collections::BTreeMap;

use super::OAuthError;

/// The parameters of one form-encoded request body.
#[derive(Debug, Default)]
pub(crate) struct Params(BTreeMap<String, String>);

// === impl Params ===

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes; a repeated parameter is
    /// `invalid_request`, an empty value counts as absent (RFC 6749 §3.1).
    pub(crate) fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut map = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{name}` is repeated"
                )));
            }
        }
        Ok(Self(map))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The parameter `name`, or `invalid_request`.
    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter `{name}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_repeats_and_decodes() {
        let p = Params::parse(b"grant_type=client_credentials&scope=a+b%3Ac&empty=").unwrap();
        assert_eq!(p.get("scope"), Some("a b:c"));
        assert_eq!(p.get("empty"), None);
        assert!(p.require("nope").is_err());
        let e = Params::parse(b"scope=a&scope=b").unwrap_err();
        assert_eq!(e.code, "invalid_request");
    }
}
