//! The access log: one line per request at `info`, with the method, the matched route (the
//! template, not the path, so ids do not end up in the logs), the status, the latency, the org
//! and the request id. Never a body, a query string or a header's value other than the request
//! id.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use workos_core::ids::OrgId;

/// The middleware; runs outside the routes, after the request id is set.
pub async fn access_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let response = next.run(req).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    // Set by authentication; absent on public and refused requests.
    let org_id = response
        .extensions()
        .get::<OrgId>()
        .map(ToString::to_string);
    tracing::info!(
        target: "workos::access",
        method = %method,
        route,
        status = response.status().as_u16(),
        latency_ms = (latency_ms * 1000.0).round() / 1000.0,
        org_id = org_id.as_deref().unwrap_or("-"),
        request_id,
        "request"
    );
    response
}
