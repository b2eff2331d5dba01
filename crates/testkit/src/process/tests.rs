use super::*;

const SECS: Duration = Duration::from_secs(10);

fn sh(script: &str, env: &[(&str, &str)]) -> RampartProcess {
    RampartProcess::spawn("sh", &["-c", script], env)
}

#[tokio::test]
async fn captures_output_env_and_signals() {
    let script = "echo \"var=$TESTKIT_VAR\"; pwd -P; echo warn >&2; \
                  trap 'echo got-hup' HUP; while :; do sleep 0.05; done";
    let mut p = sh(script, &[("TESTKIT_VAR", "hello")]);
    assert_eq!(p.wait_for_line("var=", SECS).await, "var=hello");
    p.wait_for_line("warn", SECS).await;
    let dir = p.dir().canonicalize().unwrap();
    assert!(p.stdout().contains(dir.to_str().unwrap()), "{}", p.stdout());
    assert_eq!(p.stderr(), "warn\n");

    assert_eq!(p.count_lines("got-hup"), 0);
    p.signal("HUP");
    p.wait_for_line("got-hup", SECS).await;
    p.signal("HUP");
    assert_eq!(p.wait_for_nth_line("got-hup", 2, SECS).await, "got-hup");
    assert!(p.try_exit().is_none());
}

#[tokio::test]
async fn waits_for_a_port() {
    let mut p = sh("sleep 30", &[]);
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let listener = tokio::spawn(async move {
        sleep(Duration::from_millis(200)).await;
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        loop {
            let _ = listener.accept().await;
        }
    });
    p.wait_for_port(addr, SECS).await;
    listener.abort();
}

#[tokio::test]
#[should_panic(expected = "exited (exit status: 3) before listening")]
async fn an_early_exit_fails_the_wait_with_the_output() {
    let mut p = sh("echo boom >&2; exit 3", &[]);
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    p.wait_for_port(addr, SECS).await;
}

#[tokio::test]
async fn reports_exit_and_kills_on_drop() {
    let mut p = sh("exit 7", &[]);
    let status = p.wait_exit(SECS).await.unwrap();
    assert_eq!(status.code(), Some(7));

    let mut p = sh("sleep 30", &[]);
    assert!(p.wait_exit(Duration::from_millis(100)).await.is_none());
    let pid = p.pid().to_string();
    drop(p);
    let alive = Command::new("kill")
        .args(["-0", &pid])
        .stderr(Stdio::null())
        .status();
    assert!(
        !alive.unwrap().success(),
        "process {pid} outlived its harness"
    );
}

#[test]
fn free_port_is_bindable() {
    let port = free_port();
    assert_ne!(port, 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}

#[test]
fn free_ports_are_never_handed_out_twice() {
    // Released ports come back from the kernel quickly; the harness must not repeat them.
    let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
    let mut unique = ports.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ports.len());
}
