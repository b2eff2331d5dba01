//! Policy sets for the authorization tests, and reading the decision off an access event.

use crate::support::{Gw, Reply};
use rampart_events::{AccessEvent, AuthzRecord};
use rampart_policy::{Distribution, PolicyRelease, PolicySource, Segments};
use rampart_proxy::PolicyState;
use std::collections::BTreeMap;

/// Segments of the mesh tests: `web` in edge, `orders` in app, `db` in data; edge may `GET`
/// from app, nothing else flows.
pub const SEGMENTS: &str = r#"
segments: [{ name: edge }, { name: app }, { name: data }]
services: { web: edge, orders: app, db: data }
flows: [{ from: edge, to: app, actions: [GET] }]
"#;

/// A release of `cedar` (file `test.cedar`) with `segments` (YAML, empty for none).
pub fn release(version: u64, cedar: &str, segments: &str) -> PolicyRelease {
    let segments: Segments = match segments.trim() {
        "" => Segments::default(),
        text => serde_norway::from_str(text).unwrap(),
    };
    let source = PolicySource {
        files: BTreeMap::from([("test.cedar".to_owned(), cedar.to_owned())]),
        segments,
    };
    PolicyRelease {
        version,
        digest: source.digest(),
        source,
    }
}

/// The compiled state enforcing `enforced` with `shadow` in dry-run.
pub fn state(enforced: Option<PolicyRelease>, shadow: Option<PolicyRelease>) -> PolicyState {
    PolicyState::compile(&Distribution { enforced, shadow })
        .unwrap_or_else(|e| panic!("test policy does not compile: {e}"))
}

/// The access event of the request answered by `reply` (matched by request id).
pub async fn access_of(gw: &mut Gw, reply: &Reply) -> AccessEvent {
    let id = reply
        .header("x-request-id")
        .expect("every response has a request id")
        .to_owned();
    gw.access(|a| a.request_id == id).await
}

/// The `rampart.authz` of an access event.
pub fn authz(ev: &AccessEvent) -> &AuthzRecord {
    ev.authz
        .as_deref()
        .unwrap_or_else(|| panic!("no authz record on {ev:?}"))
}

/// The 403 of a policy denial: nothing but the reason code.
pub fn assert_forbidden(r: &Reply) {
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.text(), "Forbidden: forbidden\n");
}
