//! What a mesh cluster is built from: the TLS generation, the SPIFFE id its sidecars must
//! present and their addresses (from the configuration, or else from the mesh directory).
//! A mesh cluster is rebuilt when any of these changes.

use super::{MeshConnector, MeshRt};
use crate::error::ProxyError;
use rampart_config::Cluster;
use rampart_core::spiffe::SpiffeId;
use std::sync::Arc;

/// The mesh side of a mesh cluster, resolved when the snapshot is compiled.
#[derive(Debug, Clone)]
pub struct MeshBinding {
    mesh: Arc<MeshRt>,
    /// The TLS generation the cluster's connectors belong to.
    pub generation: u64,
    /// The SPIFFE id every endpoint must present.
    pub expected: SpiffeId,
    /// `host:port` of each sidecar.
    pub endpoints: Vec<String>,
    /// Whether `endpoints` came from the directory (then a bad one is skipped, not fatal).
    pub from_directory: bool,
}

// === impl MeshBinding ===

impl MeshBinding {
    /// The binding of `cluster`, or `None` for a cluster outside the mesh. A mesh cluster on a
    /// gateway without mesh identity is an error.
    pub fn resolve(
        cluster: &Cluster,
        mesh: Option<&Arc<MeshRt>>,
    ) -> Result<Option<Self>, ProxyError> {
        let Some(target) = &cluster.mesh else {
            return Ok(None);
        };
        let mesh = mesh.ok_or_else(|| ProxyError::NoMesh(format!("cluster `{}`", cluster.name)))?;
        let expected = mesh.expected_id(&cluster.name, target)?;
        let from_directory = cluster.endpoints.is_empty();
        let endpoints = match from_directory {
            true => mesh.directory_endpoints(target),
            false => cluster.endpoints.clone(),
        };
        Ok(Some(Self {
            mesh: mesh.clone(),
            generation: mesh.generation(),
            expected,
            endpoints,
            from_directory,
        }))
    }

    /// A connector to the sidecar at `authority`, with a TLS configuration of its own.
    pub fn connector(&self, cluster: &str, authority: &str) -> Result<MeshConnector, ProxyError> {
        MeshConnector::new(self.mesh.clone(), authority, self.expected.clone()).map_err(|source| {
            ProxyError::MeshCluster {
                cluster: cluster.to_owned(),
                source,
            }
        })
    }
}

impl PartialEq for MeshBinding {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.mesh, &other.mesh)
            && self.generation == other.generation
            && self.expected == other.expected
            && self.endpoints == other.endpoints
    }
}
