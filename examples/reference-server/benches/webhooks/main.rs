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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use hdrhistogram::Histogram;
use sqlx::{Connection as _, PgConnection};
use tokio::runtime::Handle;
use tokio::task::JoinSet;
use uuid::Uuid;
use workos_core::crypto::SecretKey;
use workos_core::domain::{DeliveryAttempt, DeliveryStatus, now};
use workos_core::repo::{AttemptOutcome, DeliveryQueue as _};
use workos_reference_server::bootstrap;
use workos_reference_server::config::Config;
use workos_reference_server::state::AppState;
use workos_store::SqlStore;
use workos_tests::bench::{self, DbRole, env_num, histogram, loadavg, machine, ms};
use workos_tests::db::with_database;
use workos_webhooks::worker::{Dispatcher, Pipeline, PipelineHandle, WebhookConfig};

#[path = "support/serving.rs"]
mod serving;

/// The rate limit the server runs with: high enough never to trigger.
const RATE_LIMIT_PER_MINUTE: &str = "100000000";
/// Creates whose send time is tracked (by sequence number) for latency.
const MAX_TRACKED: usize = 2_000_000;
/// Concurrency of warm-ups and of backlog creation.
const SETUP_CONCURRENCY: usize = 16;

// ---------------------------------------------------------------------------------------------
// Settings

struct Settings {
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
}

// ---------------------------------------------------------------------------------------------
// The receiver

/// What the receiver counts. Times are nanoseconds since `epoch`.
struct Sink {
    epoch: Instant,
    /// Per create (sequence number): when it was sent (or scheduled), + 1; 0 = unknown.
    sent: Vec<AtomicU64>,
    count: AtomicU64,
    first: AtomicU64,
    last: AtomicU64,
    /// Deliveries whose create is not known (should stay 0).
    unknown: AtomicU64,
    /// Create-to-delivery latency, µs.
    latency: Mutex<Histogram<u64>>,
}

impl Sink {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            sent: (0..MAX_TRACKED).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            first: AtomicU64::new(u64::MAX),
            last: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            latency: Mutex::new(histogram()),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn at(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    fn mark_sent(&self, seq: u64, at: Instant) {
        if let Some(slot) = usize::try_from(seq).ok().and_then(|i| self.sent.get(i)) {
            slot.store(self.nanos(at) + 1, Ordering::Relaxed);
        }
    }

    fn arrived(&self, seq: Option<u64>) {
        let t = self.nanos(Instant::now());
        self.count.fetch_add(1, Ordering::Relaxed);
        self.first.fetch_min(t, Ordering::Relaxed);
        self.last.fetch_max(t, Ordering::Relaxed);
        let sent = seq
            .and_then(|s| usize::try_from(s).ok())
            .and_then(|i| self.sent.get(i))
            .map_or(0, |slot| slot.load(Ordering::Relaxed));
        if sent == 0 {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let us = (t.saturating_sub(sent - 1) / 1000).max(1);
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .saturating_record(us);
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Forgets the deliveries so far (the send times stay).
    fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.first.store(u64::MAX, Ordering::Relaxed);
        self.last.store(0, Ordering::Relaxed);
        self.unknown.store(0, Ordering::Relaxed);
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reset();
    }

    fn latency(&self) -> Histogram<u64> {
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `expected` deliveries arrived, at most `limit`. Returns whether they did.
    async fn wait_for(&self, expected: u64, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut last_report = Instant::now();
        loop {
            let n = self.count();
            if n >= expected {
                return true;
            }
            if Instant::now() >= deadline {
                eprintln!("  gave up waiting: {n} of {expected} deliveries");
                return false;
            }
            if last_report.elapsed() > Duration::from_secs(10) {
                eprintln!("  {n} of {expected} deliveries");
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

async fn receive(State(sink): State<Arc<Sink>>, body: Bytes) -> StatusCode {
    let seq = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v["data"]["name"]
                .as_str()
                .and_then(|n| n.strip_prefix("wh "))
                .and_then(|n| n.parse().ok())
        });
    sink.arrived(seq);
    StatusCode::NO_CONTENT
}

/// Starts the receiver on the current runtime; returns its base URL.
async fn start_receiver(sink: Arc<Sink>) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/r/{endpoint}", post(receive))
        .with_state(sink);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("receiver stopped: {e}");
        }
    });
    Ok(format!("http://{addr}"))
}

// ---------------------------------------------------------------------------------------------
// The server, its pipeline and worker processes

/// One scenario's server over its own database.
struct Server {
    /// The database's name.
    db: String,
    store: SqlStore,
    state: AppState,
    url: String,
    base: String,
    auth: String,
    /// The environment worker processes get (the same secrets as the in-process state).
    env: Vec<(String, String)>,
    serving: serving::Serving,
}

async fn start_server(admin_url: &str, db: &str) -> Result<Server> {
    let url = with_database(admin_url, db);
    let store = SqlStore::connect(&url).await?;
    store.migrate().await?;
    let env: Vec<(String, String)> = [
        ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
        ("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64()),
        ("WORKOS_RATE_LIMIT_PER_MINUTE", RATE_LIMIT_PER_MINUTE.into()),
        ("WORKOS_WEBHOOK_ALLOWED_SUBNETS", "127.0.0.0/8".into()),
        ("WORKOS_BIND", "127.0.0.1:0".into()),
        ("WORKOS_LOG", "warn".into()),
        ("DATABASE_URL", url.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let lookup: HashMap<String, String> = env.iter().cloned().collect();
    let config = Config::from_lookup(|k| lookup.get(k).cloned())?;
    let state = AppState::new(store.clone(), config);
    let (_, secret) = bootstrap::create_org_with_key(&store, &state.hasher, "webhook bench")
        .await
        .map_err(|e| anyhow!("creating the org: {e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serving = serving::spawn(&Handle::current(), listener, state.clone());
    Ok(Server {
        db: db.to_owned(),
        store,
        state,
        url,
        base: format!("http://{addr}"),
        auth: format!("Bearer {}", secret.expose()),
        env,
        serving,
    })
}

impl Server {
    async fn stop(self) {
        self.serving.stop().await;
        self.store.close().await;
    }

    fn webhook_config(&self, s: &Settings) -> WebhookConfig {
        let mut config = self.state.webhook_config.clone();
        config.claim_batch = s.claim_batch;
        config.max_in_flight = s.worker_in_flight;
        config
    }
}

/// Who delivers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workers {
    /// `Pipeline::spawn` on the server runtime, over the API's store (one pool of 16).
    InProcess,
    /// The same over a store of its own (a second pool of 16 connections).
    InProcessOwnPool,
    /// This many `workos-server worker` processes.
    Processes(usize),
}

impl Workers {
    fn describe(self) -> String {
        match self {
            Self::InProcess => "in-process".into(),
            Self::InProcessOwnPool => "in-process, own pool".into(),
            Self::Processes(1) => "1 process".into(),
            Self::Processes(n) => format!("{n} processes"),
        }
    }
}

/// A running pipeline; stopped (processes killed) on drop.
enum Running {
    InProcess(Option<PipelineHandle>, Handle),
    Processes(Vec<Child>),
}

impl Running {
    async fn start(
        workers: Workers,
        server: &Server,
        s: &Settings,
        server_rt: &Handle,
    ) -> Result<Self> {
        match workers {
            Workers::InProcess | Workers::InProcessOwnPool => {
                let (store, url, cipher, config) = (
                    server.store.clone(),
                    server.url.clone(),
                    server.state.cipher.clone(),
                    server.webhook_config(s),
                );
                let own = workers == Workers::InProcessOwnPool;
                let handle = server_rt
                    .spawn(async move {
                        let store = if own {
                            SqlStore::connect(&url).await?
                        } else {
                            store
                        };
                        Pipeline::spawn(Arc::new(store), cipher, config)
                    })
                    .await?
                    .map_err(|e| anyhow!("starting the pipeline: {e}"))?;
                Ok(Self::InProcess(Some(handle), server_rt.clone()))
            }
            Workers::Processes(n) => {
                let mut children = Vec::new();
                for _ in 0..n {
                    let mut command = Command::new(env!("CARGO_BIN_EXE_workos-server"));
                    for (name, _) in std::env::vars_os() {
                        let n = name.to_string_lossy();
                        if n.starts_with("WORKOS_") || n.starts_with("TWILIO_") {
                            command.env_remove(&name);
                        }
                    }
                    let child = command
                        .arg("worker")
                        .envs(server.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                        .current_dir(std::env::temp_dir())
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::inherit())
                        .spawn()
                        .context("starting workos-server worker")?;
                    children.push(child);
                }
                Ok(Self::Processes(children))
            }
        }
    }

    fn pids(&self) -> Vec<u32> {
        match self {
            Self::InProcess(..) => Vec::new(),
            Self::Processes(children) => children.iter().map(Child::id).collect(),
        }
    }

    async fn stop(mut self) {
        match &mut self {
            Self::InProcess(handle, rt) => {
                if let Some(handle) = handle.take() {
                    let stopped = rt.spawn(handle.shutdown());
                    if tokio::time::timeout(Duration::from_secs(60), stopped)
                        .await
                        .is_err()
                    {
                        eprintln!("the pipeline did not stop within 60 s");
                    }
                }
            }
            Self::Processes(children) => {
                for c in children.iter_mut() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Self::Processes(children) = self {
            for c in children.iter_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Load generation

/// Creates companies named `wh <seq>`, noting each one's send time in the sink.
struct Api {
    client: reqwest::Client,
    base: String,
    auth: String,
    sink: Arc<Sink>,
    next: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Create request latency (send → 201), µs.
    api_latency: Mutex<Histogram<u64>>,
}

impl Api {
    fn new(server: &Server, sink: Arc<Sink>) -> Result<Self> {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(usize::MAX)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            client,
            base: server.base.clone(),
            auth: server.auth.clone(),
            sink,
            next: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_error: Mutex::new(None),
            api_latency: Mutex::new(histogram()),
        })
    }

    async fn register(&self, url: &str) -> Result<()> {
        let response = self
            .client
            .post(format!("{}/api/v1/webhooks", self.base))
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .json(&serde_json::json!({ "url": url, "event_types": ["company.created"] }))
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        ensure!(
            status == reqwest::StatusCode::CREATED,
            "registering {url}: {status} {body}"
        );
        Ok(())
    }

    /// One create; latency counts from `scheduled` (the send time when `None`).
    async fn create(&self, scheduled: Option<Instant>) -> bool {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        self.sink.mark_sent(seq, scheduled.unwrap_or(sent));
        let outcome = self
            .client
            .post(format!("{}/api/v1/companies", self.base))
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .json(&serde_json::json!({ "name": format!("wh {seq}") }))
            .send()
            .await;
        let error = match outcome {
            Ok(r) if r.status() == reqwest::StatusCode::CREATED => {
                let _ = r.bytes().await;
                let us = u64::try_from(sent.elapsed().as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1);
                self.api_latency
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .saturating_record(us);
                return true;
            }
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => e.to_string(),
        };
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(error);
        false
    }

    fn reset_latency(&self) {
        self.api_latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reset();
    }
}

/// Closed loop: `concurrency` creates in flight until `n` were made or `until` passed. Returns
/// how many succeeded.
async fn closed_loop(
    api: &Arc<Api>,
    concurrency: usize,
    n: Option<u64>,
    until: Option<Instant>,
) -> u64 {
    let made = Arc::new(AtomicU64::new(0));
    let budget = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (api, made, budget) = (api.clone(), made.clone(), budget.clone());
        tasks.spawn(async move {
            loop {
                if until.is_some_and(|t| Instant::now() >= t) {
                    return;
                }
                if let Some(n) = n
                    && budget.fetch_add(1, Ordering::Relaxed) >= n
                {
                    return;
                }
                if api.create(None).await {
                    made.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    made.load(Ordering::Relaxed)
}

/// Open loop: `rate` creates/s for `secs`, at most `max_in_flight` outstanding. Returns how many
/// succeeded.
async fn open_loop(api: &Arc<Api>, rate: f64, secs: f64, max_in_flight: usize) -> Result<u64> {
    let made = Arc::new(AtomicU64::new(0));
    bench::paced(rate, secs, max_in_flight, |scheduled| {
        let (api, made) = (api.clone(), made.clone());
        async move {
            if api.create(Some(scheduled)).await {
                made.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await?;
    Ok(made.load(Ordering::Relaxed))
}

// ---------------------------------------------------------------------------------------------
// Load average

/// Other benchmark processes (an argument `--bench`, as `cargo bench` passes): measuring while
/// one runs would measure both.
fn other_benches() -> Vec<String> {
    // This process and its ancestors (the `cargo bench` that started it) do not count.
    let mut mine = vec![std::process::id().to_string()];
    while let Some(parent) =
        std::fs::read_to_string(format!("/proc/{}/status", mine[mine.len() - 1]))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("PPid:"))
                    .map(|p| p.trim().to_owned())
            })
            .filter(|p| p != "0" && !mine.contains(p))
    {
        mine.push(parent);
    }
    let mut found = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if mine.contains(&pid) || !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            if args.iter().skip(1).any(|a| *a == b"--bench") {
                let exe = String::from_utf8_lossy(args[0]);
                let name = exe.rsplit('/').next().unwrap_or_default().to_owned();
                found.push(format!("{name} ({pid})"));
            }
        }
    }
    found
}

/// Waits until the 1-minute load average is below the maximum and no other benchmark runs,
/// for at most `BENCH_LOAD_WAIT_SECS`. Returns the time waited and whether the machine was quiet
/// at the end.
async fn wait_for_quiet(s: &Settings) -> (Duration, bool) {
    let started = Instant::now();
    let mut budget = s.quiet.wait;
    loop {
        let (one, all) = loadavg();
        let others = other_benches();
        if one < s.quiet.max && others.is_empty() {
            return (started.elapsed(), true);
        }
        let why = if others.is_empty() {
            format!("load average {all}")
        } else {
            format!(
                "load average {all}, other benchmarks running: {}",
                others.join(", ")
            )
        };
        if budget.is_zero() {
            eprintln!("{why}: the wait budget is spent; running anyway");
            return (started.elapsed(), false);
        }
        let nap = s.quiet.poll.min(budget);
        eprintln!(
            "{why}: waiting {:.0} s (for a load average below {} and no other benchmark; {:.0} s \
             of waiting left)",
            nap.as_secs_f64(),
            s.quiet.max,
            budget.as_secs_f64()
        );
        tokio::time::sleep(nap).await;
        budget = budget.saturating_sub(nap);
    }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting: where the cycles go (the bench process, Postgres backends, worker processes)

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// User + system CPU seconds of a process, from `/proc/<pid>/stat`.
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Busy CPU seconds of the whole machine so far, from the first line of `/proc/stat`.
fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: everything but idle and iowait.
    [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|i| fields.get(*i))
        .sum::<f64>()
        / TICKS_PER_SEC
}

/// CPU seconds so far of this process, of the Postgres processes serving `db` (its backends and
/// the server's background processes), of `workers`, and of the whole machine.
#[derive(Clone, Default)]
struct Cpu {
    bench: f64,
    postgres: HashMap<String, f64>,
    workers: HashMap<u32, f64>,
    machine: f64,
}

impl Cpu {
    fn now(db: &str, workers: &[u32]) -> Self {
        let mut postgres = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let pid = entry.file_name().to_string_lossy().into_owned();
                if !pid.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() != "postgres" {
                    continue;
                }
                // A backend's title names its database and client ("postgres: 15/main: user db
                // 127.0.0.1(port) idle"); background processes name neither.
                let title = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).into_owned())
                    .unwrap_or_default();
                let backend = title.contains('(') || title.contains("[local]");
                if (!backend || title.contains(db))
                    && let Some(secs) = cpu_secs(&pid)
                {
                    postgres.insert(pid, secs);
                }
            }
        }
        Self {
            bench: cpu_secs("self").unwrap_or(0.0),
            postgres,
            workers: workers
                .iter()
                .filter_map(|pid| cpu_secs(&pid.to_string()).map(|s| (*pid, s)))
                .collect(),
            machine: machine_busy_secs(),
        }
    }

    /// CPU seconds spent since `start`: (bench process, Postgres, worker processes, everything
    /// else on the machine). A process that started since counts from zero; one that ended since
    /// is lost (and counts as "else").
    fn since(&self, start: &Self) -> (f64, f64, f64, f64) {
        let postgres: f64 = self
            .postgres
            .iter()
            .map(|(pid, s)| s - start.postgres.get(pid).copied().unwrap_or(0.0))
            .sum();
        let workers: f64 = self
            .workers
            .iter()
            .map(|(pid, s)| s - start.workers.get(pid).copied().unwrap_or(0.0))
            .sum();
        let bench = self.bench - start.bench;
        let machine = self.machine - start.machine;
        let other = (machine - bench - postgres - workers).max(0.0);
        (bench, postgres, workers, other)
    }
}

/// "CPU per delivery" note: µs of CPU per delivery in each place, and cores busy.
fn cpu_note(start: &Cpu, end: &Cpu, wall: Duration, deliveries: u64, what: &str) -> String {
    let (bench, postgres, workers, other) = end.since(start);
    let per = |secs: f64| secs * 1e6 / deliveries.max(1) as f64;
    let wall = wall.as_secs_f64().max(1e-9);
    let mut out = format!(
        "CPU {what} ({:.1} s): bench process (API + in-process pipeline + receiver + load \
         generator) {:.0} µs/delivery ({:.2} cores), Postgres {:.0} µs/delivery ({:.2} cores)",
        wall,
        per(bench),
        bench / wall,
        per(postgres),
        postgres / wall
    );
    if !end.workers.is_empty() {
        let _ = write!(
            out,
            ", worker processes {:.0} µs/delivery ({:.2} cores)",
            per(workers),
            workers / wall
        );
    }
    let _ = write!(
        out,
        "; everything else on the machine {:.2} cores",
        other / wall
    );
    out
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Closed-loop creates with the pipeline running.
    Saturation,
    /// Open-loop creates at this rate with the pipeline running.
    Fixed(f64),
    /// This many events created first, then drained.
    Backlog(usize),
    /// Claim + record straight on the store over a backlog of this many deliveries; with
    /// `true`, recording through [`record_batched`] instead of `record_attempts`.
    Store(usize, bool),
}

struct Scenario {
    name: String,
    kind: Kind,
    endpoints: usize,
    workers: Workers,
}

/// What a scenario measured.
#[derive(Default)]
struct Row {
    name: String,
    what: String,
    endpoints: usize,
    workers: String,
    events: u64,
    deliveries: u64,
    /// Create requests per second (during the window, or while building the backlog).
    create_rate: Option<f64>,
    /// Deliveries per second during the create window.
    window_rate: Option<f64>,
    /// Events per second, window start to last delivery (saturation/fixed), or deliveries per
    /// second first → last (backlog, store).
    rate: f64,
    /// Deliveries per second over the same span.
    delivery_rate: f64,
    /// Deliveries still outstanding at the end of the create window.
    lag: Option<u64>,
    /// Backlog: time from starting the pipeline to the first delivery.
    first_after: Option<Duration>,
    latency: Option<Histogram<u64>>,
    api_latency: Option<Histogram<u64>>,
    complete: bool,
    errors: u64,
    first_error: Option<String>,
    unknown: u64,
    waited: Duration,
    quiet: bool,
    load_start: String,
    load_end: String,
    notes: Vec<String>,
}

fn scenarios(s: &Settings) -> Vec<Scenario> {
    let mut all = vec![
        ("e2e/1", Kind::Saturation, 1, Workers::InProcess),
        (
            "e2e-ownpool/1",
            Kind::Saturation,
            1,
            Workers::InProcessOwnPool,
        ),
        ("e2e/4", Kind::Saturation, 4, Workers::InProcess),
        ("fixed/1", Kind::Fixed(s.rate), 1, Workers::InProcess),
        ("backlog/1", Kind::Backlog(s.backlog), 1, Workers::InProcess),
        (
            "backlog/4",
            Kind::Backlog(s.backlog_fanout),
            4,
            Workers::InProcess,
        ),
        ("e2e-proc1/1", Kind::Saturation, 1, Workers::Processes(1)),
        ("e2e-proc2/1", Kind::Saturation, 1, Workers::Processes(2)),
        (
            "backlog-proc1/1",
            Kind::Backlog(s.backlog),
            1,
            Workers::Processes(1),
        ),
        (
            "backlog-proc2/1",
            Kind::Backlog(s.backlog),
            1,
            Workers::Processes(2),
        ),
        (
            "db/claim+record",
            Kind::Store(s.backlog, false),
            1,
            Workers::InProcess,
        ),
        (
            "db/claim+record-batched",
            Kind::Store(s.backlog, true),
            1,
            Workers::InProcess,
        ),
    ];
    all.retain(|(name, ..)| s.only.is_empty() || s.only.iter().any(|o| name.contains(o.as_str())));
    all.into_iter()
        .map(|(name, kind, endpoints, workers)| Scenario {
            name: name.to_owned(),
            kind,
            endpoints,
            workers,
        })
        .collect()
}

struct Ctx<'a> {
    s: &'a Settings,
    server_rt: Handle,
    sink: Arc<Sink>,
    receiver: String,
}

async fn run_scenario(cx: &mut Ctx<'_>, sc: &Scenario) -> Result<Row> {
    let (waited, quiet) = wait_for_quiet(cx.s).await;
    let db = format!("workos_whbench_{}", Uuid::now_v7().simple());
    bench::create_database(&cx.s.url, &db, DbRole::Creating).await?;
    eprintln!("{}: database {db}", sc.name);
    let outcome = run_in(cx, sc, &db).await;
    if cx.s.keep_db {
        eprintln!("KEEP_DB=1: kept {db}");
    } else if let Err(e) = bench::drop_database(&cx.s.url, &db).await {
        eprintln!("could not drop {db}: {e:#}; drop it by hand");
    }
    let mut row = outcome?;
    row.waited += waited;
    row.quiet &= quiet;
    Ok(row)
}

async fn run_in(cx: &mut Ctx<'_>, sc: &Scenario, db: &str) -> Result<Row> {
    let s = cx.s;
    let server = {
        let (admin_url, db) = (s.url.clone(), db.to_owned());
        cx.server_rt
            .spawn(async move { start_server(&admin_url, &db).await })
            .await??
    };
    let api = Arc::new(Api::new(&server, cx.sink.clone())?);
    for k in 0..sc.endpoints {
        api.register(&format!("{}/r/{k}", cx.receiver)).await?;
    }
    cx.sink.reset();
    let row = match sc.kind {
        Kind::Saturation | Kind::Fixed(_) => live(cx, sc, &server, &api).await,
        Kind::Backlog(n) => backlog(cx, sc, &server, &api, n).await,
        Kind::Store(n, batched) => store_only(cx, sc, &server, &api, n, batched).await,
    };
    let stop = cx.server_rt.spawn(server.stop());
    let _ = tokio::time::timeout(Duration::from_secs(60), stop).await;
    let mut row = row?;
    row.name.clone_from(&sc.name);
    row.endpoints = sc.endpoints;
    row.workers = sc.workers.describe();
    row.errors = api.errors.load(Ordering::Relaxed);
    row.first_error = api
        .first_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    row.unknown = cx.sink.unknown.load(Ordering::Relaxed);
    Ok(row)
}

/// Saturation and fixed rate: creates with the pipeline running.
async fn live(cx: &mut Ctx<'_>, sc: &Scenario, server: &Server, api: &Arc<Api>) -> Result<Row> {
    let s = cx.s;
    let fanout = sc.endpoints as u64;
    let running = Running::start(sc.workers, server, s, &cx.server_rt).await?;

    // Warm-up: connections, caches, worker processes up.
    let warm = closed_loop(
        api,
        SETUP_CONCURRENCY.min(8),
        Some(s.warmup_events as u64),
        None,
    )
    .await;
    ensure!(
        cx.sink
            .wait_for(warm * fanout, Duration::from_secs(120))
            .await,
        "the warm-up deliveries did not arrive"
    );
    cx.sink.reset();
    api.reset_latency();

    let load_start = loadavg().1;
    eprintln!("{}: measuring, load average {load_start}", sc.name);
    let cpu_start = Cpu::now(&server.db, &running.pids());
    let start = Instant::now();
    let (made, what) = match sc.kind {
        Kind::Fixed(rate) => (
            open_loop(api, rate, s.secs, s.max_in_flight).await?,
            format!("open loop, {rate:.0} creates/s"),
        ),
        _ => (
            closed_loop(
                api,
                s.concurrency,
                None,
                Some(start + Duration::from_secs_f64(s.secs)),
            )
            .await,
            format!("closed loop, {} creates in flight", s.concurrency),
        ),
    };
    let window = start.elapsed();
    let at_window_end = cx.sink.count();
    let expected = made * fanout;
    let complete = cx.sink.wait_for(expected, s.drain).await;
    let cpu_end = Cpu::now(&server.db, &running.pids());
    let load_end = loadavg().1;
    running.stop().await;

    let last = cx.sink.at(cx.sink.last.load(Ordering::Relaxed));
    let span = last.saturating_duration_since(start).max(window);
    let delivered = cx.sink.count();
    Ok(Row {
        notes: vec![cpu_note(
            &cpu_start,
            &cpu_end,
            start.elapsed(),
            delivered,
            "window start → last delivery (creates included)",
        )],
        what,
        events: made,
        deliveries: delivered,
        create_rate: Some(made as f64 / window.as_secs_f64()),
        window_rate: Some(at_window_end as f64 / window.as_secs_f64()),
        rate: (delivered / fanout.max(1)) as f64 / span.as_secs_f64(),
        delivery_rate: delivered as f64 / span.as_secs_f64(),
        lag: Some(expected.saturating_sub(at_window_end)),
        latency: Some(cx.sink.latency()),
        api_latency: Some(
            api.api_latency
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        ),
        complete,
        quiet: true,
        load_start,
        load_end,
        ..Row::default()
    })
}

/// Creates `n` events with no pipeline, then times draining them.
async fn backlog(
    cx: &mut Ctx<'_>,
    sc: &Scenario,
    server: &Server,
    api: &Arc<Api>,
    n: usize,
) -> Result<Row> {
    let s = cx.s;
    let fanout = sc.endpoints as u64;
    let started = Instant::now();
    let made = closed_loop(api, SETUP_CONCURRENCY, Some(n as u64), None).await;
    let create_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{}: {made} events created in {create_secs:.1} s ({:.0}/s)",
        sc.name,
        made as f64 / create_secs
    );
    bench::admin_sql(&server.url, "CHECKPOINT").await?;
    let (waited, quiet) = wait_for_quiet(s).await;
    cx.sink.reset();

    let load_start = loadavg().1;
    eprintln!("{}: draining, load average {load_start}", sc.name);
    let expected = made * fanout;
    let cpu_start = Cpu::now(&server.db, &[]);
    let t0 = Instant::now();
    let running = Running::start(sc.workers, server, s, &cx.server_rt).await?;
    let complete = cx.sink.wait_for(expected, s.drain).await;
    let wall = t0.elapsed();
    let cpu_end = Cpu::now(&server.db, &running.pids());
    let load_end = loadavg().1;
    running.stop().await;

    let first = cx.sink.at(cx.sink.first.load(Ordering::Relaxed));
    let last = cx.sink.at(cx.sink.last.load(Ordering::Relaxed));
    let delivered = cx.sink.count();
    let span = last
        .saturating_duration_since(first)
        .max(Duration::from_micros(1));
    let rate = delivered.saturating_sub(1) as f64 / span.as_secs_f64();
    Ok(Row {
        what: format!(
            "{made} events × {fanout} endpoint(s) created first ({:.0} creates/s), then drained",
            made as f64 / create_secs
        ),
        events: made,
        deliveries: delivered,
        create_rate: Some(made as f64 / create_secs),
        rate,
        delivery_rate: rate,
        first_after: Some(first.saturating_duration_since(t0)),
        complete,
        waited,
        quiet,
        load_start,
        load_end,
        notes: vec![
            format!(
                "start → last delivery {:.2} s",
                last.saturating_duration_since(t0).as_secs_f64()
            ),
            cpu_note(&cpu_start, &cpu_end, wall, delivered, "of the drain"),
        ],
        ..Row::default()
    })
}

/// The store alone: dispatch a backlog, then claim + record (succeeded) until it is empty.
async fn store_only(
    cx: &mut Ctx<'_>,
    sc: &Scenario,
    server: &Server,
    api: &Arc<Api>,
    n: usize,
    batched: bool,
) -> Result<Row> {
    let s = cx.s;
    let made = closed_loop(api, SETUP_CONCURRENCY, Some(n as u64), None).await;
    bench::admin_sql(&server.url, "CHECKPOINT").await?;
    let (waited, quiet) = wait_for_quiet(s).await;
    let load_start = loadavg().1;
    eprintln!("{}: measuring, load average {load_start}", sc.name);

    let cpu_start = Cpu::now(&server.db, &[]);
    let started = Instant::now();
    let store = Arc::new(server.store.clone());
    let config = server.webhook_config(s);
    let batch = s.claim_batch;
    let lease = config.lease();
    let measured = cx
        .server_rt
        .spawn(async move {
            let t = Instant::now();
            let stats = Dispatcher::new(store.clone(), &config).run_once().await?;
            let dispatch = t.elapsed();
            let mut claim = histogram();
            let mut record = histogram();
            let (mut claim_total, mut record_total, mut done) =
                (Duration::ZERO, Duration::ZERO, 0u64);
            loop {
                let t = Instant::now();
                let due = store.claim_deliveries(batch, lease).await?;
                let took = t.elapsed();
                if due.is_empty() {
                    break;
                }
                claim_total += took;
                claim.saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1));
                let outcomes: Vec<AttemptOutcome> = due
                    .iter()
                    .map(|d| AttemptOutcome {
                        org_id: d.delivery.org_id,
                        webhook_id: d.delivery.webhook_id,
                        attempt: DeliveryAttempt {
                            delivery_id: d.delivery.id,
                            attempted_at: now(),
                            status_code: Some(204),
                            error_kind: None,
                            latency_ms: 1,
                            response_body: None,
                            next_attempt_at: None,
                        },
                        status: DeliveryStatus::Succeeded,
                        disable_endpoint: None,
                    })
                    .collect();
                done += outcomes.len() as u64;
                let t = Instant::now();
                if batched {
                    let pool = store.pg_pool().context("not a Postgres store")?;
                    record_batched(pool, &outcomes).await?;
                } else {
                    store.record_attempts(outcomes).await?;
                }
                let took = t.elapsed();
                record_total += took;
                record
                    .saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1));
            }
            anyhow::Ok((
                stats,
                dispatch,
                claim,
                record,
                claim_total,
                record_total,
                done,
            ))
        })
        .await?;
    let (stats, dispatch, claim, record, claim_total, record_total, done) =
        measured.map_err(|e| anyhow!("store loop: {e}"))?;
    let cpu = cpu_note(
        &cpu_start,
        &Cpu::now(&server.db, &[]),
        started.elapsed(),
        done,
        "dispatch + claim/record loop",
    );
    let load_end = loadavg().1;
    let total = claim_total + record_total;
    let rate = done as f64 / total.as_secs_f64().max(1e-9);
    Ok(Row {
        what: format!(
            "{made} events dispatched by `Dispatcher::run_once`, then `claim_deliveries({batch})` + \
             {} (all succeeded) until empty, no HTTP",
            if batched {
                "a set-based prototype of `record_attempts` (3 statements a batch)"
            } else {
                "`record_attempts`"
            }
        ),
        events: made,
        deliveries: done,
        rate,
        delivery_rate: rate,
        complete: done == made,
        waited,
        quiet,
        load_start,
        load_end,
        notes: vec![
            format!(
                "dispatch: {} events → {} deliveries in {:.2} s ({:.0} events/s)",
                stats.events,
                stats.deliveries,
                dispatch.as_secs_f64(),
                stats.events as f64 / dispatch.as_secs_f64().max(1e-9)
            ),
            format!(
                "claim of {batch}: p50 {} ms, p99 {} ms, {:.1} µs per delivery; {:.0} % of the loop",
                ms(claim.value_at_quantile(0.5)),
                ms(claim.value_at_quantile(0.99)),
                claim_total.as_secs_f64() * 1e6 / done.max(1) as f64,
                100.0 * claim_total.as_secs_f64() / total.as_secs_f64().max(1e-9)
            ),
            format!(
                "record of {batch}: p50 {} ms, p99 {} ms, {:.1} µs per delivery; {:.0} % of the loop",
                ms(record.value_at_quantile(0.5)),
                ms(record.value_at_quantile(0.99)),
                record_total.as_secs_f64() * 1e6 / done.max(1) as f64,
                100.0 * record_total.as_secs_f64() / total.as_secs_f64().max(1e-9)
            ),
            cpu,
        ],
        ..Row::default()
    })
}

/// A prototype of `DeliveryQueue::record_attempts` (workos-store/src/repos/webhooks/postgres.rs) in
/// three set-based statements a batch instead of three statements an outcome: one
/// `INSERT … SELECT FROM unnest(…)` of the attempts, one `UPDATE … FROM unnest(…)` of the
/// deliveries, one `UPDATE` of the endpoints' `failing_since`. In the same transaction setup as
/// the store (`workos_app` role, system scope), so RLS costs the same. It covers what
/// `db/claim+record-batched` records (successes, no endpoint disabled); the real one would set
/// `failing_since` per endpoint from its last outcome in the batch and keep the rare disabling
/// path per outcome.
async fn record_batched(pool: &sqlx::PgPool, outcomes: &[AttemptOutcome]) -> Result<()> {
    ensure!(
        outcomes
            .iter()
            .all(|o| o.status == DeliveryStatus::Succeeded && o.disable_endpoint.is_none()),
        "the prototype records successes only"
    );
    let mut tx = pool.begin().await?;
    sqlx::query(
        "SELECT set_config('role', 'workos_app', true), set_config('workos.org_id', '', true), \
         set_config('workos.user_id', '', true), set_config('workos.scope', 'system', true)",
    )
    .execute(&mut *tx)
    .await?;
    let t = now();
    let orgs: Vec<Uuid> = outcomes.iter().map(|o| o.org_id.as_uuid()).collect();
    let deliveries: Vec<Uuid> = outcomes
        .iter()
        .map(|o| o.attempt.delivery_id.as_uuid())
        .collect();
    let codes: Vec<Option<i32>> = outcomes
        .iter()
        .map(|o| o.attempt.status_code.map(i32::from))
        .collect();
    let next: Vec<Option<chrono::DateTime<chrono::Utc>>> =
        outcomes.iter().map(|o| o.attempt.next_attempt_at).collect();
    sqlx::query(
        "INSERT INTO webhook_attempts (id, org_id, delivery_id, attempted_at, status_code, error_kind, \
         latency_ms, response_body, next_attempt_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], \
         $3::uuid[], $4::timestamptz[], $5::int4[], $6::text[], $7::int4[], $8::text[], $9::timestamptz[])",
    )
    .bind(outcomes.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .bind(&orgs)
    .bind(&deliveries)
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.attempted_at)
            .collect::<Vec<_>>(),
    )
    .bind(&codes)
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.error_kind.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        outcomes
            .iter()
            .map(|o| i32::try_from(o.attempt.latency_ms).unwrap_or(i32::MAX))
            .collect::<Vec<_>>(),
    )
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.response_body.clone())
            .collect::<Vec<_>>(),
    )
    .bind(&next)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries d SET status = u.status, attempts = d.attempts + 1, \
         next_attempt_at = u.next_attempt_at, last_status_code = u.code, locked_until = NULL, \
         updated_at = $6 FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], \
         $5::int4[]) AS u(org_id, id, status, next_attempt_at, code) \
         WHERE d.org_id = u.org_id AND d.id = u.id",
    )
    .bind(&orgs)
    .bind(&deliveries)
    .bind(
        outcomes
            .iter()
            .map(|o| o.status.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
    .bind(&next)
    .bind(&codes)
    .bind(t)
    .execute(&mut *tx)
    .await?;
    let mut endpoints: Vec<(Uuid, Uuid)> = outcomes
        .iter()
        .map(|o| (o.org_id.as_uuid(), o.webhook_id.as_uuid()))
        .collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    let (endpoint_orgs, endpoint_ids): (Vec<Uuid>, Vec<Uuid>) = endpoints.into_iter().unzip();
    sqlx::query(
        "UPDATE webhooks w SET failing_since = NULL FROM unnest($1::uuid[], $2::uuid[]) AS u(org_id, id) \
         WHERE w.org_id = u.org_id AND w.id = u.id AND w.failing_since IS NOT NULL",
    )
    .bind(&endpoint_orgs)
    .bind(&endpoint_ids)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Report

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))
}

fn report(s: &Settings, version: &str, rows: &[Row]) -> Result<String> {
    let mut out = String::new();
    writeln!(out, "### Setup\n")?;
    writeln!(out, "- machine: {}", machine())?;
    writeln!(out, "- database: {version}")?;
    writeln!(
        out,
        "- server in-process ({} runtime threads, 16 pooled connections); receiver: axum in the \
         bench process answering 204 (no signature check), sharing the load generator's runtime \
         ({} thread(s)); in-process pipeline: one dispatcher + one worker, claim batch {}, {} \
         attempts in flight; worker processes: `workos-server worker` (defaults: 100, 32)",
        s.server_threads, s.client_threads, s.claim_batch, s.worker_in_flight
    )?;
    writeln!(
        out,
        "- windows of {} s after a warm-up of {} events; latency = create request sent (open loop: \
         scheduled) → delivery received; e2e rate = events of the window ÷ (window start → last \
         delivery)",
        s.secs, s.warmup_events
    )?;
    writeln!(
        out,
        "- quiet machine: before each scenario and each backlog drain, waited for the 1-minute load \
         average < {} and no other `--bench` process (poll {} s, at most {} s per wait)\n",
        s.quiet.max,
        s.quiet.poll.as_secs(),
        s.quiet.wait.as_secs()
    )?;

    let live: Vec<&Row> = rows.iter().filter(|r| r.latency.is_some()).collect();
    if !live.is_empty() {
        writeln!(
            out,
            "| scenario | endpoints | workers | mode | events | creates/s | deliveries/s in window | lag at window end | e2e events/s | e2e deliveries/s | p50 ms | p90 ms | p99 ms | max ms | API p50/p99 ms | load avg start → end |"
        )?;
        writeln!(
            out,
            "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
        )?;
        for r in &live {
            let h = r.latency.as_ref().expect("filtered");
            let api = r.api_latency.as_ref().map_or_else(
                || "–".to_owned(),
                |a| {
                    format!(
                        "{} / {}",
                        ms(a.value_at_quantile(0.5)),
                        ms(a.value_at_quantile(0.99))
                    )
                },
            );
            writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {:.0}{} | {:.0} | {} | {} | {} | {} | {api} | {} → {}{} |",
                r.name,
                r.endpoints,
                r.workers,
                r.what,
                r.events,
                opt(r.create_rate),
                opt(r.window_rate),
                r.lag.map_or_else(|| "–".to_owned(), |l| l.to_string()),
                r.rate,
                if r.complete { "" } else { " (incomplete)" },
                r.delivery_rate,
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.9)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max()),
                r.load_start,
                r.load_end,
                if r.quiet { "" } else { " (not quiet)" },
            )?;
        }
        writeln!(out)?;
    }

    let drains: Vec<&Row> = rows.iter().filter(|r| r.latency.is_none()).collect();
    if !drains.is_empty() {
        writeln!(
            out,
            "| scenario | endpoints | workers | what | deliveries | deliveries/s | first delivery after | load avg start → end |"
        )?;
        writeln!(out, "|---|---:|---|---|---:|---:|---:|---|")?;
        for r in &drains {
            writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {:.0}{} | {} | {} → {}{} |",
                r.name,
                r.endpoints,
                r.workers,
                r.what,
                r.deliveries,
                r.delivery_rate,
                if r.complete { "" } else { " (incomplete)" },
                r.first_after.map_or_else(
                    || "–".to_owned(),
                    |d| format!("{:.0} ms", d.as_secs_f64() * 1000.0)
                ),
                r.load_start,
                r.load_end,
                if r.quiet { "" } else { " (not quiet)" },
            )?;
        }
        writeln!(out)?;
    }

    for r in rows {
        for n in &r.notes {
            writeln!(out, "- `{}`: {n}", r.name)?;
        }
        if r.waited > Duration::from_secs(1) {
            writeln!(
                out,
                "- `{}`: waited {:.0} s for the load average",
                r.name,
                r.waited.as_secs_f64()
            )?;
        }
        if r.errors > 0 {
            writeln!(
                out,
                "- `{}`: {} create errors, first: {}",
                r.name,
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            )?;
        }
        if r.unknown > 0 {
            writeln!(
                out,
                "- `{}`: {} deliveries of unknown creates",
                r.name, r.unknown
            )?;
        }
    }

    // The targets.
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    if let Some(r) = find("e2e/1") {
        writeln!(
            out,
            "- target ≥ 1,200 creates/s end to end to one endpoint: {:.0}/s, {}",
            r.rate,
            met(r.rate >= 1200.0 && r.complete)
        )?;
    }
    if let Some(r) = find("backlog/1") {
        writeln!(
            out,
            "- target ≥ 3,500 backlog deliveries/s to one endpoint: {:.0}/s, {}",
            r.delivery_rate,
            met(r.delivery_rate >= 3500.0 && r.complete)
        )?;
    }
    if let Some(r) = find("fixed/1")
        && let Some(h) = &r.latency
    {
        let p50 = h.value_at_quantile(0.5);
        writeln!(
            out,
            "- target p50 < 5 ms at {:.0} creates/s: p50 {} ms, {}",
            s.rate,
            ms(p50),
            met(p50 < 5000 && r.complete)
        )?;
    }
    Ok(out)
}

const fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "not met" }
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
