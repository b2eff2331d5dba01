//! Slowloris: a client trickling a request head is cut off by `timeouts.header_read`, and does
//! not hold up anyone else.

use crate::support::{Gw, get};
use rampart_testkit::{RecordingUpstream, slow_headers};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_trickled_head_is_cut_off_while_others_are_served() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&format!(
        "timeouts: {{ header_read: 500ms }}\n{}",
        crate::support::one_route(up.addr())
    ))
    .await;
    let addr = gw.http();

    // Five bytes every 100 ms: far below any size limit, so only the timeout can end it.
    let slow = tokio::spawn(slow_headers(
        addr,
        5,
        Duration::from_millis(100),
        Duration::from_secs(6),
    ));
    tokio::time::sleep(Duration::from_millis(150)).await;

    let started = Instant::now();
    let r = get(addr, "/meanwhile").await;
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a normal client waited {:?}",
        started.elapsed()
    );

    let report = slow.await.unwrap();
    assert!(
        report.closed,
        "the trickling client was never cut off: {report:?}"
    );
    assert!(
        report.after < Duration::from_millis(2500),
        "cut off only after {:?}",
        report.after
    );
    assert!(
        report.after >= Duration::from_millis(400),
        "cut off before the timeout: {:?}",
        report.after
    );
    assert_eq!(
        up.count(),
        1,
        "only the normal request reaches the upstream"
    );
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&format!(
        "timeouts: {{ header_read: 500ms }}\n{}",
        crate::support::one_route(up.addr())
    ))
    .await;
    // A partial head and then nothing.
    let reply = rampart_testkit::send_raw(
        gw.http(),
        b"GET / HTTP/1.1\r\nHost: local",
        Duration::from_secs(5),
    )
    .await;
    assert!(reply.closed, "{reply:?}");
    assert!(
        !reply.statuses().iter().any(|s| (200..300).contains(s)),
        "{reply:?}"
    );
    assert_eq!(up.count(), 0);

    // Nothing at all after connecting.
    let started = std::time::Instant::now();
    let reply = rampart_testkit::send_raw(gw.http(), b"", Duration::from_secs(5)).await;
    assert!(reply.closed && reply.bytes.is_empty(), "{reply:?}");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "closed after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_no_slowloris() {
    let up = RecordingUpstream::start();
    let mut gw = Gw::start(&format!(
        "timeouts: {{ header_read: 500ms, idle: 3s }}\n{}",
        crate::support::one_route(up.addr())
    ))
    .await;
    let mut conn = crate::support::H1::connect(gw.http()).await;
    assert_eq!(conn.get("/first").await.status, 200);
    // Idle between requests for longer than `header_read`, well within `idle`.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        conn.is_open(),
        "an idle keep-alive connection was closed by the header timeout"
    );
    assert_eq!(conn.get("/second").await.status, 200);
    assert_eq!(
        gw.pending_security(rampart_events::SecurityKind::HygieneRejected),
        0,
        "an idle client was reported as an attack"
    );
    // `idle` does close it in the end.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        !conn.is_open(),
        "the idle timeout never closed the connection"
    );
}

#[tokio::test]
async fn a_trickled_body_is_cut_off() {
    use tokio::io::AsyncWriteExt;
    let up = RecordingUpstream::start();
    let gw = Gw::start(&format!(
        "timeouts: {{ header_read: 500ms, idle: 1s, request_body: 1s }}\n{}",
        crate::support::one_route(up.addr())
    ))
    .await;
    let mut s = tokio::net::TcpStream::connect(gw.http()).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // One byte every 300 ms: never idle for 1 s, never done. The gateway answers 408 and
    // closes; the writes then fail.
    let (mut rd, mut wr) = s.into_split();
    let reader = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(8), rd.read_to_end(&mut buf)).await;
        String::from_utf8_lossy(&buf).into_owned()
    });
    while started.elapsed() < Duration::from_secs(6) {
        if wr.write_all(b"x").await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let reply = reader.await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert_eq!(
        up.count(),
        0,
        "the upstream never sees a request whose body never came"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a trickled body held the connection for {:?}",
        started.elapsed()
    );
}
