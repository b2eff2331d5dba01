//! Strict HTTP/1 framing at the byte level, in front of hyper.
//!
//! hyper is lenient where RFC 9112 allows it (it resolves `Content-Length` + `Transfer-Encoding`
//! by dropping the length, merges identical lengths, accepts bare LF). A gateway must not be:
//! any message two parsers could frame differently is a smuggling vector. [`FramingGuard`] wraps
//! a client connection, holds back each request head until it is complete, checks it, and only
//! then hands it to hyper. It then follows the body (by length or chunk by chunk) to find the
//! next head. A bad head is never seen by hyper: the guard answers it itself (400, 414 or 431),
//! closes the connection, and reports it. A broken chunked body ends the connection.

use bytes::{Buf, BytesMut};
use pin_project_lite::pin_project;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

mod head;
#[cfg(test)]
mod tests;

pub use head::{BodyKind, HeadInfo, HeadLimits, Rejection, check_head};

/// Told about every request the guard refuses.
pub trait RejectSink: Send + Sync + 'static {
    fn rejected(&self, rejection: &Rejection);
}

/// How long the guard has been waiting for the rest of a request head, for the header-read
/// timeout. Waiting starts when the connection opens, or when the first bytes of a later head
/// arrive: a keep-alive connection idle between requests is not waiting for a head (that is the
/// idle timeout's business), and neither is one whose request is being served. hyper's own
/// header timer cannot tell these apart, since the guard holds partial heads back from it.
#[derive(Debug, Clone)]
pub struct HeadClock {
    base: Instant,
    /// Milliseconds since `base` (plus one) when waiting started; 0 when not waiting.
    since: Arc<AtomicU64>,
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Longest chunk-size line (with extensions) or trailer section accepted.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16 * 1024;
/// Size of each read from the client while a head is being collected.
const SCRATCH: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// First bytes of the connection: an h2 preface or an HTTP/1 head.
    Start,
    Head,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers(usize),
    /// After CONNECT or an h2 preface: bytes are not HTTP/1 messages any more.
    Passthrough,
    /// A head was refused; nothing more is read.
    Rejected,
}

pin_project! {
    /// An HTTP/1 connection whose request framing is checked before hyper reads it.
    pub struct FramingGuard<IO> {
        #[pin]
        inner: IO,
        limits: HeadLimits,
        state: State,
        staging: BytesMut,
        ready: BytesMut,
        scratch: Vec<u8>,
        eof: bool,
        reply: Option<(Vec<u8>, usize)>,
        broken: Option<&'static str>,
        sink: Option<std::sync::Arc<dyn RejectSink>>,
        clock: Option<HeadClock>,
    }
}

// === impl HeadClock ===

impl HeadClock {
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
            since: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How long the current head has been awaited, or `None` if none is.
    pub fn waiting_for(&self) -> Option<Duration> {
        match self.since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(Duration::from_millis(self.now().saturating_sub(since))),
        }
    }

    fn start(&self) {
        // Read the clock only when the timer is not running yet (once per head).
        if self.since.load(Ordering::Relaxed) == 0 {
            let _ =
                self.since
                    .compare_exchange(0, self.now(), Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn stop(&self) {
        self.since.store(0, Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }
}

impl Default for HeadClock {
    fn default() -> Self {
        Self::new()
    }
}

// === impl FramingGuard ===

impl<IO> FramingGuard<IO> {
    pub fn new(
        inner: IO,
        limits: HeadLimits,
        sink: Option<std::sync::Arc<dyn RejectSink>>,
    ) -> Self {
        Self {
            inner,
            limits,
            state: State::Start,
            staging: BytesMut::new(),
            ready: BytesMut::new(),
            scratch: Vec::new(),
            eof: false,
            reply: None,
            broken: None,
            sink,
            clock: None,
        }
    }

    /// Keeps `clock` up to date with the head this guard is waiting for.
    pub fn with_head_clock(mut self, clock: HeadClock) -> Self {
        self.clock = Some(clock);
        self
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
    }
}

impl<IO: AsyncRead> AsyncRead for FramingGuard<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut this = self.project();
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..n]);
                this.ready.advance(n);
                return Poll::Ready(Ok(()));
            }
            match *this.state {
                State::Rejected => {
                    return match this.broken.take() {
                        Some(msg) => {
                            Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, msg)))
                        }
                        None => Poll::Ready(Ok(())),
                    };
                }
                // Fast paths: body bytes of known length and tunnels go straight to hyper.
                State::Passthrough if this.staging.is_empty() => {
                    return this.inner.as_mut().poll_read(cx, buf);
                }
                State::Body(rem) if this.staging.is_empty() => {
                    let limit = usize::try_from(rem)
                        .unwrap_or(usize::MAX)
                        .min(buf.remaining());
                    // Initialise first so the bytes read through `take` can be marked filled
                    // without unsafe code.
                    buf.initialize_unfilled_to(limit);
                    let mut sub = buf.take(limit);
                    ready!(this.inner.as_mut().poll_read(cx, &mut sub))?;
                    let n = sub.filled().len();
                    buf.advance(n);
                    if n == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    *this.state = match rem - n as u64 {
                        0 => State::Head,
                        left => State::Body(left),
                    };
                    return Poll::Ready(Ok(()));
                }
                _ => {}
            }
            // Classify what is staged; if that produced nothing to hand over, read more.
            match advance(this.state, this.staging, this.ready, this.limits, *this.eof) {
                Ok(()) => {}
                Err(Fault::Reject(r)) => {
                    if let Some(sink) = this.sink.as_ref() {
                        sink.rejected(&r);
                    }
                    // Requests before the bad one were checked and still go through; nothing after.
                    *this.reply = Some((r.response(), 0));
                    *this.state = State::Rejected;
                    this.staging.clear();
                    continue;
                }
                Err(Fault::Broken(msg)) => {
                    *this.broken = Some(msg);
                    *this.state = State::Rejected;
                    this.staging.clear();
                    continue;
                }
            }
            if !this.ready.is_empty() {
                // Bytes go to hyper only once their head is complete: no head is awaited now.
                if let Some(clock) = this.clock.as_ref() {
                    clock.stop();
                }
                continue;
            }
            if *this.eof {
                return Poll::Ready(Ok(()));
            }
            if let Some(clock) = this.clock.as_ref() {
                let awaiting_head = match *this.state {
                    State::Start => true,
                    State::Head => !this.staging.is_empty(),
                    _ => false,
                };
                if awaiting_head {
                    clock.start();
                }
            }
            if this.scratch.is_empty() {
                this.scratch.resize(SCRATCH, 0);
            }
            let mut tmp = ReadBuf::new(&mut this.scratch[..]);
            ready!(this.inner.as_mut().poll_read(cx, &mut tmp))?;
            match tmp.filled() {
                [] => *this.eof = true,
                filled => this.staging.extend_from_slice(filled),
            }
        }
    }
}

impl<IO: AsyncWrite> AsyncWrite for FramingGuard<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        // Answer a refused head before closing: hyper never saw it, so it wrote nothing for it.
        if let Some((bytes, sent)) = this.reply.as_mut() {
            while *sent < bytes.len() {
                let n = ready!(this.inner.as_mut().poll_write(cx, &bytes[*sent..]))?;
                if n == 0 {
                    break;
                }
                *sent += n;
            }
            ready!(this.inner.as_mut().poll_flush(cx))?;
            *this.reply = None;
        }
        this.inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

enum Fault {
    Reject(Rejection),
    Broken(&'static str),
}

/// Moves every byte of `staging` that can be classified now into `ready`.
fn advance(
    state: &mut State,
    staging: &mut BytesMut,
    ready: &mut BytesMut,
    limits: &HeadLimits,
    eof: bool,
) -> Result<(), Fault> {
    while !staging.is_empty() {
        match *state {
            State::Start => {
                let n = staging.len().min(H2_PREFACE.len());
                if staging[..n] != H2_PREFACE[..n] {
                    *state = State::Head;
                } else if n == H2_PREFACE.len() {
                    *state = State::Passthrough;
                } else {
                    return Ok(()); // could still be the preface
                }
            }
            State::Head => {
                // Tolerate the empty lines RFC 9112 lets a client send between messages.
                if staging.starts_with(b"\r\n") {
                    staging.advance(2);
                    continue;
                }
                let Some(end) = find_head_end(staging) else {
                    if let Some(r) = head::too_large_partial(staging, limits, eof) {
                        return Err(Fault::Reject(r));
                    }
                    return Ok(());
                };
                let info = check_head(&staging[..end], limits).map_err(Fault::Reject)?;
                ready.extend_from_slice(&staging[..end]);
                staging.advance(end);
                *state = match info.body {
                    _ if info.connect => State::Passthrough,
                    BodyKind::None => State::Head,
                    BodyKind::Length(n) => State::Body(n),
                    BodyKind::Chunked => State::ChunkSize,
                };
            }
            State::Body(rem) => {
                let n = usize::try_from(rem)
                    .unwrap_or(usize::MAX)
                    .min(staging.len());
                ready.extend_from_slice(&staging[..n]);
                staging.advance(n);
                *state = match rem - n as u64 {
                    0 => State::Head,
                    left => State::Body(left),
                };
            }
            State::ChunkSize => {
                let Some(nl) = staging.iter().position(|b| *b == b'\n') else {
                    if staging.len() > MAX_CHUNK_LINE {
                        return Err(Fault::Broken("chunk-size line too long"));
                    }
                    return Ok(());
                };
                let size =
                    parse_chunk_line(&staging[..=nl]).ok_or(Fault::Broken("invalid chunk size"))?;
                ready.extend_from_slice(&staging[..=nl]);
                staging.advance(nl + 1);
                *state = if size == 0 {
                    State::Trailers(0)
                } else {
                    State::ChunkData(size)
                };
            }
            State::ChunkData(rem) => {
                let n = usize::try_from(rem)
                    .unwrap_or(usize::MAX)
                    .min(staging.len());
                ready.extend_from_slice(&staging[..n]);
                staging.advance(n);
                *state = match rem - n as u64 {
                    0 => State::ChunkEnd,
                    left => State::ChunkData(left),
                };
            }
            State::ChunkEnd => {
                if staging.len() < 2 {
                    return Ok(());
                }
                if &staging[..2] != b"\r\n" {
                    return Err(Fault::Broken("chunk data not followed by CRLF"));
                }
                ready.extend_from_slice(b"\r\n");
                staging.advance(2);
                *state = State::ChunkSize;
            }
            State::Trailers(seen) => {
                let Some(nl) = staging.iter().position(|b| *b == b'\n') else {
                    if seen + staging.len() > MAX_TRAILERS {
                        return Err(Fault::Broken("trailer section too large"));
                    }
                    return Ok(());
                };
                let line = &staging[..=nl];
                if nl == 0
                    || line[nl - 1] != b'\r'
                    || line[..nl - 1].contains(&b'\r')
                    || line.contains(&0)
                {
                    return Err(Fault::Broken("malformed trailer line"));
                }
                let done = nl == 1;
                ready.extend_from_slice(line);
                staging.advance(nl + 1);
                *state = if done {
                    State::Head
                } else {
                    State::Trailers(seen + nl + 1)
                };
            }
            State::Passthrough => {
                ready.extend_from_slice(staging);
                staging.clear();
            }
            State::Rejected => {
                staging.clear();
            }
        }
    }
    Ok(())
}

/// Index just past the blank line that ends a head (`\r\n\r\n`), if present. A bare-LF blank
/// line also ends the search, so that `check_head` can refuse it.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = buf[i..].iter().position(|b| *b == b'\n') {
        let nl = i + p;
        if buf.get(nl + 1) == Some(&b'\n') {
            return Some(nl + 2);
        }
        if buf.get(nl + 1) == Some(&b'\r') && buf.get(nl + 2) == Some(&b'\n') {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// `1*HEXDIG [ ";" ext ] CRLF` → the size. Whitespace, signs and `0x` prefixes are refused.
fn parse_chunk_line(line: &[u8]) -> Option<u64> {
    let body = line.strip_suffix(b"\r\n")?;
    let (size, ext) = match body.iter().position(|b| *b == b';') {
        Some(i) => (&body[..i], &body[i..]),
        None => (body, &b""[..]),
    };
    if size.is_empty()
        || size.len() > 16
        || ext.iter().any(|b| *b == b'\r' || *b == b'\n' || *b == 0)
    {
        return None;
    }
    let text = std::str::from_utf8(size).ok()?;
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}
