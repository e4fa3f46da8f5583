//! Companies: CRUD, events, filters, pagination, validation, patches.

use workos_core::domain::{CompanyFilter, CompanyPatch, NewCompany, Patch};
use workos_core::events::types;
use workos_core::repo::CompanyRepo;
use workos_core::tenant::Role;
use workos_store::SqlStore;

use crate::common::*;

fn company(name: &str, domain: Option<&str>) -> NewCompany {
    NewCompany {
        name: name.into(),
        domain: domain.map(Into::into),
    }
}

contract_test!(company_crud_and_events);
async fn company_crud_and_events(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = t.user(store, Role::Member).await.with_request_id("req-1");

    let created = store
        .create_company(&ctx, company("  Initech  ", Some(" InitECH.com ")))
        .await
        .unwrap();
    assert_eq!(created.name, "Initech", "the name is trimmed");
    assert_eq!(
        created.domain.as_deref(),
        Some("initech.com"),
        "the domain is normalised"
    );
    assert_eq!(created.org_id, t.org.id);
    assert_eq!(store.get_company(&ctx, created.id).await.unwrap(), created);

    let event = one_event(store, &ctx, types::COMPANY_CREATED, created.id).await;
    assert_eq!(event.subject.kind, "company");
    assert_eq!(event.data["name"], "Initech");
    assert_eq!(event.data["domain"], "initech.com");
    assert_eq!(event.data["id"], json_id(created.id));
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    let patch = CompanyPatch {
        name: Some("Initrode".into()),
        ..CompanyPatch::default()
    };
    let updated = store.update_company(&ctx, created.id, patch).await.unwrap();
    assert_eq!(updated.name, "Initrode");
    assert_eq!(updated.domain, created.domain, "absent fields are kept");
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(store.get_company(&ctx, created.id).await.unwrap(), updated);
    let event = one_event(store, &ctx, types::COMPANY_UPDATED, created.id).await;
    assert_eq!(event.data["name"], "Initrode");
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    store.delete_company(&ctx, created.id).await.unwrap();
    expect_not_found(store.get_company(&ctx, created.id).await);
    let rename = CompanyPatch {
        name: Some("Ghost".into()),
        ..CompanyPatch::default()
    };
    expect_not_found(store.update_company(&ctx, created.id, rename).await);
    expect_not_found(store.delete_company(&ctx, created.id).await);
    let listed = store
        .list_companies(&ctx, CompanyFilter::default(), page(50))
        .await
        .unwrap();
    assert!(listed.data.is_empty(), "a deleted company is not listed");
    let event = one_event(store, &ctx, types::COMPANY_DELETED, created.id).await;
    assert_eq!(
        event.data["name"], "Initrode",
        "the snapshot is the record as deleted"
    );
    assert_eq!(
        events_about(store, &ctx, types::COMPANY_UPDATED, created.id)
            .await
            .len(),
        1,
        "failed writes on a deleted company emit nothing"
    );
}

contract_test!(company_list_filter_paginate);
async fn company_list_filter_paginate(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let mut created = Vec::new();
    for (name, domain) in [
        ("Acme Corp", Some("acme.com")),
        ("Globex", Some("globex.com")),
        ("ACME Industries", None),
        ("100% Juice", Some("juice.com")),
        ("Umbrella", None),
    ] {
        created.push(
            store
                .create_company(&a.ctx, company(name, domain))
                .await
                .unwrap(),
        );
    }
    store
        .create_company(&b.ctx, company("Acme of B", Some("acme.com")))
        .await
        .unwrap();

    let actx = &a.ctx;
    let list = |filter: CompanyFilter, limit: u32| {
        all_pages(
            limit,
            move |p| store.list_companies(actx, filter.clone(), p),
            |c: &workos_core::domain::Company| c.id.as_uuid(),
        )
    };
    let ids = |idx: &[usize]| {
        idx.iter()
            .map(|&i| created[i].id.as_uuid())
            .collect::<Vec<_>>()
    };

    let all = list(CompanyFilter::default(), 2).await;
    assert_ids_in_order(all.iter().map(|c| c.id.as_uuid()), ids(&[0, 1, 2, 3, 4]));
    assert!(all.iter().all(|c| c.org_id == a.org.id));
    assert_eq!(all[0], created[0], "listed records equal the created ones");

    let by_name = |name: &str| CompanyFilter {
        name: Some(name.into()),
        ..CompanyFilter::default()
    };
    let found = list(by_name("acme"), 1).await;
    assert_ids_in_order(found.iter().map(|c| c.id.as_uuid()), ids(&[0, 2]));
    // LIKE wildcards in the filter are literal text.
    let found = list(by_name("0%"), 2).await;
    assert_ids_in_order(found.iter().map(|c| c.id.as_uuid()), ids(&[3]));
    let found = list(by_name("_"), 2).await;
    assert!(
        found.is_empty(),
        "`_` matches only an underscore: {found:?}"
    );

    let found = list(
        CompanyFilter {
            domain: Some("ACME.com".into()),
            ..CompanyFilter::default()
        },
        2,
    )
    .await;
    assert_ids_in_order(found.iter().map(|c| c.id.as_uuid()), ids(&[0]));

    let pivot = created[2].created_at;
    let found = list(
        CompanyFilter {
            created: later_than(pivot),
            ..CompanyFilter::default()
        },
        2,
    )
    .await;
    let expected = created.iter().filter(|c| c.created_at >= pivot);
    assert_ids_in_order(
        found.iter().map(|c| c.id.as_uuid()),
        expected.map(|c| c.id.as_uuid()),
    );
    assert!(
        found.iter().any(|c| c.id == created[2].id),
        "the lower bound is inclusive"
    );
    let found = list(
        CompanyFilter {
            created: earlier_than(pivot),
            ..CompanyFilter::default()
        },
        2,
    )
    .await;
    let expected = created.iter().filter(|c| c.created_at < pivot);
    assert_ids_in_order(
        found.iter().map(|c| c.id.as_uuid()),
        expected.map(|c| c.id.as_uuid()),
    );
    assert!(
        !found.iter().any(|c| c.id == created[2].id),
        "the upper bound is exclusive"
    );
}

contract_test!(company_validation);
async fn company_validation(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    expect_validation(store.create_company(ctx, company("", None)).await, "name");
    expect_validation(
        store.create_company(ctx, company("   ", None)).await,
        "name",
    );
    expect_validation(
        store
            .create_company(ctx, company(&"n".repeat(201), None))
            .await,
        "name",
    );
    expect_validation(
        store
            .create_company(ctx, company("Acme", Some("not a domain")))
            .await,
        "domain",
    );
    // Every bad field is named at once.
    let both = store.create_company(ctx, company(" ", Some("nodot"))).await;
    expect_validation(both, "domain");
    let both = store.create_company(ctx, company(" ", Some("nodot"))).await;
    expect_validation(both, "name");
    let listed = store
        .list_companies(ctx, CompanyFilter::default(), page(50))
        .await
        .unwrap();
    assert!(listed.data.is_empty(), "nothing invalid was stored");

    let ok = store
        .create_company(ctx, company("Acme", Some("acme.com")))
        .await
        .unwrap();
    let blank = CompanyPatch {
        name: Some("  ".into()),
        ..CompanyPatch::default()
    };
    expect_validation(store.update_company(ctx, ok.id, blank).await, "name");
    let bad_domain = CompanyPatch {
        domain: Patch::Set("nope".into()),
        ..CompanyPatch::default()
    };
    expect_validation(store.update_company(ctx, ok.id, bad_domain).await, "domain");
    assert_eq!(
        store.get_company(ctx, ok.id).await.unwrap(),
        ok,
        "unchanged"
    );
    assert!(
        events_about(store, ctx, types::COMPANY_UPDATED, ok.id)
            .await
            .is_empty(),
        "a rejected update emits nothing"
    );
}

contract_test!(company_patch_clear_and_noop);
async fn company_patch_clear_and_noop(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let c = store
        .create_company(ctx, company("Hooli", Some("hooli.com")))
        .await
        .unwrap();

    let same = store
        .update_company(ctx, c.id, CompanyPatch::default())
        .await
        .unwrap();
    assert_eq!(
        same, c,
        "an empty patch changes nothing, not even updated_at"
    );
    let same_values = CompanyPatch {
        name: Some(" Hooli ".into()),
        domain: Patch::Set("HOOLI.com".into()),
    };
    let same = store.update_company(ctx, c.id, same_values).await.unwrap();
    assert_eq!(
        same, c,
        "a patch to the same (normalised) values changes nothing"
    );
    assert!(
        events_about(store, ctx, types::COMPANY_UPDATED, c.id)
            .await
            .is_empty(),
        "a no-op patch writes no event"
    );

    let clear = CompanyPatch {
        domain: Patch::Clear,
        ..CompanyPatch::default()
    };
    let cleared = store.update_company(ctx, c.id, clear).await.unwrap();
    assert_eq!(cleared.domain, None);
    assert_eq!(cleared.name, "Hooli");
    assert_eq!(store.get_company(ctx, c.id).await.unwrap(), cleared);
    let event = one_event(store, ctx, types::COMPANY_UPDATED, c.id).await;
    assert!(event.data["domain"].is_null(), "{event:?}");
}
