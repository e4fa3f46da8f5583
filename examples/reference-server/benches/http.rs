//! Load test of the reference server over HTTP, on Postgres with 10,000 orgs × 100 people:
//! `GET /api/v1/people/{id}`, `GET /api/v1/people?limit=50` and `POST /api/v1/people`, each at a
//! fixed rate (open loop) and at saturation (closed loop).
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   CARGO_TARGET_DIR=target-bench cargo bench -p workos-reference-server --bench http
//! ```
//!
//! The bench creates a fresh database `workos_httpbench_<uuid>` next to the one `DATABASE_URL`
//! names (the role must be a superuser, or have `CREATEDB` and `BYPASSRLS`), migrates it with
//! `SqlStore::migrate`, seeds orgs, people and their contact-index rows with bulk SQL, issues
//! member API keys for some of the orgs through `bootstrap::issue_api_key`, and starts the real
//! server in-process (`AppState::new`, `app`, `serve` on `127.0.0.1:0`, the rate limit raised to
//! 100,000,000 a minute) on its own Tokio runtime. The load generator (reqwest, keep-alive pool)
//! runs on a second runtime in the same process. The report is Markdown on stdout; progress goes
//! to stderr. The database is dropped at the end.
//!
//! Modes:
//! - `fixed`: open loop. Request `i` is scheduled at `start + i / rate` and sent then, whether
//!   or not earlier ones have answered; latency is measured from the *scheduled* time, so a
//!   stall of the server (or of the generator) counts against every request it delays (no
//!   coordinated omission). The `svc` column is the time from actually sending to the full
//!   response, for comparison. Tokio's timer ticks every millisecond, so a request can leave up
//!   to ~1 ms after its scheduled time; that is included in the latency.
//! - `saturation`: closed loop, `BENCH_CONCURRENCY` requests in flight, each sent as soon as the
//!   previous one on its worker has answered; latency from sending to the full response.
//!
//! Before every scenario the bench waits until the 1-minute load average (`/proc/loadavg`) is
//! below `BENCH_LOAD_MAX`, polling every `BENCH_LOAD_POLL_SECS`, for at most
//! `BENCH_LOAD_WAIT_SECS` in all; when that budget is spent it runs anyway and marks the
//! scenario "not quiet". The load average at the start and end of each scenario is reported.
//!
//! Settings, all from the environment (arguments are ignored):
//! - `DATABASE_URL` (required);
//! - `BENCH_ORGS` (10000), `BENCH_PEOPLE` (100 per org), `BENCH_KEYS` (200 orgs get an API key;
//!   requests pick one of those at random);
//! - `BENCH_SECS` (15, per scenario), `BENCH_WARMUP_SECS` (2, per operation, not recorded);
//! - `BENCH_GET_RATE` (1000), `BENCH_LIST_RATE` (1000), `BENCH_CREATE_RATE` (300) requests/s
//!   for the fixed-rate mode; `BENCH_MAX_IN_FLIGHT` (128) caps its outstanding requests, and so
//!   its connections, so that an overloaded server sees a queue rather than a connection storm
//!   (a request held back by the cap still counts from its scheduled time, as with wrk2);
//! - `BENCH_CONCURRENCY` (32) for the saturation mode;
//! - `BENCH_PAGE` (50): the list page size;
//! - `BENCH_SERVER_THREADS` (number of CPUs) and `BENCH_CLIENT_THREADS` (1): worker threads of
//!   the server's and the load generator's runtimes;
//! - `BENCH_LOAD_MAX` (1.5), `BENCH_LOAD_POLL_SECS` (20), `BENCH_LOAD_WAIT_SECS` (2400);
//! - `BENCH_ONLY`: comma-separated substrings; only scenarios whose name (`get/fixed`,
//!   `list/saturation`, …) contains one of them run;
//! - `KEEP_DB=1`: keep the bench database.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use uuid::Uuid;
use workos_core::crypto::SecretKey;
use workos_core::ids::OrgId;
use workos_core::tenant::{Role, TenantContext};
use workos_reference_server::bootstrap;
use workos_reference_server::config::Config;
use workos_reference_server::state::AppState;
use workos_store::SqlStore;
use workos_tests::bench::{
    self, DbRole, Load, Measured, Rng, env_num, loadavg, machine, met, ms, seed,
};
use workos_tests::db::with_database;

#[path = "support/serving.rs"]
mod serving;

/// The rate limit the server runs with: high enough never to trigger.
const RATE_LIMIT_PER_MINUTE: &str = "100000000";
/// Concurrency of the (unrecorded) warm-up.
const WARMUP_CONCURRENCY: usize = 4;

struct Settings {
    url: String,
    orgs: usize,
    people: usize,
    keys: usize,
    secs: f64,
    warmup_secs: f64,
    get_rate: f64,
    list_rate: f64,
    create_rate: f64,
    max_in_flight: usize,
    concurrency: usize,
    page: u32,
    server_threads: usize,
    client_threads: usize,
    quiet: bench::Quiet,
    only: Vec<String>,
    keep_db: bool,
}

impl Settings {
    fn from_env() -> Result<Self> {
        let url = bench::database_url("workos-reference-server", "http", true)?;
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let s = Self {
            url,
            orgs: env_num("BENCH_ORGS", 10_000)?,
            people: env_num("BENCH_PEOPLE", 100)?,
            keys: env_num("BENCH_KEYS", 200)?,
            secs: env_num("BENCH_SECS", 15.0)?,
            warmup_secs: env_num("BENCH_WARMUP_SECS", 2.0)?,
            get_rate: env_num("BENCH_GET_RATE", 1000.0)?,
            list_rate: env_num("BENCH_LIST_RATE", 1000.0)?,
            create_rate: env_num("BENCH_CREATE_RATE", 300.0)?,
            max_in_flight: env_num("BENCH_MAX_IN_FLIGHT", 128)?,
            concurrency: env_num("BENCH_CONCURRENCY", 32)?,
            page: env_num("BENCH_PAGE", 50)?,
            server_threads: env_num("BENCH_SERVER_THREADS", cpus)?,
            client_threads: env_num("BENCH_CLIENT_THREADS", 1)?,
            quiet: bench::Quiet::from_env(2400.0)?,
            only: bench::env_list("BENCH_ONLY"),
            keep_db: bench::keep_db(),
        };
        ensure!(
            s.orgs > 0 && s.people > 0 && s.keys > 0 && s.keys <= s.orgs,
            "BENCH_ORGS and BENCH_PEOPLE must be positive, BENCH_KEYS between 1 and BENCH_ORGS"
        );
        ensure!(
            s.secs > 0.0
                && s.warmup_secs >= 0.0
                && s.get_rate > 0.0
                && s.list_rate > 0.0
                && s.create_rate > 0.0,
            "BENCH_SECS and the rates must be positive"
        );
        ensure!(
            s.max_in_flight > 0
                && s.concurrency > 0
                && s.server_threads > 0
                && s.client_threads > 0
                && (1..=200).contains(&s.page),
            "BENCH_MAX_IN_FLIGHT, BENCH_CONCURRENCY and the thread counts must be positive, BENCH_PAGE 1–200"
        );
        Ok(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Server setup

/// One keyed org: its `Authorization` value and its people.
struct Key {
    auth: String,
    people: Vec<Uuid>,
}

struct Setup {
    state: AppState,
    keys: Vec<Key>,
    version: String,
    seed_secs: f64,
    settle_secs: f64,
}

async fn setup(s: &Settings, db: &str) -> Result<Setup> {
    let url = with_database(&s.url, db);
    let store = SqlStore::connect(&url).await?;
    store.migrate().await?;
    let pool = store.pg_pool().context("not a Postgres store")?.clone();
    let (version,): (String,) = sqlx::query_as("SELECT version()").fetch_one(&pool).await?;

    let started = Instant::now();
    let orgs = seed::orgs(&pool, "http", s.orgs).await?;
    let seeded = seed::people(&pool, "http", orgs, s.people).await?;
    let seed_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "seeded {} orgs × {} people (+ contacts) in {seed_secs:.1} s",
        s.orgs, s.people
    );

    let env: HashMap<&str, String> = HashMap::from([
        ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
        ("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64()),
        (
            "WORKOS_JWT_SECRET",
            format!("jwt-{}", Uuid::now_v7().simple()),
        ),
        ("WORKOS_RATE_LIMIT_PER_MINUTE", RATE_LIMIT_PER_MINUTE.into()),
        ("WORKOS_BIND", "127.0.0.1:0".into()),
        ("DATABASE_URL", url),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned())?;
    let state = AppState::new(store.clone(), config);

    // Keys for orgs spread evenly over the seeded ones.
    let mut keys = Vec::with_capacity(s.keys);
    for k in 0..s.keys {
        let j = k * s.orgs / s.keys;
        let ctx = TenantContext::system(OrgId::from_uuid(seeded.orgs[j]), "http-bench");
        let (_, secret) =
            bootstrap::issue_api_key(&store, &state.hasher, &ctx, "http-bench", Role::Member)
                .await
                .map_err(|e| anyhow!("issuing an API key: {e}"))?;
        keys.push(Key {
            auth: format!("Bearer {}", secret.expose()),
            people: (0..s.people).map(|i| seeded.person(j, i)).collect(),
        });
    }
    eprintln!("issued {} member API keys", keys.len());

    let started = Instant::now();
    bench::settle(&pool, "orgs, people, person_contacts, api_keys").await?;
    let settle_secs = started.elapsed().as_secs_f64();
    eprintln!("vacuum analyze + checkpoint: {settle_secs:.1} s");
    Ok(Setup {
        state,
        keys,
        version,
        seed_secs,
        settle_secs,
    })
}

// ---------------------------------------------------------------------------------------------
// Load generation

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Get,
    List,
    Create,
}

impl Op {
    const fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Create => "create",
        }
    }

    const fn request(self) -> &'static str {
        match self {
            Self::Get => "GET /api/v1/people/{id}",
            Self::List => "GET /api/v1/people?limit=N",
            Self::Create => "POST /api/v1/people",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// Open loop at this many requests per second.
    Fixed(f64),
    /// Closed loop with this many requests in flight.
    Saturation(usize),
}

impl Mode {
    const fn name(self) -> &'static str {
        match self {
            Self::Fixed(_) => "fixed",
            Self::Saturation(_) => "saturation",
        }
    }
}

struct Target {
    client: reqwest::Client,
    base: String,
    keys: Vec<Key>,
    page: u32,
    /// Numbers the people the create requests make, for unique emails.
    created: AtomicU64,
}

/// Sends one request of `op`; `pick` chooses the org and the person. Returns the status once
/// the whole body has been read.
async fn send(t: &Target, op: Op, pick: u64) -> Result<u16, reqwest::Error> {
    let key = &t.keys[(pick % t.keys.len() as u64) as usize];
    let req = match op {
        Op::Get => {
            let person = key.people[((pick >> 32) % key.people.len() as u64) as usize];
            t.client.get(format!("{}/api/v1/people/{person}", t.base))
        }
        Op::List => t
            .client
            .get(format!("{}/api/v1/people?limit={}", t.base, t.page)),
        Op::Create => {
            let n = t.created.fetch_add(1, Ordering::Relaxed);
            t.client
                .post(format!("{}/api/v1/people", t.base))
                .json(&serde_json::json!({
                    "first_name": "Bench",
                    "last_name": format!("Created {n}"),
                    "email": format!("http-bench-{n}@created.example.com"),
                    "title": "Load test",
                }))
        }
    };
    let resp = req
        .header(reqwest::header::AUTHORIZATION, &key.auth)
        .send()
        .await?;
    let status = resp.status().as_u16();
    resp.bytes().await?;
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// Driver and report

struct Row {
    op: Op,
    mode: Mode,
    m: Measured,
    waited: Duration,
    quiet: bool,
    load_checked: String,
    load_start: String,
    load_end: String,
}

async fn check(t: &Target, op: Op) -> Result<()> {
    match send(t, op, 0x1234_5678_9ABC).await {
        Ok(status) if (200..300).contains(&status) => Ok(()),
        Ok(status) => bail!("{} answered {status} before the run", op.request()),
        Err(e) => bail!("{} failed before the run: {e}", op.request()),
    }
}

async fn drive(s: &Settings, addr: SocketAddr, keys: Vec<Key>) -> Result<Vec<Row>> {
    let client = bench::http_client()?;
    let t = Arc::new(Target {
        client,
        base: format!("http://{addr}"),
        keys,
        page: s.page,
        created: AtomicU64::new(0),
    });
    for op in [Op::Get, Op::List, Op::Create] {
        check(&t, op).await?;
    }

    let mut scenarios = Vec::new();
    for (op, rate) in [
        (Op::Get, s.get_rate),
        (Op::List, s.list_rate),
        (Op::Create, s.create_rate),
    ] {
        for mode in [Mode::Fixed(rate), Mode::Saturation(s.concurrency)] {
            let name = format!("{}/{}", op.name(), mode.name());
            if s.only.is_empty() || s.only.iter().any(|o| name.contains(o.as_str())) {
                scenarios.push((op, mode, name));
            }
        }
    }

    let mut budget = s.quiet.wait;
    let mut warmed = Vec::new();
    let mut rows = Vec::new();
    for (i, (op, mode, name)) in scenarios.into_iter().enumerate() {
        // Each request picks its org and person from the run's random numbers.
        let requests = {
            let t = Arc::clone(&t);
            move |rng: &mut Rng| {
                let (t, pick) = (Arc::clone(&t), rng.next_u64());
                async move { send(&t, op, pick).await }
            }
        };
        let (waited, quiet, load_checked) = s.quiet.wait(&mut budget).await;
        if !warmed.contains(&op) && s.warmup_secs > 0.0 {
            let w = Load::default()
                .saturation(
                    WARMUP_CONCURRENCY,
                    s.warmup_secs,
                    0xFEED + i as u64,
                    requests.clone(),
                )
                .await?;
            eprintln!(
                "warm-up {}: {} requests, {} errors",
                op.name(),
                w.responses,
                w.errors
            );
            warmed.push(op);
        }
        let load_start = loadavg().1;
        eprintln!("{name}: start, load average {load_start}");
        let m = match mode {
            Mode::Fixed(rate) => {
                Load::default()
                    .fixed_rate(rate, s.secs, s.max_in_flight, 0xBEEF + i as u64, requests)
                    .await?
            }
            Mode::Saturation(c) => {
                Load::default()
                    .saturation(c, s.secs, 0xCAFE + i as u64, requests)
                    .await?
            }
        };
        let load_end = loadavg().1;
        eprintln!("{name}: {}; load average {load_end}", m.summary());
        rows.push(Row {
            op,
            mode,
            m,
            waited,
            quiet,
            load_checked,
            load_start,
            load_end,
        });
    }
    Ok(rows)
}

fn report(s: &Settings, setup: &Setup, rows: &[Row]) -> Result<String> {
    let mut out = String::new();
    writeln!(out, "### Setup\n")?;
    writeln!(out, "- machine: {}", machine())?;
    writeln!(out, "- database: {}", setup.version)?;
    writeln!(
        out,
        "- data: {} orgs × {} people (+ one email each in the contact index), seeded in {:.1} s, \
         VACUUM ANALYZE + CHECKPOINT {:.1} s; {} orgs with a member API key, requests spread \
         over them at random",
        s.orgs, s.people, setup.seed_secs, setup.settle_secs, s.keys
    )?;
    writeln!(
        out,
        "- server: in-process, {} runtime worker threads, pool of 16 Postgres connections \
         (`SqlStore::connect`), rate limit {RATE_LIMIT_PER_MINUTE}/min; load generator: reqwest \
         (HTTP/1.1 keep-alive), {} runtime worker thread(s), same process",
        s.server_threads, s.client_threads
    )?;
    writeln!(
        out,
        "- per scenario: {} s measured after a {} s warm-up per operation; fixed rate = open loop, \
         latency from the scheduled send time (≤ {} in flight); saturation = closed loop, {} in \
         flight; list page size {}",
        s.secs, s.warmup_secs, s.max_in_flight, s.concurrency, s.page
    )?;
    writeln!(out, "- quiet machine: {}\n", s.quiet.describe())?;
    writeln!(
        out,
        "| request | mode | target req/s | requests | errors | achieved req/s | p50 ms | p95 ms | p99 ms | max ms | p99 svc ms | load avg start → end |"
    )?;
    writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )?;
    for r in rows {
        let (mode, target) = match r.mode {
            Mode::Fixed(rate) => ("fixed rate".to_owned(), format!("{rate:.0}")),
            Mode::Saturation(c) => (format!("saturation, {c} in flight"), "–".to_owned()),
        };
        let svc =
            r.m.service
                .as_ref()
                .map_or_else(|| "–".to_owned(), |h| ms(h.value_at_quantile(0.99)));
        let note = if r.quiet {
            String::new()
        } else {
            " (not quiet)".to_owned()
        };
        writeln!(
            out,
            "| `{}` | {mode} | {target} | {} | {} | {:.0} | {} | {} | {} | {} | {svc} | {} → {}{note} |",
            r.op.request(),
            r.m.responses + r.m.failed,
            r.m.errors,
            r.m.responses as f64 / r.m.wall.as_secs_f64(),
            ms(r.m.latency.value_at_quantile(0.50)),
            ms(r.m.latency.value_at_quantile(0.95)),
            ms(r.m.latency.value_at_quantile(0.99)),
            ms(r.m.latency.max()),
            r.load_start,
            r.load_end,
        )?;
    }
    writeln!(out)?;
    for r in rows {
        writeln!(
            out,
            "- {} {}: waited {:.0} s; load average at the check {}{} (the warm-up, if any, ran \
             between the check and the start)",
            r.op.name(),
            r.mode.name(),
            r.waited.as_secs_f64(),
            r.load_checked,
            if r.quiet {
                String::new()
            } else {
                format!(", not below {}: wait budget spent, ran anyway", s.quiet.max)
            }
        )?;
        if let Some(e) = &r.m.first_error {
            writeln!(out, "- {} {}: first error: {e}", r.op.name(), r.mode.name())?;
        }
    }
    let get_fixed = rows
        .iter()
        .find(|r| r.op == Op::Get && matches!(r.mode, Mode::Fixed(_)));
    if let Some(r) = get_fixed {
        let p99 = r.m.latency.value_at_quantile(0.99);
        writeln!(
            out,
            "- target p99 < 10 ms for GET person at the fixed rate: p99 {} ms, {}",
            ms(p99),
            met(p99 < 10_000 && r.m.errors == 0)
        )?;
    }
    let worst_p95 = rows
        .iter()
        .map(|r| r.m.latency.value_at_quantile(0.95))
        .max();
    if let Some(p95) = worst_p95 {
        writeln!(
            out,
            "- target p95 < 400 ms: worst p95 over all scenarios {} ms, {}",
            ms(p95),
            met(p95 < 400_000)
        )?;
    }
    Ok(out)
}

fn run(
    s: &Settings,
    db: &str,
    server_rt: &tokio::runtime::Runtime,
    client_rt: &tokio::runtime::Runtime,
) -> Result<String> {
    // The store, its pool and the server live on the server's runtime.
    let mut setup = server_rt.block_on(setup(s, db))?;
    let keys = std::mem::take(&mut setup.keys);
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let rows = serving::serve_during(
        server_rt,
        client_rt,
        listener,
        setup.state.clone(),
        drive(s, addr, keys),
    );
    report(s, &setup, &rows?)
}

fn main() -> Result<()> {
    let s = Settings::from_env()?;
    bench::run_server_bench(
        (s.server_threads, s.client_threads),
        &s.url,
        "workos_httpbench",
        DbRole::Seeding,
        s.keep_db,
        |db, server_rt, client_rt| run(&s, db, server_rt, client_rt),
    )
}
