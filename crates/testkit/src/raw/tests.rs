use super::*;
use tokio::net::TcpListener;

/// A one-connection server: reads once, writes `answer`, then closes or holds the connection.
async fn server(answer: &'static [u8], close: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0; 1024];
        let _ = stream.read(&mut buf).await;
        stream.write_all(answer).await.unwrap();
        if !close {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    });
    addr
}

#[tokio::test]
async fn reports_a_close() {
    let addr = server(
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
        true,
    )
    .await;
    let reply = send_raw(addr, b"GET / HTTP/1.1\r\n\r\n", Duration::from_secs(5)).await;
    assert!(reply.closed && !reply.timed_out, "{reply:?}");
    assert_eq!(reply.status(), Some(400));
    assert_eq!(reply.responses(), 1);
}

#[tokio::test]
async fn reports_a_stall() {
    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\nHTTP/1.0 204 No Content\r\n\r\n";
    let addr = server(answer, false).await;
    let start = Instant::now();
    let reply = send_raw(addr, b"GET / HTTP/1.1\r\n\r\n", Duration::from_millis(300)).await;
    assert!(reply.timed_out && !reply.closed, "{reply:?}");
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.statuses(), [200, 204]);
    assert_eq!(reply.responses(), 2);
}

#[test]
fn status_lines_only_at_line_starts() {
    assert_eq!(status_code(b"HTTP/1.1 200 OK"), Some(200));
    assert_eq!(status_code(b"HTTP/1.0 404"), Some(404));
    assert_eq!(status_code(b"HTTP/2 200 OK"), None);
    assert_eq!(status_code(b"HTTP/1.1 20x"), None);
    assert_eq!(status_lines(b"xHTTP/1.1 200 OK\r\n"), Vec::<u16>::new());
    let reply = RawReply::default();
    assert_eq!((reply.status(), reply.responses()), (None, 0));
}

#[test]
fn endless_head_never_ends() {
    let mut head = EndlessHead::default();
    let bytes: Vec<u8> = (0..500).flat_map(|_| head.next_chunk(7)).collect();
    assert!(bytes.starts_with(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow-1: 1\r\n"));
    assert!(!bytes.windows(4).any(|w| w == b"\r\n\r\n"));
    assert_eq!(bytes.len(), 3500);
}

#[tokio::test]
async fn slow_headers_sees_the_server_close() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stream
            .write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            .await
            .unwrap();
    });
    let tick = Duration::from_millis(20);
    let report = slow_headers(addr, 3, tick, Duration::from_secs(10)).await;
    assert!(report.closed, "{report:?}");
    assert!(report.after >= Duration::from_millis(300), "{report:?}");
    assert!(report.after < Duration::from_secs(5), "{report:?}");
    assert!(report.sent >= 3, "{report:?}");
    assert_eq!(report.status(), Some(408));
}

#[tokio::test]
async fn slow_headers_gives_up() {
    let addr = server(b"", false).await;
    let tick = Duration::from_millis(20);
    let report = slow_headers(addr, 1, tick, Duration::from_millis(300)).await;
    assert!(!report.closed, "{report:?}");
    assert!(report.after >= Duration::from_millis(300));
    assert!(report.sent > 1 && report.sent <= 16, "{report:?}");
}
