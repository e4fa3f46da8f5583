//! The routing's write: the lead's new person, the lead, its deliveries and the round-robin
//! pointer, in one statement on one Postgres node (with the transaction's events: the fast
//! path, in `routing::postgres`), a statement per row on SQLite and Citus.

use workos_core::Result;
use workos_core::domain::{Lead, LeadDelivery, LeadStatus, Person};
use workos_core::ids::PartnerId;
use workos_core::tenant::TenantContext;

use super::super::lead_deliveries::write_delivery;
use super::super::leads::insert_lead;
use crate::db::{Tx, args};

/// What a routing writes.
pub(super) struct RoutingWrite<'a> {
    /// The lead as routed.
    pub(super) lead: &'a Lead,
    /// The stored lead's status before routing; `None` when the lead is not written yet.
    pub(super) stored: Option<LeadStatus>,
    /// The lead's new person, to write first (the fast path only).
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
/// with the events recorded so far. On one Postgres node one statement (with the
/// transaction's events and notification); on SQLite and Citus a statement per row.
pub(super) async fn write_routing(
    tx: &mut Tx,
    ctx: &TenantContext,
    w: RoutingWrite<'_>,
) -> Result<Written> {
    let status_changed = w.stored.is_some_and(|before| before != w.lead.status);
    #[cfg(feature = "postgres")]
    if tx.fast_path() {
        return super::postgres::write_routing(tx, ctx, w, status_changed).await;
    }
    debug_assert!(w.person.is_none(), "a deferred person on the portable path");
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
