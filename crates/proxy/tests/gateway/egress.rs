//! The egress listener: absolute-form requests and CONNECT tunnels to allow-listed
//! destinations only.

use crate::support::Gw;
use rampart_events::SecurityKind;
use rampart_testkit::{RawUpstream, RecordingUpstream, free_port, send_raw};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(5);

/// A TCP server that echoes every byte back.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

struct Rig {
    gw: Gw,
    up: RecordingUpstream,
    echo: SocketAddr,
    /// Listening, but not on the allow-list.
    denied: RawUpstream,
    /// On the allow-list, but nothing listens.
    dead: u16,
}

async fn rig() -> Rig {
    let up = RecordingUpstream::start();
    let echo = echo_server().await;
    let denied = RawUpstream::start();
    let dead = free_port();
    let gw = Gw::start(&format!(
        "egress: {{ address: \"127.0.0.4:0\", allow: [\"127.0.0.1:{}\", \"127.0.0.1:{}\", \"127.0.0.1:{dead}\"] }}\n",
        up.addr().port(),
        echo.port()
    ))
    .await;
    Rig {
        gw,
        up,
        echo,
        denied,
        dead,
    }
}

impl Rig {
    fn egress(&self) -> SocketAddr {
        self.gw.handle.egress_addr().expect("an egress listener")
    }
}

/// Sends a CONNECT head and reads the response head.
async fn connect_head(egress: SocketAddr, target: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(egress).await.unwrap();
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(WAIT, s.read(&mut byte))
            .await
            .expect("no CONNECT answer")
        {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    (s, String::from_utf8_lossy(&head).into_owned())
}

#[tokio::test]
async fn absolute_form_requests_reach_allowed_hosts_only() {
    let mut rig = rig().await;
    let port = rig.up.addr().port();
    let req = format!(
        "GET http://127.0.0.1:{port}/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nProxy-Authorization: Basic c2VjcmV0\r\nConnection: close\r\n\r\n"
    );
    let reply = send_raw(rig.egress(), req.as_bytes(), WAIT).await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    let seen = rig.up.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/x?y=1");
    assert!(
        seen[0].header("proxy-authorization").is_none(),
        "proxy credentials leaked upstream"
    );

    let port = rig.denied.addr().port();
    let req = format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let reply = send_raw(rig.egress(), req.as_bytes(), WAIT).await;
    assert_eq!(reply.status(), Some(403), "{reply:?}");
    let ev = rig.gw.security(SecurityKind::EgressDenied).await;
    assert_eq!(ev.detail, format!("127.0.0.1:{port}"));

    let reply = send_raw(
        rig.egress(),
        b"GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(reply.status(), Some(403), "{reply:?}");
    rig.gw.security(SecurityKind::EgressDenied).await;
    assert_eq!(rig.denied.connection_count(), 0);

    // Origin-form has no destination: refused.
    let reply = send_raw(
        rig.egress(),
        b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        WAIT,
    )
    .await;
    assert_eq!(reply.status(), Some(400), "{reply:?}");
}

#[tokio::test]
async fn connect_tunnels_to_allowed_ports_only() {
    let mut rig = rig().await;
    let (mut tunnel, head) =
        connect_head(rig.egress(), &format!("127.0.0.1:{}", rig.echo.port())).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Bytes that look like HTTP go through untouched: the tunnel is not HTTP any more.
    for msg in [
        &b"ping-1"[..],
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    ] {
        tunnel.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        tokio::time::timeout(WAIT, tunnel.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, msg);
    }

    let (_, head) = connect_head(rig.egress(), &rig.denied.addr().to_string()).await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    rig.gw.security(SecurityKind::EgressDenied).await;
    let (_, head) = connect_head(rig.egress(), "evil.test:443").await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert_eq!(rig.denied.connection_count(), 0);
}

#[tokio::test]
async fn a_failed_connect_closes_the_connection() {
    let rig = rig().await;
    // After a CONNECT the framing guard stops parsing: if the connection stayed open after a
    // failed CONNECT, the next request on it would skip every framing check.
    let target = format!("127.0.0.1:{}", rig.dead);
    let mut bytes = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").into_bytes();
    let port = rig.up.addr().port();
    bytes.extend_from_slice(
        format!("POST http://127.0.0.1:{port}/smuggled HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").as_bytes(),
    );
    let reply = send_raw(rig.egress(), &bytes, WAIT).await;
    assert_eq!(reply.statuses(), [502], "{reply:?}");
    assert!(reply.closed, "{reply:?}");
    assert_eq!(
        rig.up.count(),
        0,
        "a request after a failed CONNECT was forwarded"
    );
}
