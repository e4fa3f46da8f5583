//! Partners through `PartnerService`: webhook URLs checked at registration with the SSRF
//! rules of webhook endpoints; signing secrets minted with the partner in one write, kept in
//! step with its delivery, rotated without losing a racing rotation's secret. (URLs are public
//! IP literals: registration resolves a host name, and tests need no DNS.)

use workos_core::Error;
use workos_core::domain::{HttpUrl, NewPartner, PartnerDelivery, PartnerPatch};
use workos_core::repo::{PartnerRepo, SubnetAllowanceRepo};
use workos_core::tenant::TenantContext;
use workos_leads::PartnerService;
use workos_store::SqlStore;
use workos_webhooks::signing::WebhookSecret;
use workos_webhooks::ssrf::SsrfGuard;

use crate::common::Harness;

fn webhook(url: &str) -> PartnerDelivery {
    PartnerDelivery::Webhook {
        url: HttpUrl::parse(url).expect("valid url"),
    }
}

fn email() -> PartnerDelivery {
    PartnerDelivery::Email {
        address: workos_core::domain::EmailAddress::parse("buyer@example.com")
            .expect("valid email"),
    }
}

fn exposed(secrets: &[WebhookSecret]) -> Vec<String> {
    secrets.iter().map(|s| s.expose().to_owned()).collect()
}

/// What the store holds for partner `id`, opened.
async fn held(
    h: &Harness,
    partners: &PartnerService<SqlStore>,
    id: workos_core::ids::PartnerId,
) -> Vec<String> {
    match h.store.partner_signing_secret(&h.ctx, id).await.unwrap() {
        Some(sealed) => exposed(
            &partners
                .open_secrets(h.ctx.org_id(), id, &sealed, chrono::Utc::now())
                .unwrap(),
        ),
        None => Vec::new(),
    }
}

/// The secret a create or a switch to webhook answers is the one stored with the partner,
/// sealed for that partner only; a switch to email drops it; a later switch back mints anew.
async fn secrets_follow_the_delivery(store: &SqlStore) {
    let h = Harness::new(store).await;
    let partners = PartnerService::new(h.store.clone(), h.cipher.clone(), SsrfGuard::default());

    let (p, secret) = partners
        .create(
            &h.ctx,
            NewPartner::new("Hooked", webhook("https://93.184.215.14/a")),
        )
        .await
        .unwrap();
    let secret = secret.expect("a webhook partner gets a secret");
    assert!(secret.expose().starts_with("whsec_"));
    assert_eq!(
        held(&h, &partners, p.id).await,
        vec![secret.expose().to_owned()]
    );
    let sealed = h
        .store
        .partner_signing_secret(&h.ctx, p.id)
        .await
        .unwrap()
        .unwrap();
    let other = workos_core::ids::PartnerId::new();
    assert!(
        partners
            .open_secrets(h.ctx.org_id(), other, &sealed, chrono::Utc::now())
            .is_err(),
        "sealed for this partner only"
    );

    let (m, none) = partners
        .create(&h.ctx, NewPartner::new("Mailed", email()))
        .await
        .unwrap();
    assert!(none.is_none());
    assert!(held(&h, &partners, m.id).await.is_empty());

    // A patch without a delivery leaves the secret alone.
    let rename = PartnerPatch {
        name: Some("Renamed".into()),
        ..PartnerPatch::default()
    };
    let (_, none) = partners.update(&h.ctx, p.id, rename).await.unwrap();
    assert!(none.is_none());
    assert_eq!(
        held(&h, &partners, p.id).await,
        vec![secret.expose().to_owned()]
    );

    let to = |delivery| PartnerPatch {
        delivery: Some(delivery),
        ..PartnerPatch::default()
    };
    let (_, none) = partners
        .update(&h.ctx, p.id, to(webhook("https://93.184.215.14/b")))
        .await
        .unwrap();
    assert!(none.is_none(), "a webhook partner keeps its secret");
    let (_, none) = partners.update(&h.ctx, p.id, to(email())).await.unwrap();
    assert!(none.is_none());
    assert!(
        held(&h, &partners, p.id).await.is_empty(),
        "an email partner has none"
    );
    let (_, minted) = partners
        .update(&h.ctx, p.id, to(webhook("https://93.184.215.14/c")))
        .await
        .unwrap();
    let minted = minted.expect("switching back mints a secret");
    assert_ne!(minted.expose(), secret.expose());
    assert_eq!(
        held(&h, &partners, p.id).await,
        vec![minted.expose().to_owned()]
    );
}
store_test!(secrets_follow_the_delivery);

/// Rotations racing each other keep every new secret and the first, primary first.
async fn concurrent_rotations_keep_every_partner_secret(store: &SqlStore) {
    let h = Harness::new(store).await;
    let partners = PartnerService::new(h.store.clone(), h.cipher.clone(), SsrfGuard::default());
    let (p, first) = partners
        .create(
            &h.ctx,
            NewPartner::new("Hooked", webhook("https://93.184.215.14/a")),
        )
        .await
        .unwrap();
    let rotations = (0..4).map(|_| partners.rotate_secret(&h.ctx, p.id));
    let rotated: Vec<String> = futures_util::future::join_all(rotations)
        .await
        .into_iter()
        .map(|r| r.expect("rotation succeeds").expose().to_owned())
        .collect();
    let kept = held(&h, &partners, p.id).await;
    let mut expected = rotated.clone();
    expected.push(first.unwrap().expose().to_owned());
    let mut sorted = kept.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "every secret kept");
    assert!(
        rotated.contains(&kept[0]),
        "a rotated secret is the primary"
    );
}
store_test!(concurrent_rotations_keep_every_partner_secret);

/// A webhook partner's URL is checked when it is registered and when it changes: non-public
/// addresses are refused on `delivery.url` (naming no address) unless the deployment or the
/// operator's allowance for this org allows them; nothing is written when refused.
async fn webhook_urls_are_checked_at_registration(store: &SqlStore) {
    let h = Harness::new(store).await;
    let partners = PartnerService::new(h.store.clone(), h.cipher.clone(), SsrfGuard::default());
    let refused = |e: Error| match e {
        Error::Validation(v) => {
            let text = v.to_string();
            assert!(text.contains("delivery.url"), "names the field: {text}");
            assert!(!text.contains("127.0.0.1"), "names no address: {text}");
        }
        other => panic!("expected a validation error on delivery.url, got {other:?}"),
    };
    for url in ["http://127.0.0.1:9/leads", "http://169.254.169.254/latest"] {
        let e = partners
            .create(&h.ctx, NewPartner::new("Inside", webhook(url)))
            .await
            .expect_err("a non-public URL is refused");
        refused(e);
    }
    let listed = h
        .store
        .list_partners(&h.ctx, Default::default(), Default::default())
        .await
        .unwrap();
    assert!(listed.data.is_empty(), "nothing was written: {listed:?}");

    let (p, _) = partners
        .create(
            &h.ctx,
            NewPartner::new("Public", webhook("https://93.184.215.14/a")),
        )
        .await
        .unwrap();
    let to = |url| PartnerPatch {
        delivery: Some(webhook(url)),
        ..PartnerPatch::default()
    };
    refused(
        partners
            .update(&h.ctx, p.id, to("http://127.0.0.1:9/leads"))
            .await
            .expect_err("a change to a non-public URL is refused"),
    );

    // The operator allows loopback to this org: both are accepted now.
    let operator = TenantContext::system(h.ctx.org_id(), "admin");
    assert!(
        h.store
            .allow_subnet(&operator, "127.0.0.1/32".parse().unwrap())
            .await
            .unwrap()
    );
    partners
        .update(&h.ctx, p.id, to("http://127.0.0.1:9/leads"))
        .await
        .expect("allowed for this org");
    partners
        .create(
            &h.ctx,
            NewPartner::new("Inside", webhook("http://127.0.0.1:9/x")),
        )
        .await
        .expect("allowed for this org");
    // Only loopback: the metadata address stays refused.
    refused(
        partners
            .create(
                &h.ctx,
                NewPartner::new("Meta", webhook("http://169.254.169.254/latest")),
            )
            .await
            .unwrap_err(),
    );
}
store_test!(webhook_urls_are_checked_at_registration);
