//! Upstream servers on 127.0.0.1 that record what reaches them: [`RecordingUpstream`] is a real
//! hyper server (HTTP/1.1 and h2c, optionally TLS); [`RawUpstream`] a plain TCP listener that keeps
//! every byte, for asserting exactly what a gateway forwarded. Both must be started inside a Tokio
//! runtime and stop (with all their connections) when dropped.

mod raw;
mod recording;

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::{Instant, sleep};

pub use raw::{RAW_RESPONSE, RawUpstream};
pub use recording::{Recorded, RecordingUpstream, RecordingUpstreamBuilder};

/// Binds 127.0.0.1 on a free port without awaiting, so `start()` can stay synchronous.
fn bind_local() -> TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .set_nonblocking(true)
        .expect("make the listener non-blocking");
    TcpListener::from_std(listener).expect("register the listener with Tokio (inside a runtime?)")
}

/// Polls `done` every few milliseconds until it holds (true) or `timeout` passes (false).
async fn poll_until(timeout: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(5)).await;
    }
}
