use crate::support::*;
use std::time::Duration;

async fn header_is(port: u16, want: &str) -> bool {
    let r = get(port, "/api/x").await;
    r.status() == Some(200) && r.text().contains(&format!("x-version: {want}"))
}

async fn eventually(port: u16, want: &str) -> bool {
    for _ in 0..100 {
        if header_is(port, want).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn bad_reloads_keep_the_old_config_and_good_ones_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let file = write(tmp.path(), "rampart.yaml", &config(&ports, "one"));
    let mut p = up(&file, &tmp.path().join("data"), &ports).await;
    assert!(header_is(ports.http, "one").await);

    // An invalid file (unknown cluster) is refused on change; the old config keeps serving.
    let bad = config(&ports, "two").replace(
        "cluster: echo\n      rewrite",
        "cluster: nope\n      rewrite",
    );
    write(tmp.path(), "rampart.yaml", &bad);
    p.wait_for_line("configuration refused", WAIT).await;
    assert!(
        p.stderr().contains("unknown cluster `nope`"),
        "{}",
        p.stderr()
    );
    assert!(header_is(ports.http, "one").await);

    // A valid change applies on its own (file watch).
    write(tmp.path(), "rampart.yaml", &config(&ports, "three"));
    assert!(eventually(ports.http, "three").await, "{}", p.output());

    // SIGHUP reloads too.
    let before = p.count_lines("configuration reloaded");
    p.signal("HUP");
    p.wait_for_nth_line("configuration reloaded", before + 1, WAIT)
        .await;
    assert!(header_is(ports.http, "three").await);
}
