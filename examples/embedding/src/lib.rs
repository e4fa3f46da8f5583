//! The example app's own logic, apart from `main.rs`: code generic over the engine's traits, so
//! it runs on `workos_store::SqlStore` in the program and on `workos-core`'s mocks (feature
//! `testing`) in `tests/mocks.rs`, the way an embedder unit-tests what it builds on the engine.

use workos_core::domain::{EmailAddress, NewPerson, Person, PersonFilter};
use workos_core::page::PageRequest;
use workos_core::repo::PersonRepo;
use workos_core::tenant::TenantContext;

/// The org's person with `email`, created with `first_name` when there is none yet: what an
/// app does with the sender of an incoming form or message.
///
/// # Errors
/// The repository's: [`workos_core::Error::Forbidden`] when the context may not write,
/// [`workos_core::Error::Validation`] for a bad name, [`workos_core::Error::Unavailable`].
pub async fn person_for_email(
    people: &impl PersonRepo,
    ctx: &TenantContext,
    email: &EmailAddress,
    first_name: &str,
) -> workos_core::Result<Person> {
    let filter = PersonFilter {
        email: Some(email.clone()),
        ..Default::default()
    };
    let found = people
        .list_people(ctx, filter, PageRequest::first(1)?)
        .await?;
    if let Some(person) = found.data.into_iter().next() {
        return Ok(person);
    }
    let new = NewPerson {
        first_name: Some(first_name.to_owned()),
        email: Some(email.clone()),
        ..Default::default()
    };
    people.create_person(ctx, new).await
}
