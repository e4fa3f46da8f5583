//! The scenarios: which operation, done how, on which dataset; and the closed loop that runs
//! one of them and times each operation.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, ensure};
use hdrhistogram::Histogram;
use sqlx::AssertSqlSafe;
use uuid::Uuid;
use workos_core::domain::{EmailAddress, NewPerson, PersonFilter};
use workos_core::ids::{ApiKeyId, OrgId, PersonId, UserId};
use workos_core::page::PageRequest;
use workos_core::repo::PersonRepo;
use workos_core::tenant::{Role, TenantContext};
use workos_tests::bench::{self, Rng};

use crate::Actor;
use crate::PAGE;
use crate::dataset::Dataset;
use crate::raw::{NewRow, RawSql, raw_statement, simple};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    Get,
    List,
    Create,
}

impl Op {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Create => "create",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Variant {
    Engine,
    Raw,
    RawTx,
    RawTxSet,
    RawTxRls,
}

impl Variant {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Engine => "engine",
            Self::Raw => "raw",
            Self::RawTx => "raw+tx",
            Self::RawTxSet => "raw+tx+set",
            Self::RawTxRls => "raw+tx+rls",
        }
    }

    /// Index into [`Shared::sql`] for the raw variants.
    pub(crate) const fn raw_index(self) -> usize {
        match self {
            Self::Engine | Self::Raw => 0,
            Self::RawTx => 1,
            Self::RawTxSet => 2,
            Self::RawTxRls => 3,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Scenario {
    pub(crate) op: Op,
    pub(crate) variant: Variant,
    pub(crate) dataset: usize,
}

pub(crate) struct Shared {
    pub(crate) datasets: Vec<Dataset>,
    pub(crate) actor: Actor,
    pub(crate) key_id: ApiKeyId,
    /// Whether the database is a Citus cluster (the engine then takes its portable path).
    pub(crate) citus: bool,
    /// The raw statements per raw variant. Each variant's text carries its own comment so that
    /// sqlx prepares it separately: a statement prepared under RLS (as `workos_app`) is never
    /// reused as the superuser, nor the engine's own, which would force re-planning.
    pub(crate) sql: [RawSql; 4],
    /// Numbers the people the create scenarios make, for unique emails.
    pub(crate) created: AtomicU64,
}

impl Shared {
    pub(crate) fn ctx(&self, ds: &Dataset, j: usize) -> TenantContext {
        let org = OrgId::from_uuid(ds.orgs()[j]);
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
    pub(crate) fn begin_sql(&self, ds: &Dataset, j: usize, role: bool) -> (String, Vec<String>) {
        let user = match self.actor {
            Actor::User => ds.users[j].to_string(),
            Actor::ApiKey | Actor::System => String::new(),
        };
        let org = ds.orgs()[j];
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

    pub(crate) fn new_row(&self) -> NewRow {
        let seq = self.created.fetch_add(1, Ordering::Relaxed);
        NewRow {
            id: Uuid::now_v7(),
            seq,
            email: format!("new{seq}@bench.example.com"),
        }
    }
}

/// Runs one operation; returns its latency (inputs are made before the clock starts).
pub(crate) async fn one_op(sh: &Shared, s: Scenario, rng: &mut Rng) -> Result<Duration> {
    let ds = &sh.datasets[s.dataset];
    let j = rng.below(ds.orgs().len());
    let org = ds.orgs()[j];
    let pid = ds.person(j, rng.below(ds.per_org()));
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

pub(crate) struct Measured {
    pub(crate) wall: Duration,
    pub(crate) ops: u64,
    pub(crate) hist: Histogram<u64>,
}

/// Runs `ops` operations of `s` on `concurrency` tasks; latencies in microseconds.
pub(crate) async fn run(
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
                let mut hist = bench::histogram();
                let mut rng = Rng(seed.wrapping_mul(1_000_003).wrapping_add(t as u64));
                while next.fetch_add(1, Ordering::Relaxed) < ops {
                    let took = one_op(&sh, s, &mut rng).await?;
                    hist.saturating_record(bench::micros(took));
                }
                anyhow::Ok(hist)
            })
        })
        .collect();
    let mut hist = bench::histogram();
    for t in tasks {
        hist.add(t.await??).map_err(|e| anyhow!("histogram: {e}"))?;
    }
    Ok(Measured {
        wall: started.elapsed(),
        ops,
        hist,
    })
}
