//! Leads: capture with dedupe, person linking and first-touch attribution. Partners are in
//! `partners.rs`, deliveries in `lead_deliveries.rs`.
//!
//! The row decoders and the transaction-level helpers (`decide_capture`, `fetch_lead`,
//! `new_delivery` at the caller's clock, the lead insert) are shared with routing
//! (`routing.rs`), which composes them inside one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;
use workos_core::domain::{
    Attribution, Consent, DedupeField, DedupePolicy, DedupeScope, E164, EmailAddress, Lead,
    LeadFilter, LeadPatch, LeadStatus, NewLead, NewPerson, Person, Timestamp, to_storage_precision,
};
use workos_core::events::types;
use workos_core::ids::{LeadId, OrgId, PersonId};
use workos_core::page::{Page, PageRequest, SortField};
use workos_core::repo::{CapturedLead, LeadRepo};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::person::{emit_person_created, find_by_email_or_phone, insert_person, new_person};
use super::{and_range, corrupt, emit, emit_and_commit};
use crate::db::{Arg, SortExpr, Sql, Tx, args, now};
use crate::repos::fetch_sorted_page;
use crate::{Backend, SqlStore};

#[cfg(feature = "postgres")]
pub(super) mod postgres;

pub(crate) fn json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::internal("json", e))
}

pub(crate) const fn is_postgres(store: &SqlStore) -> bool {
    match &store.backend {
        #[cfg(feature = "postgres")]
        Backend::Postgres(_) => true,
        #[cfg(feature = "sqlite")]
        Backend::Sqlite(_) => false,
    }
}

/// The row-lock clause for a read that precedes a write of the same row: `FOR UPDATE` on
/// Postgres; nothing on SQLite, whose single writer already serialises write transactions.
pub(crate) const fn for_update(store: &SqlStore) -> &'static str {
    if is_postgres(store) {
        " FOR UPDATE"
    } else {
        ""
    }
}

/// Serialises captures that share an email or phone within the org: on Postgres a
/// transaction-scoped advisory lock per value (taken in a fixed order, so two captures cannot
/// deadlock); on SQLite the single writer already does.
#[cfg_attr(not(feature = "postgres"), expect(unused_variables))]
async fn lock_contacts(tx: &mut Tx, ctx: &TenantContext, new: &NewLead) -> Result<()> {
    #[cfg(feature = "postgres")]
    if let Some(pg) = tx.pg() {
        return postgres::lock_contacts(pg, ctx, new).await;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Leads

/// A `leads` row, in [`LEAD_COLUMNS`] order.
#[derive(sqlx::FromRow)]
pub(crate) struct LeadRow {
    id: Uuid,
    org_id: Uuid,
    person_id: Option<Uuid>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    postal_code: Option<String>,
    region: Option<String>,
    country: Option<String>,
    vertical: Option<String>,
    answers: Json<serde_json::Value>,
    consent: Option<Json<Consent>>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    utm_term: Option<String>,
    utm_content: Option<String>,
    gclid: Option<String>,
    fbclid: Option<String>,
    landing_page: Option<String>,
    referrer: Option<String>,
    first_touch: Option<Json<Attribution>>,
    status: String,
    duplicate_of: Option<Uuid>,
    notes: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<LeadRow> for Lead {
    type Error = Error;

    fn try_from(r: LeadRow) -> Result<Self> {
        Ok(Self {
            id: LeadId::from_uuid(r.id),
            org_id: OrgId::from_uuid(r.org_id),
            person_id: r.person_id.map(PersonId::from_uuid),
            first_name: r.first_name,
            last_name: r.last_name,
            email: r
                .email
                .map(|e| EmailAddress::parse(&e).map_err(|e| corrupt("lead email", e)))
                .transpose()?,
            phone: r
                .phone
                .map(|p| E164::parse(&p).map_err(|e| corrupt("lead phone", e)))
                .transpose()?,
            postal_code: r.postal_code,
            region: r.region,
            country: r.country,
            vertical: r.vertical,
            answers: r.answers.0,
            consent: r.consent.map(|c| c.0),
            utm_source: r.utm_source,
            utm_medium: r.utm_medium,
            utm_campaign: r.utm_campaign,
            utm_term: r.utm_term,
            utm_content: r.utm_content,
            gclid: r.gclid,
            fbclid: r.fbclid,
            landing_page: r.landing_page,
            referrer: r.referrer,
            first_touch: r.first_touch.map(|t| t.0),
            status: r.status.parse().map_err(|e| corrupt("lead status", e))?,
            duplicate_of: r.duplicate_of.map(LeadId::from_uuid),
            notes: r.notes,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The columns [`LeadRow`] reads.
pub(crate) const LEAD_COLUMNS: &str = "id, org_id, person_id, first_name, last_name, email, phone, postal_code, region, \
     country, vertical, answers, consent, utm_source, utm_medium, utm_campaign, utm_term, utm_content, gclid, \
     fbclid, landing_page, referrer, first_touch, status, duplicate_of, notes, created_at, updated_at";

/// A live lead of the org; `lock` is a row-lock clause (`FOR UPDATE` on Postgres) when the
/// caller will change it.
pub(crate) async fn fetch_lead(
    tx: &mut Tx,
    ctx: &TenantContext,
    id: LeadId,
    lock: &str,
) -> Result<Lead> {
    let sql = format!(
        "SELECT {LEAD_COLUMNS} FROM leads WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL{lock}"
    );
    let row: Option<LeadRow> = tx.fetch_optional(&sql, args![ctx.org_id(), id]).await?;
    row.ok_or_else(|| Error::not_found(LeadId::KIND))?
        .try_into()
}

/// Inserts a lead row. NULLIF keeps an absent consent or first touch SQL NULL rather than
/// JSON `null`. Placeholders `$1`…`$27` are [`lead_args`].
pub(crate) const INSERT_LEAD: &str = "INSERT INTO leads (id, org_id, person_id, first_name, last_name, email, \
     phone, postal_code, region, country, vertical, answers, consent, utm_source, utm_medium, utm_campaign, \
     utm_term, utm_content, gclid, fbclid, landing_page, referrer, first_touch, status, duplicate_of, created_at, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULLIF($13, 'null'), $14, $15, $16, \
     $17, $18, $19, $20, $21, $22, NULLIF($23, 'null'), $24, $25, $26, $27)";

/// The arguments of [`INSERT_LEAD`].
pub(crate) fn lead_args(l: &Lead) -> Result<Vec<Arg>> {
    Ok(args![
        l.id,
        l.org_id,
        l.person_id,
        l.first_name.clone(),
        l.last_name.clone(),
        l.email.as_ref().map(AsRef::<str>::as_ref),
        l.phone.as_ref().map(AsRef::<str>::as_ref),
        l.postal_code.clone(),
        l.region.clone(),
        l.country.clone(),
        l.vertical.clone(),
        l.answers.clone(),
        json(&l.consent)?,
        l.utm_source.clone(),
        l.utm_medium.clone(),
        l.utm_campaign.clone(),
        l.utm_term.clone(),
        l.utm_content.clone(),
        l.gclid.clone(),
        l.fbclid.clone(),
        l.landing_page.clone(),
        l.referrer.clone(),
        json(&l.first_touch)?,
        l.status.as_str(),
        l.duplicate_of,
        l.created_at,
        l.updated_at,
    ])
}

pub(crate) async fn insert_lead(tx: &mut Tx, l: &Lead) -> Result<()> {
    tx.execute(INSERT_LEAD, lead_args(l)?).await?;
    Ok(())
}

/// What capture needs of the lead a new one repeats.
struct Original {
    id: LeadId,
    person_id: Option<PersonId>,
    first_touch: Option<Attribution>,
}

type OriginalRow = (Uuid, Option<Uuid>, Option<Json<Attribution>>);

/// The dedupe fields of `policy` that `new` carries (none when dedupe is off).
fn dedupe_fields(new: &NewLead, policy: &DedupePolicy) -> Vec<DedupeField> {
    if !policy.is_enabled() {
        return Vec::new();
    }
    DedupeField::ALL
        .iter()
        .copied()
        .filter(|f| policy.fields.contains(f))
        .filter(|f| match f {
            DedupeField::Email => new.email.is_some(),
            DedupeField::Phone => new.phone.is_some(),
            DedupeField::EmailPostalCode => new.email.is_some() && new.postal_code.is_some(),
        })
        .collect()
}

/// Appends to `sql` the query for the most recent live, non-duplicate lead that `new` repeats
/// on `fields` (from [`dedupe_fields`], not empty) within the policy's window: its id, person
/// and first touch.
fn push_duplicate_query(
    sql: &mut Sql,
    ctx: &TenantContext,
    new: &NewLead,
    (policy, fields): (&DedupePolicy, &[DedupeField]),
    at: Timestamp,
) {
    let email = new.email.as_ref().map(AsRef::<str>::as_ref);
    let phone = new.phone.as_ref().map(AsRef::<str>::as_ref);
    let since = at - chrono::Duration::days(i64::from(policy.window_days));
    sql.push(
        "SELECT id, person_id, first_touch FROM leads WHERE deleted_at IS NULL AND status <> 'duplicate' AND org_id = ",
    );
    sql.bind(ctx.org_id());
    // No upper bound: a lead committed by a concurrent capture whose clock read a moment later
    // (or on another server) must still count.
    sql.and("created_at", ">", Some(since));
    if policy.scope == DedupeScope::SameVertical {
        match &new.vertical {
            Some(v) => {
                sql.and("vertical", "=", Some(v.as_str()));
            }
            None => {
                sql.push(" AND vertical IS NULL");
            }
        }
    }
    for (i, field) in fields.iter().enumerate() {
        sql.push(if i > 0 { " OR " } else { " AND (" });
        match field {
            DedupeField::Email => {
                sql.push("email = ").bind(email);
            }
            DedupeField::Phone => {
                sql.push("phone = ").bind(phone);
            }
            DedupeField::EmailPostalCode => {
                sql.push("(email = ")
                    .bind(email)
                    .push(" AND postal_code = ")
                    .bind(new.postal_code.clone())
                    .push(")");
            }
        }
    }
    sql.push(") ORDER BY created_at DESC, id DESC LIMIT 1");
}

fn original_from((id, person_id, first_touch): OriginalRow) -> Original {
    Original {
        id: LeadId::from_uuid(id),
        person_id: person_id.map(PersonId::from_uuid),
        first_touch: first_touch.map(|t| t.0),
    }
}

/// The lead `new` repeats under `policy`, if any; else the live person holding its email
/// (else its phone), if any. On Postgres one statement (`postgres::duplicate_or_person`).
async fn duplicate_or_person(
    tx: &mut Tx,
    ctx: &TenantContext,
    new: &NewLead,
    policy: &DedupePolicy,
    at: Timestamp,
) -> Result<(Option<Original>, Option<PersonId>)> {
    let fields = dedupe_fields(new, policy);
    let email = new.email.as_ref().map(AsRef::<str>::as_ref);
    let phone = new.phone.as_ref().map(AsRef::<str>::as_ref);
    #[cfg(feature = "postgres")]
    if tx.pg_path().is_some() {
        return postgres::duplicate_or_person(tx, ctx, new, (policy, &fields), at).await;
    }
    if !fields.is_empty() {
        let mut sql = Sql::default();
        push_duplicate_query(&mut sql, ctx, new, (policy, &fields), at);
        if let Some(row) = tx.fetch_sql::<OriginalRow>(sql).await?.into_iter().next() {
            return Ok((Some(original_from(row)), None));
        }
    }
    Ok((None, find_by_email_or_phone(tx, ctx, email, phone).await?))
}

/// The person a new (non-duplicate) lead belongs to, created when there is none; and whether
/// it was created. With `defer` (Postgres only), a new person is not written but answered,
/// with its `person.created` recorded, for the caller to write with the lead
/// ([`crate::repos::person::new_person_ctes`]).
async fn link_person(
    tx: &mut Tx,
    ctx: &TenantContext,
    new: &NewLead,
    found: Option<PersonId>,
    defer: bool,
) -> Result<(PersonId, bool, Option<Person>)> {
    if let Some(id) = found {
        return Ok((id, false, None));
    }
    let person = NewPerson {
        first_name: new.first_name.clone(),
        last_name: new.last_name.clone(),
        email: new.email.clone(),
        phone: new.phone.clone(),
        ..NewPerson::default()
    };
    if defer && tx.fast_path() {
        person.validate()?;
        let person = new_person(ctx, person);
        emit_person_created(tx, ctx, &person).await?;
        return Ok((person.id, true, Some(person)));
    }
    match insert_person(tx, ctx, person).await {
        Ok(p) => Ok((p.id, true, None)),
        // Another transaction created a person with this email or phone first: use theirs.
        Err(Error::Conflict { .. }) => find_by_email_or_phone(
            tx,
            ctx,
            new.email.as_ref().map(AsRef::as_ref),
            new.phone.as_ref().map(AsRef::as_ref),
        )
        .await?
        .map(|id| (id, false, None))
        .ok_or_else(|| {
            Error::internal(
                "person conflict without a holder",
                std::io::Error::other("conflict"),
            )
        }),
        Err(e) => Err(e),
    }
}

/// The first touch of the person's earliest lead: `None` when the person has no lead,
/// `Some(None)` when that lead carried no attribution.
async fn persons_first_touch(
    tx: &mut Tx,
    ctx: &TenantContext,
    person_id: PersonId,
) -> Result<Option<Option<Attribution>>> {
    let row: Option<(Option<Json<Attribution>>,)> = tx
        .fetch_optional(
            "SELECT first_touch FROM leads WHERE org_id = $1 AND person_id = $2 AND deleted_at IS NULL
             ORDER BY created_at, id LIMIT 1",
            args![ctx.org_id(), person_id],
        )
        .await?;
    Ok(row.map(|(t,)| t.map(|t| t.0)))
}

/// Decides the capture of `new` (validated) at `at` inside `tx`, writing nothing of the lead
/// yet: deduplicated under `policy` (a duplicate comes back with status `duplicate`), linked
/// to its person (created when there is none), with its first touch. [`insert_captured`]
/// writes it; routing a fresh capture writes it together with its routing.
/// `contacts_locked`: `tx` already holds the locks of `postgres::contact_lock_keys`.
pub(crate) async fn decide_capture(
    tx: &mut Tx,
    ctx: &TenantContext,
    new: NewLead,
    (policy, contacts_locked): (&DedupePolicy, bool),
    (at, defer_person): (Timestamp, bool),
) -> Result<Decided> {
    if !contacts_locked {
        lock_contacts(tx, ctx, &new).await?;
    }
    let touch = new.touch();
    let mut unwritten = None;
    let (person_id, person_created, first_touch, status, duplicate_of) =
        match duplicate_or_person(tx, ctx, &new, policy, at).await? {
            (Some(original), _) => (
                original.person_id,
                false,
                original.first_touch,
                LeadStatus::Duplicate,
                Some(original.id),
            ),
            (None, found) => {
                let (person_id, created, person) =
                    link_person(tx, ctx, &new, found, defer_person).await?;
                unwritten = person;
                // A person created just now has no earlier lead to take the first touch from.
                let earlier = if created {
                    None
                } else {
                    persons_first_touch(tx, ctx, person_id).await?
                };
                let first_touch = match earlier {
                    Some(earlier) => earlier,
                    None => Some(touch.clone()).filter(|t| !t.is_empty()),
                };
                (Some(person_id), created, first_touch, LeadStatus::New, None)
            }
        };
    let lead = Lead {
        id: LeadId::new(),
        org_id: ctx.org_id(),
        person_id,
        first_name: new.first_name,
        last_name: new.last_name,
        email: new.email,
        phone: new.phone,
        postal_code: new.postal_code,
        region: new.region,
        country: new.country,
        vertical: new.vertical,
        answers: new.answers,
        consent: new.consent,
        utm_source: touch.utm_source,
        utm_medium: touch.utm_medium,
        utm_campaign: touch.utm_campaign,
        utm_term: touch.utm_term,
        utm_content: touch.utm_content,
        gclid: touch.gclid,
        fbclid: touch.fbclid,
        landing_page: touch.landing_page,
        referrer: touch.referrer,
        first_touch,
        status,
        duplicate_of,
        notes: None,
        created_at: at,
        updated_at: at,
    };
    Ok(Decided {
        captured: CapturedLead {
            lead,
            person_created,
        },
        unwritten_person: unwritten,
    })
}

/// A capture decided by [`decide_capture`], not written yet.
pub(crate) struct Decided {
    pub(crate) captured: CapturedLead,
    /// The lead's new person when it was left unwritten (`defer_person`, Postgres): the
    /// caller writes it with the lead.
    pub(crate) unwritten_person: Option<Person>,
}

/// Records `lead.created` for a lead captured in `tx` (its snapshot as captured).
pub(crate) async fn emit_created(tx: &mut Tx, ctx: &TenantContext, lead: &Lead) -> Result<()> {
    emit(
        tx,
        ctx,
        types::LEAD_CREATED,
        LeadId::KIND,
        lead.id.as_uuid(),
        lead,
    )
    .await
}

/// Writes a capture decided by [`decide_capture`], with its `lead.created`.
pub(crate) async fn insert_captured(tx: &mut Tx, ctx: &TenantContext, lead: &Lead) -> Result<()> {
    insert_lead(tx, lead).await?;
    emit_created(tx, ctx, lead).await
}

/// The keys of `sort` on leads (`created_at` is id order); `workos_core::page::Sortable` for
/// `Lead` computes the same keys.
const LEAD_SORTS: &[(SortField, SortExpr)] =
    &[(SortField::UpdatedAt, SortExpr::Time("updated_at"))];

#[async_trait]
impl LeadRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn capture_lead(
        &self,
        ctx: &TenantContext,
        mut new: NewLead,
        policy: &DedupePolicy,
        now: DateTime<Utc>,
    ) -> Result<CapturedLead> {
        new.validate()?;
        policy.validate()?;
        let at = to_storage_precision(now);
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let captured = decide_capture(&mut tx, ctx, new, (policy, false), (at, false))
            .await?
            .captured;
        insert_captured(&mut tx, ctx, &captured.lead).await?;
        tx.commit().await?;
        Ok(captured)
    }

    async fn get_lead(&self, ctx: &TenantContext, id: LeadId) -> Result<Lead> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        fetch_lead(&mut tx, ctx, id, "").await
    }

    async fn list_leads(
        &self,
        ctx: &TenantContext,
        filter: LeadFilter,
        page: PageRequest,
    ) -> Result<Page<Lead>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = Sql::new(&format!(
            "SELECT {LEAD_COLUMNS} FROM leads l WHERE deleted_at IS NULL AND org_id = "
        ));
        sql.bind(ctx.org_id());
        sql.and("status", "=", filter.status.map(LeadStatus::as_str));
        sql.and("utm_source", "=", filter.utm_source);
        sql.and("utm_campaign", "=", filter.utm_campaign);
        if let Some(partner_id) = filter.partner_id {
            sql.push(
                " AND id IN (SELECT d.lead_id FROM lead_deliveries d WHERE d.org_id = l.org_id AND d.partner_id = ",
            )
            .bind(partner_id)
            .push(")");
        }
        and_range(&mut sql, "created_at", filter.created);
        fetch_sorted_page::<LeadRow, Lead>(&mut tx, sql, LEAD_SORTS, &page).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn set_lead_status(
        &self,
        ctx: &TenantContext,
        id: LeadId,
        status: LeadStatus,
    ) -> Result<Lead> {
        let patch = LeadPatch {
            status: Some(status),
            ..LeadPatch::default()
        };
        self.update_lead(ctx, id, patch).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn update_lead(&self, ctx: &TenantContext, id: LeadId, patch: LeadPatch) -> Result<Lead> {
        patch.validate()?;
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let current = fetch_lead(&mut tx, ctx, id, for_update(self)).await?;
        let status = patch.status.unwrap_or(current.status);
        let notes = patch.notes.apply(current.notes.clone());
        if status == current.status && notes == current.notes {
            return Ok(current);
        }
        let updated = Lead {
            status,
            notes,
            updated_at: now(),
            ..current.clone()
        };
        tx.execute(
            "UPDATE leads SET status = $1, notes = $2, updated_at = $3 WHERE org_id = $4 AND id = $5",
            args![
                status.as_str(),
                updated.notes.clone(),
                updated.updated_at,
                ctx.org_id(),
                id
            ],
        )
        .await?;
        // A status change keeps its own event (what routing and webhooks already follow); a
        // notes change is an ordinary update.
        if status != current.status {
            emit(
                &mut tx,
                ctx,
                types::LEAD_STATUS_CHANGED,
                LeadId::KIND,
                id.as_uuid(),
                &updated,
            )
            .await?;
        }
        if updated.notes != current.notes {
            emit(
                &mut tx,
                ctx,
                types::LEAD_UPDATED,
                LeadId::KIND,
                id.as_uuid(),
                &updated,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn delete_lead(&self, ctx: &TenantContext, id: LeadId) -> Result<()> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let lead = fetch_lead(&mut tx, ctx, id, for_update(self)).await?;
        tx.execute(
            "UPDATE leads SET deleted_at = $1 WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL",
            args![now(), ctx.org_id(), id],
        )
        .await?;
        emit_and_commit(tx, ctx, types::LEAD_DELETED, id, &lead).await
    }
}
