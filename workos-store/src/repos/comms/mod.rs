//! SMS and calls: provider-idempotent records that resolve the person by phone, add a timeline
//! entry and emit their event in one transaction.

use async_trait::async_trait;
use uuid::Uuid;
use workos_core::domain::{
    Call, CallProgress, CallRecording, CallTranscription, CommsFilter, Direction, E164,
    Interaction, InteractionKind, NewCall, NewInteraction, NewPerson, NewSms, Sms, Timestamp,
    UnfinishedCall, UnknownSender, sms_status_advances,
};
use workos_core::events::{DomainEvent, types};
use workos_core::ids::{CallId, InteractionId, PersonId, PhoneId, SmsId};
use workos_core::page::{Page, PageRequest};
use workos_core::repo::{CommsRepo, Recorded};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use super::emit_and_commit;
use super::person::{find_by_contact, insert_person};
use crate::SqlStore;
use crate::db::{Arg, Tx, args, now};
use crate::repos::fetch_page;

mod call_updates;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;

pub(crate) use rows::{CALL_COLUMNS, CallRow, SMS_COLUMNS, SmsRow};

/// Twilio's limit for one message body.
const MAX_BODY_CHARS: usize = 1600;

async fn sms_where(
    tx: &mut Tx,
    ctx: &TenantContext,
    column: &str,
    value: crate::db::Arg,
) -> Result<Option<Sms>> {
    let sql = format!(
        "SELECT {SMS_COLUMNS} FROM sms s WHERE s.org_id = $1 AND s.{column} = $2 AND s.deleted_at IS NULL"
    );
    let row: Option<SmsRow> = tx
        .fetch_optional(&sql, vec![ctx.org_id().into(), value])
        .await?;
    row.map(Sms::try_from).transpose()
}

pub(super) async fn call_where(
    tx: &mut Tx,
    ctx: &TenantContext,
    column: &str,
    value: crate::db::Arg,
) -> Result<Option<Call>> {
    let sql = format!(
        "SELECT {CALL_COLUMNS} FROM calls c WHERE c.org_id = $1 AND c.{column} = $2 AND c.deleted_at IS NULL"
    );
    let row: Option<CallRow> = tx
        .fetch_optional(&sql, vec![ctx.org_id().into(), value])
        .await?;
    row.map(Call::try_from).transpose()
}

/// The person on the other end of a conversation: found by any of their phones, or created
/// when the policy says so and the number is a real phone number.
async fn counterpart(
    tx: &mut Tx,
    ctx: &TenantContext,
    number: &str,
    known: Option<PersonId>,
    policy: UnknownSender,
) -> Result<Option<PersonId>> {
    if let Some(id) = known {
        return Ok(Some(id));
    }
    let Ok(phone) = E164::parse(number) else {
        return Ok(None);
    };
    if let Some(id) = find_by_contact(tx, ctx, "phone", phone.as_ref()).await? {
        return Ok(Some(id));
    }
    if policy == UnknownSender::StoreUnmatched {
        return Ok(None);
    }
    new_counterpart(tx, ctx, phone).await
}

/// A new person with `phone`, whom no person had when last looked up; when another
/// transaction created one first, theirs.
async fn new_counterpart(
    tx: &mut Tx,
    ctx: &TenantContext,
    phone: E164,
) -> Result<Option<PersonId>> {
    let new = NewPerson {
        phone: Some(phone.clone()),
        ..NewPerson::default()
    };
    match insert_person(tx, ctx, new).await {
        Ok(person) => Ok(Some(person.id)),
        Err(Error::Conflict { .. }) => find_by_contact(tx, ctx, "phone", phone.as_ref()).await,
        Err(e) => Err(e),
    }
}

/// The columns of a new interaction, in the order of [`interaction_args`] (the person and the
/// link to the record follow them).
const INTERACTION_INSERT_COLUMNS: &str =
    "kind, occurred_at, summary, body, company_id, deal_id, updated_at, org_id, id, created_at";

fn interaction_args(i: &Interaction) -> Vec<Arg> {
    args![
        i.kind.as_str(),
        i.occurred_at,
        i.summary.as_str(),
        i.body.clone(),
        i.company_id,
        i.deal_id,
        i.updated_at,
        i.org_id,
        i.id,
        i.created_at,
    ]
}

/// `$from, …, $(from + n - 1)`.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A new message or call: its row, and what goes with it. The person on the other end is not
/// in it: [`insert_record`] links them (row, timeline entry and both event snapshots).
#[derive(Clone)]
struct NewRecord {
    /// `sms` or `calls`.
    table: &'static str,
    /// The row's columns (the first is `id`, the second `org_id`; no `person_id`), and their
    /// values.
    columns: &'static str,
    values: Vec<Arg>,
    /// The org's number it went through, which must still be the org's.
    phone_id: Option<PhoneId>,
    /// The interactions column that links the timeline entry to the row.
    link: &'static str,
    /// The timeline entry.
    interaction: Interaction,
    /// `interaction.created`, then the record's own event.
    events: [DomainEvent; 2],
}

/// Who a new record is linked to.
#[derive(Clone, Copy)]
enum Link<'a> {
    /// Decided before the write: the person named, found or created, or nobody.
    Person(Option<PersonId>),
    /// Whoever has this phone, looked up by the write statement itself (Postgres). When nobody
    /// has it, the record is written unlinked if `unmatched`, else nothing is written.
    #[cfg_attr(not(feature = "postgres"), expect(dead_code))]
    ByPhone { phone: &'a str, unmatched: bool },
}

/// What [`insert_record`] did.
enum Written {
    /// The record is new, linked to this person.
    New(Option<PersonId>),
    /// Its provider id is stored already (a retry): nothing was written.
    Duplicate,
    /// [`Link::ByPhone`] found nobody and the record may not be unlinked: nothing was written.
    NoPerson,
}

/// Inserts the row unless its provider SID is stored already (`ON CONFLICT DO NOTHING`, so
/// concurrent duplicates make one row) and, when it was new, its linked interaction and both
/// events, all linked to the person `link` names. On Postgres that is one statement
/// (data-modifying CTEs, the sender lookup and the wake-up included); on SQLite, in process,
/// the statements run in turn. Fails with [`Error::NotFound`] (`phone`) when the record's
/// number is no longer the org's (it was released meanwhile).
async fn insert_record(
    tx: &mut Tx,
    ctx: &TenantContext,
    r: NewRecord,
    link: Link<'_>,
) -> Result<Written> {
    #[cfg(feature = "postgres")]
    if tx.fast_path() {
        return postgres::insert_record(tx, ctx, r, link).await;
    }
    let Link::Person(person) = link else {
        return Ok(Written::NoPerson);
    };
    if let Some(phone) = r.phone_id {
        let found: Option<(i32,)> = tx
            .fetch_optional(
                "SELECT 1 FROM phones WHERE org_id = $1 AND id = $2",
                args![ctx.org_id(), phone],
            )
            .await?;
        if found.is_none() {
            return Err(Error::not_found(PhoneId::KIND));
        }
    }
    let record_id = r.values.first().cloned();
    let mut values = r.values;
    values.push(person.into());
    let sql = format!(
        "INSERT INTO {} ({}, person_id) VALUES ({}) ON CONFLICT DO NOTHING",
        r.table,
        r.columns,
        placeholders(1, values.len())
    );
    if tx.execute(&sql, values).await? == 0 {
        return Ok(Written::Duplicate);
    }
    let mut values = interaction_args(&r.interaction);
    values.push(person.into());
    values.extend(record_id);
    let sql = format!(
        "INSERT INTO interactions ({INTERACTION_INSERT_COLUMNS}, person_id, {}) VALUES ({})",
        r.link,
        placeholders(1, values.len())
    );
    tx.execute(&sql, values).await?;
    for mut event in r.events {
        set_person(&mut event.data, person);
        tx.record(&event).await?;
    }
    Ok(Written::New(person))
}

/// Sets `person_id` of an entity snapshot.
fn set_person(data: &mut serde_json::Value, person: Option<PersonId>) {
    if let Some(fields) = data.as_object_mut() {
        fields.insert("person_id".to_owned(), serde_json::json!(person));
    }
}

/// Writes `r` linked to the person on the other end (`number`): the one the caller named, else
/// whoever has the number, else one created for it when `policy` says so. On Postgres a known
/// sender costs no statement of its own: the write finds them; only a new one is created first.
/// Never [`Written::NoPerson`].
async fn write_linked(
    tx: &mut Tx,
    ctx: &TenantContext,
    r: NewRecord,
    number: &str,
    known: Option<PersonId>,
    policy: UnknownSender,
) -> Result<Written> {
    check_known_person(tx, ctx, known).await?;
    #[cfg(feature = "postgres")]
    if tx.fast_path()
        && known.is_none()
        && let Ok(phone) = E164::parse(number)
    {
        return postgres::write_by_phone(tx, ctx, r, phone, policy).await;
    }
    let person = counterpart(tx, ctx, number, known, policy).await?;
    decided(tx, ctx, r, person).await
}

/// [`insert_record`] with the person decided.
async fn decided(
    tx: &mut Tx,
    ctx: &TenantContext,
    r: NewRecord,
    person: Option<PersonId>,
) -> Result<Written> {
    match insert_record(tx, ctx, r, Link::Person(person)).await? {
        // A decided link is always written (or found a duplicate).
        Written::NoPerson => Err(Error::internal(
            "a record with a decided person was not written",
            std::io::Error::other("no person"),
        )),
        written => Ok(written),
    }
}

/// The timeline entry of a new message or call, and its `interaction.created` event; `link`
/// names the record in it (`sms_id` or `call_id`).
fn timeline_entry(
    ctx: &TenantContext,
    kind: InteractionKind,
    summary: String,
    occurred_at: Timestamp,
    link: impl FnOnce(&mut Interaction),
) -> Result<(Interaction, DomainEvent)> {
    let new = NewInteraction {
        kind,
        occurred_at,
        summary,
        body: None,
        person_id: None,
        company_id: None,
        deal_id: None,
    };
    new.validate()?;
    let mut interaction = super::crm::interaction_from(InteractionId::new(), ctx, new, occurred_at);
    interaction.updated_at = occurred_at;
    link(&mut interaction);
    let event = event(
        ctx,
        types::INTERACTION_CREATED,
        InteractionId::KIND,
        interaction.id.as_uuid(),
        &interaction,
    )?;
    Ok((interaction, event))
}

fn event<T: serde::Serialize>(
    ctx: &TenantContext,
    event_type: &str,
    kind: &str,
    id: Uuid,
    entity: &T,
) -> Result<DomainEvent> {
    let data =
        serde_json::to_value(entity).map_err(|e| Error::internal("cannot snapshot entity", e))?;
    Ok(DomainEvent::in_context(ctx, event_type, kind, id, data))
}

/// The person a caller named must be a live person of the org; one found by phone is.
async fn check_known_person(
    tx: &mut Tx,
    ctx: &TenantContext,
    known: Option<PersonId>,
) -> Result<()> {
    super::ensure_ref(tx, ctx, "people", "person_id", known.map(|p| p.as_uuid())).await
}

fn summary(prefix: &str, text: &str) -> String {
    let mut s: String = format!("{prefix}{text}").chars().take(200).collect();
    if s.is_empty() {
        s = prefix.trim().to_owned();
    }
    s
}

/// One org's live messages of `$table` (aliased `$a`: SMS, calls, emails) narrowed by the
/// filters they share (person, direction, when it occurred), as [`Sql`]; each list adds its own
/// conditions and the page. A macro so that the aliased column names stay `'static`.
macro_rules! live_messages {
    ($columns:expr, $table:literal $a:literal, $org:expr, $person:expr, $direction:expr, $occurred:expr) => {{
        let mut sql = $crate::db::Sql::tenant(
            &format!(concat!("SELECT {} FROM ", $table, " ", $a), $columns),
            concat!($a, ".org_id"),
            $org,
        );
        sql.push(concat!(" AND ", $a, ".deleted_at IS NULL"))
            .and(concat!($a, ".person_id"), "=", $person)
            .and(
                concat!($a, ".direction"),
                "=",
                $direction.map(workos_core::domain::Direction::as_str),
            );
        $crate::repos::and_range(&mut sql, concat!($a, ".occurred_at"), $occurred);
        sql
    }};
}
pub(crate) use live_messages;

/// What a provider retry (an id already stored) records: the stored record, not created. A
/// conflict without a stored row is an internal error named by `what`.
fn retried<T>(existing: Option<T>, what: &str) -> Result<Recorded<T>> {
    existing
        .map(|record| Recorded {
            record,
            created: false,
        })
        .ok_or_else(|| Error::internal(what, std::io::Error::other("conflict")))
}

/// Commits a new record's writes and answers it as created.
async fn committed<T>(tx: Tx, record: T) -> Result<Recorded<T>> {
    tx.commit().await?;
    Ok(Recorded {
        record,
        created: true,
    })
}

#[async_trait]
impl CommsRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), message_sid = ?new.message_sid))]
    async fn record_sms(&self, ctx: &TenantContext, new: NewSms) -> Result<Recorded<Sms>> {
        if new.body.chars().count() > MAX_BODY_CHARS {
            return Err(Error::invalid(
                "body",
                format!("must be at most {MAX_BODY_CHARS} characters"),
            ));
        }
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let t = now();
        let other_end = match new.direction {
            Direction::Inbound => new.from.clone(),
            Direction::Outbound => new.to.clone(),
        };
        let (prefix, event_type) = match new.direction {
            Direction::Inbound => ("SMS from ", types::SMS_RECEIVED),
            Direction::Outbound => ("SMS to ", types::SMS_SENT),
        };
        let text = format!("{other_end}: {}", new.body);
        // The person is linked by the write (row, timeline entry and snapshots).
        let id = SmsId::new();
        let (interaction, created) =
            timeline_entry(ctx, InteractionKind::Sms, summary(prefix, &text), t, |i| {
                i.sms_id = Some(id);
            })?;
        let mut sms = Sms {
            id,
            org_id: ctx.org_id(),
            phone_id: new.phone_id,
            message_sid: new.message_sid,
            direction: new.direction,
            from: new.from,
            to: new.to,
            body: new.body,
            media: new.media,
            status: new.status,
            error_code: None,
            person_id: None,
            interaction_id: Some(interaction.id),
            occurred_at: t,
            created_at: t,
            updated_at: t,
        };
        let own = event(ctx, event_type, SmsId::KIND, sms.id.as_uuid(), &sms)?;
        let record = NewRecord {
            table: "sms",
            columns: "id, org_id, phone_id, message_sid, direction, from_number, to_number, body, media, \
                      status, occurred_at, created_at, updated_at",
            values: args![
                sms.id,
                sms.org_id,
                sms.phone_id,
                sms.message_sid.clone(),
                sms.direction.as_str(),
                sms.from.as_str(),
                sms.to.as_str(),
                sms.body.as_str(),
                serde_json::to_value(&sms.media).map_err(|e| Error::internal("json", e))?,
                sms.status.as_str(),
                t,
                t,
                t,
            ],
            phone_id: sms.phone_id,
            link: "sms_id",
            interaction,
            events: [created, own],
        };
        let written = write_linked(
            &mut tx,
            ctx,
            record,
            &other_end,
            new.person_id,
            new.unknown_sender,
        )
        .await?;
        let Written::New(person_id) = written else {
            // A provider retry (same MessageSid): the stored message, nothing written.
            let sid = sms.message_sid.unwrap_or_default();
            let existing = sms_where(&mut tx, ctx, "message_sid", sid.into()).await?;
            return retried(existing, "sms conflict without a row");
        };
        sms.person_id = person_id;
        committed(tx, sms).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), message_sid))]
    async fn update_sms_status(
        &self,
        ctx: &TenantContext,
        message_sid: &str,
        status: &str,
        error_code: Option<String>,
    ) -> Result<Option<Sms>> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let Some(current) = sms_where(&mut tx, ctx, "message_sid", message_sid.into()).await?
        else {
            return Ok(None);
        };
        // Forward only: a replayed or late callback changes nothing; the same status again
        // may still bring the error code it lacked.
        let applies = sms_status_advances(&current.status, status)
            || (current.status == status && current.error_code.is_none() && error_code.is_some());
        if !applies {
            return Ok(Some(current));
        }
        let sms = Sms {
            status: status.to_owned(),
            error_code: error_code.or_else(|| current.error_code.clone()),
            updated_at: now(),
            ..current
        };
        tx.execute(
            "UPDATE sms SET status = $1, error_code = $2, updated_at = $3 WHERE org_id = $4 AND id = $5",
            args![sms.status.as_str(), sms.error_code.clone(), sms.updated_at, ctx.org_id(), sms.id],
        )
        .await?;
        emit_and_commit(tx, ctx, types::SMS_STATUS_CHANGED, sms.id, &sms).await?;
        Ok(Some(sms))
    }

    async fn get_sms(&self, ctx: &TenantContext, id: SmsId) -> Result<Sms> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        sms_where(&mut tx, ctx, "id", id.as_uuid().into())
            .await?
            .ok_or_else(|| Error::not_found(SmsId::KIND))
    }

    async fn list_sms(
        &self,
        ctx: &TenantContext,
        filter: CommsFilter,
        page: PageRequest,
    ) -> Result<Page<Sms>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = live_messages!(
            SMS_COLUMNS,
            "sms" "s",
            ctx.org_id(),
            filter.person_id,
            filter.direction,
            filter.occurred
        );
        sql.and("s.status", "=", filter.status)
            .page("s.id", &page)?;
        fetch_page::<SmsRow, Sms>(&mut tx, sql, &page, |s| s.id.as_uuid()).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id(), call_sid = ?new.call_sid))]
    async fn record_call(&self, ctx: &TenantContext, new: NewCall) -> Result<Recorded<Call>> {
        let mut tx = self.tenant_tx(ctx, Access::WriteCrm).await?;
        let t = now();
        let other_end = match new.direction {
            Direction::Inbound => new.from.clone(),
            Direction::Outbound => new.to.clone(),
        };
        let (prefix, event_type) = match new.direction {
            Direction::Inbound => ("Call from ", types::CALL_RECEIVED),
            Direction::Outbound => ("Call to ", types::CALL_STARTED),
        };
        let id = CallId::new();
        let (interaction, created) = timeline_entry(
            ctx,
            InteractionKind::Call,
            summary(prefix, &other_end),
            t,
            |i| i.call_id = Some(id),
        )?;
        let mut call = Call {
            id,
            org_id: ctx.org_id(),
            phone_id: new.phone_id,
            call_sid: new.call_sid,
            direction: new.direction,
            from: new.from,
            to: new.to,
            status: new.status,
            duration_seconds: None,
            dial_call_sid: None,
            answered_by_member_id: None,
            recording_sid: None,
            recording_url: None,
            recording_seconds: None,
            voicemail: false,
            transcription_status: None,
            transcription_text: None,
            person_id: None,
            interaction_id: Some(interaction.id),
            occurred_at: t,
            created_at: t,
            updated_at: t,
        };
        let own = event(ctx, event_type, CallId::KIND, call.id.as_uuid(), &call)?;
        let record = NewRecord {
            table: "calls",
            columns: "id, org_id, phone_id, call_sid, direction, from_number, to_number, status, \
                      occurred_at, created_at, updated_at",
            values: args![
                call.id,
                call.org_id,
                call.phone_id,
                call.call_sid.clone(),
                call.direction.as_str(),
                call.from.as_str(),
                call.to.as_str(),
                call.status.as_str(),
                t,
                t,
                t,
            ],
            phone_id: call.phone_id,
            link: "call_id",
            interaction,
            events: [created, own],
        };
        let written = write_linked(
            &mut tx,
            ctx,
            record,
            &other_end,
            new.person_id,
            new.unknown_sender,
        )
        .await?;
        let Written::New(person_id) = written else {
            // A provider retry (same CallSid): the stored call, nothing written.
            let sid = call.call_sid.unwrap_or_default();
            let existing = call_where(&mut tx, ctx, "call_sid", sid.into()).await?;
            return retried(existing, "call conflict without a row");
        };
        call.person_id = person_id;
        committed(tx, call).await
    }

    async fn update_call_status(
        &self,
        ctx: &TenantContext,
        progress: CallProgress,
    ) -> Result<Option<Call>> {
        call_updates::update_status(self, ctx, progress).await
    }

    async fn record_recording(
        &self,
        ctx: &TenantContext,
        recording: CallRecording,
    ) -> Result<Option<Call>> {
        call_updates::record_recording(self, ctx, recording).await
    }

    async fn record_transcription(
        &self,
        ctx: &TenantContext,
        transcription: CallTranscription,
    ) -> Result<Option<Call>> {
        call_updates::record_transcription(self, ctx, transcription).await
    }

    async fn unfinished_calls(
        &self,
        started_after: chrono::DateTime<chrono::Utc>,
        started_before: chrono::DateTime<chrono::Utc>,
        after: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<UnfinishedCall>> {
        call_updates::unfinished(self, started_after, started_before, after, limit).await
    }

    async fn get_call(&self, ctx: &TenantContext, id: CallId) -> Result<Call> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        call_where(&mut tx, ctx, "id", id.as_uuid().into())
            .await?
            .ok_or_else(|| Error::not_found(CallId::KIND))
    }

    async fn list_calls(
        &self,
        ctx: &TenantContext,
        filter: CommsFilter,
        page: PageRequest,
    ) -> Result<Page<Call>> {
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut sql = live_messages!(
            CALL_COLUMNS,
            "calls" "c",
            ctx.org_id(),
            filter.person_id,
            filter.direction,
            filter.occurred
        );
        sql.and("c.status", "=", filter.status)
            .page("c.id", &page)?;
        fetch_page::<CallRow, Call>(&mut tx, sql, &page, |c| c.id.as_uuid()).await
    }
}
