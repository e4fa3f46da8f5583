//! Lead routing (cap-safe routing, partner callbacks, reporting). The settings it reads are in
//! `routing_settings.rs`, the public lead forms in `lead_forms.rs`.
//!
//! `route_lead` composes, in one transaction: the lead's row lock, the settings (locked only
//! for round robin, whose pointer it moves), the buying partners read without locks with their
//! cap usage from the counters (`caps::usage`), the choice, the capped partners' cap slots
//! (`caps::take_slot`, in `SqlStore::record_choice`), and last the deliveries, the lead's
//! status and the events in one write: routings that could take the same cap slot queue on
//! the same counter row until the one ahead commits, so caps hold under any concurrency,
//! while the org's event stream head, which every write of the org takes, is held only by
//! that last write and the commit. The queued-lead job
//! (`route_pending_leads`) picks each lead with `FOR UPDATE SKIP LOCKED` and routes it in that
//! same transaction.
//!
//! `capture_and_route_lead` decides the capture first (dedupe, person) and writes the lead only
//! with its routing, with its final status: on Postgres the lead, its deliveries and the
//! transaction's events are one statement, and the lead row is never updated after its insert.
//!
//! Here: the [`RoutingRepo`] implementation. `route` routes a lead (the choice, the cap
//! slots, queued leads), `write` writes a routing, `callback` takes a partner's callback on a
//! delivery, `summary` is the lead report.

mod callback;
#[cfg(feature = "postgres")]
mod postgres;
mod route;
mod summary;
mod write;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;
use workos_core::domain::{
    DeliveryCallback, LeadDelivery, LeadSummary, NewLead, RoutedLead, RoutingSettings,
    RoutingSettingsInput, TimeRange, normalize_vertical, to_storage_precision,
};
use workos_core::events::types;
use workos_core::ids::{LeadDeliveryId, LeadId, OrgId};
use workos_core::repo::RoutingRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::emit;
use super::leads::json;
use super::routing_settings::settings_in;
use crate::SqlStore;
use crate::db::{Sql, args, now};
use route::{Routing, Savepoint};

#[async_trait]
impl RoutingRepo for SqlStore {
    async fn get_routing_settings(
        &self,
        ctx: &TenantContext,
        vertical: Option<String>,
    ) -> Result<RoutingSettings> {
        let vertical = normalize_vertical(vertical.as_deref())?;
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        Ok(settings_in(&mut tx, ctx, vertical.as_deref(), "")
            .await?
            .settings)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn put_routing_settings(
        &self,
        ctx: &TenantContext,
        vertical: Option<String>,
        input: RoutingSettingsInput,
    ) -> Result<RoutingSettings> {
        let vertical = normalize_vertical(vertical.as_deref())?;
        input.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::Manage).await?;
        let t = now();
        tx.execute(
            "INSERT INTO routing_settings (org_id, vertical, strategy, when_full, distribution, max_partners,
             dedupe, return_window_days, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
             ON CONFLICT (org_id, vertical) DO UPDATE SET strategy = excluded.strategy,
             when_full = excluded.when_full, distribution = excluded.distribution,
             max_partners = excluded.max_partners, dedupe = excluded.dedupe,
             return_window_days = excluded.return_window_days, updated_at = excluded.updated_at",
            args![
                ctx.org_id(),
                vertical.as_deref().unwrap_or(""),
                input.strategy.as_str(),
                input.when_full.as_str(),
                input.distribution.as_str(),
                i64::from(input.max_partners),
                json(&input.dedupe)?,
                i64::from(input.return_window_days),
                t,
            ],
        )
        .await?;
        let settings = input.into_settings(vertical, Some(t));
        emit(
            &mut tx,
            ctx,
            types::ROUTING_SETTINGS_UPDATED,
            "routing_settings",
            ctx.org_id().as_uuid(),
            &settings,
        )
        .await?;
        tx.commit().await?;
        Ok(settings)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), lead_id = %lead_id))]
    async fn route_lead(
        &self,
        ctx: &TenantContext,
        lead_id: LeadId,
        now: DateTime<Utc>,
    ) -> Result<RoutedLead> {
        let at = to_storage_precision(now);
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let routed = self.route_in(&mut tx, ctx, lead_id, at).await?;
        tx.commit().await?;
        Ok(routed)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn capture_and_route_lead(
        &self,
        ctx: &TenantContext,
        mut new: NewLead,
        now: DateTime<Utc>,
    ) -> Result<RoutedLead> {
        new.validate()?;
        let at = to_storage_precision(now);
        let first = self
            .capture_and_route_in_tx(ctx, new.clone(), at, Savepoint::WhenTight)
            .await?;
        let again = match first {
            Routing::Done(routed) => return Ok(*routed),
            Routing::Again => {
                self.capture_and_route_in_tx(ctx, new, at, Savepoint::Always)
                    .await?
            }
        };
        match again {
            Routing::Done(routed) => Ok(*routed),
            Routing::Again => Err(Error::internal(
                "capture and routing asked to start again on its second try",
                std::io::Error::other("routing"),
            )),
        }
    }

    async fn route_queued_leads(
        &self,
        ctx: &TenantContext,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<RoutedLead>> {
        self.route_pending_in(ctx, now, None, limit).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn route_pending_leads(
        &self,
        ctx: &TenantContext,
        now: DateTime<Utc>,
        new_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<RoutedLead>> {
        self.route_pending_in(ctx, now, Some(new_before), limit)
            .await
    }

    async fn orgs_with_pending_leads(
        &self,
        new_before: DateTime<Utc>,
        after: Option<OrgId>,
        limit: u32,
    ) -> Result<Vec<OrgId>> {
        let mut tx = self.system_tx(false).await?;
        // Two index-backed lookups (the partial indexes on queued and on new leads) rather
        // than one OR over the whole table.
        let mut sql = Sql::new(
            "SELECT org_id FROM (SELECT DISTINCT org_id FROM leads WHERE status = 'queued' \
             AND deleted_at IS NULL UNION SELECT DISTINCT org_id FROM leads WHERE status = 'new' \
             AND deleted_at IS NULL AND created_at < ",
        );
        sql.bind(to_storage_precision(new_before)).push(") o");
        if let Some(after) = after {
            sql.push(" WHERE org_id > ").bind(after);
        }
        sql.push(" ORDER BY org_id LIMIT ")
            .bind(i64::from(limit.clamp(1, 10_000)));
        let rows: Vec<(Uuid,)> = tx.fetch_sql(sql).await?;
        Ok(rows.into_iter().map(|(id,)| OrgId::from_uuid(id)).collect())
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), delivery_id = %id))]
    async fn delivery_callback(
        &self,
        ctx: &TenantContext,
        id: LeadDeliveryId,
        callback: DeliveryCallback,
        now: DateTime<Utc>,
    ) -> Result<LeadDelivery> {
        self.record_delivery_callback(ctx, id, callback, now).await
    }

    async fn lead_summary(&self, ctx: &TenantContext, range: TimeRange) -> Result<LeadSummary> {
        self.summarize_leads(ctx, range).await
    }
}
