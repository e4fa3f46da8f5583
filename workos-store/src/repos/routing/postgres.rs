//! The Postgres fast path of the routing's write: the lead's new person, the lead, its
//! deliveries and the round-robin pointer in one statement of data-modifying `WITH` items,
//! with the transaction's events, where the portable code (`write.rs`) runs a statement per
//! row. Taken only on a single Postgres node (`Tx::fast_path`); SQLite and Citus run the
//! portable code. The parity test below runs both paths on one database and compares the rows.

use workos_core::Result;
use workos_core::tenant::TenantContext;

use super::write::{RoutingWrite, Written};
use crate::db::{PgArgs, Tx};
use crate::repos::lead_deliveries::already_routed;
use crate::repos::leads::{INSERT_LEAD, lead_args};
use crate::repos::person::postgres::{contact_conflict, new_person_ctes};

/// [`super::write::write_routing`] on one node: one statement. `status_changed`: the stored
/// lead's status differs from the routed one.
pub(super) async fn write_routing(
    tx: &mut Tx,
    ctx: &TenantContext,
    w: RoutingWrite<'_>,
    status_changed: bool,
) -> Result<Written> {
    let mut ctes = Vec::new();
    let mut args = PgArgs::default();
    let mut contacts = None;
    if let Some(person) = w.person {
        let (items, written) = new_person_ctes(&mut args, person)?;
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
    let (inserted, taken): (i64, Vec<String>) = tx.fetch_with_events(&ctes, &select, args).await?;
    let person_conflict = contacts.is_some_and(|c| contact_conflict(c, &taken).is_some());
    if !person_conflict && usize::try_from(inserted).ok() != Some(w.deliveries.len()) {
        return Err(already_routed());
    }
    Ok(Written { person_conflict })
}

#[cfg(test)]
mod parity {
    use workos_core::domain::{
        DedupePolicy, E164, EmailAddress, HttpUrl, LeadStatus, NewLead, NewPartner, NewPerson,
        PartnerDelivery, RoutingSettingsInput, RoutingStrategy,
    };
    use workos_core::repo::{LeadRepo, PartnerRepo, PersonRepo, RoutingRepo};

    use crate::repos::parity::Twins;

    fn lead(email: &str, phone: Option<&str>) -> NewLead {
        NewLead {
            email: Some(EmailAddress::parse(email).expect("email")),
            phone: phone.map(|p| E164::parse(p).expect("phone")),
            first_name: Some("Lee".into()),
            vertical: Some("solar".into()),
            region: Some("CA".into()),
            ..NewLead::default()
        }
    }

    /// Captures and routings through every Postgres path of leads: the routing's write (a new
    /// person, the lead, its delivery and the round-robin pointer in one statement), the
    /// settings read with the contact locks, the duplicate and person probes in one statement,
    /// the cap counters read and taken over arrays, and the events appended with the write.
    /// Both paths store the same rows and events.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn captures_and_routings_are_stored_alike_by_both_paths() {
        let Some(twins) = Twins::new("workos_parity_routing").await else {
            return;
        };
        let at = workos_core::domain::now();
        for (store, ctx) in [
            (&twins.fast, &twins.fast_ctx),
            (&twins.portable, &twins.portable_ctx),
        ] {
            store
                .put_routing_settings(
                    ctx,
                    None,
                    RoutingSettingsInput {
                        strategy: RoutingStrategy::RoundRobin,
                        ..RoutingSettingsInput::default()
                    },
                )
                .await
                .expect("settings");
            for name in ["North", "South"] {
                let new = NewPartner {
                    verticals: vec!["solar".into()],
                    daily_cap: Some(2),
                    monthly_cap: Some(5),
                    ..NewPartner::new(
                        name,
                        PartnerDelivery::Webhook {
                            url: HttpUrl::parse("https://buyer.example.com/leads").expect("url"),
                        },
                    )
                };
                store.create_partner(ctx, new).await.expect("partner");
            }
            let known = NewPerson {
                email: Some(EmailAddress::parse("known@example.com").expect("email")),
                ..NewPerson::default()
            };
            store.create_person(ctx, known).await.expect("person");

            let route = |new| store.capture_and_route_lead(ctx, new, at);
            // A new person, routed to the first partner.
            let first = route(lead("ada@example.com", Some("+14155550100")))
                .await
                .expect("route");
            assert_eq!(first.deliveries.len(), 1);
            // The same email again: a duplicate, not routed.
            let again = route(lead("ada@example.com", None)).await.expect("route");
            assert_eq!(again.lead.status, LeadStatus::Duplicate);
            // A person found by email, routed to the second partner.
            let known = route(lead("known@example.com", None)).await.expect("route");
            assert_eq!(known.deliveries.len(), 1);
            // Each partner's second lead: their counters taken again.
            let grace = route(lead("grace@example.com", Some("+14155550101")))
                .await
                .expect("route");
            assert_eq!(grace.deliveries.len(), 1);
            // A lead captured first, then routed: its status updated by the routing.
            let captured = store
                .capture_lead(
                    ctx,
                    lead("alan@example.com", None),
                    &DedupePolicy::off(),
                    at,
                )
                .await
                .expect("capture");
            let routed = store
                .route_lead(ctx, captured.lead.id, at)
                .await
                .expect("route");
            assert_eq!(routed.deliveries.len(), 1);
            // Both partners full: queued.
            let full = route(lead("hedy@example.com", None)).await.expect("route");
            assert_eq!(full.lead.status, LeadStatus::Queued);
        }
        twins
            .assert_same(&[
                "people",
                "person_contacts",
                "leads",
                "lead_deliveries",
                "partner_cap_usage",
                "routing_settings",
                "domain_events",
            ])
            .await;
    }
}
