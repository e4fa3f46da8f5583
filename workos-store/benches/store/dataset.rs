//! The seeded datasets: many orgs with many people each, and one org with few.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use sqlx::PgPool;
use uuid::Uuid;
use workos_store::SqlStore;
use workos_tests::bench::{self, seed};

/// One seeded dataset: orgs with the same number of people each, laid out as
/// [`seed::Seeded`] says.
pub(crate) struct Dataset {
    pub(crate) name: String,
    pub(crate) store: SqlStore,
    pub(crate) pool: PgPool,
    /// One member per org, for `BENCH_ACTOR=user`.
    pub(crate) users: Vec<Uuid>,
    seeded: seed::Seeded,
}

impl Dataset {
    /// The orgs.
    pub(crate) fn orgs(&self) -> &[Uuid] {
        &self.seeded.orgs
    }

    /// People per org.
    pub(crate) fn per_org(&self) -> usize {
        self.seeded.per_org()
    }

    /// Person `i` of org `j`.
    pub(crate) fn person(&self, j: usize, i: usize) -> Uuid {
        self.seeded.person(j, i)
    }
}

/// Seeds `n_orgs` orgs (named after `tag`), one member each, and `per_org` people per org.
pub(crate) async fn seed(
    store: &SqlStore,
    name: String,
    tag: &str,
    n_orgs: usize,
    per_org: usize,
) -> Result<Dataset> {
    let pool = store.pg_pool().context("not a Postgres store")?.clone();
    let started = Instant::now();
    let orgs = seed::orgs(&pool, tag, n_orgs).await?;
    let users: Vec<Uuid> = (0..n_orgs).map(|_| Uuid::now_v7()).collect();
    let members: Vec<Uuid> = (0..n_orgs).map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO org_members (id, org_id, user_id, role, created_at, updated_at)
         SELECT m, o, u, 'member', now(), now() FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS t(m, o, u)",
    )
    .bind(&members)
    .bind(&orgs)
    .bind(&users)
    .execute(&pool)
    .await
    .context("seeding members")?;
    let seeded = seed::people(&pool, tag, orgs, per_org).await?;
    let took = started.elapsed();
    eprintln!(
        "seeded {name}: {n_orgs} orgs, {} people (+ contacts) in {:.1} s",
        seeded.people.len(),
        took.as_secs_f64()
    );
    Ok(Dataset {
        name,
        store: store.clone(),
        pool,
        users,
        seeded,
    })
}

/// Statistics and a checkpoint, so plans are the ones production would get and no checkpoint
/// of the seed's WAL lands in the middle of a measurement.
pub(crate) async fn settle(pool: &PgPool) -> Result<Duration> {
    let started = Instant::now();
    bench::settle(
        pool,
        "orgs, org_members, people, person_contacts, domain_events",
    )
    .await?;
    Ok(started.elapsed())
}
