//! The follow-up service tested with the testkit only: `workos-core`'s mocks, a store on a
//! scratch database, the fake Twilio, and signed webhooks (`workos-tests`). One binary; each
//! module is one step of `docs/testing.md`:
//!
//! - `mocks`: unit tests on `MockTaskRepo` and `MockSmsChannel`, no database, no network;
//! - `store`: the service on a real store over a scratch database, SQLite always, Postgres when
//!   `DATABASE_URL` is set (required when `WORKOS_REQUIRE_POSTGRES=1`), Citus when
//!   `WORKOS_CITUS_URL` is set (required when `WORKOS_REQUIRE_CITUS=1`);
//! - `twilio`: the real Twilio client against the fake Twilio, asserting what it received and
//!   injecting failures;
//! - `webhooks`: signed, altered, forged and stale webhooks, and the engine's own delivery of
//!   `person.created` caught by the testkit's verifying receiver and handed to the service.

mod mocks;
mod store;
mod twilio;
mod webhooks;

use chrono::Utc;
use workos_core::domain::{E164, EmailAddress, NewOrg, NewPerson, Person, Task, TaskFilter};
use workos_core::ids::{OrgId, PersonId, UserId};
use workos_core::page::PageRequest;
use workos_core::repo::{Directory, TaskRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;
use workos_tests::webhooks::WebhookSecret;

/// The org's number the service texts from.
fn our_number() -> E164 {
    E164::parse("+14155550199").unwrap()
}

/// Ada's phone.
fn ada_phone() -> E164 {
    E164::parse("+14155550100").unwrap()
}

/// The endpoint's secret in these tests (any `whsec_` secret of 24 to 64 bytes).
fn secret() -> WebhookSecret {
    WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
}

/// Ada, new, with an email and a phone.
fn new_ada() -> NewPerson {
    NewPerson {
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email: Some(EmailAddress::parse("ada@initech.com").unwrap()),
        phone: Some(ada_phone()),
        ..NewPerson::default()
    }
}

/// A new org "Acme" in `store`, and its owner's context.
async fn acme(store: &SqlStore) -> TenantContext {
    let owner = UserId::new();
    let org = store
        .create_org(
            NewOrg {
                name: "Acme".into(),
            },
            Some(owner),
        )
        .await
        .unwrap();
    TenantContext::user(org.id, owner, Role::Owner)
}

/// The tasks the store holds for `person`.
async fn tasks_of(store: &SqlStore, ctx: &TenantContext, person: PersonId) -> Vec<Task> {
    store
        .list_tasks(
            ctx,
            TaskFilter {
                person_id: Some(person),
                ..TaskFilter::default()
            },
            PageRequest::first(10).unwrap(),
        )
        .await
        .unwrap()
        .data
}

/// Ada as a store would answer her in `org_id`: records are plain structs, so tests that need
/// no store build them.
fn ada(org_id: OrgId) -> Person {
    let new = new_ada();
    Person {
        id: PersonId::new(),
        org_id,
        first_name: new.first_name,
        last_name: new.last_name,
        email: new.email,
        additional_emails: Vec::new(),
        phone: new.phone,
        additional_phones: Vec::new(),
        title: None,
        company_id: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}
