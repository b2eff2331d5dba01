//! The audit trail: every data request, allowed or denied, becomes a
//! [`SecurityKind::SecretAccess`] event naming principal, operation, path, version, decision
//! and policy ids; never a value. A failed authenticated decryption becomes a
//! [`SecurityKind::SecretIntegrity`] event.

use std::{fmt, net::SocketAddr};

use rampart_events::{Event, SecurityEvent, SecurityKind};
use rampart_policy::Principal;

use super::{Caller, SecretsApi, Verdict};

/// The `service.name` of the events published here.
const SOURCE: &str = "rampart-control";

/// A KV operation, as the audit event names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
    Patch,
    Delete,
    Undelete,
    Destroy,
    ReadMetadata,
    WriteMetadata,
    DeleteMetadata,
    List,
    Subkeys,
    ReadConfig,
    WriteConfig,
}

/// How a request ended, after the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Allowed,
    Denied,
}

// === impl SecretsApi ===

impl SecretsApi {
    /// Publishes the [`SecurityKind::SecretAccess`] event of one request.
    pub(crate) fn audit(
        &self,
        caller: &Caller,
        client: Option<SocketAddr>,
        op: Op,
        path: &str,
        version: Option<u64>,
        verdict: &Verdict,
    ) {
        let outcome = match verdict.allowed {
            true => Outcome::Allowed,
            false => Outcome::Denied,
        };
        let detail = format!(
            "principal={} op={op} path={path} version={} decision={outcome} policies={}",
            Who(&caller.principal),
            Version(version),
            verdict.policies,
        );
        self.publish(SecurityKind::SecretAccess, client, detail);
    }

    /// Publishes a [`SecurityKind::SecretIntegrity`] event: the stored row of `path` at
    /// `version` failed authenticated decryption.
    pub(crate) fn integrity(&self, client: Option<SocketAddr>, path: &str, version: u64) {
        tracing::error!(path, version, "secrets: integrity check failed");
        let detail = format!("integrity check failed: path={path} version={version}");
        self.publish(SecurityKind::SecretIntegrity, client, detail);
    }

    /// Publishes a [`SecurityKind::SecretsSeal`] event (init, unseal, seal, rotation).
    pub(crate) fn seal_event(&self, client: Option<SocketAddr>, detail: String) {
        self.publish(SecurityKind::SecretsSeal, client, detail);
    }

    fn publish(&self, kind: SecurityKind, client: Option<SocketAddr>, detail: String) {
        self.bus.publish(Event::Security(SecurityEvent::new(
            kind, SOURCE, client, detail,
        )));
    }
}

// === impl Op ===

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Patch => "patch",
            Op::Delete => "delete",
            Op::Undelete => "undelete",
            Op::Destroy => "destroy",
            Op::ReadMetadata => "read-metadata",
            Op::WriteMetadata => "write-metadata",
            Op::DeleteMetadata => "delete-metadata",
            Op::List => "list",
            Op::Subkeys => "subkeys",
            Op::ReadConfig => "read-config",
            Op::WriteConfig => "write-config",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl Outcome ===

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Allowed => "allow",
            Outcome::Denied => "deny",
        })
    }
}

// === helpers ===

/// A principal in the event: `workload:<spiffe id>`, `client:<id>`, `user:<sub>`.
struct Who<'a>(&'a Principal);

impl fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Principal::Workload { spiffe_id, .. } => write!(f, "workload:{spiffe_id}"),
            Principal::Client { client_id, .. } => write!(f, "client:{client_id}"),
            Principal::User { sub, .. } => write!(f, "user:{sub}"),
            Principal::Anonymous => f.write_str("anonymous"),
        }
    }
}

/// A version in the event: the number, or `latest`.
struct Version(Option<u64>);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("latest"),
        }
    }
}
