//! The routing's write: the lead's new person, the lead, its deliveries and the round-robin
//! pointer, in one statement on Postgres (with the transaction's events), a statement per row
//! on SQLite.

use workos_core::Result;
use workos_core::domain::{Lead, LeadDelivery, LeadStatus, Person};
use workos_core::ids::PartnerId;
use workos_core::tenant::TenantContext;

#[cfg(feature = "postgres")]
use super::super::lead_deliveries::already_routed;
use super::super::lead_deliveries::write_delivery;
use super::super::leads::insert_lead;
#[cfg(feature = "postgres")]
use super::super::leads::{INSERT_LEAD, lead_args};
#[cfg(feature = "postgres")]
use crate::db::PgArgs;
use crate::db::{Tx, args};

/// What a routing writes.
pub(super) struct RoutingWrite<'a> {
    /// The lead as routed.
    pub(super) lead: &'a Lead,
    /// The stored lead's status before routing; `None` when the lead is not written yet.
    pub(super) stored: Option<LeadStatus>,
    /// The lead's new person, to write first (Postgres only).
    pub(super) person: Option<&'a Person>,
    pub(super) deliveries: &'a [LeadDelivery],
    /// Round robin's new pointer, and the settings row that keeps it.
    pub(super) pointer: Option<(PartnerId, &'a str)>,
}

/// What [`write_routing`] did besides the writes it was asked for.
#[derive(Default)]
pub(super) struct Written {
    /// A contact of [`RoutingWrite::person`] turned out to be another person's (written since
    /// capture looked): the transaction must start again, and will find that person.
    pub(super) person_conflict: bool,
}

/// Writes a routing: the lead's new person, the lead (inserted with its final status, or its
/// status updated), its deliveries, the round-robin pointer and the slot of the partner named,
/// with the events recorded so far. On Postgres one statement (with the transaction's events
/// and notification); on SQLite a statement per row.
pub(super) async fn write_routing(
    tx: &mut Tx,
    ctx: &TenantContext,
    w: RoutingWrite<'_>,
) -> Result<Written> {
    let status_changed = w.stored.is_some_and(|before| before != w.lead.status);
    #[cfg(feature = "postgres")]
    if tx.fast_path() {
        let mut ctes = Vec::new();
        let mut args = PgArgs::default();
        let mut contacts = None;
        if let Some(person) = w.person {
            let (items, written) = super::super::person::new_person_ctes(&mut args, person)?;
            ctes.extend(items);
            contacts = Some(written);
        }
        if w.stored.is_none() {
            ctes.push(format!(
                "l AS ({})",
                args.append(INSERT_LEAD, lead_args(w.lead)?)?
            ));
        }
        if status_changed {
            ctes.push(format!(
                "l AS (UPDATE leads SET status = {}, updated_at = {} WHERE org_id = {} AND id = {})",
                args.bind(w.lead.status.as_str())?,
                args.bind(w.lead.updated_at)?,
                args.bind(ctx.org_id().as_uuid())?,
                args.bind(w.lead.id.as_uuid())?,
            ));
        }
        let counted = if w.deliveries.is_empty() {
            "0::int8"
        } else {
            let d = w.deliveries;
            ctes.push(format!(
                "d AS (INSERT INTO lead_deliveries (id, org_id, lead_id, partner_id, rule, price_minor,
                 currency, status, attempts, created_at, updated_at)
                 SELECT d.id, {org}, {lead}, d.pid, d.rule, d.price, d.cur, 'pending', 0, {at}, {at}
                 FROM unnest({ids}::uuid[], {pids}::uuid[], {rules}::text[], {prices}::int8[],
                   {curs}::text[]) AS d(id, pid, rule, price, cur)
                 ON CONFLICT DO NOTHING RETURNING 1)",
                org = args.bind(ctx.org_id().as_uuid())?,
                lead = args.bind(w.lead.id.as_uuid())?,
                at = args.bind(d[0].created_at)?,
                ids = args.bind(d.iter().map(|d| d.id.as_uuid()).collect::<Vec<_>>())?,
                pids = args.bind(d.iter().map(|d| d.partner_id.as_uuid()).collect::<Vec<_>>())?,
                rules = args.bind(d.iter().map(|d| d.rule.clone()).collect::<Vec<_>>())?,
                prices = args.bind(d.iter().map(|d| d.price_minor).collect::<Vec<_>>())?,
                curs = args.bind(
                    d.iter()
                        .map(|d| d.currency.code().to_owned())
                        .collect::<Vec<_>>()
                )?,
            ));
            "(SELECT count(*) FROM d)"
        };
        if let Some((last, key)) = w.pointer {
            ctes.push(format!(
                "r AS (UPDATE routing_settings SET rr_last_partner_id = {} WHERE org_id = {} AND vertical = {})",
                args.bind(last.as_uuid())?,
                args.bind(ctx.org_id().as_uuid())?,
                args.bind(key.to_owned())?,
            ));
        }
        let taken = if contacts.is_some() {
            "ARRAY(SELECT taken FROM workos_contacts)"
        } else {
            "ARRAY[]::text[]"
        };
        let select = format!("{counted}, {taken}");
        let (inserted, taken): (i64, Vec<String>) =
            tx.fetch_with_events(&ctes, &select, args).await?;
        let person_conflict =
            contacts.is_some_and(|c| super::super::person::contact_conflict(c, &taken).is_some());
        if !person_conflict && usize::try_from(inserted).ok() != Some(w.deliveries.len()) {
            return Err(already_routed());
        }
        return Ok(Written { person_conflict });
    }
    debug_assert!(w.person.is_none(), "Postgres only");
    if w.stored.is_none() {
        insert_lead(tx, w.lead).await?;
    } else if status_changed {
        tx.execute(
            "UPDATE leads SET status = $1, updated_at = $2 WHERE org_id = $3 AND id = $4",
            args![
                w.lead.status.as_str(),
                w.lead.updated_at,
                ctx.org_id(),
                w.lead.id
            ],
        )
        .await?;
    }
    for delivery in w.deliveries {
        write_delivery(tx, delivery).await?;
    }
    if let Some((last, key)) = w.pointer {
        tx.execute(
            "UPDATE routing_settings SET rr_last_partner_id = $1 WHERE org_id = $2 AND vertical = $3",
            args![last, ctx.org_id(), key],
        )
        .await?;
    }
    Ok(Written::default())
}
