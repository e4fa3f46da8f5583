//! Push watches on integrations (stored, cleared on disconnect, found when due for renewal),
//! finding a pushed mailbox's integrations across orgs, and claiming one integration for a
//! pushed sync against the scheduler's claims.

use std::time::Duration;

use chrono::Utc;
use workos_core::domain::{IntegrationWatch, NewIntegration};
use workos_core::repo::{IntegrationRef, IntegrationRepo, IntegrationScheduler, SealedSecrets};
use workos_store::SqlStore;

use crate::common::*;

const LEASE: Duration = Duration::from_secs(300);

contract_test!(watches_are_stored_found_when_due_and_cleared_on_disconnect);
async fn watches_are_stored_found_when_due_and_cleared_on_disconnect(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let connect = |ctx, account: &'static str| {
        store.create_integration(ctx, NewIntegration::gmail(account), SealedSecrets(vec![1]))
    };
    let a1 = connect(&a.ctx, "shared@mail.example").await.unwrap();
    let b1 = connect(&b.ctx, "shared@mail.example").await.unwrap();
    let b2 = connect(&b.ctx, "other@mail.example").await.unwrap();
    assert!(a1.watch_expires_at.is_none() && a1.watch_history_id.is_none());

    // No watch yet: all due.
    let soon = Utc::now() + chrono::Duration::days(6);
    let due = store
        .integrations_to_watch("gmail", soon, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 3);

    let in_a_week = Utc::now() + chrono::Duration::days(7);
    let watched = store
        .set_integration_watch(
            &a.system(),
            a1.id,
            Some(IntegrationWatch {
                expires_at: in_a_week,
                history_id: "4242".into(),
            }),
        )
        .await
        .unwrap();
    assert_eq!(watched.watch_history_id.as_deref(), Some("4242"));
    assert_eq!(
        watched.watch_expires_at.map(|t| t.timestamp_millis()),
        Some(in_a_week.timestamp_millis())
    );
    assert_eq!(
        store.get_integration(&a.ctx, a1.id).await.unwrap(),
        watched,
        "stored as answered"
    );
    // Another org's id is not found.
    assert!(
        store
            .set_integration_watch(&b.system(), a1.id, None)
            .await
            .is_err()
    );

    let due = store
        .integrations_to_watch("gmail", soon, 10)
        .await
        .unwrap();
    assert!(
        !due.iter().any(|r| r.id == a1.id),
        "a fresh watch is not due"
    );
    assert_eq!(due.len(), 2);
    let later = Utc::now() + chrono::Duration::days(8);
    let due = store
        .integrations_to_watch("gmail", later, 10)
        .await
        .unwrap();
    assert_eq!(
        due.last().map(|r| r.id),
        Some(a1.id),
        "missing watches first"
    );

    // A pushed address finds every org's integration of it, not a disconnected one.
    let of = |account: &'static str| store.integrations_of_account("gmail", account);
    let shared = of("shared@mail.example").await.unwrap();
    let mut expected = vec![
        IntegrationRef {
            org_id: a.org.id,
            id: a1.id,
        },
        IntegrationRef {
            org_id: b.org.id,
            id: b1.id,
        },
    ];
    expected.sort_by_key(|r| (r.org_id.as_uuid(), r.id.as_uuid()));
    assert_eq!(shared, expected);
    assert!(of("nobody@mail.example").await.unwrap().is_empty());

    let gone = store.disconnect_integration(&a.ctx, a1.id).await.unwrap();
    assert!(gone.watch_expires_at.is_none() && gone.watch_history_id.is_none());
    assert_eq!(of("shared@mail.example").await.unwrap().len(), 1);
    assert!(
        store
            .set_integration_watch(
                &a.system(),
                a1.id,
                Some(IntegrationWatch {
                    expires_at: in_a_week,
                    history_id: "1".into()
                })
            )
            .await
            .is_err(),
        "a disconnected integration is not watched"
    );
    let due = store
        .integrations_to_watch("gmail", soon, 10)
        .await
        .unwrap();
    assert!(!due.iter().any(|r| r.id == a1.id));
    assert!(due.iter().any(|r| r.id == b2.id));
}

contract_test!(a_pushed_sync_claims_one_integration_against_the_scheduler);
async fn a_pushed_sync_claims_one_integration_against_the_scheduler(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let i = store
        .create_integration(
            &a.ctx,
            NewIntegration::gmail("me@mail.example"),
            SealedSecrets(vec![1]),
        )
        .await
        .unwrap();
    let first = store
        .claim_integration(a.org.id, i.id, LEASE)
        .await
        .unwrap();
    assert!(first.is_some());
    assert!(
        store
            .claim_integration(a.org.id, i.id, LEASE)
            .await
            .unwrap()
            .is_none(),
        "claimed already"
    );
    assert!(
        store
            .claim_due_integrations("gmail", Utc::now(), LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "the scheduler skips it while the push's claim runs"
    );
    store
        .release_integration_claim(a.org.id, i.id)
        .await
        .unwrap();
    let scheduled = store
        .claim_due_integrations("gmail", Utc::now(), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(scheduled.len(), 1);
    assert!(
        store
            .claim_integration(a.org.id, i.id, LEASE)
            .await
            .unwrap()
            .is_none(),
        "the push waits for the scheduler's claim"
    );
    store
        .release_integration_claim(a.org.id, i.id)
        .await
        .unwrap();
    // Another org's id claims nothing.
    let b = Tenant::new(store, "B").await;
    assert!(
        store
            .claim_integration(b.org.id, i.id, LEASE)
            .await
            .unwrap()
            .is_none()
    );
    store.disconnect_integration(&a.ctx, i.id).await.unwrap();
    assert!(
        store
            .claim_integration(a.org.id, i.id, LEASE)
            .await
            .unwrap()
            .is_none(),
        "a disconnected integration is not synced"
    );
}
