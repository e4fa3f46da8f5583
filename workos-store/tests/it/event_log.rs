//! Events: the tenant-scoped event repository, the cross-tenant log consumers read and claim
//! (a stream per org, a cursor per consumer and org), and the bus that wakes them.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::timeout;
use uuid::Uuid;
use workos_core::domain::{CompanyPatch, NewCompany};
use workos_core::events::{
    ClaimedEvents, DomainEvent, EventBus, EventFilter, EventLog, LoggedEvent, types,
};
use workos_core::ids::{CompanyId, OrgId};
use workos_core::repo::{CompanyRepo, EventRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

/// A hang guard for waits on the bus; not a performance expectation.
const PATIENCE: Duration = Duration::from_secs(30);

async fn company(store: &SqlStore, ctx: &TenantContext, name: &str) -> CompanyId {
    let new = NewCompany {
        name: name.into(),
        domain: None,
    };
    store.create_company(ctx, new).await.unwrap().id
}

/// A claim for `consumer` on `org`, which no other claimer holds.
async fn claim(store: &SqlStore, consumer: &str, org: OrgId, limit: u32) -> Box<dyn ClaimedEvents> {
    store
        .claim_events(consumer, org, limit)
        .await
        .unwrap()
        .expect("nobody else holds the claim")
}

fn summary(events: &[LoggedEvent]) -> Vec<(&str, Uuid)> {
    events
        .iter()
        .map(|e| (e.event.event_type.as_str(), e.event.subject.id))
        .collect()
}

fn positions(events: &[LoggedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
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

contract_test!(each_org_has_a_gapless_stream);
async fn each_org_has_a_gapless_stream(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let c1 = company(store, &a.ctx, "c1").await;
    let c2 = company(store, &b.ctx, "c2").await;
    let c3 = company(store, &a.ctx, "c3").await;

    // Readable at once: a stream hands out a position only once every earlier one is.
    let ours = store.read_events(a.org.id, 0, 1000).await.unwrap();
    assert_eq!(positions(&ours), [1, 2, 3, 4], "{ours:#?}");
    assert!(ours.iter().all(|e| e.event.org_id == a.org.id));
    let kinds: Vec<&str> = ours.iter().map(|e| e.event.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            types::ORG_CREATED,
            types::MEMBER_CREATED,
            types::COMPANY_CREATED,
            types::COMPANY_CREATED,
        ]
    );
    assert_eq!(ours[2].event.subject.id, c1.as_uuid());
    assert_eq!(ours[3].event.subject.id, c3.as_uuid());
    let theirs = store.read_events(b.org.id, 0, 1000).await.unwrap();
    assert_eq!(positions(&theirs), [1, 2, 3]);
    assert_eq!(theirs[2].event.subject.id, c2.as_uuid());

    // The stream carries the same events as the org's own list.
    let own = store
        .list_events(&a.ctx, EventFilter::default(), page(50))
        .await
        .unwrap()
        .data;
    let from_log: Vec<&DomainEvent> = ours.iter().map(|e| &e.event).collect();
    assert_eq!(from_log, own.iter().collect::<Vec<_>>());

    // Limits and resuming after a position.
    let first = store.read_events(a.org.id, 0, 3).await.unwrap();
    assert_eq!(first, ours[..3]);
    let rest = store.read_events(a.org.id, 3, 100).await.unwrap();
    assert_eq!(rest, ours[3..]);
    assert!(
        store
            .read_events(a.org.id, 4, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .read_events(OrgId::new(), 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

contract_test!(claims_commit_and_advance);
async fn claims_commit_and_advance(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let org = t.org.id;
    let c1 = company(store, &t.ctx, "c1").await;
    assert_eq!(store.consumer_cursor("c1", org).await.unwrap(), 0);
    assert!(store.pending_orgs("c1", 100).await.unwrap().contains(&org));

    let first = claim(store, "c1", org, 100).await;
    assert_eq!(first.org_id(), org);
    let kinds: Vec<&str> = first
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
    assert_eq!(first.events()[2].event.subject.id, c1.as_uuid());
    first.commit().await.unwrap();
    assert_eq!(store.consumer_cursor("c1", org).await.unwrap(), 3);
    assert!(!store.pending_orgs("c1", 100).await.unwrap().contains(&org));

    let c2 = company(store, &t.ctx, "c2").await;
    let c3 = company(store, &t.ctx, "c3").await;
    assert!(store.pending_orgs("c1", 100).await.unwrap().contains(&org));
    let second = claim(store, "c1", org, 100).await;
    assert_eq!(
        summary(second.events()),
        [
            (types::COMPANY_CREATED, c2.as_uuid()),
            (types::COMPANY_CREATED, c3.as_uuid())
        ],
        "only the events after the committed cursor"
    );
    assert_eq!(positions(second.events()), [4, 5]);
    second.commit().await.unwrap();
    assert_eq!(store.consumer_cursor("c1", org).await.unwrap(), 5);

    // Nothing new: an empty claim, whose commit keeps the cursor.
    let empty = claim(store, "c1", org, 100).await;
    assert!(empty.events().is_empty(), "{:#?}", empty.events());
    empty.commit().await.unwrap();
    assert_eq!(store.consumer_cursor("c1", org).await.unwrap(), 5);

    // The limit caps a batch; the next batch continues after it.
    let more: Vec<Uuid> = [
        company(store, &t.ctx, "c4").await,
        company(store, &t.ctx, "c5").await,
        company(store, &t.ctx, "c6").await,
    ]
    .map(|c| c.as_uuid())
    .to_vec();
    let batch = claim(store, "c1", org, 2).await;
    let got: Vec<Uuid> = batch.events().iter().map(|e| e.event.subject.id).collect();
    assert_eq!(got, more[..2]);
    batch.commit().await.unwrap();
    let batch = claim(store, "c1", org, 2).await;
    let got: Vec<Uuid> = batch.events().iter().map(|e| e.event.subject.id).collect();
    assert_eq!(got, more[2..]);
    batch.commit().await.unwrap();

    // Another consumer has a cursor of its own, starting at the beginning.
    assert_eq!(store.consumer_cursor("c2", org).await.unwrap(), 0);
    let other = claim(store, "c2", org, 100).await;
    assert_eq!(positions(other.events()), (1..=8).collect::<Vec<_>>());
}

contract_test!(held_claim_excludes_a_second_claimer);
async fn held_claim_excludes_a_second_claimer(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    company(store, &a.ctx, "c1").await;

    let held = claim(store, "c1", a.org.id, 100).await;
    assert_eq!(held.events().len(), 3);
    assert!(
        store
            .claim_events("c1", a.org.id, 100)
            .await
            .unwrap()
            .is_none(),
        "a second claim for the same consumer and org waits its turn"
    );
    let other_handle = store.clone();
    assert!(
        other_handle
            .claim_events("c1", a.org.id, 100)
            .await
            .unwrap()
            .is_none()
    );
    // Other consumers and other orgs are not affected.
    let other = store.claim_events("c2", a.org.id, 100).await.unwrap();
    assert!(other.is_some(), "another consumer claims independently");
    drop(other);
    let other_org = store.claim_events("c1", b.org.id, 100).await.unwrap();
    assert_eq!(other_org.expect("another org is free").events().len(), 2);

    held.commit().await.unwrap();
    let next = claim(store, "c1", a.org.id, 100).await;
    assert!(next.events().is_empty());
    assert_eq!(store.consumer_cursor("c1", a.org.id).await.unwrap(), 3);
}

contract_test!(dropped_claim_gives_its_events_back);
async fn dropped_claim_gives_its_events_back(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let org = t.org.id;
    company(store, &t.ctx, "c1").await;
    company(store, &t.ctx, "c2").await;

    let dropped = claim(store, "c1", org, 100).await;
    let first: Vec<LoggedEvent> = dropped.events().to_vec();
    assert_eq!(first.len(), 4);
    drop(dropped);
    assert_eq!(
        store.consumer_cursor("c1", org).await.unwrap(),
        0,
        "nothing was committed"
    );

    // The lock of a dropped claim is released with its connection's rollback.
    let again = timeout(PATIENCE, async {
        loop {
            if let Some(c) = store.claim_events("c1", org, 100).await.unwrap() {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the dropped claim is released");
    assert_eq!(again.events(), first, "the same events, again");
    again.commit().await.unwrap();
    assert_eq!(store.consumer_cursor("c1", org).await.unwrap(), 4);
}

contract_test!(concurrent_writers_and_a_consumer_see_every_event_once);
async fn concurrent_writers_and_a_consumer_see_every_event_once(store: &SqlStore) {
    const WRITERS: usize = 8;
    const EACH: usize = 15;
    let t = Tenant::new(store, "Acme").await;
    let org = t.org.id;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, ctx) = (store.clone(), t.ctx.clone());
            tokio::spawn(async move {
                for i in 0..EACH {
                    company(&store, &ctx, &format!("w{w}-{i}")).await;
                }
            })
        })
        .collect();
    // A consumer claims while the writers write: what it takes is a gapless prefix each time.
    let mut seen: Vec<LoggedEvent> = Vec::new();
    let mut writing = true;
    while writing {
        writing = !writers.iter().all(tokio::task::JoinHandle::is_finished);
        let batch = claim(store, "c", org, 7).await;
        seen.extend(batch.events().iter().cloned());
        batch.commit().await.unwrap();
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    loop {
        let batch = claim(store, "c", org, 50).await;
        let done = batch.events().is_empty();
        seen.extend(batch.events().iter().cloned());
        batch.commit().await.unwrap();
        if done {
            break;
        }
    }
    let total = 2 + WRITERS * EACH;
    assert_eq!(
        positions(&seen),
        (1..=total as u64).collect::<Vec<_>>(),
        "every position once, in order"
    );
    let ids: BTreeSet<Uuid> = seen.iter().map(|e| e.event.id.as_uuid()).collect();
    assert_eq!(ids.len(), total, "no event twice");
    // Each writer's companies appear in the order it wrote them.
    for w in 0..WRITERS {
        let names: Vec<String> = seen
            .iter()
            .filter_map(|e| e.event.data["name"].as_str())
            .filter(|n| n.starts_with(&format!("w{w}-")))
            .map(str::to_owned)
            .collect();
        let expected: Vec<String> = (0..EACH).map(|i| format!("w{w}-{i}")).collect();
        assert_eq!(names, expected);
    }
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

/// Two stores on one Postgres database stand for two processes (each with its own pool,
/// listener and notifier). A commit in one wakes the other's subscribers, naming the org, and
/// its own once, in-process, by event id: its wake-up of the others is not heard back.
#[tokio::test]
async fn a_commit_wakes_the_other_processes() {
    let Some(db) = workos_tests::db::TestDatabase::postgres("workos_wakeups").await else {
        return;
    };
    let here = SqlStore::connect(db.url()).await.expect("connect");
    here.migrate().await.expect("migrate");
    let there = SqlStore::connect(db.url()).await.expect("connect");
    let a = Tenant::new(&here, "A").await;
    let mut ours = here.subscribe().await.unwrap();
    let mut theirs = there.subscribe().await.unwrap();
    let next = async |sub: &mut Box<dyn workos_core::events::EventSubscription>| {
        timeout(PATIENCE, sub.next())
            .await
            .expect("a notice arrives")
            .unwrap()
    };

    company(&here, &a.ctx, "c1").await;
    // The wake-ups of A's creation may still be on their way to `there`: it hears of A.
    let heard = timeout(PATIENCE, async {
        while theirs.next().await.unwrap().org_id != Some(a.org.id) {}
    })
    .await;
    assert!(heard.is_ok(), "the other process hears of the org");
    // In-process notices reach only those subscribed at the commit: this is A's company.
    let notice = next(&mut ours).await;
    assert_eq!(notice.org_id, Some(a.org.id));
    assert_eq!(notice.events.len(), 1, "told in-process, by event id");

    // Org C's wake-ups reach `here` through Postgres, after at least one that `here` sent
    // (`there` heard it before C existed): were `here` hearing its own, that one would come
    // first.
    let c = Tenant::new(&there, "C").await;
    company(&there, &c.ctx, "c2").await;
    let notice = next(&mut ours).await;
    assert_eq!(notice.org_id, Some(c.org.id), "no echo of its own commits");
    assert!(
        notice.events.is_empty(),
        "from another process: the org only"
    );
}
