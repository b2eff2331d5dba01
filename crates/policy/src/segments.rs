//! Network segments and allowed flows, compiled into Cedar permit policies.
//!
//! Each flow `from -> to` becomes one policy with id `segment-flow:<from>-><to>`:
//! `permit(principal is Rampart::Workload, action, resource is Rampart::Service)
//!  when { principal.segment == "<from>" && resource.segment == "<to>" };`
//! (with `action in [...]` when the flow lists actions). Anything else is denied by default.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::PolicyError;
use crate::policies::Policies;
use crate::request::Action;

/// The synthetic file name of compiled segment policies.
pub const SEGMENTS_FILE: &str = "<segments>";

/// A named network segment (e.g. `edge`, `app`, `data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Segment name: lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// Address ranges the segment's workloads run in (CIDR text), for the network-layer
    /// export (`rampart segments export --format nftables`); not used by Cedar decisions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<String>,
}

/// An allowed flow from workloads of one segment to services of another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// Calling segment.
    pub from: String,
    /// Called segment.
    pub to: String,
    /// Allowed actions (Cedar action names such as `GET`); all actions when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
}

/// The segments configuration: segments, service assignment and allowed flows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segments {
    /// Declared segments.
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// Service name → segment name.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
    /// Allowed flows.
    #[serde(default)]
    pub flows: Vec<Flow>,
}

impl Segments {
    /// The segment a service is assigned to.
    pub fn segment_of(&self, service: &str) -> Option<&str> {
        self.services.get(service).map(String::as_str)
    }

    /// Checks names and references: segments unique and well-formed, services and flows
    /// refer to declared segments, flow actions exist.
    pub fn check(&self) -> Result<(), PolicyError> {
        let mut names = BTreeSet::new();
        for s in &self.segments {
            if !valid_name(&s.name) {
                return Err(PolicyError::Segments(format!(
                    "segment name {:?} must be non-empty lowercase letters, digits, '-' or '_'",
                    s.name
                )));
            }
            if !names.insert(s.name.as_str()) {
                return Err(PolicyError::Segments(format!(
                    "segment {:?} declared twice",
                    s.name
                )));
            }
        }
        for (service, segment) in &self.services {
            if !names.contains(segment.as_str()) {
                return Err(PolicyError::Segments(format!(
                    "service {service:?} is assigned to undeclared segment {segment:?}"
                )));
            }
        }
        for flow in &self.flows {
            for end in [&flow.from, &flow.to] {
                if !names.contains(end.as_str()) {
                    return Err(PolicyError::Segments(format!(
                        "flow {} -> {} names undeclared segment {end:?}",
                        flow.from, flow.to
                    )));
                }
            }
            for action in flow.actions.iter().flatten() {
                if Action::from_name(action).is_none() {
                    return Err(PolicyError::Segments(format!(
                        "flow {} -> {} names unknown action {action:?}",
                        flow.from, flow.to
                    )));
                }
            }
        }
        Ok(())
    }

    /// The Cedar text of the flow policies.
    pub fn to_cedar(&self) -> Result<String, PolicyError> {
        self.check()?;
        let mut out = String::new();
        for flow in &self.flows {
            let action = match &flow.actions {
                None => String::from("action"),
                Some(list) => {
                    let uids: Vec<String> = list
                        .iter()
                        .map(|a| format!("Rampart::Action::\"{a}\""))
                        .collect();
                    format!("action in [{}]", uids.join(", "))
                }
            };
            // Names are checked above: no quoting needed.
            let _ = writeln!(
                out,
                "@id(\"segment-flow:{from}->{to}\")\npermit(principal is Rampart::Workload, {action}, resource is Rampart::Service)\nwhen {{ principal.segment == \"{from}\" && resource.segment == \"{to}\" }};\n",
                from = flow.from,
                to = flow.to,
            );
        }
        Ok(out)
    }

    /// Compiles the flows into validated policies.
    pub fn compile(&self) -> Result<Policies, PolicyError> {
        let text = self.to_cedar()?;
        Policies::from_sources([(SEGMENTS_FILE, text.as_str())])
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
