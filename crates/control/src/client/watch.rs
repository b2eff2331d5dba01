//! [`MeshWatch`]: the client's end of `GET /v1/mesh/watch`, read frame by frame.

use std::time::Duration;

use bytes::Bytes;
use http_body::Body;
use http_body_util::{BodyExt, combinators::UnsyncBoxBody};

use crate::{ControlError, api::MeshSnapshot};

/// How long a watch may carry nothing, not even the keep-alive the control plane sends every
/// 15 s, before reading it fails (and the caller should reconnect).
pub const WATCH_SILENCE: Duration = Duration::from_secs(45);

/// The longest line (one snapshot) read.
const MAX_LINE: usize = 48 * 1024 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A stream of mesh snapshots: the current one first, then one per change. Keep-alive lines
/// are skipped.
pub struct MeshWatch {
    body: UnsyncBoxBody<Bytes, BoxError>,
    /// Bytes received and not yet returned as a line.
    pending: Vec<u8>,
    silence: Duration,
    done: bool,
}

// === impl MeshWatch ===

impl MeshWatch {
    pub(super) fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self {
            body: body.map_err(Into::into).boxed_unsync(),
            pending: Vec::new(),
            silence: WATCH_SILENCE,
            done: false,
        }
    }

    /// The next snapshot; `None` when the control plane ended the stream (e.g. on shutdown,
    /// or when this client's SVID expired or was revoked); an error when the stream broke,
    /// carried something that is not a snapshot, or was silent for [`WATCH_SILENCE`]. After
    /// `None` or an error, the stream is over: watch again.
    ///
    /// Cancel-safe: a call dropped before it returns loses nothing.
    pub async fn next(&mut self) -> Option<Result<MeshSnapshot, ControlError>> {
        loop {
            if let Some(line) = self.take_line() {
                match parse(&line) {
                    Some(snapshot) => return Some(snapshot),
                    None => continue,
                }
            }
            if self.done {
                return None;
            }
            let frame = match tokio::time::timeout(self.silence, self.body.frame()).await {
                Err(_) => {
                    return self.fail(ControlError::WatchSilent {
                        after: self.silence,
                    });
                }
                Ok(frame) => frame,
            };
            match frame {
                None => {
                    self.done = true;
                    // A last snapshot without its newline still counts.
                    let rest = std::mem::take(&mut self.pending);
                    if let Some(snapshot) = parse(&rest) {
                        return Some(snapshot);
                    }
                    return None;
                }
                Some(Err(e)) => {
                    return self.fail(ControlError::InvalidResponse {
                        reason: format!("the mesh watch broke: {e}"),
                    });
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                    if self.pending.len() > MAX_LINE {
                        return self.fail(ControlError::InvalidResponse {
                            reason: format!("a mesh snapshot is longer than {MAX_LINE} bytes"),
                        });
                    }
                }
            }
        }
    }

    /// The first complete line received, without its newline.
    fn take_line(&mut self) -> Option<Vec<u8>> {
        let end = self.pending.iter().position(|b| *b == b'\n')?;
        let mut line: Vec<u8> = self.pending.drain(..=end).collect();
        line.pop();
        Some(line)
    }

    fn fail(&mut self, error: ControlError) -> Option<Result<MeshSnapshot, ControlError>> {
        self.done = true;
        self.pending.clear();
        Some(Err(error))
    }
}

impl std::fmt::Debug for MeshWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshWatch")
            .field("pending_bytes", &self.pending.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

// === helpers ===

/// A snapshot from one line; `None` for a blank (keep-alive) line.
fn parse(line: &[u8]) -> Option<Result<MeshSnapshot, ControlError>> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(
        serde_json::from_slice(line).map_err(|e| ControlError::InvalidResponse {
            reason: format!("the mesh watch carried something that is not a snapshot: {e}"),
        }),
    )
}

#[cfg(test)]
mod tests;
