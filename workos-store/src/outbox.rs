//! The transactional outbox: a transaction's events appended to their orgs' streams.
//!
//! Every org has a stream: `event_streams.head` is the position of its last event. Appending
//! *n* events of an org adds *n* to its head, which locks the org's stream row until the
//! transaction ends, and gives the events the positions *head − n + 1 ..= head*. Appending is
//! the transaction's last statement before COMMIT (see [`crate::db::Tx::commit`]), so the lock
//! is held only while committing, and an org's positions become visible in the order they were
//! handed out: a reader that has seen position *p* of an org has seen every position before it.
//! Orgs never wait on each other, and nothing depends on a cluster-wide snapshot or sequence.

use workos_core::Result;
use workos_core::events::DomainEvent;
use workos_core::ids::OrgId;

use crate::db::{Arg, Sql, Tx, args};

#[cfg(feature = "postgres")]
pub(crate) mod postgres;

/// The columns of an event, in the order of [`event_args`] (its position comes apart).
pub(crate) const EVENT_COLUMNS: &str = "id, org_id, type, occurred_at, subject_kind, subject_id, data, request_id, actor_kind, actor_id";

/// An event's values, in the order of [`EVENT_COLUMNS`].
pub(crate) fn event_args(e: &DomainEvent) -> Vec<Arg> {
    args![
        e.id,
        e.org_id,
        e.event_type.as_str(),
        e.occurred_at,
        e.subject.kind.as_str(),
        e.subject.id,
        e.data.clone(),
        e.request_id.clone(),
        e.actor.as_ref().map(|a| a.kind.as_str()),
        e.actor.as_ref().map(|a| a.id.clone()),
    ]
}

/// Adds `$2` positions to org `$1`'s stream; answers the new head. Creates the stream on the
/// org's first event.
const ADVANCE_HEAD: &str = "INSERT INTO event_streams (org_id, head) VALUES ($1, $2) \
     ON CONFLICT (org_id) DO UPDATE SET head = event_streams.head + excluded.head RETURNING head";

/// Events per `INSERT` of the portable append (well under every backend's parameter limit).
const ROWS_PER_INSERT: usize = 100;

/// `events` grouped by org, orgs in id order (one lock order for every transaction, so two
/// transactions appending to the same orgs cannot deadlock), each org's events in the order
/// they were recorded.
fn by_org(events: &[DomainEvent]) -> Vec<(OrgId, Vec<&DomainEvent>)> {
    let mut groups: Vec<(OrgId, Vec<&DomainEvent>)> = Vec::new();
    for e in events {
        match groups.iter_mut().find(|(org, _)| *org == e.org_id) {
            Some((_, group)) => group.push(e),
            None => groups.push((e.org_id, vec![e])),
        }
    }
    groups.sort_by_key(|(org, _)| org.as_uuid());
    groups
}

/// Appends `events` with one statement to advance each org's head and plain multi-row inserts:
/// portable, and on Citus every statement is routed to the one shard of its org.
pub(crate) async fn append(tx: &mut Tx, events: &[DomainEvent]) -> Result<()> {
    for (org, group) in by_org(events) {
        let n = i64::try_from(group.len()).unwrap_or(i64::MAX);
        let (head,): (i64,) = tx.fetch_one(ADVANCE_HEAD, args![org, n]).await?;
        let mut pos = head - n;
        for chunk in group.chunks(ROWS_PER_INSERT) {
            let mut sql = Sql::new(&format!(
                "INSERT INTO domain_events (pos, {EVENT_COLUMNS}) VALUES "
            ));
            for (i, e) in chunk.iter().enumerate() {
                pos += 1;
                sql.push(if i == 0 { "(" } else { ", (" }).bind(pos);
                for value in event_args(e) {
                    sql.push(", ").bind(value);
                }
                sql.push(")");
            }
            tx.execute_sql(sql).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use workos_core::events::DomainEvent;
    use workos_core::ids::OrgId;

    use super::by_org;

    fn event(org: OrgId, n: u32) -> DomainEvent {
        DomainEvent::new(
            org,
            "t.n",
            "t",
            uuid::Uuid::now_v7(),
            serde_json::json!(n),
            None,
        )
    }

    #[test]
    fn groups_keep_each_orgs_order_and_take_orgs_in_id_order() {
        let (a, b) = (OrgId::new(), OrgId::new());
        let events = vec![event(b, 1), event(a, 2), event(b, 3), event(a, 4)];
        let groups = by_org(&events);
        let (first, second) = if a.as_uuid() < b.as_uuid() {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(
            groups.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            [first, second]
        );
        let of = |org| {
            groups
                .iter()
                .find(|(o, _)| *o == org)
                .unwrap()
                .1
                .iter()
                .map(|e| e.data.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(of(a), [serde_json::json!(2), serde_json::json!(4)]);
        assert_eq!(of(b), [serde_json::json!(1), serde_json::json!(3)]);
        #[cfg(feature = "postgres")]
        {
            use super::postgres::single_org;
            assert!(!single_org(&events));
            assert!(single_org(&events[..1]));
            assert!(single_org(&[]));
        }
    }
}
