//! The store alone (`db/…`): a backlog dispatched, then claimed and recorded in a loop with no
//! HTTP, and the set-based prototype of `record_attempts` it can be compared with.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, ensure};
use hdrhistogram::Histogram;
use uuid::Uuid;
use workos_core::domain::{DeliveryAttempt, DeliveryStatus, now};
use workos_core::repo::{AttemptOutcome, DeliveryQueue as _};
use workos_tests::bench::{self, histogram, loadavg, ms};
use workos_webhooks::worker::Dispatcher;

use crate::cpu::{Cpu, cpu_note};
use crate::live::create_backlog;
use crate::load::Api;
use crate::scenario::{Ctx, Row, Scenario};
use crate::server::Server;

/// The store alone: dispatch a backlog, then claim + record (succeeded) until it is empty.
pub(crate) async fn store_only(
    cx: &mut Ctx<'_>,
    sc: &Scenario,
    server: &Server,
    api: &Arc<Api>,
    n: usize,
    batched: bool,
) -> Result<Row> {
    let s = cx.s;
    let (made, _, waited, quiet) = create_backlog(cx, sc, server, api, n).await?;
    let load_start = loadavg().1;
    eprintln!("{}: measuring, load average {load_start}", sc.name);

    let cpu_start = Cpu::now(&server.db, &[]);
    let started = Instant::now();
    let store = Arc::new(server.store.clone());
    let config = server.webhook_config(s);
    let batch = s.claim_batch;
    let lease = config.lease();
    let measured = cx
        .server_rt
        .spawn(async move {
            let t = Instant::now();
            let stats = Dispatcher::new(store.clone(), &config).run_once().await?;
            let dispatch = t.elapsed();
            let mut claim = histogram();
            let mut record = histogram();
            let (mut claim_total, mut record_total, mut done) =
                (Duration::ZERO, Duration::ZERO, 0u64);
            loop {
                let t = Instant::now();
                let due = store.claim_deliveries(batch, lease).await?;
                let took = t.elapsed();
                if due.is_empty() {
                    break;
                }
                claim_total += took;
                claim.saturating_record(bench::micros(took));
                let outcomes: Vec<AttemptOutcome> = due
                    .iter()
                    .map(|d| AttemptOutcome {
                        org_id: d.delivery.org_id,
                        webhook_id: d.delivery.webhook_id,
                        attempt: DeliveryAttempt {
                            delivery_id: d.delivery.id,
                            attempted_at: now(),
                            status_code: Some(204),
                            error_kind: None,
                            latency_ms: 1,
                            response_body: None,
                            next_attempt_at: None,
                        },
                        status: DeliveryStatus::Succeeded,
                        disable_endpoint: None,
                    })
                    .collect();
                done += outcomes.len() as u64;
                let t = Instant::now();
                if batched {
                    let pool = store.pg_pool().context("not a Postgres store")?;
                    record_batched(pool, &outcomes).await?;
                } else {
                    store.record_attempts(outcomes).await?;
                }
                let took = t.elapsed();
                record_total += took;
                record.saturating_record(bench::micros(took));
            }
            anyhow::Ok((
                stats,
                dispatch,
                claim,
                record,
                claim_total,
                record_total,
                done,
            ))
        })
        .await?;
    let (stats, dispatch, claim, record, claim_total, record_total, done) =
        measured.map_err(|e| anyhow!("store loop: {e}"))?;
    let cpu = cpu_note(
        &cpu_start,
        &Cpu::now(&server.db, &[]),
        started.elapsed(),
        done,
        "dispatch + claim/record loop",
    );
    let load_end = loadavg().1;
    let total = claim_total + record_total;
    let rate = done as f64 / total.as_secs_f64().max(1e-9);
    // One step of the loop: its latency per batch, per delivery, and its share of the loop.
    let part = |step: &str, h: &Histogram<u64>, spent: Duration| {
        format!(
            "{step} of {batch}: p50 {} ms, p99 {} ms, {:.1} µs per delivery; {:.0} % of the loop",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            spent.as_secs_f64() * 1e6 / done.max(1) as f64,
            100.0 * spent.as_secs_f64() / total.as_secs_f64().max(1e-9)
        )
    };
    Ok(Row {
        what: format!(
            "{made} events dispatched by `Dispatcher::run_once`, then `claim_deliveries({batch})` + \
             {} (all succeeded) until empty, no HTTP",
            if batched {
                "a set-based prototype of `record_attempts` (3 statements a batch)"
            } else {
                "`record_attempts`"
            }
        ),
        events: made,
        deliveries: done,
        rate,
        delivery_rate: rate,
        complete: done == made,
        waited,
        quiet,
        load_start,
        load_end,
        notes: vec![
            format!(
                "dispatch: {} events → {} deliveries in {:.2} s ({:.0} events/s)",
                stats.events,
                stats.deliveries,
                dispatch.as_secs_f64(),
                stats.events as f64 / dispatch.as_secs_f64().max(1e-9)
            ),
            part("claim", &claim, claim_total),
            part("record", &record, record_total),
            cpu,
        ],
        ..Row::default()
    })
}

/// A prototype of `DeliveryQueue::record_attempts` (workos-store/src/repos/webhooks/postgres.rs) in
/// three set-based statements a batch instead of three statements an outcome: one
/// `INSERT … SELECT FROM unnest(…)` of the attempts, one `UPDATE … FROM unnest(…)` of the
/// deliveries, one `UPDATE` of the endpoints' `failing_since`. In the same transaction setup as
/// the store (`workos_app` role, system scope), so RLS costs the same. It covers what
/// `db/claim+record-batched` records (successes, no endpoint disabled); the real one would set
/// `failing_since` per endpoint from its last outcome in the batch and keep the rare disabling
/// path per outcome.
pub(crate) async fn record_batched(pool: &sqlx::PgPool, outcomes: &[AttemptOutcome]) -> Result<()> {
    ensure!(
        outcomes
            .iter()
            .all(|o| o.status == DeliveryStatus::Succeeded && o.disable_endpoint.is_none()),
        "the prototype records successes only"
    );
    let mut tx = pool.begin().await?;
    sqlx::query(
        "SELECT set_config('role', 'workos_app', true), set_config('workos.org_id', '', true), \
         set_config('workos.user_id', '', true), set_config('workos.scope', 'system', true)",
    )
    .execute(&mut *tx)
    .await?;
    let t = now();
    let orgs: Vec<Uuid> = outcomes.iter().map(|o| o.org_id.as_uuid()).collect();
    let deliveries: Vec<Uuid> = outcomes
        .iter()
        .map(|o| o.attempt.delivery_id.as_uuid())
        .collect();
    let codes: Vec<Option<i32>> = outcomes
        .iter()
        .map(|o| o.attempt.status_code.map(i32::from))
        .collect();
    let next: Vec<Option<chrono::DateTime<chrono::Utc>>> =
        outcomes.iter().map(|o| o.attempt.next_attempt_at).collect();
    sqlx::query(
        "INSERT INTO webhook_attempts (id, org_id, delivery_id, attempted_at, status_code, error_kind, \
         latency_ms, response_body, next_attempt_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], \
         $3::uuid[], $4::timestamptz[], $5::int4[], $6::text[], $7::int4[], $8::text[], $9::timestamptz[])",
    )
    .bind(outcomes.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .bind(&orgs)
    .bind(&deliveries)
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.attempted_at)
            .collect::<Vec<_>>(),
    )
    .bind(&codes)
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.error_kind.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        outcomes
            .iter()
            .map(|o| i32::try_from(o.attempt.latency_ms).unwrap_or(i32::MAX))
            .collect::<Vec<_>>(),
    )
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.response_body.clone())
            .collect::<Vec<_>>(),
    )
    .bind(&next)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE webhook_deliveries d SET status = u.status, attempts = d.attempts + 1, \
         next_attempt_at = u.next_attempt_at, last_status_code = u.code, locked_until = NULL, \
         updated_at = $6 FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], \
         $5::int4[]) AS u(org_id, id, status, next_attempt_at, code) \
         WHERE d.org_id = u.org_id AND d.id = u.id",
    )
    .bind(&orgs)
    .bind(&deliveries)
    .bind(
        outcomes
            .iter()
            .map(|o| o.status.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
    .bind(&next)
    .bind(&codes)
    .bind(t)
    .execute(&mut *tx)
    .await?;
    let mut endpoints: Vec<(Uuid, Uuid)> = outcomes
        .iter()
        .map(|o| (o.org_id.as_uuid(), o.webhook_id.as_uuid()))
        .collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    let (endpoint_orgs, endpoint_ids): (Vec<Uuid>, Vec<Uuid>) = endpoints.into_iter().unzip();
    sqlx::query(
        "UPDATE webhooks w SET failing_since = NULL FROM unnest($1::uuid[], $2::uuid[]) AS u(org_id, id) \
         WHERE w.org_id = u.org_id AND w.id = u.id AND w.failing_since IS NOT NULL",
    )
    .bind(&endpoint_orgs)
    .bind(&endpoint_ids)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
