//! Lead capture and routing over HTTP, on Postgres, against 50 partners with caps and filters:
//! leads captured and routed per second at saturation, and the capture-to-routed latency.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   CARGO_TARGET_DIR=target-bench cargo bench -p workos-reference-server --bench leads
//! ```
//!
//! The bench creates a fresh database `workos_leadbench_<uuid>` next to the one `DATABASE_URL`
//! names (the role needs `CREATEDB`), migrates it, creates one org with an owner API key
//! (`bootstrap::create_org_with_key`) and starts the real server in-process (`AppState::new`,
//! `app`, `serve` on `127.0.0.1:0`, the API rate limit out of the way, the queued-lead job not
//! running) on its own Tokio runtime. The partners are created through `POST /api/v1/partners`:
//! each buys one or two of 5 verticals in some regions (state codes or postal-code prefixes);
//! one in five has a small daily cap that fills during the run (then it is "capped"); the rest
//! have daily and monthly caps that are counted but never reached; one in seven has an empty
//! weekly schedule (always closed) and one in seven is open around the clock by its schedule;
//! time zones vary. Routing settings are the defaults (priority with fall-through, exclusive,
//! queue when full, dedupe on email and phone over 30 days).
//!
//! The load generator (reqwest, keep-alive pool) runs on a second runtime: `BENCH_CONCURRENCY`
//! workers each `POST /api/v1/leads` (a unique email, a random vertical, region and postal
//! code) as soon as the previous answered (closed loop). Capture and routing happen within the
//! request, so a lead answered `routed` was routed when its answer arrived: its request latency
//! is its capture-to-routed latency. The report (Markdown on stdout) gives leads/s, the share
//! routed / queued / unrouted, p50/p99/max latency of the routed leads, and, from
//! `pg_stat_database` (and `pg_stat_statements` when installed), transactions and statements
//! per lead. Progress goes to stderr. The database is dropped at the end.
//!
//! Before the warm-up the org gets a month of history, as a deployment has: `BENCH_HISTORY`
//! (100,000) routed leads spread over the 30 days before yesterday, each with its person (and
//! email contact) and a `delivered`
//! delivery to a partner buying its vertical (only partners whose caps are never reached, so
//! history does not fill the small caps), and the partners' monthly cap counters that routing
//! would have kept for them, written as bulk SQL; then `VACUUM (ANALYZE)`, so the
//! planner works from real statistics, not from the empty tables of a fresh database. Cap
//! counting over a month window therefore meets a month's deliveries.
//!
//! Settings, from the environment: `DATABASE_URL` (required); `BENCH_PARTNERS` (50);
//! `BENCH_HISTORY` (100000);
//! `BENCH_SECS` (15); `BENCH_WARMUP_SECS` (2, not recorded); `BENCH_CONCURRENCY` (32);
//! `BENCH_SERVER_THREADS` (number of CPUs); `BENCH_CLIENT_THREADS` (1); `KEEP_DB=1` keeps the
//! database; `BENCH_SETUP_SQL`: statements run after the history is seeded, to try a schema
//! change before it becomes a migration.
//!
//! `BENCH_PREPARE=DIR` only prepares, for an outside load generator (`scripts/bench/wrk
//! leads`): the same database (org, key, partners, history), kept, with the server's
//! environment and distinct leads written to `DIR` (see `support/outside.rs`;
//! `BENCH_REQUESTS` (40000), `BENCH_WARMUP_REQUESTS` (10000)); nothing is measured.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use uuid::Uuid;
use workos_core::crypto::SecretKey;
use workos_reference_server::bootstrap;
use workos_reference_server::config::Config;
use workos_reference_server::state::AppState;
use workos_store::SqlStore;
use workos_tests::bench::{self, DbRole, env_num, histogram};
use workos_tests::db::with_database;

#[path = "support/outside.rs"]
mod outside;
#[path = "support/serving.rs"]
mod serving;

const VERTICALS: &[&str] = &["solar", "roofing", "hvac", "insurance", "mortgage"];
const REGIONS: &[&str] = &["CA", "TX", "NY", "FL", "WA", "IL", "AZ", "CO", "GA", "NC"];
const ZONES: &[&str] = &[
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "UTC",
];

struct Settings {
    url: String,
    partners: usize,
    history: u64,
    secs: u64,
    warmup_secs: u64,
    concurrency: usize,
    server_threads: usize,
    client_threads: usize,
    keep_db: bool,
}

impl Settings {
    fn from_env() -> Result<Self> {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Ok(Self {
            url: std::env::var("DATABASE_URL").context("DATABASE_URL (Postgres) is required")?,
            partners: env_num("BENCH_PARTNERS", 50)?,
            secs: env_num("BENCH_SECS", 15)?,
            warmup_secs: env_num("BENCH_WARMUP_SECS", 2)?,
            history: env_num("BENCH_HISTORY", 100_000)?,
            concurrency: env_num("BENCH_CONCURRENCY", 32)?,
            server_threads: env_num("BENCH_SERVER_THREADS", cpus)?,
            client_threads: env_num("BENCH_CLIENT_THREADS", 1)?,
            keep_db: bench::keep_db() || outside::prepare_dir().is_some(),
        })
    }
}

/// A tiny deterministic generator (xorshift), so runs pick the same mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[usize::try_from(self.next() % from.len() as u64).unwrap_or(0)]
    }
}

/// Partner `i` of the mix described in the module docs.
fn partner(i: usize, rng: &mut Rng) -> Value {
    let mut verticals = vec![VERTICALS[i % VERTICALS.len()]];
    if i.is_multiple_of(3) {
        verticals.push(VERTICALS[(i + 2) % VERTICALS.len()]);
    }
    let regions: Vec<String> = match i % 4 {
        0 => Vec::new(),
        1 => (0..3).map(|_| rng.pick(REGIONS).to_owned()).collect(),
        2 => vec![format!("{}", 1 + i % 9), format!("{}", 1 + (i + 4) % 9)],
        _ => (0..6).map(|_| rng.pick(REGIONS).to_owned()).collect(),
    };
    let (daily, monthly) = if i.is_multiple_of(5) {
        (json!(20), json!(1000))
    } else {
        (json!(1_000_000), json!(1_000_000))
    };
    let mut body = json!({
        "name": format!("Partner {i}"),
        // A public IP literal: registration resolves a host name, and the bench needs no DNS.
        "delivery": { "kind": "webhook", "url": format!("https://93.184.215.14/leads/{i}") },
        "verticals": verticals,
        "regions": regions,
        "priority": i % 4,
        "weight": 1 + i % 5,
        "price_minor": 1000 + 100 * i,
        "daily_cap": daily,
        "monthly_cap": monthly,
        "timezone": ZONES[i % ZONES.len()],
        "exclusive": true,
    });
    match i % 7 {
        0 => body["schedule"] = json!({}),
        1 => {
            let all_day = json!([["00:00", "24:00"]]);
            body["schedule"] = json!({ "mon": all_day, "tue": all_day, "wed": all_day,
                "thu": all_day, "fri": all_day, "sat": all_day, "sun": all_day });
        }
        _ => {}
    }
    body
}

fn lead(rng: &mut Rng) -> Value {
    json!({
        "first_name": "Bench",
        "email": format!("l{}@bench.example.com", Uuid::now_v7().simple()),
        "vertical": rng.pick(VERTICALS),
        "region": rng.pick(REGIONS),
        "country": "US",
        "postal_code": format!("{:05}", rng.next() % 100_000),
        "utm_source": "bench",
    })
}

struct Setup {
    store: SqlStore,
    state: AppState,
    auth: String,
    /// The server's environment (for `BENCH_PREPARE`).
    env: Vec<(&'static str, String)>,
}

async fn setup(s: &Settings, db: &str) -> Result<Setup> {
    let url = with_database(&s.url, db);
    let store = SqlStore::connect(&url).await?;
    store.migrate().await?;
    let env: HashMap<&'static str, String> = HashMap::from([
        ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
        ("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64()),
        ("WORKOS_RATE_LIMIT_PER_MINUTE", "100000000".into()),
        ("WORKOS_LEAD_ROUTING_INTERVAL_SECS", "0".into()),
        ("DATABASE_URL", url),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned())?;
    let state = AppState::new(store.clone(), config);
    let (_, secret) = bootstrap::create_org_with_key(&store, &state.hasher, "Lead bench")
        .await
        .map_err(|e| anyhow::anyhow!("creating the org: {e}"))?;
    Ok(Setup {
        store,
        state,
        auth: format!("Bearer {}", secret.expose()),
        env: env.into_iter().collect(),
    })
}

/// Counters shared by the workers.
#[derive(Default)]
struct Tally {
    statuses: Mutex<HashMap<String, u64>>,
    routed_latency: Mutex<Option<Histogram<u64>>>,
    all_latency: Mutex<Option<Histogram<u64>>>,
    errors: AtomicU64,
}

async fn post_lead(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    body: &Value,
) -> Result<String> {
    let resp = client
        .post(format!("{base}/api/v1/leads"))
        .header("authorization", auth)
        .json(body)
        .send()
        .await?;
    let status = resp.status();
    let answer: Value = resp.json().await?;
    if status.as_u16() != 201 {
        bail!("POST /api/v1/leads answered {status}: {answer}");
    }
    Ok(answer["status"].as_str().unwrap_or("?").to_owned())
}

/// Runs the closed loop for `secs`; records into `tally` when `record`.
async fn closed_loop(
    s: &Settings,
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    secs: u64,
    tally: Option<Arc<Tally>>,
) -> Result<(u64, Duration)> {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..s.concurrency {
        let (client, base, auth) = (client.clone(), base.to_owned(), auth.to_owned());
        let (done, tally) = (done.clone(), tally.clone());
        workers.spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1));
            let mut routed_h = histogram();
            let mut all_h = histogram();
            let mut statuses: HashMap<String, u64> = HashMap::new();
            while Instant::now() < until {
                let body = lead(&mut rng);
                let sent = Instant::now();
                match post_lead(&client, &base, &auth, &body).await {
                    Ok(status) => {
                        let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                        all_h.saturating_record(us);
                        if status == "routed" {
                            routed_h.saturating_record(us);
                        }
                        *statuses.entry(status).or_default() += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if let Some(t) = &tally
                            && t.errors.fetch_add(1, Ordering::Relaxed) < 3
                        {
                            eprintln!("error: {e:#}");
                        }
                    }
                }
            }
            if let Some(t) = tally {
                let mut s = t.statuses.lock().unwrap_or_else(PoisonError::into_inner);
                for (k, v) in statuses {
                    *s.entry(k).or_default() += v;
                }
                for (slot, h) in [(&t.routed_latency, routed_h), (&t.all_latency, all_h)] {
                    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
                    match slot.as_mut() {
                        Some(total) => total.add(&h).expect("same bounds"),
                        None => *slot = Some(h),
                    }
                }
            }
        });
    }
    while let Some(r) = workers.join_next().await {
        r?;
    }
    Ok((done.load(Ordering::Relaxed), start.elapsed()))
}

/// A month of routed leads with their deliveries (see the module docs), as the superuser (no
/// RLS), then `VACUUM (ANALYZE)`.
async fn seed_history(store: &SqlStore, leads: u64) -> Result<()> {
    let pool = store.pg_pool().context("not a Postgres store")?;
    let started = Instant::now();
    let leads = i64::try_from(leads)?;
    // Each history lead's person, with its email contact (ids derived from the lead number).
    sqlx::query(
        "WITH o AS (SELECT id FROM orgs LIMIT 1),
         p AS (
           INSERT INTO people (id, org_id, first_name, email, created_at, updated_at)
           SELECT md5('person' || g)::uuid, o.id, 'History', 'h' || g || '@history.example.com',
             now() - interval '30 days', now() - interval '30 days'
           FROM o, generate_series(1, $1::bigint) g
           RETURNING id, org_id, email)
         INSERT INTO person_contacts (org_id, kind, value, person_id)
         SELECT org_id, 'email', email, id FROM p",
    )
    .bind(leads)
    .execute(pool)
    .await
    .context("seeding people")?;
    sqlx::query(
        "WITH o AS (SELECT id FROM orgs LIMIT 1),
         l AS (
           INSERT INTO leads (id, org_id, person_id, first_name, email, vertical, region, country,
             postal_code, utm_source, status, created_at, updated_at)
           SELECT gen_random_uuid(), o.id, md5('person' || g)::uuid, 'History',
             'h' || g || '@history.example.com', ($2::text[])[1 + g % 5], ($3::text[])[1 + g % 10],
             'US', lpad((g % 100000)::text, 5, '0'), 'history', 'routed', t, t
           FROM o, generate_series(1, $1::bigint) g,
             LATERAL (SELECT now() - interval '1 day' - (g * interval '29 days') / $1::bigint) AS at(t)
           RETURNING id, org_id, vertical, created_at)
         INSERT INTO lead_deliveries (id, org_id, lead_id, partner_id, rule, price_minor, currency,
           status, attempts, created_at, updated_at)
         SELECT gen_random_uuid(), l.org_id, l.id, p.id, 'priority:exclusive', p.price_minor, p.currency,
           'delivered', 1, l.created_at, l.created_at
         FROM l CROSS JOIN LATERAL (
           SELECT id, price_minor, currency FROM fulfillment_partners f
           WHERE f.org_id = l.org_id AND f.daily_cap >= 1000000
             AND (f.verticals = '[]'::jsonb OR f.verticals ? l.vertical)
           ORDER BY md5(l.id::text || f.id::text) LIMIT 1) p",
    )
    .bind(leads)
    .bind(VERTICALS)
    .bind(REGIONS)
    .execute(pool)
    .await
    .context("seeding history")?;
    // The month's cap counters, as routing would have left them (the history bypassed it).
    sqlx::query(
        "INSERT INTO partner_cap_usage (org_id, partner_id, period, starts_at, used)
         SELECT p.org_id, p.id, 'month', m.starts_at, COUNT(d.id)
         FROM fulfillment_partners p
         CROSS JOIN LATERAL (
           SELECT date_trunc('month', now() AT TIME ZONE p.timezone) AT TIME ZONE p.timezone) AS m(starts_at)
         LEFT JOIN lead_deliveries d ON d.org_id = p.org_id AND d.partner_id = p.id
           AND d.created_at >= m.starts_at AND d.status <> 'returned'
         WHERE p.monthly_cap IS NOT NULL
         GROUP BY p.org_id, p.id, m.starts_at",
    )
    .execute(pool)
    .await
    .context("seeding cap counters")?;
    if let Ok(sql) = std::env::var("BENCH_SETUP_SQL") {
        eprintln!("BENCH_SETUP_SQL: {sql}");
        // The operator's own SQL, run as given.
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .context("BENCH_SETUP_SQL")?;
    }
    sqlx::raw_sql("VACUUM (ANALYZE)").execute(pool).await?;
    // Statements per lead are reported when the server has pg_stat_statements loaded.
    let _ = sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(pool)
        .await;
    eprintln!("history seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Committed transactions and (when `pg_stat_statements` is installed) statements run so far.
async fn db_counters(store: &SqlStore, db: &str) -> Result<(i64, Option<i64>)> {
    let pool = store.pg_pool().context("not a Postgres store")?;
    let (xacts,): (i64,) = sqlx::query_as(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
    )
    .bind(db)
    .fetch_one(pool)
    .await?;
    let statements: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT SUM(calls)::bigint FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
         WHERE d.datname = $1",
    )
    .bind(db)
    .fetch_optional(pool)
    .await
    .ok()
    .flatten();
    Ok((xacts, statements.and_then(|(n,)| n)))
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

/// The partners through the API, then the history.
async fn populate(s: &Settings, client: &reqwest::Client, base: &str, setup: &Setup) -> Result<()> {
    let mut rng = Rng(42);
    for i in 0..s.partners {
        let resp = client
            .post(format!("{base}/api/v1/partners"))
            .header("authorization", &setup.auth)
            .json(&partner(i, &mut rng))
            .send()
            .await?;
        if resp.status().as_u16() != 201 {
            bail!("creating partner {i}: {}", resp.text().await?);
        }
    }
    eprintln!(
        "created {} partners; seeding {} leads of history",
        s.partners, s.history
    );
    seed_history(&setup.store, s.history).await
}

/// `BENCH_PREPARE`: the org populated as for a run, and what `scripts/bench/wrk leads` needs
/// (see `support/outside.rs`): the server's environment and distinct leads, each line with the
/// org's API key.
async fn prepare(s: &Settings, addr: SocketAddr, setup: &Setup, db: &str) -> Result<String> {
    let dir = outside::prepare_dir().context("BENCH_PREPARE")?;
    let (run, warmup) = outside::request_counts(40_000, 10_000)?;
    let client = reqwest::Client::new();
    populate(s, &client, &format!("http://{addr}"), setup).await?;
    outside::write_server(&dir, db, &setup.env)?;
    let mut rng = Rng(4242);
    let mut leads = |n: usize| {
        (0..n)
            .map(|_| (setup.auth.clone(), lead(&mut rng).to_string()))
            .collect::<Vec<_>>()
    };
    let w = outside::write_requests(&dir, "warmup.req", leads(warmup).into_iter())?;
    let r = outside::write_requests(&dir, "run.req", leads(run).into_iter())?;
    Ok(format!(
        "prepared {db} in {}: {} partners, {w} warm-up and {r} run leads",
        dir.display(),
        s.partners
    ))
}

async fn drive(s: &Settings, addr: SocketAddr, setup: &Setup, db: &str) -> Result<String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(s.concurrency)
        .build()?;
    let base = format!("http://{addr}");
    populate(s, &client, &base, setup).await?;
    eprintln!("warming up");
    closed_loop(s, &client, &base, &setup.auth, s.warmup_secs, None).await?;
    let before = db_counters(&setup.store, db).await?;
    eprintln!("measuring for {} s", s.secs);
    let tally = Arc::new(Tally::default());
    let (done, elapsed) =
        closed_loop(s, &client, &base, &setup.auth, s.secs, Some(tally.clone())).await?;
    // The statistics collector reports with a delay of up to a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = db_counters(&setup.store, db).await?;

    let per_lead = |n: i64| {
        if done == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}", n as f64 / done as f64)
        }
    };
    let statuses = tally
        .statuses
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let routed = statuses.get("routed").copied().unwrap_or(0);
    let take = |slot: &Mutex<Option<Histogram<u64>>>| {
        slot.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_else(histogram)
    };
    let (routed_h, all_h) = (take(&tally.routed_latency), take(&tally.all_latency));
    let rate = done as f64 / elapsed.as_secs_f64();
    let mut out = String::new();
    use std::fmt::Write as _;
    writeln!(out, "## Lead capture + routing over HTTP (Postgres)\n")?;
    writeln!(
        out,
        "{} partners, {} workers (closed loop), {:.1} s measured, server threads {}, client threads {}\n",
        s.partners,
        s.concurrency,
        elapsed.as_secs_f64(),
        s.server_threads,
        s.client_threads
    )?;
    writeln!(out, "| measure | value |\n|---|---|")?;
    writeln!(out, "| leads captured + routed per second | {rate:.0} |")?;
    writeln!(
        out,
        "| routed per second | {:.0} |",
        routed as f64 / elapsed.as_secs_f64()
    )?;
    let mut mix: Vec<_> = statuses.iter().collect();
    mix.sort();
    let mix: Vec<String> = mix.iter().map(|(k, v)| format!("{k} {v}")).collect();
    writeln!(out, "| outcomes | {} |", mix.join(", "))?;
    writeln!(out, "| errors | {} |", tally.errors.load(Ordering::Relaxed))?;
    writeln!(
        out,
        "| capture-to-routed p50 / p99 / max (ms) | {} / {} / {} |",
        ms(routed_h.value_at_quantile(0.5)),
        ms(routed_h.value_at_quantile(0.99)),
        ms(routed_h.max())
    )?;
    writeln!(
        out,
        "| any outcome p50 / p99 (ms) | {} / {} |",
        ms(all_h.value_at_quantile(0.5)),
        ms(all_h.value_at_quantile(0.99))
    )?;
    writeln!(
        out,
        "| transactions per lead | {} |",
        per_lead(after.0 - before.0)
    )?;
    if let (Some(a), Some(b)) = (after.1, before.1) {
        writeln!(out, "| statements per lead | {} |", per_lead(a - b))?;
    }
    Ok(out)
}

fn main() -> Result<()> {
    let s = Settings::from_env()?;
    bench::run_server_bench(
        (s.server_threads, s.client_threads),
        &s.url,
        "workos_leadbench",
        DbRole::Creating,
        s.keep_db,
        |db, server_rt, client_rt| {
            let setup = server_rt.block_on(setup(&s, db))?;
            let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
            let addr = listener.local_addr()?;
            let state = setup.state.clone();
            if outside::prepare_dir().is_some() {
                serving::serve_during(
                    server_rt,
                    client_rt,
                    listener,
                    state,
                    prepare(&s, addr, &setup, db),
                )
            } else {
                serving::serve_during(
                    server_rt,
                    client_rt,
                    listener,
                    state,
                    drive(&s, addr, &setup, db),
                )
            }
        },
    )
}
