//! The Postgres fast path of the comms records: a message or call, its timeline entry, its
//! person (found by phone in the same statement) and both events written in one statement,
//! where the portable code in the parent module runs several. Taken only on a single Postgres
//! node; the contract suite runs the same tests on SQLite, Postgres and Citus, so both paths
//! answer the same (`comms` tests in the store's suite).

use uuid::Uuid;
use workos_core::ids::PersonId;
use workos_core::ids::PhoneId;
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use super::{INTERACTION_INSERT_COLUMNS, Link, NewRecord, Written, interaction_args, placeholders};
use crate::db::{Arg, Tx, args};
use crate::outbox::{EVENT_ARGS, EVENT_COLUMNS, event_args};

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
