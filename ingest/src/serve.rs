//! The accept loop: HTTP/1.1 connections served with the time limits `axum::serve` does
//! not let us set, each request told its peer's address, and a graceful shutdown.
//!
//! Why not `axum::serve`: it sets no timer, so a client that opens a connection and
//! sends half a request line, or keeps an idle connection, holds it for ever; enough of
//! them exhaust the process. Here the header block must arrive within
//! [`ServeConfig::header_read_secs`] (hyper's timer, which also closes a kept-alive
//! connection that sends no new request in that time), and a request body that stops
//! sending for [`ServeConfig::body_idle_secs`] ends the request (see [`crate::router`]).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The connection-level limits (`[http.serve]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// A request's line and headers must arrive within this many seconds of the
    /// connection being ready for one; an idle kept-alive connection is closed after it.
    pub header_read_secs: u64,
    /// A request body that sends nothing for this many seconds is ended (408), its
    /// upload slot freed.
    pub body_idle_secs: u64,
    /// How long a shutdown waits for requests in flight.
    pub shutdown_grace_secs: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self { header_read_secs: 10, body_idle_secs: 30, shutdown_grace_secs: 30 }
    }
}

impl ServeConfig {
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !(1..=300).contains(&self.header_read_secs) {
            problems.push(format!("http.serve.header_read_secs = {} (1 to 300)", self.header_read_secs));
        }
        if !(1..=600).contains(&self.body_idle_secs) {
            problems.push(format!("http.serve.body_idle_secs = {} (1 to 600)", self.body_idle_secs));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, then lets requests in flight finish for
/// up to the grace period. Each request carries [`ConnectInfo<SocketAddr>`] (its peer).
pub async fn serve(listener: TcpListener, app: Router, config: &ServeConfig, shutdown: CancellationToken) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(config.header_read_secs));
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: say so, breathe, go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            tower::ServiceExt::oneshot(app.clone(), request)
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(config.shutdown_grace_secs), graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after the shutdown grace period; closing");
    }
    Ok(())
}

/// The peer of a request served by [`serve`]; `None` under another server (tests that
/// call the router directly).
pub fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}
