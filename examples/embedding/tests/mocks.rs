//! The app's own code (`person_for_email`) unit-tested against `workos-core`'s mocks (feature
//! `testing`), as an embedder would: no database, every repository call scripted and checked.

use chrono::Utc;
use workos_core::Error;
use workos_core::domain::{EmailAddress, NewPerson, Person};
use workos_core::ids::{OrgId, PersonId, UserId};
use workos_core::page::Page;
use workos_core::repo::MockPersonRepo;
use workos_core::tenant::{Role, TenantContext};
use workos_embedding_example::person_for_email;

fn ctx() -> TenantContext {
    TenantContext::user(OrgId::new(), UserId::new(), Role::Member)
}

fn ada() -> EmailAddress {
    EmailAddress::parse("ada@initech.com").unwrap()
}

/// What a store would answer for `new`: records are plain structs, so a test builds them.
fn stored(org_id: OrgId, new: NewPerson) -> Person {
    Person {
        id: PersonId::new(),
        org_id,
        first_name: new.first_name,
        last_name: new.last_name,
        email: new.email,
        additional_emails: new.additional_emails,
        phone: new.phone,
        additional_phones: new.additional_phones,
        title: new.title,
        company_id: new.company_id,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn page(data: Vec<Person>) -> Page<Person> {
    Page {
        data,
        next_cursor: None,
    }
}

#[tokio::test]
async fn a_new_email_creates_the_person_in_the_contexts_org() {
    let ctx = ctx();
    let mut people = MockPersonRepo::new();
    people
        .expect_list_people()
        .withf(|_, filter, _| filter.email == Some(ada()))
        .times(1)
        .returning(|_, _, _| Ok(page(Vec::new())));
    people
        .expect_create_person()
        .withf(|_, new| new.email == Some(ada()) && new.first_name.as_deref() == Some("Ada"))
        .times(1)
        .returning(|ctx, new| Ok(stored(ctx.org_id(), new)));

    let person = person_for_email(&people, &ctx, &ada(), "Ada")
        .await
        .unwrap();
    assert_eq!(person.org_id, ctx.org_id());
    assert_eq!(person.email, Some(ada()));
    assert_eq!(person.first_name.as_deref(), Some("Ada"));
}

#[tokio::test]
async fn a_known_email_returns_that_person_and_writes_nothing() {
    let ctx = ctx();
    let existing = stored(
        ctx.org_id(),
        NewPerson {
            first_name: Some("Ada".into()),
            email: Some(ada()),
            ..Default::default()
        },
    );
    let answer = existing.clone();
    let mut people = MockPersonRepo::new();
    people
        .expect_list_people()
        .times(1)
        .returning(move |_, _, _| Ok(page(vec![answer.clone()])));
    people.expect_create_person().never();

    let person = person_for_email(&people, &ctx, &ada(), "Someone else")
        .await
        .unwrap();
    assert_eq!(person, existing);
}

#[tokio::test]
async fn a_failing_lookup_is_passed_on_before_any_write() {
    let mut people = MockPersonRepo::new();
    people
        .expect_list_people()
        .returning(|_, _, _| Err(Error::unavailable("database down", "connection refused")));
    people.expect_create_person().never();

    let err = person_for_email(&people, &ctx(), &ada(), "Ada")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
}
