//! Embedding the engine: open a store, migrate, create an org and people, use the app's own
//! code built on the engine's traits, and print the domain events the writes recorded.
//!
//! `cargo run -p workos-embedding-example` uses `sqlite://workos-example.db`; pass a URL
//! (`postgres://…` or `sqlite://…`) as the first argument to choose another database.
//!
//! The lines between `README: begin` and `README: end` are the root README's embedding
//! snippet, word for word (`tests/readme.rs` checks it), so the snippet compiles and runs.

use workos_core::domain::{
    EmailAddress, NewCompany, NewOrg, NewPerson, Patch, PersonFilter, PersonPatch,
};
use workos_core::ids::UserId;
use workos_core::page::PageRequest;
use workos_core::repo::{CompanyRepo, Directory, EventRepo, PersonRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_embedding_example::person_for_email;
use workos_store::SqlStore;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite://workos-example.db".into());
    let user_id = UserId::new(); // your app's user id, e.g. from your auth provider

    // README: begin
    let store = SqlStore::connect(&url).await?; // postgres://… or sqlite://…
    store.migrate().await?; // you decide when
    let acme = NewOrg {
        name: "Acme".into(),
    };
    let org = store.create_org(acme, Some(user_id)).await?;
    let ctx = TenantContext::user(org.id, user_id, Role::Owner); // every call takes a context
    let ada = NewPerson {
        first_name: Some("Ada".into()),
        email: Some(EmailAddress::parse("ada@initech.com")?),
        ..Default::default()
    };
    let ada = store.create_person(&ctx, ada).await?;
    let page = store
        .list_people(&ctx, PersonFilter::default(), PageRequest::first(50)?)
        .await?;
    // README: end
    assert_eq!(page.data, std::slice::from_ref(&ada));

    let company = NewCompany {
        name: "Initech".into(),
        domain: Some("initech.com".into()),
    };
    let company = store.create_company(&ctx, company).await?;
    let works_there = PersonPatch {
        company_id: Patch::Set(company.id),
        ..Default::default()
    };
    store.update_person(&ctx, ada.id, works_there).await?;

    // The app's own code: finds Ada (no write), creates Grace.
    let found = person_for_email(
        &store,
        &ctx,
        &EmailAddress::parse("ada@initech.com")?,
        "Ada",
    )
    .await?;
    assert_eq!(found.id, ada.id);
    person_for_email(
        &store,
        &ctx,
        &EmailAddress::parse("grace@initech.com")?,
        "Grace",
    )
    .await?;

    for p in store
        .list_people(&ctx, Default::default(), Default::default())
        .await?
        .data
    {
        println!(
            "person {} {} <{}>",
            p.id,
            p.first_name.unwrap_or_default(),
            p.email.map(|e| e.to_string()).unwrap_or_default()
        );
    }
    for e in store
        .list_events(&ctx, Default::default(), Default::default())
        .await?
        .data
    {
        println!("event {} {}", e.event_type, e.subject.id);
    }
    Ok(())
}
