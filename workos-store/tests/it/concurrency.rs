//! Concurrent writers racing for one unique value: exactly one wins, the others get a conflict
//! naming the field (never an internal error), and nothing of the losers is left behind.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Barrier;
use workos_core::domain::{NewPerson, NewPhone, PersonFilter, PhoneCapabilities};
use workos_core::events::{EventFilter, types};
use workos_core::repo::{Directory, EventRepo, PersonRepo, PhoneRepo};
use workos_core::tenant::Role;
use workos_store::SqlStore;

use crate::common::*;

const RACERS: usize = 8;

/// Runs `RACERS` copies of `op(i)` at once (released together by a barrier) on spawned tasks.
async fn race<T, F, Fut>(store: &SqlStore, op: F) -> Vec<workos_core::Result<T>>
where
    T: Send + 'static,
    F: Fn(SqlStore, usize) -> Fut,
    Fut: Future<Output = workos_core::Result<T>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|i| {
            let barrier = barrier.clone();
            let run = op(store.clone(), i);
            tokio::spawn(async move {
                barrier.wait().await;
                run.await
            })
        })
        .collect();
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.expect("the task did not panic"));
    }
    results
}

contract_test!(concurrent_creates_of_one_email_admit_one);
async fn concurrent_creates_of_one_email_admit_one(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = t.user(store, Role::Member).await;
    let results = race(store, |s, i| {
        let ctx = ctx.clone();
        async move {
            let new = NewPerson {
                first_name: Some(format!("Racer {i}")),
                email: Some(email("race@x.com")),
                ..NewPerson::default()
            };
            s.create_person(&ctx, new).await
        }
    })
    .await;

    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:#?}");
    for r in results.iter().filter(|r| r.is_err()) {
        match r {
            Err(workos_core::Error::Conflict { field, .. }) => assert_eq!(field, "email"),
            other => panic!("a loser must see a conflict on email, got {other:?}"),
        }
    }
    let filter = PersonFilter {
        email: Some(email("race@x.com")),
        ..PersonFilter::default()
    };
    let found = store
        .list_people(&ctx, filter, page(50))
        .await
        .unwrap()
        .data;
    assert_eq!(found, vec![winners[0].clone()]);
    let all = store
        .list_people(&ctx, PersonFilter::default(), page(50))
        .await
        .unwrap();
    assert_eq!(all.data.len(), 1, "no loser was stored");
    let created = EventFilter {
        types: vec![types::PERSON_CREATED.into()],
        ..EventFilter::default()
    };
    let events = store
        .list_events(&ctx, created, page(50))
        .await
        .unwrap()
        .data;
    assert_eq!(events.len(), 1, "only the winner's event was written");
}

contract_test!(concurrent_primary_and_additional_claims_admit_one);
/// Half the racers want the address as their primary email, half as an additional one.
async fn concurrent_primary_and_additional_claims_admit_one(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = t.ctx.clone();
    let results = race(store, |s, i| {
        let ctx = ctx.clone();
        async move {
            let new = if i % 2 == 0 {
                NewPerson {
                    email: Some(email("Shared@X.com")),
                    ..NewPerson::default()
                }
            } else {
                NewPerson {
                    email: Some(email(&format!("own{i}@x.com"))),
                    additional_emails: vec![email("shared@x.com")],
                    ..NewPerson::default()
                }
            };
            s.create_person(&ctx, new).await
        }
    })
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:#?}"
    );
    for r in results.iter().filter(|r| r.is_err()) {
        match r {
            Err(workos_core::Error::Conflict { field, .. }) => assert!(
                field == "email" || field == "additional_emails[0]",
                "the conflict names the field holding the address: {field}"
            ),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    let all = store
        .list_people(&ctx, PersonFilter::default(), page(50))
        .await
        .unwrap();
    assert_eq!(all.data.len(), 1);
}

contract_test!(concurrent_creates_of_distinct_emails_all_succeed);
async fn concurrent_creates_of_distinct_emails_all_succeed(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = t.ctx.clone();
    let results = race(store, |s, i| {
        let ctx = ctx.clone();
        async move {
            let new = NewPerson {
                email: Some(email(&format!("p{i}@x.com"))),
                ..NewPerson::default()
            };
            s.create_person(&ctx, new).await
        }
    })
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:#?}");
    let all = store
        .list_people(&ctx, PersonFilter::default(), page(50))
        .await
        .unwrap();
    assert_eq!(all.data.len(), RACERS);
}

contract_test!(concurrent_claims_of_one_number_across_orgs_admit_one);
async fn concurrent_claims_of_one_number_across_orgs_admit_one(store: &SqlStore) {
    let mut tenants = Vec::new();
    for i in 0..RACERS {
        tenants.push(Tenant::new(store, &format!("Org {i}")).await);
    }
    let contexts: Vec<_> = tenants.iter().map(|t| t.ctx.clone()).collect();
    let results = race(store, |s, i| {
        let ctx = contexts[i].clone();
        async move {
            let new = NewPhone {
                number: phone(1),
                provider: "twilio".into(),
                label: None,
                capabilities: PhoneCapabilities::default(),
            };
            s.create_phone(&ctx, new).await
        }
    })
    .await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:#?}");
    for r in results.iter().filter(|r| r.is_err()) {
        match r {
            Err(workos_core::Error::Conflict { field, .. }) => assert_eq!(field, "number"),
            other => panic!("a loser must see a conflict on number, got {other:?}"),
        }
    }
    let owner = store
        .phone_by_number(&phone(1))
        .await
        .unwrap()
        .map(|p| p.org_id);
    assert_eq!(owner, Some(winners[0].org_id));
}

contract_test!(concurrent_demotions_of_the_last_two_owners_leave_one);
/// Two owners demoted (or removed) at once, each by a request that counts two owners: one must
/// wait for the other and be refused, or the org is left without an owner. Several rounds, as
/// each round is one chance for the two transactions to overlap.
async fn concurrent_demotions_of_the_last_two_owners_leave_one(store: &SqlStore) {
    use workos_core::repo::MemberRepo;
    for round in 0..10 {
        let t = Tenant::new(store, &format!("Owners {round}")).await;
        t.user(store, Role::Owner).await;
        let system = workos_core::tenant::TenantContext::system(t.org.id, "test");
        let owners: Vec<_> = store
            .list_members(&system, workos_core::page::PageRequest::default())
            .await
            .unwrap()
            .data
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(owners.len(), 2);
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = owners
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let (store, ctx, id, barrier) =
                    (store.clone(), system.clone(), *id, barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    // One demoted, the other removed: both paths check for the last owner.
                    if i == 0 {
                        store
                            .set_member_role(&ctx, id, Role::Admin)
                            .await
                            .map(|_| ())
                    } else {
                        store.delete_member(&ctx, id).await
                    }
                })
            })
            .collect();
        let mut results = Vec::new();
        for h in handles {
            results.push(h.await.expect("the task did not panic"));
        }
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(workos_core::Error::Conflict { .. })))
            .count();
        assert_eq!(
            (results.iter().filter(|r| r.is_ok()).count(), refused),
            (1, 1),
            "round {round}: one goes ahead, the other is refused: {results:?}"
        );
        let left = store
            .list_members(&system, workos_core::page::PageRequest::default())
            .await
            .unwrap()
            .data
            .into_iter()
            .filter(|m| m.role == Role::Owner)
            .count();
        assert_eq!(left, 1, "round {round}: the org keeps one owner");
    }
}

contract_test!(reservations_racing_releases_of_one_idempotency_key_never_fail);
/// Requests reserving one idempotency key while its holder releases it (a retry arriving as
/// the dropped request frees the key): every reservation gives a state, never an error, even
/// when the key's row vanishes between the reservation's statements.
async fn reservations_racing_releases_of_one_idempotency_key_never_fail(store: &SqlStore) {
    use workos_core::repo::{IdempotencyRepo, IdempotencyState};

    let t = Tenant::new(store, "Acme").await;
    let ctx = t.user(store, Role::Member).await;
    let results = race(store, |s, _| {
        let ctx = ctx.clone();
        async move {
            let mut reserved = 0_usize;
            for _ in 0..50 {
                let state = s
                    .reserve_idempotent(&ctx, "shared", b"same", std::time::Duration::from_secs(60))
                    .await?;
                if state == IdempotencyState::Reserved {
                    reserved += 1;
                    s.release_idempotent(&ctx, "shared").await?;
                }
            }
            Ok(reserved)
        }
    })
    .await;
    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(errors.is_empty(), "no reservation fails: {errors:?}");
    let reserved: usize = results.iter().filter_map(|r| r.as_ref().ok()).sum();
    assert!(reserved > 0, "the key was reserved and released in turn");
}
