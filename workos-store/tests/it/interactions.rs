//! Interactions (timeline entries): CRUD, events, filters, pagination, validation, patches.

use chrono::{Duration, Utc};
use workos_core::domain::{
    Interaction, InteractionFilter, InteractionKind, InteractionPatch, NewCompany, NewDeal,
    NewInteraction, NewPerson, Patch, to_storage_precision,
};
use workos_core::events::types;
use workos_core::ids::{CompanyId, DealId, PersonId};
use workos_core::repo::{CompanyRepo, DealRepo, InteractionRepo, PersonRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

async fn subjects(store: &SqlStore, ctx: &TenantContext) -> (PersonId, CompanyId, DealId) {
    let c = store
        .create_company(
            ctx,
            NewCompany {
                name: "Initech".into(),
                domain: None,
            },
        )
        .await
        .unwrap()
        .id;
    let p = store
        .create_person(
            ctx,
            NewPerson {
                first_name: Some("Ann".into()),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap()
        .id;
    let d = store
        .create_deal(ctx, NewDeal::named("Deal"))
        .await
        .unwrap()
        .id;
    (p, c, d)
}

contract_test!(interaction_crud_and_events);
async fn interaction_crud_and_events(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = t.user(store, Role::Member).await.with_request_id("req-1");
    let (p, c, d) = subjects(store, &ctx).await;
    let when = Utc::now() - Duration::hours(3);

    let new = NewInteraction {
        kind: InteractionKind::Meeting,
        occurred_at: when,
        summary: " Kick-off ".into(),
        body: Some("Agenda: everything".into()),
        person_id: Some(p),
        company_id: Some(c),
        deal_id: Some(d),
    };
    let i = store.create_interaction(&ctx, new).await.unwrap();
    assert_eq!(i.kind, InteractionKind::Meeting);
    assert_eq!(i.summary, "Kick-off");
    assert_eq!(i.occurred_at, to_storage_precision(when));
    assert_eq!(i.body.as_deref(), Some("Agenda: everything"));
    assert_eq!(
        (i.person_id, i.company_id, i.deal_id),
        (Some(p), Some(c), Some(d))
    );
    assert_eq!(i.org_id, t.org.id);
    assert_eq!(store.get_interaction(&ctx, i.id).await.unwrap(), i);
    let event = one_event(store, &ctx, types::INTERACTION_CREATED, i.id).await;
    assert_eq!(event.subject.kind, "interaction");
    assert_eq!(event.data["kind"], "meeting");
    assert_eq!(event.data["summary"], "Kick-off");
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    let patch = InteractionPatch {
        summary: Some("Kick-off, rescheduled".into()),
        occurred_at: Some(when + Duration::hours(1)),
        ..InteractionPatch::default()
    };
    let updated = store.update_interaction(&ctx, i.id, patch).await.unwrap();
    assert_eq!(updated.summary, "Kick-off, rescheduled");
    assert_eq!(
        updated.occurred_at,
        to_storage_precision(when + Duration::hours(1))
    );
    assert_eq!(updated.body, i.body);
    assert_eq!(store.get_interaction(&ctx, i.id).await.unwrap(), updated);
    let event = one_event(store, &ctx, types::INTERACTION_UPDATED, i.id).await;
    assert_eq!(event.data["summary"], "Kick-off, rescheduled");

    store.delete_interaction(&ctx, i.id).await.unwrap();
    expect_not_found(store.get_interaction(&ctx, i.id).await);
    expect_not_found(
        store
            .update_interaction(&ctx, i.id, InteractionPatch::default())
            .await,
    );
    expect_not_found(store.delete_interaction(&ctx, i.id).await);
    let listed = store
        .list_interactions(&ctx, InteractionFilter::default(), page(50))
        .await
        .unwrap();
    assert!(
        listed.data.is_empty(),
        "a deleted interaction is not listed"
    );
    let event = one_event(store, &ctx, types::INTERACTION_DELETED, i.id).await;
    assert_eq!(event.data["summary"], "Kick-off, rescheduled");
}

contract_test!(interaction_patch_clear_and_noop);
async fn interaction_patch_clear_and_noop(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let (p, c, d) = subjects(store, ctx).await;
    let i = store
        .create_interaction(
            ctx,
            NewInteraction {
                body: Some("Body".into()),
                person_id: Some(p),
                company_id: Some(c),
                deal_id: Some(d),
                ..NewInteraction::note("Note")
            },
        )
        .await
        .unwrap();

    let noop = InteractionPatch::default();
    assert_eq!(store.update_interaction(ctx, i.id, noop).await.unwrap(), i);
    let same_values = InteractionPatch {
        summary: Some("Note".into()),
        occurred_at: Some(i.occurred_at),
        body: Patch::Set("Body".into()),
        person_id: Patch::Set(p),
        ..InteractionPatch::default()
    };
    assert_eq!(
        store
            .update_interaction(ctx, i.id, same_values)
            .await
            .unwrap(),
        i
    );
    assert!(
        events_about(store, ctx, types::INTERACTION_UPDATED, i.id)
            .await
            .is_empty(),
        "a no-op patch writes no event"
    );

    let clear = InteractionPatch {
        body: Patch::Clear,
        person_id: Patch::Clear,
        company_id: Patch::Clear,
        deal_id: Patch::Clear,
        ..InteractionPatch::default()
    };
    let cleared = store.update_interaction(ctx, i.id, clear).await.unwrap();
    assert_eq!(cleared.body, None);
    assert_eq!(
        (cleared.person_id, cleared.company_id, cleared.deal_id),
        (None, None, None)
    );
    assert_eq!(cleared.summary, "Note");
    assert_eq!(store.get_interaction(ctx, i.id).await.unwrap(), cleared);
    let event = one_event(store, ctx, types::INTERACTION_UPDATED, i.id).await;
    for field in ["body", "person_id", "company_id", "deal_id"] {
        assert!(
            event.data[field].is_null(),
            "{field} is cleared in {event:?}"
        );
    }
}

contract_test!(interaction_validation);
async fn interaction_validation(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let ctx = &a.ctx;
    expect_validation(
        store
            .create_interaction(ctx, NewInteraction::note(" "))
            .await,
        "summary",
    );
    expect_validation(
        store
            .create_interaction(ctx, NewInteraction::note("s".repeat(501)))
            .await,
        "summary",
    );
    let long_body = NewInteraction {
        body: Some("b".repeat(100_001)),
        ..NewInteraction::note("Note")
    };
    expect_validation(store.create_interaction(ctx, long_body).await, "body");
    let (their_p, their_c, their_d) = subjects(store, &b.ctx).await;
    let refs = [
        (
            "person_id",
            NewInteraction {
                person_id: Some(their_p),
                ..NewInteraction::note("Note")
            },
        ),
        (
            "company_id",
            NewInteraction {
                company_id: Some(their_c),
                ..NewInteraction::note("Note")
            },
        ),
        (
            "deal_id",
            NewInteraction {
                deal_id: Some(their_d),
                ..NewInteraction::note("Note")
            },
        ),
    ];
    for (field, new) in refs {
        expect_validation(store.create_interaction(ctx, new).await, field);
    }
    let listed = store
        .list_interactions(ctx, InteractionFilter::default(), page(50))
        .await
        .unwrap();
    assert!(listed.data.is_empty(), "nothing invalid was stored");

    let i = store
        .create_interaction(ctx, NewInteraction::note("Note"))
        .await
        .unwrap();
    let blank = InteractionPatch {
        summary: Some(" ".into()),
        ..InteractionPatch::default()
    };
    expect_validation(store.update_interaction(ctx, i.id, blank).await, "summary");
    let theirs = InteractionPatch {
        person_id: Patch::Set(their_p),
        ..InteractionPatch::default()
    };
    expect_validation(
        store.update_interaction(ctx, i.id, theirs).await,
        "person_id",
    );
    assert_eq!(
        store.get_interaction(ctx, i.id).await.unwrap(),
        i,
        "unchanged"
    );
    assert!(
        events_about(store, ctx, types::INTERACTION_UPDATED, i.id)
            .await
            .is_empty()
    );
}

contract_test!(interaction_list_filter_paginate);
async fn interaction_list_filter_paginate(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let ctx = &a.ctx;
    let (p, c, d) = subjects(store, ctx).await;
    let now = Utc::now();
    let at = |kind, hours_ago: i64, summary: &str| NewInteraction {
        kind,
        occurred_at: now - Duration::hours(hours_ago),
        ..NewInteraction::note(summary)
    };
    let specs = [
        NewInteraction {
            person_id: Some(p),
            ..at(InteractionKind::Note, 5, "i0")
        },
        NewInteraction {
            company_id: Some(c),
            ..at(InteractionKind::Meeting, 1, "i1")
        },
        NewInteraction {
            person_id: Some(p),
            deal_id: Some(d),
            ..at(InteractionKind::Call, 10, "i2")
        },
        at(InteractionKind::Note, 0, "i3"),
        NewInteraction {
            company_id: Some(c),
            ..at(InteractionKind::Email, 3, "i4")
        },
    ];
    let mut items = Vec::new();
    for spec in specs {
        items.push(store.create_interaction(ctx, spec).await.unwrap());
    }
    store
        .create_interaction(&b.ctx, NewInteraction::note("theirs"))
        .await
        .unwrap();

    let list = |filter: InteractionFilter| {
        all_pages(
            2,
            move |pg| store.list_interactions(ctx, filter.clone(), pg),
            |i: &Interaction| i.id.as_uuid(),
        )
    };
    let ids = |idx: &[usize]| {
        idx.iter()
            .map(|&i| items[i].id.as_uuid())
            .collect::<Vec<_>>()
    };
    let seen = |found: &[Interaction]| found.iter().map(|i| i.id.as_uuid()).collect::<Vec<_>>();

    let all = list(InteractionFilter::default()).await;
    assert_ids_in_order(seen(&all), ids(&[0, 1, 2, 3, 4]));
    assert_eq!(all[4], items[4]);
    let cases = [
        (
            InteractionFilter {
                kind: Some(InteractionKind::Note),
                ..InteractionFilter::default()
            },
            vec![0, 3],
        ),
        (
            InteractionFilter {
                person_id: Some(p),
                ..InteractionFilter::default()
            },
            vec![0, 2],
        ),
        (
            InteractionFilter {
                company_id: Some(c),
                ..InteractionFilter::default()
            },
            vec![1, 4],
        ),
        (
            InteractionFilter {
                deal_id: Some(d),
                ..InteractionFilter::default()
            },
            vec![2],
        ),
        (
            InteractionFilter {
                occurred: later_than(now - Duration::hours(4)),
                ..InteractionFilter::default()
            },
            vec![1, 3, 4],
        ),
        (
            InteractionFilter {
                occurred: workos_core::domain::TimeRange {
                    after: Some(now - Duration::hours(6)),
                    before: Some(now - Duration::minutes(30)),
                },
                person_id: Some(p),
                ..InteractionFilter::default()
            },
            vec![0],
        ),
    ];
    for (filter, expected) in cases {
        let found = list(filter.clone()).await;
        assert_ids_in_order(seen(&found), ids(&expected));
    }
}

contract_test!(interaction_keeps_deleted_references);
/// An interaction about records that were deleted can still be edited without touching them.
async fn interaction_keeps_deleted_references(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let (p, c, d) = subjects(store, ctx).await;
    let new = NewInteraction {
        person_id: Some(p),
        company_id: Some(c),
        deal_id: Some(d),
        ..NewInteraction::note("Note")
    };
    let i = store.create_interaction(ctx, new).await.unwrap();
    store.delete_deal(ctx, d).await.unwrap();
    store.delete_person(ctx, p).await.unwrap();
    store.delete_company(ctx, c).await.unwrap();
    let patch = InteractionPatch {
        summary: Some("Edited".into()),
        ..InteractionPatch::default()
    };
    let updated = store.update_interaction(ctx, i.id, patch).await.unwrap();
    assert_eq!(updated.summary, "Edited");
    assert_eq!(
        (updated.person_id, updated.company_id, updated.deal_id),
        (Some(p), Some(c), Some(d))
    );
}
