//! The lead report: leads by status, deliveries by partner and by source (UTM source and
//! campaign) over a time range.

use std::collections::BTreeMap;

use uuid::Uuid;
use workos_core::Result;
use workos_core::domain::{
    DeliveryCounts, LeadDeliveryStatus, LeadStatus, LeadSummary, PartnerSummary, SourceSummary,
    TimeRange, validate_range,
};
use workos_core::ids::PartnerId;
use workos_core::tenant::{Access, TenantContext};

use super::super::{and_range, corrupt};
use crate::SqlStore;
use crate::db::Sql;

impl SqlStore {
    /// The org's lead report over `range`; see
    /// [`RoutingRepo::lead_summary`](workos_core::repo::RoutingRepo::lead_summary).
    pub(super) async fn summarize_leads(
        &self,
        ctx: &TenantContext,
        range: TimeRange,
    ) -> Result<LeadSummary> {
        validate_range(&range)?;
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);

        let mut sql =
            Sql::new("SELECT status, COUNT(*) FROM leads WHERE deleted_at IS NULL AND org_id = ");
        sql.bind(ctx.org_id());
        and_range(&mut sql, "created_at", range);
        sql.push(" GROUP BY status");
        let by_status: Vec<(String, i64)> = tx.fetch_sql(sql).await?;
        let leads_by_status: BTreeMap<String, u64> =
            by_status.into_iter().map(|(s, n)| (s, count(n))).collect();

        let mut sql = Sql::new(
            "SELECT d.partner_id, p.name, d.status, COUNT(*) FROM lead_deliveries d
             JOIN fulfillment_partners p ON p.org_id = d.org_id AND p.id = d.partner_id WHERE d.org_id = ",
        );
        sql.bind(ctx.org_id());
        and_range(&mut sql, "d.created_at", range);
        sql.push(" GROUP BY d.partner_id, p.name, d.status ORDER BY d.partner_id");
        let rows: Vec<(Uuid, String, String, i64)> = tx.fetch_sql(sql).await?;
        let mut partners: Vec<PartnerSummary> = Vec::new();
        let mut deliveries = 0;
        for (partner_id, name, status, n) in rows {
            let status: LeadDeliveryStatus = status
                .parse()
                .map_err(|e| corrupt("lead delivery status", e))?;
            let partner_id = PartnerId::from_uuid(partner_id);
            deliveries += count(n);
            match partners.last_mut() {
                Some(p) if p.partner_id == partner_id => p.counts.add(status, count(n)),
                _ => {
                    let mut counts = DeliveryCounts::default();
                    counts.add(status, count(n));
                    partners.push(PartnerSummary {
                        partner_id,
                        name,
                        counts,
                    });
                }
            }
        }

        type Source = (Option<String>, Option<String>);
        let mut sources: BTreeMap<Source, (u64, DeliveryCounts)> = BTreeMap::new();
        let mut sql = Sql::new(
            "SELECT utm_source, utm_campaign, COUNT(*) FROM leads WHERE deleted_at IS NULL AND org_id = ",
        );
        sql.bind(ctx.org_id());
        and_range(&mut sql, "created_at", range);
        sql.push(" GROUP BY utm_source, utm_campaign");
        let rows: Vec<(Option<String>, Option<String>, i64)> = tx.fetch_sql(sql).await?;
        for (source, campaign, n) in rows {
            sources.entry((source, campaign)).or_default().0 += count(n);
        }
        let mut sql = Sql::new(
            "SELECT l.utm_source, l.utm_campaign, d.status, COUNT(*) FROM lead_deliveries d
             JOIN leads l ON l.org_id = d.org_id AND l.id = d.lead_id WHERE d.org_id = ",
        );
        sql.bind(ctx.org_id());
        and_range(&mut sql, "d.created_at", range);
        sql.push(" GROUP BY l.utm_source, l.utm_campaign, d.status");
        let rows: Vec<(Option<String>, Option<String>, String, i64)> = tx.fetch_sql(sql).await?;
        for (source, campaign, status, n) in rows {
            let status: LeadDeliveryStatus = status
                .parse()
                .map_err(|e| corrupt("lead delivery status", e))?;
            sources
                .entry((source, campaign))
                .or_default()
                .1
                .add(status, count(n));
        }

        Ok(LeadSummary {
            from: range.after,
            to: range.before,
            leads: leads_by_status.values().sum(),
            duplicates: leads_by_status
                .get(LeadStatus::Duplicate.as_str())
                .copied()
                .unwrap_or(0),
            leads_by_status,
            deliveries,
            partners,
            sources: sources
                .into_iter()
                .map(
                    |((utm_source, utm_campaign), (leads, counts))| SourceSummary {
                        utm_source,
                        utm_campaign,
                        leads,
                        counts,
                    },
                )
                .collect(),
        })
    }
}
