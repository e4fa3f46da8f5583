//! Key rotation: `workos-server admin reencrypt` re-seals every secret at rest with the new
//! `WORKOS_ENCRYPTION_KEY`, opening the old ones with `WORKOS_ENCRYPTION_KEY_PREVIOUS`; after it,
//! the old key is not needed for anything, and nothing was lost.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};
use workos_core::crypto::{Cipher, SecretKey};
use workos_core::ids::{OrgId, PartnerId, UserId};
use workos_core::repo::{
    IntegrationRepo, OAuthStateRepo, PendingOAuth, SealedSecrets, WebhookRepo,
};
use workos_core::tenant::TenantContext;
use workos_gmail::SharedStateStore;
use workos_gmail::vault::StoredTokens;
use workos_leads::PartnerService;
use workos_leads::partners::partner_aad;
use workos_store::{SealedColumn, SqlStore};
use workos_webhooks::service::{SecretEntry, SecretSealer};
use workos_webhooks::signing::WebhookSecret;

use crate::helpers::{TestApp, workos_server_command};

/// Everything one org holds sealed, with what each value must open to.
struct Sealed {
    org: OrgId,
    gmail: StoredTokens,
    legacy_gmail: StoredTokens,
    twilio_token: String,
    webhook_secret: String,
    webhook_header: String,
    partner: (PartnerId, String),
    form_secret: String,
    verifier: String,
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid test value")
}

fn tokens(n: &str) -> StoredTokens {
    StoredTokens {
        refresh_token: format!("refresh-{n}"),
        access_token: format!("access-{n}"),
        expires_at: Utc::now(),
    }
}

/// Seals one of every secret for a new org of `app` with `cipher`, as the engine does.
async fn seal_everything(app: &TestApp, cipher: &Arc<Cipher>, name: &str) -> Sealed {
    let (org, _) = app.create_org(name).await;
    let store = &app.store;
    let ctx = TenantContext::system(org, "test");
    let integration = |provider: &str, account: &str| -> workos_core::domain::NewIntegration {
        parse(json!({ "provider": provider, "account": account, "settings": {} }))
    };

    let gmail = tokens(name);
    store
        .create_integration(
            &ctx,
            integration("gmail", "a@example.com"),
            gmail.seal(cipher, org),
        )
        .await
        .unwrap();
    // Tokens sealed before the labels were unified (bound to the org id's bytes alone).
    let legacy_gmail = tokens("legacy");
    let legacy = cipher.encrypt(
        &serde_json::to_vec(&legacy_gmail).unwrap(),
        org.as_uuid().as_bytes(),
    );
    store
        .create_integration(
            &ctx,
            integration("gmail", "b@example.com"),
            SealedSecrets(legacy),
        )
        .await
        .unwrap();
    let twilio_token = format!("twilio-token-{name}");
    store
        .create_integration(
            &ctx,
            integration("twilio", "AC0123456789abcdef0123456789abcdef"),
            SealedSecrets(cipher.encrypt_str(&twilio_token, &workos_twilio::accounts::aad(org))),
        )
        .await
        .unwrap();

    let sealer = SecretSealer::new(Arc::clone(cipher));
    let secret = WebhookSecret::generate();
    let webhook_secret = secret.expose().to_owned();
    let webhook_header = format!("token-{}", uuid::Uuid::new_v4());
    let headers =
        std::collections::BTreeMap::from([("X-Token".to_owned(), webhook_header.clone())]);
    store
        .create_webhook(
            &ctx,
            parse(
                json!({ "url": "https://hooks.example.com/in", "event_types": [],
                          "enabled": true, "headers": headers }),
            ),
            sealer
                .seal(
                    org,
                    &[SecretEntry {
                        secret,
                        expires_at: None,
                    }],
                )
                .unwrap(),
            sealer.seal_headers(org, &headers).unwrap(),
        )
        .await
        .unwrap();

    let partners = PartnerService::new(
        Arc::new(store.clone()),
        Arc::clone(cipher),
        workos_webhooks::ssrf::SsrfGuard::default(),
    );
    let (partner, partner_secret) = partners
        .create(
            &ctx,
            parse(json!({ "name": "Buyer", "delivery": { "kind": "webhook",
                          "url": "https://93.184.215.14/leads" } })),
        )
        .await
        .unwrap();
    let partner = (partner.id, partner_secret.unwrap().expose().to_owned());

    let form_secret = format!("form-secret-{name}-0123456789");
    workos_leads::forms::create(
        store,
        cipher,
        &ctx,
        parse(json!({ "name": "Quote" })),
        Some(&form_secret),
    )
    .await
    .unwrap();

    let verifier = format!("pkce-verifier-{name}");
    store
        .put_oauth_state(
            &format!("state-{org}"),
            PendingOAuth {
                org_id: org,
                user_id: UserId::new(),
                provider: "gmail".to_owned(),
                sealed_verifier: SealedSecrets(
                    cipher.encrypt_str(&verifier, &SharedStateStore::labels(org)[0]),
                ),
                expires_at: Utc::now() + chrono::Duration::minutes(10),
            },
        )
        .await
        .unwrap();

    Sealed {
        org,
        gmail,
        legacy_gmail,
        twilio_token,
        webhook_secret,
        webhook_header,
        partner,
        form_secret,
        verifier,
    }
}

/// The raw sealed values of `column` of `org`.
async fn values(store: &SqlStore, column: SealedColumn, org: OrgId) -> Vec<Vec<u8>> {
    store
        .sealed_values(column, org, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.sealed)
        .collect()
}

/// Opens every sealed value of `s.org` with `cipher` through the engine's own openers, and
/// checks each is what was sealed. Panics (naming the value) on the first that does not open.
async fn assert_all_open(store: &SqlStore, cipher: &Arc<Cipher>, s: &Sealed) {
    let org = s.org;
    let mut gmail: Vec<StoredTokens> = Vec::new();
    let mut twilio = Vec::new();
    for v in store
        .sealed_values(SealedColumn::IntegrationCredentials, org, None, 100)
        .await
        .unwrap()
    {
        let sealed = SealedSecrets(v.sealed);
        match v.provider.as_deref() {
            Some("gmail") => gmail.push(StoredTokens::open(&sealed, cipher, org).expect("gmail")),
            Some("twilio") => twilio.push(
                cipher
                    .decrypt_str(&sealed.0, &workos_twilio::accounts::aad(org))
                    .expect("twilio"),
            ),
            other => panic!("unexpected provider {other:?}"),
        }
    }
    assert!(gmail.contains(&s.gmail) && gmail.contains(&s.legacy_gmail));
    assert_eq!(twilio, std::slice::from_ref(&s.twilio_token));

    let sealer = SecretSealer::new(Arc::clone(cipher));
    let [webhook] = &values(store, SealedColumn::WebhookSecrets, org).await[..] else {
        panic!("one webhook")
    };
    let entries = sealer
        .open(org, &SealedSecrets(webhook.clone()))
        .expect("webhook secrets");
    assert_eq!(entries[0].secret.expose(), s.webhook_secret);
    let [headers] = &values(store, SealedColumn::WebhookHeaders, org).await[..] else {
        panic!("one webhook's headers")
    };
    let headers = sealer
        .open_headers(org, &SealedSecrets(headers.clone()))
        .expect("webhook headers");
    assert_eq!(headers.get("X-Token"), Some(&s.webhook_header));

    let [partner] = &values(store, SealedColumn::PartnerSigningSecrets, org).await[..] else {
        panic!("one partner")
    };
    let entries = sealer
        .open_for(
            &partner_aad(org, s.partner.0),
            &SealedSecrets(partner.clone()),
        )
        .expect("partner secret");
    assert_eq!(entries[0].secret.expose(), s.partner.1);

    let [form] = &values(store, SealedColumn::LeadFormSecrets, org).await[..] else {
        panic!("one form")
    };
    assert_eq!(
        workos_leads::forms::open_secret(cipher, org, form).expect("form secret"),
        s.form_secret
    );

    let [state] = &values(store, SealedColumn::OAuthVerifiers, org).await[..] else {
        panic!("one OAuth state")
    };
    assert_eq!(
        cipher
            .decrypt_str(state, &SharedStateStore::labels(org)[0])
            .expect("OAuth verifier"),
        s.verifier
    );
}

/// Runs `workos-server admin reencrypt` on `app`'s database; answers its JSON report and its
/// progress output.
fn reencrypt(app: &TestApp, key: &SecretKey, previous: Option<&SecretKey>) -> (Value, String) {
    let mut command = workos_server_command();
    command
        .args(["admin", "reencrypt"])
        .env("DATABASE_URL", app.database_url())
        .env("WORKOS_ENCRYPTION_KEY", key.to_base64())
        .env("WORKOS_API_KEY_PEPPER", SecretKey::generate().to_base64())
        .env("WORKOS_LOG", "warn");
    if let Some(previous) = previous {
        command.env("WORKOS_ENCRYPTION_KEY_PREVIOUS", previous.to_base64());
    }
    let out = command.output().expect("run workos-server");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| json!({ "failed": out.status.code(), "stdout": stdout }));
    (report, stderr)
}

fn count(report: &Value, field: &str) -> u64 {
    report["columns"]
        .as_object()
        .unwrap_or_else(|| panic!("a report: {report}"))
        .values()
        .map(|c| c[field].as_u64().unwrap())
        .sum()
}

async fn rotation_reseals_everything_and_retires_the_old_key(app: &TestApp) {
    let old = SecretKey::generate();
    let old_b64 = old.to_base64();
    let new = SecretKey::generate();
    let new_b64 = new.to_base64();
    let key = |b64: &str| SecretKey::from_base64(b64).unwrap();
    let old_cipher = Arc::new(Cipher::new(1, key(&old_b64)));
    let new_only = Arc::new(Cipher::new(1, key(&new_b64)));

    let a = seal_everything(app, &old_cipher, "a").await;
    let b = seal_everything(app, &old_cipher, "b").await;
    assert_all_open(&app.store, &old_cipher, &a).await;
    let webhook = values(&app.store, SealedColumn::WebhookSecrets, a.org).await;
    assert!(
        SecretSealer::new(Arc::clone(&new_only))
            .open(a.org, &SealedSecrets(webhook[0].clone()))
            .is_err(),
        "before the rotation the new key alone opens nothing"
    );

    // Without the previous key, nothing opens: the command refuses and changes nothing.
    let (failed, _) = reencrypt(app, &new, None);
    assert!(failed.get("failed").is_some(), "{failed}");
    assert_all_open(&app.store, &old_cipher, &a).await;

    let (report, progress) = reencrypt(app, &new, Some(&old));
    // Two orgs × (3 integrations, a webhook's secrets and headers, a partner, a form, an OAuth
    // state).
    assert_eq!(count(&report, "resealed"), 2 * 8, "{report}");
    assert_eq!(count(&report, "unreadable"), 0, "{report}");
    for org in [a.org, b.org] {
        assert!(
            progress.contains(&format!("org {org} done (8 re-sealed")),
            "{progress}"
        );
    }

    // The old key is no longer needed: everything opens with the new key alone, as sealed.
    assert_all_open(&app.store, &new_only, &a).await;
    assert_all_open(&app.store, &new_only, &b).await;

    // Resumable: a second run finds everything current and re-seals nothing.
    let (again, _) = reencrypt(app, &new, Some(&old));
    assert_eq!(count(&again, "resealed"), 0, "{again}");
    assert_eq!(count(&again, "current"), 2 * 8, "{again}");
    // And the old key can go: a run without it finds nothing it cannot open.
    let (without_old, _) = reencrypt(app, &new, None);
    assert_eq!(count(&without_old, "unreadable"), 0, "{without_old}");
}
server_test!(rotation_reseals_everything_and_retires_the_old_key);
