//! Network-layer export of the segments (docs/policy.md "Network-layer export").
//!
//! - [`kubernetes`]: `NetworkPolicy` manifests (multi-document YAML), generated from typed
//!   structs through serde: a default-deny-ingress policy for the namespace and, per segment
//!   with services, a policy admitting ingress only from the services of segments that have a
//!   flow into it.
//! - [`nftables`]: an `inet rampart` table with one address set per segment and family, and a
//!   `forward` chain (policy drop) accepting established traffic and each flow.
//!
//! Both are deterministic: segments in declared order, services sorted. The network layer
//! cannot see HTTP methods: a flow limited to some actions is exported as a flow for all
//! traffic (Cedar still limits the actions at the proxies).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;

use crate::error::PolicyError;
use crate::segments::Segments;

/// The pod label the Kubernetes export selects services by.
pub const SERVICE_LABEL: &str = "app.kubernetes.io/name";
/// The label naming the segment of an exported `NetworkPolicy`.
pub const SEGMENT_LABEL: &str = "rampart.io/segment";

const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "rampart");

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NetworkPolicy {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: NetworkPolicySpec,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
    namespace: String,
    labels: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NetworkPolicySpec {
    pod_selector: LabelSelector,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ingress: Vec<IngressRule>,
    policy_types: Vec<&'static str>,
}

/// `{}` (everything) when it has no expressions.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct LabelSelector {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    match_expressions: Vec<Requirement>,
}

#[derive(Serialize)]
struct Requirement {
    key: &'static str,
    operator: &'static str,
    values: Vec<String>,
}

#[derive(Serialize)]
struct IngressRule {
    from: Vec<Peer>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Peer {
    namespace_selector: LabelSelector,
    pod_selector: LabelSelector,
}

fn services_selector(services: Vec<String>) -> LabelSelector {
    LabelSelector {
        match_expressions: vec![Requirement {
            key: SERVICE_LABEL,
            operator: "In",
            values: services,
        }],
    }
}

/// Services per segment name, sorted.
fn services_by_segment(segments: &Segments) -> BTreeMap<&str, Vec<String>> {
    let mut out: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // `services` is a BTreeMap: each list comes out sorted.
    for (service, segment) in &segments.services {
        out.entry(segment.as_str())
            .or_default()
            .push(service.clone());
    }
    out
}

/// A Kubernetes object name for a segment (DNS-1123: no `_`).
fn object_name(segment: &str) -> String {
    format!("rampart-segment-{}", segment.replace('_', "-"))
}

/// `NetworkPolicy` manifests for `namespace`, as multi-document YAML: a default-deny-ingress
/// policy, then per segment with services a policy selecting its services' pods
/// (`app.kubernetes.io/name In [...]`) that admits ingress only from pods (in any namespace)
/// of the services of segments with a flow into it. Services must carry that label.
pub fn kubernetes(segments: &Segments, namespace: &str) -> String {
    let by_segment = services_by_segment(segments);
    let labels = |segment: Option<&str>| {
        let mut l = BTreeMap::from([(MANAGED_BY.0, MANAGED_BY.1.to_string())]);
        if let Some(s) = segment {
            l.insert(SEGMENT_LABEL, s.to_string());
        }
        l
    };
    let mut docs = vec![NetworkPolicy {
        api_version: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: Metadata {
            name: String::from("rampart-default-deny-ingress"),
            namespace: namespace.to_string(),
            labels: labels(None),
        },
        spec: NetworkPolicySpec {
            pod_selector: LabelSelector::default(),
            ingress: Vec::new(),
            policy_types: vec!["Ingress"],
        },
    }];
    for segment in &segments.segments {
        let Some(services) = by_segment.get(segment.name.as_str()) else {
            continue;
        };
        let sources: BTreeSet<String> = segments
            .flows
            .iter()
            .filter(|f| f.to == segment.name)
            .filter_map(|f| by_segment.get(f.from.as_str()))
            .flatten()
            .cloned()
            .collect();
        let ingress = if sources.is_empty() {
            Vec::new()
        } else {
            vec![IngressRule {
                from: vec![Peer {
                    namespace_selector: LabelSelector::default(),
                    pod_selector: services_selector(sources.into_iter().collect()),
                }],
            }]
        };
        docs.push(NetworkPolicy {
            api_version: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata: Metadata {
                name: object_name(&segment.name),
                namespace: namespace.to_string(),
                labels: labels(Some(&segment.name)),
            },
            spec: NetworkPolicySpec {
                pod_selector: services_selector(services.clone()),
                ingress,
                policy_types: vec!["Ingress"],
            },
        });
    }
    let mut out = String::from(
        "# Generated by `rampart segments export --format kubernetes` from the segments\n\
         # configuration; do not edit. Pods must carry the app.kubernetes.io/name label.\n",
    );
    for doc in &docs {
        out.push_str("---\n");
        // Cannot fail: plain structs of strings, and maps with string keys.
        out.push_str(&serde_norway::to_string(doc).unwrap_or_default());
    }
    out
}

/// A parsed CIDR, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return None;
        }
        let addr = match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(u32::from(32 - prefix)).unwrap_or(0);
                IpAddr::from((u32::from(a) & mask).to_be_bytes())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(u32::from(128 - prefix)).unwrap_or(0);
                IpAddr::from((u128::from(a) & mask).to_be_bytes())
            }
        };
        Some(Self { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Address ranges of one segment, by family.
#[derive(Default)]
struct Ranges {
    v4: BTreeSet<Cidr>,
    v6: BTreeSet<Cidr>,
}

/// An nftables ruleset (for `nft -f`): table `inet rampart` with sets `seg_<name>_v4` /
/// `seg_<name>_v6` (`flags interval`) of each segment's `cidrs`, and a `forward` chain with
/// policy drop that accepts established/related traffic and, per flow and family,
/// `saddr @seg_<from> daddr @seg_<to>` with a counter. Flows touching a segment without
/// address ranges (or whose ends share no family) are written as comments: they cannot be
/// enforced at this layer. Loading the file replaces any previous `inet rampart` table.
/// Fails on a CIDR that does not parse.
pub fn nftables(segments: &Segments) -> Result<String, PolicyError> {
    segments.check()?;
    let mut ranges: BTreeMap<&str, Ranges> = BTreeMap::new();
    for segment in &segments.segments {
        let entry = ranges.entry(segment.name.as_str()).or_default();
        for text in &segment.cidrs {
            let cidr = Cidr::parse(text).ok_or_else(|| {
                PolicyError::Segments(format!("segment {:?}: invalid CIDR {text:?}", segment.name))
            })?;
            match cidr.addr {
                IpAddr::V4(_) => entry.v4.insert(cidr),
                IpAddr::V6(_) => entry.v6.insert(cidr),
            };
        }
    }

    let mut out = String::from(
        "#!/usr/sbin/nft -f\n\
         # Generated by `rampart segments export --format nftables` from the segments\n\
         # configuration; do not edit. HTTP methods of flows are enforced by the proxies only.\n\
         table inet rampart\n\
         delete table inet rampart\n\
         table inet rampart {\n",
    );
    for segment in &segments.segments {
        let Some(r) = ranges.get(segment.name.as_str()) else {
            continue;
        };
        for (family, kind, set) in [("v4", "ipv4_addr", &r.v4), ("v6", "ipv6_addr", &r.v6)] {
            if set.is_empty() {
                continue;
            }
            let elements: Vec<String> = set.iter().map(Cidr::to_string).collect();
            let _ = write!(
                out,
                "\tset seg_{name}_{family} {{\n\t\ttype {kind}\n\t\tflags interval\n\t\tauto-merge\n\t\telements = {{ {elements} }}\n\t}}\n",
                name = segment.name,
                elements = elements.join(", "),
            );
        }
    }
    out.push_str(
        "\tchain forward {\n\
         \t\ttype filter hook forward priority 0; policy drop;\n\
         \t\tct state established,related accept\n",
    );
    let empty = Ranges::default();
    for flow in &segments.flows {
        let (from, to) = (flow.from.as_str(), flow.to.as_str());
        let src = ranges.get(from).unwrap_or(&empty);
        let dst = ranges.get(to).unwrap_or(&empty);
        let mut rules = 0;
        for (family, proto, s, d) in [
            ("v4", "ip", &src.v4, &dst.v4),
            ("v6", "ip6", &src.v6, &dst.v6),
        ] {
            if s.is_empty() || d.is_empty() {
                continue;
            }
            rules += 1;
            let _ = writeln!(
                out,
                "\t\t{proto} saddr @seg_{from}_{family} {proto} daddr @seg_{to}_{family} counter accept comment \"flow {from} -> {to}\""
            );
        }
        if rules == 0 {
            let why = match (
                src.v4.is_empty() && src.v6.is_empty(),
                dst.v4.is_empty() && dst.v6.is_empty(),
            ) {
                (true, true) => format!("segments {from:?} and {to:?} have no cidrs"),
                (true, false) => format!("segment {from:?} has no cidrs"),
                (false, true) => format!("segment {to:?} has no cidrs"),
                (false, false) => String::from("the segments share no address family"),
            };
            let _ = writeln!(
                out,
                "\t\t# flow {from} -> {to} not enforced at this layer: {why}"
            );
        }
    }
    out.push_str("\t}\n}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::segments::{Flow, Segment};

    fn sample() -> Segments {
        let seg = |name: &str, cidrs: &[&str]| Segment {
            name: name.to_string(),
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
        };
        let flow = |from: &str, to: &str| Flow {
            from: from.to_string(),
            to: to.to_string(),
            actions: None,
        };
        Segments {
            segments: vec![
                seg("edge", &["10.0.0.0/24", "fd00:0:0:1::/64"]),
                seg("app", &["10.0.1.7/24"]),
                seg("data", &[]),
                seg("unused", &[]),
            ],
            services: [
                ("gateway", "edge"),
                ("orders", "app"),
                ("billing", "app"),
                ("db", "data"),
            ]
            .into_iter()
            .map(|(s, g)| (s.to_string(), g.to_string()))
            .collect(),
            flows: vec![
                flow("edge", "app"),
                flow("app", "data"),
                flow("edge", "edge"),
            ],
        }
    }

    fn docs(yaml: &str) -> Vec<serde_json::Value> {
        yaml.split("\n---\n")
            .skip(1)
            .map(|d| serde_norway::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn kubernetes_has_default_deny_and_one_policy_per_segment_with_services() {
        let yaml = kubernetes(&sample(), "shop");
        assert!(yaml.starts_with("# Generated by"));
        let docs = docs(&yaml);
        let names: Vec<&str> = docs
            .iter()
            .map(|d| d["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "rampart-default-deny-ingress",
                "rampart-segment-edge",
                "rampart-segment-app",
                "rampart-segment-data"
            ]
        );
        for d in &docs {
            assert_eq!(d["kind"], "NetworkPolicy");
            assert_eq!(d["metadata"]["namespace"], "shop");
            assert_eq!(d["spec"]["policyTypes"], serde_json::json!(["Ingress"]));
        }
        assert_eq!(docs[0]["spec"]["podSelector"], serde_json::json!({}));
        assert!(docs[0]["spec"].get("ingress").is_none());

        let app = &docs[2];
        assert_eq!(app["metadata"]["labels"][SEGMENT_LABEL], "app");
        assert_eq!(
            app["spec"]["podSelector"]["matchExpressions"][0],
            serde_json::json!({"key": SERVICE_LABEL, "operator": "In", "values": ["billing", "orders"]})
        );
        let peer = &app["spec"]["ingress"][0]["from"][0];
        assert_eq!(peer["namespaceSelector"], serde_json::json!({}));
        assert_eq!(
            peer["podSelector"]["matchExpressions"][0]["values"],
            serde_json::json!(["gateway"])
        );
        // data admits app's services only.
        assert_eq!(
            docs[3]["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"],
            serde_json::json!(["billing", "orders"])
        );
    }

    #[test]
    fn kubernetes_segment_without_inbound_flow_admits_nothing() {
        let mut s = sample();
        s.flows.retain(|f| f.to != "app");
        let docs = docs(&kubernetes(&s, "shop"));
        assert!(docs[2]["spec"].get("ingress").is_none());
    }

    #[test]
    fn exports_are_deterministic() {
        assert_eq!(kubernetes(&sample(), "a"), kubernetes(&sample(), "a"));
        assert_eq!(nftables(&sample()).unwrap(), nftables(&sample()).unwrap());
    }

    #[test]
    fn nftables_has_sets_per_family_and_flow_rules() {
        let text = nftables(&sample()).unwrap();
        assert!(text.contains("table inet rampart {"));
        assert!(text.contains(
            "set seg_edge_v4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n\t\telements = { 10.0.0.0/24 }"
        ));
        assert!(text.contains("set seg_edge_v6 {\n\t\ttype ipv6_addr"));
        assert!(text.contains("elements = { fd00:0:0:1::/64 }"));
        // Host bits cleared.
        assert!(text.contains("elements = { 10.0.1.0/24 }"));
        assert!(!text.contains("seg_app_v6"));
        assert!(!text.contains("seg_data_"));
        assert!(text.contains("type filter hook forward priority 0; policy drop;"));
        assert!(text.contains("ct state established,related accept"));
        assert!(text.contains(
            "ip saddr @seg_edge_v4 ip daddr @seg_app_v4 counter accept comment \"flow edge -> app\""
        ));
        assert!(text.contains("ip6 saddr @seg_edge_v6 ip6 daddr @seg_edge_v6 counter accept"));
        assert!(!text.contains("ip6 saddr @seg_edge_v6 ip6 daddr @seg_app_v6"));
        assert!(text.contains(
            "# flow app -> data not enforced at this layer: segment \"data\" has no cidrs"
        ));
        // Established traffic is accepted before any flow rule.
        let est = text.find("ct state").unwrap();
        let first_rule = text.find("saddr").unwrap();
        assert!(est < first_rule);
    }

    #[test]
    fn nftables_rejects_invalid_cidrs() {
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "nope",
            "10.0.0.0/x",
        ] {
            let mut s = sample();
            s.segments[1].cidrs = vec![bad.to_string()];
            let err = nftables(&s).unwrap_err().to_string();
            assert!(
                err.contains("invalid CIDR") && err.contains(bad),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn cidr_parsing_normalises() {
        assert_eq!(Cidr::parse("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(Cidr::parse("10.1.2.3/0").unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(Cidr::parse("fd00::1/16").unwrap().to_string(), "fd00::/16");
        assert_eq!(Cidr::parse("::1").unwrap().to_string(), "::1/128");
    }
}
