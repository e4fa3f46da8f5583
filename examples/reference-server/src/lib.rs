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
pub mod metrics;
pub mod openapi;
pub mod reencrypt;
pub mod routes;
pub mod state;
pub mod workers;

// The HTTP kit the server is built from (problem errors, extractors, authentication,
// idempotency, client addresses, the access log), where an embedder finds it too.
use workos_axum::request_id::drop_unsafe_request_id;
use workos_axum::serve::run_to_completion;
pub use workos_axum::serve::{ReadTimeouts, serve, serve_with, shutdown_signal};
pub use workos_axum::{access_log, auth, client_ip, error, extract, idempotency, jwks};

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
    let openapi = openapi::document(&generated, public_operations());
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

/// The `(path, method)` of the routes that take no API key or user token.
fn public_operations() -> std::collections::BTreeSet<(String, String)> {
    let (_, public) = OpenApiRouter::<AppState>::new()
        .nest("/api/v1", routes::public())
        .split_for_parts();
    workos_axum::openapi::operations(&public)
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
