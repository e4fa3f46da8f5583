//! Prometheus metrics: request latency per route and status, requests in flight, pool use.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Installs the process-wide recorder once (the binary and every test server in a process
/// share it) and returns its handle.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.4, 1.0, 2.5, 10.0,
                    ],
                )
                .expect("static buckets are valid")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// The `method` label: a standard method's name, else `other`. Clients choose the method, and
/// every distinct label value is a new series kept for the life of the process.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Records each request's latency by method, route template and status. No label takes a
/// value the client writes: the method is one of the standard ones or `other`, the route is
/// the matched template (`unmatched` when none), the status is the server's.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method()).to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let in_flight = metrics::gauge!("http_requests_in_flight");
    in_flight.increment(1.0);
    let response = next.run(req).await;
    in_flight.decrement(1.0);
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    metrics::counter!("http_requests_total", &labels).increment(1);
    response
}

/// `GET /metrics` in the Prometheus text format: on the public router unless
/// `WORKOS_ADMIN_BIND` is set, then only on [`crate::admin_app`].
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let (size, idle) = state.store.pool_stats();
    metrics::gauge!("db_pool_connections").set(f64::from(size));
    metrics::gauge!("db_pool_idle_connections").set(idle as f64);
    // Supervised background tasks restarted after a panic (task names are the engine's own).
    for (task, n) in workos_core::supervise::restarts() {
        metrics::counter!("workos_task_restarts_total", "task" => task).absolute(n);
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        handle().render(),
    )
}
