//! Prometheus metrics: request latency per route and status and requests in flight
//! ([`track`], from the HTTP kit), pool use.

use std::sync::OnceLock;

use axum::extract::State;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

pub use workos_axum::metrics::track;

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
