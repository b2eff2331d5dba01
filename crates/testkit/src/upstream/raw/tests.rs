use super::*;

#[test]
fn frames_requests() {
    assert_eq!(request_len(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    assert_eq!(
        request_len(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET"),
        Some(27)
    );
    let post = b"POST / HTTP/1.1\r\ncontent-LENGTH: 3\r\n\r\nab";
    assert_eq!(request_len(post), None);
    assert_eq!(
        request_len(&[&post[..], b"cGET"].concat()),
        Some(post.len() + 1)
    );
    let chunked =
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 1\r\n\r\n\
        3;ext=1\r\nabc\r\n0\r\nx-trailer: 1\r\n\r\n";
    assert_eq!(request_len(chunked), Some(chunked.len()));
    assert_eq!(request_len(&chunked[..chunked.len() - 1]), None);
    assert_eq!(chunked_len(b"a\r\n0123456789\r\n"), None);
}

async fn exchange(tcp: &mut TcpStream, bytes: &[u8]) -> Vec<u8> {
    tcp.write_all(bytes).await.unwrap();
    let mut reply = vec![0; RAW_RESPONSE.len()];
    tcp.read_exact(&mut reply).await.unwrap();
    reply
}

#[tokio::test]
async fn records_exact_bytes_per_connection() {
    let upstream = RawUpstream::start();
    let mut first = TcpStream::connect(upstream.addr()).await.unwrap();
    let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(exchange(&mut first, get).await, RAW_RESPONSE);
    let post = b"POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(exchange(&mut first, post).await, RAW_RESPONSE);

    let mut second = TcpStream::connect(upstream.addr()).await.unwrap();
    assert_eq!(
        exchange(&mut second, b"\x00odd\r\n\r\n").await,
        RAW_RESPONSE
    );

    assert_eq!(
        upstream.connections(),
        [[&get[..], &post[..]].concat(), b"\x00odd\r\n\r\n".to_vec()]
    );
    assert_eq!(upstream.connection_count(), 2);
    assert_eq!(upstream.answered(), 3);
    assert!(upstream.bytes().starts_with(get));
    upstream.clear();
    assert_eq!((upstream.connection_count(), upstream.answered()), (0, 0));
}

#[tokio::test]
async fn answers_each_pipelined_request() {
    let upstream = RawUpstream::start();
    let mut tcp = TcpStream::connect(upstream.addr()).await.unwrap();
    let two = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /smuggled HTTP/1.1\r\n\r\n";
    tcp.write_all(two).await.unwrap();
    assert!(upstream.wait_for_answered(2, Duration::from_secs(5)).await);
    let mut replies = vec![0; 2 * RAW_RESPONSE.len()];
    tcp.read_exact(&mut replies).await.unwrap();
    assert_eq!(replies, [RAW_RESPONSE, RAW_RESPONSE].concat());
    assert_eq!(upstream.bytes(), two);
}

#[tokio::test]
async fn drop_closes_connections() {
    let upstream = RawUpstream::start();
    let mut tcp = TcpStream::connect(upstream.addr()).await.unwrap();
    let accepted = || upstream.connection_count() == 1;
    assert!(super::super::poll_until(Duration::from_secs(5), accepted).await);
    drop(upstream);
    let mut buf = [0; 8];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
}
