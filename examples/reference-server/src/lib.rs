//! # workos-reference-server
//!
//! The WorkOS engine over REST: a thin axum app (routing, authentication, HTTP shapes) over the
//! library crates, where all behaviour lives. Copy from it freely.
//!
//! - `app(state)` builds the router; `serve` runs it with graceful shutdown; [`workers`] runs
//!   the background work.
//! - Cargo features `gmail`, `twilio`, `leads` and `webhooks` (all on by default) add those
//!   modules' routes, state and workers; the server builds with any subset of them.
//! - Errors are RFC 9457 problem documents; the OpenAPI 3.1 document is generated from the
//!   handlers and served at `/api/v1/openapi.json`.

#![forbid(unsafe_code)]

pub mod allowed_subnets;
pub mod bootstrap;
pub mod cache_sync;
pub mod config;
pub mod database;
pub mod metrics;
pub mod openapi;
pub mod reencrypt;
pub mod routes;
pub mod state;
pub mod workers;

// The HTTP kit the server is built from (problem errors, extractors, authentication,
// idempotency, client addresses, the access log), where an embedder finds it too.
pub use workos_axum::{access_log, auth, client_ip, error, extract, idempotency, jwks};

use std::future::Future;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

/// Bodies over this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The router and its OpenAPI document (as served), built from the same route list so they
/// cannot drift.
pub fn router_and_openapi(state: AppState) -> (Router, serde_json::Value) {
    // Install the metrics recorder before the first request is counted.
    let _ = metrics::handle();
    let api = routes::api()
        .route_layer(middleware::from_fn_with_state(
            state.idempotency.clone(),
            idempotency::idempotency,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.authn.clone(),
            auth::authenticate,
        ));
    let (api, generated) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api/v1", api.merge(routes::public()))
        .split_for_parts();
    let openapi = openapi::document(&generated, &public_operations());
    let doc = openapi.clone();
    let mut router = Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json(doc) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    // With an admin listener, the metrics (routes, volumes, pool use) are not public.
    if state.admin_bind.is_none() {
        router = router.route("/metrics", get(metrics::render));
    }
    let router = router
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "method not allowed on this route")
        })
        .with_state(state)
        .layer(middleware::from_fn(run_to_completion))
        .layer(middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
        }))
        // The request's span, which every log line of the handler carries; the one line per
        // request is the access log's, so TraceLayer's own events are off.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id, org_id = tracing::field::Empty)
                })
                .on_request(())
                .on_response(())
                .on_failure(()),
        )
        .layer(middleware::from_fn(access_log::access_log))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // Outermost: an unsafe id is dropped before anything (the generator included) sees it.
        .layer(middleware::map_request(drop_unsafe_request_id));
    (router, openapi)
}

/// The longest client-sent `x-request-id` kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Removes a client-sent `x-request-id` that is longer than [`MAX_REQUEST_ID_LEN`] or holds
/// anything but `A-Z a-z 0-9 . _ -`, so one is generated instead: the id is echoed, logged and
/// stored on events, and must not carry log-injection text or unbounded bytes.
async fn drop_unsafe_request_id<B>(mut req: Request<B>) -> Request<B> {
    let safe = |v: &axum::http::HeaderValue| {
        let bytes = v.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let values = req.headers().get_all("x-request-id");
    // Several ids are as untrustworthy as a bad one.
    let keep = values.iter().count() <= 1 && values.iter().all(safe);
    if !keep {
        req.headers_mut().remove("x-request-id");
    }
    req
}

/// The `(path, method)` of the routes that take no API key or user token.
fn public_operations() -> std::collections::BTreeSet<(String, String)> {
    let (_, public) = OpenApiRouter::<AppState>::new()
        .nest("/api/v1", routes::public())
        .split_for_parts();
    public
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = serde_json::to_value(item).unwrap_or_default();
            methods
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(move |m| (path.clone(), m))
        })
        .collect()
}

/// The application router.
pub fn app(state: AppState) -> Router {
    router_and_openapi(state).0
}

/// The router of the `WORKOS_ADMIN_BIND` listener: `GET /metrics` (and `/healthz`), nothing
/// else.
pub fn admin_app(state: AppState) -> Router {
    let _ = metrics::handle();
    Router::new()
        .route("/metrics", get(metrics::render))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

/// Runs the request on a task of its own, so a client that disconnects mid-request does not
/// cancel it: hyper drops the request's future when the connection goes, which would stop a
/// handler between two transactions (a write committed, the `Idempotency-Key` never marked
/// done) or between two statements of one. Detached, every request runs to its end (its
/// transactions commit or roll back whole) and only the answer is lost.
async fn run_to_completion(req: axum::extract::Request, next: middleware::Next) -> Response {
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

/// How long `/readyz` waits for the database: a probe gets its answer well within its own
/// timeout, even while connections to the database hang.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn readyz(State(state): State<AppState>) -> Response {
    let ping = tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await;
    match ping {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        outcome => {
            match outcome {
                Ok(Err(e)) => tracing::warn!(error = %e, "database not reachable"),
                _ => tracing::warn!("database did not answer in time"),
            }
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "database not reachable",
            )
            .into_response()
        }
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
