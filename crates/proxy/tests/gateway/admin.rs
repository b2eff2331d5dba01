//! The admin listener, and graceful shutdown.

use crate::support::{Gw, get, metric, one_route};
use rampart_testkit::{RecordingUpstream, send_raw};
use std::time::Duration;
use tokio::net::TcpStream;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&one_route(up.addr())).await;
    let admin = gw.admin();
    assert_eq!(get(admin, "/healthz").await.status, 200);
    let ready = get(admin, "/readyz").await;
    assert_eq!(ready.status, 200);
    assert!(ready.text().contains("version 1"), "{}", ready.text());
    assert_eq!(get(admin, "/nope").await.status, 404);

    for _ in 0..3 {
        assert_eq!(get(gw.http(), "/x").await.status, 200);
    }
    let bad = b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(
        send_raw(gw.http(), bad, Duration::from_secs(5))
            .await
            .status(),
        Some(400)
    );

    // Metrics are recorded when a response body ends: give the last one a moment.
    let mut text = String::new();
    for _ in 0..50 {
        text = gw.metrics().await;
        if metric(
            &text,
            "rampart_requests_total",
            &[("route", "all"), ("status", "2xx")],
        ) == Some(3.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        metric(
            &text,
            "rampart_requests_total",
            &[("route", "all"), ("status", "2xx")]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "rampart_hygiene_rejections_total",
            &[("reason", "content_length_with_transfer_encoding")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains("rampart_request_duration_seconds"), "{text}");
    assert!(
        metric(&text, "rampart_connections_total", &[("listener", "http")]).unwrap_or(0.0) >= 4.0,
        "{text}"
    );
    assert_eq!(
        gw.handle.render_metrics().lines().count(),
        text.lines().count()
    );
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_refuses_new_connections() {
    let up = RecordingUpstream::builder()
        .delay(Duration::from_millis(800))
        .start();
    let gw = Gw::start(&one_route(up.addr())).await;
    let (addr, admin) = (gw.http(), gw.admin());

    let in_flight = tokio::spawn(async move { get(addr, "/slow").await });
    assert!(
        up.wait_for(1, Duration::from_secs(5)).await,
        "the request never reached the upstream"
    );

    let handle = gw.handle;
    let shutdown = tokio::spawn(async move { handle.shutdown(Duration::from_secs(10)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Draining: not ready any more, but the admin listener still answers.
    assert_eq!(get(admin, "/readyz").await.status, 503);

    let r = in_flight.await.unwrap();
    assert_eq!(
        r.status,
        200,
        "the in-flight request was cut off: {}",
        r.text()
    );
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("shutdown did not finish after its last request")
        .unwrap();

    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "new connections are still accepted after shutdown");
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections() {
    let up = RecordingUpstream::start();
    let gw = Gw::start(&one_route(up.addr())).await;
    let mut conn = crate::support::H1::connect(gw.http()).await;
    assert_eq!(conn.get("/").await.status, 200);
    tokio::time::timeout(
        Duration::from_secs(5),
        gw.handle.shutdown(Duration::from_secs(10)),
    )
    .await
    .expect("an idle keep-alive connection held up shutdown");
    for _ in 0..100 {
        if !conn.is_open() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the idle connection was left open");
}

#[tokio::test]
async fn shutdown_cuts_off_what_is_left_at_the_deadline() {
    let up = RecordingUpstream::builder()
        .delay(Duration::from_secs(20))
        .start();
    let gw = Gw::start(&one_route(up.addr())).await;
    let addr = gw.http();
    let in_flight = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(
            &mut s,
            b"GET /stuck HTTP/1.1\r\nHost: localhost\r\n\r\n",
        )
        .await
        .unwrap();
        let mut buf = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut buf)
            .await
            .ok();
        buf
    });
    assert!(up.wait_for(1, Duration::from_secs(5)).await);
    let started = std::time::Instant::now();
    gw.handle.shutdown(Duration::from_millis(300)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    let got = tokio::time::timeout(Duration::from_secs(3), in_flight)
        .await
        .expect("the stuck connection was not closed at the deadline")
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&got).contains(" 200 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
}
