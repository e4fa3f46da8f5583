//! Events: the tenant-scoped event repository, the cross-tenant log consumers read and claim,
//! and the bus that wakes them.
//!
//! On Postgres an event becomes readable from the log only once every transaction that began
//! before it has ended, cluster-wide, so a write in a concurrently running test (in another
//! database) can hold the newest events back for a moment. Log reads here therefore wait,
//! bounded, until the events they expect are readable; what they then assert is exact.

use std::time::Duration;

use tokio::time::timeout;
use uuid::Uuid;
use workos_core::domain::{CompanyPatch, NewCompany};
use workos_core::events::{
    ClaimedEvents, DomainEvent, EventBus, EventCursor, EventFilter, EventLog, LoggedEvent, types,
};
use workos_core::ids::CompanyId;
use workos_core::repo::{CompanyRepo, EventRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

/// A hang guard for waits on the log and the bus; not a performance expectation.
const PATIENCE: Duration = Duration::from_secs(30);

async fn company(store: &SqlStore, ctx: &TenantContext, name: &str) -> CompanyId {
    let new = NewCompany {
        name: name.into(),
        domain: None,
    };
    store.create_company(ctx, new).await.unwrap().id
}

/// The log after `after`, once at least `n` events are readable.
async fn read_at_least(store: &SqlStore, after: Option<EventCursor>, n: usize) -> Vec<LoggedEvent> {
    timeout(PATIENCE, async {
        loop {
            let events = store.read_events(after, 1_000).await.unwrap();
            if events.len() >= n {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} events never became readable"))
}

/// A claim for `consumer` holding at least `n` events. A claim that holds fewer (events not yet
/// readable) is given back and retried, as is `None` while a just-dropped claim is released.
async fn claim_at_least(
    store: &SqlStore,
    consumer: &str,
    limit: u32,
    n: usize,
) -> Box<dyn ClaimedEvents> {
    timeout(PATIENCE, async {
        loop {
            if let Some(claim) = store.claim_events(consumer, limit).await.unwrap()
                && claim.events().len() >= n
            {
                return claim;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no claim of {n} events for {consumer}"))
}

fn summary(events: &[LoggedEvent]) -> Vec<(&str, Uuid)> {
    events
        .iter()
        .map(|e| (e.event.event_type.as_str(), e.event.subject.id))
        .collect()
}

#[track_caller]
fn assert_log_order(events: &[LoggedEvent]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].cursor < pair[1].cursor,
            "cursors increase: {pair:#?}"
        );
    }
}

contract_test!(event_repo_list_filter_paginate);
async fn event_repo_list_filter_paginate(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let viewer = a.user(store, Role::Viewer).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(company(store, &a.ctx, &format!("c{i}")).await);
    }
    let patch = CompanyPatch {
        name: Some("renamed".into()),
        ..CompanyPatch::default()
    };
    store.update_company(&a.ctx, ids[1], patch).await.unwrap();
    store.delete_company(&a.ctx, ids[2]).await.unwrap();
    let theirs = company(store, &b.ctx, "theirs").await;

    let list = |filter: EventFilter| {
        let viewer = &viewer;
        all_pages(
            2,
            move |p| store.list_events(viewer, filter.clone(), p),
            |e: &DomainEvent| e.id.as_uuid(),
        )
    };
    let of_types = |names: &[&str]| EventFilter {
        types: names.iter().map(|&n| n.to_owned()).collect(),
        ..EventFilter::default()
    };

    let created = list(of_types(&[types::COMPANY_CREATED])).await;
    assert_ids_in_order(
        created.iter().map(|e| e.id.as_uuid()),
        created.iter().map(|e| e.id.as_uuid()),
    );
    let subjects: Vec<Uuid> = created.iter().map(|e| e.subject.id).collect();
    assert_eq!(
        subjects,
        ids.iter().map(|id| id.as_uuid()).collect::<Vec<_>>()
    );
    assert!(
        created
            .iter()
            .all(|e| e.org_id == a.org.id && e.event_type == types::COMPANY_CREATED)
    );

    let two_types = list(of_types(&[types::COMPANY_CREATED, types::COMPANY_DELETED])).await;
    assert_eq!(two_types.len(), 6);
    let about_one = list(EventFilter {
        subject_id: Some(ids[1].as_uuid()),
        ..EventFilter::default()
    })
    .await;
    let kinds: Vec<&str> = about_one.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, [types::COMPANY_CREATED, types::COMPANY_UPDATED]);

    // Everything: the org, its two members, five companies, one update, one delete.
    let everything = list(EventFilter::default()).await;
    assert_eq!(everything.len(), 1 + 2 + 5 + 1 + 1, "{everything:#?}");
    assert_ids_in_order(
        everything.iter().map(|e| e.id.as_uuid()),
        everything.iter().map(|e| e.id.as_uuid()),
    );
    assert!(everything.iter().all(|e| e.org_id == a.org.id));
    assert!(!everything.iter().any(|e| e.subject.id == theirs.as_uuid()));

    let pivot = created[2].occurred_at;
    let later = list(EventFilter {
        occurred: later_than(pivot),
        ..of_types(&[types::COMPANY_CREATED])
    })
    .await;
    let expected = created.iter().filter(|e| e.occurred_at >= pivot);
    assert_ids_in_order(
        later.iter().map(|e| e.id.as_uuid()),
        expected.map(|e| e.id.as_uuid()),
    );
    let earlier = list(EventFilter {
        occurred: earlier_than(pivot),
        ..of_types(&[types::COMPANY_CREATED])
    })
    .await;
    let expected = created.iter().filter(|e| e.occurred_at < pivot);
    assert_ids_in_order(
        earlier.iter().map(|e| e.id.as_uuid()),
        expected.map(|e| e.id.as_uuid()),
    );

    let unknown = list(of_types(&["no.such_type"])).await;
    assert!(unknown.is_empty());
}

contract_test!(read_events_in_log_order_across_orgs);
async fn read_events_in_log_order_across_orgs(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let c1 = company(store, &a.ctx, "c1").await;
    let c2 = company(store, &b.ctx, "c2").await;
    let c3 = company(store, &a.ctx, "c3").await;

    let all = read_at_least(store, None, 7).await;
    assert_eq!(all.len(), 7, "{all:#?}");
    assert_log_order(&all);
    let orgs: Vec<_> = all.iter().map(|e| e.event.org_id).collect();
    assert_eq!(
        orgs,
        [
            a.org.id, a.org.id, b.org.id, b.org.id, a.org.id, b.org.id, a.org.id
        ]
    );
    let kinds: Vec<&str> = all.iter().map(|e| e.event.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            types::ORG_CREATED,
            types::MEMBER_CREATED,
            types::ORG_CREATED,
            types::MEMBER_CREATED,
            types::COMPANY_CREATED,
            types::COMPANY_CREATED,
            types::COMPANY_CREATED,
        ]
    );
    let companies: Vec<Uuid> = all[4..].iter().map(|e| e.event.subject.id).collect();
    assert_eq!(companies, [c1, c2, c3].map(|c| c.as_uuid()));

    // The log carries the same events as each org's own list.
    let own = store
        .list_events(&a.ctx, EventFilter::default(), page(50))
        .await
        .unwrap()
        .data;
    let from_log: Vec<&DomainEvent> = all
        .iter()
        .map(|e| &e.event)
        .filter(|e| e.org_id == a.org.id)
        .collect();
    assert_eq!(from_log, own.iter().collect::<Vec<_>>());

    // Limits and resuming from a cursor.
    let first = store.read_events(None, 3).await.unwrap();
    assert_eq!(first, all[..3]);
    let rest = store.read_events(Some(first[2].cursor), 100).await.unwrap();
    assert_eq!(rest, all[3..]);
    let none = store.read_events(Some(all[6].cursor), 100).await.unwrap();
    assert!(none.is_empty());
}

contract_test!(claims_commit_and_advance);
async fn claims_commit_and_advance(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let c1 = company(store, &t.ctx, "c1").await;
    assert_eq!(store.consumer_cursor("c1").await.unwrap(), None);

    let claim = claim_at_least(store, "c1", 100, 3).await;
    let kinds: Vec<&str> = claim
        .events()
        .iter()
        .map(|e| e.event.event_type.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            types::ORG_CREATED,
            types::MEMBER_CREATED,
            types::COMPANY_CREATED
        ]
    );
    assert_eq!(claim.events()[2].event.subject.id, c1.as_uuid());
    assert_log_order(claim.events());
    let first_end = claim.events()[2].cursor;
    claim.commit().await.unwrap();
    assert_eq!(store.consumer_cursor("c1").await.unwrap(), Some(first_end));

    let c2 = company(store, &t.ctx, "c2").await;
    let c3 = company(store, &t.ctx, "c3").await;
    let claim = claim_at_least(store, "c1", 100, 2).await;
    assert_eq!(
        summary(claim.events()),
        [
            (types::COMPANY_CREATED, c2.as_uuid()),
            (types::COMPANY_CREATED, c3.as_uuid())
        ],
        "only the events after the committed cursor"
    );
    assert!(claim.events().iter().all(|e| e.cursor > first_end));
    let second_end = claim.events()[1].cursor;
    claim.commit().await.unwrap();
    assert_eq!(store.consumer_cursor("c1").await.unwrap(), Some(second_end));

    // Nothing new: an empty claim, whose commit keeps the cursor.
    let claim = store
        .claim_events("c1", 100)
        .await
        .unwrap()
        .expect("free after commit");
    assert!(claim.events().is_empty(), "{:#?}", claim.events());
    claim.commit().await.unwrap();
    assert_eq!(store.consumer_cursor("c1").await.unwrap(), Some(second_end));

    // The limit caps a batch; the next batch continues after it.
    let more: Vec<Uuid> = [
        company(store, &t.ctx, "c4").await,
        company(store, &t.ctx, "c5").await,
        company(store, &t.ctx, "c6").await,
    ]
    .map(|c| c.as_uuid())
    .to_vec();
    read_at_least(store, Some(second_end), 3).await;
    let claim = store.claim_events("c1", 2).await.unwrap().expect("free");
    let got: Vec<Uuid> = claim.events().iter().map(|e| e.event.subject.id).collect();
    assert_eq!(got, more[..2]);
    claim.commit().await.unwrap();
    let claim = store.claim_events("c1", 2).await.unwrap().expect("free");
    let got: Vec<Uuid> = claim.events().iter().map(|e| e.event.subject.id).collect();
    assert_eq!(got, more[2..]);
    claim.commit().await.unwrap();

    // Another consumer has a cursor of its own, starting at the beginning.
    assert_eq!(store.consumer_cursor("c2").await.unwrap(), None);
    let other = claim_at_least(store, "c2", 100, 8).await;
    assert_eq!(other.events().len(), 8);
    assert_eq!(other.events()[0].event.event_type, types::ORG_CREATED);
}

contract_test!(held_claim_excludes_a_second_claimer);
async fn held_claim_excludes_a_second_claimer(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    company(store, &t.ctx, "c1").await;

    let held = claim_at_least(store, "c1", 100, 3).await;
    assert!(
        store.claim_events("c1", 100).await.unwrap().is_none(),
        "a second claim for the same consumer waits its turn"
    );
    let other_handle = store.clone();
    assert!(
        other_handle
            .claim_events("c1", 100)
            .await
            .unwrap()
            .is_none()
    );
    // Other consumers are not affected.
    let other = store.claim_events("c2", 100).await.unwrap();
    assert!(other.is_some(), "another consumer claims independently");
    drop(other);

    let end = held.events().last().unwrap().cursor;
    held.commit().await.unwrap();
    let next = store
        .claim_events("c1", 100)
        .await
        .unwrap()
        .expect("released by the commit");
    assert!(next.events().iter().all(|e| e.cursor > end));
    assert_eq!(store.consumer_cursor("c1").await.unwrap(), Some(end));
}

contract_test!(dropped_claim_gives_its_events_back);
async fn dropped_claim_gives_its_events_back(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    company(store, &t.ctx, "c1").await;
    company(store, &t.ctx, "c2").await;

    let claim = claim_at_least(store, "c1", 100, 4).await;
    let first: Vec<LoggedEvent> = claim.events().to_vec();
    assert_eq!(first.len(), 4);
    drop(claim);
    assert_eq!(
        store.consumer_cursor("c1").await.unwrap(),
        None,
        "nothing was committed"
    );

    let again = claim_at_least(store, "c1", 100, 4).await;
    assert_eq!(again.events(), first, "the same events, again");
    let end = first[3].cursor;
    again.commit().await.unwrap();
    assert_eq!(store.consumer_cursor("c1").await.unwrap(), Some(end));
}

contract_test!(bus_wakes_subscribers);
async fn bus_wakes_subscribers(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let mut early = store.subscribe().await.unwrap();

    company(store, &a.ctx, "c1").await;
    let notice = timeout(PATIENCE, early.next())
        .await
        .expect("a notice arrives")
        .unwrap();
    assert_eq!(notice.org_id, Some(a.org.id));

    let mut late = store.subscribe().await.unwrap();
    company(store, &b.ctx, "c2").await;
    for sub in [&mut early, &mut late] {
        let notice = timeout(PATIENCE, sub.next())
            .await
            .expect("a notice arrives")
            .unwrap();
        assert_eq!(notice.org_id, Some(b.org.id), "every subscriber is woken");
    }
}
