//! The connection loop: HTTP/1.1 over any [`Listener`] (plain TCP or TLS), with time limits.
//!
//! `axum::serve` sets no timers, so a client that opens a connection and sends nothing (or
//! sends headers a byte at a time) would hold it forever. Here hyper reads the request head
//! under [`header_timeout`](ServeOptions::header_timeout), and the router answers every
//! request within [`request_timeout`](ServeOptions::request_timeout) (slow bodies included)
//! or with `408 Request Timeout`.
//!
//! Connections are capped ([`ServeOptions::max_connections`]): one over the cap is answered
//! `503 Service Unavailable` and closed (by a few small tasks of their own; past those, it is
//! closed at once), so a flood of idle connections cannot exhaust file descriptors or
//! memory, and the server keeps answering the connections it holds.

use crate::refusals::Refusals;
use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::serve::Listener;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// Time limits of the connection loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeOptions {
    /// How long a client may take to send a request's head.
    pub header_timeout: Duration,
    /// How long a request may take, body included, before `408`.
    pub request_timeout: Duration,
    /// How long shutdown waits for connections in flight.
    pub drain_timeout: Duration,
    /// The most connections served at once.
    pub max_connections: usize,
}

/// Default of [`ServeOptions::max_connections`]: well under the usual limit of 1,024 file
/// descriptors per process.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// How many connections over the cap get a `503` at once (the rest are closed).
const BUSY_ANSWERS: usize = 32;
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: 48\r\n\r\ntoo many connections to the server; retry later\n";

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ServeOptions {
    /// These options with other header and request timeouts.
    pub fn with_timeouts(mut self, header: Duration, request: Duration) -> Self {
        self.header_timeout = header;
        self.request_timeout = request;
        self
    }

    /// These options with another connection cap (at least 1).
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }
}

/// Wraps a router so each request gets at most `limit`, then `408`.
pub fn with_request_timeout(router: Router, limit: Duration) -> Router {
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| async move {
            match tokio::time::timeout(limit, next.run(request)).await {
                Ok(response) => response,
                Err(_) => (StatusCode::REQUEST_TIMEOUT, "request took too long").into_response(),
            }
        },
    ))
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the connections in
/// flight finish (up to [`ServeOptions::drain_timeout`]).
pub async fn serve<L>(
    listener: L,
    router: Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) where
    L: Listener,
    L::Addr: std::fmt::Debug + Clone + Send + Sync + 'static,
{
    let refusals = Arc::new(Refusals::new());
    serve_counted(listener, router, options, refusals, shutdown).await;
}

/// Like [`serve`], counting connections refused over the cap in `refusals`.
pub async fn serve_counted<L>(
    mut listener: L,
    router: Router,
    options: ServeOptions,
    refusals: Arc<Refusals>,
    shutdown: impl std::future::Future<Output = ()>,
) where
    L: Listener,
    L::Addr: std::fmt::Debug + Clone + Send + Sync + 'static,
{
    let router = with_request_timeout(router, options.request_timeout);
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let busy_slots = Arc::new(Semaphore::new(BUSY_ANSWERS));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refusals.record(
                "too-many-connections",
                503,
                &format_args!("{} connections open", options.max_connections),
            );
            if let Ok(busy) = Arc::clone(&busy_slots).try_acquire_owned() {
                tokio::spawn(async move {
                    let mut io = io;
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        let _ = io.write_all(BUSY_RESPONSE).await;
                        let _ = io.shutdown().await;
                    })
                    .await;
                    drop(busy);
                });
            }
            continue;
        };
        // The peer address, for handlers that trust some sources (`--trusted-proxy`).
        let info = axum::extract::ConnectInfo(peer.clone());
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(info.clone());
                request
            },
        ));
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_timeout)
            .serve_connection(TokioIo::new(io), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(?peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(options.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout");
    }
}
