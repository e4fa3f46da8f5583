//! Lead deliveries: rows, the transaction-level helpers routing composes (`new_delivery`,
//! `write_delivery`, `emit_delivery`, `partner_usage_in`) and [`LeadDeliveryRepo`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{
    Currency, Lead, LeadDelivery, LeadDeliveryFilter, LeadDeliveryStatus, Partner, ReturnReason,
    Timestamp, validate_delivery_update, validate_new_delivery,
};
use workos_core::ids::{LeadDeliveryId, LeadId, OrgId, PartnerId};
use workos_core::page::{Page, PageRequest};
use workos_core::repo::LeadDeliveryRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::leads::{fetch_lead, for_update, json};
use super::partners::fetch_partner;
use super::{and_range, caps, corrupt, emit};
use crate::SqlStore;
use crate::db::{Sql, Tx, args, now};

/// A `lead_deliveries` row, in [`DELIVERY_COLUMNS`] order.
#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: Uuid,
    org_id: Uuid,
    lead_id: Uuid,
    partner_id: Uuid,
    rule: Option<String>,
    price_minor: i64,
    currency: String,
    status: String,
    attempts: i32,
    response: Option<Json<serde_json::Value>>,
    return_reason: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<DeliveryRow> for LeadDelivery {
    type Error = Error;

    fn try_from(r: DeliveryRow) -> Result<Self> {
        Ok(Self {
            id: LeadDeliveryId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            lead_id: LeadId::from_uuid(r.lead_id),
            partner_id: PartnerId::from_uuid(r.partner_id),
            rule: r.rule,
            price_minor: r.price_minor,
            currency: Currency::parse(&r.currency).map_err(|e| corrupt("currency", e))?,
            status: r
                .status
                .parse()
                .map_err(|e| corrupt("lead delivery status", e))?,
            attempts: u32::try_from(r.attempts).map_err(|e| corrupt("attempts", e))?,
            response: r.response.map(|j| j.0),
            return_reason: r
                .return_reason
                .map(|s| s.parse::<ReturnReason>())
                .transpose()
                .map_err(|e| corrupt("return reason", e))?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The columns [`DeliveryRow`] reads.
pub(crate) const DELIVERY_COLUMNS: &str = "id, org_id, lead_id, partner_id, rule, price_minor, currency, status, attempts, \
     response, return_reason, created_at, updated_at";

/// A delivery of the org; `lock` as for [`fetch_lead`].
pub(crate) async fn fetch_delivery(
    tx: &mut Tx,
    ctx: &TenantContext,
    id: LeadDeliveryId,
    lock: &str,
) -> Result<LeadDelivery> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM lead_deliveries WHERE org_id = $1 AND id = $2{lock}"
    );
    let row: Option<DeliveryRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(LeadDeliveryId::KIND))?
        .try_into()
}

/// A pending delivery of `lead` to `partner` at `at`, not yet written.
pub(crate) fn new_delivery(
    ctx: &TenantContext,
    lead: &Lead,
    partner: &Partner,
    rule: Option<String>,
    price_minor: i64,
    at: Timestamp,
) -> Result<LeadDelivery> {
    validate_new_delivery(rule.as_deref(), price_minor)?;
    Ok(LeadDelivery {
        id: LeadDeliveryId::new(),
        org_id: ctx.org_id(),
        lead_id: lead.id,
        partner_id: partner.id,
        rule: rule.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()),
        price_minor,
        currency: partner.currency,
        status: LeadDeliveryStatus::Pending,
        attempts: 0,
        response: None,
        return_reason: None,
        created_at: at,
        updated_at: at,
    })
}

/// The error when a lead already went to the partner.
pub(crate) fn already_routed() -> Error {
    Error::conflict("partner_id", "the lead was already routed to this partner")
}

/// Writes `delivery` (from [`new_delivery`]) without its event.
pub(crate) async fn write_delivery(tx: &mut Tx, delivery: &LeadDelivery) -> Result<()> {
    // ON CONFLICT keeps the transaction usable when the (lead, partner) pair is taken.
    let inserted = tx
        .execute(
            "INSERT INTO lead_deliveries (id, org_id, lead_id, partner_id, rule, price_minor, currency, status,
             attempts, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9)
             ON CONFLICT DO NOTHING",
            args![
                delivery.id,
                delivery.org_id,
                delivery.lead_id,
                delivery.partner_id,
                delivery.rule.clone(),
                delivery.price_minor,
                delivery.currency.code(),
                delivery.status.as_str(),
                delivery.created_at,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(already_routed());
    }
    Ok(())
}

/// Records `delivery`'s event (`lead.routed` for a pending one).
pub(crate) async fn emit_delivery(
    tx: &mut Tx,
    ctx: &TenantContext,
    delivery: &LeadDelivery,
) -> Result<()> {
    emit(
        tx,
        ctx,
        delivery.status.event_type(),
        LeadDeliveryId::KIND,
        delivery.id.as_uuid(),
        delivery,
    )
    .await
}

/// How many of the partner's deliveries since `since` count toward its caps (all but
/// `returned`).
pub(crate) async fn partner_usage_in(
    tx: &mut Tx,
    ctx: &TenantContext,
    partner_id: PartnerId,
    since: Timestamp,
) -> Result<u32> {
    let (n,): (i64,) = tx
        .fetch_one(
            "SELECT COUNT(*) FROM lead_deliveries
             WHERE org_id = $1 AND partner_id = $2 AND created_at >= $3 AND status <> 'returned'",
            args![ctx.org_id(), partner_id, since],
        )
        .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

#[async_trait]
impl LeadDeliveryRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn record_delivery(
        &self,
        ctx: &TenantContext,
        lead_id: LeadId,
        partner_id: PartnerId,
        rule: Option<String>,
        price_minor: i64,
    ) -> Result<LeadDelivery> {
        validate_new_delivery(rule.as_deref(), price_minor)?;
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let lead = fetch_lead(&mut tx, ctx, lead_id, "").await?;
        let partner = fetch_partner(&mut tx, ctx, partner_id, "").await?;
        let at = now();
        let delivery = new_delivery(ctx, &lead, &partner, rule, price_minor, at)?;
        write_delivery(&mut tx, &delivery).await?;
        emit_delivery(&mut tx, ctx, &delivery).await?;
        // Recorded by hand, so not refused for a full cap, but counted against it.
        caps::take_slot(&mut tx, ctx, &partner, lead.id, at, false).await?;
        tx.commit().await?;
        Ok(delivery)
    }

    async fn get_lead_delivery(
        &self,
        ctx: &TenantContext,
        id: LeadDeliveryId,
    ) -> Result<LeadDelivery> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_delivery(&mut tx, ctx, id, "").await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), status = %status))]
    async fn update_delivery(
        &self,
        ctx: &TenantContext,
        id: LeadDeliveryId,
        status: LeadDeliveryStatus,
        response: Option<serde_json::Value>,
        return_reason: Option<ReturnReason>,
    ) -> Result<LeadDelivery> {
        validate_delivery_update(status, response.as_ref(), return_reason)?;
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let current = fetch_delivery(&mut tx, ctx, id, for_update(self)).await?;
        if !current.status.can_become(status) {
            return Err(Error::conflict(
                "status",
                format!("a {} delivery cannot become {status}", current.status),
            ));
        }
        let returned = (status == LeadDeliveryStatus::Returned).then_some(current.clone());
        let updated = LeadDelivery {
            status,
            attempts: current.attempts + u32::from(status.is_attempt()),
            response: response.or(current.response),
            return_reason: return_reason.or(current.return_reason),
            updated_at: now(),
            ..current
        };
        tx.execute(
            "UPDATE lead_deliveries SET status = $1, attempts = $2, response = NULLIF($3, 'null'),
             return_reason = $4, updated_at = $5 WHERE org_id = $6 AND id = $7",
            args![
                status.as_str(),
                i64::from(updated.attempts),
                json(&updated.response)?,
                updated.return_reason.map(ReturnReason::as_str),
                updated.updated_at,
                ctx.org_id(),
                id,
            ],
        )
        .await?;
        emit(
            &mut tx,
            ctx,
            status.event_type(),
            LeadDeliveryId::KIND,
            id.as_uuid(),
            &updated,
        )
        .await?;
        if let Some(current) = returned {
            // Counters come after the other rows and before the org's event stream head,
            // which the commit takes (see `caps::take_slot`).
            let partner = fetch_partner(&mut tx, ctx, current.partner_id, "").await?;
            caps::release(&mut tx, ctx, &partner, &current).await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    async fn list_lead_deliveries(
        &self,
        ctx: &TenantContext,
        lead_id: LeadId,
        page: PageRequest,
    ) -> Result<Page<LeadDelivery>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_lead(&mut tx, ctx, lead_id, "").await?;
        let mut sql = Sql::new(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM lead_deliveries WHERE org_id = "
        ));
        sql.bind(ctx.org_id());
        sql.and("lead_id", "=", Some(lead_id));
        sql.page("id", &page)?;
        let rows: Vec<DeliveryRow> = tx.fetch_sql(sql).await?;
        let rows = rows
            .into_iter()
            .map(LeadDelivery::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, &page, |d| d.id.as_uuid()))
    }

    async fn list_partner_deliveries(
        &self,
        ctx: &TenantContext,
        partner_id: PartnerId,
        filter: LeadDeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<LeadDelivery>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_partner(&mut tx, ctx, partner_id, "").await?;
        let mut sql = Sql::new(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM lead_deliveries WHERE org_id = "
        ));
        sql.bind(ctx.org_id());
        sql.and("partner_id", "=", Some(partner_id));
        sql.and("status", "=", filter.status.map(LeadDeliveryStatus::as_str));
        and_range(&mut sql, "created_at", filter.created);
        sql.page("id", &page)?;
        let rows: Vec<DeliveryRow> = tx.fetch_sql(sql).await?;
        let rows = rows
            .into_iter()
            .map(LeadDelivery::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, &page, |d| d.id.as_uuid()))
    }

    async fn partner_usage(
        &self,
        ctx: &TenantContext,
        partner_id: PartnerId,
        since: DateTime<Utc>,
    ) -> Result<u32> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_partner(&mut tx, ctx, partner_id, "").await?;
        partner_usage_in(&mut tx, ctx, partner_id, since).await
    }
}
