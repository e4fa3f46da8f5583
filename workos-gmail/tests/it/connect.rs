//! Connecting, the token vault, refreshes and disconnecting.

use std::collections::HashMap;
use std::sync::Arc;

use workos_core::Error;
use workos_core::crypto::{Cipher, SecretKey};
use workos_core::domain::{IntegrationStatus, NewMember};
use workos_core::events::types;
use workos_core::ids::{OrgId, UserId};
use workos_core::repo::{IntegrationRepo, MemberRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_gmail::{Gmail, GmailStore, SharedStateStore, is_needs_reauth};
use workos_tests::fake_google::{Fault, Route, TEST_CLIENT_ID, TEST_REDIRECT_URL};

use crate::common::{ACCOUNT, Harness, outbound};

async fn connect_flow_end_to_end(h: Harness) {
    let start = h.gmail.start_connect(&h.ctx).await.unwrap();
    let q: HashMap<String, String> = start.authorization_url.query_pairs().into_owned().collect();
    assert!(
        start
            .authorization_url
            .as_str()
            .starts_with(&h.google.auth_url())
    );
    assert_eq!(q["client_id"], TEST_CLIENT_ID);
    assert_eq!(q["redirect_uri"], TEST_REDIRECT_URL);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["state"], start.pending.state);
    assert!(q["scope"].contains("https://www.googleapis.com/auth/gmail.send"));
    assert!(q["scope"].contains("https://www.googleapis.com/auth/gmail.readonly"));

    let (code, state) = h.google.consent(start.authorization_url.as_str()).await;
    let integration = h.gmail.finish_connect(&h.ctx, &code, &state).await.unwrap();
    assert_eq!(integration.provider, "gmail");
    assert_eq!(integration.account, ACCOUNT);
    assert_eq!(integration.status, IntegrationStatus::Active);
    assert_eq!(h.google.token_grants("authorization_code"), 1);
    assert_eq!(h.google.calls(Route::Profile), 1);
    assert_eq!(
        h.events(types::INTEGRATION_CONNECTED, integration.id.as_uuid())
            .await
            .len(),
        1
    );

    // The code and the state are spent: a replay fails on the state, before reaching Google.
    let replay = h.gmail.finish_connect(&h.ctx, &code, &state).await;
    assert!(
        matches!(replay, Err(Error::Validation(ref v)) if v.errors[0].field == "state"),
        "{replay:?}"
    );
    assert_eq!(h.google.token_grants("authorization_code"), 1);

    // The stored tokens work.
    let profile = h.gmail.profile(&h.system, integration.id).await.unwrap();
    assert_eq!(profile.email_address, ACCOUNT);
}
gmail_test!(connect_flow_end_to_end);

async fn pkce_is_verified(h: Harness) {
    let start = h.gmail.start_connect(&h.ctx).await.unwrap();
    // An attacker's code: issued for another challenge than the one this connect sent.
    let mut tampered = start.authorization_url.clone();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "code_challenge" {
                (k, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let (code, state) = h.google.consent(tampered.as_str()).await;
    let err = h
        .gmail
        .finish_connect(&h.ctx, &code, &state)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Provider { code: Some(ref c), .. } if c == "invalid_grant"),
        "{err:?}"
    );
    assert_eq!(h.google.token_grants("authorization_code"), 1);
}
gmail_test!(pkce_is_verified);

async fn state_is_bound_to_org_and_user(h: Harness) {
    let other_admin = UserId::new();
    h.store()
        .create_member(
            &h.ctx,
            NewMember {
                user_id: other_admin,
                role: Role::Admin,
            },
        )
        .await
        .unwrap();
    let other_ctx = TenantContext::user(h.ctx.org_id(), other_admin, Role::Admin);

    // Another user of the same org cannot finish this user's connect…
    let start = h.gmail.start_connect(&h.ctx).await.unwrap();
    let (code, state) = h.google.consent(start.authorization_url.as_str()).await;
    let err = h
        .gmail
        .finish_connect(&other_ctx, &code, &state)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    // …and the attempt spent the state.
    let err = h
        .gmail
        .finish_connect(&h.ctx, &code, &state)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");

    // Another org neither.
    let start = h.gmail.start_connect(&h.ctx).await.unwrap();
    let (code, state) = h.google.consent(start.authorization_url.as_str()).await;
    let stranger = TenantContext::user(
        workos_core::ids::OrgId::new(),
        h.ctx.user_id().unwrap(),
        Role::Owner,
    );
    let err = h
        .gmail
        .finish_connect(&stranger, &code, &state)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");

    // Unknown states, members and API keys are refused.
    let err = h
        .gmail
        .finish_connect(&h.ctx, "4/0Afake", "made-up")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    let member = TenantContext::user(h.ctx.org_id(), UserId::new(), Role::Member);
    assert!(matches!(
        h.gmail.start_connect(&member).await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(h.google.token_grants("authorization_code"), 0);
}
gmail_test!(state_is_bound_to_org_and_user);

async fn tokens_are_never_stored_in_plaintext(h: Harness) {
    let integration = h.connect_expiring().await;
    // A refresh stores a second access token.
    h.gmail.profile(&h.system, integration.id).await.unwrap();
    assert_eq!(h.google.token_grants("refresh_token"), 1);
    let issued = h.google.issued_tokens();
    assert_eq!(issued.len(), 2);
    let Some(path) = h.db.sqlite_path() else {
        return; // The file check is SQLite's; Postgres stores the same sealed bytes.
    };
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        if let Ok(b) = std::fs::read(file) {
            bytes.extend(b);
        }
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains(ACCOUNT), "the database files were read");
    for (access, refresh) in &issued {
        assert!(
            !contains(access),
            "an access token is in the database in plaintext"
        );
        if let Some(refresh) = refresh {
            assert!(
                !contains(refresh),
                "a refresh token is in the database in plaintext"
            );
            assert!(!contains(refresh.trim_start_matches("1//")));
        }
    }
}
gmail_test!(tokens_are_never_stored_in_plaintext);

async fn unauthorized_refreshes_once_and_retries(h: Harness) {
    let integration = h.connect().await;
    h.google.inject(Route::Profile, Fault::Unauthorized, 1);
    h.gmail.profile(&h.system, integration.id).await.unwrap();
    assert_eq!(h.google.token_grants("refresh_token"), 1);
    assert_eq!(h.google.calls(Route::Profile), 3); // connect + refused + retried

    // Google expiring the token early: the same.
    h.google.expire_access_tokens();
    h.gmail.profile(&h.system, integration.id).await.unwrap();
    assert_eq!(h.google.token_grants("refresh_token"), 2);

    // Refused twice: the 401 is the answer, with one refresh only.
    h.google.inject(Route::Profile, Fault::Unauthorized, 2);
    let err = h
        .gmail
        .profile(&h.system, integration.id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Provider {
                status: Some(401),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(h.google.token_grants("refresh_token"), 3);
    assert_eq!(
        h.integration(integration.id).await.status,
        IntegrationStatus::Active
    );
}
gmail_test!(unauthorized_refreshes_once_and_retries);

async fn invalid_grant_needs_reauth(h: Harness) {
    let integration = h.connect_expiring().await;
    h.google.set_invalid_grant(true);
    let sender = h.gmail.sender(workos_gmail::PersonPolicy::Off);
    let err = workos_core::channel::EmailChannel::send_email(
        &sender,
        &h.ctx,
        outbound(integration.id, "ada@example.org", "hello"),
    )
    .await
    .unwrap_err();
    assert!(is_needs_reauth(&err), "{err:?}");
    let stored = h.integration(integration.id).await;
    assert_eq!(stored.status, IntegrationStatus::NeedsReauth);
    assert!(
        stored
            .last_error
            .as_deref()
            .unwrap()
            .contains("invalid_grant")
    );
    assert_eq!(
        h.events(types::INTEGRATION_NEEDS_REAUTH, integration.id.as_uuid())
            .await
            .len(),
        1
    );
    assert_eq!(h.google.calls(Route::Send), 0);

    // Later calls fail at once, without asking Google again.
    let grants = h.google.token_grants("refresh_token");
    let err = h
        .gmail
        .sync_engine(workos_gmail::SyncConfig::default())
        .sync_once(&h.system, integration.id)
        .await
        .unwrap_err();
    assert!(is_needs_reauth(&err), "{err:?}");
    assert_eq!(h.google.token_grants("refresh_token"), grants);
    assert_eq!(
        h.integration(integration.id).await.status,
        IntegrationStatus::NeedsReauth
    );

    // Connecting again heals it, same integration.
    h.google.set_invalid_grant(false);
    let again = h.connect().await;
    assert_eq!(again.id, integration.id);
    assert_eq!(again.status, IntegrationStatus::Active);
    assert_eq!(again.last_error, None);
    // One transaction with its event: the reconnect is announced like the first connect.
    assert_eq!(
        h.events(types::INTEGRATION_CONNECTED, integration.id.as_uuid())
            .await
            .len(),
        2
    );
    h.gmail.profile(&h.system, integration.id).await.unwrap();
}
gmail_test!(invalid_grant_needs_reauth);

async fn disconnect_revokes_at_google(h: Harness) {
    let integration = h.connect().await;
    let (access, refresh) = h.google.issued_tokens().pop().unwrap();
    let done = h.gmail.disconnect(&h.ctx, integration.id).await.unwrap();
    assert!(done.revoked);
    assert_eq!(done.integration.status, IntegrationStatus::Disconnected);
    assert!(h.google.is_revoked(&refresh.unwrap()));
    assert!(h.google.is_revoked(&access));
    assert_eq!(
        h.events(types::INTEGRATION_DISCONNECTED, integration.id.as_uuid())
            .await
            .len(),
        1
    );
    let err = h
        .store()
        .integration_credentials(&h.system, integration.id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");

    // Again: nothing to revoke, nothing changes.
    let again = h.gmail.disconnect(&h.ctx, integration.id).await.unwrap();
    assert!(!again.revoked);
    assert_eq!(h.google.calls(Route::Revoke), 1);

    // Sending and syncing a disconnected integration fail cleanly.
    let sender = h.gmail.sender(workos_gmail::PersonPolicy::Off);
    let err = workos_core::channel::EmailChannel::send_email(
        &sender,
        &h.ctx,
        outbound(integration.id, "ada@example.org", "hello"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { ref field, .. } if field == "status"),
        "{err:?}"
    );

    // Reconnecting revives the same integration.
    let revived = h.connect().await;
    assert_eq!(revived.id, integration.id);
    assert_eq!(revived.status, IntegrationStatus::Active);
}
gmail_test!(disconnect_revokes_at_google);

async fn disconnect_when_google_is_down(h: Harness) {
    let integration = h.connect().await;
    h.google.inject(Route::Revoke, Fault::Status(503), 1);
    let done = h.gmail.disconnect(&h.ctx, integration.id).await.unwrap();
    assert!(!done.revoked);
    assert_eq!(done.integration.status, IntegrationStatus::Disconnected);
    // Members cannot disconnect.
    let integration = h.connect().await;
    let member = TenantContext::user(h.ctx.org_id(), UserId::new(), Role::Member);
    assert!(matches!(
        h.gmail.disconnect(&member, integration.id).await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(h.google.calls(Route::Revoke), 1);
}
gmail_test!(disconnect_when_google_is_down);

async fn states_are_shared_through_the_store(h: Harness) {
    // Two clients on one store, as two server processes: the connect starts on one and
    // Google's redirect reaches the other.
    let cipher = Arc::new(Cipher::new(1, SecretKey::generate()));
    let client = |cipher: &Arc<Cipher>| {
        let store: Arc<dyn GmailStore> = h.db.store.clone();
        let states = Arc::new(SharedStateStore::new(
            h.db.store.clone(),
            Arc::clone(cipher),
        ));
        Gmail::builder(h.config(), store, Arc::clone(cipher))
            .state_store(states)
            .build()
            .expect("build Gmail")
    };
    let (first, second) = (client(&cipher), client(&cipher));
    // The redirect must come from the browser that started it (the nonce of its cookie),
    // through the store too; a wrong one spends the state.
    let start = first.start_connect(&h.ctx).await.unwrap();
    let (_, state) = h.google.consent(start.authorization_url.as_str()).await;
    let err = second
        .take_connect(&state, Some("wrong"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.errors[0].field == "state"),
        "{err:?}"
    );
    let start = first.start_connect(&h.ctx).await.unwrap();
    let nonce = Some(start.pending.browser_nonce.as_str());
    let (code, state) = h.google.consent(start.authorization_url.as_str()).await;
    let taken = second.take_connect(&state, nonce).await.unwrap();
    assert_eq!(
        (taken.org_id(), taken.user_id()),
        (h.ctx.org_id(), h.ctx.user_id().unwrap())
    );
    let integration = second
        .finish_taken_connect(&h.ctx, &code, taken)
        .await
        .unwrap();
    assert_eq!(integration.status, IntegrationStatus::Active);
    // Used once, on either client.
    let err = first.take_connect(&state, nonce).await.unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.errors[0].field == "state"),
        "{err:?}"
    );
    // The verifier is sealed and the state hashed: the database holds neither in plaintext
    // (the file check is SQLite's; Postgres stores the same bytes).
    let start = first.start_connect(&h.ctx).await.unwrap();
    if let Some(bytes) = h.database_bytes() {
        let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(contains(ACCOUNT), "the database files were read");
        assert!(!contains(&start.pending.pkce_verifier));
        assert!(!contains(&start.pending.state));
        assert!(!contains(&start.pending.browser_nonce));
    }
    // Another org's user cannot finish it.
    let (code, state) = h.google.consent(start.authorization_url.as_str()).await;
    let stranger = TenantContext::user(OrgId::new(), UserId::new(), Role::Owner);
    let taken = second
        .take_connect(&state, Some(&start.pending.browser_nonce))
        .await
        .unwrap();
    let err = second
        .finish_taken_connect(&stranger, &code, taken)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Validation(v) if v.errors[0].field == "state"),
        "{err:?}"
    );
}
gmail_test!(states_are_shared_through_the_store);
