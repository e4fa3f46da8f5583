//! Throughput and latency of webhook delivery on Postgres: events created through the REST API
//! (`POST /api/v1/companies`, one `company.created` event each) until a local receiver has them.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   CARGO_TARGET_DIR=target-bench cargo bench -p workos-reference-server --bench webhooks
//! ```
//!
//! Every scenario runs on a fresh database `workos_whbench_<uuid>` next to the one `DATABASE_URL`
//! names (dropped afterwards; the role must be a superuser or have `CREATEDB` and `BYPASSRLS`):
//! the real server in-process (`AppState::new`, `app`, `serve` on `127.0.0.1:0`) on its own Tokio
//! runtime, an org and owner key from `bootstrap::create_org_with_key`, and 1 or 4 endpoints
//! registered through `POST /api/v1/webhooks` (`company.created`) pointing at **an axum receiver in
//! the bench process** (`127.0.0.1:0`, answers `204` at once, no signature check; it reads the
//! event's `data.name` to know which create it belongs to). The load generator (reqwest,
//! keep-alive) and the receiver share a second runtime. Deliveries are made either by the
//! in-process pipeline (`workos_webhooks::worker::Pipeline::spawn`, one dispatcher + one worker,
//! on the server runtime) or by `workos-server worker` processes (the binary of this package).
//!
//! Scenarios (`BENCH_ONLY` selects by substring of the name):
//! - `e2e/1`, `e2e/4`: saturation. Closed loop of `BENCH_CONCURRENCY` creates in flight for
//!   `BENCH_SECS`, pipeline running (after a warm-up of `BENCH_WARMUP_EVENTS` events). Reports the
//!   create rate, the delivery rate during the window, the end-to-end rate (events created in the
//!   window ÷ time from the window's start to the last delivery, so a pipeline that falls behind
//!   pays for its backlog) and create-to-delivery latency (from sending the create request to the
//!   receiver having the delivery).
//! - `fixed/1`: open loop at `BENCH_RATE` creates/s (400), latency from each create's *scheduled*
//!   send time to delivery (no coordinated omission).
//! - `backlog/1`, `backlog/4`: `BENCH_BACKLOG` (20,000) resp. `BENCH_BACKLOG_FANOUT` (10,000)
//!   events created with no pipeline running, then (after a `CHECKPOINT` and the load-average
//!   wait) the pipeline is started and timed until the receiver has every delivery. The rate is
//!   over first → last delivery; the time to the first delivery is reported apart.
//! - `e2e-proc1/1`, `e2e-proc2/1`, `backlog-proc1/1`, `backlog-proc2/1`: the same with one or two
//!   `workos-server worker` processes instead of the in-process pipeline (the API stays in the
//!   bench process, started with no pipeline).
//! - `e2e-ownpool/1`: `e2e/1` with the in-process pipeline over a store (connection pool) of its
//!   own instead of the API's.
//! - `db/claim+record`: no HTTP at all: a backlog of `BENCH_BACKLOG` deliveries, dispatched with
//!   `Dispatcher::run_once`, then claimed and recorded as succeeded in a loop
//!   (`DeliveryQueue::claim_deliveries` + `record_attempts`, batch `BENCH_CLAIM_BATCH`): the
//!   store's ceiling for one worker, and where its time goes.
//! - `db/claim+record-batched`: the same, recording with `record_batched`, a set-based prototype
//!   of `record_attempts` (three statements a batch instead of three an outcome): what batching
//!   would gain.
//!
//! Before every scenario, and again before a backlog is drained, the bench waits until the
//! 1-minute load average is below `BENCH_LOAD_MAX` (1.5) and no other process has a `--bench`
//! argument (another `cargo bench` would share the two cores), polling every
//! `BENCH_LOAD_POLL_SECS` (20) for at most `BENCH_LOAD_WAIT_SECS` (1800) per wait; then it runs
//! anyway and marks the row "not quiet". The load average at the start and end of each
//! measurement is reported, and so is the CPU time (from `/proc`) of the bench process, of the
//! Postgres processes serving its database, of worker processes and of everything else, per
//! delivery: a profile of where the cycles go.
//!
//! Other settings: `BENCH_SECS` (15), `BENCH_CONCURRENCY` (32), `BENCH_WARMUP_EVENTS` (300),
//! `BENCH_MAX_IN_FLIGHT` (1024, open-loop cap), `BENCH_DRAIN_SECS` (300, the longest wait for
//! deliveries), `BENCH_SERVER_THREADS` (CPUs), `BENCH_CLIENT_THREADS` (1), and for the in-process
//! pipeline `BENCH_CLAIM_BATCH` (100) and `BENCH_WORKER_IN_FLIGHT` (32) (worker processes always
//! use the defaults, 100 and 32); `KEEP_DB=1` keeps the databases. The report is Markdown on
//! stdout; progress goes to stderr.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use sqlx::{Connection as _, PgConnection};
use workos_tests::bench::{self, env_num, ms};
use workos_webhooks::worker::WebhookConfig;

use receiver::{Sink, start_receiver};
use report::report;
use scenario::{Ctx, run_scenario, scenarios};

mod cpu;
mod live;
mod load;
mod receiver;
mod report;
mod scenario;
mod server;
#[path = "../support/serving.rs"]
mod serving;
mod store_only;

/// The rate limit the server runs with: high enough never to trigger.
const RATE_LIMIT_PER_MINUTE: &str = "100000000";
/// Creates whose send time is tracked (by sequence number) for latency.
const MAX_TRACKED: usize = 2_000_000;
/// Concurrency of warm-ups and of backlog creation.
const SETUP_CONCURRENCY: usize = 16;

/// The bench's settings (see the crate docs).
pub(crate) struct Settings {
    url: String,
    secs: f64,
    concurrency: usize,
    warmup_events: usize,
    rate: f64,
    max_in_flight: usize,
    backlog: usize,
    backlog_fanout: usize,
    drain: Duration,
    server_threads: usize,
    client_threads: usize,
    claim_batch: u32,
    worker_in_flight: usize,
    quiet: bench::Quiet,
    only: Vec<String>,
    keep_db: bool,
}

impl Settings {
    fn from_env() -> Result<Self> {
        let url = bench::database_url("workos-reference-server", "webhooks", false)?;
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let defaults = WebhookConfig::default();
        let s = Self {
            url,
            secs: env_num("BENCH_SECS", 15.0)?,
            concurrency: env_num("BENCH_CONCURRENCY", 32)?,
            warmup_events: env_num("BENCH_WARMUP_EVENTS", 300)?,
            rate: env_num("BENCH_RATE", 400.0)?,
            max_in_flight: env_num("BENCH_MAX_IN_FLIGHT", 1024)?,
            backlog: env_num("BENCH_BACKLOG", 20_000)?,
            backlog_fanout: env_num("BENCH_BACKLOG_FANOUT", 10_000)?,
            drain: Duration::from_secs_f64(env_num("BENCH_DRAIN_SECS", 300.0)?),
            server_threads: env_num("BENCH_SERVER_THREADS", cpus)?,
            client_threads: env_num("BENCH_CLIENT_THREADS", 1)?,
            claim_batch: env_num("BENCH_CLAIM_BATCH", defaults.claim_batch)?,
            worker_in_flight: env_num("BENCH_WORKER_IN_FLIGHT", defaults.max_in_flight)?,
            quiet: bench::Quiet::from_env(1800.0)?,
            only: bench::env_list("BENCH_ONLY"),
            keep_db: bench::keep_db(),
        };
        ensure!(
            s.secs > 0.0 && s.rate > 0.0 && s.concurrency > 0 && s.max_in_flight > 0,
            "BENCH_SECS, BENCH_RATE, BENCH_CONCURRENCY and BENCH_MAX_IN_FLIGHT must be positive"
        );
        ensure!(
            s.backlog > 0 && s.backlog_fanout > 0 && s.backlog.max(s.backlog_fanout) < MAX_TRACKED,
            "BENCH_BACKLOG and BENCH_BACKLOG_FANOUT must be between 1 and {MAX_TRACKED}"
        );
        ensure!(
            s.server_threads > 0
                && s.client_threads > 0
                && s.claim_batch > 0
                && s.worker_in_flight > 0,
            "thread counts, BENCH_CLAIM_BATCH and BENCH_WORKER_IN_FLIGHT must be positive"
        );
        Ok(s)
    }

    /// Waits until the 1-minute load average is below the maximum and no other benchmark runs,
    /// for at most `BENCH_LOAD_WAIT_SECS`. Returns the time waited and whether the machine was
    /// quiet at the end.
    pub(crate) async fn wait_for_quiet(&self) -> (Duration, bool) {
        let mut budget = self.quiet.wait;
        let (waited, quiet, _) = self.quiet.wait_alone(&mut budget).await;
        (waited, quiet)
    }
}

fn main() -> Result<()> {
    let s = Settings::from_env()?;
    let (server_rt, client_rt) = bench::runtimes(s.server_threads, s.client_threads)?;
    let list = scenarios(&s);
    if list.is_empty() {
        bail!("BENCH_ONLY selects no scenario");
    }
    let rows = client_rt.block_on(async {
        let mut admin = PgConnection::connect(&s.url)
            .await
            .context("cannot connect to DATABASE_URL")?;
        let (version,): (String,) = sqlx::query_as("SELECT version()")
            .fetch_one(&mut admin)
            .await?;
        admin.close().await?;
        let sink = Arc::new(Sink::new());
        let receiver = start_receiver(sink.clone()).await?;
        let mut cx = Ctx {
            s: &s,
            server_rt: server_rt.handle().clone(),
            sink,
            receiver,
        };
        let mut rows = Vec::new();
        for sc in &list {
            let row = run_scenario(&mut cx, sc).await?;
            eprintln!(
                "{}: {} deliveries, {:.0}/s{}",
                row.name,
                row.deliveries,
                row.delivery_rate,
                row.latency.as_ref().map_or_else(String::new, |h| format!(
                    ", p50 {} ms, p99 {} ms",
                    ms(h.value_at_quantile(0.5)),
                    ms(h.value_at_quantile(0.99))
                ))
            );
            rows.push(row);
        }
        anyhow::Ok((version, rows))
    })?;
    let (version, rows) = rows;
    println!("{}", report(&s, &version, &rows)?);
    Ok(())
}
