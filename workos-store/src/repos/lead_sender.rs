//! The lead-delivery sender's queue ([`LeadDeliveryQueue`]): claims on due deliveries across
//! orgs, and their outcomes. Runs in the system scope (migration 0008's `system_sender`
//! policies).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;
use workos_core::domain::{
    Lead, LeadDelivery, LeadDeliveryStatus, Partner, Timestamp, validate_delivery_update,
};
use workos_core::ids::{LeadDeliveryId, LeadId, OrgId, PartnerId};
use workos_core::repo::{
    DueLeadDelivery, LeadAttempt, LeadDeliveryQueue, LeadSendOutcome, SealedSecrets,
};
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use super::emit;
use super::lead_deliveries::{DELIVERY_COLUMNS, DeliveryRow, fetch_delivery};
use super::leads::{LEAD_COLUMNS, LeadRow, for_update, json};
use super::partners::{PARTNER_COLUMNS, PartnerRow};
use crate::SqlStore;
use crate::db::{Sql, args, now};

/// Due: `pending` (from routing, or from its next attempt time once set) or `failed` with a
/// next attempt. Written exactly as the partial index `lead_deliveries_due` is, so both
/// backends use it.
const DUE: &str =
    "(d.status = 'pending' OR (d.status = 'failed' AND d.next_attempt_at IS NOT NULL))";

/// The event data of a settled attempt: the delivery and when it is tried next.
#[derive(Serialize)]
struct AttemptEvent<'a> {
    #[serde(flatten)]
    delivery: &'a LeadDelivery,
    /// When the next attempt is due; `null` when delivered or failed for good.
    next_attempt_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct SecretRow {
    id: Uuid,
    signing_secret: Option<Vec<u8>>,
}

impl SqlStore {
    /// Claims up to `limit` of `org`'s due lead deliveries until `until` (due at `t`), with the
    /// leads, partners and signing secrets sending them needs; one transaction, one org.
    async fn claim_lead_deliveries_of(
        &self,
        org: OrgId,
        limit: u32,
        until: Timestamp,
        t: Timestamp,
    ) -> Result<Vec<DueLeadDelivery>> {
        let skip_locked = super::claims::skip_locked(self, "d");
        let mut tx = self.system_tx(true).await?;
        let ids = super::claims::among_claimed(
            "id",
            &format!(
                "SELECT d.id FROM lead_deliveries d
                 JOIN leads l ON l.org_id = d.org_id AND l.id = d.lead_id
                 JOIN fulfillment_partners p ON p.org_id = d.org_id AND p.id = d.partner_id
                 WHERE d.org_id = $4 AND {DUE} AND COALESCE(d.next_attempt_at, d.created_at) <= $2
                   AND (d.lease_until IS NULL OR d.lease_until < $2)
                   AND l.deleted_at IS NULL AND p.deleted_at IS NULL
                 ORDER BY COALESCE(d.next_attempt_at, d.created_at) LIMIT $3"
            ),
            &skip_locked,
        );
        let sql = format!(
            "UPDATE lead_deliveries SET lease_until = $1 WHERE org_id = $4 AND {ids} RETURNING id"
        );
        let ids: Vec<(Uuid,)> = tx
            .fetch_all(&sql, args![until, t, i64::from(limit), org])
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }

        let of_org = |select: &str| {
            let mut sql = Sql::new(select);
            sql.push(" WHERE org_id = ").bind(org).push(" AND id IN ");
            sql
        };
        let mut sql = of_org(&format!("SELECT {DELIVERY_COLUMNS} FROM lead_deliveries"));
        sql.push_in(ids.iter().map(|(id,)| *id));
        sql.push(" ORDER BY COALESCE(next_attempt_at, created_at)");
        let deliveries = tx
            .fetch_sql::<DeliveryRow>(sql)
            .await?
            .into_iter()
            .map(LeadDelivery::try_from)
            .collect::<Result<Vec<_>>>()?;

        let mut sql = of_org(&format!("SELECT {LEAD_COLUMNS} FROM leads"));
        sql.push_in(deliveries.iter().map(|d| d.lead_id.as_uuid()));
        let leads: HashMap<LeadId, Lead> = tx
            .fetch_sql::<LeadRow>(sql)
            .await?
            .into_iter()
            .map(|r| Lead::try_from(r).map(|l| (l.id, l)))
            .collect::<Result<_>>()?;

        let partner_ids = || deliveries.iter().map(|d| d.partner_id.as_uuid());
        let mut sql = of_org(&format!(
            "SELECT {PARTNER_COLUMNS} FROM fulfillment_partners"
        ));
        sql.push_in(partner_ids());
        let partners: HashMap<PartnerId, Partner> = tx
            .fetch_sql::<PartnerRow>(sql)
            .await?
            .into_iter()
            .map(|r| Partner::try_from(r).map(|p| (p.id, p)))
            .collect::<Result<_>>()?;
        let mut sql = of_org("SELECT id, signing_secret FROM fulfillment_partners");
        sql.push_in(partner_ids());
        let secrets: HashMap<Uuid, Option<Vec<u8>>> = tx
            .fetch_sql::<SecretRow>(sql)
            .await?
            .into_iter()
            .map(|r| (r.id, r.signing_secret))
            .collect();
        tx.commit().await?;

        let mut due = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let (Some(lead), Some(partner)) = (
                leads.get(&delivery.lead_id),
                partners.get(&delivery.partner_id),
            ) else {
                continue;
            };
            let signing_secret = secrets
                .get(&partner.id.as_uuid())
                .cloned()
                .flatten()
                .map(SealedSecrets);
            due.push(DueLeadDelivery {
                lead: lead.clone(),
                partner: partner.clone(),
                signing_secret,
                delivery,
            });
        }
        Ok(due)
    }
}

#[async_trait]
impl LeadDeliveryQueue for SqlStore {
    async fn claim_lead_deliveries(
        &self,
        limit: u32,
        lease: std::time::Duration,
    ) -> Result<Vec<DueLeadDelivery>> {
        let t = now();
        let until = t + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
        // The orgs of the oldest due deliveries, then a claim in each (on Citus each is routed
        // to the org's shard: no claim locks rows across shards).
        let mut tx = self.system_tx(false).await?;
        let orgs = super::claims::due_orgs(
            &mut tx,
            &format!(
                "SELECT d.org_id FROM lead_deliveries d
                 WHERE {DUE} AND COALESCE(d.next_attempt_at, d.created_at) <= $1
                   AND (d.lease_until IS NULL OR d.lease_until < $1)
                 ORDER BY COALESCE(d.next_attempt_at, d.created_at) LIMIT $2"
            ),
            args![t, i64::from(limit)],
        )
        .await?;
        drop(tx);
        let mut due = Vec::new();
        for org in orgs {
            let room = limit.saturating_sub(u32::try_from(due.len()).unwrap_or(u32::MAX));
            if room == 0 {
                break;
            }
            due.extend(self.claim_lead_deliveries_of(org, room, until, t).await?);
        }
        Ok(due)
    }

    async fn record_lead_attempts(&self, attempts: Vec<LeadAttempt>) -> Result<Vec<LeadDelivery>> {
        for a in &attempts {
            let status = match a.outcome {
                LeadSendOutcome::Delivered => LeadDeliveryStatus::Delivered,
                _ => LeadDeliveryStatus::Failed,
            };
            validate_delivery_update(status, Some(&a.response), None)?;
        }
        if attempts.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.system_tx(true).await?;
        let t = now();
        let mut recorded = Vec::with_capacity(attempts.len());
        for a in attempts {
            let ctx = TenantContext::system(a.org_id, "lead-delivery");
            let current = match fetch_delivery(&mut tx, &ctx, a.delivery_id, for_update(self)).await
            {
                Ok(d) => d,
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let (status, next_attempt_at) = match a.outcome {
                LeadSendOutcome::Delivered => (LeadDeliveryStatus::Delivered, None),
                LeadSendOutcome::Retry { next_attempt_at } => (
                    LeadDeliveryStatus::Failed,
                    Some(workos_core::domain::to_storage_precision(next_attempt_at)),
                ),
                LeadSendOutcome::GaveUp => (LeadDeliveryStatus::Failed, None),
            };
            if !current.status.can_become(status) {
                // Moved on meanwhile (e.g. changed by hand): the attempt's result is moot.
                continue;
            }
            let updated = LeadDelivery {
                status,
                attempts: current.attempts + 1,
                response: Some(a.response),
                updated_at: t,
                ..current
            };
            tx.execute(
                "UPDATE lead_deliveries SET status = $1, attempts = $2, response = $3, next_attempt_at = $4,
                 lease_until = NULL, updated_at = $5 WHERE org_id = $6 AND id = $7",
                args![
                    status.as_str(),
                    i64::from(updated.attempts),
                    json(&updated.response)?,
                    next_attempt_at,
                    t,
                    a.org_id,
                    a.delivery_id,
                ],
            )
            .await?;
            emit(
                &mut tx,
                &ctx,
                status.event_type(),
                LeadDeliveryId::KIND,
                a.delivery_id.as_uuid(),
                &AttemptEvent {
                    delivery: &updated,
                    next_attempt_at,
                },
            )
            .await?;
            recorded.push(updated);
        }
        tx.commit().await?;
        Ok(recorded)
    }

    async fn release_lead_deliveries(&self, claimed: &[(OrgId, LeadDeliveryId)]) -> Result<()> {
        let mut orgs: Vec<OrgId> = claimed.iter().map(|(org, _)| *org).collect();
        orgs.sort_by_key(|o| o.as_uuid());
        orgs.dedup();
        // One transaction per org, like a claim (on Citus each is routed to the org's shard).
        for org in orgs {
            let mut tx = self.system_tx(true).await?;
            let ids = claimed
                .iter()
                .filter(|(o, _)| *o == org)
                .map(|(_, id)| id.as_uuid());
            let mut sql = Sql::new("UPDATE lead_deliveries SET lease_until = NULL WHERE org_id = ");
            sql.bind(org)
                .push(" AND lease_until IS NOT NULL AND id IN ");
            sql.push_in(ids);
            tx.execute_sql(sql).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    async fn next_lead_delivery_due(&self) -> Result<Option<DateTime<Utc>>> {
        let mut tx = self.system_tx(false).await?;
        let sql = format!(
            "SELECT MIN(CASE WHEN d.lease_until > COALESCE(d.next_attempt_at, d.created_at) THEN d.lease_until
                        ELSE COALESCE(d.next_attempt_at, d.created_at) END)
             FROM lead_deliveries d
             JOIN leads l ON l.org_id = d.org_id AND l.id = d.lead_id
             JOIN fulfillment_partners p ON p.org_id = d.org_id AND p.id = d.partner_id
             WHERE {DUE} AND l.deleted_at IS NULL AND p.deleted_at IS NULL"
        );
        let row: Option<(Option<workos_core::domain::Timestamp>,)> =
            tx.fetch_optional(&sql, args![]).await?;
        Ok(row.and_then(|(t,)| t))
    }
}
