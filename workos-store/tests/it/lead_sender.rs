//! The lead-delivery sender's queue: claims across orgs with leases (exclusive under
//! concurrency, taken again once a lease runs out), outcomes with their events, due times, and
//! partners' sealed signing secrets (admin only, per org).

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use workos_core::domain::{
    HttpUrl, Lead, LeadDelivery, LeadDeliveryStatus as DS, NewLead, NewPartner, Partner,
    PartnerDelivery, PartnerPatch, now,
};
use workos_core::events::types;
use workos_core::ids::PartnerId;
use workos_core::repo::{
    LeadAttempt, LeadDeliveryQueue, LeadDeliveryRepo, LeadRepo, LeadSendOutcome, PartnerRepo,
    SealedSecrets,
};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

const LEASE: Duration = Duration::from_secs(60);

fn webhook_partner(name: &str) -> NewPartner {
    NewPartner::new(
        name,
        PartnerDelivery::Webhook {
            url: HttpUrl::parse("https://buyer.example.com/leads").expect("valid url"),
        },
    )
}

async fn lead(store: &SqlStore, ctx: &TenantContext, address: &str) -> Lead {
    let new = NewLead {
        first_name: Some("Ann".into()),
        email: Some(email(address)),
        vertical: Some("solar".into()),
        ..NewLead::default()
    };
    store
        .capture_lead(ctx, new, &Default::default(), now())
        .await
        .expect("capture lead")
        .lead
}

/// A partner and a pending delivery of a new lead to it.
async fn routed(store: &SqlStore, ctx: &TenantContext, address: &str) -> (Partner, LeadDelivery) {
    let p = store
        .create_partner(ctx, webhook_partner(address))
        .await
        .unwrap();
    let l = lead(store, ctx, address).await;
    let d = store
        .record_delivery(ctx, l.id, p.id, None, 100)
        .await
        .unwrap();
    (p, d)
}

fn attempt(d: &LeadDelivery, outcome: LeadSendOutcome, status: u16) -> LeadAttempt {
    LeadAttempt {
        org_id: d.org_id,
        delivery_id: d.id,
        outcome,
        response: json!({ "status": status, "body": "ok" }),
    }
}

contract_test!(claims_span_orgs_and_carry_lead_partner_and_secret);
async fn claims_span_orgs_and_carry_lead_partner_and_secret(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    assert_eq!(store.next_lead_delivery_due().await.unwrap(), None);
    let (pa, da) = routed(store, &a.ctx, "a@example.com").await;
    let (pb, db) = routed(store, &b.ctx, "b@example.com").await;
    store
        .set_partner_signing_secret(&a.ctx, pa.id, Some(SealedSecrets(vec![1, 2, 3])))
        .await
        .unwrap();
    // A routed delivery is due at once.
    let due = store.next_lead_delivery_due().await.unwrap().expect("due");
    assert!(due <= now());

    let claimed = store.claim_lead_deliveries(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let ca = claimed
        .iter()
        .find(|c| c.delivery.id == da.id)
        .expect("A's");
    let cb = claimed
        .iter()
        .find(|c| c.delivery.id == db.id)
        .expect("B's");
    assert_eq!((ca.partner.id, ca.lead.id), (pa.id, da.lead_id));
    assert_eq!(ca.lead.email, Some(email("a@example.com")));
    assert_eq!(ca.signing_secret, Some(SealedSecrets(vec![1, 2, 3])));
    assert_eq!((cb.partner.id, cb.lead.org_id), (pb.id, b.org.id));
    assert_eq!(cb.signing_secret, None);
    assert_eq!(ca.delivery, da);

    // Leased: nobody else takes them, and they are due again when the lease ends.
    assert!(
        store
            .claim_lead_deliveries(10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store.next_lead_delivery_due().await.unwrap().expect("due");
    assert!(due > now() + chrono::Duration::seconds(30), "{due}");
}

contract_test!(outcomes_settle_deliveries_and_emit_events);
async fn outcomes_settle_deliveries_and_emit_events(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let (_, d1) = routed(store, &t.ctx, "one@example.com").await;
    let (_, d2) = routed(store, &t.ctx, "two@example.com").await;
    assert_eq!(
        store.claim_lead_deliveries(10, LEASE).await.unwrap().len(),
        2
    );

    // d1 fails and is retried (due already); d2 is delivered.
    let retry_at = now() - chrono::Duration::seconds(1);
    let recorded = store
        .record_lead_attempts(vec![
            attempt(
                &d1,
                LeadSendOutcome::Retry {
                    next_attempt_at: retry_at,
                },
                500,
            ),
            attempt(&d2, LeadSendOutcome::Delivered, 200),
        ])
        .await
        .unwrap();
    assert_eq!(recorded.len(), 2);
    let d1_now = store.get_lead_delivery(&t.ctx, d1.id).await.unwrap();
    assert_eq!((d1_now.status, d1_now.attempts), (DS::Failed, 1));
    assert_eq!(d1_now.response, Some(json!({"status": 500, "body": "ok"})));
    let d2_now = store.get_lead_delivery(&t.ctx, d2.id).await.unwrap();
    assert_eq!((d2_now.status, d2_now.attempts), (DS::Delivered, 1));
    let failed = one_event(store, &t.ctx, types::LEAD_DELIVERY_FAILED, d1.id).await;
    assert_eq!(failed.data["status"], "failed");
    assert!(
        failed.data["next_attempt_at"].is_string(),
        "{}",
        failed.data
    );
    let delivered = one_event(store, &t.ctx, types::LEAD_DELIVERED, d2.id).await;
    assert_eq!(delivered.data["attempts"], 1);
    assert!(delivered.data["next_attempt_at"].is_null());

    // The retry is claimable again (the lease was released); the delivered one is not.
    let again = store.claim_lead_deliveries(10, LEASE).await.unwrap();
    assert_eq!(
        again.iter().map(|c| c.delivery.id).collect::<Vec<_>>(),
        [d1.id]
    );
    assert_eq!(again[0].delivery.attempts, 1);

    // Giving up: failed for good, no longer due.
    store
        .record_lead_attempts(vec![attempt(&d1, LeadSendOutcome::GaveUp, 503)])
        .await
        .unwrap();
    let d1_now = store.get_lead_delivery(&t.ctx, d1.id).await.unwrap();
    assert_eq!((d1_now.status, d1_now.attempts), (DS::Failed, 2));
    let failed = events_about(store, &t.ctx, types::LEAD_DELIVERY_FAILED, d1.id).await;
    assert_eq!(failed.len(), 2);
    assert!(failed[1].data["next_attempt_at"].is_null());
    assert!(
        store
            .claim_lead_deliveries(10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_lead_delivery_due().await.unwrap(), None);

    // A delivery that moved on meanwhile is left alone; an unknown one is skipped.
    store
        .update_delivery(&t.ctx, d2.id, DS::Accepted, None, None)
        .await
        .unwrap();
    let other_org = Tenant::new(store, "Other").await;
    let mut foreign = attempt(&d2, LeadSendOutcome::Delivered, 200);
    foreign.org_id = other_org.org.id;
    let recorded = store
        .record_lead_attempts(vec![attempt(&d2, LeadSendOutcome::GaveUp, 500), foreign])
        .await
        .unwrap();
    assert!(recorded.is_empty());
    let d2_now = store.get_lead_delivery(&t.ctx, d2.id).await.unwrap();
    assert_eq!((d2_now.status, d2_now.attempts), (DS::Accepted, 1));

    // Responses are bounded.
    let mut big = attempt(&d1, LeadSendOutcome::GaveUp, 500);
    big.response = json!({ "body": "x".repeat(70_000) });
    expect_validation(store.record_lead_attempts(vec![big]).await, "response");
}

contract_test!(expired_leases_are_claimed_again);
async fn expired_leases_are_claimed_again(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let (_, d) = routed(store, &t.ctx, "a@example.com").await;
    let first = store
        .claim_lead_deliveries(10, Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // The sender "died": once its 1 ms lease is over, another sender takes the delivery.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = store.claim_lead_deliveries(10, LEASE).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].delivery.id, d.id);
    assert!(
        store
            .claim_lead_deliveries(10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
}

contract_test!(handed_back_deliveries_are_claimed_again_at_once);
/// A sender stopping hands back what it claimed and did not attempt: the leases end at once
/// (in every org), and the next claim takes those deliveries, unchanged.
async fn handed_back_deliveries_are_claimed_again_at_once(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let (_, da) = routed(store, &a.ctx, "a@example.com").await;
    let (_, db) = routed(store, &b.ctx, "b@example.com").await;
    let claimed = store.claim_lead_deliveries(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        store
            .claim_lead_deliveries(10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let handed: Vec<_> = claimed
        .iter()
        .map(|c| (c.delivery.org_id, c.delivery.id))
        .collect();
    store.release_lead_deliveries(&handed).await.unwrap();
    let due = store.next_lead_delivery_due().await.unwrap().expect("due");
    assert!(due <= now(), "due at once, not when the lease ends: {due}");
    let mut again: Vec<_> = store
        .claim_lead_deliveries(10, LEASE)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.delivery)
        .collect();
    again.sort_by_key(|d| d.id.as_uuid());
    let mut expected = vec![da, db];
    expected.sort_by_key(|d| d.id.as_uuid());
    assert_eq!(again, expected, "the same deliveries, attempts unchanged");
    // Nothing to hand back is fine.
    store.release_lead_deliveries(&[]).await.unwrap();
}

contract_test!(concurrent_claims_never_share_a_delivery);
async fn concurrent_claims_never_share_a_delivery(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let p = store
        .create_partner(&t.ctx, webhook_partner("P"))
        .await
        .unwrap();
    let mut ids = HashSet::new();
    for i in 0..24 {
        let l = lead(store, &t.ctx, &format!("l{i}@example.com")).await;
        let d = store
            .record_delivery(&t.ctx, l.id, p.id, None, 100)
            .await
            .unwrap();
        ids.insert(d.id);
    }
    let claims = (0..6).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.claim_lead_deliveries(5, LEASE).await.unwrap() })
    });
    let mut seen = HashSet::new();
    for claim in claims {
        for due in claim.await.unwrap() {
            assert!(
                seen.insert(due.delivery.id),
                "claimed twice: {}",
                due.delivery.id
            );
        }
    }
    // Six claims of up to five cover the 24 deliveries, each once.
    let rest = store.claim_lead_deliveries(100, LEASE).await.unwrap();
    seen.extend(rest.iter().map(|d| d.delivery.id));
    assert_eq!(seen, ids);
}

contract_test!(deleted_partners_and_leads_are_not_sent);
async fn deleted_partners_and_leads_are_not_sent(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let (p, _) = routed(store, &t.ctx, "a@example.com").await;
    store.delete_partner(&t.ctx, p.id).await.unwrap();
    assert!(
        store
            .claim_lead_deliveries(10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_lead_delivery_due().await.unwrap(), None);
}

contract_test!(partner_secrets_are_admin_only_and_per_org);
async fn partner_secrets_are_admin_only_and_per_org(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let p = store
        .create_partner(&a.ctx, webhook_partner("P"))
        .await
        .unwrap();
    assert_eq!(
        store.partner_signing_secret(&a.ctx, p.id).await.unwrap(),
        None
    );
    store
        .set_partner_signing_secret(&a.ctx, p.id, Some(SealedSecrets(vec![9; 40])))
        .await
        .unwrap();
    assert_eq!(
        store.partner_signing_secret(&a.ctx, p.id).await.unwrap(),
        Some(SealedSecrets(vec![9; 40]))
    );
    // Another org's partner reads as absent; below admin is forbidden.
    expect_not_found(store.partner_signing_secret(&b.ctx, p.id).await);
    expect_not_found(
        store
            .set_partner_signing_secret(&b.ctx, p.id, Some(SealedSecrets(vec![0])))
            .await,
    );
    let member = a.user(store, Role::Member).await;
    expect_forbidden(store.partner_signing_secret(&member, p.id).await);
    expect_forbidden(store.set_partner_signing_secret(&member, p.id, None).await);
    expect_not_found(store.partner_signing_secret(&a.ctx, PartnerId::new()).await);
    // The secret is never part of the partner or its events.
    let events = events_about(store, &a.ctx, types::PARTNER_CREATED, p.id).await;
    assert!(events[0].data.get("signing_secret").is_none());
    store
        .set_partner_signing_secret(&a.ctx, p.id, None)
        .await
        .unwrap();
    assert_eq!(
        store.partner_signing_secret(&a.ctx, p.id).await.unwrap(),
        None
    );
}

fn email_delivery() -> PartnerDelivery {
    PartnerDelivery::Email {
        address: email("buyer@example.com"),
    }
}

contract_test!(a_partner_and_its_secret_are_written_together);
/// A webhook partner is created with its secret under the id the caller chose; an email
/// partner keeps none; an update naming a delivery keeps the secret in step with it, in the
/// same transaction (a refused patch changes neither).
async fn a_partner_and_its_secret_are_written_together(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let secret = |n: u8| SealedSecrets(vec![n; 40]);
    let stored = |id| store.partner_signing_secret(&a.ctx, id);

    let id = PartnerId::new();
    let p = store
        .create_partner_with_secret(&a.ctx, id, webhook_partner("P"), Some(secret(1)))
        .await
        .unwrap();
    assert_eq!(p.id, id);
    assert_eq!(stored(id).await.unwrap(), Some(secret(1)));
    expect_conflict(
        store
            .create_partner_with_secret(&a.ctx, id, webhook_partner("Q"), Some(secret(2)))
            .await,
        "id",
    );
    assert_eq!(
        stored(id).await.unwrap(),
        Some(secret(1)),
        "the first stays"
    );
    let mail = NewPartner::new("M", email_delivery());
    let m = store
        .create_partner_with_secret(&a.ctx, PartnerId::new(), mail, Some(secret(3)))
        .await
        .unwrap();
    assert_eq!(
        stored(m.id).await.unwrap(),
        None,
        "an email partner keeps none"
    );

    // Email → webhook mints; a webhook partner with a secret keeps it.
    let to_webhook = |url: &str| PartnerPatch {
        delivery: Some(PartnerDelivery::Webhook {
            url: HttpUrl::parse(url).unwrap(),
        }),
        ..PartnerPatch::default()
    };
    let (m2, minted) = store
        .update_partner_with_secret(
            &a.ctx,
            m.id,
            to_webhook("https://m.example.com/"),
            secret(4),
        )
        .await
        .unwrap();
    assert!(minted);
    assert!(matches!(m2.delivery, PartnerDelivery::Webhook { .. }));
    assert_eq!(stored(m.id).await.unwrap(), Some(secret(4)));
    let (_, minted) = store
        .update_partner_with_secret(
            &a.ctx,
            m.id,
            to_webhook("https://n.example.com/"),
            secret(5),
        )
        .await
        .unwrap();
    assert!(!minted);
    assert_eq!(stored(m.id).await.unwrap(), Some(secret(4)));

    // A refused patch changes neither the partner nor its secret.
    let bad = PartnerPatch {
        delivery: Some(email_delivery()),
        timezone: Some("Not/AZone".into()),
        ..PartnerPatch::default()
    };
    expect_validation(
        store
            .update_partner_with_secret(&a.ctx, m.id, bad, secret(6))
            .await,
        "timezone",
    );
    assert_eq!(stored(m.id).await.unwrap(), Some(secret(4)));

    // Webhook → email clears it.
    let to_email = PartnerPatch {
        delivery: Some(email_delivery()),
        ..PartnerPatch::default()
    };
    let (m3, minted) = store
        .update_partner_with_secret(&a.ctx, m.id, to_email, secret(7))
        .await
        .unwrap();
    assert!(!minted);
    assert!(matches!(m3.delivery, PartnerDelivery::Email { .. }));
    assert_eq!(stored(m.id).await.unwrap(), None);
    let events = events_about(store, &a.ctx, types::PARTNER_UPDATED, m.id).await;
    assert_eq!(events.len(), 3, "one event per change");
    assert!(
        events
            .iter()
            .all(|e| e.data.get("signing_secret").is_none())
    );

    let member = a.user(store, Role::Member).await;
    expect_forbidden(
        store
            .create_partner_with_secret(&member, PartnerId::new(), webhook_partner("X"), None)
            .await,
    );
    expect_forbidden(
        store
            .update_partner_with_secret(&member, id, PartnerPatch::default(), secret(8))
            .await,
    );
}

contract_test!(a_partner_secret_swap_is_a_compare_and_swap);
/// A swap replaces the secret only if it still is the one read; another org's partner reads
/// as absent.
async fn a_partner_secret_swap_is_a_compare_and_swap(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let secret = |n: u8| SealedSecrets(vec![n; 40]);
    let p = store
        .create_partner(&a.ctx, webhook_partner("P"))
        .await
        .unwrap();
    // From none.
    assert!(
        store
            .swap_partner_signing_secret(&a.ctx, p.id, None, secret(1))
            .await
            .unwrap()
    );
    // A stale read changes nothing: neither none nor another secret.
    for stale in [None, Some(secret(9))] {
        assert!(
            !store
                .swap_partner_signing_secret(&a.ctx, p.id, stale, secret(2))
                .await
                .unwrap()
        );
    }
    assert_eq!(
        store.partner_signing_secret(&a.ctx, p.id).await.unwrap(),
        Some(secret(1))
    );
    assert!(
        store
            .swap_partner_signing_secret(&a.ctx, p.id, Some(secret(1)), secret(3))
            .await
            .unwrap()
    );
    assert_eq!(
        store.partner_signing_secret(&a.ctx, p.id).await.unwrap(),
        Some(secret(3))
    );
    // One event per swap made, naming the partner and never its secret.
    let events = events_about(store, &a.ctx, types::PARTNER_SECRET_ROTATED, p.id).await;
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.data["id"] == p.id.to_string() && e.data.get("signing_secret").is_none())
    );
    expect_not_found(
        store
            .swap_partner_signing_secret(&b.ctx, p.id, Some(secret(3)), secret(4))
            .await,
    );
    expect_not_found(
        store
            .swap_partner_signing_secret(&a.ctx, PartnerId::new(), None, secret(4))
            .await,
    );
    let member = a.user(store, Role::Member).await;
    expect_forbidden(
        store
            .swap_partner_signing_secret(&member, p.id, Some(secret(3)), secret(4))
            .await,
    );
    assert_eq!(
        store.partner_signing_secret(&a.ctx, p.id).await.unwrap(),
        Some(secret(3))
    );
}
