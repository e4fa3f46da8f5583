//! Throughput and latency of the Postgres store: tenant-scoped engine calls (`get_person`,
//! the first page of `list_people`, `create_person`) on a 10,000-org and a 1-org dataset, and
//! the same statements issued as raw sqlx, to show what the tenant transaction and Row Level
//! Security cost.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p workos-store --bench store
//! ```
//!
//! The bench creates a fresh database `workos_bench_<pid>_<unix time>` next to the one
//! `DATABASE_URL` names, migrates it, seeds it with bulk SQL as the connecting role (which must
//! be a superuser, or have `BYPASSRLS` and `CREATEDB`), measures, prints a Markdown report on
//! stdout (progress goes to stderr) and drops the database again. With `BENCH_USE_DB=1` it uses
//! the database `DATABASE_URL` names as it is (empty, and kept): that is how it runs on Citus,
//! whose databases need the extension and the workers registered first:
//!
//! ```text
//! ../shared/citus/cluster newdb workos_bench
//! BENCH_USE_DB=1 BENCH_ORGS=1000 DATABASE_URL='postgres://postgres@127.0.0.1:5440/workos_bench?sslmode=require' \
//!     cargo bench -p workos-store --bench store
//! ```
//!
//! Variants of every operation:
//! - `engine`: the `SqlStore` repository call (tenant transaction as `workos_app`, RLS, typed
//!   decoding, and for `create` the contact index, the event and the post-commit wake-up of
//!   other processes, which runs in the background but uses the same CPU);
//! - `raw`: the engine's data statements on a pooled connection, no transaction (for `create`
//!   the engine's whole write: on one Postgres node its one statement that inserts the person,
//!   their contact-index rows and the `person.created` event; on Citus the same as
//!   the separate statements the engine's portable path sends);
//! - `raw+tx`: the same statements inside `BEGIN` … `COMMIT` (reads: dropped, so rolled back
//!   like the engine's) as the connecting role, so no RLS;
//! - `raw+tx+set`: the same, with the engine's settings (`SET LOCAL workos.org_id` …) sent as
//!   the engine sends them (in the `BEGIN` round trip; on Citus also the workers' settings in a
//!   statement of their own; for `BENCH_ACTOR=user` the membership check) but without the switch
//!   to `workos_app`, so still no RLS;
//! - `raw+tx+rls`: the same with the engine's `SET LOCAL ROLE workos_app`, so RLS applies.
//!
//! Targets (issue 14): the engine within 25 % of `raw` for get and list and within 50 % for
//! create, in throughput and in p99; the 10,000-org p99 within 1.2× of the 1-org p99.
//!
//! Settings, all from the environment (`cargo bench` passes `--bench`; arguments are ignored):
//! - `DATABASE_URL` (required);
//! - `BENCH_ORGS` (10000) and `BENCH_PEOPLE` (100 per org) for the large dataset;
//! - `BENCH_OPS` (20000 measured operations per scenario), `BENCH_WARMUP` (2000, not
//!   recorded), `BENCH_CONCURRENCY` (8 tasks);
//! - `BENCH_ROUNDS` (10): each scenario's operations are split over this many rounds of the
//!   whole scenario list (the dataset order alternating), so that a burst of load from
//!   elsewhere on the machine is spread over all scenarios instead of skewing one; the report
//!   merges the rounds (ops/s = all operations ÷ all their wall time);
//! - `BENCH_ACTOR`: `api_key` (default), `user` (adds the RLS membership check) or `system`;
//! - `BENCH_ONE_ORG_DB`: `same` (default: the 1-org dataset lives in the same tables as the
//!   large one) or `separate` (its own database, so its tables hold only its rows);
//! - `BENCH_ONLY`: comma-separated substrings; only scenarios whose name
//!   (`op/variant/dataset`, e.g. `get/engine/10000x100`) contains one of them run;
//! - `KEEP_DB=1`: keep the bench database(s);
//! - `BENCH_USE_DB=1`: bench in `DATABASE_URL`'s own database (see above).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use sqlx::Connection as _;
use workos_core::ids::ApiKeyId;
use workos_store::SqlStore;
use workos_tests::bench::{self, DbRole, env_num, loadavg, machine};
use workos_tests::db::with_database;

use dataset::{seed, settle};
use raw::raw_sql;
use report::{Result1, report};
use scenario::{Measured, Op, Scenario, Shared, Variant, run};

mod dataset;
mod raw;
mod report;
mod scenario;

/// The list page size the bench asks for (the engine fetches one more row).
const PAGE: u32 = 50;
/// The pool size of `SqlStore::connect` (the bench uses that pool for every variant).
const POOL_SIZE: u32 = 16;

/// Who the engine acts as (`BENCH_ACTOR`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Actor {
    ApiKey,
    User,
    System,
}

/// The bench's settings (see the crate docs).
struct Config {
    url: String,
    orgs: usize,
    people: usize,
    ops: u64,
    warmup: u64,
    concurrency: usize,
    rounds: u64,
    actor: Actor,
    separate_one_org_db: bool,
    only: Vec<String>,
    keep_db: bool,
    use_db: bool,
}

impl Config {
    fn from_env() -> Result<Self> {
        let url = bench::database_url("workos-store", "store", true)?;
        let actor = match std::env::var("BENCH_ACTOR").as_deref() {
            Err(_) | Ok("" | "api_key") => Actor::ApiKey,
            Ok("user") => Actor::User,
            Ok("system") => Actor::System,
            Ok(other) => bail!("BENCH_ACTOR must be api_key, user or system, got {other:?}"),
        };
        let separate_one_org_db = match std::env::var("BENCH_ONE_ORG_DB").as_deref() {
            Err(_) | Ok("" | "same") => false,
            Ok("separate") => true,
            Ok(other) => bail!("BENCH_ONE_ORG_DB must be same or separate, got {other:?}"),
        };
        let cfg = Self {
            url,
            orgs: env_num("BENCH_ORGS", 10_000)?,
            people: env_num("BENCH_PEOPLE", 100)?,
            ops: env_num("BENCH_OPS", 20_000)?,
            warmup: env_num("BENCH_WARMUP", 2_000)?,
            concurrency: env_num("BENCH_CONCURRENCY", 8)?,
            rounds: env_num("BENCH_ROUNDS", 10)?,
            actor,
            separate_one_org_db,
            only: bench::env_list("BENCH_ONLY"),
            keep_db: bench::keep_db(),
            use_db: std::env::var("BENCH_USE_DB").is_ok_and(|v| v == "1"),
        };
        ensure!(
            cfg.orgs > 0 && cfg.people > 0 && cfg.concurrency > 0 && cfg.rounds > 0,
            "BENCH_ORGS, BENCH_PEOPLE, BENCH_CONCURRENCY and BENCH_ROUNDS must be positive"
        );
        ensure!(
            cfg.ops >= cfg.rounds,
            "BENCH_OPS must be at least BENCH_ROUNDS"
        );
        ensure!(
            !(cfg.use_db && cfg.separate_one_org_db),
            "BENCH_USE_DB=1 benches in one database: BENCH_ONE_ORG_DB must be same"
        );
        Ok(cfg)
    }
}

/// Migrates and seeds `dbs` (the 1-org dataset in the second when there is one), runs every
/// selected scenario `BENCH_ROUNDS` times and answers the report.
async fn bench(cfg: &Config, dbs: &[String]) -> Result<String> {
    let many_store = SqlStore::connect(&with_database(&cfg.url, &dbs[0])).await?;
    many_store.migrate().await?;
    let one_store = if let Some(db) = dbs.get(1) {
        let s = SqlStore::connect(&with_database(&cfg.url, db)).await?;
        s.migrate().await?;
        s
    } else {
        many_store.clone()
    };
    let version: (String,) = sqlx::query_as("SELECT version()")
        .fetch_one(many_store.pg_pool().context("not Postgres")?)
        .await?;
    let (citus,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")
            .fetch_one(many_store.pg_pool().context("not Postgres")?)
            .await?;

    let many_name = format!("{}x{}", cfg.orgs, cfg.people);
    let started = Instant::now();
    let many = seed(&many_store, many_name, "many", cfg.orgs, cfg.people).await?;
    let seed_many = started.elapsed();
    let one = seed(&one_store, "1x100".into(), "one", 1, 100).await?;
    let mut settle_took = settle(&many.pool).await?;
    if dbs.len() > 1 {
        settle_took += settle(&one.pool).await?;
    }
    eprintln!(
        "vacuum analyze + checkpoint: {:.1} s",
        settle_took.as_secs_f64()
    );

    let sh = Arc::new(Shared {
        datasets: vec![many, one],
        actor: cfg.actor,
        key_id: ApiKeyId::new(),
        citus,
        sql: [
            raw_sql("raw", citus),
            raw_sql("raw+tx", citus),
            raw_sql("raw+tx+set", citus),
            raw_sql("raw+tx+rls", citus),
        ],
        created: AtomicU64::new(0),
    });

    let mut out = String::new();
    writeln!(out, "### Setup\n")?;
    writeln!(out, "- machine: {}", machine())?;
    writeln!(
        out,
        "- server: {}{}",
        version.0,
        if citus {
            " (Citus: the engine takes its portable path)"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "- datasets: {} orgs × {} people (+ one email each in the contact index), seeded in {:.1} s; \
         1 org × 100 people {}; VACUUM ANALYZE + CHECKPOINT {:.1} s",
        cfg.orgs,
        cfg.people,
        seed_many.as_secs_f64(),
        if dbs.len() > 1 {
            "in its own database"
        } else {
            "in the same tables"
        },
        settle_took.as_secs_f64()
    )?;
    let per_round = cfg.ops.div_ceil(cfg.rounds);
    writeln!(
        out,
        "- per scenario: {} ops measured ({} rounds of {per_round}) after {} warm-up ops, {} concurrent tasks, \
         pool of {POOL_SIZE} connections (`SqlStore::connect`), actor `{:?}`",
        per_round * cfg.rounds,
        cfg.rounds,
        cfg.warmup,
        cfg.concurrency,
        cfg.actor
    )?;
    writeln!(out, "- load average before: {}", loadavg().1)?;

    let mut scenarios = Vec::new();
    for op in [Op::Get, Op::List, Op::Create] {
        for variant in [
            Variant::Engine,
            Variant::Raw,
            Variant::RawTx,
            Variant::RawTxSet,
            Variant::RawTxRls,
        ] {
            for dataset in 0..sh.datasets.len() {
                let s = Scenario {
                    op,
                    variant,
                    dataset,
                };
                let name = format!(
                    "{}/{}/{}",
                    op.name(),
                    variant.name(),
                    sh.datasets[dataset].name
                );
                if cfg.only.is_empty() || cfg.only.iter().any(|o| name.contains(o.as_str())) {
                    scenarios.push((s, name));
                }
            }
        }
    }
    let mut merged: Vec<Option<Measured>> = scenarios.iter().map(|_| None).collect();
    for round in 0..cfg.rounds {
        // Reads first, creates last (so reads see the seeded data), the datasets alternating.
        let mut order: Vec<usize> = (0..scenarios.len()).collect();
        order.sort_by_key(|&i| {
            let s = scenarios[i].0;
            let d = if round % 2 == 0 {
                s.dataset
            } else {
                usize::MAX - s.dataset
            };
            (s.op as usize, s.variant as usize, d)
        });
        for i in order {
            let (s, name) = &scenarios[i];
            let seed = round * 1_000 + i as u64;
            if round == 0 && cfg.warmup > 0 {
                run(&sh, *s, cfg.warmup, cfg.concurrency, seed ^ 0xFFFF)
                    .await
                    .with_context(|| format!("warm-up of {name}"))?;
            }
            let m = run(&sh, *s, per_round, cfg.concurrency, seed)
                .await
                .with_context(|| format!("scenario {name}"))?;
            eprintln!(
                "round {}/{} {name:<34} {:>8.0} ops/s  p50 {:>6} µs  p99 {:>6} µs",
                round + 1,
                cfg.rounds,
                m.ops as f64 / m.wall.as_secs_f64(),
                m.hist.value_at_quantile(0.50),
                m.hist.value_at_quantile(0.99),
            );
            match &mut merged[i] {
                Some(acc) => {
                    acc.wall += m.wall;
                    acc.ops += m.ops;
                    acc.hist
                        .add(&m.hist)
                        .map_err(|e| anyhow!("histogram: {e}"))?;
                }
                slot @ None => *slot = Some(m),
            }
        }
    }
    let results: Vec<Result1> = scenarios
        .iter()
        .zip(merged)
        .filter_map(|((s, _), m)| {
            m.map(|m| Result1 {
                s: *s,
                ops_per_s: m.ops as f64 / m.wall.as_secs_f64(),
                p50: m.hist.value_at_quantile(0.50),
                p95: m.hist.value_at_quantile(0.95),
                p99: m.hist.value_at_quantile(0.99),
                max: m.hist.max(),
            })
        })
        .collect();
    writeln!(out, "- load average after: {}\n", loadavg().1)?;
    report(&mut out, &sh, &results)?;
    many_store.close().await;
    one_store.close().await;
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<()> {
    let cfg = match Config::from_env() {
        Ok(cfg) => cfg,
        Err(e) => {
            // A setup mistake, not a failure worth a backtrace.
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let base = format!("workos_bench_{}_{stamp}", std::process::id());
    if cfg.use_db {
        bench::check_seeding_role(&cfg.url).await?.close().await?;
        let db = cfg
            .url
            .split('?')
            .next()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        eprintln!("bench database: {db} (BENCH_USE_DB=1: kept)");
        let report = bench(&cfg, &[db]).await?;
        println!("{report}");
        return Ok(());
    }
    let mut dbs = vec![base.clone()];
    if cfg.separate_one_org_db {
        dbs.push(format!("{base}_one"));
    }
    for db in &dbs {
        bench::create_database(&cfg.url, db, DbRole::Seeding).await?;
    }
    eprintln!("bench database(s): {}", dbs.join(", "));
    let outcome = bench(&cfg, &dbs).await;
    if cfg.keep_db {
        eprintln!("KEEP_DB=1: kept {}", dbs.join(", "));
    } else {
        for db in &dbs {
            if let Err(e) = bench::drop_database(&cfg.url, db).await {
                eprintln!("could not drop {db}: {e:#}; drop it by hand");
            }
        }
    }
    let report = outcome?;
    println!("{report}");
    Ok(())
}
