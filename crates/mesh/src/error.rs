//! The one error type of this crate.

use std::{io, path::PathBuf};

use rampart_control::ControlError;
use rampart_identity::{IdentityError, SvidError};
use rampart_proxy::ProxyError;

/// Why the agent could not obtain, keep or use its identity, or could not run its gateway.
///
/// No message ever contains the join token or any key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    /// Nothing on disk to start from, and nothing to bootstrap with.
    #[error(
        "no valid SVID in `{}` and no join token: pass `--join-token` or set `RAMPART_JOIN_TOKEN`",
        dir.display()
    )]
    NoJoinToken { dir: PathBuf },

    /// The control plane refused the join token or the CSR.
    #[error("the control plane refused to issue an SVID: {0}")]
    Refused(#[source] ControlError),

    /// A call to the control plane failed (unreachable, TLS, refused).
    #[error(transparent)]
    Control(#[from] ControlError),

    #[error(transparent)]
    Identity(#[from] IdentityError),

    #[error(transparent)]
    Svid(#[from] SvidError),

    /// The join token was for another workload than this agent runs.
    #[error("the control plane issued `{found}`, but this sidecar is `{expected}`")]
    WrongIdentity { expected: String, found: String },

    /// An answer of the control plane could not be used.
    #[error("unusable {what} from the control plane: {reason}")]
    BadAnswer { what: &'static str, reason: String },

    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error(
        "key file `{}` is accessible by group or others (mode {mode:04o}); restrict it with `chmod 600`",
        path.display()
    )]
    KeyPermissions { path: PathBuf, mode: u32 },

    /// A file of the data directory cannot be read as what it should hold.
    #[error("`{}` is not usable: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },

    /// Resuming without the control plane, but with no usable snapshot to serve from: no
    /// snapshot, no traffic.
    #[error(
        "no usable mesh snapshot ({why}) and none from the control plane within {} ms ({cause}): \
         refusing to start without one (no snapshot, no traffic); start it when the control \
         plane is reachable",
        wait.as_millis()
    )]
    NoSnapshot {
        why: String,
        wait: std::time::Duration,
        cause: String,
    },

    #[error("invalid sidecar options: {reason}")]
    Options { reason: String },

    #[error("cannot start the sidecar gateway: {0}")]
    Gateway(#[from] ProxyError),
}
