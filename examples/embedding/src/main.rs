//! Embedding the engine: open a store, migrate, create an org, a company and a person, list
//! people, and print the domain events the writes recorded.
//!
//! `cargo run -p workos-embedding-example` uses `sqlite://workos-example.db`; pass a URL
//! (`postgres://…` or `sqlite://…`) as the first argument to choose another database.

use workos_core::domain::{EmailAddress, NewCompany, NewOrg, NewPerson};
use workos_core::ids::UserId;
use workos_core::repo::{CompanyRepo, Directory, EventRepo, PersonRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite://workos-example.db".into());
    let store = SqlStore::connect(&url).await?;
    store.migrate().await?;

    let user = UserId::new(); // your app's user id, e.g. from Supabase auth
    let org = store
        .create_org(
            NewOrg {
                name: "Acme".into(),
            },
            Some(user),
        )
        .await?;
    let ctx = TenantContext::user(org.id, user, Role::Owner);

    let company = NewCompany {
        name: "Initech".into(),
        domain: Some("initech.com".into()),
    };
    let company = store.create_company(&ctx, company).await?;
    let ada = NewPerson {
        first_name: Some("Ada".into()),
        email: Some(EmailAddress::parse("ada@initech.com")?),
        company_id: Some(company.id),
        ..Default::default()
    };
    store.create_person(&ctx, ada).await?;

    for p in store
        .list_people(&ctx, Default::default(), Default::default())
        .await?
        .data
    {
        println!(
            "person {} {} <{}>",
            p.id,
            p.first_name.unwrap_or_default(),
            p.email.unwrap().as_ref()
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
