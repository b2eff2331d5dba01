use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What [`RawUpstream`] answers to every complete request.
pub const RAW_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/// A TCP listener that keeps every byte each connection sends and answers each complete request
/// (head, then a Content-Length or chunked body) with [`RAW_RESPONSE`], keeping the connection
/// open for the next one. Its framing is lenient, not a validator: it is there to see exactly what
/// a gateway forwards (e.g. that a smuggled second request never arrives).
pub struct RawUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    /// Bytes per connection id, in the order connections first sent something (or were accepted).
    conns: Mutex<Vec<(u64, Vec<u8>)>>,
    next_id: AtomicU64,
    answered: AtomicUsize,
}

// === impl RawUpstream ===

impl RawUpstream {
    /// Binds 127.0.0.1 on a free port and starts serving; needs a Tokio runtime.
    pub fn start() -> Self {
        let listener = super::bind_local();
        let addr = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        RawUpstream { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bytes received on each connection, in accept order.
    pub fn connections(&self) -> Vec<Vec<u8>> {
        let conns = self.shared.conns.lock().unwrap();
        conns.iter().map(|(_, bytes)| bytes.clone()).collect()
    }

    pub fn connection_count(&self) -> usize {
        self.shared.conns.lock().unwrap().len()
    }

    /// Everything received, all connections concatenated in accept order.
    pub fn bytes(&self) -> Vec<u8> {
        self.connections().concat()
    }

    /// How many complete requests were answered.
    pub fn answered(&self) -> usize {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// Forgets all bytes and counts; bytes that open connections send later are kept again.
    pub fn clear(&self) {
        self.shared.conns.lock().unwrap().clear();
        self.shared.answered.store(0, Ordering::SeqCst);
    }

    /// Waits until at least `n` requests were answered; false if `timeout` passes first.
    pub async fn wait_for_answered(&self, n: usize, timeout: Duration) -> bool {
        super::poll_until(timeout, || self.answered() >= n).await
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// === serving ===

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
                    shared.append(id, &[]);
                    conns.spawn(serve(tcp, id, shared.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve(mut tcp: TcpStream, id: u64, shared: Arc<Shared>) {
    let mut pending = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        shared.append(id, &buf[..n]);
        pending.extend_from_slice(&buf[..n]);
        while let Some(len) = request_len(&pending) {
            pending.drain(..len);
            if tcp.write_all(RAW_RESPONSE).await.is_err() {
                return;
            }
            shared.answered.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Shared {
    fn append(&self, id: u64, bytes: &[u8]) {
        let mut conns = self.conns.lock().unwrap();
        match conns.iter_mut().rev().find(|(i, _)| *i == id) {
            Some((_, kept)) => kept.extend_from_slice(bytes),
            None => conns.push((id, bytes.to_vec())),
        }
    }
}

// === framing ===

/// The length of the first complete request in `buf`, or `None` if more bytes are needed.
/// An unreadable Content-Length counts as 0; Transfer-Encoding with `chunked` wins over it.
fn request_len(buf: &[u8]) -> Option<usize> {
    let head_end = find(buf, b"\r\n\r\n")? + 4;
    let mut content_length = 0;
    let mut chunked = false;
    for line in buf[..head_end].split(|b| *b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], String::from_utf8_lossy(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"content-length") {
            content_length = value.trim().parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked |= value.to_ascii_lowercase().contains("chunked");
        }
    }
    if chunked {
        return chunked_len(&buf[head_end..]).map(|n| head_end + n);
    }
    let total = head_end.checked_add(content_length)?;
    (buf.len() >= total).then_some(total)
}

/// The length of a complete chunked body (chunks, last chunk, trailers, empty line) at the start
/// of `body`, or `None` if it is not all there yet.
fn chunked_len(body: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let line_end = pos + find(&body[pos..], b"\r\n")?;
        let size_text = String::from_utf8_lossy(&body[pos..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).unwrap_or(0);
        pos = line_end + 2;
        if size == 0 {
            // Trailer lines until the empty one.
            loop {
                let end = pos + find(&body[pos..], b"\r\n")?;
                if end == pos {
                    return Some(pos + 2);
                }
                pos = end + 2;
            }
        }
        pos = pos.checked_add(size)?.checked_add(2)?;
        if pos > body.len() {
            return None;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests;
