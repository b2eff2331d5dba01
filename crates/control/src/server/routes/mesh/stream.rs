//! The body of `GET /v1/mesh/watch`: a task per watcher follows the snapshot channel and
//! writes newline-delimited JSON into a small bounded channel that the response body reads.
//!
//! A slow reader never holds anything up: while its channel is full the task waits, and the
//! snapshots that change meanwhile collapse into the latest one.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http_body::Frame;
use tokio::sync::{mpsc, watch};

use crate::{
    api::MeshSnapshot,
    mesh::Mesh,
    server::{peer::Peer, state::SharedState},
};

/// How often an idle stream carries an empty line, so that both ends know it is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Lines buffered for one watcher.
const BUFFERED_LINES: usize = 4;
/// The media type of the stream.
const NDJSON: &str = "application/x-ndjson";

/// The streaming response for `peer`, fed by a task that ends with it.
pub(super) fn respond(state: &SharedState, peer: Peer) -> Response {
    let (tx, rx) = mpsc::channel(BUFFERED_LINES);
    let mesh = state.authority.mesh().clone();
    let snapshots = mesh.subscribe();
    tokio::spawn(follow(mesh, snapshots, tx, peer, state.shutdown.clone()));
    let mut response = Body::new(LineBody { rx }).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Writes the current snapshot, then each change and the keep-alives, until the watcher goes
/// away, its SVID is revoked or expires, or the server shuts down.
async fn follow(
    mesh: Mesh,
    mut snapshots: watch::Receiver<Arc<MeshSnapshot>>,
    tx: mpsc::Sender<Bytes>,
    peer: Peer,
    mut shutdown: watch::Receiver<bool>,
) {
    let expiry = peer
        .expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let expired = tokio::time::sleep(expiry);
    tokio::pin!(expired);
    let mut keep_alive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    let mut current = Some(snapshots.borrow_and_update().clone());
    loop {
        if let Some(snapshot) = current.take() {
            if snapshot.revoked_serials.contains(&peer.serial) {
                tracing::info!(spiffe_id = %peer.id, serial = %peer.serial, "mesh watch ended: the watcher's svid is revoked");
                return;
            }
            let Some(line) = mesh.encoded(&snapshot) else {
                return;
            };
            if tx.send(line).await.is_err() {
                return;
            }
            keep_alive.reset();
        }
        tokio::select! {
            changed = snapshots.changed() => match changed {
                Ok(()) => current = Some(snapshots.borrow_and_update().clone()),
                Err(_) => return,
            },
            _ = keep_alive.tick() => {
                if tx.send(Bytes::from_static(b"\n")).await.is_err() {
                    return;
                }
            }
            () = &mut expired => {
                tracing::debug!(spiffe_id = %peer.id, "mesh watch ended: the watcher's svid expired");
                return;
            }
            () = tx.closed() => return,
            _ = shutdown.changed() => return,
        }
    }
}

/// A response body of the lines sent into a channel; it ends when the sender is dropped.
struct LineBody {
    rx: mpsc::Receiver<Bytes>,
}

// === impl LineBody ===

impl http_body::Body for LineBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|line| line.map(|bytes| Ok(Frame::data(bytes))))
    }
}
