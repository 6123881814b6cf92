//! The connection loop: HTTP/1.1 over any [`Listener`] (plain TCP or TLS), with time limits.
//!
//! `axum::serve` sets no timers, so a client that opens a connection and sends nothing (or
//! sends headers a byte at a time) would hold it forever. Here hyper reads the request head
//! under [`header_timeout`](ServeOptions::header_timeout), and the router answers every
//! request within [`request_timeout`](ServeOptions::request_timeout) (slow bodies included)
//! or with `408 Request Timeout`.

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::serve::Listener;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
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
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
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
    mut listener: L,
    router: Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) where
    L: Listener,
    L::Addr: std::fmt::Debug + Clone + Send + Sync + 'static,
{
    let router = with_request_timeout(router, options.request_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
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
