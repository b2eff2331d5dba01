//! Errors of the data plane's setup (never of a single request: those become responses).

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on `{addr}`")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("listener `{listener}`")]
    Tls {
        listener: String,
        #[source]
        source: rampart_identity::IdentityError,
    },
    #[error("listener `{0}` has TLS without certificates, and no local CA was given to issue one")]
    NoCertificate(String),
    /// A mesh listener or cluster on a gateway started without [`crate::MeshContext`].
    #[error("{0} needs a mesh identity, but the gateway was started without one")]
    NoMesh(String),
    /// The mesh listeners' TLS configuration could not be built.
    #[error("cannot build the mesh TLS configuration")]
    MeshTls(#[source] rampart_identity::IdentityError),
    /// A mesh cluster's TLS configuration could not be built.
    #[error("cluster `{cluster}`: cannot build its mesh TLS configuration")]
    MeshCluster {
        cluster: String,
        #[source]
        source: rampart_identity::IdentityError,
    },
    #[error("cannot open the access log `{path}`")]
    AccessLog {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
