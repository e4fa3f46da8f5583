//! The load harness the engine's benches share (feature `bench`): settings from the
//! environment, the scratch Postgres database of a run and its seeding ([`seed`]), open- and
//! closed-loop HTTP load with latency histograms, the wait for a quiet machine (and for no other
//! bench) and the facts a report states about it.
//!
//! Each bench keeps what it measures and how it reports; what every bench repeated lives here,
//! so a fix to the load loop or the database setup reaches all of them.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, ensure};
use hdrhistogram::Histogram;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

mod machine;
pub mod seed;

pub use machine::{Quiet, loadavg, machine, other_benches};

/// The number in environment variable `name`, or `default` when it is unset or blank.
///
/// # Errors
/// When it is set to something that does not parse.
pub fn env_num<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| anyhow!("{name} must be a number, got {v:?}")),
        _ => Ok(default),
    }
}

/// `DATABASE_URL`, the Postgres server a bench creates its database on. `package` and `bench`
/// name the bench in the hint shown when it is unset; `bypass_rls` says whether the role must
/// also bypass RLS (the benches that seed rows directly).
///
/// # Errors
/// When it is unset or not a `postgres://` URL.
pub fn database_url(package: &str, bench: &str, bypass_rls: bool) -> Result<String> {
    let may = if bypass_rls {
        "create databases and bypass RLS"
    } else {
        "create databases"
    };
    let url = std::env::var("DATABASE_URL").map_err(|_| {
        anyhow!(
            "DATABASE_URL is not set: point it at a Postgres database whose role may {may}, \
             e.g.\n  DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
             cargo bench -p {package} --bench {bench}"
        )
    })?;
    ensure!(
        url.starts_with("postgres://") || url.starts_with("postgresql://"),
        "DATABASE_URL must be a postgres:// URL"
    );
    Ok(url)
}

/// Who may create the bench database: any role that may create databases, or (`Seeding`) only
/// one that also bypasses RLS, checked before anything is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbRole {
    /// The server creates the data through its own API.
    Creating,
    /// The bench writes rows of every org directly.
    Seeding,
}

async fn connect_admin(url: &str) -> Result<PgConnection> {
    PgConnection::connect(url)
        .await
        .context("cannot connect to DATABASE_URL")
}

/// Connects to `url` and checks that its role may create and seed the bench database.
///
/// # Errors
/// When it cannot connect, or the role is neither a superuser nor has `BYPASSRLS` and
/// `CREATEDB`.
pub async fn check_seeding_role(url: &str) -> Result<PgConnection> {
    let mut admin = connect_admin(url).await?;
    let (bypass, createdb): (bool, bool) = sqlx::query_as(
        "SELECT rolsuper OR rolbypassrls, rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut admin)
    .await?;
    ensure!(
        bypass && createdb,
        "the DATABASE_URL role must be a superuser (or have BYPASSRLS and CREATEDB) to create and seed the bench database"
    );
    Ok(admin)
}

/// Creates database `db` on the server of `url`, checking the role first for [`DbRole::Seeding`].
///
/// # Errors
/// When it cannot connect, the role falls short, or `CREATE DATABASE` fails.
pub async fn create_database(url: &str, db: &str, role: DbRole) -> Result<()> {
    let mut admin = match role {
        DbRole::Seeding => check_seeding_role(url).await?,
        DbRole::Creating => connect_admin(url).await?,
    };
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
        .execute(&mut admin)
        .await
        .with_context(|| format!("CREATE DATABASE {db}"))?;
    admin.close().await?;
    Ok(())
}

/// Drops database `db` (if it exists), closing its connections.
///
/// # Errors
/// When it cannot connect or the drop fails.
pub async fn drop_database(url: &str, db: &str) -> Result<()> {
    let mut admin = PgConnection::connect(url).await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await?;
    Ok(())
}

/// Runs `sql` (one or more statements) on the server of `url`.
///
/// # Errors
/// When it cannot connect or a statement fails; the error names the SQL.
pub async fn admin_sql(url: &str, sql: &str) -> Result<()> {
    let mut admin = connect_admin(url).await?;
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .with_context(|| sql.to_owned())?;
    admin.close().await?;
    Ok(())
}

/// Runs `run` with a fresh database `<prefix>_<uuid v7>` on the server of `url` (created on
/// `rt` as `role` allows), then drops it unless `keep` (`KEEP_DB=1`); a failed drop is logged,
/// not returned. Answers what `run` answered.
///
/// # Errors
/// When the database cannot be created, or `run` fails.
pub fn in_scratch_database<T>(
    rt: &Runtime,
    url: &str,
    prefix: &str,
    role: DbRole,
    keep: bool,
    run: impl FnOnce(&str) -> Result<T>,
) -> Result<T> {
    let db = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    rt.block_on(create_database(url, &db, role))?;
    eprintln!("bench database: {db}");
    let outcome = run(&db);
    if keep {
        eprintln!("KEEP_DB=1: kept {db}");
    } else if let Err(e) = rt.block_on(drop_database(url, &db)) {
        eprintln!("could not drop {db}: {e:#}; drop it by hand");
    }
    outcome
}

/// `VACUUM (ANALYZE)` of `tables` (comma-separated) and a `CHECKPOINT`: what a bench runs after
/// seeding, so that the run starts from fresh statistics and no pending writes.
///
/// # Errors
/// When either statement fails.
pub async fn settle(pool: &sqlx::PgPool, tables: &str) -> Result<()> {
    sqlx::raw_sql(AssertSqlSafe(format!("VACUUM (ANALYZE) {tables}")))
        .execute(pool)
        .await
        .context("VACUUM ANALYZE")?;
    sqlx::raw_sql("CHECKPOINT")
        .execute(pool)
        .await
        .context("CHECKPOINT")?;
    Ok(())
}

/// The two runtimes of an in-process HTTP bench: the server's (threads `server`) and the load
/// generator's (threads `loadgen`), with as many workers as given.
///
/// # Errors
/// When a runtime cannot be built.
pub fn runtimes(server_threads: usize, client_threads: usize) -> Result<(Runtime, Runtime)> {
    let build = |threads: usize, name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(name)
            .enable_all()
            .build()
    };
    Ok((
        build(server_threads, "server")?,
        build(client_threads, "loadgen")?,
    ))
}

/// What the `main` of an in-process server bench does: the two [`runtimes`], a scratch
/// database (see [`in_scratch_database`]), `run` with its name and both runtimes (server's,
/// load generator's), and the report `run` answers printed on stdout.
///
/// # Errors
/// When a runtime or the database cannot be made, or `run` fails.
pub fn run_server_bench(
    (server_threads, client_threads): (usize, usize),
    url: &str,
    prefix: &str,
    role: DbRole,
    keep: bool,
    run: impl FnOnce(&str, &Runtime, &Runtime) -> Result<String>,
) -> Result<()> {
    let (server_rt, client_rt) = runtimes(server_threads, client_threads)?;
    let report = in_scratch_database(&server_rt, url, prefix, role, keep, |db| {
        run(db, &server_rt, &client_rt)
    })?;
    println!("{report}");
    Ok(())
}

/// splitmix64: enough randomness to pick orgs, people and senders, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (which must not be zero).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A latency histogram in microseconds: 1 µs to 10 min, 3 significant digits.
#[must_use]
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// `d` in whole microseconds, at least 1 (what [`histogram`] records).
#[must_use]
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Microseconds as milliseconds with two decimals.
#[must_use]
pub fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// A target's verdict in a report.
#[must_use]
pub const fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "not met" }
}

/// An error with its sources, `: `-separated (reqwest's own message names only the URL).
#[must_use]
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The outcome of one request: the response's status, or the error that left it without one.
pub type Outcome = Result<u16, reqwest::Error>;

/// What one load run measured. Latencies in microseconds.
#[derive(Debug)]
pub struct Measured {
    /// Requests that got a response (any status).
    pub responses: u64,
    /// Responses with a status the run accepts.
    pub ok: u64,
    /// Other responses plus requests that failed without one.
    pub errors: u64,
    /// Requests that failed without a response (connection errors), a subset of `errors`.
    pub failed: u64,
    /// The first unaccepted status or transport error seen, for the log.
    pub first_error: Option<String>,
    /// How long the run took.
    pub wall: Duration,
    /// Fixed rate: from the scheduled time; saturation: from sending.
    pub latency: Histogram<u64>,
    /// From sending (fixed rate only).
    pub service: Option<Histogram<u64>>,
    accept: fn(u16) -> bool,
}

/// Whether a status is 2xx (the default of [`Load::accept`]).
#[must_use]
pub fn success(status: u16) -> bool {
    (200..300).contains(&status)
}

impl Measured {
    /// An empty measurement; `fixed` keeps the service time too; `accept` says which statuses
    /// are not errors.
    #[must_use]
    pub fn new(fixed: bool, accept: fn(u16) -> bool) -> Self {
        Self {
            responses: 0,
            ok: 0,
            errors: 0,
            failed: 0,
            first_error: None,
            wall: Duration::ZERO,
            latency: histogram(),
            service: fixed.then(histogram),
            accept,
        }
    }

    /// Records one request.
    pub fn record(&mut self, outcome: Outcome, latency: Duration, service: Duration) {
        match outcome {
            Ok(status) => {
                self.responses += 1;
                self.latency.saturating_record(micros(latency));
                if let Some(h) = &mut self.service {
                    h.saturating_record(micros(service));
                }
                if (self.accept)(status) {
                    self.ok += 1;
                } else {
                    self.errors += 1;
                    self.first_error
                        .get_or_insert_with(|| format!("HTTP {status}"));
                }
            }
            Err(e) => {
                self.errors += 1;
                self.failed += 1;
                self.first_error.get_or_insert_with(|| error_chain(&e));
            }
        }
    }

    /// Adds another worker's measurement to this one.
    pub fn merge(&mut self, other: Self) {
        self.responses += other.responses;
        self.ok += other.ok;
        self.errors += other.errors;
        self.failed += other.failed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latency.add(&other.latency).expect("same bounds");
        if let (Some(a), Some(b)) = (&mut self.service, &other.service) {
            a.add(b).expect("same bounds");
        }
    }

    /// Responses per second of wall time.
    #[must_use]
    pub fn rps(&self) -> f64 {
        self.responses as f64 / self.wall.as_secs_f64()
    }

    /// The latency at quantile `q`, in milliseconds.
    #[must_use]
    pub fn p(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// One line for the progress log: responses, errors (and the first), rate, p50, p95, p99
    /// and max latency.
    #[must_use]
    pub fn summary(&self) -> String {
        format!(
            "{} responses, {} errors{}, {:.0} req/s, p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
            self.responses,
            self.errors,
            self.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default(),
            self.rps(),
            ms(self.latency.value_at_quantile(0.50)),
            ms(self.latency.value_at_quantile(0.95)),
            ms(self.latency.value_at_quantile(0.99)),
            ms(self.latency.max()),
        )
    }
}

/// How a load run counts its answers; [`Load::default`] accepts every 2xx.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// The statuses that are not errors.
    pub accept: fn(u16) -> bool,
}

impl Default for Load {
    fn default() -> Self {
        Self { accept: success }
    }
}

impl Load {
    /// Open loop: `rate` requests/s for `secs`, at most `max_in_flight` at once, latency from
    /// each request's scheduled time. `request` makes each request (drawing from the run's
    /// [`Rng`], seeded with `seed`) in schedule order; it runs on its own task.
    ///
    /// # Errors
    /// When a request task panics.
    pub async fn fixed_rate<F, Fut>(
        self,
        rate: f64,
        secs: f64,
        max_in_flight: usize,
        seed: u64,
        mut request: F,
    ) -> Result<Measured>
    where
        F: FnMut(&mut Rng) -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let stats = Arc::new(Mutex::new(Measured::new(true, self.accept)));
        let mut rng = Rng(seed);
        let wall = paced(rate, secs, max_in_flight, |scheduled| {
            let (stats, req) = (Arc::clone(&stats), request(&mut rng));
            async move {
                let sent = Instant::now();
                let outcome = req.await;
                let done = Instant::now();
                stats.lock().unwrap_or_else(PoisonError::into_inner).record(
                    outcome,
                    done - scheduled,
                    done - sent,
                );
            }
        })
        .await?;
        let mut m = Arc::try_unwrap(stats)
            .map_err(|_| anyhow!("stats still shared"))?
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        m.wall = wall;
        Ok(m)
    }

    /// Closed loop: `concurrency` workers for `secs`, each sending its next request (made by
    /// `request` from the worker's own [`Rng`], derived from `seed`) when the last answered.
    ///
    /// # Errors
    /// When a worker panics.
    pub async fn saturation<F, Fut>(
        self,
        concurrency: usize,
        secs: f64,
        seed: u64,
        request: F,
    ) -> Result<Measured>
    where
        F: Fn(&mut Rng) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Outcome> + Send,
    {
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(secs);
        let mut tasks = JoinSet::new();
        for w in 0..concurrency {
            let request = request.clone();
            tasks.spawn(async move {
                let mut m = Measured::new(false, self.accept);
                let mut rng = Rng(seed.wrapping_mul(1_000_003).wrapping_add(w as u64));
                while Instant::now() < deadline {
                    let req = request(&mut rng);
                    let sent = Instant::now();
                    let outcome = req.await;
                    let took = sent.elapsed();
                    m.record(outcome, took, took);
                }
                m
            });
        }
        let mut all = Measured::new(false, self.accept);
        while let Some(m) = tasks.join_next().await {
            all.merge(m?);
        }
        all.wall = start.elapsed();
        Ok(all)
    }
}

/// The schedule of an open loop: `rate * secs` tasks, the `i`-th due `i / rate` seconds after
/// the start, each spawned when due (`task` gets its scheduled time) and holding one of
/// `max_in_flight` permits while it runs. Returns the time from the start until every task
/// finished.
///
/// # Errors
/// When a task panics.
pub async fn paced<F, Fut>(
    rate: f64,
    secs: f64,
    max_in_flight: usize,
    mut task: F,
) -> Result<Duration>
where
    F: FnMut(Instant) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let total = (rate * secs).round() as u64;
    let nanos_per_request = 1e9 / rate;
    let permits = Arc::new(Semaphore::new(max_in_flight));
    let mut tasks = JoinSet::new();
    let start = Instant::now() + Duration::from_millis(2);
    for i in 0..total {
        let scheduled = start + Duration::from_nanos((i as f64 * nanos_per_request) as u64);
        if Instant::now() < scheduled {
            tokio::time::sleep_until(scheduled.into()).await;
        }
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let run = task(scheduled);
        tasks.spawn(async move {
            run.await;
            drop(permit);
        });
        while let Some(r) = tasks.try_join_next() {
            r?;
        }
    }
    while let Some(r) = tasks.join_next().await {
        r?;
    }
    Ok(start.elapsed())
}

/// The load generator's HTTP client: keep-alive connections kept without limit, no Nagle
/// delay, redirects not followed, a 60 s timeout per request.
///
/// # Errors
/// When the client cannot be built (no TLS backend).
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(usize::MAX)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
}

/// `BENCH_ONLY`-style lists: the comma-separated, trimmed, non-empty items of variable `name`.
#[must_use]
pub fn env_list(name: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `KEEP_DB=1` asks to keep the bench database.
#[must_use]
pub fn keep_db() -> bool {
    std::env::var("KEEP_DB").is_ok_and(|v| v == "1")
}
