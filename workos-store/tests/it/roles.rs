//! Roles: what viewers, members, admins, owners and API keys may do.

use workos_core::domain::{
    CompanyFilter, CompanyPatch, NewApiKey, NewCompany, NewDeal, NewInteraction, NewMember,
    NewPerson, NewPhone, NewTask, PersonFilter, PhoneCapabilities,
};
use workos_core::events::EventFilter;
use workos_core::ids::{ApiKeyId, UserId};
use workos_core::repo::{
    ApiKeyRepo, CompanyRepo, DealRepo, EventRepo, InteractionRepo, MemberRepo, OrgRepo, PersonRepo,
    PhoneRepo, TaskRepo,
};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

fn acme() -> NewCompany {
    NewCompany {
        name: "Acme".into(),
        domain: None,
    }
}

fn ann() -> NewPerson {
    NewPerson {
        first_name: Some("Ann".into()),
        ..NewPerson::default()
    }
}

fn api_key(role: Role) -> NewApiKey {
    NewApiKey {
        name: "key".into(),
        role,
        prefix: key_prefix(),
        hash: vec![1; 32],
    }
}

fn number(n: u32) -> NewPhone {
    NewPhone {
        number: phone(n),
        provider: "twilio".into(),
        label: None,
        capabilities: PhoneCapabilities::default(),
    }
}

fn new_member(role: Role) -> NewMember {
    NewMember {
        user_id: UserId::new(),
        role,
    }
}

/// Every CRM create, as `ctx`; `Ok(())` only when all of them succeed, else the first error.
async fn create_one_of_each(store: &SqlStore, ctx: &TenantContext) -> workos_core::Result<()> {
    store.create_company(ctx, acme()).await?;
    store.create_person(ctx, ann()).await?;
    store.create_deal(ctx, NewDeal::named("Deal")).await?;
    store.create_task(ctx, NewTask::titled("Task")).await?;
    store
        .create_interaction(ctx, NewInteraction::note("Note"))
        .await?;
    Ok(())
}

contract_test!(viewer_reads_but_cannot_write);
async fn viewer_reads_but_cannot_write(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let viewer = t.user(store, Role::Viewer).await;
    let company = store.create_company(&t.ctx, acme()).await.unwrap();

    assert_eq!(
        store.get_company(&viewer, company.id).await.unwrap(),
        company
    );
    let listed = store
        .list_companies(&viewer, CompanyFilter::default(), page(50))
        .await
        .unwrap();
    assert_eq!(listed.data, vec![company.clone()]);
    store.get_org(&viewer).await.unwrap();
    store.list_members(&viewer, page(50)).await.unwrap();
    store.list_phones(&viewer, page(50)).await.unwrap();
    store
        .list_events(&viewer, EventFilter::default(), page(50))
        .await
        .unwrap();

    expect_forbidden(store.create_company(&viewer, acme()).await);
    expect_forbidden(store.create_person(&viewer, ann()).await);
    expect_forbidden(store.create_deal(&viewer, NewDeal::named("Deal")).await);
    expect_forbidden(store.create_task(&viewer, NewTask::titled("Task")).await);
    expect_forbidden(
        store
            .create_interaction(&viewer, NewInteraction::note("Note"))
            .await,
    );
    let rename = CompanyPatch {
        name: Some("Renamed".into()),
        ..CompanyPatch::default()
    };
    expect_forbidden(store.update_company(&viewer, company.id, rename).await);
    expect_forbidden(store.delete_company(&viewer, company.id).await);
    expect_forbidden(store.list_api_keys(&viewer, page(50)).await);
    expect_forbidden(store.create_api_key(&viewer, api_key(Role::Viewer)).await);

    assert_eq!(
        store.get_company(&t.ctx, company.id).await.unwrap(),
        company,
        "unchanged"
    );
    let people = store
        .list_people(&t.ctx, PersonFilter::default(), page(50))
        .await
        .unwrap();
    assert!(people.data.is_empty(), "nothing was created");
}

contract_test!(member_writes_crm_but_manages_nothing);
async fn member_writes_crm_but_manages_nothing(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let member = t.user(store, Role::Member).await;
    create_one_of_each(store, &member).await.unwrap();

    expect_forbidden(store.create_api_key(&member, api_key(Role::Member)).await);
    expect_forbidden(store.list_api_keys(&member, page(50)).await);
    expect_forbidden(store.create_phone(&member, number(1)).await);
    expect_forbidden(store.create_member(&member, new_member(Role::Viewer)).await);
    expect_forbidden(store.rename_org(&member, "Mine".into()).await);
    assert!(
        store
            .list_phones(&t.ctx, page(50))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    assert!(
        store
            .list_api_keys(&t.ctx, page(50))
            .await
            .unwrap()
            .data
            .is_empty()
    );
}

contract_test!(admin_manages_keys_and_phones_not_members);
async fn admin_manages_keys_and_phones_not_members(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let admin = t.user(store, Role::Admin).await;
    create_one_of_each(store, &admin).await.unwrap();
    let key = store
        .create_api_key(&admin, api_key(Role::Admin))
        .await
        .unwrap();
    store.revoke_api_key(&admin, key.id).await.unwrap();
    let p = store.create_phone(&admin, number(1)).await.unwrap();
    store.delete_phone(&admin, p.id).await.unwrap();

    let before = store.list_members(&t.ctx, page(50)).await.unwrap().data;
    expect_forbidden(store.create_member(&admin, new_member(Role::Viewer)).await);
    let owner = store.list_members(&t.ctx, page(50)).await.unwrap().data[0].clone();
    expect_forbidden(store.set_member_role(&admin, owner.id, Role::Viewer).await);
    expect_forbidden(store.delete_member(&admin, owner.id).await);
    expect_forbidden(store.rename_org(&admin, "Mine".into()).await);
    assert_eq!(
        store.list_members(&t.ctx, page(50)).await.unwrap().data,
        before,
        "unchanged"
    );
}

contract_test!(owner_manages_members_and_org);
async fn owner_manages_members_and_org(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    create_one_of_each(store, &t.ctx).await.unwrap();
    let m = store
        .create_member(&t.ctx, new_member(Role::Viewer))
        .await
        .unwrap();
    store
        .set_member_role(&t.ctx, m.id, Role::Admin)
        .await
        .unwrap();
    store.delete_member(&t.ctx, m.id).await.unwrap();
    store.rename_org(&t.ctx, "Acme 2".into()).await.unwrap();
    store
        .create_api_key(&t.ctx, api_key(Role::Owner))
        .await
        .unwrap();
    // A trusted job acts as owner.
    let job = t.system();
    store
        .create_member(&job, new_member(Role::Member))
        .await
        .unwrap();
    store.create_phone(&job, number(2)).await.unwrap();
}

contract_test!(api_key_actor_acts_with_its_role);
async fn api_key_actor_acts_with_its_role(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let reader = TenantContext::api_key(t.org.id, ApiKeyId::new(), Role::Viewer);
    let writer = TenantContext::api_key(t.org.id, ApiKeyId::new(), Role::Member);
    let company = store.create_company(&writer, acme()).await.unwrap();
    assert_eq!(
        store.get_company(&reader, company.id).await.unwrap(),
        company
    );
    expect_forbidden(store.create_company(&reader, acme()).await);
    expect_forbidden(store.create_phone(&writer, number(1)).await);
}
