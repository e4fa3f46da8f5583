//! People: CRUD, events, the per-org uniqueness of every email and phone, filters, pagination,
//! validation, patches, and contact lookups.

use workos_core::domain::{NewCompany, NewPerson, Patch, Person, PersonFilter, PersonPatch};
use workos_core::events::types;
use workos_core::ids::CompanyId;
use workos_core::repo::{CompanyRepo, ContactLookup, PersonRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

fn named(first: &str) -> NewPerson {
    NewPerson {
        first_name: Some(first.into()),
        ..NewPerson::default()
    }
}

fn with_email(first: &str, address: &str) -> NewPerson {
    NewPerson {
        email: Some(email(address)),
        ..named(first)
    }
}

async fn new_company(store: &SqlStore, ctx: &TenantContext, name: &str) -> CompanyId {
    store
        .create_company(
            ctx,
            NewCompany {
                name: name.into(),
                domain: None,
            },
        )
        .await
        .unwrap()
        .id
}

async fn count_people(store: &SqlStore, ctx: &TenantContext) -> usize {
    store
        .list_people(ctx, PersonFilter::default(), page(200))
        .await
        .unwrap()
        .data
        .len()
}

contract_test!(person_crud_and_events);
async fn person_crud_and_events(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = t.user(store, Role::Member).await.with_request_id("req-1");
    let company = new_company(store, &ctx, "Initech").await;

    let new = NewPerson {
        first_name: Some(" Ann ".into()),
        last_name: Some("Lee".into()),
        email: Some(email("Ann.Lee@Example.com")),
        additional_emails: vec![email("ann@home.org")],
        phone: Some(workos_core::domain::E164::parse("+1 (415) 555-2671").unwrap()),
        additional_phones: vec![phone(1)],
        title: Some("CTO".into()),
        company_id: Some(company),
    };
    let p = store.create_person(&ctx, new).await.unwrap();
    assert_eq!(p.first_name.as_deref(), Some("Ann"), "names are trimmed");
    assert_eq!(
        p.email.as_ref().map(AsRef::as_ref),
        Some("ann.lee@example.com")
    );
    assert_eq!(p.phone.as_ref().map(AsRef::as_ref), Some("+14155552671"));
    assert_eq!(p.additional_emails, vec![email("ann@home.org")]);
    assert_eq!(p.additional_phones, vec![phone(1)]);
    assert_eq!(p.company_id, Some(company));
    assert_eq!(p.org_id, t.org.id);
    assert_eq!(store.get_person(&ctx, p.id).await.unwrap(), p);

    let event = one_event(store, &ctx, types::PERSON_CREATED, p.id).await;
    assert_eq!(event.subject.kind, "person");
    assert_eq!(event.data["email"], "ann.lee@example.com");
    assert_eq!(event.data["additional_emails"][0], "ann@home.org");
    assert_eq!(event.data["additional_phones"][0], phone(1).as_ref());
    assert_eq!(event.data["company_id"], json_id(company));
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    let patch = PersonPatch {
        last_name: Patch::Set("Smith".into()),
        title: Patch::Set("CEO".into()),
        ..PersonPatch::default()
    };
    let updated = store.update_person(&ctx, p.id, patch).await.unwrap();
    assert_eq!(updated.last_name.as_deref(), Some("Smith"));
    assert_eq!(updated.title.as_deref(), Some("CEO"));
    assert_eq!(updated.email, p.email, "absent fields are kept");
    assert_eq!(updated.created_at, p.created_at);
    assert_eq!(store.get_person(&ctx, p.id).await.unwrap(), updated);
    let event = one_event(store, &ctx, types::PERSON_UPDATED, p.id).await;
    assert_eq!(event.data["title"], "CEO");
    assert_eq!(event.data["last_name"], "Smith");
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    store.delete_person(&ctx, p.id).await.unwrap();
    expect_not_found(store.get_person(&ctx, p.id).await);
    expect_not_found(
        store
            .update_person(&ctx, p.id, PersonPatch::default())
            .await,
    );
    expect_not_found(store.delete_person(&ctx, p.id).await);
    assert_eq!(
        count_people(store, &ctx).await,
        0,
        "a deleted person is not listed"
    );
    assert_eq!(
        store
            .person_by_email(&ctx, &email("ann@home.org"))
            .await
            .unwrap(),
        None
    );
    let event = one_event(store, &ctx, types::PERSON_DELETED, p.id).await;
    assert_eq!(
        event.data["title"], "CEO",
        "the snapshot is the record as deleted"
    );
    assert_eq!(event.request_id.as_deref(), Some("req-1"));
}

contract_test!(person_contacts_are_unique_per_org);
async fn person_contacts_are_unique_per_org(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let ctx = &a.ctx;

    let ann = store
        .create_person(ctx, with_email("Ann", "Ann@X.com"))
        .await
        .unwrap();
    // Case-insensitively the same address, as primary or as additional email.
    expect_conflict(
        store
            .create_person(ctx, with_email("Ann 2", "ann@x.com"))
            .await,
        "email",
    );
    let bob_with_anns = NewPerson {
        additional_emails: vec![email("ANN@x.com")],
        ..with_email("Bob", "bob@x.com")
    };
    expect_conflict(
        store.create_person(ctx, bob_with_anns).await,
        "additional_emails[0]",
    );
    assert_eq!(
        count_people(store, ctx).await,
        1,
        "the rejected people were not stored"
    );
    assert_eq!(
        store
            .person_by_email(ctx, &email("bob@x.com"))
            .await
            .unwrap(),
        None,
        "a rejected person leaves no contact behind"
    );

    // Additional addresses are taken too, and phones work the same way.
    let patch = PersonPatch {
        additional_emails: Some(vec![email("ann.alt@x.com")]),
        phone: Patch::Set(phone(1)),
        additional_phones: Some(vec![phone(2)]),
        ..PersonPatch::default()
    };
    let ann = store.update_person(ctx, ann.id, patch).await.unwrap();
    expect_conflict(
        store
            .create_person(ctx, with_email("Al", "ann.alt@x.com"))
            .await,
        "email",
    );
    let same_phone = NewPerson {
        phone: Some(phone(1)),
        ..named("Cy")
    };
    expect_conflict(store.create_person(ctx, same_phone).await, "phone");
    let same_additional_phone = NewPerson {
        phone: Some(phone(3)),
        additional_phones: vec![phone(4), phone(2)],
        ..named("Cy")
    };
    expect_conflict(
        store.create_person(ctx, same_additional_phone).await,
        "additional_phones[1]",
    );

    // Taking someone's address by update is a conflict too, and changes nothing.
    let bob = store
        .create_person(ctx, with_email("Bob", "bob@x.com"))
        .await
        .unwrap();
    let take_primary = PersonPatch {
        email: Patch::Set(email("ann@x.com")),
        ..PersonPatch::default()
    };
    expect_conflict(
        store.update_person(ctx, bob.id, take_primary).await,
        "email",
    );
    let take_additional = PersonPatch {
        additional_emails: Some(vec![email("ANN.ALT@x.com")]),
        ..PersonPatch::default()
    };
    expect_conflict(
        store.update_person(ctx, bob.id, take_additional).await,
        "additional_emails[0]",
    );
    let take_phone = PersonPatch {
        additional_phones: Some(vec![phone(1)]),
        ..PersonPatch::default()
    };
    expect_conflict(
        store.update_person(ctx, bob.id, take_phone).await,
        "additional_phones[0]",
    );
    assert_eq!(store.get_person(ctx, bob.id).await.unwrap(), bob);
    assert!(
        events_about(store, ctx, types::PERSON_UPDATED, bob.id)
            .await
            .is_empty()
    );

    // A person keeps their own addresses through an unrelated update.
    let retitle = PersonPatch {
        title: Patch::Set("CEO".into()),
        ..PersonPatch::default()
    };
    store.update_person(ctx, ann.id, retitle).await.unwrap();

    // One person cannot list an address twice.
    let twice = NewPerson {
        additional_emails: vec![email("D@x.com")],
        ..with_email("Dee", "d@x.com")
    };
    expect_validation(store.create_person(ctx, twice).await, "additional_emails");

    // The same address in another org is another person.
    let anns_twin = store
        .create_person(&b.ctx, with_email("Ann", "ann@x.com"))
        .await
        .unwrap();
    let found = store
        .person_by_email(ctx, &email("ann@x.com"))
        .await
        .unwrap();
    assert_eq!(found.map(|p| p.id), Some(ann.id));
    let found = store
        .person_by_email(&b.ctx, &email("ann@x.com"))
        .await
        .unwrap();
    assert_eq!(found.map(|p| p.id), Some(anns_twin.id));

    // Clearing an address releases it; deleting a person releases all of theirs.
    let clear = PersonPatch {
        additional_emails: Some(vec![]),
        ..PersonPatch::default()
    };
    store.update_person(ctx, ann.id, clear).await.unwrap();
    store
        .create_person(ctx, with_email("Al", "ann.alt@x.com"))
        .await
        .unwrap();
    store.delete_person(ctx, ann.id).await.unwrap();
    let reuse = NewPerson {
        phone: Some(phone(1)),
        additional_phones: vec![phone(2)],
        ..with_email("Ann again", "ann@x.com")
    };
    let again = store.create_person(ctx, reuse).await.unwrap();
    let found = store
        .person_by_email(ctx, &email("ann@x.com"))
        .await
        .unwrap();
    assert_eq!(found.map(|p| p.id), Some(again.id));
    let found = store.person_by_phone(ctx, &phone(2)).await.unwrap();
    assert_eq!(found.map(|p| p.id), Some(again.id));
}

contract_test!(person_list_filter_paginate);
async fn person_list_filter_paginate(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let ctx = &a.ctx;
    let c1 = new_company(store, ctx, "One").await;
    let c2 = new_company(store, ctx, "Two").await;
    let specs = [
        NewPerson {
            last_name: Some("Lee".into()),
            email: Some(email("ann@x.com")),
            company_id: Some(c1),
            ..named("Ann")
        },
        NewPerson {
            last_name: Some("Leeds".into()),
            company_id: Some(c1),
            ..named("Bob")
        },
        NewPerson {
            last_name: Some("Ng".into()),
            email: Some(email("kat@x.com")),
            additional_emails: vec![email("kathy@x.com")],
            phone: Some(phone(1)),
            company_id: Some(c2),
            ..named("Kathleen")
        },
        NewPerson {
            additional_phones: vec![phone(2)],
            ..named("Dan")
        },
        named("Eve"),
    ];
    let mut people = Vec::new();
    for spec in specs {
        people.push(store.create_person(ctx, spec).await.unwrap());
    }
    store
        .create_person(&b.ctx, with_email("Lee", "ann@x.com"))
        .await
        .unwrap();

    let list = |filter: PersonFilter| {
        all_pages(
            2,
            move |p| store.list_people(ctx, filter.clone(), p),
            |p: &Person| p.id.as_uuid(),
        )
    };
    let ids = |idx: &[usize]| {
        idx.iter()
            .map(|&i| people[i].id.as_uuid())
            .collect::<Vec<_>>()
    };
    let seen = |found: &[Person]| found.iter().map(|p| p.id.as_uuid()).collect::<Vec<_>>();

    let all = list(PersonFilter::default()).await;
    assert_ids_in_order(seen(&all), ids(&[0, 1, 2, 3, 4]));
    assert!(all.iter().all(|p| p.org_id == a.org.id));
    assert_eq!(all[2], people[2]);

    let by = |f: PersonFilter| list(f);
    let found = by(PersonFilter {
        email: Some(email("Ann@X.com")),
        ..PersonFilter::default()
    })
    .await;
    assert_ids_in_order(seen(&found), ids(&[0]));
    let found = by(PersonFilter {
        email: Some(email("KATHY@x.com")),
        ..PersonFilter::default()
    })
    .await;
    assert_ids_in_order(seen(&found), ids(&[2]));
    let found = by(PersonFilter {
        phone: Some(phone(2)),
        ..PersonFilter::default()
    })
    .await;
    assert_ids_in_order(seen(&found), ids(&[3]));
    let found = by(PersonFilter {
        name: Some("LEE".into()),
        ..PersonFilter::default()
    })
    .await;
    assert_ids_in_order(seen(&found), ids(&[0, 1, 2]));
    let found = by(PersonFilter {
        company_id: Some(c1),
        ..PersonFilter::default()
    })
    .await;
    assert_ids_in_order(seen(&found), ids(&[0, 1]));
    let found = by(PersonFilter {
        name: Some("lee".into()),
        company_id: Some(c2),
        ..PersonFilter::default()
    })
    .await;
    assert_ids_in_order(seen(&found), ids(&[2]));
    let pivot = people[3].created_at;
    let found = by(PersonFilter {
        created: later_than(pivot),
        ..PersonFilter::default()
    })
    .await;
    let expected = people.iter().filter(|p| p.created_at >= pivot);
    assert_ids_in_order(seen(&found), expected.map(|p| p.id.as_uuid()));
}

contract_test!(person_validation);
async fn person_validation(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let ctx = &a.ctx;

    expect_validation(
        store.create_person(ctx, NewPerson::default()).await,
        "first_name",
    );
    expect_validation(store.create_person(ctx, named("   ")).await, "first_name");
    expect_validation(
        store.create_person(ctx, named(&"a".repeat(101))).await,
        "first_name",
    );
    let long_last = NewPerson {
        last_name: Some("b".repeat(101)),
        ..named("A")
    };
    expect_validation(store.create_person(ctx, long_last).await, "last_name");
    let long_title = NewPerson {
        title: Some("t".repeat(201)),
        ..named("A")
    };
    expect_validation(store.create_person(ctx, long_title).await, "title");

    // A company must be a live company of the same org.
    let theirs = new_company(store, &b.ctx, "B's").await;
    let at = |company_id| NewPerson {
        company_id: Some(company_id),
        ..named("A")
    };
    expect_validation(store.create_person(ctx, at(theirs)).await, "company_id");
    expect_validation(
        store.create_person(ctx, at(CompanyId::new())).await,
        "company_id",
    );
    let gone = new_company(store, ctx, "Gone").await;
    store.delete_company(ctx, gone).await.unwrap();
    expect_validation(store.create_person(ctx, at(gone)).await, "company_id");
    assert_eq!(
        count_people(store, ctx).await,
        0,
        "nothing invalid was stored"
    );

    let p = store.create_person(ctx, named("Ann")).await.unwrap();
    let move_to_theirs = PersonPatch {
        company_id: Patch::Set(theirs),
        ..PersonPatch::default()
    };
    expect_validation(
        store.update_person(ctx, p.id, move_to_theirs).await,
        "company_id",
    );
    let anonymous = PersonPatch {
        first_name: Patch::Clear,
        ..PersonPatch::default()
    };
    expect_validation(
        store.update_person(ctx, p.id, anonymous).await,
        "first_name",
    );
    assert_eq!(store.get_person(ctx, p.id).await.unwrap(), p, "unchanged");
    assert!(
        events_about(store, ctx, types::PERSON_UPDATED, p.id)
            .await
            .is_empty()
    );
    assert_eq!(
        store.get_company(&b.ctx, theirs).await.unwrap().name,
        "B's",
        "the other org's company is untouched"
    );
}

contract_test!(person_patch_clear_and_noop);
async fn person_patch_clear_and_noop(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let company = new_company(store, ctx, "Initech").await;
    let p = store
        .create_person(
            ctx,
            NewPerson {
                last_name: Some("Lee".into()),
                email: Some(email("ann@x.com")),
                additional_emails: vec![email("a2@x.com")],
                phone: Some(phone(1)),
                additional_phones: vec![phone(2)],
                title: Some("CTO".into()),
                company_id: Some(company),
                ..named("Ann")
            },
        )
        .await
        .unwrap();

    let same = store
        .update_person(ctx, p.id, PersonPatch::default())
        .await
        .unwrap();
    assert_eq!(
        same, p,
        "an empty patch changes nothing, not even updated_at"
    );
    let same_values = PersonPatch {
        first_name: Patch::Set("Ann".into()),
        email: Patch::Set(email("ANN@X.COM")),
        additional_emails: Some(vec![email("a2@x.com")]),
        title: Patch::Set("CTO".into()),
        company_id: Patch::Set(company),
        ..PersonPatch::default()
    };
    let same = store.update_person(ctx, p.id, same_values).await.unwrap();
    assert_eq!(same, p);
    assert!(
        events_about(store, ctx, types::PERSON_UPDATED, p.id)
            .await
            .is_empty(),
        "a no-op patch writes no event"
    );

    let clear = PersonPatch {
        last_name: Patch::Clear,
        email: Patch::Clear,
        additional_emails: Some(vec![]),
        phone: Patch::Clear,
        additional_phones: Some(vec![]),
        title: Patch::Clear,
        company_id: Patch::Clear,
        ..PersonPatch::default()
    };
    let cleared = store.update_person(ctx, p.id, clear).await.unwrap();
    assert_eq!(cleared.first_name.as_deref(), Some("Ann"));
    assert_eq!(cleared.last_name, None);
    assert_eq!(cleared.email, None);
    assert!(cleared.additional_emails.is_empty());
    assert_eq!(cleared.phone, None);
    assert!(cleared.additional_phones.is_empty());
    assert_eq!(cleared.title, None);
    assert_eq!(cleared.company_id, None);
    assert_eq!(store.get_person(ctx, p.id).await.unwrap(), cleared);
    let event = one_event(store, ctx, types::PERSON_UPDATED, p.id).await;
    for field in ["last_name", "email", "phone", "title", "company_id"] {
        assert!(
            event.data[field].is_null(),
            "{field} is cleared in {event:?}"
        );
    }
    assert_eq!(event.data["additional_emails"], serde_json::json!([]));

    // The cleared addresses are free again.
    assert_eq!(
        store
            .person_by_email(ctx, &email("ann@x.com"))
            .await
            .unwrap(),
        None
    );
    let newcomer = NewPerson {
        phone: Some(phone(2)),
        ..with_email("New", "ann@x.com")
    };
    store.create_person(ctx, newcomer).await.unwrap();
}

contract_test!(person_keeps_a_deleted_company);
/// A person whose company was deleted can still be edited without touching `company_id`.
async fn person_keeps_a_deleted_company(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = &t.ctx;
    let company = new_company(store, ctx, "Initech").await;
    let p = store
        .create_person(
            ctx,
            NewPerson {
                company_id: Some(company),
                ..named("Ann")
            },
        )
        .await
        .unwrap();
    store.delete_company(ctx, company).await.unwrap();

    let retitle = PersonPatch {
        title: Patch::Set("CEO".into()),
        ..PersonPatch::default()
    };
    let updated = store.update_person(ctx, p.id, retitle).await.unwrap();
    assert_eq!(updated.title.as_deref(), Some("CEO"));
    assert_eq!(
        updated.company_id,
        Some(company),
        "the reference is kept as it was"
    );
    // Pointing at the deleted company anew is still rejected.
    let other = new_company(store, ctx, "Other").await;
    let moved = PersonPatch {
        company_id: Patch::Set(other),
        ..PersonPatch::default()
    };
    store.update_person(ctx, p.id, moved).await.unwrap();
    let back = PersonPatch {
        company_id: Patch::Set(company),
        ..PersonPatch::default()
    };
    expect_validation(store.update_person(ctx, p.id, back).await, "company_id");
}

contract_test!(contact_lookup);
async fn contact_lookup(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let viewer = t.user(store, Role::Viewer).await;
    let p = store
        .create_person(
            &t.ctx,
            NewPerson {
                additional_emails: vec![email("ann@work.com")],
                phone: Some(phone(1)),
                additional_phones: vec![phone(2)],
                ..with_email("Ann", "ann@x.com")
            },
        )
        .await
        .unwrap();
    for address in ["ann@x.com", "ANN@X.COM", "Ann@Work.com"] {
        let found = store
            .person_by_email(&viewer, &email(address))
            .await
            .unwrap();
        assert_eq!(found.as_ref(), Some(&p), "{address}");
    }
    for number in [phone(1), phone(2)] {
        let found = store.person_by_phone(&viewer, &number).await.unwrap();
        assert_eq!(found.as_ref(), Some(&p), "{number}");
    }
    assert_eq!(
        store
            .person_by_email(&viewer, &email("bob@x.com"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.person_by_phone(&viewer, &phone(3)).await.unwrap(),
        None
    );
}
