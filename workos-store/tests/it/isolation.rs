//! Cross-tenant isolation: another org's rows read as not found (never forbidden), are never
//! listed, cannot be changed, and cannot be referenced.

use workos_core::domain::{
    CompanyFilter, CompanyPatch, DealFilter, DealPatch, InteractionFilter, InteractionPatch,
    NewApiKey, NewCompany, NewDeal, NewInteraction, NewPerson, NewPhone, NewTask, Patch,
    PersonFilter, PersonPatch, PhoneCapabilities, TaskFilter, TaskPatch,
};
use workos_core::events::{EventFilter, types};
use workos_core::repo::{
    ApiKeyRepo, CompanyRepo, ContactLookup, DealRepo, Directory, EventRepo, InteractionRepo,
    MemberRepo, PersonRepo, PhoneRepo, TaskRepo,
};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

/// One record of every CRM kind, the later ones referring to the earlier ones.
struct CrmRows {
    company: workos_core::domain::Company,
    person: workos_core::domain::Person,
    deal: workos_core::domain::Deal,
    task: workos_core::domain::Task,
    interaction: workos_core::domain::Interaction,
}

async fn crm_rows(store: &SqlStore, ctx: &TenantContext, tag: &str) -> CrmRows {
    let company = store
        .create_company(
            ctx,
            NewCompany {
                name: format!("{tag} company"),
                domain: Some("shared.com".into()),
            },
        )
        .await
        .unwrap();
    let person = store
        .create_person(
            ctx,
            NewPerson {
                first_name: Some(format!("{tag} person")),
                email: Some(email(&format!("{tag}@x.com"))),
                phone: Some(phone(if tag == "a" { 1 } else { 2 })),
                company_id: Some(company.id),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    let deal = store
        .create_deal(
            ctx,
            NewDeal {
                company_id: Some(company.id),
                person_id: Some(person.id),
                ..NewDeal::named(format!("{tag} deal"))
            },
        )
        .await
        .unwrap();
    let task = store
        .create_task(
            ctx,
            NewTask {
                deal_id: Some(deal.id),
                person_id: Some(person.id),
                ..NewTask::titled(format!("{tag} task"))
            },
        )
        .await
        .unwrap();
    let interaction = store
        .create_interaction(
            ctx,
            NewInteraction {
                person_id: Some(person.id),
                company_id: Some(company.id),
                deal_id: Some(deal.id),
                ..NewInteraction::note(format!("{tag} note"))
            },
        )
        .await
        .unwrap();
    CrmRows {
        company,
        person,
        deal,
        task,
        interaction,
    }
}

contract_test!(crm_rows_are_invisible_to_other_orgs);
async fn crm_rows_are_invisible_to_other_orgs(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let theirs = crm_rows(store, &a.ctx, "a").await;
    let ours = crm_rows(store, &b.ctx, "b").await;
    let bx = &b.ctx;

    // get
    expect_not_found(store.get_company(bx, theirs.company.id).await);
    expect_not_found(store.get_person(bx, theirs.person.id).await);
    expect_not_found(store.get_deal(bx, theirs.deal.id).await);
    expect_not_found(store.get_task(bx, theirs.task.id).await);
    expect_not_found(store.get_interaction(bx, theirs.interaction.id).await);

    // update, with patches that would change something
    let rename = CompanyPatch {
        name: Some("Hijacked".into()),
        ..CompanyPatch::default()
    };
    expect_not_found(store.update_company(bx, theirs.company.id, rename).await);
    let retitle = PersonPatch {
        title: Patch::Set("Hijacked".into()),
        ..PersonPatch::default()
    };
    expect_not_found(store.update_person(bx, theirs.person.id, retitle).await);
    let rename = DealPatch {
        name: Some("Hijacked".into()),
        ..DealPatch::default()
    };
    expect_not_found(store.update_deal(bx, theirs.deal.id, rename).await);
    let retitle = TaskPatch {
        title: Some("Hijacked".into()),
        ..TaskPatch::default()
    };
    expect_not_found(store.update_task(bx, theirs.task.id, retitle).await);
    let resummarise = InteractionPatch {
        summary: Some("Hijacked".into()),
        ..InteractionPatch::default()
    };
    expect_not_found(
        store
            .update_interaction(bx, theirs.interaction.id, resummarise)
            .await,
    );

    // delete
    expect_not_found(store.delete_interaction(bx, theirs.interaction.id).await);
    expect_not_found(store.delete_task(bx, theirs.task.id).await);
    expect_not_found(store.delete_deal(bx, theirs.deal.id).await);
    expect_not_found(store.delete_person(bx, theirs.person.id).await);
    expect_not_found(store.delete_company(bx, theirs.company.id).await);

    // list: only B's own rows, even when filtering on A's values
    let all = page(200);
    let companies = store
        .list_companies(bx, CompanyFilter::default(), all.clone())
        .await
        .unwrap();
    assert_eq!(companies.data, vec![ours.company.clone()]);
    let same_domain = CompanyFilter {
        domain: Some("shared.com".into()),
        ..CompanyFilter::default()
    };
    let companies = store
        .list_companies(bx, same_domain, all.clone())
        .await
        .unwrap();
    assert_eq!(companies.data, vec![ours.company.clone()]);
    let people = store
        .list_people(bx, PersonFilter::default(), all.clone())
        .await
        .unwrap();
    assert_eq!(people.data, vec![ours.person.clone()]);
    let by_their_email = PersonFilter {
        email: Some(email("a@x.com")),
        ..PersonFilter::default()
    };
    assert!(
        store
            .list_people(bx, by_their_email, all.clone())
            .await
            .unwrap()
            .data
            .is_empty()
    );
    let at_their_company = PersonFilter {
        company_id: Some(theirs.company.id),
        ..PersonFilter::default()
    };
    assert!(
        store
            .list_people(bx, at_their_company, all.clone())
            .await
            .unwrap()
            .data
            .is_empty()
    );
    let deals = store
        .list_deals(bx, DealFilter::default(), all.clone())
        .await
        .unwrap();
    assert_eq!(deals.data, vec![ours.deal.clone()]);
    let with_their_person = DealFilter {
        person_id: Some(theirs.person.id),
        ..DealFilter::default()
    };
    assert!(
        store
            .list_deals(bx, with_their_person, all.clone())
            .await
            .unwrap()
            .data
            .is_empty()
    );
    let tasks = store
        .list_tasks(bx, TaskFilter::default(), all.clone())
        .await
        .unwrap();
    assert_eq!(tasks.data, vec![ours.task.clone()]);
    let on_their_deal = TaskFilter {
        deal_id: Some(theirs.deal.id),
        ..TaskFilter::default()
    };
    assert!(
        store
            .list_tasks(bx, on_their_deal, all.clone())
            .await
            .unwrap()
            .data
            .is_empty()
    );
    let interactions = store
        .list_interactions(bx, InteractionFilter::default(), all.clone())
        .await
        .unwrap();
    assert_eq!(interactions.data, vec![ours.interaction.clone()]);

    // contact lookups
    assert_eq!(
        store.person_by_email(bx, &email("a@x.com")).await.unwrap(),
        None
    );
    assert_eq!(store.person_by_phone(bx, &phone(1)).await.unwrap(), None);
    let found = store
        .person_by_email(&a.ctx, &email("a@x.com"))
        .await
        .unwrap();
    assert_eq!(
        found.map(|p| p.id),
        Some(theirs.person.id),
        "A still finds its own"
    );

    // events: B's log holds only B's events
    let events = store
        .list_events(bx, EventFilter::default(), all.clone())
        .await
        .unwrap();
    assert!(!events.data.is_empty());
    assert!(
        events.data.iter().all(|e| e.org_id == b.org.id),
        "{events:#?}"
    );
    assert!(
        events_about(store, bx, types::COMPANY_CREATED, theirs.company.id)
            .await
            .is_empty()
    );

    // A's rows are unchanged and A's log shows no change to them
    let ax = &a.ctx;
    assert_eq!(
        store.get_company(ax, theirs.company.id).await.unwrap(),
        theirs.company
    );
    assert_eq!(
        store.get_person(ax, theirs.person.id).await.unwrap(),
        theirs.person
    );
    assert_eq!(
        store.get_deal(ax, theirs.deal.id).await.unwrap(),
        theirs.deal
    );
    assert_eq!(
        store.get_task(ax, theirs.task.id).await.unwrap(),
        theirs.task
    );
    assert_eq!(
        store
            .get_interaction(ax, theirs.interaction.id)
            .await
            .unwrap(),
        theirs.interaction
    );
    let changes = EventFilter {
        types: [
            types::COMPANY_UPDATED,
            types::COMPANY_DELETED,
            types::PERSON_UPDATED,
            types::PERSON_DELETED,
            types::DEAL_UPDATED,
            types::DEAL_DELETED,
            types::TASK_UPDATED,
            types::TASK_DELETED,
            types::INTERACTION_UPDATED,
            types::INTERACTION_DELETED,
        ]
        .map(String::from)
        .to_vec(),
        ..EventFilter::default()
    };
    let changes = store.list_events(ax, changes, all.clone()).await.unwrap();
    assert!(changes.data.is_empty(), "{changes:#?}");
}

contract_test!(references_into_other_orgs_are_rejected);
async fn references_into_other_orgs_are_rejected(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let theirs = crm_rows(store, &a.ctx, "a").await;
    let ours = crm_rows(store, &b.ctx, "b").await;
    let bx = &b.ctx;

    let person = NewPerson {
        first_name: Some("P".into()),
        company_id: Some(theirs.company.id),
        ..NewPerson::default()
    };
    expect_validation(store.create_person(bx, person).await, "company_id");
    let deal = NewDeal {
        company_id: Some(theirs.company.id),
        ..NewDeal::named("D")
    };
    expect_validation(store.create_deal(bx, deal).await, "company_id");
    let deal = NewDeal {
        person_id: Some(theirs.person.id),
        ..NewDeal::named("D")
    };
    expect_validation(store.create_deal(bx, deal).await, "person_id");
    let task = NewTask {
        deal_id: Some(theirs.deal.id),
        ..NewTask::titled("T")
    };
    expect_validation(store.create_task(bx, task).await, "deal_id");
    let task = NewTask {
        person_id: Some(theirs.person.id),
        ..NewTask::titled("T")
    };
    expect_validation(store.create_task(bx, task).await, "person_id");
    let interaction = NewInteraction {
        company_id: Some(theirs.company.id),
        ..NewInteraction::note("N")
    };
    expect_validation(
        store.create_interaction(bx, interaction).await,
        "company_id",
    );
    let interaction = NewInteraction {
        deal_id: Some(theirs.deal.id),
        ..NewInteraction::note("N")
    };
    expect_validation(store.create_interaction(bx, interaction).await, "deal_id");

    // Repointing B's own records at A's is rejected the same way.
    let patch = PersonPatch {
        company_id: Patch::Set(theirs.company.id),
        ..PersonPatch::default()
    };
    expect_validation(
        store.update_person(bx, ours.person.id, patch).await,
        "company_id",
    );
    let patch = DealPatch {
        person_id: Patch::Set(theirs.person.id),
        ..DealPatch::default()
    };
    expect_validation(
        store.update_deal(bx, ours.deal.id, patch).await,
        "person_id",
    );
    let patch = TaskPatch {
        deal_id: Patch::Set(theirs.deal.id),
        ..TaskPatch::default()
    };
    expect_validation(store.update_task(bx, ours.task.id, patch).await, "deal_id");
    let patch = InteractionPatch {
        company_id: Patch::Set(theirs.company.id),
        ..InteractionPatch::default()
    };
    expect_validation(
        store
            .update_interaction(bx, ours.interaction.id, patch)
            .await,
        "company_id",
    );

    assert_eq!(
        store.get_person(bx, ours.person.id).await.unwrap(),
        ours.person
    );
    assert_eq!(store.get_deal(bx, ours.deal.id).await.unwrap(), ours.deal);
    assert_eq!(store.get_task(bx, ours.task.id).await.unwrap(), ours.task);
    assert_eq!(
        store
            .get_interaction(bx, ours.interaction.id)
            .await
            .unwrap(),
        ours.interaction
    );
    let people = store
        .list_people(bx, PersonFilter::default(), page(50))
        .await
        .unwrap();
    assert_eq!(people.data.len(), 1, "no rejected person was stored");
}

contract_test!(admin_rows_are_invisible_to_other_orgs);
async fn admin_rows_are_invisible_to_other_orgs(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let a_user = a.user(store, Role::Member).await;
    let a_user_id = a_user.user_id().unwrap();
    let a_member = store
        .membership(a.org.id, a_user_id)
        .await
        .unwrap()
        .unwrap();
    let key = |name: &str| NewApiKey {
        name: name.into(),
        role: Role::Member,
        prefix: key_prefix(),
        hash: vec![3; 32],
    };
    let number = |n| NewPhone {
        number: phone(n),
        provider: "twilio".into(),
        label: None,
        capabilities: PhoneCapabilities::default(),
    };
    let a_key = store.create_api_key(&a.ctx, key("a")).await.unwrap();
    let a_phone = store.create_phone(&a.ctx, number(1)).await.unwrap();
    let b_key = store.create_api_key(&b.ctx, key("b")).await.unwrap();
    let b_phone = store.create_phone(&b.ctx, number(2)).await.unwrap();
    let bx = &b.ctx;

    expect_not_found(store.get_member(bx, a_member.id).await);
    expect_not_found(store.set_member_role(bx, a_member.id, Role::Owner).await);
    expect_not_found(store.delete_member(bx, a_member.id).await);
    let members = store.list_members(bx, page(50)).await.unwrap().data;
    assert_eq!(members.len(), 1);
    assert!(members.iter().all(|m| m.org_id == b.org.id));

    expect_not_found(store.get_api_key(bx, a_key.id).await);
    expect_not_found(store.revoke_api_key(bx, a_key.id).await);
    assert_eq!(
        store.list_api_keys(bx, page(50)).await.unwrap().data,
        vec![b_key]
    );

    expect_not_found(store.get_phone(bx, a_phone.id).await);
    expect_not_found(store.delete_phone(bx, a_phone.id).await);
    assert_eq!(
        store.list_phones(bx, page(50)).await.unwrap().data,
        vec![b_phone]
    );
    // A number owned by A cannot be taken by B.
    expect_conflict(store.create_phone(bx, number(1)).await, "number");

    // The directory answers for the org that owns each row.
    assert_eq!(store.membership(b.org.id, a_user_id).await.unwrap(), None);
    assert_eq!(store.membership(b.org.id, a.owner).await.unwrap(), None);
    let credentials = store
        .api_key_by_prefix(&a_key.prefix)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credentials.key.org_id, a.org.id);
    let owner = store.phone_by_number(&phone(1)).await.unwrap().unwrap();
    assert_eq!(owner.org_id, a.org.id);

    // A's rows are unchanged.
    assert_eq!(
        store.get_member(&a.ctx, a_member.id).await.unwrap(),
        a_member
    );
    assert_eq!(store.get_api_key(&a.ctx, a_key.id).await.unwrap(), a_key);
    assert_eq!(store.get_phone(&a.ctx, a_phone.id).await.unwrap(), a_phone);
}
