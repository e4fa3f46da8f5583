//! The Postgres fast paths of the webhook queue: one statement (arrays, data-modifying `WITH`)
//! where the portable code in the parent module runs one per row. Taken only on a single
//! Postgres node (`Tx::fast_pg`); SQLite and Citus run the portable
//! code. Each write here has a portable twin, and the parity tests below check that both leave
//! the same rows.

use std::collections::BTreeMap;

use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{DeliveryStatus, Timestamp, WebhookDelivery};
use workos_core::events::{DomainEvent, Subject};
use workos_core::ids::{EventId, OrgId, WebhookDeliveryId, WebhookId};
use workos_core::repo::{AttemptOutcome, Dispatched, DueDelivery, SealedSecrets};
use workos_core::{Error, Result};

use super::{DELIVERY_COLUMNS, DUE_COLUMNS, DueRow, FailingUpdate, delivery_id, due_pick};
use crate::SqlStore;
use crate::db::{Tx, args, db_error, now};
use crate::events::stored_actor;

/// A delivery made by `DISPATCH_COMMITTED`, with what sending it needs.
#[derive(sqlx::FromRow)]
struct CommittedRow {
    id: Uuid,
    claimed: bool,
    event_id: Uuid,
    org_id: Uuid,
    event_type: String,
    occurred_at: Timestamp,
    subject_kind: String,
    subject_id: Uuid,
    data: Json<serde_json::Value>,
    request_id: Option<String>,
    actor_kind: Option<String>,
    actor_id: Option<String>,
    webhook_id: Uuid,
    url: String,
    headers: Json<BTreeMap<String, String>>,
    sealed_headers: Option<Vec<u8>>,
    secrets: Vec<u8>,
    rate_limit_per_second: Option<i32>,
    failing_since: Option<Timestamp>,
}

impl CommittedRow {
    /// The delivery, made (and claimed) at `t`, ready to send.
    fn into_due(self, t: Timestamp) -> DueDelivery {
        let event = DomainEvent {
            id: EventId::from_uuid(self.event_id),
            org_id: OrgId::from_uuid(self.org_id),
            event_type: self.event_type,
            occurred_at: self.occurred_at,
            subject: Subject {
                kind: self.subject_kind,
                id: self.subject_id,
            },
            data: self.data.0,
            request_id: self.request_id,
            actor: stored_actor(self.actor_kind, self.actor_id),
        };
        DueDelivery {
            delivery: WebhookDelivery {
                id: WebhookDeliveryId::from_uuid(self.id),
                org_id: event.org_id,
                webhook_id: WebhookId::from_uuid(self.webhook_id),
                event_id: event.id,
                event_type: event.event_type.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: Some(t),
                last_status_code: None,
                created_at: t,
                updated_at: t,
            },
            url: self.url,
            headers: super::plaintext_headers(self.headers.0, self.sealed_headers.as_ref()),
            sealed_headers: self.sealed_headers.map(SealedSecrets),
            secrets: SealedSecrets(self.secrets),
            rate_limit_per_second: self
                .rate_limit_per_second
                .and_then(|r| u32::try_from(r).ok()),
            failing_since: self.failing_since,
            event,
        }
    }
}

/// [`event_type_matches`] in SQL, of endpoint `w` and event `e`: no filter, `*`, the type
/// itself, or its family (`company.*`).
const TYPE_MATCHES_PG: &str = "(jsonb_array_length(w.event_types) = 0 OR EXISTS (
     SELECT 1 FROM jsonb_array_elements_text(w.event_types) AS f(t)
     WHERE f.t = '*' OR f.t = e.type OR (right(f.t, 2) = '.*' AND starts_with(e.type, left(f.t, -1)))))";

/// [`WebhookDeliveryId::for_event`] in SQL, of event `e` and endpoint `w`: the event id's
/// first 6 bytes, then 10 bytes of the SHA-256, with the v7 version and variant bits.
const DELIVERY_ID_PG: &str =
    "encode(set_byte(set_byte(b.bytes, 6, (get_byte(b.bytes, 6) & 15) | 112),
     8, (get_byte(b.bytes, 8) & 63) | 128), 'hex')::uuid";

/// Fans out the events `$1` of the orgs `$5` (pairwise: each event is found by its key, an
/// index lookup however long the log; by its id alone it would be a scan) in one statement: the deliveries to their orgs' matching enabled
/// endpoints that existed when they happened (as `dispatch_events` makes them), made at `$2`,
/// the first `$4` claimed until `$3`; existing ones (made by `dispatch_events` first) are left
/// alone. Returns the new ones with what sending needs.
static DISPATCH_COMMITTED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH m AS (
             SELECT {DELIVERY_ID_PG} AS id, e.org_id, w.id AS webhook_id, e.id AS event_id,
                    row_number() OVER (ORDER BY e.org_id, e.pos, w.id) AS n
             FROM unnest($5::uuid[], $1::uuid[]) AS k(org_id, id)
             JOIN domain_events e ON e.org_id = k.org_id AND e.id = k.id
             JOIN webhooks w ON w.org_id = e.org_id AND w.enabled AND w.created_at <= e.occurred_at
             CROSS JOIN LATERAL (SELECT substring(uuid_send(e.id) FROM 1 FOR 6)
                 || substring(sha256('workos webhook delivery v1'::bytea || uuid_send(e.id) || uuid_send(w.id))
                              FROM 1 FOR 10) AS bytes) b
             WHERE {TYPE_MATCHES_PG}
         ), ins AS (
             INSERT INTO webhook_deliveries (id, org_id, webhook_id, event_id, status, attempts, next_attempt_at,
                                             locked_until, created_at, updated_at)
             SELECT id, org_id, webhook_id, event_id, 'pending', 0, $2, CASE WHEN n <= $4 THEN $3::timestamptz END,
                    $2, $2
             FROM m ORDER BY n
             ON CONFLICT DO NOTHING RETURNING id, org_id, webhook_id, event_id, locked_until
         )
         SELECT ins.id, ins.locked_until IS NOT NULL AS claimed, e.id AS event_id, e.org_id, e.type AS event_type,
                e.occurred_at, e.subject_kind, e.subject_id, e.data, e.request_id, e.actor_kind, e.actor_id, w.id AS webhook_id, w.url,
                w.headers, w.sealed_headers, w.secrets, w.rate_limit_per_second, w.failing_since
         FROM ins JOIN domain_events e ON e.org_id = ins.org_id AND e.id = ins.event_id
         JOIN webhooks w ON w.org_id = ins.org_id AND w.id = ins.webhook_id
         ORDER BY e.org_id, e.pos, w.id"
    )
});

impl SqlStore {
    /// [`DeliveryQueue::dispatch_committed`] on Postgres: one statement ([`DISPATCH_COMMITTED`])
    /// in a transaction that commits without waiting for the WAL flush. Lost in a crash, the
    /// deliveries are made again by `dispatch_events`, under the same ids; a later synchronous
    /// commit (an attempt's record) flushes them along.
    pub(super) async fn dispatch_committed_pg(
        &self,
        events: &[(OrgId, EventId)],
        claim: u32,
        lease: std::time::Duration,
    ) -> Result<Dispatched> {
        if events.is_empty() {
            return Ok(Dispatched::default());
        }
        let t = now();
        let until = t + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
        let (orgs, ids): (Vec<Uuid>, Vec<Uuid>) = events
            .iter()
            .map(|(org, event)| (org.as_uuid(), event.as_uuid()))
            .unzip();
        let mut tx = self.system_async_commit_tx().await?;
        let Some(pg) = tx.pg() else {
            return Err(Error::internal(
                "dispatch_committed",
                "not a Postgres transaction",
            ));
        };
        let rows: Vec<CommittedRow> = sqlx::query_as(DISPATCH_COMMITTED.as_str())
            .bind(&ids)
            .bind(t)
            .bind(until)
            .bind(i64::from(claim))
            .bind(&orgs)
            .fetch_all(&mut *pg)
            .await
            .map_err(db_error)?;
        if rows.iter().any(|r| !r.claimed) {
            // Every worker process wakes for the unclaimed ones.
            tx.wake_workers();
        }
        tx.commit().await?;
        let created = rows.len();
        let claimed = rows
            .into_iter()
            .filter(|r| r.claimed)
            .map(|r| r.into_due(t))
            .collect();
        Ok(Dispatched { created, claimed })
    }
}

/// The claim and the read of what it claimed, across orgs, in one statement (one Postgres
/// node only: on Citus this would lock rows on every shard). The pick is a materialized `WITH`
/// item, evaluated once (so its `LIMIT` bounds the claim; see `claims::among_claimed`), and
/// the update finds the picked rows by their key `(org_id, id)`: by `id` alone, which no index
/// leads with, it scanned the whole table, every delivery ever made, on every claim.
static CLAIM_ANY_ORG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH picked AS MATERIALIZED ({} FOR UPDATE OF d SKIP LOCKED),
         d AS (UPDATE webhook_deliveries u SET locked_until = $1 FROM picked p
               WHERE u.org_id = p.org_id AND u.id = p.id
               RETURNING u.id, u.org_id, u.webhook_id, u.event_id, u.status, u.attempts, u.next_attempt_at,
               u.last_status_code, u.created_at, u.updated_at)
         SELECT {DELIVERY_COLUMNS}, {DUE_COLUMNS} FROM d
         JOIN domain_events e ON e.org_id = d.org_id AND e.id = d.event_id
         JOIN webhooks w ON w.org_id = d.org_id AND w.id = d.webhook_id",
        due_pick("d.org_id, d.id", "")
    )
});

/// The text of the cross-org claim, for the plan test (`webhooks::claims_find_rows_by_key`).
#[cfg(test)]
pub(super) fn claim_any_org_sql() -> &'static str {
    &CLAIM_ANY_ORG
}

/// Claims up to `limit` deliveries due at `t` across orgs until `until`, and reads them, in one
/// statement of fixed text (prepared once). The portable twin claims org by org.
pub(super) async fn claim_any_org(
    tx: &mut Tx,
    until: Timestamp,
    t: Timestamp,
    limit: u32,
) -> Result<Vec<DueRow>> {
    tx.fetch_all(&CLAIM_ANY_ORG, args![until, t, i64::from(limit)])
        .await
}

/// Inserts pending deliveries (org, endpoint, event) made at `t` in one statement, skipping
/// pairs that exist; returns how many were created. Arrays keep the statement's text fixed
/// whatever the batch size. The portable twin is `insert_deliveries_each`.
pub(super) async fn insert_deliveries(
    pg: &mut PgConnection,
    rows: &[(Uuid, Uuid, Uuid)],
    t: Timestamp,
) -> Result<u64> {
    let ids: Vec<Uuid> = rows.iter().map(delivery_id).collect();
    let orgs: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let webhooks: Vec<Uuid> = rows.iter().map(|r| r.1).collect();
    let events: Vec<Uuid> = rows.iter().map(|r| r.2).collect();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, org_id, webhook_id, event_id, status, attempts, next_attempt_at,
         created_at, updated_at)
         SELECT u.id, u.org_id, u.webhook_id, u.event_id, 'pending', 0, $5, $5, $5
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[]) AS u(id, org_id, webhook_id, event_id)
         ON CONFLICT DO NOTHING",
    )
    .bind(&ids)
    .bind(&orgs)
    .bind(&webhooks)
    .bind(&events)
    .bind(t)
    .execute(pg)
    .await
    .map(|r| r.rows_affected())
    .map_err(db_error)
}

/// Sets the lease of the deliveries (org, id) still to be sent to `until` in one statement.
/// The portable twin is `release_each`.
pub(super) async fn release(
    pg: &mut PgConnection,
    deliveries: &[(OrgId, WebhookDeliveryId)],
    until: Option<Timestamp>,
) -> Result<()> {
    let (orgs, ids): (Vec<Uuid>, Vec<Uuid>) = deliveries
        .iter()
        .map(|(org, id)| (org.as_uuid(), id.as_uuid()))
        .unzip();
    sqlx::query(
        "UPDATE webhook_deliveries d SET locked_until = $1
         FROM unnest($2::uuid[], $3::uuid[]) AS r(org_id, id)
         WHERE d.org_id = r.org_id AND d.id = r.id AND d.status IN ('pending', 'retrying')",
    )
    .bind(until)
    .bind(&orgs)
    .bind(&ids)
    .execute(pg)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Records a batch in one Postgres statement: the attempts, the deliveries, the endpoints'
/// `failing_since` (changed only where it changes).
pub(super) async fn record(
    pg: &mut PgConnection,
    outcomes: &[AttemptOutcome],
    failing: &[FailingUpdate],
    t: Timestamp,
) -> Result<()> {
    let col = |f: &dyn Fn(&AttemptOutcome) -> Option<i32>| -> Vec<Option<i32>> {
        outcomes.iter().map(f).collect()
    };
    sqlx::query(
        "WITH a AS (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::int4[], $6::text[],
                                  $7::int4[], $8::text[], $9::timestamptz[], $10::text[])
                 AS a(id, org_id, delivery_id, attempted_at, status_code, error_kind, latency_ms, response_body,
                      next_attempt_at, status)
         ), attempts AS (
             INSERT INTO webhook_attempts (id, org_id, delivery_id, attempted_at, status_code, error_kind, latency_ms,
                                           response_body, next_attempt_at)
             SELECT id, org_id, delivery_id, attempted_at, status_code, error_kind, latency_ms, response_body,
                    next_attempt_at FROM a
         ), deliveries AS (
             UPDATE webhook_deliveries d SET status = a.status, attempts = d.attempts + 1,
                    next_attempt_at = a.next_attempt_at, last_status_code = a.status_code, locked_until = NULL,
                    updated_at = $11
             FROM a WHERE d.org_id = a.org_id AND d.id = a.delivery_id
         )
         UPDATE webhooks w SET failing_since = CASE WHEN f.reset THEN f.since ELSE COALESCE(w.failing_since, f.since) END
         FROM unnest($12::uuid[], $13::uuid[], $14::bool[], $15::timestamptz[]) AS f(org_id, id, reset, since)
         WHERE w.org_id = f.org_id AND w.id = f.id
           AND w.failing_since IS DISTINCT FROM
               (CASE WHEN f.reset THEN f.since ELSE COALESCE(w.failing_since, f.since) END)",
    )
    .bind(outcomes.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.org_id.as_uuid()).collect::<Vec<_>>())
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.delivery_id.as_uuid())
            .collect::<Vec<_>>(),
    )
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.attempted_at)
            .collect::<Vec<_>>(),
    )
    .bind(col(&|o| o.attempt.status_code.map(i32::from)))
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.error_kind.clone())
            .collect::<Vec<_>>(),
    )
    .bind(col(&|o| {
        Some(i32::try_from(o.attempt.latency_ms).unwrap_or(i32::MAX))
    }))
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.response_body.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.next_attempt_at)
            .collect::<Vec<_>>(),
    )
    .bind(
        outcomes
            .iter()
            .map(|o| o.status.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(t)
    .bind(failing.iter().map(|f| f.org_id).collect::<Vec<_>>())
    .bind(failing.iter().map(|f| f.webhook_id).collect::<Vec<_>>())
    .bind(failing.iter().map(|f| f.reset).collect::<Vec<_>>())
    .bind(failing.iter().map(|f| f.since).collect::<Vec<_>>())
    .execute(pg)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Parity: each fast path leaves the same rows as its portable twin. Two endpoints of one org
/// receive the same events; one endpoint's deliveries go through the fast path, the other's
/// through the portable code, on one Postgres database, and their rows are compared.
#[cfg(test)]
mod tests {
    use workos_core::domain::{DeliveryAttempt, HttpUrl, NewOrg, NewWebhook};
    use workos_core::ids::UserId;
    use workos_core::repo::{Directory as _, WebhookRepo as _};
    use workos_core::tenant::{Role, TenantContext};
    use workos_tests::db::TestDatabase;

    use super::super::{failing_updates, insert_deliveries_each, record_each, release_each};
    use super::*;

    /// A delivery's row as the queue leaves it, without its id and endpoint.
    type DeliveryState = (
        Uuid,
        String,
        i32,
        Option<Timestamp>,
        Option<i32>,
        Option<Timestamp>,
        Timestamp,
    );

    async fn deliveries_of(tx: &mut Tx, webhook: Uuid) -> Vec<DeliveryState> {
        tx.fetch_all(
            "SELECT event_id, status, attempts, next_attempt_at, last_status_code, locked_until, updated_at
             FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY event_id",
            args![webhook],
        )
        .await
        .expect("read deliveries")
    }

    /// The endpoint's attempts (time, code, error, latency, body, next), in order.
    async fn attempts_of(
        tx: &mut Tx,
        webhook: Uuid,
    ) -> Vec<(
        Timestamp,
        Option<i32>,
        Option<String>,
        i32,
        Option<String>,
        Option<Timestamp>,
    )> {
        tx.fetch_all(
            "SELECT a.attempted_at, a.status_code, a.error_kind, a.latency_ms, a.response_body, a.next_attempt_at
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.org_id = a.org_id AND d.id = a.delivery_id
             WHERE d.webhook_id = $1 ORDER BY d.event_id, a.attempted_at",
            args![webhook],
        )
        .await
        .expect("read attempts")
    }

    async fn failing_since(tx: &mut Tx, webhook: Uuid) -> Option<Timestamp> {
        let (since,): (Option<Timestamp>,) = tx
            .fetch_one(
                "SELECT failing_since FROM webhooks WHERE id = $1",
                args![webhook],
            )
            .await
            .expect("read the endpoint");
        since
    }

    fn outcome(
        org: OrgId,
        webhook: Uuid,
        delivery: Uuid,
        status: DeliveryStatus,
        at: Timestamp,
    ) -> AttemptOutcome {
        let ok = status == DeliveryStatus::Succeeded;
        AttemptOutcome {
            org_id: org,
            webhook_id: WebhookId::from_uuid(webhook),
            attempt: DeliveryAttempt {
                delivery_id: WebhookDeliveryId::from_uuid(delivery),
                attempted_at: at,
                status_code: Some(if ok { 200 } else { 503 }),
                error_kind: (!ok).then(|| "http_status".to_owned()),
                latency_ms: 12,
                response_body: Some("body".into()),
                next_attempt_at: (!ok).then(|| at + chrono::Duration::seconds(30)),
            },
            status,
            disable_endpoint: None,
        }
    }

    /// A migrated store on a new Postgres database `db_name` (`None` where the tests have no
    /// Postgres), with an org of that name, its owner's context and `n` endpoints that receive
    /// every event.
    async fn store_with_endpoints(
        db_name: &str,
        n: usize,
    ) -> Option<(TestDatabase, SqlStore, TenantContext, Vec<Uuid>)> {
        let db = TestDatabase::postgres(db_name).await?;
        let store = SqlStore::connect(db.url()).await.expect("connect");
        store.migrate().await.expect("migrate");
        let owner = UserId::new();
        let org = store
            .create_org(
                NewOrg {
                    name: db_name.into(),
                },
                Some(owner),
            )
            .await
            .expect("create org");
        let ctx = TenantContext::user(org.id, owner, Role::Owner);
        let mut endpoints = Vec::with_capacity(n);
        for _ in 0..n {
            let webhook = store
                .create_webhook(
                    &ctx,
                    NewWebhook {
                        url: HttpUrl::parse("https://receiver.example/hook").expect("url"),
                        description: None,
                        event_types: Vec::new(),
                        enabled: true,
                        headers: BTreeMap::new(),
                        rate_limit_per_second: None,
                    },
                    SealedSecrets(vec![1, 2, 3]),
                    SealedSecrets(vec![4, 5, 6]),
                )
                .await
                .expect("create endpoint");
            endpoints.push(webhook.id.as_uuid());
        }
        Some((db, store, ctx, endpoints))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fast_paths_leave_the_rows_the_portable_code_leaves() {
        let Some((_db, store, ctx, endpoints)) = store_with_endpoints("workos_parity", 2).await
        else {
            return;
        };
        let org = ctx.org_id();
        let (fast, portable) = (endpoints[0], endpoints[1]);
        let mut tx = store.system_tx(true).await.expect("system tx");
        let events: Vec<(Uuid,)> = tx
            .fetch_all(
                "SELECT id FROM domain_events WHERE org_id = $1 ORDER BY id",
                args![org],
            )
            .await
            .expect("events");
        // The org's own events and one per endpoint created.
        assert!(events.len() >= 2, "{events:?}");
        let n = u64::try_from(events.len()).expect("a few");
        let rows = |webhook: Uuid| -> Vec<(Uuid, Uuid, Uuid)> {
            events
                .iter()
                .map(|(e,)| (org.as_uuid(), webhook, *e))
                .collect()
        };
        let t = now();

        // Inserting: the same deliveries, and a re-run makes none.
        let pg = tx.pg().expect("Postgres");
        assert_eq!(
            insert_deliveries(pg, &rows(fast), t).await.expect("fast"),
            n
        );
        assert_eq!(
            insert_deliveries_each(&mut tx, &rows(portable), t)
                .await
                .expect("portable"),
            n
        );
        let pg = tx.pg().expect("Postgres");
        assert_eq!(
            insert_deliveries(pg, &rows(fast), t).await.expect("again"),
            0
        );
        assert_eq!(
            insert_deliveries_each(&mut tx, &rows(portable), t)
                .await
                .expect("again"),
            0
        );
        let made = deliveries_of(&mut tx, fast).await;
        assert_eq!(made.len(), events.len());
        assert_eq!(made, deliveries_of(&mut tx, portable).await);

        // Releasing: the lease set alike.
        let until = Some(t + chrono::Duration::seconds(5));
        let ids = |webhook: Uuid| -> Vec<(OrgId, WebhookDeliveryId)> {
            rows(webhook)
                .iter()
                .map(|r| (org, WebhookDeliveryId::from_uuid(delivery_id(r))))
                .collect()
        };
        let pg = tx.pg().expect("Postgres");
        release(pg, &ids(fast), until).await.expect("fast");
        release_each(&mut tx, &ids(portable), until)
            .await
            .expect("portable");
        let released = deliveries_of(&mut tx, fast).await;
        assert!(released.iter().all(|d| d.5 == until), "{released:?}");
        assert_eq!(released, deliveries_of(&mut tx, portable).await);

        // Recording: a success on one delivery, then a failure on the other, so the endpoint's
        // failing_since is reset, then set. (One outcome per delivery, as a worker records: a
        // delivery is claimed by one worker at a time.)
        let at = |s: i64| t + chrono::Duration::seconds(s);
        let outcomes = |webhook: Uuid| -> Vec<AttemptOutcome> {
            let ids: Vec<Uuid> = rows(webhook).iter().map(delivery_id).collect();
            vec![
                outcome(org, webhook, ids[0], DeliveryStatus::Succeeded, at(1)),
                outcome(org, webhook, ids[1], DeliveryStatus::Retrying, at(3)),
            ]
        };
        let (a, b) = (outcomes(fast), outcomes(portable));
        let pg = tx.pg().expect("Postgres");
        record(pg, &a, &failing_updates(&a), t).await.expect("fast");
        record_each(&mut tx, &b, &failing_updates(&b), t)
            .await
            .expect("portable");
        let recorded = deliveries_of(&mut tx, fast).await;
        assert_eq!(recorded.iter().map(|d| d.2).sum::<i32>(), 2, "{recorded:?}");
        assert_eq!(recorded, deliveries_of(&mut tx, portable).await);
        let tried = attempts_of(&mut tx, fast).await;
        assert_eq!(tried.len(), 2);
        assert_eq!(tried, attempts_of(&mut tx, portable).await);
        assert_eq!(failing_since(&mut tx, fast).await, Some(at(3)));
        assert_eq!(
            failing_since(&mut tx, fast).await,
            failing_since(&mut tx, portable).await
        );
        drop(tx);
        store.close().await;
    }

    /// A scan in an `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` plan, and what it read.
    #[derive(Debug)]
    struct Scan {
        node: String,
        relation: String,
        /// The index condition, if any.
        cond: String,
        /// Rows read over all loops: those it returned and those a filter or recheck removed.
        rows: f64,
        /// Shared buffers hit or read.
        blocks: f64,
    }

    /// Every scan in the plan `plan`.
    fn scans(plan: &serde_json::Value, out: &mut Vec<Scan>) {
        let text = |key: &str| plan[key].as_str().unwrap_or_default().to_owned();
        let number = |key: &str| plan[key].as_f64().unwrap_or_default();
        if plan.get("Relation Name").is_some() {
            out.push(Scan {
                node: text("Node Type"),
                relation: text("Relation Name"),
                cond: text("Index Cond"),
                rows: (number("Actual Rows")
                    + number("Rows Removed by Filter")
                    + number("Rows Removed by Index Recheck"))
                    * number("Actual Loops"),
                blocks: number("Shared Hit Blocks") + number("Shared Read Blocks"),
            });
        }
        for child in plan["Plans"].as_array().into_iter().flatten() {
            scans(child, out);
        }
    }

    /// The rows and buffers the scans of `relation` read.
    fn read(plan: &[Scan], relation: &str) -> (f64, f64) {
        plan.iter()
            .filter(|s| s.relation == relation)
            .fold((0.0, 0.0), |(rows, blocks), s| {
                (rows + s.rows, blocks + s.blocks)
            })
    }

    async fn plan_of(tx: &mut Tx, statement: &str, execute: &str) -> Vec<Scan> {
        tx.execute(&format!("PREPARE workos_planned AS {statement}"), vec![])
            .await
            .expect("prepare");
        let (plan,): (serde_json::Value,) = tx
            .fetch_one(
                &format!(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE workos_planned({execute})"
                ),
                vec![],
            )
            .await
            .expect("explain");
        tx.execute("DEALLOCATE workos_planned", vec![])
            .await
            .expect("deallocate");
        let mut out = Vec::new();
        scans(&plan[0]["Plan"], &mut out);
        out
    }

    /// The queue's statements that span orgs find deliveries, events and endpoints by their
    /// key `(org_id, id)` (endpoints by their org): by `id` alone, which no index leads with,
    /// each call scanned every delivery (the cross-org claim) or every event (the fan-out of
    /// committed events) ever kept, so they slowed down as the tables grew; endpoints not
    /// found by their org would be every org's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cross_org_statements_find_rows_by_their_key() {
        let Some((_db, store, ctx, endpoints)) = store_with_endpoints("workos_plans", 1).await
        else {
            return;
        };
        let (org, webhook) = (ctx.org_id(), endpoints[0]);
        // Other orgs, each with events and endpoints of its own (made after the events): a
        // statement that found events by id alone, or endpoints not by their org, reads theirs.
        let mut others = Vec::new();
        for i in 0..20 {
            let other = store
                .create_org(
                    NewOrg {
                        name: format!("Other {i}"),
                    },
                    Some(UserId::new()),
                )
                .await
                .expect("create org");
            others.push(other.id.as_uuid());
        }
        // A history: 20,000 events, each delivered, and three deliveries due; 2,000 events and
        // 100 endpoints in each other org.
        let mut tx = store.system_tx(true).await.expect("system tx");
        let pg = tx.pg().expect("Postgres");
        for (orgs, n) in [(vec![org.as_uuid()], 20_000), (others.clone(), 2_000)] {
            sqlx::query(
                "INSERT INTO domain_events (org_id, pos, id, type, occurred_at, subject_kind, subject_id, data)
                 SELECT o.id, 1000000 + g, gen_random_uuid(), 'test.seeded', now() - interval '1 day', 'test',
                        gen_random_uuid(), '{}'::jsonb
                 FROM unnest($1::uuid[]) AS o(id), generate_series(1, $2) AS g",
            )
            .bind(&orgs)
            .bind(n)
            .execute(&mut *pg)
            .await
            .expect("seed events");
        }
        sqlx::query(
            "INSERT INTO webhooks (id, org_id, url, secrets, created_at, updated_at)
             SELECT gen_random_uuid(), o.id, 'https://receiver.example/hook', '\\x01'::bytea,
                    now() + interval '1 hour', now() + interval '1 hour'
             FROM unnest($1::uuid[]) AS o(id), generate_series(1, 100)",
        )
        .bind(&others)
        .execute(&mut *pg)
        .await
        .expect("seed other orgs' endpoints");
        tx.execute(
            "INSERT INTO webhook_deliveries (id, org_id, webhook_id, event_id, status, attempts,
                 next_attempt_at, created_at, updated_at)
             SELECT gen_random_uuid(), org_id, $2, id,
                    CASE WHEN pos <= 1000003 THEN 'pending' ELSE 'succeeded' END, 1,
                    CASE WHEN pos <= 1000003 THEN now() - interval '1 minute' END, now(), now()
             FROM domain_events WHERE org_id = $1 AND type = 'test.seeded'",
            args![org, webhook],
        )
        .await
        .expect("seed deliveries");
        tx.commit().await.expect("commit the history");
        let pool = store.pg_pool().expect("Postgres");
        sqlx::raw_sql("ANALYZE domain_events; ANALYZE webhooks; ANALYZE webhook_deliveries")
            .execute(pool)
            .await
            .expect("analyze");

        let mut tx = store.system_tx(true).await.expect("system tx");
        let claim = plan_of(
            &mut tx,
            claim_any_org_sql(),
            "now() + interval '1 minute', now(), 100",
        )
        .await;
        let events: Vec<(Uuid,)> = tx
            .fetch_all(
                "SELECT id FROM domain_events WHERE org_id = $1 LIMIT 3",
                args![org],
            )
            .await
            .expect("events");
        // Events are partitioned by week: the week holding the history must be read by its key;
        // the planner may well scan the other, (nearly) empty weeks whole.
        let (history,): (String,) = tx
            .fetch_one(
                "SELECT tableoid::regclass::text FROM domain_events
                 WHERE org_id = $1 AND type = 'test.seeded' LIMIT 1",
                args![org],
            )
            .await
            .expect("the history's partition");
        let list = |ids: &mut dyn Iterator<Item = Uuid>| {
            ids.map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let fan_out = plan_of(
            &mut tx,
            &DISPATCH_COMMITTED,
            &format!(
                "ARRAY[{}]::uuid[], now(), now() + interval '1 minute', 10, ARRAY[{}]::uuid[]",
                list(&mut events.iter().map(|(id,)| *id)),
                list(&mut events.iter().map(|_| org.as_uuid())),
            ),
        )
        .await;
        drop(tx);
        for Scan {
            node,
            relation,
            cond,
            ..
        } in claim.iter().chain(&fan_out)
        {
            if !relation.starts_with("webhook_deliveries") && *relation != history {
                continue;
            }
            // A whole table, or a whole index (a condition on `id`, its second column).
            let whole = node == "Seq Scan" || (cond.contains("id = ") && !cond.contains("org_id"));
            assert!(
                !whole,
                "{relation} read whole: claim {claim:?}, fan-out {fan_out:?}"
            );
        }
        for plan in [&claim, &fan_out] {
            assert!(
                plan.iter()
                    .any(|s| s.relation.starts_with("domain_events") && s.cond.contains("org_id")),
                "events read by their key: {plan:?}"
            );
        }
        assert!(
            claim.iter().any(|s| s.relation == "webhook_deliveries"
                && s.cond.contains("org_id")
                && s.cond.contains("id")),
            "claimed deliveries updated by their key: {claim:?}"
        );
        // The fan-out reads a few rows and pages of the history's week and of the endpoints
        // per event (the event and its org's one endpoint, by key): found by id alone, or not
        // by their org, tens of thousands of events or thousands of the other orgs' endpoints.
        let n = f64::from(u32::try_from(events.len()).expect("3"));
        for relation in [history.as_str(), "webhooks"] {
            let (rows, blocks) = read(&fan_out, relation);
            assert!(
                rows <= 10.0 * n && blocks <= 20.0 * n,
                "fan-out read {rows} rows, {blocks} buffers of {relation}: {fan_out:?}"
            );
        }
        store.close().await;
    }
}
