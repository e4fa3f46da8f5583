//! Webhook endpoints (tenant-scoped) and the delivery queue (system scope, for workers).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{
    DeliveryAttempt, DeliveryFilter, DeliveryStatus, HttpUrl, NewWebhook, Timestamp, Webhook,
    WebhookDelivery, WebhookPatch, event_type_matches, redacted_headers,
};
use workos_core::events::{DomainEvent, EventSubscription, Subject, types};
use workos_core::ids::{EventId, OrgId, WebhookDeliveryId, WebhookId};
use workos_core::page::{Page, PageRequest};
use workos_core::repo::{
    AttemptOutcome, DeliveryQueue, Dispatched, DueDelivery, PlaintextHeaders, SealedSecrets,
    WebhookRepo,
};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::{and_range, corrupt, emit, emit_and_commit, unchanged};
use crate::db::{Sql, Tx, args, now};
use crate::events::{Subscription, stored_actor};
use crate::repos::fetch_page;
use crate::{Backend, SqlStore};

mod endpoints;
#[cfg(feature = "postgres")]
mod postgres;

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: Uuid,
    org_id: Uuid,
    url: String,
    description: Option<String>,
    event_types: Json<Vec<String>>,
    enabled: bool,
    headers: Json<BTreeMap<String, String>>,
    rate_limit_per_second: Option<i32>,
    failing_since: Option<Timestamp>,
    disabled_reason: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = Error;

    fn try_from(r: WebhookRow) -> Result<Self> {
        Ok(Self {
            id: WebhookId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            url: HttpUrl::parse(&r.url).map_err(|e| corrupt("webhook url", e))?,
            description: r.description,
            event_types: r.event_types.0,
            enabled: r.enabled,
            // Only the names: values written before sealing are still plaintext here.
            headers: redacted_headers(&r.headers.0),
            rate_limit_per_second: r.rate_limit_per_second.and_then(|r| u32::try_from(r).ok()),
            failing_since: r.failing_since,
            disabled_reason: r.disabled_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const WEBHOOK_COLUMNS: &str = "id, org_id, url, description, event_types, enabled, headers, rate_limit_per_second, \
     failing_since, disabled_reason, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    org_id: Uuid,
    webhook_id: Uuid,
    event_id: Uuid,
    event_type: String,
    status: String,
    attempts: i32,
    next_attempt_at: Option<Timestamp>,
    last_status_code: Option<i32>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<DeliveryRow> for WebhookDelivery {
    type Error = Error;

    fn try_from(r: DeliveryRow) -> Result<Self> {
        Ok(Self {
            id: WebhookDeliveryId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            webhook_id: WebhookId::from_uuid(r.webhook_id),
            event_id: EventId::from_uuid(r.event_id),
            event_type: r.event_type,
            status: DeliveryStatus::parse(&r.status).map_err(|e| corrupt("delivery status", e))?,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            next_attempt_at: r.next_attempt_at,
            last_status_code: r.last_status_code.and_then(|c| u16::try_from(c).ok()),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const DELIVERY_COLUMNS: &str = "d.id, d.org_id, d.webhook_id, d.event_id, e.type AS event_type, d.status, d.attempts, \
     d.next_attempt_at, d.last_status_code, d.created_at, d.updated_at";
const DELIVERY_FROM: &str =
    "webhook_deliveries d JOIN domain_events e ON e.org_id = d.org_id AND e.id = d.event_id";

/// An endpoint as `ctx` may read it: admins see its URL whole, everyone else only its scheme
/// and host (capability URLs carry their secret). Header values are sealed and read by no one.
fn for_reader(ctx: &TenantContext, w: Webhook) -> Webhook {
    if ctx.authorize(Access::Manage).is_ok() {
        w
    } else {
        w.redacted()
    }
}

/// The plaintext headers a delivery still has to send from the `headers` column: none once
/// they are sealed.
fn plaintext_headers(
    headers: BTreeMap<String, String>,
    sealed: Option<&Vec<u8>>,
) -> BTreeMap<String, String> {
    if sealed.is_some() {
        BTreeMap::new()
    } else {
        headers
    }
}

async fn fetch_webhook(tx: &mut Tx, ctx: &TenantContext, id: WebhookId) -> Result<Webhook> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE org_id = $1 AND id = $2");
    let row: Option<WebhookRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(WebhookId::KIND))?
        .try_into()
}

async fn fetch_delivery(
    tx: &mut Tx,
    ctx: &TenantContext,
    id: WebhookDeliveryId,
) -> Result<WebhookDelivery> {
    let sql =
        format!("SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE d.org_id = $1 AND d.id = $2");
    let row: Option<DeliveryRow> = tx
        .fetch_optional(&sql, args![ctx.org_id(), id.as_uuid()])
        .await?;
    row.ok_or_else(|| Error::not_found(WebhookDeliveryId::KIND))?
        .try_into()
}

/// Endpoint fields the dispatcher needs to fan out.
#[derive(sqlx::FromRow)]
struct Endpoint {
    id: Uuid,
    org_id: Uuid,
    event_types: Json<Vec<String>>,
    created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    #[sqlx(flatten)]
    delivery: DeliveryRow,
    url: String,
    headers: Json<BTreeMap<String, String>>,
    sealed_headers: Option<Vec<u8>>,
    secrets: Vec<u8>,
    rate_limit_per_second: Option<i32>,
    failing_since: Option<Timestamp>,
    occurred_at: Timestamp,
    subject_kind: String,
    subject_id: Uuid,
    data: Json<serde_json::Value>,
    request_id: Option<String>,
    actor_kind: Option<String>,
    actor_id: Option<String>,
}

impl DueRow {
    /// The claimed delivery, with what sending it needs.
    fn into_due(self) -> Result<DueDelivery> {
        let delivery = WebhookDelivery::try_from(self.delivery)?;
        let event = DomainEvent {
            id: delivery.event_id,
            org_id: delivery.org_id,
            event_type: delivery.event_type.clone(),
            occurred_at: self.occurred_at,
            subject: Subject {
                kind: self.subject_kind,
                id: self.subject_id,
            },
            data: self.data.0,
            request_id: self.request_id,
            actor: stored_actor(self.actor_kind, self.actor_id),
        };
        Ok(DueDelivery {
            delivery,
            url: self.url,
            headers: plaintext_headers(self.headers.0, self.sealed_headers.as_ref()),
            sealed_headers: self.sealed_headers.map(SealedSecrets),
            secrets: SealedSecrets(self.secrets),
            rate_limit_per_second: self
                .rate_limit_per_second
                .and_then(|r| u32::try_from(r).ok()),
            failing_since: self.failing_since,
            event,
        })
    }
}

#[async_trait]
impl DeliveryQueue for SqlStore {
    async fn dispatch_events(
        &self,
        consumer: &str,
        org: OrgId,
        limit: u32,
    ) -> Result<Option<(usize, usize)>> {
        // The fan-out commits without waiting for the WAL flush: lost in a crash, it is done
        // again from the same cursor and makes the same deliveries (their ids derive from the
        // event and the endpoint), so a delivery sent before the crash keeps its `webhook-id`.
        // A later synchronous commit (an attempt's record) flushes it along.
        let Some(mut claim) = self.claim_in_tx(consumer, org, limit, true).await? else {
            return Ok(None);
        };
        let events = std::mem::take(&mut claim.events);
        if events.is_empty() {
            return Ok(Some((0, 0)));
        }
        let tx = claim.tx().await?;
        // Every enabled endpoint of the org, read once.
        let endpoints: Vec<Endpoint> = tx
            .fetch_all(
                "SELECT id, org_id, event_types, created_at FROM webhooks WHERE org_id = $1 AND enabled",
                args![org],
            )
            .await?;
        let rows: Vec<(Uuid, Uuid, Uuid)> = events
            .iter()
            .flat_map(|logged| {
                let event = &logged.event;
                endpoints
                    .iter()
                    // An endpoint receives what happens after it exists, even when the
                    // dispatcher is behind and meets older events only now.
                    .filter(|e| event.occurred_at >= e.created_at)
                    .filter(|e| event_type_matches(&e.event_types.0, &event.event_type))
                    .map(|e| (e.org_id, e.id, event.id.as_uuid()))
            })
            .collect();
        let created = insert_deliveries(tx, &rows).await?;
        if created > 0 {
            // Every worker process wakes, not only this process's.
            tx.wake_workers();
        }
        let read = events.len();
        claim.events = events;
        claim.commit_cursor().await?;
        Ok(Some((read, usize::try_from(created).unwrap_or(usize::MAX))))
    }

    #[cfg_attr(not(feature = "postgres"), expect(unused_variables))]
    async fn dispatch_committed(
        &self,
        events: &[(OrgId, EventId)],
        claim: u32,
        lease: std::time::Duration,
    ) -> Result<Option<Dispatched>> {
        match &self.backend {
            // One statement across the events' orgs: a single node only (on Citus the orgs'
            // streams are read by `dispatch_events`, each on its shard).
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) if !b.is_citus().await? => self
                .dispatch_committed_pg(events, claim, lease)
                .await
                .map(Some),
            // SQLite's notices name no events: `dispatch_events` does it all.
            _ => Ok(None),
        }
    }

    async fn claim_deliveries(
        &self,
        limit: u32,
        lease: std::time::Duration,
    ) -> Result<Vec<DueDelivery>> {
        let t = now();
        let until = t + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
        // A claim lost in a crash is harmless: the delivery is merely claimable again at once
        // instead of after the lease, and sent again under the same id (at least once, as
        // always). A later synchronous commit (the attempt's record) flushes the WAL up to
        // itself, claims included. So the claim does not wait for the flush, which takes an
        // fsync off every delivery's path.
        let mut tx = self.system_async_commit_tx().await?;
        // One Postgres node: one statement claims across orgs and reads the batch.
        #[cfg(feature = "postgres")]
        if tx.fast_path() {
            let rows = postgres::claim_any_org(&mut tx, until, t, limit).await?;
            tx.commit().await?;
            return rows.into_iter().map(DueRow::into_due).collect();
        }
        // SQLite and Citus: the orgs of the deliveries due first, then a claim in each,
        // routed to the org's shard on Citus (see `claims`).
        let orgs = super::claims::due_orgs(
            &mut tx,
            "SELECT org_id FROM webhook_deliveries
             WHERE status IN ('pending', 'retrying') AND next_attempt_at <= $1
               AND (locked_until IS NULL OR locked_until < $1)
             ORDER BY next_attempt_at LIMIT $2",
            args![t, i64::from(limit)],
        )
        .await?;
        drop(tx);
        let mut rows = Vec::new();
        for org in orgs {
            let room = i64::from(limit) - i64::try_from(rows.len()).unwrap_or(i64::MAX);
            if room <= 0 {
                break;
            }
            rows.extend(self.claim_deliveries_of(org, room, until, t).await?);
        }
        rows.into_iter().map(DueRow::into_due).collect()
    }

    async fn claim_org_deliveries(
        &self,
        org: OrgId,
        limit: u32,
        lease: std::time::Duration,
    ) -> Result<Vec<DueDelivery>> {
        let t = now();
        let until = t + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
        let rows = self
            .claim_deliveries_of(org, i64::from(limit), until, t)
            .await?;
        rows.into_iter().map(DueRow::into_due).collect()
    }

    async fn record_attempts(&self, outcomes: Vec<AttemptOutcome>) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut tx = self.system_tx(true).await?;
        let t = now();
        let failing = failing_updates(&outcomes);
        record_outcomes(&mut tx, &outcomes, &failing, t).await?;
        // Disabling is rare (410, or failing for days): one statement and event each.
        for o in &outcomes {
            let Some(reason) = &o.disable_endpoint else {
                continue;
            };
            let disabled = tx
                .execute(
                    "UPDATE webhooks SET enabled = false, disabled_reason = $1, updated_at = $2
                     WHERE org_id = $3 AND id = $4 AND enabled",
                    args![reason.as_str(), t, o.org_id, o.webhook_id.as_uuid()],
                )
                .await?;
            if disabled == 1 {
                let ctx = TenantContext::system(o.org_id, "webhooks");
                let data = serde_json::json!({ "webhook_id": o.webhook_id, "reason": reason });
                emit(
                    &mut tx,
                    &ctx,
                    types::WEBHOOK_ENDPOINT_DISABLED,
                    WebhookId::KIND,
                    o.webhook_id.as_uuid(),
                    &data,
                )
                .await?;
            }
        }
        tx.commit().await
    }

    async fn release_deliveries(
        &self,
        deliveries: Vec<(OrgId, WebhookDeliveryId)>,
        available_at: DateTime<Utc>,
    ) -> Result<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let t = now();
        // Cutting the lease to `available_at` (or ending it) keeps `next_attempt_at`, the
        // delivery's place in the queue, as it is.
        let until = (available_at > t).then_some(available_at);
        let mut tx = self.system_tx(true).await?;
        release_leases(&mut tx, &deliveries, until).await?;
        if until.is_none() {
            tx.wake_workers();
        }
        tx.commit().await
    }

    async fn subscribe_due(&self) -> Result<Box<dyn EventSubscription>> {
        let subscription = match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(b) => Subscription::Notices(b.bus().await?.due.subscribe()),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(b) => Subscription::Due(b.due.subscribe()),
        };
        Ok(Box::new(subscription))
    }

    async fn next_delivery_due(&self) -> Result<Option<DateTime<Utc>>> {
        let mut tx = self.system_tx(false).await?;
        let row: Option<(Option<Timestamp>,)> = tx
            .fetch_optional(
                // A claimed delivery is due again only when its lease ends; deliveries of
                // disabled endpoints are not due at all.
                "SELECT MIN(CASE WHEN d.locked_until > d.next_attempt_at THEN d.locked_until ELSE d.next_attempt_at END)
                 FROM webhook_deliveries d JOIN webhooks w ON w.org_id = d.org_id AND w.id = d.webhook_id
                 WHERE d.status IN ('pending', 'retrying') AND w.enabled",
                args![],
            )
            .await?;
        Ok(row.and_then(|(t,)| t))
    }

    async fn plaintext_webhook_headers(&self, limit: u32) -> Result<Vec<PlaintextHeaders>> {
        let mut tx = self.system_tx(false).await?;
        let rows: Vec<(Uuid, Uuid, Json<BTreeMap<String, String>>)> = tx
            .fetch_all(
                "SELECT org_id, id, headers FROM webhooks WHERE sealed_headers IS NULL
                 ORDER BY org_id, id LIMIT $1",
                args![i64::from(limit)],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(org, id, headers)| (OrgId::from_uuid(org), WebhookId::from_uuid(id), headers.0))
            .collect())
    }

    async fn seal_webhook_headers(
        &self,
        org: OrgId,
        id: WebhookId,
        sealed: SealedSecrets,
    ) -> Result<bool> {
        let ctx = TenantContext::system(org, "seal_webhook_headers");
        let mut tx = self.tenant_tx(&ctx, Access::Manage).await?;
        let row: Option<(Json<BTreeMap<String, String>>,)> = tx
            .fetch_optional(
                "SELECT headers FROM webhooks WHERE org_id = $1 AND id = $2 AND sealed_headers IS NULL",
                args![org, id],
            )
            .await?;
        let Some((headers,)) = row else {
            return Ok(false);
        };
        let names = serde_json::to_value(redacted_headers(&headers.0))
            .map_err(|e| Error::internal("json", e))?;
        let n = tx
            .execute(
                "UPDATE webhooks SET sealed_headers = $1, headers = $2
                 WHERE org_id = $3 AND id = $4 AND sealed_headers IS NULL",
                args![sealed.0, names, org, id],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }
}

/// The columns a claimed delivery is read with, besides [`DELIVERY_COLUMNS`].
const DUE_COLUMNS: &str = "w.url, w.headers, w.sealed_headers, w.secrets, w.rate_limit_per_second, w.failing_since, \
     e.occurred_at, e.subject_kind, e.subject_id, e.data, e.request_id, e.actor_kind, e.actor_id";

/// Picks `columns` of up to `$3` deliveries `d` due at `$2` whose endpoint is enabled, oldest
/// due first, with `of_org` narrowing the pick (e.g. `AND d.org_id = $4`).
fn due_pick(columns: &str, of_org: &str) -> String {
    format!(
        "SELECT {columns} FROM webhook_deliveries d JOIN webhooks w ON w.org_id = d.org_id AND w.id = d.webhook_id
         WHERE d.status IN ('pending', 'retrying') AND d.next_attempt_at <= $2{of_org}
           AND (d.locked_until IS NULL OR d.locked_until < $2) AND w.enabled
         ORDER BY d.next_attempt_at LIMIT $3"
    )
}

/// Leases up to `$3` of org `$4`'s deliveries due at `$2` until `$1`, oldest due first,
/// skipping rows another worker is claiming; `lock` is the inner lock clause. The rows are
/// updated by their key, `(org_id, id)`.
fn claim_update_of_org(lock: &str) -> String {
    let ids = super::claims::among_claimed("id", &due_pick("d.id", " AND d.org_id = $4"), lock);
    format!("UPDATE webhook_deliveries SET locked_until = $1 WHERE org_id = $4 AND {ids}")
}

impl SqlStore {
    /// Claims up to `limit` of `org`'s due deliveries until `until` (due at `t`) and reads them
    /// with what sending needs: two statements, each routed to the org's shard on Citus.
    async fn claim_deliveries_of(
        &self,
        org: OrgId,
        limit: i64,
        until: Timestamp,
        t: Timestamp,
    ) -> Result<Vec<DueRow>> {
        let mut tx = self.system_async_commit_tx().await?;
        let sql = format!(
            "{} RETURNING id",
            claim_update_of_org(&super::claims::skip_locked(self, "d"))
        );
        let ids: Vec<(Uuid,)> = tx.fetch_all(&sql, args![until, t, limit, org]).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new(&format!(
            "SELECT {DELIVERY_COLUMNS}, {DUE_COLUMNS} FROM {DELIVERY_FROM} \
             JOIN webhooks w ON w.org_id = d.org_id AND w.id = d.webhook_id WHERE d.org_id = "
        ));
        sql.bind(org).push(" AND d.id IN (");
        for (i, (id,)) in ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(*id);
        }
        sql.push(")");
        let rows = tx.fetch_sql(sql).await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// The id of the delivery of row (org, endpoint, event): derived from the event and the
/// endpoint, so a fan-out done again makes the same delivery (see `dispatch_events`).
fn delivery_id(row: &(Uuid, Uuid, Uuid)) -> Uuid {
    WebhookDeliveryId::for_event(EventId::from_uuid(row.2), WebhookId::from_uuid(row.1)).as_uuid()
}

/// Inserts pending deliveries (org, endpoint, event), skipping pairs that exist (a re-run is
/// harmless); returns how many were created.
async fn insert_deliveries(tx: &mut Tx, rows: &[(Uuid, Uuid, Uuid)]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let t = now();
    #[cfg(feature = "postgres")]
    if let Some(pg) = tx.fast_pg() {
        return postgres::insert_deliveries(pg, rows, t).await;
    }
    insert_deliveries_each(tx, rows, t).await
}

/// [`insert_deliveries`] in batches of rows (SQLite: no arrays; Citus: each row routed).
async fn insert_deliveries_each(
    tx: &mut Tx,
    rows: &[(Uuid, Uuid, Uuid)],
    t: Timestamp,
) -> Result<u64> {
    let mut created = 0;
    // Batches stay well under SQLite's bind-parameter limit.
    for chunk in rows.chunks(500) {
        let mut sql = Sql::new(
            "INSERT INTO webhook_deliveries (id, org_id, webhook_id, event_id, status, attempts, next_attempt_at, \
             created_at, updated_at) VALUES ",
        );
        for (i, (org, webhook, event)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind(delivery_id(&(*org, *webhook, *event)))
                .push(", ")
                .bind(*org)
                .push(", ")
                .bind(*webhook);
            sql.push(", ")
                .bind(*event)
                .push(", 'pending', 0, ")
                .bind(t)
                .push(", ")
                .bind(t)
                .push(", ")
                .bind(t);
            sql.push(")");
        }
        sql.push(" ON CONFLICT DO NOTHING");
        created += tx.execute_sql(sql).await?;
    }
    Ok(created)
}

/// What a batch of outcomes does to one endpoint's `failing_since`: the outcomes applied in
/// order, where a success clears it and a failure sets it when it is clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FailingUpdate {
    org_id: Uuid,
    webhook_id: Uuid,
    /// A success came in the batch: the stored value is replaced by `since`, not kept.
    reset: bool,
    /// The first failure after the last success (or of the batch).
    since: Option<Timestamp>,
}

impl FailingUpdate {
    /// The new `failing_since` given the stored one.
    #[cfg(test)]
    fn apply(&self, stored: Option<Timestamp>) -> Option<Timestamp> {
        if self.reset {
            self.since
        } else {
            stored.or(self.since)
        }
    }
}

fn failing_updates(outcomes: &[AttemptOutcome]) -> Vec<FailingUpdate> {
    let mut updates: Vec<FailingUpdate> = Vec::new();
    let mut index: HashMap<(OrgId, WebhookId), usize> = HashMap::new();
    for o in outcomes {
        let i = *index.entry((o.org_id, o.webhook_id)).or_insert_with(|| {
            updates.push(FailingUpdate {
                org_id: o.org_id.as_uuid(),
                webhook_id: o.webhook_id.as_uuid(),
                reset: false,
                since: None,
            });
            updates.len() - 1
        });
        let u = &mut updates[i];
        if o.status == DeliveryStatus::Succeeded {
            u.reset = true;
            u.since = None;
        } else if u.since.is_none() {
            u.since = Some(o.attempt.attempted_at);
        }
    }
    updates
}

/// Records a batch of attempt outcomes (the attempts, the deliveries, the endpoints'
/// `failing_since`): on one Postgres node in one statement, elsewhere one per row.
async fn record_outcomes(
    tx: &mut Tx,
    outcomes: &[AttemptOutcome],
    failing: &[FailingUpdate],
    t: Timestamp,
) -> Result<()> {
    #[cfg(feature = "postgres")]
    if let Some(pg) = tx.fast_pg() {
        return postgres::record(pg, outcomes, failing, t).await;
    }
    record_each(tx, outcomes, failing, t).await
}

/// Records a batch statement by statement (SQLite: no arrays, and no round trips to save;
/// Citus: each statement routed to its org's shard).
async fn record_each(
    tx: &mut Tx,
    outcomes: &[AttemptOutcome],
    failing: &[FailingUpdate],
    t: Timestamp,
) -> Result<()> {
    for o in outcomes {
        let a = &o.attempt;
        tx.execute(
            "INSERT INTO webhook_attempts (id, org_id, delivery_id, attempted_at, status_code, error_kind, latency_ms,
             response_body, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            args![
                Uuid::now_v7(),
                o.org_id,
                a.delivery_id.as_uuid(),
                a.attempted_at,
                a.status_code.map(i64::from),
                a.error_kind.clone(),
                i64::from(a.latency_ms),
                a.response_body.clone(),
                a.next_attempt_at,
            ],
        )
        .await?;
        tx.execute(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2,
             last_status_code = $3, locked_until = NULL, updated_at = $4 WHERE org_id = $5 AND id = $6",
            args![
                o.status.as_str(),
                a.next_attempt_at,
                a.status_code.map(i64::from),
                t,
                o.org_id,
                a.delivery_id.as_uuid(),
            ],
        )
        .await?;
    }
    for f in failing {
        tx.execute(
            "UPDATE webhooks SET failing_since = CASE WHEN $1 THEN $2 ELSE COALESCE(failing_since, $2) END
             WHERE org_id = $3 AND id = $4",
            args![f.reset, f.since, f.org_id, f.webhook_id],
        )
        .await?;
    }
    Ok(())
}

/// Sets the lease of the deliveries (org, id) still to be sent to `until`: on one Postgres
/// node in one statement, elsewhere one per delivery.
async fn release_leases(
    tx: &mut Tx,
    deliveries: &[(OrgId, WebhookDeliveryId)],
    until: Option<Timestamp>,
) -> Result<()> {
    #[cfg(feature = "postgres")]
    if let Some(pg) = tx.fast_pg() {
        return postgres::release(pg, deliveries, until).await;
    }
    release_each(tx, deliveries, until).await
}

/// Sets the lease of the deliveries (org, id) still to be sent to `until`, one statement each.
async fn release_each(
    tx: &mut Tx,
    deliveries: &[(OrgId, WebhookDeliveryId)],
    until: Option<Timestamp>,
) -> Result<()> {
    for (org, id) in deliveries {
        tx.execute(
            "UPDATE webhook_deliveries SET locked_until = $1
             WHERE org_id = $2 AND id = $3 AND status IN ('pending', 'retrying')",
            args![until, *org, *id],
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use workos_core::domain::DeliveryAttempt;

    use super::*;

    fn outcome(
        org: OrgId,
        webhook: WebhookId,
        status: DeliveryStatus,
        at: Timestamp,
    ) -> AttemptOutcome {
        AttemptOutcome {
            org_id: org,
            webhook_id: webhook,
            attempt: DeliveryAttempt {
                delivery_id: WebhookDeliveryId::new(),
                attempted_at: at,
                status_code: Some(if status == DeliveryStatus::Succeeded {
                    200
                } else {
                    500
                }),
                error_kind: None,
                latency_ms: 1,
                response_body: None,
                next_attempt_at: None,
            },
            status,
            disable_endpoint: None,
        }
    }

    /// The batch's net effect equals applying the outcomes one by one.
    #[test]
    fn failing_since_folds_like_the_outcomes_in_order() {
        use DeliveryStatus::{Retrying as F, Succeeded as S};
        let org = OrgId::new();
        let t0 = now();
        let at = |i: i64| t0 + chrono::Duration::seconds(i);
        let stored = Some(at(-100));
        for (seq, from_null, from_stored) in [
            (vec![F, F], Some(at(0)), stored),
            (vec![S], None, None),
            (vec![F, S], None, None),
            (vec![F, S, F, F], Some(at(2)), Some(at(2))),
            (vec![S, F], Some(at(1)), Some(at(1))),
        ] {
            let webhook = WebhookId::new();
            let outcomes: Vec<_> = seq
                .iter()
                .enumerate()
                .map(|(i, s)| outcome(org, webhook, *s, at(i64::try_from(i).unwrap())))
                .collect();
            let updates = failing_updates(&outcomes);
            assert_eq!(updates.len(), 1);
            assert_eq!(updates[0].apply(None), from_null, "{seq:?} from NULL");
            assert_eq!(updates[0].apply(stored), from_stored, "{seq:?} from stored");
        }
        // One update per endpoint, in first-seen order.
        let (a, b) = (WebhookId::new(), WebhookId::new());
        let updates = failing_updates(&[
            outcome(org, a, S, at(0)),
            outcome(org, b, F, at(1)),
            outcome(org, a, F, at(2)),
        ]);
        assert_eq!(
            updates.iter().map(|u| u.webhook_id).collect::<Vec<_>>(),
            [a.as_uuid(), b.as_uuid()]
        );
    }
}
