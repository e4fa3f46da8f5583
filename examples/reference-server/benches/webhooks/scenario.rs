//! The scenarios and how each runs: a fresh database, the server, the receiver's endpoints,
//! then the scenario's own measurement.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use anyhow::Result;
use hdrhistogram::Histogram;
use tokio::runtime::Handle;
use uuid::Uuid;
use workos_tests::bench::{self, DbRole};

use crate::Settings;
use crate::live::{backlog, live};
use crate::load::Api;
use crate::receiver::Sink;
use crate::server::{Workers, start_server};
use crate::store_only::store_only;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// Closed-loop creates with the pipeline running.
    Saturation,
    /// Open-loop creates at this rate with the pipeline running.
    Fixed(f64),
    /// This many events created first, then drained.
    Backlog(usize),
    /// Claim + record straight on the store over a backlog of this many deliveries; with
    /// `true`, recording through `store_only::record_batched` instead of `record_attempts`.
    Store(usize, bool),
}

pub(crate) struct Scenario {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) endpoints: usize,
    pub(crate) workers: Workers,
}

/// What a scenario measured.
#[derive(Default)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) what: String,
    pub(crate) endpoints: usize,
    pub(crate) workers: String,
    pub(crate) events: u64,
    pub(crate) deliveries: u64,
    /// Create requests per second (during the window, or while building the backlog).
    pub(crate) create_rate: Option<f64>,
    /// Deliveries per second during the create window.
    pub(crate) window_rate: Option<f64>,
    /// Events per second, window start to last delivery (saturation/fixed), or deliveries per
    /// second first → last (backlog, store).
    pub(crate) rate: f64,
    /// Deliveries per second over the same span.
    pub(crate) delivery_rate: f64,
    /// Deliveries still outstanding at the end of the create window.
    pub(crate) lag: Option<u64>,
    /// Backlog: time from starting the pipeline to the first delivery.
    pub(crate) first_after: Option<Duration>,
    pub(crate) latency: Option<Histogram<u64>>,
    pub(crate) api_latency: Option<Histogram<u64>>,
    pub(crate) complete: bool,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) unknown: u64,
    pub(crate) waited: Duration,
    pub(crate) quiet: bool,
    pub(crate) load_start: String,
    pub(crate) load_end: String,
    pub(crate) notes: Vec<String>,
}

pub(crate) fn scenarios(s: &Settings) -> Vec<Scenario> {
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

pub(crate) struct Ctx<'a> {
    pub(crate) s: &'a Settings,
    pub(crate) server_rt: Handle,
    pub(crate) sink: Arc<Sink>,
    pub(crate) receiver: String,
}

pub(crate) async fn run_scenario(cx: &mut Ctx<'_>, sc: &Scenario) -> Result<Row> {
    let (waited, quiet) = cx.s.wait_for_quiet().await;
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

pub(crate) async fn run_in(cx: &mut Ctx<'_>, sc: &Scenario, db: &str) -> Result<Row> {
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
