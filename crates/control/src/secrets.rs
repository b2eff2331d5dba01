//! The secrets store's control-plane side (`docs/secrets.md`, "HTTP API"): who may do what
//! to which secret, decided by the enforced Cedar set, and the audit trail of every data
//! request. The engine itself (keys, sealing, KV rules) is `rampart_secrets`; the HTTP shapes
//! are in `server/routes/secrets`.

mod audit;
mod authz;
mod caller;

use rampart_events::EventBus;
use rampart_secrets::Secrets;

pub(crate) use self::audit::Op;
pub(crate) use self::authz::{Verdict, workload};
pub(crate) use self::caller::{Caller, Credential};
use crate::policy::EnforcedEngine;

/// The secrets store as the API serves it: the engine (when configured), the compiled
/// enforced policy set and where audit events go.
#[derive(Clone)]
pub(crate) struct SecretsApi {
    /// `None`: the control plane was started without a secrets store.
    pub(crate) secrets: Option<Secrets>,
    pub(crate) engine: EnforcedEngine,
    pub(crate) bus: EventBus,
}

impl std::fmt::Debug for SecretsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsApi")
            .field("enabled", &self.secrets.is_some())
            .finish_non_exhaustive()
    }
}
