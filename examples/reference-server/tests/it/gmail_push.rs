//! Gmail push: `users.watch` on connect (renewed by the scheduler before it expires, stopped
//! on disconnect), and `POST /api/v1/webhooks/gmail/push` as the fake Google's Pub/Sub push
//! sender calls it, with OIDC tokens the fake signs with its own RSA key and serves in its
//! JWKS: a pushed change is synced, bad tokens are refused, a burst costs one sync.
//!
//! Each test runs on a server with `GMAIL_PUBSUB_TOPIC`, `GMAIL_PUBSUB_AUDIENCE` (the push
//! URL), `GMAIL_PUBSUB_SERVICE_ACCOUNT` and `GOOGLE_OIDC_JWKS_URL` pointing at the fake.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use workos_tests::fake_google::{PUSH_SERVICE_ACCOUNT, PUSH_TOPIC, Route, simple_message};

use crate::gmail::{GmailApp, PUSH_PATH, connect, sync_due};
use crate::helpers::id_of;

/// The connected mailbox (the fake's).
const ACCOUNT: &str = "owner@acme.example";

macro_rules! push_test {
    ($name:ident) => {
        server_test!(@tests $name, |backend| $crate::gmail::spawn_with(backend, true));
    };
}

/// The push URL, which is also the tokens' audience.
fn push_url(app: &GmailApp) -> String {
    app.url(PUSH_PATH)
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("a time: {v}"))
}

/// An org with the fake's mailbox connected (and so watched) and fully synced once: its owner
/// key and the integration id.
async fn connected(app: &GmailApp) -> (String, String) {
    let (org, owner) = app.create_org("Acme").await;
    let integration = connect(app, &owner, org).await;
    let watch = app
        .google
        .watch()
        .expect("the mailbox is watched on connect");
    assert_eq!(watch.topic, PUSH_TOPIC);
    assert_eq!(
        time(&integration["watch_expires_at"]).timestamp_millis(),
        watch.expires_at.timestamp_millis(),
        "the watch's expiry is stored: {integration}"
    );
    assert!(integration["watch_history_id"].is_string(), "{integration}");
    let id = id_of(&integration);
    app.post(&sync_path(&id), &owner, &json!({}))
        .await
        .expect(202);
    (owner, id)
}

fn sync_path(id: &str) -> String {
    format!("/api/v1/integrations/gmail/{id}/sync")
}

async fn inbound_count(app: &GmailApp, owner: &str, id: &str) -> u64 {
    app.read(&sync_path(id), owner).await["email_counts"]["inbound"]
        .as_u64()
        .expect("a count")
}

/// Waits until the integration has `n` inbound emails stored (a push answered `pending`
/// finishes its sync after the answer).
async fn until_inbound(app: &GmailApp, owner: &str, id: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = inbound_count(app, owner, id).await;
        if seen == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited a minute for {n} inbound emails; saw {seen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A push of a new message reaches the store through one incremental sync; the same push
/// again (Pub/Sub redelivers) costs nothing, and a push for a mailbox nobody connected is
/// acknowledged.
async fn a_pushed_message_is_synced(app: &GmailApp) {
    let (owner, id) = connected(app).await;
    let before = inbound_count(app, &owner, &id).await;
    app.google.add_message(simple_message(
        "ada@example.com",
        ACCOUNT,
        "Pushed",
        "Arrived by push",
    ));
    app.google.reset_counters();
    let url = push_url(app);
    let (status, answer) = app
        .google
        .deliver_push(&url, &url)
        .await
        .expect("the fake pushes for a watched mailbox");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["mailboxes"], 1, "{answer}");
    assert_eq!(
        answer["synced"].as_u64().unwrap() + answer["pending"].as_u64().unwrap(),
        1,
        "{answer}"
    );
    until_inbound(app, &owner, &id, before + 1).await;
    let emails = app.read("/api/v1/emails?direction=inbound", &owner).await;
    assert!(
        emails["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["subject"] == "Pushed"),
        "{emails}"
    );
    assert_eq!(app.google.calls(Route::History), 1, "one incremental sync");
    assert_eq!(app.google.calls(Route::MessagesList), 0, "not a full sync");

    // Redelivered: the stored sync covers it.
    let (status, again) = app.google.deliver_push(&url, &url).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(again["already_synced"], 1, "{again}");
    assert_eq!(app.google.calls(Route::History), 1);

    // A mailbox no org has: acknowledged (Pub/Sub must not retry it), nothing done.
    let token = app.google.sign_oidc(&app.google.oidc_claims(&url));
    let data = base64_json(&json!({"emailAddress": "nobody@else.example", "historyId": 1}));
    let (status, unknown) = app
        .google
        .post_push(
            &url,
            Some(&token),
            &json!({"message": {"data": data, "messageId": "1"}}),
        )
        .await;
    assert_eq!(status, 200, "{unknown}");
    assert_eq!(unknown["mailboxes"], 0, "{unknown}");
}
push_test!(a_pushed_message_is_synced);

fn base64_json(v: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

/// Only the push subscription's Google-signed tokens get in: missing, malformed, expired,
/// wrongly addressed, foreign-issued, other accounts' and forged tokens are refused with a
/// `401` saying why, and nothing is synced; both of Google's issuer spellings are accepted.
/// A valid token with an unreadable envelope is a `422` naming the field.
async fn push_tokens_are_checked(app: &GmailApp) {
    let (_owner, _id) = connected(app).await;
    app.google
        .add_message(simple_message("ada@example.com", ACCOUNT, "Hi", "Hello"));
    app.google.reset_counters();
    let url = push_url(app);
    let google = &app.google;
    let body = google.push_body();
    let claims = google.oidc_claims(&url);
    let with = |patch: Value| {
        let mut c = claims.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let now = Utc::now().timestamp();
    let refused: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "required"),
        ("not a JWT", Some("not-a-jwt".to_owned()), "not a JWT"),
        (
            "expired",
            Some(google.sign_oidc(&with(json!({"iat": now - 7200, "exp": now - 3600})))),
            "expired",
        ),
        (
            "wrong audience",
            Some(google.sign_oidc(&with(json!({"aud": "https://other.example/push"})))),
            "wrong audience",
        ),
        (
            "wrong issuer",
            Some(google.sign_oidc(&with(json!({"iss": "https://accounts.example.com"})))),
            "wrong issuer",
        ),
        (
            "another service account",
            Some(google.sign_oidc(&with(
                json!({"email": "intruder@evil.iam.gserviceaccount.com"}),
            ))),
            "service account",
        ),
        (
            "unverified email",
            Some(google.sign_oidc(&with(json!({"email_verified": false})))),
            "not verified",
        ),
        (
            "forged signature",
            Some(google.sign_oidc_foreign(&claims)),
            "bad signature",
        ),
    ];
    for (case, token, reason) in refused {
        let (status, problem) = google.post_push(&url, token.as_deref(), &body).await;
        assert_eq!(status, 401, "{case}: {problem}");
        assert_eq!(problem["status"], 401, "{case}: problem+json {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains(reason)),
            "{case}: {problem}"
        );
    }
    assert_eq!(google.calls(Route::History), 0, "nothing synced");
    assert_eq!(
        google.calls(Route::Jwks),
        1,
        "the keys were fetched once and cached"
    );

    // A valid token with an envelope that is not Gmail's: the field is named.
    let token = google.sign_oidc(&claims);
    let (status, problem) = google
        .post_push(&url, Some(&token), &json!({"message": {"data": "%%%"}}))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "message.data", "{problem}");
    assert_eq!(google.calls(Route::History), 0);

    // Google documents both issuer spellings.
    for iss in ["accounts.google.com", "https://accounts.google.com"] {
        let token = google.sign_oidc(&with(json!({"iss": iss})));
        let (status, answer) = google.post_push(&url, Some(&token), &body).await;
        assert_eq!(status, 200, "{iss}: {answer}");
        assert_eq!(answer["mailboxes"], 1, "{iss}: {answer}");
    }
    assert_eq!(
        PUSH_SERVICE_ACCOUNT,
        claims["email"].as_str().unwrap(),
        "the configured account"
    );
}
push_test!(push_tokens_are_checked);

/// Twenty pushes at once for one new message cost one sync: one history read, one message
/// fetch.
async fn a_burst_of_pushes_costs_one_sync(app: &GmailApp) {
    let (owner, id) = connected(app).await;
    let before = inbound_count(app, &owner, &id).await;
    app.google
        .add_message(simple_message("bob@example.com", ACCOUNT, "Burst", "One"));
    app.google.reset_counters();
    let url = push_url(app);
    let token = app.google.sign_oidc(&app.google.oidc_claims(&url));
    let body = app.google.push_body();
    let answers = futures_util::future::join_all(
        (0..20).map(|_| app.google.post_push(&url, Some(&token), &body)),
    )
    .await;
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(answer["mailboxes"], 1, "{answer}");
    }
    until_inbound(app, &owner, &id, before + 1).await;
    assert_eq!(
        app.google.calls(Route::History),
        1,
        "one sync for the burst"
    );
    assert_eq!(app.google.calls(Route::MessagesGet), 1);
}
push_test!(a_burst_of_pushes_costs_one_sync);

/// The scheduler renews a watch days before it expires (fewer than six of its seven days
/// left), and leaves a fresh one alone.
async fn watches_are_renewed_before_expiry(app: &GmailApp) {
    // Google's watches last seven days; this one a single day: due for renewal.
    app.google
        .set_watch_lifetime(Duration::from_secs(24 * 3600));
    let (owner, id) = connected(app).await;
    assert_eq!(app.google.watch_requests().len(), 1);
    let interval = Duration::from_secs(60);
    sync_due(&app.state, interval).await;
    assert_eq!(
        app.google.watch_requests(),
        [PUSH_TOPIC, PUSH_TOPIC],
        "renewed a day before expiry"
    );

    app.google
        .set_watch_lifetime(Duration::from_secs(7 * 24 * 3600));
    sync_due(&app.state, interval).await;
    assert_eq!(app.google.watch_requests().len(), 3);
    let listed = app.read("/api/v1/integrations", &owner).await;
    let stored = time(&listed["data"][0]["watch_expires_at"]);
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert!(
        stored > Utc::now() + chrono::Duration::days(6),
        "the renewed expiry is stored: {stored}"
    );
    sync_due(&app.state, interval).await;
    assert_eq!(
        app.google.watch_requests().len(),
        3,
        "a fresh watch is not renewed"
    );
}
push_test!(watches_are_renewed_before_expiry);

/// Disconnecting stops the watch at Google and forgets it; a late push is acknowledged and
/// does nothing.
async fn disconnect_stops_the_watch(app: &GmailApp) {
    let (owner, id) = connected(app).await;
    let gone = app
        .delete(&format!("/api/v1/integrations/{id}"), &owner)
        .await
        .expect(200);
    assert_eq!(gone["status"], "disconnected");
    assert!(gone["watch_expires_at"].is_null(), "{gone}");
    assert_eq!(app.google.stops(), 1, "users.stop was called");
    assert!(app.google.watch().is_none());
    let url = push_url(app);
    assert!(app.google.deliver_push(&url, &url).await.is_none());
    let token = app.google.sign_oidc(&app.google.oidc_claims(&url));
    app.google.reset_counters();
    let (status, late) = app
        .google
        .post_push(&url, Some(&token), &app.google.push_body())
        .await;
    assert_eq!(status, 200, "{late}");
    assert_eq!(late["mailboxes"], 0, "{late}");
    assert_eq!(app.google.calls(Route::History), 0);
}
push_test!(disconnect_stops_the_watch);
