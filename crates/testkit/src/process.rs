//! A harness for running the `rampart` binary (or any program) in whole-system tests: output
//! captured to files, waits for a port or a log line, signals, and a kill when the test ends.
//!
//! The binary's path comes from the caller: Cargo sets `CARGO_BIN_EXE_rampart` only for the tests
//! of the crate that builds it, so those tests pass `env!("CARGO_BIN_EXE_rampart")`.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

/// A running child process, killed when dropped. Its working directory is a fresh temporary
/// directory ([`RampartProcess::dir`]) that also holds `stdout.log` and `stderr.log`.
pub struct RampartProcess {
    child: Child,
    dir: TempDir,
}

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released), and that
/// this process has not handed out before: the kernel may offer a released port again at once,
/// and two parts of one test (or two tests running side by side) must not get the same one.
pub fn free_port() -> u16 {
    static ISSUED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut issued = ISSUED.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        if !issued.contains(&port) {
            issued.push(port);
            return port;
        }
    }
    panic!("no fresh free port on 127.0.0.1 after 1000 tries");
}

// === impl RampartProcess ===

impl RampartProcess {
    /// Starts `bin` with `args` and extra `env` (the rest of the environment is inherited),
    /// stdin closed, stdout and stderr captured.
    pub fn spawn(bin: impl AsRef<Path>, args: &[&str], env: &[(&str, &str)]) -> Self {
        let bin = bin.as_ref();
        let dir = tempfile::Builder::new()
            .prefix("rampart-process-")
            .tempdir()
            .expect("create a temporary directory");
        let log = |name: &str| File::create(dir.path().join(name)).expect("create a log file");
        let child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", bin.display()));
        RampartProcess { child, dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's working directory: a place for its config files and data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn stdout(&self) -> String {
        self.read_log("stdout.log")
    }

    pub fn stderr(&self) -> String {
        self.read_log("stderr.log")
    }

    /// Stdout, then stderr.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }

    /// How many output lines contain `needle`.
    pub fn count_lines(&self, needle: &str) -> usize {
        self.output().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until `addr` accepts TCP connections; panics, with the output, if the process exits
    /// first or `limit` passes.
    pub async fn wait_for_port(&mut self, addr: SocketAddr, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let attempt = timeout(Duration::from_millis(200), TcpStream::connect(addr)).await;
            if matches!(attempt, Ok(Ok(_))) {
                return;
            }
            self.check_alive(&format!("listening on {addr}"));
            if Instant::now() >= deadline {
                self.fail(&format!("not listening on {addr} after {limit:?}"));
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for an output line (stdout or stderr) containing `needle` and returns it; panics,
    /// with the output, if the process exits first or `limit` passes.
    pub async fn wait_for_line(&mut self, needle: &str, limit: Duration) -> String {
        self.wait_for_nth_line(needle, 1, limit).await
    }

    /// Like [`wait_for_line`](Self::wait_for_line), for the `n`th such line (from 1): use with
    /// [`count_lines`](Self::count_lines) to wait for a message that an earlier event also logged.
    pub async fn wait_for_nth_line(&mut self, needle: &str, n: usize, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let output = self.output();
            if let Some(line) = output.lines().filter(|l| l.contains(needle)).nth(n - 1) {
                return line.to_owned();
            }
            self.check_alive(&format!("printing `{needle}` ({n})"));
            if Instant::now() >= deadline {
                self.fail(&format!("printed no `{needle}` ({n}) within {limit:?}"));
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal with the `kill` command, e.g. `signal("HUP")` or `signal("TERM")`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run `kill`");
        assert!(status.success(), "`kill -{signal} {}` failed", self.pid());
    }

    /// The exit status, if the process has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("query the child's status")
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn read_log(&self, name: &str) -> String {
        let bytes = std::fs::read(self.log_path(name)).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn check_alive(&mut self, waiting_for: &str) {
        if let Some(status) = self.try_exit() {
            self.fail(&format!("exited ({status}) before {waiting_for}"));
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!("process {} {what}; output:\n{}", self.pid(), self.output());
    }
}

impl Drop for RampartProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- output of process {} ---\n{}",
                self.pid(),
                self.output()
            );
        }
    }
}

#[cfg(test)]
mod tests;
