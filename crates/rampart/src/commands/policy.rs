//! `rampart policy validate|test|explain DIR`: authorization policy as code, locally.

use crate::cli::{PolicyDirArgs, PolicyExplainArgs, PolicyTestArgs};
use crate::output::say;
use anyhow::Context as _;
use rampart_policy::{
    Expect, Policies, PolicyEngine, PolicySource, RequestSpec, Segments, TestFile,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

mod remote;

pub use remote::{apply, diff, dry_run_report, dry_run_stop, history};

/// Loads a segments file (YAML).
fn read_segments(path: &Path) -> anyhow::Result<Segments> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_norway::from_str(&text)
        .with_context(|| format!("invalid segments file {}", path.display()))
}

/// The segments file of `args`: `--segments`, else `DIR/segments.yaml` when present.
fn segments_file(args: &PolicyDirArgs) -> Option<PathBuf> {
    args.segments.clone().or_else(|| {
        let default = args.dir.join("segments.yaml");
        default.is_file().then_some(default)
    })
}

/// Loads, validates and compiles the policies of `args.dir` with the segments.
fn compile(args: &PolicyDirArgs) -> anyhow::Result<PolicyEngine> {
    let segments = match segments_file(args) {
        Some(path) => read_segments(&path)?,
        None => Segments::default(),
    };
    let policies = Policies::load_dir(&args.dir)?;
    Ok(PolicyEngine::compile(policies, &segments)?)
}

/// The set of `args.dir` as the control plane takes it, validated here first; the flag is
/// true when no segments file is given, so the control plane keeps its current segments.
fn local_source(args: &PolicyDirArgs) -> anyhow::Result<(PolicySource, bool)> {
    let file = segments_file(args);
    let segments = match &file {
        Some(path) => read_segments(path)?,
        None => Segments::default(),
    };
    let source = PolicySource::load_dir(&args.dir, segments)?;
    source.compile()?;
    Ok((source, file.is_none()))
}

/// `rampart policy validate DIR`.
pub fn validate(args: &PolicyDirArgs) -> anyhow::Result<ExitCode> {
    match compile(args) {
        Ok(engine) => {
            say!(
                "{}: ok ({} policies, {} segment flows)",
                args.dir.display(),
                engine.policies().len(),
                engine.segments().flows.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: invalid\n{e:#}", args.dir.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The test files of a directory, in name order.
fn test_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| {
            n.ends_with(".tests.yaml") || n.ends_with(".tests.yml") || n.ends_with(".tests.json")
        }) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// One executed case.
struct Outcome {
    file: String,
    name: String,
    failure: Option<String>,
    seconds: f64,
}

/// `rampart policy test DIR [--junit FILE]`.
pub fn test(args: &PolicyTestArgs) -> anyhow::Result<ExitCode> {
    let engine = match compile(&args.policies) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("{}: invalid\n{e:#}", args.policies.dir.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let files = test_files(&args.policies.dir)?;
    if files.is_empty() {
        eprintln!(
            "{}: no test files (*.tests.yaml, *.tests.yml, *.tests.json)",
            args.policies.dir.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let mut outcomes = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file: TestFile = serde_norway::from_str(&text)
            .with_context(|| format!("invalid test file {}", path.display()))?;
        for case in file.tests {
            let start = Instant::now();
            let failure = run_case(
                &engine,
                &case.request,
                case.expect,
                case.policies.as_deref(),
            );
            outcomes.push(Outcome {
                file: path.display().to_string(),
                name: case.name,
                failure,
                seconds: start.elapsed().as_secs_f64(),
            });
        }
    }
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    for o in &outcomes {
        match &o.failure {
            None => say!("ok    {} :: {}", o.file, o.name),
            Some(why) => say!("FAIL  {} :: {}\n      {why}", o.file, o.name),
        }
    }
    say!("{} passed, {failed} failed", outcomes.len() - failed);
    if let Some(junit) = &args.junit {
        std::fs::write(junit, junit_xml(&outcomes))
            .with_context(|| format!("cannot write {}", junit.display()))?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs one case; `None` when it passes, else why it failed.
fn run_case(
    engine: &PolicyEngine,
    spec: &RequestSpec,
    expect: Expect,
    policies: Option<&[String]>,
) -> Option<String> {
    let mut spec = spec.clone();
    match rampart_proxy::path::normalize(&spec.path) {
        Ok(path) => spec.path = path.into_owned(),
        Err(e) => return Some(format!("path {:?} cannot be normalised: {e:?}", spec.path)),
    }
    let request = match spec.to_request(engine.segments()) {
        Ok(r) => r,
        Err(e) => return Some(e.to_string()),
    };
    let decision = engine.decide(&request);
    let got = if decision.allowed {
        Expect::Allow
    } else {
        Expect::Deny
    };
    let ids: Vec<&str> = decision.policies.iter().map(|p| p.as_str()).collect();
    if got != expect {
        return Some(format!(
            "expected {expect:?}, got {got:?} (policies: {ids:?}; errors: {:?})",
            decision.errors
        ));
    }
    if let Some(expected) = policies {
        let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        expected.sort_unstable();
        if expected != ids {
            return Some(format!("expected policies {expected:?}, got {ids:?}"));
        }
    }
    None
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A JUnit XML report: one test suite, one test case per policy test.
fn junit_xml(outcomes: &[Outcome]) -> String {
    let failures = outcomes.iter().filter(|o| o.failure.is_some()).count();
    let total: f64 = outcomes.iter().map(|o| o.seconds).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"{}\" failures=\"{failures}\" time=\"{total:.6}\">\n  <testsuite name=\"rampart policy test\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total:.6}\">\n",
        outcomes.len(),
        outcomes.len()
    );
    for o in outcomes {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.6}\"",
            xml_escape(&o.file),
            xml_escape(&o.name),
            o.seconds
        ));
        match &o.failure {
            None => out.push_str("/>\n"),
            Some(why) => out.push_str(&format!(
                ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                xml_escape(why)
            )),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// `rampart policy explain --principal … --action … --resource … DIR`.
pub fn explain(args: PolicyExplainArgs) -> anyhow::Result<ExitCode> {
    let engine = match compile(&args.policies) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("{}: invalid\n{e:#}", args.policies.dir.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let path = rampart_proxy::path::normalize(&args.path)
        .map_err(|e| anyhow::anyhow!("path {:?} cannot be normalised: {e:?}", args.path))?
        .into_owned();
    let spec = RequestSpec {
        principal: args.principal,
        action: args.action,
        resource: args.resource,
        path,
        service: args.service,
        scopes: args.scopes,
        groups: args.groups,
        source_ip: args.source_ip,
        mtls: args.mtls,
        time: args.time,
    };
    let request = spec.to_request(engine.segments())?;
    say!("{}", engine.explain(&request).trim_end());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEGMENTS: &str =
        "segments: [{ name: app }]\nservices: { orders: app }\nflows: [{ from: app, to: app }]\n";

    #[test]
    fn a_segments_yaml_beside_the_policies_is_used_unless_one_is_given() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("a.cedar"),
            "permit(principal, action, resource);\n",
        )
        .unwrap();
        let args = PolicyDirArgs {
            dir: dir.clone(),
            segments: None,
        };
        let (source, keep) = local_source(&args).unwrap();
        assert!(
            keep,
            "no segments file: the control plane keeps its segments"
        );
        assert!(source.segments.flows.is_empty());

        std::fs::write(dir.join("segments.yaml"), SEGMENTS).unwrap();
        let (source, keep) = local_source(&args).unwrap();
        assert!(!keep);
        assert_eq!(source.segments.flows.len(), 1);
        assert_eq!(compile(&args).unwrap().segments().flows.len(), 1);

        let other = tmp.path().join("other.yaml");
        std::fs::write(&other, "segments: [{ name: x }]\n").unwrap();
        let given = PolicyDirArgs {
            dir,
            segments: Some(other),
        };
        let (source, _) = local_source(&given).unwrap();
        assert!(source.segments.flows.is_empty(), "--segments wins");
    }

    #[test]
    fn an_invalid_directory_is_refused_before_anything_is_sent() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("bad.cedar"),
            "permit(principal is Rampart::Workload, action, resource)\nwhen { principal.team == 1 };\n",
        )
        .unwrap();
        let args = PolicyDirArgs {
            dir: tmp.path().to_owned(),
            segments: None,
        };
        let error = format!("{:#}", local_source(&args).unwrap_err());
        assert!(error.contains("bad.cedar:2:"), "{error}");
    }
}
