//! Who calls the secrets API, once authenticated.

use std::{borrow::Cow, net::IpAddr, sync::LazyLock};

use rampart_policy::Principal;

/// The admin token's principal, built once.
static ADMIN: LazyLock<Principal> = LazyLock::new(|| Principal::User {
    sub: "admin".to_owned(),
    groups: vec!["admin".to_owned()],
});

/// How the caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Credential {
    /// The admin token: allowed everything, like Vault's root token.
    AdminToken,
    /// An access token this control plane issued.
    AccessToken,
    /// The workload's SVID as the TLS client certificate.
    Svid,
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// For a workload, the segment is filled in at decision time from the enforced set.
    pub(crate) principal: Cow<'static, Principal>,
    pub(crate) credential: Credential,
    /// The token's scopes (empty for the admin token and SVIDs).
    pub(crate) scopes: Vec<String>,
    /// The client address, for the Cedar context.
    pub(crate) ip: Option<IpAddr>,
    /// Whether the connection carried a client certificate.
    pub(crate) mtls: bool,
}

// === impl Caller ===

impl Caller {
    /// The admin, as the admin token authenticates it: `User { sub: "admin", groups:
    /// ["admin"] }`.
    pub(crate) fn admin(ip: Option<IpAddr>, mtls: bool) -> Self {
        Self {
            principal: Cow::Borrowed(&ADMIN),
            credential: Credential::AdminToken,
            scopes: Vec::new(),
            ip,
            mtls,
        }
    }
}
