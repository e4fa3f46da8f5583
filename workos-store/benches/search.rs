//! Search latency on Postgres: `SearchRepo::search` in an org of 100,000 people (and as many
//! people of nine other orgs in the same table), for the kinds of query a type-ahead box sends.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p workos-store --bench search
//! ```
//!
//! The bench makes a fresh database next to the one `DATABASE_URL` names (dropped at the end),
//! migrates it, seeds it with one bulk `INSERT … SELECT` as the connecting role (which must be a
//! superuser, or have `BYPASSRLS` and `CREATEDB`), runs `VACUUM (ANALYZE)`, then runs each query
//! `BENCH_OPS` times (default 200, after 20 not recorded) one after the other through the
//! engine (tenant transaction, RLS, ranking) and prints a Markdown table of p50, p99 and mean
//! per query. `BENCH_PEOPLE` (default 100000) is the size of the searched org.
//!
//! Names are 16 first names × 16 last names with numbers appended (`John12 Smith345`), so a
//! first name alone matches 1/16 of the org: common words, the hard case for a type-ahead.

use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use hdrhistogram::Histogram;
use workos_core::domain::{NewOrg, SearchQuery};
use workos_core::repo::{Directory as _, SearchRepo as _};
use workos_core::tenant::TenantContext;
use workos_store::SqlStore;
use workos_tests::bench::env_num;
use workos_tests::db::TestDatabase;

const QUERIES: &[&str] = &[
    "j",
    "jo",
    "john",
    "jhon smith",
    "emma rossi77",
    "acme",
    "555 0100",
    "+1 415 000 4242",
];

#[tokio::main]
async fn main() -> Result<()> {
    let people: u64 = env_num("BENCH_PEOPLE", 100_000)?;
    let ops: u64 = env_num("BENCH_OPS", 200)?;
    let Some(db) = TestDatabase::postgres("workos_search_bench").await else {
        bail!("DATABASE_URL is not set: point it at a Postgres role that may create databases");
    };
    let store = SqlStore::connect(db.url()).await?;
    store.migrate().await?;
    let mut orgs = Vec::new();
    for i in 0..10 {
        let name = format!("Bench {i}");
        orgs.push(store.create_org(NewOrg { name }, None).await?.id);
    }
    let org_ids: Vec<uuid::Uuid> = orgs.iter().map(|o| o.as_uuid()).collect();
    let pool = store.pg_pool().context("a Postgres store")?;
    eprintln!("seeding {} people…", people * 2);
    let started = Instant::now();
    // Person i belongs to the searched org for i ≤ people, else to one of the nine others.
    sqlx::query(
        "INSERT INTO people (id, org_id, first_name, last_name, email, phone, created_at, updated_at)
         SELECT gen_random_uuid(), CASE WHEN i <= $2 THEN $1[1] ELSE $1[2 + i % 9] END,
                initcap(f) || CASE WHEN i % 7 = 0 THEN '' ELSE (i % 97)::text END,
                initcap(l) || (i % 1013)::text,
                f || '.' || l || i || '@example' || (i % 50) || '.com',
                '+1415' || lpad((i % 10000000)::text, 7, '0'), now(), now()
         FROM generate_series(1, $2 * 2) i,
         LATERAL (SELECT (ARRAY['john','jane','maria','ahmed','wei','olga','pierre','sofia','liam',
                                'emma','noah','ava','lucas','mia','ethan','zoe'])[1 + i % 16] AS f,
                         (ARRAY['smith','johnson','garcia','muller','rossi','kim','nguyen','silva',
                                'novak','dubois','jones','brown','tanaka','patel','cohen','lee'])
                                [1 + (i / 16) % 16] AS l) names",
    )
    .bind(&org_ids)
    .bind(i64::try_from(people)?)
    .execute(pool)
    .await?;
    sqlx::query("VACUUM (ANALYZE) people").execute(pool).await?;
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());

    let ctx = TenantContext::system(orgs[0], "bench");
    println!("| query | results | p50 ms | p99 ms | mean ms |\n|---|---|---|---|---|");
    for q in QUERIES {
        let mut histogram = Histogram::<u64>::new(3)?;
        let mut results = 0;
        for i in 0..ops + 20 {
            let query = SearchQuery::new(q)?;
            let started = Instant::now();
            results = store.search(&ctx, query).await?.data.len();
            if i >= 20 {
                histogram.record(u64::try_from(started.elapsed().as_micros())?)?;
            }
        }
        let ms = |us: u64| us as f64 / 1000.0;
        println!(
            "| `{q}` | {results} | {:.2} | {:.2} | {:.2} |",
            ms(histogram.value_at_quantile(0.5)),
            ms(histogram.value_at_quantile(0.99)),
            histogram.mean() / 1000.0
        );
    }
    store.close().await;
    drop(db);
    Ok(())
}
