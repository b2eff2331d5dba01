//! The JSON types of the mesh routes (`/v1/mesh/*`, authenticated by the caller's SVID over
//! mTLS) and of the identity admin routes (revoke, list SVIDs, CA generations and rollover).
//!
//! Serial numbers are lowercase hex of the certificate's serial bytes without leading zero
//! bytes (`rampart_identity::serial_hex`), everywhere.

use serde::{Deserialize, Serialize};

use super::DEFAULT_NAMESPACE;

/// `POST /v1/mesh/register`: a sidecar announcing (and, re-sent every `ttl / 3`, keeping) one
/// instance of the workload named by its client certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterWorkload {
    /// Unique per identity (e.g. a host or pod name): 1 to 128 letters, digits and `._:@-`.
    pub instance: String,
    /// `host:port` of the instance's inbound mTLS listener, as other sidecars reach it (not an
    /// unspecified address such as `0.0.0.0`).
    pub address: String,
}

/// The answer to [`RegisterWorkload`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterAck {
    /// An instance not heard from within this many seconds leaves the registry; re-register
    /// every third of it.
    pub ttl_secs: u64,
}

/// `POST /v1/mesh/deregister`: the instance leaves the registry at once (`204`; `404` when it
/// was not registered).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeregisterWorkload {
    pub instance: String,
}

/// What every member of the mesh needs to know, as `GET /v1/mesh/watch` streams it (one JSON
/// object per line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshSnapshot {
    /// Grows by one on every change (and across control-plane restarts, as it starts from
    /// the start time in milliseconds); a snapshot with a lower version is older.
    pub version: u64,
    pub trust_domain: String,
    /// The trusted roots (PEM), all of them during a CA rollover.
    pub bundle_pem: Vec<String>,
    /// Serials of revoked SVIDs that have not expired, ascending.
    pub revoked_serials: Vec<String>,
    /// Every service with at least one live instance, by namespace then service.
    pub services: Vec<MeshService>,
    /// The authorization policy every proxy runs (enforced and dry-run sets); the default
    /// (no set) means authorization is off. Absent in snapshots of older control planes.
    #[serde(default)]
    pub policy: rampart_policy::Distribution,
}

/// One service of the mesh and its live instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshService {
    pub service: String,
    pub namespace: String,
    /// `spiffe://<trust domain>/ns/<namespace>/sa/<service>`: the identity a client must
    /// expect from the service's sidecars.
    pub spiffe_id: String,
    /// By instance.
    pub endpoints: Vec<MeshEndpoint>,
}

/// One live instance of a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshEndpoint {
    pub instance: String,
    /// `host:port` of its inbound mTLS listener.
    pub address: String,
}

/// `POST /v1/identity/revoke`: revoke every live SVID of a service, or one SVID by serial.
///
/// On the wire: `{ "service": "orders", "namespace": "shop" }` (namespace defaults to
/// `default`) or `{ "serial": "4f0a…" }`, nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RevokeBody", into = "RevokeBody")]
pub enum RevokeRequest {
    /// Every unexpired, unrevoked SVID of `spiffe://<td>/ns/<namespace>/sa/<service>`.
    Service { service: String, namespace: String },
    /// The SVID with this serial (hex, any case).
    Serial { serial: String },
}

/// The answer to [`RevokeRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// The serials revoked by this request (already revoked ones are not repeated); they are
    /// in the mesh snapshot's `revoked_serials` until they expire.
    pub revoked: Vec<String>,
}

/// `GET /v1/identity/svids?service=&namespace=&limit=`: issued SVIDs, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvidList {
    pub svids: Vec<SvidInfo>,
}

/// One issued SVID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvidInfo {
    pub spiffe_id: String,
    pub serial: String,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
    /// `join` (a join token), `renew` (over mTLS) or `local` (in-process, the control plane's
    /// own gateway).
    pub how: String,
    /// For a renewal, the serial of the SVID it replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_from: Option<String>,
    /// The hex SHA-256 of the signing CA's certificate.
    pub ca_fingerprint: String,
    pub revoked: bool,
}

/// `GET /v1/identity/ca` and the answer to [`CaRollover`]: the CA generations, by number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaStatus {
    pub generations: Vec<CaGeneration>,
}

/// One generation of the workload CA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaGeneration {
    pub generation: u32,
    /// The hex SHA-256 of its certificate (DER).
    pub fingerprint: String,
    pub not_after_ms: i64,
    /// Whether it signs new SVIDs (exactly one generation does).
    pub active: bool,
    /// Whether its root is in the trust bundle.
    pub trusted: bool,
}

/// `POST /v1/identity/ca/rollover`: one step of a CA rollover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaRollover {
    pub step: RolloverStep,
    /// For `retire`: retire even while unexpired, unrevoked SVIDs of the retiring
    /// generations exist (their holders can no longer be verified).
    #[serde(default)]
    pub force: bool,
}

/// The steps of a CA rollover, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloverStep {
    /// Creates the next generation and adds its root to the bundle: both are trusted.
    Prepare,
    /// The newest prepared generation signs every SVID from now on.
    Activate,
    /// Removes every generation but the active one from the bundle.
    Retire,
}

/// The wire shape of [`RevokeRequest`], so that a malformed request gets a clear message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    serial: Option<String>,
}

/// The longest instance name.
const MAX_INSTANCE: usize = 128;
/// The longest host name in an address.
const MAX_HOST: usize = 253;

// === impl RegisterWorkload ===

impl RegisterWorkload {
    /// Checks what serde cannot: the instance's syntax and that the address is a reachable
    /// `host:port`.
    pub fn check(&self) -> Result<(), String> {
        check_instance(&self.instance)?;
        check_address(&self.address)
    }
}

// === impl DeregisterWorkload ===

impl DeregisterWorkload {
    /// Checks the instance's syntax.
    pub fn check(&self) -> Result<(), String> {
        check_instance(&self.instance)
    }
}

// === impl RevokeRequest ===

impl RevokeRequest {
    /// Every live SVID of `service` in `namespace`.
    pub fn service(service: &str, namespace: &str) -> Self {
        Self::Service {
            service: service.to_owned(),
            namespace: namespace.to_owned(),
        }
    }

    /// The SVID with `serial`.
    pub fn serial(serial: &str) -> Self {
        Self::Serial {
            serial: serial.to_owned(),
        }
    }
}

impl TryFrom<RevokeBody> for RevokeRequest {
    type Error = String;

    fn try_from(body: RevokeBody) -> Result<Self, Self::Error> {
        match body {
            RevokeBody {
                service: Some(service),
                namespace,
                serial: None,
            } => Ok(Self::Service {
                service,
                namespace: namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            }),
            RevokeBody {
                service: None,
                namespace: None,
                serial: Some(serial),
            } => Ok(Self::Serial { serial }),
            RevokeBody {
                service: Some(_),
                serial: Some(_),
                ..
            } => Err("give either `service` (and `namespace`) or `serial`, not both".to_owned()),
            RevokeBody {
                service: None,
                namespace: Some(_),
                ..
            } => Err("`namespace` needs `service`".to_owned()),
            RevokeBody { .. } => Err("missing `service` or `serial`".to_owned()),
        }
    }
}

impl From<RevokeRequest> for RevokeBody {
    fn from(request: RevokeRequest) -> Self {
        match request {
            RevokeRequest::Service { service, namespace } => Self {
                service: Some(service),
                namespace: Some(namespace),
                serial: None,
            },
            RevokeRequest::Serial { serial } => Self {
                serial: Some(serial),
                ..Self::default()
            },
        }
    }
}

// === impl RolloverStep ===

impl RolloverStep {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloverStep::Prepare => "prepare",
            RolloverStep::Activate => "activate",
            RolloverStep::Retire => "retire",
        }
    }
}

// === helpers ===

fn check_instance(instance: &str) -> Result<(), String> {
    if instance.is_empty() || instance.len() > MAX_INSTANCE {
        return Err(format!(
            "`instance` must have 1 to {MAX_INSTANCE} characters"
        ));
    }
    if !instance
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._:@-".contains(&b))
    {
        return Err("`instance` may hold only letters, digits and `._:@-`".to_owned());
    }
    Ok(())
}

/// `host:port` with a DNS name, an IPv4 address or a bracketed IPv6 address, a port other
/// than 0, and not an unspecified address (which no peer can reach).
fn check_address(address: &str) -> Result<(), String> {
    let invalid = |why: &str| Err(format!("`address` `{address}` {why}"));
    let Some((host, port)) = address.rsplit_once(':') else {
        return invalid("is not `host:port`");
    };
    match port.parse::<u16>() {
        Ok(0) | Err(_) => return invalid("needs a port from 1 to 65535"),
        Ok(_) => {}
    }
    let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => match v6.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => Some(std::net::IpAddr::V6(ip)),
            Err(_) => return invalid("has an invalid IPv6 address"),
        },
        None => host
            .parse::<std::net::Ipv4Addr>()
            .ok()
            .map(std::net::IpAddr::V4),
    };
    match ip {
        Some(ip) if ip.is_unspecified() => {
            invalid("is unspecified: give the address other sidecars reach this one at")
        }
        Some(_) => Ok(()),
        None if is_dns_name(host) => Ok(()),
        None => invalid("has neither an IP address nor a valid host name"),
    }
}

fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= MAX_HOST
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_need_an_instance_name_and_a_reachable_address() {
        let register = |instance: &str, address: &str| RegisterWorkload {
            instance: instance.to_owned(),
            address: address.to_owned(),
        };
        for address in [
            "10.0.0.1:15006",
            "[fd00::1]:15006",
            "orders-0.orders.shop.svc:15006",
            "localhost:1",
        ] {
            assert_eq!(register("pod-1", address).check(), Ok(()), "{address}");
        }
        for (instance, address, why) in [
            ("", "10.0.0.1:1", "1 to 128"),
            ("a b", "10.0.0.1:1", "only letters"),
            ("a", "10.0.0.1", "host:port"),
            ("a", "10.0.0.1:0", "port"),
            ("a", "10.0.0.1:99999", "port"),
            ("a", "0.0.0.0:15006", "unspecified"),
            ("a", "[::]:15006", "unspecified"),
            ("a", "[nope]:1", "IPv6"),
            ("a", "bad_host:1", "host name"),
            ("a", "user@host:1", "host name"),
            ("a", ":1", "host name"),
        ] {
            let error = register(instance, address).check().unwrap_err();
            assert!(error.contains(why), "{instance} {address}: {error}");
        }
    }

    #[test]
    fn revoke_requests_read_one_shape_or_say_why_not() {
        let read = |json: &str| serde_json::from_str::<RevokeRequest>(json);
        assert_eq!(
            read(r#"{"service":"orders"}"#).unwrap(),
            RevokeRequest::service("orders", "default")
        );
        assert_eq!(
            read(r#"{"service":"orders","namespace":"shop"}"#).unwrap(),
            RevokeRequest::service("orders", "shop")
        );
        assert_eq!(
            read(r#"{"serial":"0a"}"#).unwrap(),
            RevokeRequest::serial("0a")
        );
        for (json, why) in [
            (r#"{}"#, "missing `service` or `serial`"),
            (r#"{"service":"a","serial":"0a"}"#, "not both"),
            (r#"{"namespace":"shop"}"#, "`namespace` needs `service`"),
            (r#"{"serial":"0a","extra":1}"#, "unknown field `extra`"),
        ] {
            let error = read(json).unwrap_err().to_string();
            assert!(error.contains(why), "{json}: {error}");
        }
        for request in [
            RevokeRequest::service("orders", "shop"),
            RevokeRequest::serial("0a"),
        ] {
            let json = serde_json::to_string(&request).unwrap();
            assert_eq!(read(&json).unwrap(), request);
        }
    }

    #[test]
    fn rollover_steps_are_snake_case_and_force_defaults_to_false() {
        let rollover: CaRollover = serde_json::from_str(r#"{"step":"prepare"}"#).unwrap();
        assert_eq!(rollover.step, RolloverStep::Prepare);
        assert!(!rollover.force);
        assert!(serde_json::from_str::<CaRollover>(r#"{"step":"later"}"#).is_err());
        assert!(serde_json::from_str::<CaRollover>(r#"{"step":"retire","x":1}"#).is_err());
    }
}
