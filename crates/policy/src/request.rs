//! Authorization requests as plain Rust values.

use std::net::IpAddr;
use std::str::FromStr;

use crate::index::PRINCIPAL_TYPES;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A mesh peer authenticated by its SVID (`spiffe://<td>/ns/<ns>/sa/<service>`).
    Workload {
        /// The full SPIFFE id (the entity id).
        spiffe_id: String,
        /// Service name (the `sa` part).
        service: String,
        /// Namespace (the `ns` part).
        namespace: String,
        /// The segment the service is assigned to.
        segment: String,
    },
    /// An OAuth2 client from a verified token.
    Client {
        /// The client id (the entity id).
        client_id: String,
        /// Granted scopes.
        scopes: Vec<String>,
    },
    /// An end user from a verified token.
    User {
        /// The `sub` claim (the entity id).
        sub: String,
        /// Group memberships from the token.
        groups: Vec<String>,
    },
    /// A caller with neither a mesh identity nor a verified token
    /// (`Rampart::Anonymous::"anonymous"`, no attributes).
    Anonymous,
}

/// The entity id of every anonymous principal.
pub const ANONYMOUS_ID: &str = "anonymous";

impl Principal {
    /// The entity id.
    pub fn id(&self) -> &str {
        match self {
            Self::Workload { spiffe_id, .. } => spiffe_id,
            Self::Client { client_id, .. } => client_id,
            Self::User { sub, .. } => sub,
            Self::Anonymous => ANONYMOUS_ID,
        }
    }

    /// Short text for reports (the dry-run report's `from`): a workload's service name,
    /// `client:<id>`, `user:<sub>` or `anonymous`.
    pub fn label(&self) -> String {
        match self {
            Self::Workload { service, .. } => service.clone(),
            Self::Client { client_id, .. } => format!("client:{client_id}"),
            Self::User { sub, .. } => format!("user:{sub}"),
            Self::Anonymous => String::from(ANONYMOUS_ID),
        }
    }

    /// The Cedar entity uid as Cedar prints it (id escaped by Cedar), e.g.
    /// `Rampart::Workload::"spiffe://td/ns/default/sa/orders"`; for access events.
    pub fn cedar_uid(&self) -> String {
        let type_name = PRINCIPAL_TYPES
            .get(self.kind())
            .copied()
            .unwrap_or_default();
        match cedar_policy::EntityTypeName::from_str(type_name) {
            Ok(t) => cedar_policy::EntityUid::from_type_name_and_id(
                t,
                cedar_policy::EntityId::new(self.id()),
            )
            .to_string(),
            // Unreachable: the type names are constants of the schema.
            Err(_) => format!("{type_name}::{:?}", self.id()),
        }
    }

    /// The segment, for workloads.
    pub fn segment(&self) -> Option<&str> {
        match self {
            Self::Workload { segment, .. } => Some(segment),
            _ => None,
        }
    }

    pub(crate) fn kind(&self) -> usize {
        match self {
            Self::Workload { .. } => 0,
            Self::Client { .. } => 1,
            Self::User { .. } => 2,
            Self::Anonymous => 3,
        }
    }
}

/// What is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A gateway route. `path` must be the normalised path (`path::normalize` in the proxy).
    Route {
        /// Request host.
        host: String,
        /// Normalised request path.
        path: String,
        /// Segment of the target service.
        segment: String,
        /// Target service.
        service: String,
    },
    /// A mesh service behind its sidecar. `path` must be the normalised path.
    Service {
        /// Request host.
        host: String,
        /// Normalised request path.
        path: String,
        /// Segment of the service.
        segment: String,
        /// Service name (the entity id).
        service: String,
    },
    /// A secret by path (the entity id).
    Secret {
        /// Secret path.
        path: String,
    },
}

impl Resource {
    /// The segment, for routes and services.
    pub fn segment(&self) -> Option<&str> {
        match self {
            Self::Route { segment, .. } | Self::Service { segment, .. } => Some(segment),
            Self::Secret { .. } => None,
        }
    }

    pub(crate) fn kind(&self) -> usize {
        match self {
            Self::Route { .. } => 0,
            Self::Service { .. } => 1,
            Self::Secret { .. } => 2,
        }
    }
}

/// The actions of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// HTTP GET.
    Get,
    /// HTTP HEAD.
    Head,
    /// HTTP POST.
    Post,
    /// HTTP PUT.
    Put,
    /// HTTP PATCH.
    Patch,
    /// HTTP DELETE.
    Delete,
    /// HTTP OPTIONS.
    Options,
    /// Read a secret.
    ReadSecret,
    /// Write a secret.
    WriteSecret,
    /// Administrative operations.
    Admin,
}

impl Action {
    /// Every action, in index order.
    pub const ALL: [Action; 10] = [
        Self::Get,
        Self::Head,
        Self::Post,
        Self::Put,
        Self::Patch,
        Self::Delete,
        Self::Options,
        Self::ReadSecret,
        Self::WriteSecret,
        Self::Admin,
    ];

    /// The Cedar action id (`Rampart::Action::"<name>"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
            Self::ReadSecret => "read_secret",
            Self::WriteSecret => "write_secret",
            Self::Admin => "admin",
        }
    }

    /// Parses a Cedar action name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Maps an HTTP method; unknown methods have no action (deny them).
    pub fn from_method(method: &str) -> Option<Self> {
        match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => {
                Self::from_name(method)
            }
            _ => None,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether the schema lets this action apply to a resource kind.
    pub(crate) fn applies_to(self, resource: &Resource) -> bool {
        match self {
            Self::ReadSecret | Self::WriteSecret => matches!(resource, Resource::Secret { .. }),
            Self::Admin => true,
            _ => !matches!(resource, Resource::Secret { .. }),
        }
    }
}

/// Request context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Peer address.
    pub source_ip: IpAddr,
    /// Whether the call arrived over mutual TLS.
    pub mtls: bool,
    /// Token scopes (empty without a token).
    pub scopes: Vec<String>,
    /// Request time, unix seconds.
    pub time: i64,
}

/// One authorization question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Who.
    pub principal: Principal,
    /// Does what.
    pub action: Action,
    /// To what.
    pub resource: Resource,
    /// In which context.
    pub context: Context,
}
