//! Routing a lead: the partners with room under their caps, the choice among them (again,
//! without the partner whose cap filled meanwhile), the cap slots, and the routing of queued
//! leads and of a lead captured in the routing's own transaction.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use workos_core::domain::{
    Candidate, Distribution, Lead, LeadStatus, NewLead, Partner, Person, RoutedLead,
    RoutingStrategy, Timestamp, has_room, partner_buys, partner_is_open, routed_status,
    select_partners, to_storage_precision,
};
use workos_core::events::types;
use workos_core::ids::{LeadId, PartnerId};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::super::lead_deliveries::{emit_delivery, new_delivery};
use super::super::leads::{
    decide_capture, emit_created, fetch_lead, for_update, insert_captured, is_postgres,
};
use super::super::partners::{PARTNER_COLUMNS, PartnerRow};
use super::super::routing_settings::{StoredSettings, settings_in, settings_locking_contacts};
use super::super::{caps, emit};
use super::write::{RoutingWrite, Written, write_routing};
use crate::SqlStore;
use crate::db::{Sql, Tx, args};

/// The partners of `open` under their caps at `at`, counted in `tx` (one statement), each
/// with its spare slots (the fewest left in any of its capped windows; `u32::MAX` uncapped).
async fn with_room(
    tx: &mut Tx,
    ctx: &TenantContext,
    open: Vec<Partner>,
    at: Timestamp,
) -> Result<Vec<(Partner, u32)>> {
    let usage = caps::usage(tx, ctx, &open, at).await?;
    Ok(open
        .into_iter()
        .filter_map(|p| {
            let (daily, monthly) = usage.get(&p.id.as_uuid()).copied().unwrap_or((0, 0));
            let spare = [(p.daily_cap, daily), (p.monthly_cap, monthly)]
                .into_iter()
                .filter_map(|(cap, used)| cap.map(|cap| cap.saturating_sub(used)))
                .min()
                .unwrap_or(u32::MAX);
            has_room(&p, daily, monthly).then_some((p, spare))
        })
        .collect())
}

/// Spare slots, as read without locks, above which routing takes a partner's slot without a
/// savepoint to roll back to: that many routings would have to fill it between the read and
/// the slot. If one still does, the caller rolls back the whole transaction and routes again
/// with a savepoint ([`Savepoint::Always`]).
const SPARE_WITHOUT_SAVEPOINT: u32 = 200;

/// When routing takes a savepoint before its cap slots, to choose again if one is refused.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Savepoint {
    /// Whenever a capped partner is chosen.
    Always,
    /// Only when a capped partner chosen has at most [`SPARE_WITHOUT_SAVEPOINT`] spare slots;
    /// a slot refused without one answers [`Routing::Again`].
    WhenTight,
}

/// How a routing ended.
pub(super) enum Routing {
    Done(Box<RoutedLead>),
    /// A cap slot was refused with no savepoint to go back to, or the lead's new person found
    /// a contact taken meanwhile ([`Written::person_conflict`]): the transaction must be
    /// rolled back and the lead captured and routed again with [`Savepoint::Always`].
    Again,
}

/// Whether a cap limits the partner (only then does routing need its row lock).
const fn capped(p: &Partner) -> bool {
    p.daily_cap.is_some() || p.monthly_cap.is_some()
}

/// A lead being routed.
struct Unrouted {
    lead: Lead,
    /// Whether its row is written (a queued lead, or one captured earlier); a lead captured
    /// in the routing's own transaction is written with its routing.
    stored: bool,
    /// The lead's new person, when it is written with the routing too (Postgres).
    person: Option<Person>,
}

#[derive(Clone, Copy)]
struct Choice {
    strategy: RoutingStrategy,
    rr_last: Option<PartnerId>,
    savepoint: Savepoint,
    /// How many partners.
    want: usize,
}

impl SqlStore {
    /// Routes the org's queued leads (and, with `new_before`, its `new` leads captured before
    /// it), oldest first, one transaction per lead; see [`RoutingRepo::route_pending_leads`](workos_core::repo::RoutingRepo::route_pending_leads).
    pub(super) async fn route_pending_in(
        &self,
        ctx: &TenantContext,
        now: DateTime<Utc>,
        new_before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<RoutedLead>> {
        ctx.authorize(Access::WriteCrm)?;
        let at = to_storage_precision(now);
        let new_before = new_before.map(to_storage_precision);
        let skip_locked = if is_postgres(self) {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        // Past each lead tried, so one that stays queued is not picked again in this call.
        let mut cursor: Option<(Timestamp, Uuid)> = None;
        let mut out = Vec::new();
        for _ in 0..limit.min(1000) {
            let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
            let mut sql =
                Sql::new("SELECT id, created_at FROM leads WHERE deleted_at IS NULL AND org_id = ");
            sql.bind(ctx.org_id());
            match new_before {
                Some(t) => sql
                    .push(" AND (status = 'queued' OR (status = 'new' AND created_at < ")
                    .bind(t)
                    .push("))"),
                None => sql.push(" AND status = 'queued'"),
            };
            if let Some((created, id)) = cursor {
                sql.push(" AND (created_at > ")
                    .bind(created)
                    .push(" OR (created_at = ")
                    .bind(created)
                    .push(" AND id > ")
                    .bind(id)
                    .push("))");
            }
            sql.push(" ORDER BY created_at, id LIMIT 1")
                .push(skip_locked);
            let next: Option<(Uuid, Timestamp)> = tx.fetch_sql(sql).await?.into_iter().next();
            let Some((id, created)) = next else {
                break;
            };
            cursor = Some((created, id));
            let routed = self
                .route_in(&mut tx, ctx, LeadId::from_uuid(id), at)
                .await?;
            tx.commit().await?;
            out.push(routed);
        }
        Ok(out)
    }

    /// [`RoutingRepo::capture_and_route_lead`](workos_core::repo::RoutingRepo::capture_and_route_lead) in one transaction (`new` validated), committed
    /// unless the routing must start again.
    pub(super) async fn capture_and_route_in_tx(
        &self,
        ctx: &TenantContext,
        new: NewLead,
        at: Timestamp,
        savepoint: Savepoint,
    ) -> Result<Routing> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let (stored, locked) = settings_locking_contacts(&mut tx, ctx, &new).await?;
        // The first try writes a new person with the routing; a try again (after a refused
        // slot or a person written meanwhile) writes it at once, falling back on that person.
        let defer_person = savepoint == Savepoint::WhenTight;
        let decided = decide_capture(
            &mut tx,
            ctx,
            new,
            (&stored.settings.dedupe, locked),
            (at, defer_person),
        )
        .await?;
        let captured = decided.captured;
        let routing = if captured.is_duplicate() {
            insert_captured(&mut tx, ctx, &captured.lead).await?;
            Routing::Done(Box::new(RoutedLead {
                lead: captured.lead,
                deliveries: Vec::new(),
            }))
        } else {
            // The lead is written once, with its routing and final status.
            emit_created(&mut tx, ctx, &captured.lead).await?;
            let lead = Unrouted {
                lead: captured.lead,
                stored: false,
                person: decided.unwritten_person,
            };
            self.route_fetched(&mut tx, ctx, (lead, Some(stored)), at, savepoint)
                .await?
        };
        // `Again`: dropping the transaction rolls it back.
        if let Routing::Done(_) = routing {
            tx.commit().await?;
        }
        Ok(routing)
    }

    /// Chooses up to `choice.want` of `eligible` (their usage read without locks) and records
    /// the deliveries, the round-robin pointer and the lead's new status, cap-safely:
    ///
    /// The capped partners chosen each take a slot of their cap counters first
    /// ([`caps::take_slot`], in partner id order); then everything the routing writes goes in
    /// one statement ([`write_choice`]), which also appends the events and so advances the
    /// org's event stream head, just before the caller commits. The head, which every write of
    /// the org takes, is thus held only by that statement and the commit. (The slots are never
    /// taken in the write itself: a statement's `WITH` items lock rows in no set order, and the
    /// counters must come before the head; see `caps::take_slot`.) When one filled since it
    /// was read, the slots taken since the savepoint taken before them are rolled back, that
    /// partner is left out and the choice is made again; without a savepoint the routing
    /// answers [`Routing::Again`]. Routings to different partners wait for each other only at
    /// the org's stream head, and routings to the same one for each other's commit.
    async fn record_choice(
        &self,
        tx: &mut Tx,
        ctx: &TenantContext,
        (lead, stored): (Unrouted, &StoredSettings),
        eligible: Vec<(Partner, u32)>,
        (any_buyer, choice): (bool, Choice),
        at: Timestamp,
    ) -> Result<Routing> {
        let settings = &stored.settings;
        let rule = format!(
            "{}:{}",
            settings.strategy.as_str(),
            settings.distribution.as_str()
        );
        let mut full: Vec<PartnerId> = Vec::new();
        loop {
            let from: Vec<Partner> = eligible
                .iter()
                .map(|(p, _)| p)
                .filter(|p| !full.contains(&p.id))
                .cloned()
                .collect();
            let candidates: Vec<Candidate> = from.iter().map(Candidate::from).collect();
            let chosen: Vec<Partner> =
                select_partners(choice.strategy, &candidates, choice.rr_last, choice.want)
                    .into_iter()
                    .filter_map(|id| from.iter().find(|p| p.id == id).cloned())
                    .collect();
            let mut capped_chosen: Vec<&Partner> = chosen.iter().filter(|p| capped(p)).collect();
            let tight = || {
                capped_chosen.iter().any(|c| {
                    eligible
                        .iter()
                        .any(|(p, spare)| p.id == c.id && *spare <= SPARE_WITHOUT_SAVEPOINT)
                })
            };
            let savepoint =
                !capped_chosen.is_empty() && (choice.savepoint == Savepoint::Always || tight());
            if savepoint {
                tx.savepoint("routing_pick").await?;
            }
            // Counters are locked in partner id order, before the write (see `caps::take_slot`).
            capped_chosen.sort_by_key(|p| p.id);
            let mut filled = None;
            for partner in capped_chosen {
                if !caps::take_slot(tx, ctx, partner, lead.lead.id, at, true).await? {
                    filled = Some(partner.id);
                    break;
                }
            }
            match filled {
                None => {}
                Some(_) if !savepoint => return Ok(Routing::Again),
                Some(id) => {
                    tx.rollback_to_savepoint("routing_pick").await?;
                    full.push(id);
                    continue;
                }
            }
            let (routed, written) =
                Self::write_choice(tx, ctx, (&lead, stored), (&chosen, any_buyer), (&rule, at))
                    .await?;
            if written.person_conflict {
                return Ok(Routing::Again);
            }
            return Ok(Routing::Done(Box::new(routed)));
        }
    }

    /// Records the routing of `lead` to `chosen` (its deliveries, status and round-robin
    /// pointer) with its events, in one write ([`write_routing`]).
    async fn write_choice(
        tx: &mut Tx,
        ctx: &TenantContext,
        (lead, stored): (&Unrouted, &StoredSettings),
        (chosen, any_buyer): (&[Partner], bool),
        (rule, at): (&str, Timestamp),
    ) -> Result<(RoutedLead, Written)> {
        let settings = &stored.settings;
        let mut deliveries = Vec::with_capacity(chosen.len());
        for partner in chosen {
            let delivery = new_delivery(
                ctx,
                &lead.lead,
                partner,
                Some(rule.to_owned()),
                partner.price_minor,
                at,
            )?;
            emit_delivery(tx, ctx, &delivery).await?;
            deliveries.push(delivery);
        }
        let status = routed_status(chosen.len(), any_buyer, settings.when_full);
        let routed = if status == lead.lead.status {
            lead.lead.clone()
        } else {
            let routed = Lead {
                status,
                updated_at: at,
                ..lead.lead.clone()
            };
            emit(
                tx,
                ctx,
                types::LEAD_STATUS_CHANGED,
                LeadId::KIND,
                routed.id.as_uuid(),
                &routed,
            )
            .await?;
            routed
        };
        let pointer = match (settings.strategy, chosen.last(), &stored.row_key) {
            (RoutingStrategy::RoundRobin, Some(last), Some(key)) => Some((last.id, key.as_str())),
            _ => None,
        };
        let write = RoutingWrite {
            lead: &routed,
            stored: lead.stored.then_some(lead.lead.status),
            person: lead.person.as_ref(),
            deliveries: &deliveries,
            pointer,
        };
        let written = write_routing(tx, ctx, write).await?;
        Ok((
            RoutedLead {
                lead: routed,
                deliveries,
            },
            written,
        ))
    }

    /// Routes one lead inside `tx` (which holds at most the lead's own row lock); see
    /// [`RoutingRepo::route_lead`](workos_core::repo::RoutingRepo::route_lead).
    pub(super) async fn route_in(
        &self,
        tx: &mut Tx,
        ctx: &TenantContext,
        lead_id: LeadId,
        at: Timestamp,
    ) -> Result<RoutedLead> {
        let lead = fetch_lead(tx, ctx, lead_id, for_update(self)).await?;
        let lead = Unrouted {
            lead,
            stored: true,
            person: None,
        };
        match self
            .route_fetched(tx, ctx, (lead, None), at, Savepoint::Always)
            .await?
        {
            Routing::Done(routed) => Ok(*routed),
            Routing::Again => Err(Error::internal(
                "routing asked to start again despite its savepoint",
                std::io::Error::other("routing"),
            )),
        }
    }

    /// Routes `lead` (read in `tx` with its row lock, or captured in `tx` and not written
    /// yet), under `settings` when the caller has already read the settings for its vertical
    /// in `tx`.
    async fn route_fetched(
        &self,
        tx: &mut Tx,
        ctx: &TenantContext,
        (unrouted, settings): (Unrouted, Option<StoredSettings>),
        at: Timestamp,
        savepoint: Savepoint,
    ) -> Result<Routing> {
        let lock = for_update(self);
        let lead = &unrouted.lead;
        match lead.status {
            LeadStatus::Duplicate => {
                return Ok(Routing::Done(Box::new(RoutedLead {
                    lead: unrouted.lead,
                    deliveries: Vec::new(),
                })));
            }
            LeadStatus::New | LeadStatus::Queued => {}
            other => {
                return Err(Error::conflict(
                    "status",
                    format!("a {other} lead cannot be routed again"),
                ));
            }
        }
        // Only round robin writes the settings row (its pointer): only it locks the row.
        let mut stored = match settings {
            Some(s) => s,
            None => settings_in(tx, ctx, lead.vertical.as_deref(), "").await?,
        };
        if stored.settings.strategy == RoutingStrategy::RoundRobin
            && stored.row_key.is_some()
            && !lock.is_empty()
        {
            stored = settings_in(tx, ctx, lead.vertical.as_deref(), lock).await?;
        }
        let settings = &stored.settings;
        let shared = settings.distribution == Distribution::Shared;

        // Buyers by vertical and region (paused and closed ones too: they make queueing
        // worthwhile), less the partners the lead already went to; read without locks.
        let not_taken = format!(
            "SELECT {PARTNER_COLUMNS} FROM fulfillment_partners
             WHERE org_id = $1 AND deleted_at IS NULL
             AND id NOT IN (SELECT partner_id FROM lead_deliveries WHERE org_id = $1 AND lead_id = $2)"
        );
        let rows: Vec<PartnerRow> = if is_postgres(self) {
            // The vertical narrowed in SQL too (`partner_buys` below stays the rule): fewer
            // rows to read and decode. A lead without a vertical matches only partners buying
            // every vertical.
            let sql =
                format!("{not_taken} AND (verticals = '[]'::jsonb OR verticals ? $3) ORDER BY id");
            tx.fetch_all(&sql, args![ctx.org_id(), lead.id, lead.vertical.clone()])
                .await?
        } else {
            let sql = format!("{not_taken} ORDER BY id");
            tx.fetch_all(&sql, args![ctx.org_id(), lead.id]).await?
        };
        let mut any_buyer = false;
        let mut open = Vec::new();
        for row in rows {
            let partner = Partner::try_from(row)?;
            if !partner_buys(&partner, lead) || (shared && partner.exclusive) {
                continue;
            }
            any_buyer = true;
            if partner.active && partner_is_open(&partner, at) {
                open.push(partner);
            }
        }
        let eligible = with_room(tx, ctx, open, at).await?;

        let want = if shared {
            usize::try_from(settings.max_partners).unwrap_or(1)
        } else {
            1
        };
        let choice = Choice {
            strategy: settings.strategy,
            rr_last: stored.rr_last,
            savepoint,
            want,
        };
        self.record_choice(
            tx,
            ctx,
            (unrouted, &stored),
            eligible,
            (any_buyer, choice),
            at,
        )
        .await
    }
}
