//! The outbox's Postgres fast path: a transaction's events, all of one org, appended as two
//! `WITH` items (the head advanced, the events inserted from arrays) of the statement that
//! also makes the transaction's last write (`Tx::fetch_with_events`), on a single Postgres node;
//! the portable [`append`](super::append) in the parent module runs a statement for the head
//! and one per hundred events. Every parity test compares the event rows both paths wrote.

use workos_core::Result;
use workos_core::events::DomainEvent;

use super::EVENT_COLUMNS;
use crate::db::PgArgs;

/// How many values [`event_args`](super::event_args) gives (the columns of [`EVENT_COLUMNS`](super::EVENT_COLUMNS)).
pub(crate) const EVENT_ARGS: usize = 10;

/// Whether every event in `events` belongs to one org.
pub(crate) fn single_org(events: &[DomainEvent]) -> bool {
    events.windows(2).all(|w| w[0].org_id == w[1].org_id)
}

/// The `WITH` items that append `events`, all of ONE org (see [`single_org`]), inside a larger
/// statement on a single Postgres node: the head advanced, and the events inserted at the
/// positions its `RETURNING` gives, their arrays bound on `args`.
pub(crate) fn append_items(events: &[DomainEvent], args: &mut PgArgs) -> Result<Vec<String>> {
    debug_assert!(single_org(events));
    let mut ids = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut times = Vec::with_capacity(events.len());
    let mut kinds = Vec::with_capacity(events.len());
    let mut subjects = Vec::with_capacity(events.len());
    let mut data = Vec::with_capacity(events.len());
    let mut request_ids = Vec::with_capacity(events.len());
    let mut actor_kinds = Vec::with_capacity(events.len());
    let mut actor_ids = Vec::with_capacity(events.len());
    for e in events {
        ids.push(e.id.as_uuid());
        types.push(e.event_type.clone());
        times.push(e.occurred_at);
        kinds.push(e.subject.kind.clone());
        subjects.push(e.subject.id);
        data.push(e.data.clone());
        request_ids.push(e.request_id.clone());
        actor_kinds.push(e.actor.as_ref().map(|a| a.kind.as_str().to_owned()));
        actor_ids.push(e.actor.as_ref().map(|a| a.id.clone()));
    }
    let org = args.bind(events[0].org_id.as_uuid())?;
    let n = args.bind(i64::try_from(events.len()).unwrap_or(i64::MAX))?;
    Ok(vec![
        format!(
            "workos_head AS (INSERT INTO event_streams AS s (org_id, head) VALUES ({org}, {n})
             ON CONFLICT (org_id) DO UPDATE SET head = s.head + excluded.head RETURNING head)"
        ),
        format!(
            "workos_events AS (
             INSERT INTO domain_events (pos, {EVENT_COLUMNS})
             SELECT h.head - {n} + u.n, u.id, {org}, u.type, u.occurred_at, u.subject_kind,
                    u.subject_id, u.data, u.request_id, u.actor_kind, u.actor_id
             FROM workos_head h, unnest({}::uuid[], {}::text[], {}::timestamptz[], {}::text[],
                  {}::uuid[], {}::jsonb[], {}::text[], {}::text[], {}::text[])
                  WITH ORDINALITY AS u(id, type, occurred_at, subject_kind, subject_id, data,
                  request_id, actor_kind, actor_id, n))",
            args.bind(ids)?,
            args.bind(types)?,
            args.bind(times)?,
            args.bind(kinds)?,
            args.bind(subjects)?,
            args.bind(data)?,
            args.bind(request_ids)?,
            args.bind(actor_kinds)?,
            args.bind(actor_ids)?,
        ),
    ])
}
