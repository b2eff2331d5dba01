//! Idle detection for client connections: an I/O wrapper that stamps the time of the last byte
//! read or written, so the connection's driver can close it after `timeouts.idle` of silence.

use pin_project_lite::pin_project;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Counts the I/O operations that moved bytes on a connection. The connection's driver
/// samples it on a timer: no clock is read on the I/O path.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    moved: Arc<AtomicU64>,
}

/// The driver's view of an [`Activity`]: when the count last changed.
#[derive(Debug)]
pub struct IdleWatch {
    activity: Activity,
    last_count: u64,
    last_change: Instant,
}

pin_project! {
    /// A connection that records its activity.
    pub struct Idle<IO> {
        #[pin]
        inner: IO,
        activity: Activity,
    }
}

// === impl Activity ===

impl Activity {
    pub fn new() -> Self {
        Self::default()
    }

    fn touch(&self) {
        self.moved.fetch_add(1, Ordering::Relaxed);
    }

    /// A watch that measures how long this connection has been silent.
    pub fn watch(&self) -> IdleWatch {
        IdleWatch {
            activity: self.clone(),
            last_count: self.moved.load(Ordering::Relaxed),
            last_change: Instant::now(),
        }
    }
}

// === impl IdleWatch ===

impl IdleWatch {
    /// How long no byte has moved, as of this call (precise to the sampling period).
    pub fn idle_for(&mut self) -> std::time::Duration {
        let count = self.activity.moved.load(Ordering::Relaxed);
        if count != self.last_count {
            self.last_count = count;
            self.last_change = Instant::now();
        }
        self.last_change.elapsed()
    }
}

// === impl Idle ===

impl<IO> Idle<IO> {
    pub fn new(inner: IO, activity: Activity) -> Self {
        Self { inner, activity }
    }
}

impl<IO: AsyncRead> AsyncRead for Idle<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let r = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        r
    }
}

impl<IO: AsyncWrite> AsyncWrite for Idle<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let r = this.inner.poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let r = this.inner.poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}
