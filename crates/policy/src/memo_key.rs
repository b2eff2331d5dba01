//! Memo keys: what of a request a decision can depend on, given the compiled set.
//!
//! [`PolicyEngine::abstraction`](crate::PolicyEngine::abstraction) tells, for one request,
//! which inputs the policies of its slice read: the path either whole or only through the
//! truth of the slice's `like` / `==` tests, and whether host, source address, mTLS flag,
//! scopes and time are read at all. [`MemoKey`] is that abstraction plus the inputs every key
//! holds (principal, action, resource kind, service and segment). Two requests with equal keys
//! get equal decisions (allowed, determining policies and errors): Cedar evaluates the same
//! slice, every expression reads equal values except the path, and every use of the path is a
//! test whose truth is in the key.

use std::net::IpAddr;

use crate::request::{Action, Principal, Request, Resource};

/// How a decision depends on the resource's path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathClass {
    /// Through the whole path (some policy uses it other than in `like` / `==` tests, or the
    /// resource is a secret, whose path is its uid).
    Whole,
    /// Only through the truth of the slice's path tests: for each bucket evaluated, its
    /// number, then its tests' outcomes as bits (64 a word).
    Tests(Vec<u64>),
}

/// Which inputs, beyond principal, action, resource kind, service and segment, the decision
/// of one request depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Abstraction {
    /// The path: whole, or through its tests.
    pub path: PathClass,
    /// `resource.host` is read.
    pub host: bool,
    /// `context.source_ip` is read.
    pub source_ip: bool,
    /// `context.mtls` is read.
    pub mtls: bool,
    /// `context.scopes` is read.
    pub scopes: bool,
    /// `context.time` is read.
    pub time: bool,
}

impl Abstraction {
    /// Depends on every input (e.g. a request that is decided without the engine).
    pub fn everything() -> Self {
        Self {
            path: PathClass::Whole,
            host: true,
            source_ip: true,
            mtls: true,
            scopes: true,
            time: true,
        }
    }

    /// Whether the path is needed whole.
    pub fn path_whole(&self) -> bool {
        self.path == PathClass::Whole
    }
}

/// A request reduced to what its decision depends on; equal keys, equal decisions. Borrows
/// from the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoKey<'a> {
    principal: &'a Principal,
    action: Action,
    resource_kind: usize,
    service: Option<&'a str>,
    segment: Option<&'a str>,
    host: Option<&'a str>,
    path: Option<&'a str>,
    abstraction: Abstraction,
    source_ip: Option<IpAddr>,
    mtls: Option<bool>,
    scopes: Option<&'a [String]>,
    time: Option<i64>,
}

impl<'a> MemoKey<'a> {
    /// The key of `request` under `abstraction` (the engine's, for this request).
    pub(crate) fn new(request: &'a Request, abstraction: Abstraction) -> Self {
        let (host, path, service) = match &request.resource {
            Resource::Route {
                host,
                path,
                service,
                ..
            }
            | Resource::Service {
                host,
                path,
                service,
                ..
            } => (Some(host.as_str()), path.as_str(), Some(service.as_str())),
            Resource::Secret { path } => (None, path.as_str(), None),
        };
        let ctx = &request.context;
        Self {
            principal: &request.principal,
            action: request.action,
            resource_kind: request.resource.kind(),
            service,
            segment: request.resource.segment(),
            host: host.filter(|_| abstraction.host),
            path: abstraction.path_whole().then_some(path),
            source_ip: abstraction.source_ip.then_some(ctx.source_ip),
            mtls: abstraction.mtls.then_some(ctx.mtls),
            scopes: abstraction.scopes.then_some(ctx.scopes.as_slice()),
            time: abstraction.time.then_some(ctx.time),
            abstraction,
        }
    }

    /// The abstraction the key was made with.
    pub fn abstraction(&self) -> &Abstraction {
        &self.abstraction
    }
}
