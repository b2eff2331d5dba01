//! The one error type of this crate.

use std::{io, net::SocketAddr, path::PathBuf, time::Duration};

use rampart_identity::IdentityError;
use rampart_store::StoreError;

/// Why the control plane could not start, a token could not be loaded, or a call to the
/// control plane failed.
///
/// No message ever contains the admin token or any credential a client presented.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    #[error("cannot read admin token `{}`: {source}", path.display())]
    TokenRead { path: PathBuf, source: io::Error },

    #[error("cannot write admin token `{}`: {source}", path.display())]
    TokenWrite { path: PathBuf, source: io::Error },

    #[error(
        "admin token file `{}` is accessible by group or others (mode {mode:04o}); restrict it with `chmod 600`",
        path.display()
    )]
    TokenPermissions { path: PathBuf, mode: u32 },

    #[error("admin token `{}` is not usable: {reason}", path.display())]
    TokenMalformed { path: PathBuf, reason: &'static str },

    #[error("invalid admin token: {reason}")]
    InvalidToken { reason: &'static str },

    #[error("cannot generate random bytes for the admin token")]
    Random,

    #[error("cannot listen on `{addr}`: {source}")]
    Bind { addr: SocketAddr, source: io::Error },

    #[error("invalid control plane url `{url}`: {reason}")]
    InvalidUrl { url: String, reason: &'static str },

    #[error("cannot build the tls client configuration: {0}")]
    Identity(#[from] IdentityError),

    /// Nothing answered at the address, or the connection broke.
    #[error("cannot reach the control plane at `{url}`: {reason}")]
    Unreachable { url: String, reason: String },

    /// The TLS handshake failed: most often the CA file is not the control plane's `ca.pem`.
    #[error(
        "tls handshake with the control plane at `{url}` failed: {reason} (is the ca file the control plane's `ca.pem`?)"
    )]
    Tls { url: String, reason: String },

    #[error("the control plane at `{url}` did not answer within {} ms", after.as_millis())]
    Timeout { url: String, after: Duration },

    /// The credentials (admin token, join token or SVID) were refused; `message` is the
    /// control plane's reason, which never repeats a credential.
    #[error("the control plane refused the credentials (401): {message}")]
    Unauthorized { message: String },

    #[error(
        "the control plane refused the request after too many failed attempts (429): {message}"
    )]
    RateLimited { message: String },

    /// Any other non-success answer, with the server's own message.
    #[error("the control plane answered {status}: {message}")]
    Http { status: u16, message: String },

    #[error("unexpected response from the control plane: {reason}")]
    InvalidResponse { reason: String },

    /// The configured policy set cannot be loaded or compiled, or a stored one is unusable.
    #[error("policy: {reason}")]
    Policy { reason: String },

    /// `POST /v1/policy` refused the set (422): it does not compile; `problems` point at
    /// `file:line:col [policy id]`.
    #[error("the control plane rejected the policy set (422): {error}\n{}", problems.join("\n"))]
    PolicyRejected {
        error: String,
        problems: Vec<String>,
    },

    #[error("invalid heartbeat: {reason}")]
    InvalidHeartbeat { reason: String },

    #[error("invalid proxy id `{id}`: use 1 to 128 letters, digits and `._:@-`")]
    InvalidProxyId { id: String },

    /// A join token could not be created as asked.
    #[error("invalid join token request: {reason}")]
    InvalidJoinTokenRequest { reason: String },

    /// A string is not a join token; the message never repeats it.
    #[error("malformed join token: {reason}")]
    MalformedJoinToken { reason: &'static str },

    /// A join token was refused: `malformed`, `unknown`, `already used` or `expired`.
    #[error("join token rejected: {reason}")]
    JoinTokenRejected { reason: &'static str },

    #[error("cannot generate random bytes")]
    RandomBytes,

    /// A request to the control plane cannot be carried out as asked (`400`).
    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },

    /// What a request names does not exist (`404`).
    #[error("{what} not found")]
    NotFound { what: String },

    /// A CA rollover step cannot be taken now (`409`): the message says why and what to do.
    #[error("ca rollover refused: {reason}")]
    Rollover { reason: String },

    /// The control plane was started without a directory for new CA generations.
    #[error("ca rollover needs a directory for new CA generations (`ca_dir`), and none was given")]
    NoCaDir,

    /// The CA generations recorded in the store do not match the CA files.
    #[error("ca generation {generation}: {reason}")]
    CaGeneration { generation: u32, reason: String },

    /// This client was built from a TLS configuration, not from a CA file, so it cannot
    /// derive another configuration from it.
    #[error("this control client has no ca file to build a client-certificate configuration from")]
    NoCaFile,

    /// The mesh watch stream carried nothing, not even a keep-alive, for too long.
    #[error("the control plane's mesh watch was silent for {} s", after.as_secs())]
    WatchSilent { after: Duration },

    /// An SVID could not be issued or verified.
    #[error(transparent)]
    Svid(#[from] rampart_identity::SvidError),

    /// The event pipeline could not start (an exporter, the NATS consumer group).
    #[error("event pipeline: {reason}")]
    Events { reason: String },

    /// An access-token signing key could not be generated, loaded or used.
    #[error("oauth signing key: {reason}")]
    Signing { reason: String },

    #[error(transparent)]
    Store(#[from] StoreError),
}
