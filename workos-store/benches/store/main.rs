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
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::{StreamExt as _, TryStreamExt as _};
use hdrhistogram::Histogram;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, PgPool};
use uuid::Uuid;
use workos_core::domain::{EmailAddress, NewPerson, PersonFilter};
use workos_core::ids::{ApiKeyId, OrgId, PersonId, UserId};
use workos_core::page::PageRequest;
use workos_core::repo::PersonRepo;
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;
use workos_tests::bench::{self, DbRole, Rng, env_num, loadavg, machine};
use workos_tests::db::with_database;

/// The list page size the bench asks for (the engine fetches one more row).
const PAGE: u32 = 50;
/// People per bulk `INSERT`.
const CHUNK: usize = 50_000;
/// Bulk inserts in flight at once while seeding.
const SEED_PARALLEL: usize = 2;
/// The pool size of `SqlStore::connect` (the bench uses that pool for every variant).
const POOL_SIZE: u32 = 16;

const COLUMNS: &str = "id, org_id, first_name, last_name, email, additional_emails, phone, \
     additional_phones, title, company_id, created_at, updated_at";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Actor {
    ApiKey,
    User,
    System,
}

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

// ---------------------------------------------------------------------------------------------
// Datasets

/// One seeded dataset: `orgs.len()` orgs with `per_org` people each. Person `k` (in id order)
/// belongs to org `k % orgs.len()`, so an org's people are spread over the whole table, as
/// they are when many tenants write at once.
struct Dataset {
    name: String,
    store: SqlStore,
    pool: PgPool,
    orgs: Vec<Uuid>,
    /// One member per org, for `BENCH_ACTOR=user`.
    users: Vec<Uuid>,
    people: Vec<Uuid>,
    per_org: usize,
}

impl Dataset {
    /// Person `i` of org `j`.
    fn person(&self, j: usize, i: usize) -> Uuid {
        self.people[j + self.orgs.len() * i]
    }
}

async fn seed(
    store: &SqlStore,
    name: String,
    tag: &str,
    n_orgs: usize,
    per_org: usize,
) -> Result<Dataset> {
    let pool = store.pg_pool().context("not a Postgres store")?.clone();
    let started = Instant::now();
    let orgs: Vec<Uuid> = (0..n_orgs).map(|_| Uuid::now_v7()).collect();
    let users: Vec<Uuid> = (0..n_orgs).map(|_| Uuid::now_v7()).collect();
    let members: Vec<Uuid> = (0..n_orgs).map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO orgs (id, name, created_at, updated_at)
         SELECT id, $2 || ' org ' || n, now(), now() FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)",
    )
    .bind(&orgs)
    .bind(tag)
    .execute(&pool)
    .await
    .context("seeding orgs")?;
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

    let total = n_orgs * per_org;
    let people: Vec<Uuid> = (0..total).map(|_| Uuid::now_v7()).collect();
    let done = AtomicU64::new(0);
    futures_util::stream::iter((0..total).step_by(CHUNK))
        .map(|start| {
            let end = (start + CHUNK).min(total);
            let ids = &people[start..end];
            let org_ids: Vec<Uuid> = (start..end).map(|k| orgs[k % n_orgs]).collect();
            let seqs: Vec<i64> = (start..end).map(|k| k as i64).collect();
            let (pool, done) = (&pool, &done);
            async move {
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
                .bind(ids)
                .bind(&org_ids)
                .bind(&seqs)
                .bind(tag)
                .execute(pool)
                .await
                .context("seeding people")?;
                let n = done.fetch_add((end - start) as u64, Ordering::Relaxed) + (end - start) as u64;
                if total > CHUNK {
                    eprintln!("  {name}: {n}/{total} people", name = tag);
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(SEED_PARALLEL)
        .try_collect::<()>()
        .await?;
    let took = started.elapsed();
    eprintln!(
        "seeded {name}: {n_orgs} orgs, {total} people (+ contacts) in {:.1} s",
        took.as_secs_f64()
    );
    Ok(Dataset {
        name,
        store: store.clone(),
        pool,
        orgs,
        users,
        people,
        per_org,
    })
}

/// Statistics and a checkpoint, so plans are the ones production would get and no checkpoint
/// of the seed's WAL lands in the middle of a measurement.
async fn settle(pool: &PgPool) -> Result<Duration> {
    let started = Instant::now();
    bench::settle(
        pool,
        "orgs, org_members, people, person_contacts, domain_events",
    )
    .await?;
    Ok(started.elapsed())
}

// ---------------------------------------------------------------------------------------------
// Scenarios

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
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Engine,
    Raw,
    RawTx,
    RawTxSet,
    RawTxRls,
}

impl Variant {
    const fn name(self) -> &'static str {
        match self {
            Self::Engine => "engine",
            Self::Raw => "raw",
            Self::RawTx => "raw+tx",
            Self::RawTxSet => "raw+tx+set",
            Self::RawTxRls => "raw+tx+rls",
        }
    }

    /// Index into [`Shared::sql`] for the raw variants.
    const fn raw_index(self) -> usize {
        match self {
            Self::Engine | Self::Raw => 0,
            Self::RawTx => 1,
            Self::RawTxSet => 2,
            Self::RawTxRls => 3,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Scenario {
    op: Op,
    variant: Variant,
    dataset: usize,
}

struct Shared {
    datasets: Vec<Dataset>,
    actor: Actor,
    key_id: ApiKeyId,
    /// Whether the database is a Citus cluster (the engine then takes its portable path).
    citus: bool,
    /// The raw statements per raw variant. Each variant's text carries its own comment so that
    /// sqlx prepares it separately: a statement prepared under RLS (as `workos_app`) is never
    /// reused as the superuser, nor the engine's own, which would force re-planning.
    sql: [RawSql; 4],
    /// Numbers the people the create scenarios make, for unique emails.
    created: AtomicU64,
}

/// The raw statements of one variant.
struct RawSql {
    get: String,
    list: String,
    /// The engine's statements for a create, in order (see [`raw_sql`]).
    create: Vec<String>,
}

/// The engine's statements, marked with `variant`. For `create`, on one Postgres node the
/// engine's single statement (`write_new_person`'s fast path: the person, the contact index,
/// the org's event stream head, the event); on Citus the portable path's statements (the
/// person, one contact row, the head, the event).
fn raw_sql(variant: &str, citus: bool) -> RawSql {
    let tag = format!("/* bench {variant} */");
    const INSERT_PERSON: &str = "INSERT INTO people (first_name, last_name, email, additional_emails, phone, \
         additional_phones, title, company_id, updated_at, org_id, id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
    const EVENT_COLUMNS: &str =
        "id, org_id, type, occurred_at, subject_kind, subject_id, data, request_id";
    let create = if citus {
        vec![
            format!("{tag} {INSERT_PERSON}"),
            format!(
                "{tag} INSERT INTO person_contacts (org_id, kind, value, person_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING"
            ),
            format!(
                "{tag} INSERT INTO event_streams (org_id, head) VALUES ($1, $2) \
                 ON CONFLICT (org_id) DO UPDATE SET head = event_streams.head + excluded.head RETURNING head"
            ),
            format!(
                "{tag} INSERT INTO domain_events (pos, {EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
        ]
    } else {
        vec![format!(
            "{tag} WITH workos_person AS ({INSERT_PERSON}), \
             workos_contacts AS (INSERT INTO person_contacts (org_id, kind, value, person_id) \
               SELECT $13, k, v, $14 FROM unnest($15::text[], $16::text[]) AS c(k, v) \
               ON CONFLICT DO NOTHING RETURNING kind || ':' || value AS taken), \
             workos_head AS (INSERT INTO event_streams AS s (org_id, head) VALUES ($17, $18) \
               ON CONFLICT (org_id) DO UPDATE SET head = s.head + excluded.head RETURNING head), \
             workos_events AS (INSERT INTO domain_events (pos, {EVENT_COLUMNS}) \
               SELECT h.head - $18 + u.n, u.id, $17, u.type, u.occurred_at, u.subject_kind, \
                      u.subject_id, u.data, u.request_id \
               FROM workos_head h, unnest($19::uuid[], $20::text[], $21::timestamptz[], $22::text[], \
                    $23::uuid[], $24::jsonb[], $25::text[]) \
                    WITH ORDINALITY AS u(id, type, occurred_at, subject_kind, subject_id, data, request_id, n)) \
             SELECT ARRAY(SELECT taken FROM workos_contacts)"
        )]
    };
    RawSql {
        get: format!(
            "{tag} SELECT {COLUMNS} FROM people WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
        ),
        list: format!(
            "{tag} SELECT {COLUMNS} FROM people p WHERE deleted_at IS NULL AND org_id = $1 ORDER BY id LIMIT $2"
        ),
        create,
    }
}

/// What the raw variants decode: every column, as the engine reads them.
#[derive(sqlx::FromRow)]
#[allow(dead_code)]
struct RawPerson {
    id: Uuid,
    org_id: Uuid,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    additional_emails: Json<Vec<String>>,
    phone: Option<String>,
    additional_phones: Json<Vec<String>>,
    title: Option<String>,
    company_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A person to create, made before the clock starts (it is request parsing, not storage).
struct NewRow {
    id: Uuid,
    seq: u64,
    email: String,
}

impl NewRow {
    /// The `person.created` event's data: the person as the engine serializes it.
    fn event_data(&self, org: Uuid, now: DateTime<Utc>) -> serde_json::Value {
        serde_json::json!({
            "id": self.id, "org_id": org, "first_name": "New",
            "last_name": format!("Person{}", self.seq), "email": self.email,
            "additional_emails": [], "phone": null, "additional_phones": [],
            "title": "Engineer", "company_id": null, "created_at": now, "updated_at": now,
        })
    }
}

impl Shared {
    fn ctx(&self, ds: &Dataset, j: usize) -> TenantContext {
        let org = OrgId::from_uuid(ds.orgs[j]);
        match self.actor {
            Actor::ApiKey => TenantContext::api_key(org, self.key_id, Role::Member),
            Actor::User => TenantContext::user(org, UserId::from_uuid(ds.users[j]), Role::Member),
            Actor::System => TenantContext::system(org, "bench"),
        }
    }

    /// The engine's opening of a transaction for the same context (see `PgBackend::begin`):
    /// the `BEGIN` round trip, then the statements the engine sends before its own (on Citus
    /// the workers' settings; for a user, the membership check). Without `role`, the same but
    /// no switch to `workos_app`.
    fn begin_sql(&self, ds: &Dataset, j: usize, role: bool) -> (String, Vec<String>) {
        let user = match self.actor {
            Actor::User => ds.users[j].to_string(),
            Actor::ApiKey | Actor::System => String::new(),
        };
        let org = ds.orgs[j];
        let mut begin = String::from("BEGIN;");
        if role {
            begin.push_str(" SET LOCAL ROLE workos_app;");
        }
        begin.push_str(&format!(" SET LOCAL workos.user_id = '{user}';"));
        let mut after = Vec::new();
        if self.citus {
            after.push(format!(
                "SET LOCAL citus.propagate_set_commands = 'local'; \
                 SET LOCAL workos.org_id = '{org}'; SET LOCAL workos.scope = ''"
            ));
        } else {
            begin.push_str(&format!(
                " SET LOCAL workos.org_id = '{org}'; SET LOCAL workos.scope = '';"
            ));
        }
        if self.actor == Actor::User {
            after.push(format!(
                "SELECT workos_assert_member('{org}'::uuid, '{user}'::uuid)"
            ));
        }
        (begin, after)
    }

    fn new_row(&self) -> NewRow {
        let seq = self.created.fetch_add(1, Ordering::Relaxed);
        NewRow {
            id: Uuid::now_v7(),
            seq,
            email: format!("new{seq}@bench.example.com"),
        }
    }
}

/// The raw statements of `op` on `c` (a pooled connection, or a transaction's). Boxed: the
/// compiler cannot prove an unboxed future over `&mut PgConnection` `Send` for every lifetime.
fn raw_statement<'a>(
    c: &'a mut PgConnection,
    sql: &'a RawSql,
    op: Op,
    org: Uuid,
    pid: Uuid,
    new: Option<&'a NewRow>,
) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        match op {
            Op::Get => {
                let row = sqlx::query_as::<_, RawPerson>(AssertSqlSafe(sql.get.as_str()))
                    .bind(org)
                    .bind(pid)
                    .fetch_optional(&mut *c)
                    .await?;
                ensure!(
                    row.as_ref().is_some_and(|r| r.id == pid),
                    "raw get found nothing"
                );
                black_box(row);
            }
            Op::List => {
                let rows = sqlx::query_as::<_, RawPerson>(AssertSqlSafe(sql.list.as_str()))
                    .bind(org)
                    .bind(i64::from(PAGE) + 1)
                    .fetch_all(&mut *c)
                    .await?;
                ensure!(!rows.is_empty(), "raw list found nothing");
                black_box(rows);
            }
            Op::Create => raw_create(c, &sql.create, org, new.context("no row to create")?).await?,
        }
        Ok(())
    })
}

/// `sql` (settings; no parameters) on `c`, with the simple protocol as the engine sends them.
fn simple<'a>(c: &'a mut PgConnection, sql: &'a str) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        sqlx::Executor::execute(c, AssertSqlSafe(sql)).await?;
        Ok(())
    })
}

/// The engine's create statements (see [`raw_sql`]) for `new` in `org`.
async fn raw_create(
    c: &mut PgConnection,
    create: &[String],
    org: Uuid,
    new: &NewRow,
) -> Result<()> {
    let now = Utc::now();
    let person = sqlx::query(AssertSqlSafe(create[0].as_str()))
        .bind(Some("New"))
        .bind(Some(format!("Person{}", new.seq)))
        .bind(Some(new.email.as_str()))
        .bind(Json(serde_json::Value::Array(Vec::new())))
        .bind(None::<String>)
        .bind(Json(serde_json::Value::Array(Vec::new())))
        .bind(Some("Engineer"))
        .bind(None::<Uuid>)
        .bind(now)
        .bind(org)
        .bind(new.id)
        .bind(now);
    let event_id = Uuid::now_v7();
    let data = new.event_data(org, now);
    if let [_, contact, head, event] = create {
        // Citus: the portable path, statement by statement.
        let done = person.execute(&mut *c).await?;
        ensure!(done.rows_affected() == 1, "raw insert wrote nothing");
        sqlx::query(AssertSqlSafe(contact.as_str()))
            .bind(org)
            .bind("email")
            .bind(new.email.as_str())
            .bind(new.id)
            .execute(&mut *c)
            .await?;
        let (pos,): (i64,) = sqlx::query_as(AssertSqlSafe(head.as_str()))
            .bind(org)
            .bind(1_i64)
            .fetch_one(&mut *c)
            .await?;
        sqlx::query(AssertSqlSafe(event.as_str()))
            .bind(pos)
            .bind(event_id)
            .bind(org)
            .bind("person.created")
            .bind(now)
            .bind("person")
            .bind(new.id)
            .bind(data)
            .bind(None::<String>)
            .execute(&mut *c)
            .await?;
    } else {
        let row = person
            .bind(org)
            .bind(new.id)
            .bind(vec!["email"])
            .bind(vec![new.email.clone()])
            .bind(org)
            .bind(1_i64)
            .bind(vec![event_id])
            .bind(vec!["person.created"])
            .bind(vec![now])
            .bind(vec!["person"])
            .bind(vec![new.id])
            .bind(vec![data])
            .bind(vec![None::<String>])
            .fetch_one(&mut *c)
            .await?;
        let taken: Vec<String> = sqlx::Row::try_get(&row, 0)?;
        ensure!(taken.len() == 1, "raw create indexed no contact");
    }
    Ok(())
}

/// Runs one operation; returns its latency (inputs are made before the clock starts).
async fn one_op(sh: &Shared, s: Scenario, rng: &mut Rng) -> Result<Duration> {
    let ds = &sh.datasets[s.dataset];
    let j = rng.below(ds.orgs.len());
    let org = ds.orgs[j];
    let pid = ds.person(j, rng.below(ds.per_org));
    let new = (s.op == Op::Create).then(|| sh.new_row());
    match s.variant {
        Variant::Engine => {
            let ctx = sh.ctx(ds, j);
            let person = match &new {
                Some(n) => Some(NewPerson {
                    first_name: Some("New".into()),
                    last_name: Some(format!("Person{}", n.seq)),
                    email: Some(EmailAddress::parse(&n.email)?),
                    title: Some("Engineer".into()),
                    ..Default::default()
                }),
                None => None,
            };
            let page = PageRequest::first(PAGE)?;
            let started = Instant::now();
            match s.op {
                Op::Get => {
                    let p = ds.store.get_person(&ctx, PersonId::from_uuid(pid)).await?;
                    ensure!(p.id.as_uuid() == pid, "engine get returned another person");
                    black_box(p);
                }
                Op::List => {
                    let p = ds
                        .store
                        .list_people(&ctx, PersonFilter::default(), page)
                        .await?;
                    ensure!(!p.data.is_empty(), "engine list found nothing");
                    black_box(p);
                }
                Op::Create => {
                    let p = ds
                        .store
                        .create_person(&ctx, person.context("no person to create")?)
                        .await?;
                    black_box(p);
                }
            }
            Ok(started.elapsed())
        }
        Variant::Raw | Variant::RawTx | Variant::RawTxSet | Variant::RawTxRls => {
            let sql = &sh.sql[s.variant.raw_index()];
            let begin = match s.variant {
                Variant::RawTxSet => Some(sh.begin_sql(ds, j, false)),
                Variant::RawTxRls => Some(sh.begin_sql(ds, j, true)),
                Variant::Engine | Variant::Raw | Variant::RawTx => None,
            };
            let started = Instant::now();
            if s.variant == Variant::Raw {
                let mut c = ds.pool.acquire().await?;
                raw_statement(&mut c, sql, s.op, org, pid, new.as_ref()).await?;
            } else {
                let mut tx = match begin {
                    Some((begin, after)) => {
                        let mut tx = ds.pool.begin_with(AssertSqlSafe(begin)).await?;
                        for statement in &after {
                            simple(&mut tx, statement).await?;
                        }
                        tx
                    }
                    None => ds.pool.begin().await?,
                };
                raw_statement(&mut tx, sql, s.op, org, pid, new.as_ref()).await?;
                if s.op == Op::Create {
                    tx.commit().await?;
                } else {
                    // Like the engine's reads: dropped, so rolled back as the connection returns.
                    drop(tx);
                }
            }
            Ok(started.elapsed())
        }
    }
}

fn histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| anyhow!("histogram: {e}"))
}

struct Measured {
    wall: Duration,
    ops: u64,
    hist: Histogram<u64>,
}

/// Runs `ops` operations of `s` on `concurrency` tasks; latencies in microseconds.
async fn run(
    sh: &Arc<Shared>,
    s: Scenario,
    ops: u64,
    concurrency: usize,
    seed: u64,
) -> Result<Measured> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let (sh, next) = (Arc::clone(sh), Arc::clone(&next));
            tokio::spawn(async move {
                let mut hist = histogram()?;
                let mut rng = Rng(seed.wrapping_mul(1_000_003).wrapping_add(t as u64));
                while next.fetch_add(1, Ordering::Relaxed) < ops {
                    let took = one_op(&sh, s, &mut rng).await?;
                    hist.saturating_record((took.as_micros() as u64).max(1));
                }
                anyhow::Ok(hist)
            })
        })
        .collect();
    let mut hist = histogram()?;
    for t in tasks {
        hist.add(t.await??).map_err(|e| anyhow!("histogram: {e}"))?;
    }
    Ok(Measured {
        wall: started.elapsed(),
        ops,
        hist,
    })
}

// ---------------------------------------------------------------------------------------------
// Report

struct Result1 {
    s: Scenario,
    ops_per_s: f64,
    p50: u64,
    p95: u64,
    p99: u64,
    max: u64,
}

fn find(results: &[Result1], op: Op, variant: Variant, dataset: usize) -> Option<&Result1> {
    results
        .iter()
        .find(|r| r.s.op == op && r.s.variant == variant && r.s.dataset == dataset)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".into(),
    }
}

fn report(out: &mut String, sh: &Shared, results: &[Result1]) -> std::fmt::Result {
    writeln!(out, "### Results\n")?;
    writeln!(
        out,
        "| op | variant | dataset | ops/s | p50 µs | p95 µs | p99 µs | max µs |"
    )?;
    writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|")?;
    for r in results {
        writeln!(
            out,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} |",
            r.s.op.name(),
            r.s.variant.name(),
            sh.datasets[r.s.dataset].name,
            r.ops_per_s,
            r.p50,
            r.p95,
            r.p99,
            r.max
        )?;
    }
    let (many, one) = (&sh.datasets[0].name, &sh.datasets[1].name);
    let p99 = |op, v, d| find(results, op, v, d).map(|r| r.p99 as f64);
    let p50 = |op, v, d| find(results, op, v, d).map(|r| r.p50 as f64);
    let tput = |op, v, d| find(results, op, v, d).map(|r| r.ops_per_s);

    writeln!(out, "\n### Tenant count: engine p99, {many} / {one}\n")?;
    writeln!(
        out,
        "| op | p99 {many} µs | p99 {one} µs | ratio | p50 ratio | target |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---|")?;
    for op in [Op::Get, Op::List, Op::Create] {
        let r = ratio(p99(op, Variant::Engine, 0), p99(op, Variant::Engine, 1));
        let verdict = match (op, r.parse::<f64>()) {
            (Op::Create, _) => "(none)".to_owned(),
            (_, Ok(x)) if x <= 1.2 => "≤ 1.20: met".to_owned(),
            (_, Ok(_)) => "≤ 1.20: not met".to_owned(),
            _ => "–".to_owned(),
        };
        let show = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.0}"));
        writeln!(
            out,
            "| {} | {} | {} | {r} | {} | {verdict} |",
            op.name(),
            show(p99(op, Variant::Engine, 0)),
            show(p99(op, Variant::Engine, 1)),
            ratio(p50(op, Variant::Engine, 0), p50(op, Variant::Engine, 1)),
        )?;
    }

    writeln!(out, "\n### Scoping + RLS: engine against raw\n")?;
    writeln!(
        out,
        "Overhead = raw ops/s ÷ engine ops/s − 1 (extra time per operation at saturation) and \
         engine p99 ÷ raw p99 − 1; targets: get and list under 25 %, create under 50 %. The step columns split the time per \
         operation (inverse throughput) from raw to engine; their product is raw → engine: \
         `tx` = the transaction's extra round trips (BEGIN, and COMMIT or the deferred ROLLBACK), \
         `set` = the tenant settings in the BEGIN round trip, `rls` = the switch to `workos_app` and \
         the policies, `engine` = the engine's own work (argument boxing, decoding into domain \
         types, building the event).\n"
    )?;
    writeln!(
        out,
        "| op | dataset | throughput overhead | p99 overhead | tx | set | rls | engine |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|")?;
    for op in [Op::Get, Op::List, Op::Create] {
        let target = if op == Op::Create { 0.50 } else { 0.25 };
        for d in 0..sh.datasets.len() {
            let over = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => {
                    let x = a / b - 1.0;
                    format!(
                        "{:+.0} % ({})",
                        x * 100.0,
                        if x <= target { "met" } else { "not met" }
                    )
                }
                _ => "–".into(),
            };
            let step = |from, to| ratio(tput(op, from, d), tput(op, to, d));
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                op.name(),
                sh.datasets[d].name,
                over(tput(op, Variant::Raw, d), tput(op, Variant::Engine, d)),
                over(p99(op, Variant::Engine, d), p99(op, Variant::Raw, d)),
                step(Variant::Raw, Variant::RawTx),
                step(Variant::RawTx, Variant::RawTxSet),
                step(Variant::RawTxSet, Variant::RawTxRls),
                step(Variant::RawTxRls, Variant::Engine),
            )?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

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
