//! Endpoint registration: SSRF checks at the door, roles, validation, sealed secrets.

use workos_core::Error;
use workos_core::domain::{HttpUrl, NewMember, WebhookPatch};
use workos_core::events::types;
use workos_core::ids::UserId;
use workos_core::page::PageRequest;
use workos_core::repo::{MemberRepo, WebhookRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;
use workos_webhooks::service::{SecretSealer, WebhookService};
use workos_webhooks::ssrf::SsrfGuard;

use crate::common::{Harness, new_webhook};

#[track_caller]
fn expect_invalid<T: std::fmt::Debug>(r: workos_core::Result<T>, field: &str, says: &str) {
    match r {
        Err(Error::Validation(v)) => assert!(
            v.errors
                .iter()
                .any(|e| e.field == field && e.message.contains(says)),
            "expected {field:?} saying {says:?}, got {v:?}"
        ),
        other => panic!("expected a validation error on {field:?}, got {other:?}"),
    }
}

/// Without an allow-list, private, loopback and link-local URLs are refused at registration
/// (and on update), with the guard's reason; nothing is stored.
async fn ssrf_refuses_non_public_urls(store: &SqlStore) {
    let h = Harness::new(store).await;
    let strict = WebhookService::new(h.store.clone(), h.cipher.clone(), SsrfGuard::default());
    for (url, address) in [
        ("http://10.0.0.1/", "10.0.0.1"),
        ("http://127.0.0.1:9/hook", "127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data", "169.254"),
        ("http://[::1]/", "::1"),
        ("http://localhost:9/hook", "127.0.0.1"),
    ] {
        let refused = strict.create(&h.ctx, new_webhook(url, &[])).await;
        assert!(
            !format!("{refused:?}").contains(address),
            "the refusal names no address: {refused:?}"
        );
        expect_invalid(refused, "url", "public addresses only");
    }
    let none = h
        .store
        .list_webhooks(&h.ctx, PageRequest::first(10).unwrap())
        .await
        .unwrap();
    assert!(none.data.is_empty(), "a refused endpoint is not stored");

    // Registered through the loopback allow-list, then changed through the strict service.
    let (hook, _) = h.endpoint("http://127.0.0.1:9/hook", &[]).await;
    let to = |url: &str| WebhookPatch {
        url: Some(HttpUrl::parse(url).unwrap()),
        ..WebhookPatch::default()
    };
    expect_invalid(
        strict.update(&h.ctx, hook.id, to("http://10.0.0.1/")).await,
        "url",
        "public addresses only",
    );
    // An unchanged URL is not checked again, so other fields can still change.
    let described = strict
        .update(
            &h.ctx,
            hook.id,
            WebhookPatch {
                url: Some(hook.url.clone()),
                description: workos_core::domain::Patch::Set("kept".into()),
                ..WebhookPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(described.description.as_deref(), Some("kept"));
    // Through the allow-list, a loopback URL is accepted on update.
    let moved = h
        .service
        .update(&h.ctx, hook.id, to("http://127.0.0.2:9/other"))
        .await
        .unwrap();
    assert_eq!(moved.url.as_ref(), "http://127.0.0.2:9/other");
}
store_test!(ssrf_refuses_non_public_urls);

/// Registration needs the admin role and valid input, checked before any lookup.
async fn roles_and_validation(store: &SqlStore) {
    let h = Harness::new(store).await;
    let viewer = UserId::new();
    h.store
        .create_member(
            &h.ctx,
            NewMember {
                user_id: viewer,
                role: Role::Viewer,
            },
        )
        .await
        .unwrap();
    let viewer = TenantContext::user(h.ctx.org_id(), viewer, Role::Viewer);
    assert!(matches!(
        h.service
            .create(&viewer, new_webhook("http://127.0.0.1:9/", &[]))
            .await,
        Err(Error::Forbidden(_))
    ));
    let (hook, _) = h.endpoint("http://127.0.0.1:9/", &[]).await;
    assert!(matches!(
        h.service.rotate_secret(&viewer, hook.id).await,
        Err(Error::Forbidden(_))
    ));
    expect_invalid(
        h.service
            .create(&h.ctx, new_webhook("http://10.0.0.1/", &["Not A Type"]))
            .await,
        "event_types[0]",
        "event type",
    );
}
store_test!(roles_and_validation);

/// The secret is shown once and stored only sealed, bound to the org.
async fn secrets_are_sealed(store: &SqlStore) {
    let h = Harness::new(store).await;
    let (hook, secret) = h.endpoint("http://127.0.0.1:9/", &[]).await;
    assert!(secret.expose().starts_with("whsec_"));
    let sealed = h.store.webhook_secrets(&h.ctx, hook.id).await.unwrap();
    let needle = secret.expose().as_bytes();
    assert!(
        !sealed.0.windows(needle.len()).any(|w| w == needle),
        "the secret is not stored in the clear"
    );
    let opened = SecretSealer::new(h.cipher.clone())
        .open(h.ctx.org_id(), &sealed)
        .unwrap();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].secret.expose(), secret.expose());
    assert_eq!(opened[0].expires_at, None);
    assert!(
        SecretSealer::new(h.cipher.clone())
            .open(workos_core::ids::OrgId::new(), &sealed)
            .is_err(),
        "another org's associated data does not open it"
    );
}
store_test!(secrets_are_sealed);

/// Rotations racing each other keep every new secret (the swap is a compare-and-swap), and
/// each records `webhook_endpoint.secret_rotated`, which carries no secret.
async fn concurrent_rotations_keep_every_secret(store: &SqlStore) {
    let h = Harness::new(store).await;
    let (hook, first) = h.endpoint("http://127.0.0.1:9/", &[]).await;
    let rotations = (0..4).map(|_| h.service.rotate_secret(&h.ctx, hook.id));
    let rotated: Vec<_> = futures_util::future::join_all(rotations)
        .await
        .into_iter()
        .map(|r| r.expect("rotation succeeds"))
        .collect();

    let sealed = h.store.webhook_secrets(&h.ctx, hook.id).await.unwrap();
    let kept: Vec<String> = h
        .service
        .open_secrets(h.ctx.org_id(), &sealed, chrono::Utc::now())
        .unwrap()
        .iter()
        .map(|s| s.expose().to_owned())
        .collect();
    assert_eq!(
        kept.len(),
        5,
        "the first secret and four rotated in: {}",
        kept.len()
    );
    for s in rotated.iter().chain([&first]) {
        assert!(
            kept.iter().any(|k| k == s.expose()),
            "a rotated secret was lost"
        );
    }

    let events = h.events(&[types::WEBHOOK_ENDPOINT_SECRET_ROTATED]).await;
    assert_eq!(events.len(), 4);
    for e in &events {
        assert_eq!(e.subject.id, hook.id.as_uuid());
        let data = e.data.to_string();
        for s in rotated.iter().chain([&first]) {
            assert!(!data.contains(s.expose()), "the event carries no secret");
        }
        assert!(!data.contains("whsec_"), "the event carries no secret");
    }
}
store_test!(concurrent_rotations_keep_every_secret);

/// A swap against a list that changed since it was read changes nothing and says so.
async fn stale_swap_is_refused(store: &SqlStore) {
    let h = Harness::new(store).await;
    let (hook, _) = h.endpoint("http://127.0.0.1:9/", &[]).await;
    let stale = h.store.webhook_secrets(&h.ctx, hook.id).await.unwrap();
    let newest = h.service.rotate_secret(&h.ctx, hook.id).await.unwrap();
    let current = h.store.webhook_secrets(&h.ctx, hook.id).await.unwrap();
    assert!(
        !h.store
            .swap_webhook_secrets(&h.ctx, hook.id, stale.clone(), stale)
            .await
            .unwrap(),
        "a stale swap is refused"
    );
    assert_eq!(
        h.store.webhook_secrets(&h.ctx, hook.id).await.unwrap(),
        current
    );
    let primary = h
        .service
        .open_secrets(h.ctx.org_id(), &current, chrono::Utc::now())
        .unwrap();
    assert_eq!(primary[0].expose(), newest.expose());
    assert_eq!(
        h.events(&[types::WEBHOOK_ENDPOINT_SECRET_ROTATED])
            .await
            .len(),
        1
    );
}
store_test!(stale_swap_is_refused);
