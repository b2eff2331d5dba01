//! Raw TCP clients: send exact bytes and see exactly what comes back, or trickle a request head
//! the way a slowloris attacker does.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout_at};

/// What a server sent back on one connection, and how the exchange ended.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawReply {
    pub bytes: Vec<u8>,
    /// The server closed (or reset) the connection before `wait` ran out.
    pub closed: bool,
    /// `wait` ran out with the connection still open.
    pub timed_out: bool,
}

/// How a slowloris-style trickle ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlowReport {
    /// The server closed (or reset) the connection before the client gave up.
    pub closed: bool,
    /// Time from connect until the close was seen, or until the client gave up.
    pub after: Duration,
    /// Head bytes written before that.
    pub sent: usize,
    /// Whatever the server answered (e.g. a 408).
    pub reply: Vec<u8>,
}

/// Connects to `addr`, writes `bytes` (shutting nothing down) and reads until the server closes
/// the connection or `wait` has elapsed. A failed write is not an error: servers often answer and
/// close before reading all of a bad request, and that answer is what the test wants.
pub async fn send_raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> RawReply {
    let deadline = Instant::now() + wait;
    let mut stream = connect(addr).await;
    let _ = timeout_at(deadline, stream.write_all(bytes)).await;
    let mut reply = RawReply::default();
    let mut buf = vec![0; 16 * 1024];
    loop {
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => {
                reply.timed_out = true;
                return reply;
            }
            Ok(Ok(0) | Err(_)) => {
                reply.closed = true;
                return reply;
            }
            Ok(Ok(n)) => reply.bytes.extend_from_slice(&buf[..n]),
        }
    }
}

/// Trickles a request head that never ends (`GET /`, a Host, then `X-Slow-N: N` lines) at
/// `bytes_per_tick` bytes every `tick`, and reports when the server closed the connection, or
/// that it had not after `give_up`.
pub async fn slow_headers(
    addr: SocketAddr,
    bytes_per_tick: usize,
    tick: Duration,
    give_up: Duration,
) -> SlowReport {
    let start = Instant::now();
    let deadline = start + give_up;
    let mut stream = connect(addr).await;
    let mut head = EndlessHead::default();
    let mut report = SlowReport::default();
    let mut buf = vec![0; 4096];
    while Instant::now() < deadline {
        let chunk = head.next_chunk(bytes_per_tick.max(1));
        match timeout_at(deadline, stream.write_all(&chunk)).await {
            Ok(Ok(())) => report.sent += chunk.len(),
            Ok(Err(_)) => return report.closed_at(start),
            Err(_) => break,
        }
        let next = (Instant::now() + tick).min(deadline);
        loop {
            tokio::select! {
                () = sleep_until(next) => break,
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return report.closed_at(start),
                    Ok(n) => report.reply.extend_from_slice(&buf[..n]),
                },
            }
        }
    }
    report.after = start.elapsed();
    report
}

// === impl RawReply ===

impl RawReply {
    /// The status code of the first response.
    pub fn status(&self) -> Option<u16> {
        self.statuses().first().copied()
    }

    /// How many `HTTP/1.x ddd` status lines came back (interim 1xx responses count too).
    pub fn responses(&self) -> usize {
        self.statuses().len()
    }

    /// The status code of every status line, in order. A status line is one that starts the
    /// reply or follows a `\n`; a body quoting one at a line start would be counted too.
    pub fn statuses(&self) -> Vec<u16> {
        status_lines(&self.bytes)
    }

    /// The reply as (lossy) text, for assertion messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

impl std::fmt::Debug for RawReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawReply")
            .field("bytes", &self.text())
            .field("closed", &self.closed)
            .field("timed_out", &self.timed_out)
            .finish()
    }
}

// === impl SlowReport ===

impl SlowReport {
    /// The status code of the first response the server sent, if any.
    pub fn status(&self) -> Option<u16> {
        status_lines(&self.reply).first().copied()
    }

    fn closed_at(mut self, start: Instant) -> Self {
        self.closed = true;
        self.after = start.elapsed();
        self
    }
}

// === helpers ===

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"))
}

fn status_lines(bytes: &[u8]) -> Vec<u16> {
    let line_starts = std::iter::once(0).chain(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1),
    );
    line_starts
        .filter_map(|i| status_code(&bytes[i..]))
        .collect()
}

/// `HTTP/1.<digit> <3 digits>` at the start of `line`.
fn status_code(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (minor, rest) = rest.split_first()?;
    let code = rest.strip_prefix(b" ")?.get(..3)?;
    if !minor.is_ascii_digit() || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// A request head that never reaches its empty line.
#[derive(Default)]
struct EndlessHead {
    pending: Vec<u8>,
    lines: usize,
}

impl EndlessHead {
    fn next_chunk(&mut self, len: usize) -> Vec<u8> {
        while self.pending.len() < len {
            let line = match self.lines {
                0 => "GET / HTTP/1.1\r\nHost: localhost\r\n".to_owned(),
                n => format!("X-Slow-{n}: {n}\r\n"),
            };
            self.lines += 1;
            self.pending.extend_from_slice(line.as_bytes());
        }
        self.pending.drain(..len).collect()
    }
}

#[cfg(test)]
mod tests;
