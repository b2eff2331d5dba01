//! Bodies on both sides of the proxy.
//!
//! Requests: bodies up to `request_buffer_bytes` are read whole before the upstream sees
//! anything, so a broken or oversized body is answered (400/413) without an upstream ever being
//! involved; longer bodies stream, still bounded by the route's limit. Responses: the upstream's
//! body streams to the client through [`Observed`], which counts bytes and reports the request
//! once the body has ended (or the client went away).

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

/// Errors of a request body on its way upstream.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body larger than {0} bytes")]
    TooLarge(u64),
    #[error("request body could not be read: {0}")]
    Client(#[from] hyper::Error),
}

/// A request body as sent upstream.
#[derive(Debug)]
pub enum UpstreamBody {
    Empty,
    Full(Option<Bytes>),
    /// Already-read bytes, then the rest of the client's body, counted against `limit`.
    Stream {
        head: Option<Bytes>,
        rest: Incoming,
        /// Bytes of the body so far; shared so the access event can report the whole body.
        seen: Arc<AtomicU64>,
        limit: u64,
    },
}

/// How reading the start of a request body went.
pub enum Buffered {
    Complete(UpstreamBody, u64),
    TooLarge,
    Broken(hyper::Error),
}

/// Reads up to `buffer` bytes of `body`; returns the whole body if it ended by then.
pub async fn buffer(mut body: Incoming, buffer: u64, limit: u64) -> Buffered {
    use http_body_util::BodyExt;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut seen: u64 = 0;
    loop {
        if body.is_end_stream() {
            break;
        }
        if seen >= buffer {
            let head = join(chunks);
            return Buffered::Complete(
                UpstreamBody::Stream {
                    head: Some(head),
                    rest: body,
                    seen: Arc::new(AtomicU64::new(seen)),
                    limit,
                },
                seen,
            );
        }
        match body.frame().await {
            None => break,
            Some(Err(e)) => return Buffered::Broken(e),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    seen += data.len() as u64;
                    if seen > limit {
                        return Buffered::TooLarge;
                    }
                    chunks.push(data);
                }
            }
        }
    }
    let full = join(chunks);
    let n = full.len() as u64;
    Buffered::Complete(
        if n == 0 {
            UpstreamBody::Empty
        } else {
            UpstreamBody::Full(Some(full))
        },
        n,
    )
}

fn join(mut chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut all = Vec::with_capacity(chunks.iter().map(Bytes::len).sum());
            for c in chunks {
                all.extend_from_slice(&c);
            }
            Bytes::from(all)
        }
    }
}

// === impl UpstreamBody ===

impl UpstreamBody {
    /// For a streaming body, its running byte count (final once the body has been sent).
    pub fn streamed(&self) -> Option<Arc<AtomicU64>> {
        match self {
            UpstreamBody::Stream { seen, .. } => Some(seen.clone()),
            _ => None,
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            UpstreamBody::Empty => Poll::Ready(None),
            UpstreamBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            UpstreamBody::Stream {
                head,
                rest,
                seen,
                limit,
            } => {
                if let Some(h) = head.take() {
                    return Poll::Ready(Some(Ok(Frame::data(h))));
                }
                match ready!(Pin::new(rest).poll_frame(cx)) {
                    None => Poll::Ready(None),
                    Some(Err(e)) => Poll::Ready(Some(Err(BodyError::Client(e)))),
                    Some(Ok(frame)) => {
                        if let Some(d) = frame.data_ref() {
                            let len = d.len() as u64;
                            if seen.fetch_add(len, Ordering::Relaxed) + len > *limit {
                                return Poll::Ready(Some(Err(BodyError::TooLarge(*limit))));
                            }
                        }
                        Poll::Ready(Some(Ok(frame)))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Empty => true,
            UpstreamBody::Full(b) => b.is_none(),
            UpstreamBody::Stream { head, rest, .. } => head.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Empty => SizeHint::with_exact(0),
            UpstreamBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            UpstreamBody::Stream { .. } => SizeHint::default(),
        }
    }
}

/// A response body as sent to the client.
#[derive(Debug)]
pub enum ResponseBody {
    Full(Option<Bytes>),
    Upstream(Incoming),
    /// From an endpoint's HTTP/1.1 pool.
    Pooled(crate::upstream::PooledBody),
}

/// Called once when a response body is finished (or abandoned), with the bytes sent.
pub trait OnDone: Send + 'static {
    fn done(self: Box<Self>, bytes_out: u64);
}

/// A response body that counts bytes and reports when it is over.
pub struct Observed {
    inner: ResponseBody,
    bytes: u64,
    on_done: Option<Box<dyn OnDone>>,
}

// === impl Observed ===

impl Observed {
    pub fn new(inner: ResponseBody, on_done: Option<Box<dyn OnDone>>) -> Self {
        Self {
            inner,
            bytes: 0,
            on_done,
        }
    }

    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self::new(ResponseBody::Full(Some(bytes.into())), None)
    }

    /// Sets what runs when the body is over.
    pub fn on_done(mut self, cb: Box<dyn OnDone>) -> Self {
        self.on_done = Some(cb);
        self
    }

    fn finish(&mut self) {
        if let Some(cb) = self.on_done.take() {
            cb.done(self.bytes);
        }
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Body for Observed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = match &mut this.inner {
            ResponseBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Upstream(body) => Pin::new(body).poll_frame(cx),
            ResponseBody::Pooled(body) => Pin::new(body).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.bytes += d.len() as u64;
                }
                if this.inner_is_end() {
                    this.finish();
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner_is_end()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            ResponseBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ResponseBody::Upstream(b) => b.size_hint(),
            ResponseBody::Pooled(b) => b.size_hint(),
        }
    }
}

impl Observed {
    fn inner_is_end(&self) -> bool {
        match &self.inner {
            ResponseBody::Full(b) => b.is_none(),
            ResponseBody::Upstream(b) => b.is_end_stream(),
            ResponseBody::Pooled(b) => b.is_end_stream(),
        }
    }
}
