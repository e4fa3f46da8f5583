//! Unauthenticated work (issue 16): what a client without valid credentials can make the
//! server do. A well-formed but unknown API key is looked up once, then answered from memory;
//! failed authentication is limited per client address (IPv6 by /64) with a 429 and
//! `Retry-After`, answered before any lookup; Twilio's webhooks refuse what needs no lookup to
//! refuse before looking up a number or an account.
//!
//! "No lookup" is shown by closing the server's database pool: whatever still answers 401 or
//! 403 afterwards was decided without the database (a request that needs it answers 503).

use reqwest::Method;
use uuid::Uuid;

use crate::helpers::{Settings, TestApp};

/// A key of the right shape that no org has.
fn unknown_key() -> String {
    let id = Uuid::now_v7().simple().to_string();
    format!("wos_{}_{}", &id[20..32], "A".repeat(43))
}

async fn unknown_api_keys_cost_one_lookup(app: &TestApp) {
    let (_, owner) = app.create_org("Keys").await;
    let unknown = unknown_key();
    app.get("/api/v1/people", &unknown).await.problem(401);
    // A valid key read now is served from memory as well.
    app.get("/api/v1/people", &owner).await.expect(200);

    app.state.store.close().await;
    for _ in 0..3 {
        app.get("/api/v1/people", &unknown).await.problem(401);
    }
    // Another unknown key must be looked up: the database is gone.
    let other = app
        .send_any(app.request(Method::GET, "/api/v1/people", &unknown_key()))
        .await;
    assert_eq!(other.status, 503, "{}", other.text);
}
server_test!(unknown_api_keys_cost_one_lookup);

fn three_failures() -> Settings {
    Settings {
        auth_failures_per_minute: 3,
        trusted_proxies: "127.0.0.1",
        ..Settings::default()
    }
}

/// A request from `client` (through the trusted local proxy) with `key`.
async fn from(app: &TestApp, client: &str, key: &str) -> crate::helpers::Resp {
    app.send_any(
        app.request(Method::GET, "/api/v1/people", key)
            .header("x-forwarded-for", client),
    )
    .await
}

async fn failed_authentication_is_limited_per_client(app: &TestApp) {
    let (_, owner) = app.create_org("Failures").await;
    let client = "203.0.113.50";
    for bad in ["wos_nope", &unknown_key(), "not-a-jwt"] {
        from(app, client, bad).await.problem(401);
    }
    let limited = from(app, client, &unknown_key()).await;
    limited.problem(429);
    let retry: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // Refused before any lookup: even a valid key waits, and so does the database.
    from(app, client, &owner).await.problem(429);
    // Other clients are not.
    from(app, "203.0.113.51", &unknown_key()).await.problem(401);
    from(app, "203.0.113.51", &owner).await.expect(200);

    // IPv6: one /64 is one client, whatever address inside it is used.
    for i in 1..=3 {
        from(app, &format!("2001:db8:7:9::{i}"), &unknown_key())
            .await
            .problem(401);
    }
    from(app, "2001:db8:7:9:ffff::1", &unknown_key())
        .await
        .problem(429);
    from(app, "2001:db8:7:a::1", &unknown_key())
        .await
        .problem(401);

    app.state.store.close().await;
    from(app, client, &unknown_key()).await.problem(429);
}
server_test!(
    failed_authentication_is_limited_per_client,
    super::three_failures()
);

#[cfg(feature = "twilio")]
async fn twilio_refuses_before_any_lookup(t: &crate::twilio::TwilioApp) {
    use workos_tests::fake_twilio::{TEST_ACCOUNT_SID, WebhookSigner};

    use crate::helpers::phone_number;
    use crate::twilio::with_param;

    let url = t.hook("sms");
    // A number never seen: finding its owner would need the database.
    let params = t
        .twilio
        .inbound_sms_params(&phone_number(), &phone_number(), "hi");
    assert!(
        params
            .iter()
            .any(|(k, v)| k == "AccountSid" && v == TEST_ACCOUNT_SID),
        "sent as the platform's account"
    );
    let genuine = t.twilio.webhook_signature(&url, &params);
    let forged = WebhookSigner::new("not-the-auth-token").signature(&url, &params);
    let other_account = with_param(&params, "AccountSid", "AC00000000000000000000000000000000");
    let forged_other = WebhookSigner::new("not-the-auth-token").signature(&url, &other_account);

    t.state.store.close().await;
    for route in ["sms", "voice", "status", "call-status", "recording"] {
        t.post_form(&t.hook(route), &params, None)
            .await
            .problem(403);
        t.post_form(&t.hook(route), &params, Some(&forged))
            .await
            .problem(403);
    }
    // A genuine request goes on to the number's owner: the database is gone.
    let looked_up = t.post_form(&url, &params, Some(&genuine)).await;
    assert_eq!(looked_up.status, 503, "{}", looked_up.text);
    // So does one that another account (an org's own) may have signed: that needs the
    // lookup to pick the token.
    let other = t.post_form(&url, &other_account, Some(&forged_other)).await;
    assert_eq!(other.status, 503, "{}", other.text);
}
#[cfg(feature = "twilio")]
crate::twilio::twilio_test!(
    twilio_refuses_before_any_lookup,
    ::workos_core::domain::UnknownSender::CreatePerson
);
