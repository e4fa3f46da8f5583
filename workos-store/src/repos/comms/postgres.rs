//! The Postgres fast path of the comms records: a message or call, its timeline entry, its
//! person (found by phone in the same statement) and both events written in one statement,
//! where the portable code in the parent module runs several. Taken only on a single Postgres
//! node (`Tx::fast_path`); SQLite and Citus run the portable code. The parity test below runs
//! both paths on one database and compares the rows.

use uuid::Uuid;
use workos_core::domain::{E164, UnknownSender};
use workos_core::ids::PersonId;
use workos_core::ids::PhoneId;
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use super::{
    INTERACTION_INSERT_COLUMNS, Link, NewRecord, Written, decided, interaction_args,
    new_counterpart, placeholders,
};
use crate::db::{Arg, Tx, args};
use crate::outbox::postgres::EVENT_ARGS;
use crate::outbox::{EVENT_COLUMNS, event_args};

/// `write_linked` on one Postgres node for a sender the caller did not name: the write finds
/// whoever has `phone` (no statement of its own); only when nobody has it and `policy` creates
/// them is a person created first and the record written again.
pub(super) async fn write_by_phone(
    tx: &mut Tx,
    ctx: &TenantContext,
    r: NewRecord,
    phone: E164,
    policy: UnknownSender,
) -> Result<Written> {
    let link = Link::ByPhone {
        phone: phone.as_ref(),
        unmatched: policy == UnknownSender::StoreUnmatched,
    };
    match super::insert_record(tx, ctx, r.clone(), link).await? {
        // The write just found nobody with the phone: create them (no second lookup).
        Written::NoPerson => {
            let person = new_counterpart(tx, ctx, phone).await?;
            decided(tx, ctx, r, person).await
        }
        written => Ok(written),
    }
}

/// `insert_record` on one Postgres node: one statement, which also appends the two events
/// to the org's stream when the record is new.
pub(super) async fn insert_record(
    tx: &mut Tx,
    ctx: &TenantContext,
    r: NewRecord,
    link: Link<'_>,
) -> Result<Written> {
    // Events recorded earlier in the transaction (a person created for the sender) keep their
    // place before this record's in the org's stream.
    tx.write_events().await?;
    // $1 org, $2 phone, $3 person or the phone to find them by, $4 whether unlinked is fine;
    // then the record's values, the interaction's and the two events'.
    let (person, unmatched, person_arg) = match link {
        Link::Person(p) => ("$3::uuid", true, Arg::from(p)),
        Link::ByPhone { phone, unmatched } => (
            "(SELECT person_id FROM person_contacts WHERE org_id = $1 AND kind = 'phone' AND value = $3::text)",
            unmatched,
            Arg::from(phone),
        ),
    };
    let n = r.values.len();
    let v = 5;
    let i = v + n;
    let interaction = interaction_args(&r.interaction);
    let e1 = i + interaction.len();
    let e2 = e1 + EVENT_ARGS;
    let sql = format!(
        "WITH found AS (
                 SELECT {person} AS person_id,
                        ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM phones WHERE org_id = $1 AND id = $2)) AS phone_ok),
             who AS (SELECT person_id FROM found WHERE phone_ok AND (person_id IS NOT NULL OR $4)),
             rec AS (INSERT INTO {table} ({columns}, person_id) SELECT {vp}, who.person_id FROM who
                     ON CONFLICT DO NOTHING RETURNING id, person_id),
             i AS (INSERT INTO interactions ({INTERACTION_INSERT_COLUMNS}, person_id, {link})
                   SELECT {ip}, rec.person_id, rec.id FROM rec RETURNING id),
             h AS (INSERT INTO event_streams AS s (org_id, head) SELECT $1, 2 FROM rec
                   ON CONFLICT (org_id) DO UPDATE SET head = s.head + excluded.head RETURNING head),
             e1 AS (INSERT INTO domain_events (pos, {EVENT_COLUMNS}) SELECT h.head - 1, {e1p} FROM rec, i, h),
             e2 AS (INSERT INTO domain_events (pos, {EVENT_COLUMNS}) SELECT h.head, {e2p} FROM rec, h)
         SELECT (SELECT id FROM rec), found.person_id, found.phone_ok FROM found",
        table = r.table,
        columns = r.columns,
        link = r.link,
        vp = placeholders(v, n),
        ip = placeholders(i, interaction.len()),
        e1p = event_select(e1),
        e2p = event_select(e2),
    );
    let [created, own] = &r.events;
    let mut values = args![ctx.org_id(), r.phone_id];
    values.push(person_arg);
    values.push(unmatched.into());
    values.extend(r.values);
    values.extend(interaction);
    values.extend(event_args(created));
    values.extend(event_args(own));
    let (id, person, phone_ok): (Option<Uuid>, Option<Uuid>, bool) =
        tx.fetch_one(&sql, values).await?;
    let person = person.map(PersonId::from_uuid);
    if !phone_ok {
        return Err(Error::not_found(PhoneId::KIND));
    }
    if id.is_some() {
        tx.wrote_events_of(ctx.org_id());
        return Ok(Written::New(person));
    }
    if person.is_none() && !unmatched {
        return Ok(Written::NoPerson);
    }
    Ok(Written::Duplicate)
}

/// The select list of an event whose values start at `$from`, with `person_id` of its snapshot
/// set to the person the statement linked (`rec.person_id`).
fn event_select(from: usize) -> String {
    format!(
        "{}, jsonb_set(${}, '{{person_id}}', COALESCE(to_jsonb(rec.person_id), 'null'::jsonb)), {}",
        placeholders(from, 6),
        from + 6,
        placeholders(from + 7, EVENT_ARGS - 7)
    )
}

#[cfg(test)]
mod parity {
    use workos_core::domain::{Direction, NewCall, NewSms, UnknownSender};
    use workos_core::repo::CommsRepo;

    use crate::repos::parity::Twins;

    fn sms(sid: &str, direction: Direction, other: &str, policy: UnknownSender) -> NewSms {
        let (from, to) = match direction {
            Direction::Inbound => (other, "+14155550999"),
            Direction::Outbound => ("+14155550999", other),
        };
        NewSms {
            phone_id: None,
            message_sid: Some(sid.to_owned()),
            direction,
            from: from.to_owned(),
            to: to.to_owned(),
            body: "Hello".into(),
            media: Vec::new(),
            status: "received".into(),
            person_id: None,
            unknown_sender: policy,
        }
    }

    /// Messages and a call from a new number (its person created), from a known one (found by
    /// the write), from one left unmatched, and a provider retry: both paths store the same
    /// records, timeline entries, people and events.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn messages_and_calls_are_stored_alike_by_both_paths() {
        let Some(twins) = Twins::new("workos_parity_comms").await else {
            return;
        };
        let (new_number, unmatched) = ("+14155550200", "+14155550201");
        for (store, ctx) in [
            (&twins.fast, &twins.fast_ctx),
            (&twins.portable, &twins.portable_ctx),
        ] {
            let create = UnknownSender::CreatePerson;
            let first = store
                .record_sms(ctx, sms("SM1", Direction::Inbound, new_number, create))
                .await
                .expect("sms");
            assert!(first.created && first.record.person_id.is_some());
            let retry = store
                .record_sms(ctx, sms("SM1", Direction::Inbound, new_number, create))
                .await
                .expect("retry");
            assert!(!retry.created);
            let known = store
                .record_sms(ctx, sms("SM2", Direction::Outbound, new_number, create))
                .await
                .expect("sms");
            assert_eq!(known.record.person_id, first.record.person_id);
            let alone = store
                .record_sms(
                    ctx,
                    sms(
                        "SM3",
                        Direction::Inbound,
                        unmatched,
                        UnknownSender::StoreUnmatched,
                    ),
                )
                .await
                .expect("sms");
            assert_eq!(alone.record.person_id, None);
            let call = NewCall {
                phone_id: None,
                call_sid: Some("CA1".into()),
                direction: Direction::Inbound,
                from: new_number.into(),
                to: "+14155550999".into(),
                status: "ringing".into(),
                person_id: None,
                unknown_sender: create,
            };
            let call = store.record_call(ctx, call).await.expect("call");
            assert_eq!(call.record.person_id, first.record.person_id);
        }
        twins
            .assert_same(&[
                "sms",
                "calls",
                "interactions",
                "people",
                "person_contacts",
                "domain_events",
            ])
            .await;
    }
}
