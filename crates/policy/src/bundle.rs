//! A policy set as text, the unit the control plane versions and distributes: the `.cedar`
//! sources by file name plus the segments. Proxies compile what they receive with
//! [`PolicySource::compile`]; the control plane refuses a source that does not compile.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::PolicyEngine;
use crate::error::PolicyError;
use crate::policies::Policies;
use crate::segments::{Flow, Segment, Segments};

/// The file name of a configuration's inline `policy.cedar` text.
pub const INLINE_FILE: &str = "inline.cedar";

/// Policy files (file name → Cedar text) and segments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySource {
    /// `*.cedar` file name (no directory) → text.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Segments, services and flows.
    #[serde(default)]
    pub segments: Segments,
}

/// One released policy set: what proxies install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRelease {
    /// Version number in the control plane's history (1, 2, …).
    pub version: u64,
    /// [`PolicySource::digest`] of `source`.
    pub digest: String,
    /// The set.
    pub source: PolicySource,
}

/// What every proxy should run: the enforced set and, optionally, a set evaluated in shadow
/// (dry-run) mode beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distribution {
    /// The enforced set; `None` means authorization is off (no policy configured).
    #[serde(default)]
    pub enforced: Option<PolicyRelease>,
    /// A dry-run set: evaluated, disagreements recorded, never enforced.
    #[serde(default)]
    pub shadow: Option<PolicyRelease>,
}

impl PolicySource {
    /// Reads every `*.cedar` file of `dir` (not recursive) and takes `segments` as given.
    pub fn load_dir(dir: &Path, segments: Segments) -> Result<Self, PolicyError> {
        let io = |path: &Path, source| PolicyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let path = entry.map_err(|e| io(dir, e))?.path();
            if path.extension().is_some_and(|e| e == "cedar") && path.is_file() {
                let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                files.insert(name, text);
            }
        }
        Ok(Self { files, segments })
    }

    /// The set a configuration's `policy` section declares: the files of `dir`, the inline
    /// `cedar` text as `inline.cedar`, and the segments and flows.
    pub fn from_config(config: &rampart_config::PolicyConfig) -> Result<Self, PolicyError> {
        let mut segments = Segments::default();
        for (name, seg) in &config.segments {
            segments.segments.push(Segment {
                name: name.clone(),
                cidrs: seg.cidrs.iter().map(ToString::to_string).collect(),
            });
            for service in &seg.services {
                segments.services.insert(service.clone(), name.clone());
            }
        }
        segments.flows = config
            .flows
            .iter()
            .map(|f| Flow {
                from: f.from.clone(),
                to: f.to.clone(),
                actions: f.actions.clone(),
            })
            .collect();
        let mut source = match &config.dir {
            Some(dir) => Self::load_dir(dir, segments)?,
            None => Self {
                files: BTreeMap::new(),
                segments,
            },
        };
        if let Some(text) = &config.cedar {
            source.files.insert(INLINE_FILE.to_owned(), text.clone());
        }
        Ok(source)
    }

    /// Parses, validates (strict, against the schema) and compiles the set.
    pub fn compile(&self) -> Result<PolicyEngine, PolicyError> {
        let policies =
            Policies::from_sources(self.files.iter().map(|(f, t)| (f.as_str(), t.as_str())))?;
        PolicyEngine::compile(policies, &self.segments)
    }

    /// SHA-256 (hex) of the canonical JSON form: equal sets have equal digests.
    pub fn digest(&self) -> String {
        // BTreeMaps and Vecs serialise in a fixed order, so the JSON text is canonical.
        let json = serde_json::to_vec(self).unwrap_or_default();
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &json);
        d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The segments as YAML text (for diffs and display).
    pub fn segments_yaml(&self) -> String {
        serde_norway::to_string(&self.segments).unwrap_or_default()
    }

    /// A unified diff from `old` to `self`, file by file (`segments.yaml` for the segments);
    /// empty when they are equal.
    pub fn diff_from(&self, old: &PolicySource) -> String {
        let mut out = String::new();
        let mut names: Vec<&String> = old.files.keys().chain(self.files.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let a = old.files.get(name).map_or("", String::as_str);
            let b = self.files.get(name).map_or("", String::as_str);
            push_diff(&mut out, name, a, b);
        }
        push_diff(
            &mut out,
            "segments.yaml",
            &old.segments_yaml(),
            &self.segments_yaml(),
        );
        out
    }
}

fn push_diff(out: &mut String, name: &str, old: &str, new: &str) {
    if old == new {
        return;
    }
    let diff = similar::TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string();
    out.push_str(&text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> PolicySource {
        let mut files = BTreeMap::new();
        files.insert("a.cedar".to_owned(), text.to_owned());
        PolicySource {
            files,
            segments: Segments::default(),
        }
    }

    #[test]
    fn digest_tracks_content() {
        let a = source("permit(principal, action, resource);\n");
        let b = source("forbid(principal, action, resource);\n");
        assert_eq!(a.digest(), a.clone().digest());
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest().len(), 64);
    }

    #[test]
    fn diff_shows_changed_lines_only() {
        let a = source("permit(principal, action, resource);\n");
        let b = source("forbid(principal, action, resource);\n");
        let d = b.diff_from(&a);
        assert!(d.contains("--- a/a.cedar"), "{d}");
        assert!(d.contains("-permit(principal, action, resource);"), "{d}");
        assert!(d.contains("+forbid(principal, action, resource);"), "{d}");
        assert!(!d.contains("segments.yaml"), "{d}");
        assert_eq!(a.diff_from(&a), "");
    }

    #[test]
    fn invalid_source_does_not_compile() {
        let bad = source("permit(principal, action, resource) when { principal.nope == 1 };\n");
        assert!(bad.compile().is_err());
        let good = source("permit(principal, action, resource);\n");
        assert!(good.compile().is_ok());
    }
}
