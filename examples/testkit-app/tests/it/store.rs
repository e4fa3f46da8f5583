//! Step 2 of the guide: the service on the engine's real store over a scratch database of the
//! test's own (`workos_tests::db::TestDatabase`): SQLite always; Postgres when `DATABASE_URL` is
//! set and Citus when `WORKOS_CITUS_URL` is set, each skipped (saying so) otherwise, unless
//! `WORKOS_REQUIRE_POSTGRES=1` / `WORKOS_REQUIRE_CITUS=1` turn the skip into a failure.

use followup::{FollowUp, Outcome};
use workos_core::channel::MockSmsChannel;
use workos_core::domain::{NewPerson, TaskPriority};
use workos_core::events::{EventFilter, types};
use workos_core::page::PageRequest;
use workos_core::repo::{EventRepo, PersonRepo};
use workos_store::SqlStore;
use workos_tests::db::TestDatabase;

use crate::{new_ada, our_number, secret};

/// The same test on every backend: Ada, created in the store, is followed up twice (the
/// engine redelivering) and has exactly one task, written as the service's system job.
async fn follows_up_once_on(db: TestDatabase) {
    let store = SqlStore::connect(db.url()).await.expect("connect");
    store.migrate().await.expect("migrate");
    let ctx = crate::acme(&store).await;
    let ada = store
        .create_person(
            &ctx,
            NewPerson {
                phone: None, // no SMS here: `twilio.rs` covers that
                ..new_ada()
            },
        )
        .await
        .unwrap();
    // No SMS expected: the mock fails the test if one is sent.
    let service = FollowUp::new(store.clone(), MockSmsChannel::new(), secret(), our_number());

    let first = service.follow_up(&ada).await.unwrap();
    let again = service.follow_up(&ada).await.unwrap();
    assert_eq!(first, again, "a redelivery finds the same task");

    let tasks = crate::tasks_of(&store, &ctx, ada.id).await;
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(tasks[0].title, "Follow up with Ada Lovelace");
    assert_eq!(tasks[0].priority, TaskPriority::High);
    assert!(matches!(first, Outcome::FollowedUp { task, sms: None } if task == tasks[0]));

    // The engine recorded the write, in Ada's org, as the service's job.
    let events = store
        .list_events(
            &ctx,
            EventFilter {
                types: vec![types::TASK_CREATED.to_owned()],
                ..EventFilter::default()
            },
            PageRequest::first(10).unwrap(),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].org_id, ctx.org_id());
    assert_eq!(events[0].subject.id, tasks[0].id.as_uuid());

    store.close().await; // before `db` drops and removes the database
}

#[tokio::test]
async fn follows_up_once_on_sqlite() {
    follows_up_once_on(TestDatabase::sqlite("followup")).await;
}

#[tokio::test]
async fn follows_up_once_on_postgres() {
    let Some(db) = TestDatabase::postgres("followup").await else {
        return; // skipped, and said so: DATABASE_URL is not set
    };
    follows_up_once_on(db).await;
}

#[tokio::test]
async fn follows_up_once_on_citus() {
    // Citus databases are copies of a template migrated once per schema version.
    let migrate = |url: String| async move {
        let store = SqlStore::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        store.close().await;
    };
    let schema = workos_store::schema_fingerprint();
    let Some(db) = TestDatabase::citus("followup", &schema, migrate).await else {
        return; // skipped, and said so: WORKOS_CITUS_URL is not set
    };
    follows_up_once_on(db).await;
}
