//! Serving: HTTP/1.1 with the slowloris guards ([`ReadTimeouts`]), graceful shutdown
//! ([`shutdown_signal`]), and requests that run to completion when their client goes
//! ([`run_to_completion`]).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::http::{Request, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Runs the request on a task of its own, so a client that disconnects mid-request does not
/// cancel it: hyper drops the request's future when the connection goes, which would stop a
/// handler between two transactions (a write committed, the `Idempotency-Key` never marked
/// done) or between two statements of one. Detached, every request runs to its end (its
/// transactions commit or roll back whole) and only the answer is lost.
pub async fn run_to_completion(req: axum::extract::Request, next: middleware::Next) -> Response {
    use tracing::Instrument as _;
    match tokio::spawn(next.run(req).in_current_span()).await {
        Ok(response) => response,
        // A panic goes on to `CatchPanicLayer`, as if it had happened here.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "shutting down",
        )
        .into_response(),
    }
}

/// How long a client may take to send a request's headers, and then its body (the slowloris
/// guards): `WORKOS_HEADER_READ_TIMEOUT_SECS` and `WORKOS_BODY_READ_TIMEOUT_SECS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTimeouts {
    /// From the connection's start (or the previous response) to the end of the headers; a
    /// client too slow is disconnected.
    pub headers: Duration,
    /// From the handler's first read of the body to its end; a client too slow gets `408`.
    pub body: Duration,
}

impl Default for ReadTimeouts {
    fn default() -> Self {
        Self {
            headers: Duration::from_secs(10),
            body: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` with the default [`ReadTimeouts`]; see [`serve_with`].
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, ReadTimeouts::default()).await
}

/// Serves `app` on `listener` (HTTP/1.1) until `shutdown` resolves, then stops accepting
/// connections and lets in-flight requests finish. Handlers see each connection's peer address
/// (`ConnectInfo`), which the public form's per-IP limit keys on. A client that does not send
/// its headers, or its body, within `timeouts` is cut off, so slow clients cannot hold
/// connections (and memory) open at will.
///
/// # Errors
/// When the listener fails.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    timeouts: ReadTimeouts,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeouts.headers);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A connection gone before it was accepted, or a passing shortage (of file
                // descriptors): never a reason to stop serving. Wait, as axum::serve does.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = tower_http::timeout::RequestBodyTimeout::new(app.clone(), timeouts.body)
            .map_request(move |mut req: Request<_>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            });
        let connection = http.serve_connection(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a signal arriving in between would otherwise meet the default
/// action and end the process without its shutdown (workers keeping what they claimed).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let received = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = received(interrupt) => {}
                () = received(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    }
}
