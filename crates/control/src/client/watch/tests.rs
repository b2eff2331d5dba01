use std::{
    pin::Pin,
    task::{Context, Poll},
};

use http_body::Frame;
use tokio::sync::mpsc;

use super::*;

/// A body of the chunks sent into a channel.
struct Chunks(mpsc::UnboundedReceiver<&'static str>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes())))))
    }
}

fn watch() -> (mpsc::UnboundedSender<&'static str>, MeshWatch) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, MeshWatch::new(Chunks(rx)))
}

const SNAPSHOT: &str = r#"{"version":7,"trust_domain":"rampart.local","bundle_pem":[],"revoked_serials":["0a"],"services":[]}"#;

#[tokio::test(start_paused = true)]
async fn lines_split_across_frames_make_snapshots_and_keep_alives_are_skipped() {
    let (tx, mut watch) = watch();
    let (head, tail) = SNAPSHOT.split_at(20);
    for chunk in ["\n", head, tail, "\n\n", SNAPSHOT] {
        tx.send(chunk).unwrap();
    }
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.version, 7);
    assert_eq!(first.revoked_serials, ["0a"]);
    drop(tx);
    // The last line has no newline: still a snapshot, then the end.
    assert_eq!(watch.next().await.unwrap().unwrap().version, 7);
    assert!(watch.next().await.is_none());
    assert!(watch.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn silence_fails_after_45_seconds_but_keep_alives_hold_it_open() {
    let (tx, mut watch) = watch();
    tx.send(SNAPSHOT).unwrap();
    tx.send("\n").unwrap();
    assert!(watch.next().await.unwrap().is_ok());
    let keep = tokio::spawn(async move {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(40)).await;
            tx.send("\n").unwrap();
        }
        tx
    });
    let started = tokio::time::Instant::now();
    let error = watch.next().await.unwrap().unwrap_err();
    assert!(matches!(error, ControlError::WatchSilent { .. }), "{error}");
    // Three keep-alives 40 s apart, then 45 s of silence.
    assert_eq!(started.elapsed(), Duration::from_secs(165));
    assert!(watch.next().await.is_none());
    drop(keep.await.unwrap());
}

#[tokio::test]
async fn garbage_is_an_error() {
    let (tx, mut watch) = watch();
    tx.send("{\"version\":\n").unwrap();
    let error = watch.next().await.unwrap().unwrap_err();
    assert!(error.to_string().contains("not a snapshot"), "{error}");
}
