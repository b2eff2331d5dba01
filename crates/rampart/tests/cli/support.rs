use rampart_testkit::process::{RampartProcess, free_port};
use rampart_testkit::raw::{RawReply, send_raw};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_rampart");
pub const WAIT: Duration = Duration::from_secs(30);

/// Ports for one instance.
pub struct Ports {
    pub http: u16,
    pub https: u16,
    pub admin: u16,
    pub control: u16,
}

impl Ports {
    pub fn new() -> Self {
        Self {
            http: free_port(),
            https: free_port(),
            admin: free_port(),
            control: free_port(),
        }
    }

    pub fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

/// A config in the quickstart's shape on free ports, with `extra_route` YAML added first.
pub fn config(p: &Ports, header_value: &str) -> String {
    format!(
        r#"
admin: {{ listen: "127.0.0.1:{admin}" }}
control: {{ listen: "127.0.0.1:{control}", proxy_ttl: 10s }}
gateway:
  listeners:
    - {{ name: http, address: "127.0.0.1:{http}" }}
    - {{ name: https, address: "127.0.0.1:{https}", tls: {{}} }}
  clusters:
    - {{ name: echo, builtin: echo }}
  routes:
    - name: api
      match: {{ path_prefix: /api/ }}
      cluster: echo
      rewrite: {{ path_prefix: / }}
      headers: {{ response_add: {{ x-version: "{header_value}" }} }}
"#,
        admin = p.admin,
        control = p.control,
        http = p.http,
        https = p.https,
    )
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub async fn get(port: u16, path: &str) -> RawReply {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    send_raw(Ports::addr(port), req.as_bytes(), Duration::from_secs(5)).await
}

/// Starts `rampart up` on `config_file` with its data in `data`.
pub async fn up(config_file: &Path, data: &Path, ports: &Ports) -> RampartProcess {
    let mut p = RampartProcess::spawn(
        BIN,
        &[
            "up",
            "--config",
            config_file.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[("RAMPART_LOG", "info")],
    );
    p.wait_for_line("is up", WAIT).await;
    p.wait_for_port(Ports::addr(ports.http), WAIT).await;
    p
}
