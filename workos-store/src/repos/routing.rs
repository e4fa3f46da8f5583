//! Lead routing (cap-safe routing, partner callbacks, reporting). The settings it reads are in
//! `routing_settings.rs`, the public lead forms in `lead_forms.rs`.
//!
//! `route_lead` composes, in one transaction: the lead's row lock, the settings (locked only
//! for round robin, whose pointer it moves), the buying partners read without locks with their
//! cap usage from the counters (`caps::usage`), the choice, the deliveries and the lead's
//! status, and last the capped partners' cap slots (`caps::take_slot`, in
//! `SqlStore::record_choice`): routings that could take the same cap slot queue on the same
//! counter row only for the commit of the one ahead, so caps hold under any concurrency, while
//! routings to different partners do not wait for each other. The queued-lead job
//! (`route_pending_leads`) picks each lead with `FOR UPDATE SKIP LOCKED` and routes it in that
//! same transaction.
//!
//! `capture_and_route_lead` decides the capture first (dedupe, person) and writes the lead only
//! with its routing, with its final status: on Postgres the lead, its deliveries and the
//! transaction's events are one statement, and the lead row is never updated after its insert.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;
use workos_core::domain::{
    Candidate, DeliveryCallback, DeliveryCounts, Distribution, Lead, LeadDelivery,
    LeadDeliveryStatus, LeadStatus, LeadSummary, NewLead, Partner, PartnerSummary, Person,
    ReturnReason, RoutedLead, RoutingSettings, RoutingSettingsInput, RoutingStrategy,
    SourceSummary, TimeRange, Timestamp, has_room, lead_status_from_deliveries, normalize_vertical,
    partner_buys, partner_is_open, routed_status, select_partners, to_storage_precision,
    validate_range, within_return_window,
};
use workos_core::events::types;
use workos_core::ids::{LeadDeliveryId, LeadId, OrgId, PartnerId};
use workos_core::repo::RoutingRepo;
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

#[cfg(feature = "postgres")]
use super::lead_deliveries::already_routed;
use super::lead_deliveries::{emit_delivery, fetch_delivery, new_delivery, write_delivery};
#[cfg(feature = "postgres")]
use super::leads::{INSERT_LEAD, lead_args};
use super::leads::{
    decide_capture, emit_created, fetch_lead, for_update, insert_captured, insert_lead,
    is_postgres, json,
};
use super::partners::{PARTNER_COLUMNS, PartnerRow, fetch_partner};
use super::routing_settings::{StoredSettings, settings_in, settings_locking_contacts};
use super::{and_range, caps, corrupt, emit};
use crate::SqlStore;
#[cfg(feature = "postgres")]
use crate::db::PgArgs;
use crate::db::{Sql, Tx, args, now};

// ---------------------------------------------------------------------------------------------
// Lead status

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

// ---------------------------------------------------------------------------------------------
// Routing

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

/// When routing takes a savepoint before writing, to choose again if a cap slot is refused.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Savepoint {
    /// Whenever a capped partner is chosen.
    Always,
    /// Only when a capped partner chosen has at most [`SPARE_WITHOUT_SAVEPOINT`] spare slots;
    /// a slot refused without one answers [`Routing::Again`].
    WhenTight,
}

/// How a routing ended.
enum Routing {
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

/// What a routing writes.
struct RoutingWrite<'a> {
    /// The lead as routed.
    lead: &'a Lead,
    /// The stored lead's status before routing; `None` when the lead is not written yet.
    stored: Option<LeadStatus>,
    /// The lead's new person, to write first (Postgres only).
    person: Option<&'a Person>,
    deliveries: &'a [LeadDelivery],
    /// Round robin's new pointer, and the settings row that keeps it.
    pointer: Option<(PartnerId, &'a str)>,
}

/// What [`write_routing`] did besides the writes it was asked for.
#[derive(Default)]
struct Written {
    /// A contact of [`RoutingWrite::person`] turned out to be another person's (written since
    /// capture looked): the transaction must start again, and will find that person.
    person_conflict: bool,
}

/// Writes a routing: the lead's new person, the lead (inserted with its final status, or its
/// status updated), its deliveries, the round-robin pointer and the slot of the partner named,
/// with the events recorded so far. On Postgres one statement (with the transaction's events
/// and notification); on SQLite a statement per row.
async fn write_routing(tx: &mut Tx, ctx: &TenantContext, w: RoutingWrite<'_>) -> Result<Written> {
    let status_changed = w.stored.is_some_and(|before| before != w.lead.status);
    #[cfg(feature = "postgres")]
    if tx.fast_path() {
        let mut ctes = Vec::new();
        let mut args = PgArgs::default();
        let mut contacts = None;
        if let Some(person) = w.person {
            let (items, written) = super::person::new_person_ctes(&mut args, person)?;
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
            contacts.is_some_and(|c| super::person::contact_conflict(c, &taken).is_some());
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

/// How routing chooses among the eligible partners.
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
    /// it), oldest first, one transaction per lead; see [`RoutingRepo::route_pending_leads`].
    async fn route_pending_in(
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

    /// [`RoutingRepo::capture_and_route_lead`] in one transaction (`new` validated), committed
    /// unless the routing must start again.
    async fn capture_and_route_in_tx(
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
    /// Everything the routing writes goes in one statement ([`write_choice`]); then the capped
    /// partners chosen each take a slot of their cap counters ([`caps::take_slot`], in partner
    /// id order) just before the caller commits, so a counter row stays locked only for the
    /// slot's statement and the commit. (The slots are never taken in the write itself: a
    /// statement's `WITH` items lock rows in no set order, and the counters must come last,
    /// after the org's event stream head the write advances; see `caps::take_slot`.) When one filled since it was read, everything since
    /// the savepoint taken before the write is rolled back, that partner is left out and the
    /// choice is made again; without a savepoint the routing answers [`Routing::Again`].
    /// Nothing else is locked, so routings to different partners never wait for each other,
    /// and routings to the same one wait only for each other's commit.
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
            // Counters are locked in partner id order, last (see `caps::take_slot`).
            capped_chosen.sort_by_key(|p| p.id);
            let (routed, written) =
                Self::write_choice(tx, ctx, (&lead, stored), (&chosen, any_buyer), (&rule, at))
                    .await?;
            if written.person_conflict {
                return Ok(Routing::Again);
            }
            let mut filled = None;
            for partner in capped_chosen {
                if !caps::take_slot(tx, ctx, partner, lead.lead.id, at, true).await? {
                    filled = Some(partner.id);
                    break;
                }
            }
            match filled {
                None => return Ok(Routing::Done(Box::new(routed))),
                Some(_) if !savepoint => return Ok(Routing::Again),
                Some(id) => {
                    tx.rollback_to_savepoint("routing_pick").await?;
                    full.push(id);
                }
            }
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
    /// [`RoutingRepo::route_lead`].
    async fn route_in(
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
            // Last: counters are locked after everything else (see `caps::take_slot`).
            let partner = fetch_partner(&mut tx, ctx, current.partner_id, "").await?;
            caps::release(&mut tx, ctx, &partner, &current).await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    async fn lead_summary(&self, ctx: &TenantContext, range: TimeRange) -> Result<LeadSummary> {
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
