//! A partner's callback on a delivery (accepted, rejected, returned within the return
//! window), and the lead's status that follows from its deliveries.

use chrono::{DateTime, Utc};
use workos_core::domain::{
    DeliveryCallback, Lead, LeadDelivery, LeadDeliveryStatus, LeadStatus, ReturnReason, Timestamp,
    lead_status_from_deliveries, to_storage_precision, within_return_window,
};
use workos_core::events::types;
use workos_core::ids::{LeadDeliveryId, LeadId};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::super::lead_deliveries::fetch_delivery;
use super::super::leads::{fetch_lead, for_update, json};
use super::super::partners::fetch_partner;
use super::super::routing_settings::settings_in;
use super::super::{caps, corrupt, emit};
use crate::SqlStore;
use crate::db::{Tx, args};

/// Moves the lead to `status` at `at` (when it differs), emitting `lead.status_changed`.
async fn set_status(
    tx: &mut Tx,
    ctx: &TenantContext,
    lead: Lead,
    status: LeadStatus,
    at: Timestamp,
) -> Result<Lead> {
    if lead.status == status {
        return Ok(lead);
    }
    let updated = Lead {
        status,
        updated_at: at,
        ..lead
    };
    tx.execute(
        "UPDATE leads SET status = $1, updated_at = $2 WHERE org_id = $3 AND id = $4",
        args![status.as_str(), at, ctx.org_id(), updated.id],
    )
    .await?;
    emit(
        tx,
        ctx,
        types::LEAD_STATUS_CHANGED,
        LeadId::KIND,
        updated.id.as_uuid(),
        &updated,
    )
    .await?;
    Ok(updated)
}

impl SqlStore {
    /// Records a partner's callback on delivery `id`; see
    /// [`RoutingRepo::delivery_callback`](workos_core::repo::RoutingRepo::delivery_callback).
    pub(super) async fn record_delivery_callback(
        &self,
        ctx: &TenantContext,
        id: LeadDeliveryId,
        callback: DeliveryCallback,
        now: DateTime<Utc>,
    ) -> Result<LeadDelivery> {
        callback.validate()?;
        let at = to_storage_precision(now);
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let lock = for_update(self);
        let current = fetch_delivery(&mut tx, ctx, id, lock).await?;
        let status = callback.status();
        if !current.status.can_become(status) {
            return Err(Error::conflict(
                "status",
                format!("a {} delivery cannot become {status}", current.status),
            ));
        }
        let lead = fetch_lead(&mut tx, ctx, current.lead_id, lock).await?;
        if status == LeadDeliveryStatus::Returned {
            let settings = settings_in(&mut tx, ctx, lead.vertical.as_deref(), "")
                .await?
                .settings;
            if !within_return_window(current.created_at, at, settings.return_window_days) {
                return Err(Error::conflict(
                    "return_window",
                    format!(
                        "returns are accepted for {} days after routing; this window has passed",
                        settings.return_window_days
                    ),
                ));
            }
        }
        let returned = (status == LeadDeliveryStatus::Returned).then_some(current.clone());
        let updated = LeadDelivery {
            status,
            response: Some(callback.response(at)),
            return_reason: callback.return_reason().or(current.return_reason),
            updated_at: at,
            ..current
        };
        tx.execute(
            "UPDATE lead_deliveries SET status = $1, response = $2, return_reason = $3, updated_at = $4
             WHERE org_id = $5 AND id = $6",
            args![
                status.as_str(),
                json(&updated.response)?,
                updated.return_reason.map(ReturnReason::as_str),
                at,
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
        let statuses: Vec<(String,)> = tx
            .fetch_all(
                "SELECT status FROM lead_deliveries WHERE org_id = $1 AND lead_id = $2",
                args![ctx.org_id(), lead.id],
            )
            .await?;
        let statuses = statuses
            .into_iter()
            .map(|(s,)| s.parse().map_err(|e| corrupt("lead delivery status", e)))
            .collect::<Result<Vec<LeadDeliveryStatus>>>()?;
        if let Some(next) = lead_status_from_deliveries(&statuses)
            && lead.status != LeadStatus::Duplicate
        {
            set_status(&mut tx, ctx, lead, next, at).await?;
        }
        if let Some(current) = returned {
            // Counters come after the other rows and before the org's event stream head,
            // which the commit takes (see `caps::take_slot`).
            let partner = fetch_partner(&mut tx, ctx, current.partner_id, "").await?;
            caps::release(&mut tx, ctx, &partner, &current).await?;
        }
        tx.commit().await?;
        Ok(updated)
    }
}
