//! The mesh directory: where each service's sidecars listen, as the control plane's snapshot
//! says. Mesh clusters that list no endpoints take theirs from here when the gateway compiles
//! its snapshot (at start, reload and [`mesh_changed`](crate::GatewayHandle::mesh_changed)).

use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::Arc;

/// `(namespace, service)` → the `host:port` inbound addresses of its sidecars.
type Map = HashMap<(String, String), Vec<String>>;

/// A shared, cheap-to-clone map from `(namespace, service)` to the inbound addresses
/// (`host:port`) of the service's sidecars. Clones share the same map; readers never block.
#[derive(Debug, Clone, Default)]
pub struct MeshDirectory {
    map: Arc<ArcSwap<Map>>,
}

// === impl MeshDirectory ===

impl MeshDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the sidecars of `service` in `namespace` (an empty list removes the service).
    /// Addresses are kept sorted and without duplicates.
    pub fn set(&self, namespace: &str, service: &str, endpoints: Vec<String>) {
        let endpoints = normalise(endpoints);
        let key = (namespace.to_owned(), service.to_owned());
        self.map.rcu(|current| {
            let mut next = Map::clone(current);
            if endpoints.is_empty() {
                next.remove(&key);
            } else {
                next.insert(key.clone(), endpoints.clone());
            }
            next
        });
    }

    /// Replaces the whole directory at once: services missing from `services` are removed.
    pub fn replace(&self, services: impl IntoIterator<Item = ((String, String), Vec<String>)>) {
        let next: Map = services
            .into_iter()
            .map(|(k, v)| (k, normalise(v)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        self.map.store(Arc::new(next));
    }

    /// The sidecars of `service` in `namespace`; empty when none is known.
    pub fn get(&self, namespace: &str, service: &str) -> Vec<String> {
        self.map
            .load()
            .get(&(namespace.to_owned(), service.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}

fn normalise(mut endpoints: Vec<String>) -> Vec<String> {
    endpoints.sort();
    endpoints.dedup();
    endpoints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_map() {
        let d = MeshDirectory::new();
        let other = d.clone();
        other.set(
            "default",
            "orders",
            vec![
                "10.0.0.2:15006".into(),
                "10.0.0.1:15006".into(),
                "10.0.0.2:15006".into(),
            ],
        );
        assert_eq!(
            d.get("default", "orders"),
            ["10.0.0.1:15006", "10.0.0.2:15006"]
        );
        assert!(d.get("shop", "orders").is_empty());
        d.set("default", "orders", Vec::new());
        assert!(other.get("default", "orders").is_empty());
        d.set("default", "a", vec!["a:1".into()]);
        d.replace([(("default".into(), "b".into()), vec!["b:1".into()])]);
        assert!(other.get("default", "a").is_empty());
        assert_eq!(other.get("default", "b"), ["b:1"]);
    }
}
