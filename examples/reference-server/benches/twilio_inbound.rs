//! Load test of Twilio's inbound SMS webhook (`POST /api/v1/webhooks/twilio/sms`) on Postgres:
//! signed form posts, each a new message (distinct `MessageSid`) from one of a pool of sender
//! numbers, so the first message of each sender creates a person and the later ones match it.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   CARGO_TARGET_DIR=target-bench cargo bench -p workos-reference-server --bench twilio_inbound
//! ```
//!
//! The bench creates a fresh database `workos_twiliobench_<uuid>` next to the one `DATABASE_URL`
//! names (the role must be able to create databases), migrates it (`SqlStore::migrate`), and
//! starts the real server in-process (`AppState::new`, `app`, `serve` on `127.0.0.1:0`) on its own
//! Tokio runtime, configured as a deployment is: `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`,
//! `TWILIO_API_BASE_URL` (the fake Twilio API of `workos-tests`, unused by inbound traffic) and
//! `WORKOS_PUBLIC_URL` = the server's own address, which is the URL the webhooks are signed
//! over. One org owns one number (mapped as `workos-server admin assign-phone` does). The load
//! generator (reqwest, keep-alive pool) runs on a second runtime in the same process; it builds every
//! request as Twilio does (`FakeTwilio::inbound_sms_params`: the full parameter set of a real
//! inbound SMS) and signs it with `X-Twilio-Signature` (HMAC-SHA1 over URL + sorted params), so
//! the server does the full work: signature check, number lookup, sender lookup or person
//! creation, message + interaction + `sms.received` event in one transaction.
//!
//! Scenarios, each with a pool of `BENCH_SENDERS` sender numbers never seen before:
//! - `saturation`: closed loop, `BENCH_CONCURRENCY` requests in flight, each worker sending
//!   its next request as soon as the last answered; latency from sending to the full response.
//! - `fixed`: open loop at `BENCH_RATE` requests/s (the target rate); request `i` is scheduled
//!   at `start + i / rate` and latency is measured from that scheduled time, so a stall counts
//!   against every request it delays (no coordinated omission); at most `BENCH_MAX_IN_FLIGHT`
//!   outstanding.
//!
//! Before each scenario the bench waits until the 1-minute load average (`/proc/loadavg`) is
//! below `BENCH_LOAD_MAX`, polling every `BENCH_LOAD_POLL_SECS`, for at most
//! `BENCH_LOAD_WAIT_SECS` in all (then it runs anyway and says so). A warm-up (not recorded,
//! with senders of its own) precedes the first scenario. After the run the database is checked:
//! one `sms` row per 200 answer, and one person per sender. The report is Markdown on stdout;
//! progress goes to stderr. The database is dropped at the end unless `KEEP_DB=1`.
//!
//! Settings (environment): `DATABASE_URL` (required), `BENCH_SECS` (20), `BENCH_WARMUP_SECS`
//! (3), `BENCH_CONCURRENCY` (16: the fewest in flight that reach this machine's saturation
//! throughput; measured 1,952 req/s at 8, 2,247 at 16, 2,153 at 32, where the extra requests
//! only queue), `BENCH_RATE` (1500), `BENCH_MAX_IN_FLIGHT` (1024),
//! `BENCH_SENDERS` (1000, at most 1000), `BENCH_SERVER_THREADS` (number of CPUs),
//! `BENCH_CLIENT_THREADS` (1), `BENCH_LOAD_MAX` (1.5), `BENCH_LOAD_POLL_SECS` (20),
//! `BENCH_LOAD_WAIT_SECS` (1800), `BENCH_ONLY` (`saturation` or `fixed`), `KEEP_DB`, and
//! `BENCH_HISTORY` (50000): inbound messages of history written as bulk SQL before the
//! measured scenarios (see `seed_history`), then `VACUUM (ANALYZE)`; 0 starts on empty tables.
//! `BENCH_SETUP_SQL`: statements run after the migrations, to try a schema change (e.g. an
//! index) before it is written as a migration; the report quotes them.
//!
//! `BENCH_PREPARE=DIR` only prepares, for an outside load generator (`scripts/bench/wrk sms`):
//! the same database (org, number, history), kept, with the server's environment and distinct
//! pre-signed webhooks written to `DIR` (see `support/outside.rs`; `BENCH_PUBLIC_URL`,
//! `BENCH_REQUESTS` (60000), `BENCH_WARMUP_REQUESTS` (20000)); nothing is measured.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use workos_core::crypto::SecretKey;
use workos_reference_server::bootstrap;
use workos_reference_server::config::Config;
use workos_reference_server::state::AppState;
use workos_store::SqlStore;
use workos_tests::bench::{self, DbRole, Load, Measured, Rng, env_num, loadavg, machine, met};
use workos_tests::db::with_database;
use workos_tests::fake_twilio::{FakeTwilio, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};

#[path = "support/outside.rs"]
mod outside;
#[path = "support/serving.rs"]
mod serving;

/// The issue's targets on this machine.
const TARGET_RPS: f64 = 1500.0;
const TARGET_P99_MS: f64 = 20.0;
/// The org's number.
const ORG_NUMBER: &str = "+14155559999";
/// Sender numbers are `+1415555NNNN`; each scenario gets a block of 1,000.
const SENDER_BLOCK: u32 = 1000;

struct Settings {
    url: String,
    secs: f64,
    warmup_secs: f64,
    concurrency: usize,
    rate: f64,
    max_in_flight: usize,
    senders: u32,
    server_threads: usize,
    client_threads: usize,
    quiet: bench::Quiet,
    only: Option<String>,
    keep_db: bool,
    history: i64,
    setup_sql: Option<String>,
}

impl Settings {
    fn from_env() -> Result<Self> {
        let url = bench::database_url("workos-reference-server", "twilio_inbound", false)?;
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let s = Self {
            url,
            secs: env_num("BENCH_SECS", 20.0)?,
            warmup_secs: env_num("BENCH_WARMUP_SECS", 3.0)?,
            concurrency: env_num("BENCH_CONCURRENCY", 16)?,
            rate: env_num("BENCH_RATE", TARGET_RPS)?,
            max_in_flight: env_num("BENCH_MAX_IN_FLIGHT", 1024)?,
            senders: env_num("BENCH_SENDERS", 1000)?,
            server_threads: env_num("BENCH_SERVER_THREADS", cpus)?,
            client_threads: env_num("BENCH_CLIENT_THREADS", 1)?,
            quiet: bench::Quiet::from_env(1800.0)?,
            only: std::env::var("BENCH_ONLY")
                .ok()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty()),
            keep_db: bench::keep_db() || outside::prepare_dir().is_some(),
            history: env_num("BENCH_HISTORY", 50_000)?,
            setup_sql: std::env::var("BENCH_SETUP_SQL")
                .ok()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty()),
        };
        ensure!(
            s.secs > 0.0 && s.warmup_secs >= 0.0 && s.rate > 0.0,
            "BENCH_SECS and BENCH_RATE must be positive"
        );
        ensure!(
            s.concurrency > 0
                && s.max_in_flight > 0
                && s.server_threads > 0
                && s.client_threads > 0,
            "BENCH_CONCURRENCY, BENCH_MAX_IN_FLIGHT and the thread counts must be positive"
        );
        ensure!(
            (1..=SENDER_BLOCK).contains(&s.senders),
            "BENCH_SENDERS must be 1–{SENDER_BLOCK}"
        );
        Ok(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Load generation

/// What the load generator needs to build and send one webhook.
struct Target {
    client: reqwest::Client,
    /// The public URL of the webhook, exactly as signed.
    url: String,
    /// Builds realistic parameter sets and signs them with the account's auth token.
    twilio: FakeTwilio,
    sent: AtomicU64,
}

/// The `i`-th sender number of block `block` (block 0 is the warm-up's).
fn sender(block: u32, i: u32) -> String {
    format!("+1415555{:04}", 2000 + block * SENDER_BLOCK + i)
}

/// Posts one new inbound SMS from `from`; the status once the whole body has been read.
async fn send(t: &Target, from: &str) -> Result<u16, reqwest::Error> {
    let n = t.sent.fetch_add(1, Ordering::Relaxed);
    let params =
        t.twilio
            .inbound_sms_params(from, ORG_NUMBER, &format!("Bench message {n}: hello!"));
    let signature = t.twilio.webhook_signature(&t.url, &params);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let resp = t
        .client
        .post(&t.url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header("x-twilio-signature", signature)
        .body(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    resp.bytes().await?;
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// Driver and report

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Saturation(usize),
    Fixed(f64),
}

impl Mode {
    const fn name(self) -> &'static str {
        match self {
            Self::Saturation(_) => "saturation",
            Self::Fixed(_) => "fixed",
        }
    }
}

struct Row {
    mode: Mode,
    m: Measured,
    waited: Duration,
    quiet: bool,
    load_start: String,
    load_end: String,
    /// People in the org before and after the scenario.
    people: (i64, i64),
}

struct Run {
    rows: Vec<Row>,
    warmup: Option<Measured>,
    /// `sms` rows, people, `sms.received` events at the end.
    sms_rows: i64,
    people: i64,
    events: i64,
    version: String,
}

/// The org's history, as a deployment has one: `history` inbound messages over the last 30
/// days from 5,000 earlier senders (people with their phone contacts), each with its
/// interaction, written as bulk SQL; then `VACUUM (ANALYZE)`, so that the server's connections
/// plan (and re-plan their cached statements) against real statistics instead of the empty
/// tables of a fresh database.
async fn seed_history(pool: &sqlx::PgPool, history: i64) -> Result<()> {
    if history == 0 {
        return Ok(());
    }
    let started = Instant::now();
    const SENDERS: i64 = 5000;
    sqlx::query(
        "WITH o AS (SELECT org_id FROM phones LIMIT 1),
         p AS (
           INSERT INTO people (id, org_id, phone, created_at, updated_at)
           SELECT md5('history person ' || g)::uuid, o.org_id, '+1212555' || lpad(g::text, 4, '0'),
             now() - interval '30 days', now() - interval '30 days'
           FROM o, generate_series(1, $1::bigint) g
           RETURNING id, org_id, phone)
         INSERT INTO person_contacts (org_id, kind, value, person_id)
         SELECT org_id, 'phone', phone, id FROM p",
    )
    .bind(SENDERS)
    .execute(pool)
    .await
    .context("seeding people")?;
    sqlx::query(
        "WITH o AS (SELECT org_id, id AS phone_id FROM phones LIMIT 1),
         s AS (
           INSERT INTO sms (id, org_id, phone_id, message_sid, direction, from_number, to_number,
             body, status, person_id, occurred_at, created_at, updated_at)
           SELECT gen_random_uuid(), o.org_id, o.phone_id, 'SMhistory' || g, 'inbound',
             '+1212555' || lpad((1 + g % $2)::text, 4, '0'), $3, 'An earlier message', 'received',
             md5('history person ' || (1 + g % $2))::uuid, t, t, t
           FROM o, generate_series(1, $1::bigint) g,
             LATERAL (SELECT now() - interval '30 days' + (g * interval '29 days') / $1::bigint) AS at(t)
           RETURNING id, org_id, person_id, occurred_at)
         INSERT INTO interactions (id, org_id, kind, occurred_at, summary, person_id, sms_id,
           created_at, updated_at)
         SELECT gen_random_uuid(), org_id, 'sms', occurred_at, 'An earlier message', person_id, id,
           occurred_at, occurred_at
         FROM s",
    )
    .bind(history)
    .bind(SENDERS)
    .bind(ORG_NUMBER)
    .execute(pool)
    .await
    .context("seeding messages")?;
    sqlx::raw_sql("VACUUM (ANALYZE)").execute(pool).await?;
    eprintln!(
        "seeded {history} messages of history in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn count(pool: &sqlx::PgPool, sql: &'static str) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(pool).await?;
    Ok(n)
}

async fn drive(s: &Settings, addr: SocketAddr, pool: sqlx::PgPool) -> Result<Run> {
    let client = bench::http_client()?;
    let base = format!("http://{addr}");
    let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
    let t = Arc::new(Target {
        client,
        url: format!("{base}/api/v1/webhooks/twilio/sms"),
        twilio,
        sent: AtomicU64::new(0),
    });
    match send(&t, &sender(0, 0)).await {
        Ok(200) => {}
        Ok(status) => bail!("the webhook answered {status} before the run"),
        Err(e) => bail!("the webhook failed before the run: {e}"),
    }
    // History's people have +1212555… numbers; the bench's senders +1415555….
    let people_query = "SELECT count(*) FROM people WHERE phone NOT LIKE '+1212555%'";
    ensure!(
        count(&pool, people_query).await? == 1,
        "the first message created its sender"
    );
    seed_history(&pool, s.history).await?;

    let mut scenarios = Vec::new();
    for mode in [Mode::Saturation(s.concurrency), Mode::Fixed(s.rate)] {
        if s.only.as_deref().is_none_or(|o| mode.name().contains(o)) {
            scenarios.push(mode);
        }
    }
    let mut budget = s.quiet.wait;
    let mut warmup = None;
    let mut rows = Vec::new();
    // Only a 200 (the TwiML answer) counts as handled.
    let load = Load {
        accept: |status| status == 200,
    };
    // Inbound messages from senders of `block`, drawn from the run's random numbers.
    let from_block = |block: u32| {
        let (t, senders) = (Arc::clone(&t), s.senders as usize);
        move |rng: &mut Rng| {
            let (t, from) = (Arc::clone(&t), sender(block, rng.below(senders) as u32));
            async move { send(&t, &from).await }
        }
    };
    for (i, mode) in scenarios.into_iter().enumerate() {
        let (waited, quiet, load_now) = s.quiet.wait(&mut budget).await;
        if quiet {
            eprintln!("load average {load_now}: quiet");
        }
        if warmup.is_none() && s.warmup_secs > 0.0 {
            // Senders of block 0: the scenarios' blocks stay unseen.
            let w = load
                .saturation(4, s.warmup_secs, 0xCAFE, from_block(0))
                .await?;
            eprintln!(
                "warm-up: {} requests, {} errors, {:.0} req/s",
                w.responses,
                w.errors,
                w.rps()
            );
            warmup = Some(w);
        }
        let block = u32::try_from(i)? + 1;
        let people_before = count(&pool, people_query).await?;
        let load_start = loadavg().1;
        eprintln!("{}: start, load average {load_start}", mode.name());
        let m = match mode {
            Mode::Saturation(c) => {
                load.saturation(c, s.secs, 0xCAFE, from_block(block))
                    .await?
            }
            Mode::Fixed(rate) => {
                load.fixed_rate(rate, s.secs, s.max_in_flight, 0xBEEF, from_block(block))
                    .await?
            }
        };
        let load_end = loadavg().1;
        let people_after = count(&pool, people_query).await?;
        eprintln!(
            "{}: {}; {} people created; load average {load_end}",
            mode.name(),
            m.summary(),
            people_after - people_before,
        );
        rows.push(Row {
            mode,
            m,
            waited,
            quiet,
            load_start,
            load_end,
            people: (people_before, people_after),
        });
    }
    let (version,): (String,) = sqlx::query_as("SELECT version()").fetch_one(&pool).await?;
    Ok(Run {
        rows,
        warmup,
        sms_rows: count(
            &pool,
            "SELECT count(*) FROM sms WHERE message_sid NOT LIKE 'SMhistory%'",
        )
        .await?,
        people: count(&pool, people_query).await?,
        events: count(
            &pool,
            "SELECT count(*) FROM domain_events WHERE type = 'sms.received'",
        )
        .await?,
        version,
    })
}

fn report(s: &Settings, run: &Run) -> Result<String> {
    let mut out = String::new();
    writeln!(out, "### Setup\n")?;
    writeln!(out, "- machine: {}", machine())?;
    writeln!(out, "- database: {}", run.version)?;
    writeln!(
        out,
        "- server: in-process, {} runtime worker threads, pool of 16 Postgres connections \
         (`SqlStore::connect`); load generator: reqwest (HTTP/1.1 keep-alive), {} runtime worker \
         thread(s), same process, building and signing each request (HMAC-SHA1)",
        s.server_threads, s.client_threads
    )?;
    writeln!(
        out,
        "- traffic: `POST /api/v1/webhooks/twilio/sms`, Twilio's full inbound parameter set, a new \
         `MessageSid` each, senders drawn at random from {} numbers per scenario that the org has \
         never seen (so each sender's first message creates a person, later ones match it); one \
         org, one number",
        s.senders
    )?;
    writeln!(
        out,
        "- per scenario: {} s measured, after a {} s warm-up (4 in flight, senders of its own) \
         before the first; saturation = closed loop, {} in flight, latency from sending; fixed \
         = open loop at {} req/s, latency from the scheduled send time (≤ {} in flight)",
        s.secs, s.warmup_secs, s.concurrency, s.rate, s.max_in_flight
    )?;
    writeln!(out, "- quiet machine: {}", s.quiet.describe())?;
    if let Some(sql) = &s.setup_sql {
        writeln!(
            out,
            "- schema: the migrations plus `BENCH_SETUP_SQL` (not part of the schema): `{sql}`"
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "| mode | requests | errors | achieved req/s | p50 ms | p95 ms | p99 ms | max ms | p99 svc ms | people created | load avg start → end |"
    )?;
    writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )?;
    for r in &run.rows {
        let mode = match r.mode {
            Mode::Saturation(c) => format!("saturation, {c} in flight"),
            Mode::Fixed(rate) => format!("fixed {rate:.0} req/s"),
        };
        let svc = r.m.service.as_ref().map_or_else(
            || "–".to_owned(),
            |h| format!("{:.2}", h.value_at_quantile(0.99) as f64 / 1000.0),
        );
        writeln!(
            out,
            "| {mode} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {svc} | {} | {} → {}{} |",
            r.m.responses + r.m.failed,
            r.m.errors,
            r.m.rps(),
            r.m.p(0.50),
            r.m.p(0.95),
            r.m.p(0.99),
            r.m.latency.max() as f64 / 1000.0,
            r.people.1 - r.people.0,
            r.load_start,
            r.load_end,
            if r.quiet { "" } else { " (not quiet)" },
        )?;
    }
    writeln!(out)?;
    for r in &run.rows {
        writeln!(
            out,
            "- {}: waited {:.0} s for the load average{}",
            r.mode.name(),
            r.waited.as_secs_f64(),
            if r.quiet {
                String::new()
            } else {
                format!("; it never fell below {}, ran anyway", s.quiet.max)
            }
        )?;
        if let Some(e) = &r.m.first_error {
            writeln!(out, "- {}: first error: {e}", r.mode.name())?;
        }
    }
    let ok: u64 =
        run.rows.iter().map(|r| r.m.ok).sum::<u64>() + run.warmup.as_ref().map_or(0, |w| w.ok) + 1;
    writeln!(
        out,
        "- database afterwards: {} `sms` rows for {ok} `200` answers ({}), {} `sms.received` \
         events, {} people",
        run.sms_rows,
        if i64::try_from(ok)? == run.sms_rows {
            "one each"
        } else {
            "MISMATCH"
        },
        run.events,
        run.people,
    )?;
    if let Some(r) = run
        .rows
        .iter()
        .find(|r| matches!(r.mode, Mode::Saturation(_)))
    {
        writeln!(
            out,
            "- target ≥ {TARGET_RPS:.0} req/s at saturation: {:.0} req/s, {}",
            r.m.rps(),
            met(r.m.rps() >= TARGET_RPS && r.m.errors == 0)
        )?;
        writeln!(
            out,
            "- target p99 < {TARGET_P99_MS:.0} ms at saturation: p99 {:.2} ms, {}",
            r.m.p(0.99),
            met(r.m.p(0.99) < TARGET_P99_MS)
        )?;
    }
    if let Some(r) = run.rows.iter().find(|r| matches!(r.mode, Mode::Fixed(_))) {
        writeln!(
            out,
            "- target p99 < {TARGET_P99_MS:.0} ms at {:.0} req/s (open loop): p99 {:.2} ms at {:.0} req/s achieved, {}",
            s.rate,
            r.m.p(0.99),
            r.m.rps(),
            met(r.m.p(0.99) < TARGET_P99_MS && r.m.errors == 0)
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
    let url = with_database(&s.url, db);
    let store = server_rt.block_on(async {
        let store = SqlStore::connect(&url).await?;
        store.migrate().await?;
        if let Some(sql) = &s.setup_sql {
            let pool = store.pg_pool().context("not a Postgres store")?;
            // The operator's own SQL, run as given.
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.as_str()))
                .execute(pool)
                .await
                .context("BENCH_SETUP_SQL")?;
            eprintln!("ran BENCH_SETUP_SQL: {sql}");
        }
        anyhow::Ok(store)
    })?;
    let pool = store.pg_pool().context("not a Postgres store")?.clone();
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    // The fake API only answers outbound requests, which inbound traffic never makes; the
    // server just needs a valid base URL.
    let env: HashMap<&str, String> = HashMap::from([
        ("WORKOS_ENCRYPTION_KEY", SecretKey::generate().to_base64()),
        ("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64()),
        ("WORKOS_RATE_LIMIT_PER_MINUTE", "100000000".to_owned()),
        ("WORKOS_BIND", addr.to_string()),
        ("WORKOS_PUBLIC_URL", format!("http://{addr}")),
        ("TWILIO_ACCOUNT_SID", TEST_ACCOUNT_SID.to_owned()),
        ("TWILIO_AUTH_TOKEN", TEST_AUTH_TOKEN.to_owned()),
        ("TWILIO_API_BASE_URL", "http://127.0.0.1:9".to_owned()),
        ("DATABASE_URL", url),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned())?;
    let state = AppState::new(store.clone(), config);
    let (org, _) = server_rt
        .block_on(bootstrap::create_org_with_key(
            &store,
            &state.hasher,
            "Twilio bench",
        ))
        .map_err(|e| anyhow!("creating the org: {e}"))?;
    // The org's number, mapped as the operator's `admin assign-phone` does once Twilio has
    // confirmed it (this bench's fake Twilio is not reachable; inbound traffic never asks it).
    {
        use workos_core::repo::PhoneRepo as _;
        let number = workos_core::domain::NewPhone {
            number: workos_core::domain::E164::parse(ORG_NUMBER)
                .map_err(|_| anyhow!("ORG_NUMBER is not E.164"))?,
            provider: "twilio".to_owned(),
            label: None,
            capabilities: workos_core::domain::PhoneCapabilities {
                sms: true,
                mms: true,
                voice: true,
            },
        };
        server_rt
            .block_on(store.create_phone(
                &workos_core::tenant::TenantContext::system(org.id, "bench"),
                number,
            ))
            .map_err(|e| anyhow!("mapping the org's number: {e}"))?;
    }
    if let Some(dir) = outside::prepare_dir() {
        let server_env: Vec<(&str, String)> = env
            .iter()
            .filter(|(k, _)| !matches!(**k, "WORKOS_BIND" | "WORKOS_PUBLIC_URL"))
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let prepared = server_rt.block_on(prepare(s, db, &dir, server_env, &pool));
        server_rt.block_on(store.close());
        return prepared;
    }
    let outcome =
        serving::serve_during(server_rt, client_rt, listener, state, drive(s, addr, pool));
    report(s, &outcome?)
}

/// `BENCH_PREPARE`: seeds the history and writes what `scripts/bench/wrk sms` needs (see
/// `support/outside.rs`): webhooks from the senders of block 0 for the warm-up and of block 1
/// for the run, each a new message signed over `BENCH_PUBLIC_URL`.
async fn prepare(
    s: &Settings,
    db: &str,
    dir: &std::path::Path,
    mut env: Vec<(&str, String)>,
    pool: &sqlx::PgPool,
) -> Result<String> {
    let public = outside::public_url()?;
    let (run, warmup) = outside::request_counts(60_000, 20_000)?;
    seed_history(pool, s.history).await?;
    env.push(("WORKOS_PUBLIC_URL", public.clone()));
    outside::write_server(dir, db, &env)?;
    let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
    let url = format!("{public}/api/v1/webhooks/twilio/sms");
    let mut rng = Rng(7);
    let mut n = 0u64;
    let mut webhook = |block: u32| {
        n += 1;
        let from = sender(block, rng.below(s.senders as usize) as u32);
        let params =
            twilio.inbound_sms_params(&from, ORG_NUMBER, &format!("Bench message {n}: hello!"));
        let signature = twilio.webhook_signature(&url, &params);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        (signature, body)
    };
    let w = outside::write_requests(dir, "warmup.req", (0..warmup).map(|_| webhook(0)))?;
    let r = outside::write_requests(dir, "run.req", (0..run).map(|_| webhook(1)))?;
    Ok(format!(
        "prepared {db} in {}: {w} warm-up and {r} run webhooks signed over {url}",
        dir.display()
    ))
}

fn main() -> Result<()> {
    let s = Settings::from_env()?;
    bench::run_server_bench(
        (s.server_threads, s.client_threads),
        &s.url,
        "workos_twiliobench",
        DbRole::Creating,
        s.keep_db,
        |db, server_rt, client_rt| run(&s, db, server_rt, client_rt),
    )
}
