//! Request builders shared by the integration tests.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use rampart_policy::{Action, Context, Principal, Request, Resource};

pub fn workload(service: &str, segment: &str) -> Principal {
    Principal::Workload {
        spiffe_id: format!("spiffe://rampart.test/ns/default/sa/{service}"),
        service: service.to_string(),
        namespace: String::from("default"),
        segment: segment.to_string(),
    }
}

pub fn service(name: &str, segment: &str, path: &str) -> Resource {
    Resource::Service {
        host: format!("{name}.default.svc"),
        path: path.to_string(),
        segment: segment.to_string(),
        service: name.to_string(),
    }
}

pub fn context() -> Context {
    Context {
        source_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
        mtls: true,
        scopes: vec![String::from("orders:read")],
        time: 1_790_000_000,
    }
}

pub fn request(principal: Principal, action: Action, resource: Resource) -> Request {
    Request {
        principal,
        action,
        resource,
        context: context(),
    }
}
