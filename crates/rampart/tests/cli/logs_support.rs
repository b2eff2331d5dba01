//! Helpers of the event-pipeline tests (issue 7): a `rampart up` control plane that can be
//! killed and restarted on the same data directory and ports, sidecars with their apps and
//! `--access-log` files, `rampart logs` through the CLI, and plain requests on loopback.

use crate::support::*;
use rampart_testkit::RecordingUpstream;
use rampart_testkit::process::{RampartProcess, free_port};
use rampart_testkit::raw::{RawReply, send_raw};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// A `rampart up` process with everything needed to restart it as it was.
pub struct Plane {
    pub tmp: tempfile::TempDir,
    pub ports: Ports,
    pub file: PathBuf,
    pub data: PathBuf,
    pub process: Option<RampartProcess>,
    pub url: String,
    pub ca: PathBuf,
    pub admin_token: String,
}

impl Plane {
    /// Starts `rampart up` with the config `make(ports)` on free ports.
    pub async fn start(make: impl Fn(&Ports) -> String) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let ports = Ports::new();
        let file = write(tmp.path(), "rampart.yaml", &make(&ports));
        let data = tmp.path().join("data");
        let process = up(&file, &data, &ports).await;
        let admin_token = std::fs::read_to_string(data.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        Self {
            url: format!("https://127.0.0.1:{}", ports.control),
            ca: data.join("ca.pem"),
            tmp,
            ports,
            file,
            data,
            process: Some(process),
            admin_token,
        }
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// Starts `rampart up` again on the same config, data directory and ports.
    pub async fn restart(&mut self) {
        assert!(self.process.is_none(), "still running");
        let mut p = up(&self.file, &self.data, &self.ports).await;
        p.wait_for_port(Ports::addr(self.ports.control), WAIT).await;
        self.process = Some(p);
    }

    /// Runs `rampart ARGS --control URL --ca CA` with the admin token; (success, stdout, stderr).
    pub async fn rampart(&self, args: &[&str]) -> (bool, String, String) {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--control", &self.url, "--ca", self.ca.to_str().unwrap()]);
        let mut p = RampartProcess::spawn(BIN, &full, &[("RAMPART_TOKEN", &self.admin_token)]);
        let status = p.wait_exit(WAIT).await.expect("the command exits");
        (status.success(), p.stdout(), p.stderr())
    }

    /// `rampart logs query QUERY --json`: the stored records, newest first.
    pub async fn query(&self, query: &str) -> Vec<Value> {
        let (ok, out, err) = self.rampart(&["logs", "query", query, "--json"]).await;
        assert!(ok, "`logs query {query}` failed:\n{out}\n{err}");
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Polls `query` until `done` holds for its result (at most `limit`); the last result.
    pub async fn query_until(
        &self,
        query: &str,
        limit: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let found = self.query(query).await;
            if done(&found) || start.elapsed() > limit {
                return found;
            }
            sleep(Duration::from_millis(300)).await;
        }
    }

    /// A one-time join token for `service`.
    pub async fn join_token(&self, service: &str) -> String {
        let (ok, out, err) = self
            .rampart(&["identity", "join-token", "--service", service, "--json"])
            .await;
        assert!(ok, "{out}\n{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        v["token"].as_str().unwrap().to_owned()
    }
}

/// One `rampart sidecar` process with its app and its `--access-log` file.
pub struct Sidecar {
    pub process: RampartProcess,
    pub _app: RecordingUpstream,
    pub outbound: u16,
    pub admin: u16,
    pub log: PathBuf,
}

impl Sidecar {
    /// Starts a sidecar for `service`, with `extra` arguments (spool options), and waits
    /// until its listeners accept connections.
    pub async fn start(plane: &Plane, service: &str, extra: &[&str]) -> Self {
        let app = RecordingUpstream::builder()
            .name(format!("{service}-app"))
            .start();
        let token = plane.join_token(service).await;
        let (inbound, outbound, admin) = (free_port(), free_port(), free_port());
        let dir = plane.tmp.path();
        let log = dir.join(format!("{service}.jsonl"));
        let mut args: Vec<String> = [
            "sidecar",
            "--service",
            service,
            "--app",
            &app.addr().to_string(),
            "--control",
            &plane.url,
            "--inbound",
            &format!("127.0.0.1:{inbound}"),
            "--outbound",
            &format!("127.0.0.1:{outbound}"),
            "--admin",
            &format!("127.0.0.1:{admin}"),
            "--data-dir",
            dir.join(service).to_str().unwrap(),
            "--access-log",
            log.to_str().unwrap(),
            "--drain",
            "1s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut process = RampartProcess::spawn(
            BIN,
            &args,
            &[("RAMPART_JOIN_TOKEN", &token), ("RAMPART_LOG", "info")],
        );
        process.wait_for_port(Ports::addr(inbound), WAIT).await;
        process.wait_for_port(Ports::addr(outbound), WAIT).await;
        Self {
            process,
            _app: app,
            outbound,
            admin,
            log,
        }
    }

    /// The events the sidecar wrote to its access log so far.
    pub fn logged(&self) -> Vec<Value> {
        read_jsonl(&self.log)
    }

    /// Asserts the process still runs.
    pub fn assert_alive(&mut self) {
        assert!(
            self.process.try_exit().is_none(),
            "{}",
            self.process.output()
        );
    }
}

/// The JSON lines of `file` (a line being written is skipped).
pub fn read_jsonl(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `METHOD path` to 127.0.0.1:`port` with `Host: host`, on a new connection.
pub async fn send(port: u16, method: &str, host: &str, path: &str) -> RawReply {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    send_raw(Ports::addr(port), req.as_bytes(), Duration::from_secs(10)).await
}

/// Sends until the answer is `want` (at most `limit`); panics with the last answer.
pub async fn until_status(port: u16, host: &str, path: &str, want: u16, limit: Duration) {
    let start = Instant::now();
    loop {
        let reply = send(port, "GET", host, path).await;
        if reply.status() == Some(want) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "no {want} for {host}{path} via port {port} within {limit:?}; last: {reply:?}"
        );
        sleep(Duration::from_millis(50)).await;
    }
}

/// A string field of a record.
pub fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name].as_str().unwrap_or("")
}

/// How many times each key occurs.
pub fn counts<K: Ord>(keys: impl IntoIterator<Item = K>) -> BTreeMap<K, usize> {
    let mut map = BTreeMap::new();
    for k in keys {
        *map.entry(k).or_insert(0) += 1;
    }
    map
}

/// The value of the unlabelled metric `name` in the Prometheus text of `127.0.0.1:port`.
pub async fn metric(port: u16, name: &str) -> f64 {
    let reply = crate::support::get(port, "/metrics").await;
    let text = reply.text();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}
