//! The accept loop: TCP → TLS handshake (bounded in time) → HTTP/1.1 or h2 by ALPN → the
//! router, with a bounded number of connections and a graceful drain on shutdown.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::{Request, body::Incoming};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{
        conn::auto,
        graceful::{GracefulShutdown, Watcher},
    },
    service::TowerToHyperService,
};
use rustls::pki_types::CertificateDer;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;
use tower::ServiceBuilder;

use super::Limits;

/// How long to wait before accepting again after an accept error (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// The largest HTTP/1 request head, and h2 header list.
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The certificate chain (leaf first) a client presented in the TLS handshake, in the
/// extensions of each of its requests; absent when it presented none.
#[derive(Clone, Debug)]
pub(crate) struct PeerCertificates(pub(crate) Arc<[CertificateDer<'static>]>);

/// What every connection task needs.
struct Conn {
    acceptor: TlsAcceptor,
    app: Router,
    http: auto::Builder<TokioExecutor>,
    handshake_timeout: Duration,
}

/// Serves `listener` until `shutdown` turns true (or its sender is dropped), then drains.
pub(super) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let conn = Arc::new(Conn {
        acceptor,
        app,
        http: http_builder(&limits),
        handshake_timeout: limits.handshake_timeout,
    });
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    // Connections live in this set, so that aborting this task (on drop) ends them all.
    let mut tasks = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener, &slots) => accepted,
            _ = shutdown.changed() => break,
        };
        let Some((tcp, peer, permit)) = accepted else {
            break;
        };
        let (watcher, signal) = (graceful.watcher(), shutdown.clone());
        tasks.spawn(connection(conn.clone(), tcp, peer, watcher, signal, permit));
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let drain = async {
        graceful.shutdown().await;
        while tasks.join_next().await.is_some() {}
    };
    if tokio::time::timeout(limits.drain_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!("control plane: requests still running after the drain timeout were cut");
    }
}

// === helpers ===

/// The next connection, once a connection slot is free; `None` if the slots are gone.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let permit = slots.clone().acquire_owned().await.ok()?;
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => return Some((tcp, peer, permit)),
            Err(error) => {
                tracing::warn!(%error, "control plane: accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

async fn connection(
    conn: Arc<Conn>,
    tcp: TcpStream,
    peer: SocketAddr,
    watcher: Watcher,
    mut shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = tcp.set_nodelay(true);
    let handshake = tokio::time::timeout(conn.handshake_timeout, conn.acceptor.accept(tcp));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(client = %peer, %error, "control plane: tls handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(client = %peer, "control plane: tls handshake timed out");
                return;
            }
        },
        _ = shutdown.changed() => return,
    };
    // The client certificate chain, if any: the TLS verifier checked it was an SVID at the
    // handshake; handlers that rely on it verify it again at request time.
    let peer_certs = stream
        .get_ref()
        .1
        .peer_certificates()
        .filter(|chain| !chain.is_empty())
        .map(|chain| PeerCertificates(chain.to_vec().into()));
    let service = ServiceBuilder::new()
        .map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            if let Some(certs) = &peer_certs {
                request.extensions_mut().insert(certs.clone());
            }
            request
        })
        .service(conn.app.clone());
    let served = conn
        .http
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    if let Err(error) = watcher.watch(served).await {
        tracing::debug!(client = %peer, %error, "control plane: connection ended with an error");
    }
}

fn http_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_h2_streams)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .keep_alive_interval(Duration::from_secs(30));
    http
}
