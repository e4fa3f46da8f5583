//! The system-level side of integrations: the scheduler's cross-tenant claims on due syncs,
//! reconnecting an account in one transaction, label changes of stored emails, and the shared
//! OAuth states of started connects.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use workos_core::domain::{Direction, Integration, IntegrationStatus, NewEmail, NewIntegration};
use workos_core::events::types;
use workos_core::ids::IntegrationId;
use workos_core::repo::{
    EmailRepo, IntegrationRepo, IntegrationScheduler, OAuthStateRepo, PendingOAuth, SealedSecrets,
};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

const HOUR: Duration = Duration::from_secs(3600);

async fn connect(store: &SqlStore, ctx: &TenantContext, account: &str) -> Integration {
    store
        .create_integration(
            ctx,
            NewIntegration::gmail(account),
            SealedSecrets(vec![1, 2]),
        )
        .await
        .expect("connect an account")
}

/// Claims everything due now for an hour.
async fn claim(store: &SqlStore, limit: u32) -> Vec<IntegrationId> {
    store
        .claim_due_integrations("gmail", Utc::now(), HOUR, limit)
        .await
        .expect("claim")
        .into_iter()
        .map(|c| c.id)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Claims

contract_test!(claims_cross_tenants_and_skip_what_is_not_due);
async fn claims_cross_tenants_and_skip_what_is_not_due(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let a1 = connect(store, &a.ctx, "one@a.com").await;
    let b1 = connect(store, &b.ctx, "one@b.com").await;
    let reauth = connect(store, &b.ctx, "reauth@b.com").await;
    store
        .set_integration_status(&b.system(), reauth.id, IntegrationStatus::NeedsReauth, None)
        .await
        .unwrap();
    let gone = connect(store, &a.ctx, "gone@a.com").await;
    store.disconnect_integration(&a.ctx, gone.id).await.unwrap();
    let fresh = connect(store, &a.ctx, "fresh@a.com").await;
    store
        .update_sync_state(
            &a.system(),
            fresh.id,
            serde_json::json!({}),
            Some(Utc::now()),
        )
        .await
        .unwrap();
    let other_provider = store
        .create_integration(
            &a.ctx,
            NewIntegration {
                provider: "outlook".into(),
                ..NewIntegration::gmail("one@a.com")
            },
            SealedSecrets(vec![3]),
        )
        .await
        .unwrap();

    let synced_before = Utc::now() - chrono::Duration::minutes(1);
    let claimed = store
        .claim_due_integrations("gmail", synced_before, HOUR, 100)
        .await
        .unwrap();
    let mut got: Vec<_> = claimed.iter().map(|c| (c.org_id, c.id)).collect();
    got.sort();
    let mut want = vec![(a.org.id, a1.id), (b.org.id, b1.id)];
    want.sort();
    // Both orgs' due integrations, each with its own org; not needs_reauth, disconnected,
    // freshly synced or another provider's.
    assert_eq!(got, want);
    assert!(claimed.iter().all(|c| c.claimed_until > Utc::now()));
    assert!(
        !got.iter()
            .any(|(_, id)| [reauth.id, gone.id, fresh.id, other_provider.id].contains(id))
    );
    // Claimed: nobody gets them again before the lease ends.
    assert!(claim(store, 100).await.iter().all(|id| *id == fresh.id));
}

contract_test!(two_claimers_never_get_the_same_integration);
async fn two_claimers_never_get_the_same_integration(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let mut all = HashSet::new();
    for i in 0..12 {
        all.insert(connect(store, &t.ctx, &format!("box{i}@acme.com")).await.id);
    }
    let store = Arc::new(store.clone());
    let claimers: Vec<_> = (0..6)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = claim(&store, 2).await;
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got);
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for c in claimers {
        for id in c.await.unwrap() {
            assert!(seen.insert(id), "integration {id} claimed twice");
        }
    }
    // SKIP LOCKED may make a claimer come back empty early; whatever is left is still due.
    for id in claim(&store, 100).await {
        assert!(seen.insert(id), "integration {id} claimed twice");
    }
    assert_eq!(seen, all);
}

contract_test!(a_claim_ends_with_its_lease_or_its_release);
async fn a_claim_ends_with_its_lease_or_its_release(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let i = connect(store, &t.ctx, "me@acme.com").await;
    // A lease that ran out at once: a claimer that died is replaced.
    let first = store
        .claim_due_integrations("gmail", Utc::now(), Duration::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        claim(store, 10).await,
        [i.id],
        "the expired lease is claimed again"
    );
    assert!(claim(store, 10).await.is_empty(), "the live lease holds");
    store
        .release_integration_claim(t.org.id, i.id)
        .await
        .unwrap();
    assert_eq!(claim(store, 10).await, [i.id], "released: due again");
    // Reconnecting releases the claim too (a needs_reauth account may be synced at once).
    store
        .reconnect_integration(
            &t.ctx,
            NewIntegration::gmail("me@acme.com"),
            SealedSecrets(vec![9]),
        )
        .await
        .unwrap();
    assert_eq!(claim(store, 10).await, [i.id]);
}

// ---------------------------------------------------------------------------------------------
// Reconnect

contract_test!(reconnect_reactivates_in_one_transaction_with_an_event);
async fn reconnect_reactivates_in_one_transaction_with_an_event(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let i = connect(store, &t.ctx, "me@acme.com").await;
    let job = t.system();
    store
        .update_sync_state(
            &job,
            i.id,
            serde_json::json!({"history_id": "42"}),
            Some(Utc::now()),
        )
        .await
        .unwrap();
    store
        .set_integration_status(
            &job,
            i.id,
            IntegrationStatus::NeedsReauth,
            Some("invalid_grant".into()),
        )
        .await
        .unwrap();
    let connected_before = count_events(store, &t.ctx, types::INTEGRATION_CONNECTED).await;

    // needs_reauth: same integration, new credentials, no error; the sync goes on from its
    // history id.
    let revived = store
        .reconnect_integration(
            &t.ctx,
            NewIntegration::gmail("Me@Acme.com"),
            SealedSecrets(vec![7]),
        )
        .await
        .unwrap();
    assert_eq!(revived.id, i.id);
    assert_eq!(revived.status, IntegrationStatus::Active);
    assert_eq!(revived.last_error, None);
    assert_eq!(revived.sync_state, serde_json::json!({"history_id": "42"}));
    assert!(revived.last_synced_at.is_some());
    assert_eq!(store.get_integration(&t.ctx, i.id).await.unwrap(), revived);
    assert_eq!(
        store.integration_credentials(&job, i.id).await.unwrap(),
        SealedSecrets(vec![7])
    );
    assert_eq!(
        count_events(store, &t.ctx, types::INTEGRATION_CONNECTED).await,
        connected_before + 1
    );

    // disconnected: revived with a fresh sync state (nobody followed the mailbox).
    store.disconnect_integration(&t.ctx, i.id).await.unwrap();
    let revived = store
        .reconnect_integration(
            &t.ctx,
            NewIntegration::gmail("me@acme.com"),
            SealedSecrets(vec![8]),
        )
        .await
        .unwrap();
    assert_eq!(
        (revived.id, revived.status),
        (i.id, IntegrationStatus::Active)
    );
    assert_eq!(revived.sync_state, serde_json::json!({}));
    assert_eq!(revived.last_synced_at, None);
    assert_eq!(
        store.integration_credentials(&job, i.id).await.unwrap(),
        SealedSecrets(vec![8])
    );
    assert_eq!(
        count_events(store, &t.ctx, types::INTEGRATION_CONNECTED).await,
        connected_before + 2
    );

    // A new account: created.
    let other = store
        .reconnect_integration(
            &t.ctx,
            NewIntegration::gmail("other@acme.com"),
            SealedSecrets(vec![1]),
        )
        .await
        .unwrap();
    assert_ne!(other.id, i.id);
    assert_eq!(other.status, IntegrationStatus::Active);

    // Admins only; bad input names the field.
    let member = t.user(store, Role::Member).await;
    expect_forbidden(
        store
            .reconnect_integration(
                &member,
                NewIntegration::gmail("me@acme.com"),
                SealedSecrets(vec![1]),
            )
            .await,
    );
    expect_validation(
        store
            .reconnect_integration(
                &t.ctx,
                NewIntegration::gmail("not an address"),
                SealedSecrets(vec![1]),
            )
            .await,
        "account",
    );
    // Another org connecting the same mailbox gets its own integration.
    let b = Tenant::new(store, "B").await;
    let theirs = store
        .reconnect_integration(
            &b.ctx,
            NewIntegration::gmail("me@acme.com"),
            SealedSecrets(vec![1]),
        )
        .await
        .unwrap();
    assert_ne!(theirs.id, i.id);
    assert_eq!(
        store.integration_credentials(&job, i.id).await.unwrap(),
        SealedSecrets(vec![8])
    );
}

// ---------------------------------------------------------------------------------------------
// Labels

fn received(integration_id: IntegrationId, provider_id: &str, labels: &[&str]) -> NewEmail {
    NewEmail {
        integration_id,
        provider_id: provider_id.into(),
        thread_id: None,
        message_id: None,
        direction: Direction::Inbound,
        from: "ann@x.com".into(),
        to: vec!["me@acme.com".into()],
        cc: vec![],
        subject: Some("Hi".into()),
        snippet: None,
        headers: serde_json::json!({}),
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        occurred_at: Utc::now(),
        person_id: None,
        create_person: false,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

contract_test!(label_changes_update_the_stored_email);
async fn label_changes_update_the_stored_email(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let i = connect(store, &t.ctx, "me@acme.com").await;
    let job = t.system();
    let e = store
        .record_email(&job, received(i.id, "m1", &["UNREAD", "INBOX", "INBOX"]))
        .await
        .unwrap()
        .record;
    assert_eq!(
        e.labels,
        strings(&["INBOX", "UNREAD"]),
        "sorted, no duplicates"
    );

    let changed = store
        .update_email_labels(
            &job,
            i.id,
            "m1",
            &strings(&["STARRED"]),
            &strings(&["UNREAD", "NOPE"]),
        )
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(changed.labels, strings(&["INBOX", "STARRED"]));
    assert_eq!(
        store.get_email(&t.ctx, e.id).await.unwrap().labels,
        changed.labels
    );
    // Nothing to change: the same email back, unchanged.
    let same = store
        .update_email_labels(&job, i.id, "m1", &strings(&["INBOX"]), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same, changed);
    // A message that was never stored (a draft, outside the window).
    assert_eq!(
        store
            .update_email_labels(&job, i.id, "unknown", &strings(&["X"]), &[])
            .await
            .unwrap(),
        None
    );
    // Bad labels name the field, and nothing changes.
    expect_validation(
        store
            .update_email_labels(&job, i.id, "m1", &strings(&[""]), &[])
            .await,
        "labels",
    );
    let many: Vec<String> = (0..101).map(|n| format!("Label_{n}")).collect();
    expect_validation(
        store
            .update_email_labels(&job, i.id, "m1", &many, &[])
            .await,
        "labels",
    );
    expect_validation(
        store.record_email(&job, received(i.id, "m2", &[""])).await,
        "labels[0]",
    );
    assert_eq!(
        store.get_email(&t.ctx, e.id).await.unwrap().labels,
        changed.labels
    );

    // Another org's integration reads as absent; a viewer cannot change labels.
    let b = Tenant::new(store, "B").await;
    expect_not_found(
        store
            .update_email_labels(&b.system(), i.id, "m1", &strings(&["X"]), &[])
            .await,
    );
    let viewer = t.user(store, Role::Viewer).await;
    expect_forbidden(
        store
            .update_email_labels(&viewer, i.id, "m1", &strings(&["X"]), &[])
            .await,
    );
}

// ---------------------------------------------------------------------------------------------
// OAuth states

fn pending(t: &Tenant, expires_in: chrono::Duration) -> PendingOAuth {
    PendingOAuth {
        org_id: t.org.id,
        user_id: t.owner,
        provider: "gmail".into(),
        sealed_verifier: SealedSecrets(vec![0, 1, 2, 0xff]),
        expires_at: Utc::now() + expires_in,
    }
}

contract_test!(oauth_states_are_single_use_and_expire);
async fn oauth_states_are_single_use_and_expire(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let kept = pending(&t, chrono::Duration::minutes(10));
    store
        .put_oauth_state("state-1", kept.clone())
        .await
        .unwrap();
    expect_conflict(
        store.put_oauth_state("state-1", kept.clone()).await,
        "state",
    );
    assert_eq!(store.take_oauth_state("state-2").await.unwrap(), None);
    let taken = store
        .take_oauth_state("state-1")
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(
        (
            taken.org_id,
            taken.user_id,
            taken.provider.as_str(),
            &taken.sealed_verifier
        ),
        (kept.org_id, kept.user_id, "gmail", &kept.sealed_verifier)
    );
    assert!(taken.expires_at > Utc::now());
    assert_eq!(
        store.take_oauth_state("state-1").await.unwrap(),
        None,
        "used once"
    );

    store
        .put_oauth_state("old", pending(&t, chrono::Duration::seconds(-1)))
        .await
        .unwrap();
    assert_eq!(
        store.take_oauth_state("old").await.unwrap(),
        None,
        "expired"
    );
}

contract_test!(an_oauth_state_is_taken_once_under_a_race);
async fn an_oauth_state_is_taken_once_under_a_race(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    store
        .put_oauth_state("raced", pending(&t, chrono::Duration::minutes(10)))
        .await
        .unwrap();
    let store = Arc::new(store.clone());
    let takers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.take_oauth_state("raced").await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for taker in takers {
        won += usize::from(taker.await.unwrap().is_some());
    }
    assert_eq!(won, 1);
}
