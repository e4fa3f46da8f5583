//! Deals: CRUD, events, filters, pagination, validation, patches.

use workos_core::domain::{
    Currency, Deal, DealFilter, DealPatch, DealStage, NewCompany, NewDeal, NewPerson, Patch,
    money_from_parts,
};
use workos_core::events::types;
use workos_core::ids::{CompanyId, PersonId, UserId};
use workos_core::repo::{CompanyRepo, DealRepo, PersonRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

async fn company(store: &SqlStore, ctx: &TenantContext, name: &str) -> CompanyId {
    let new = NewCompany {
        name: name.into(),
        domain: None,
    };
    store.create_company(ctx, new).await.unwrap().id
}

async fn person(store: &SqlStore, ctx: &TenantContext, name: &str) -> PersonId {
    let new = NewPerson {
        first_name: Some(name.into()),
        ..NewPerson::default()
    };
    store.create_person(ctx, new).await.unwrap().id
}

contract_test!(deal_crud_and_events);
async fn deal_crud_and_events(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = t.user(store, Role::Member).await.with_request_id("req-1");
    let c = company(store, &ctx, "Initech").await;
    let p = person(store, &ctx, "Ann").await;

    let new = NewDeal {
        amount: Some(money(199_900, "USD")),
        stage: DealStage::Qualified,
        company_id: Some(c),
        person_id: Some(p),
        owner_id: Some(t.owner),
        ..NewDeal::named("  Big one ")
    };
    let d = store.create_deal(&ctx, new).await.unwrap();
    assert_eq!(d.name, "Big one");
    assert_eq!(d.amount, Some(money(199_900, "USD")));
    assert_eq!(d.stage, DealStage::Qualified);
    assert_eq!(
        (d.company_id, d.person_id, d.owner_id),
        (Some(c), Some(p), Some(t.owner))
    );
    assert_eq!(d.org_id, t.org.id);
    assert_eq!(store.get_deal(&ctx, d.id).await.unwrap(), d);
    let event = one_event(store, &ctx, types::DEAL_CREATED, d.id).await;
    assert_eq!(event.subject.kind, "deal");
    assert_eq!(
        event.data["amount"],
        serde_json::json!({"amount_minor": 199_900, "currency": "USD"})
    );
    assert_eq!(event.data["stage"], "qualified");
    assert_eq!(event.data["person_id"], json_id(p));
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    let won = DealPatch {
        stage: Some(DealStage::Won),
        amount: Patch::Set(money(5, "EUR")),
        ..DealPatch::default()
    };
    let updated = store.update_deal(&ctx, d.id, won).await.unwrap();
    assert_eq!(updated.stage, DealStage::Won);
    assert_eq!(updated.amount, Some(money(5, "EUR")));
    assert_eq!(updated.name, d.name);
    assert_eq!(store.get_deal(&ctx, d.id).await.unwrap(), updated);
    let event = one_event(store, &ctx, types::DEAL_UPDATED, d.id).await;
    assert_eq!(event.data["stage"], "won");
    assert_eq!(event.data["amount"]["currency"], "EUR");
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    store.delete_deal(&ctx, d.id).await.unwrap();
    expect_not_found(store.get_deal(&ctx, d.id).await);
    expect_not_found(store.update_deal(&ctx, d.id, DealPatch::default()).await);
    expect_not_found(store.delete_deal(&ctx, d.id).await);
    let listed = store
        .list_deals(&ctx, DealFilter::default(), page(50))
        .await
        .unwrap();
    assert!(listed.data.is_empty(), "a deleted deal is not listed");
    let event = one_event(store, &ctx, types::DEAL_DELETED, d.id).await;
    assert_eq!(
        event.data["stage"], "won",
        "the snapshot is the record as deleted"
    );
}

contract_test!(deal_patch_clear_and_noop);
async fn deal_patch_clear_and_noop(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let c = company(store, ctx, "Initech").await;
    let p = person(store, ctx, "Ann").await;
    let d = store
        .create_deal(
            ctx,
            NewDeal {
                amount: Some(money(100, "USD")),
                company_id: Some(c),
                person_id: Some(p),
                owner_id: Some(t.owner),
                ..NewDeal::named("Deal")
            },
        )
        .await
        .unwrap();

    assert_eq!(
        store
            .update_deal(ctx, d.id, DealPatch::default())
            .await
            .unwrap(),
        d
    );
    let same_values = DealPatch {
        name: Some("Deal".into()),
        amount: Patch::Set(money(100, "USD")),
        stage: Some(DealStage::Lead),
        company_id: Patch::Set(c),
        ..DealPatch::default()
    };
    assert_eq!(store.update_deal(ctx, d.id, same_values).await.unwrap(), d);
    assert!(
        events_about(store, ctx, types::DEAL_UPDATED, d.id)
            .await
            .is_empty(),
        "a no-op patch writes no event"
    );

    let clear = DealPatch {
        amount: Patch::Clear,
        company_id: Patch::Clear,
        person_id: Patch::Clear,
        owner_id: Patch::Clear,
        ..DealPatch::default()
    };
    let cleared = store.update_deal(ctx, d.id, clear).await.unwrap();
    assert_eq!(
        (
            cleared.amount,
            cleared.company_id,
            cleared.person_id,
            cleared.owner_id
        ),
        (None, None, None, None)
    );
    assert_eq!(cleared.name, "Deal");
    assert_eq!(store.get_deal(ctx, d.id).await.unwrap(), cleared);
    let event = one_event(store, ctx, types::DEAL_UPDATED, d.id).await;
    for field in ["amount", "company_id", "person_id", "owner_id"] {
        assert!(
            event.data[field].is_null(),
            "{field} is cleared in {event:?}"
        );
    }
}

contract_test!(deal_validation);
async fn deal_validation(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let ctx = &a.ctx;

    // An unknown currency never gets this far: it is rejected when the amount is parsed.
    assert!(Currency::parse("XYZ").is_err());
    let err = money_from_parts(Some(100), Some("XYZ")).unwrap_err();
    assert_eq!(err.errors[0].field, "currency");

    let negative = NewDeal {
        amount: Some(money(-1, "USD")),
        ..NewDeal::named("Deal")
    };
    expect_validation(store.create_deal(ctx, negative).await, "amount_minor");
    expect_validation(store.create_deal(ctx, NewDeal::named(" ")).await, "name");
    expect_validation(
        store
            .create_deal(ctx, NewDeal::named("d".repeat(201)))
            .await,
        "name",
    );
    let their_company = company(store, &b.ctx, "B's").await;
    let their_person = person(store, &b.ctx, "B's").await;
    let with_company = NewDeal {
        company_id: Some(their_company),
        ..NewDeal::named("Deal")
    };
    expect_validation(store.create_deal(ctx, with_company).await, "company_id");
    let with_person = NewDeal {
        person_id: Some(their_person),
        ..NewDeal::named("Deal")
    };
    expect_validation(store.create_deal(ctx, with_person).await, "person_id");
    let gone = person(store, ctx, "Gone").await;
    store.delete_person(ctx, gone).await.unwrap();
    let with_gone = NewDeal {
        person_id: Some(gone),
        ..NewDeal::named("Deal")
    };
    expect_validation(store.create_deal(ctx, with_gone).await, "person_id");
    let listed = store
        .list_deals(ctx, DealFilter::default(), page(50))
        .await
        .unwrap();
    assert!(listed.data.is_empty(), "nothing invalid was stored");

    let d = store
        .create_deal(ctx, NewDeal::named("Deal"))
        .await
        .unwrap();
    let negative = DealPatch {
        amount: Patch::Set(money(-5, "USD")),
        ..DealPatch::default()
    };
    expect_validation(store.update_deal(ctx, d.id, negative).await, "amount_minor");
    let theirs = DealPatch {
        company_id: Patch::Set(their_company),
        ..DealPatch::default()
    };
    expect_validation(store.update_deal(ctx, d.id, theirs).await, "company_id");
    assert_eq!(store.get_deal(ctx, d.id).await.unwrap(), d, "unchanged");
    assert!(
        events_about(store, ctx, types::DEAL_UPDATED, d.id)
            .await
            .is_empty()
    );
}

contract_test!(deal_list_filter_paginate);
async fn deal_list_filter_paginate(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let ctx = &a.ctx;
    let c = company(store, ctx, "Initech").await;
    let p = person(store, ctx, "Ann").await;
    let owner = UserId::new();
    let specs = [
        NewDeal {
            stage: DealStage::Won,
            company_id: Some(c),
            ..NewDeal::named("d0")
        },
        NewDeal {
            owner_id: Some(owner),
            person_id: Some(p),
            ..NewDeal::named("d1")
        },
        NewDeal {
            stage: DealStage::Won,
            owner_id: Some(owner),
            company_id: Some(c),
            person_id: Some(p),
            ..NewDeal::named("d2")
        },
        NewDeal::named("d3"),
        NewDeal {
            stage: DealStage::Lost,
            ..NewDeal::named("d4")
        },
    ];
    let mut deals = Vec::new();
    for spec in specs {
        deals.push(store.create_deal(ctx, spec).await.unwrap());
    }
    store
        .create_deal(&b.ctx, NewDeal::named("theirs"))
        .await
        .unwrap();

    let list = |filter: DealFilter| {
        all_pages(
            2,
            move |pg| store.list_deals(ctx, filter.clone(), pg),
            |d: &Deal| d.id.as_uuid(),
        )
    };
    let ids = |idx: &[usize]| {
        idx.iter()
            .map(|&i| deals[i].id.as_uuid())
            .collect::<Vec<_>>()
    };
    let seen = |found: &[Deal]| found.iter().map(|d| d.id.as_uuid()).collect::<Vec<_>>();

    let all = list(DealFilter::default()).await;
    assert_ids_in_order(seen(&all), ids(&[0, 1, 2, 3, 4]));
    assert_eq!(all[2], deals[2]);
    let found = list(DealFilter {
        stage: Some(DealStage::Won),
        ..DealFilter::default()
    })
    .await;
    assert_ids_in_order(seen(&found), ids(&[0, 2]));
    let found = list(DealFilter {
        owner_id: Some(owner),
        ..DealFilter::default()
    })
    .await;
    assert_ids_in_order(seen(&found), ids(&[1, 2]));
    let found = list(DealFilter {
        company_id: Some(c),
        ..DealFilter::default()
    })
    .await;
    assert_ids_in_order(seen(&found), ids(&[0, 2]));
    let found = list(DealFilter {
        person_id: Some(p),
        stage: Some(DealStage::Won),
        ..DealFilter::default()
    })
    .await;
    assert_ids_in_order(seen(&found), ids(&[2]));
    let pivot = deals[1].created_at;
    let found = list(DealFilter {
        created: earlier_than(pivot),
        ..DealFilter::default()
    })
    .await;
    let expected = deals.iter().filter(|d| d.created_at < pivot);
    assert_ids_in_order(seen(&found), expected.map(|d| d.id.as_uuid()));
}

contract_test!(deal_keeps_deleted_references);
/// A deal whose company and contact were deleted can still be edited without touching them.
async fn deal_keeps_deleted_references(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let c = company(store, ctx, "Initech").await;
    let p = person(store, ctx, "Ann").await;
    let new = NewDeal {
        company_id: Some(c),
        person_id: Some(p),
        ..NewDeal::named("Deal")
    };
    let d = store.create_deal(ctx, new).await.unwrap();
    store.delete_company(ctx, c).await.unwrap();
    store.delete_person(ctx, p).await.unwrap();
    let won = DealPatch {
        stage: Some(DealStage::Won),
        ..DealPatch::default()
    };
    let updated = store.update_deal(ctx, d.id, won).await.unwrap();
    assert_eq!(updated.stage, DealStage::Won);
    assert_eq!((updated.company_id, updated.person_id), (Some(c), Some(p)));
}
