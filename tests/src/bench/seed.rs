//! Bulk seeding of orgs and people for the benches that measure reads and writes of people
//! (`workos-store`'s `store`, the reference server's `http`): rows written straight with bulk
//! SQL as the connecting role (which must bypass RLS, see [`super::DbRole::Seeding`]), far
//! faster than through the engine.

use anyhow::{Context as _, Result};
use sqlx::PgPool;
use tokio::task::JoinSet;
use uuid::Uuid;

/// People per bulk `INSERT`.
const CHUNK: usize = 50_000;
/// Bulk inserts in flight at once.
const PARALLEL: usize = 2;

/// Seeded orgs and their people. Person `k` (in id order) belongs to org `k % orgs.len()`, so
/// an org's people are spread over the whole table, as they are when many tenants write at
/// once.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// The orgs, in the order they were named (`<tag> org 1`, …).
    pub orgs: Vec<Uuid>,
    /// Every person, in id order.
    pub people: Vec<Uuid>,
}

impl Seeded {
    /// Person `i` of org `j`.
    #[must_use]
    pub fn person(&self, j: usize, i: usize) -> Uuid {
        self.people[j + self.orgs.len() * i]
    }

    /// People per org.
    #[must_use]
    pub fn per_org(&self) -> usize {
        self.people.len() / self.orgs.len().max(1)
    }
}

/// Inserts `n` orgs named `<tag> org <n>`; answers their ids.
///
/// # Errors
/// When the insert fails.
pub async fn orgs(pool: &PgPool, tag: &str, n: usize) -> Result<Vec<Uuid>> {
    let orgs: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO orgs (id, name, created_at, updated_at)
         SELECT id, $2 || ' org ' || n, now(), now() FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)",
    )
    .bind(&orgs)
    .bind(tag)
    .execute(pool)
    .await
    .context("seeding orgs")?;
    Ok(orgs)
}

/// Inserts `per_org` people for each of `orgs` (laid out as [`Seeded`] says), each with an email
/// `person<k>@<tag>.example.com` and its contact-index row, in chunks of 50,000 with two in
/// flight; progress goes to stderr when there is more than one chunk.
///
/// # Errors
/// When an insert fails.
pub async fn people(pool: &PgPool, tag: &str, orgs: Vec<Uuid>, per_org: usize) -> Result<Seeded> {
    let n_orgs = orgs.len();
    let total = n_orgs * per_org;
    let people: Vec<Uuid> = (0..total).map(|_| Uuid::now_v7()).collect();
    let mut running = JoinSet::new();
    let mut done = 0;
    for start in (0..total).step_by(CHUNK) {
        while running.len() >= PARALLEL {
            done += running.join_next().await.context("seed task")???;
            progress(tag, done, total);
        }
        let end = (start + CHUNK).min(total);
        let ids = people[start..end].to_vec();
        let org_ids: Vec<Uuid> = (start..end).map(|k| orgs[k % n_orgs]).collect();
        let seqs: Vec<i64> = (start..end).map(|k| k as i64).collect();
        let (pool, tag) = (pool.clone(), tag.to_owned());
        running.spawn(async move {
            // People and their contact-index rows (one email each) in one statement.
            sqlx::query(
                "WITH p AS (
                     INSERT INTO people (id, org_id, first_name, last_name, email, title, created_at, updated_at)
                     SELECT id, org_id, 'First' || n, 'Last' || n, 'person' || n || '@' || $4 || '.example.com',
                            'Engineer', now(), now()
                     FROM unnest($1::uuid[], $2::uuid[], $3::int8[]) AS t(id, org_id, n)
                     RETURNING id, org_id, email)
                 INSERT INTO person_contacts (org_id, kind, value, person_id)
                 SELECT org_id, 'email', email, id FROM p",
            )
            .bind(&ids)
            .bind(&org_ids)
            .bind(&seqs)
            .bind(&tag)
            .execute(&pool)
            .await
            .context("seeding people")?;
            anyhow::Ok(end - start)
        });
    }
    while let Some(r) = running.join_next().await {
        done += r.context("seed task")??;
        progress(tag, done, total);
    }
    Ok(Seeded { orgs, people })
}

fn progress(tag: &str, done: usize, total: usize) {
    if total > CHUNK {
        eprintln!("  {tag}: {done}/{total} people");
    }
}
