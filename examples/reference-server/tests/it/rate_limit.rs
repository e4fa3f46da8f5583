//! Per-caller rate limits and their headers.

use reqwest::Method;
use serde_json::json;
use workos_core::tenant::Role;

use crate::helpers::{Resp, Settings, TestApp};

/// The limit these tests run with.
const LIMIT: u32 = 5;

fn limited() -> Settings {
    Settings {
        rate_limit_per_minute: LIMIT,
        ..Settings::default()
    }
}

#[track_caller]
fn header_u64(resp: &Resp, name: &str) -> u64 {
    resp.header(name)
        .unwrap_or_else(|| panic!("missing {name} on a {} answer", resp.status))
        .parse()
        .unwrap_or_else(|e| panic!("{name} is not a number: {e}"))
}

async fn each_key_is_limited_on_its_own(app: &TestApp) {
    let (org, key) = app.create_org("Limited").await;
    let other = app.api_key(org, Role::Viewer).await;

    for n in 1..=LIMIT {
        let r = app.get("/api/v1/companies", &key).await;
        assert_eq!(
            r.status, 200,
            "request {n} of {LIMIT} is allowed: {}",
            r.text
        );
        assert_eq!(header_u64(&r, "ratelimit-limit"), u64::from(LIMIT));
        assert_eq!(
            header_u64(&r, "ratelimit-remaining"),
            u64::from(LIMIT - n),
            "after request {n}"
        );
        let reset = header_u64(&r, "ratelimit-reset");
        assert!(
            (1..=60).contains(&reset),
            "RateLimit-Reset is within the window: {reset}"
        );
    }
    let over = app.get("/api/v1/companies", &key).await;
    let p = over.problem(429);
    assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()));
    let retry_after = header_u64(&over, "retry-after");
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After is a wait in seconds within the window: {retry_after}"
    );
    assert_eq!(header_u64(&over, "ratelimit-remaining"), 0);
    assert_eq!(header_u64(&over, "ratelimit-limit"), u64::from(LIMIT));
    // Writes count against the same budget and are refused too.
    app.post("/api/v1/companies", &key, &json!({ "name": "Too many" }))
        .await
        .problem(429);

    // Another key of the same org is unaffected.
    let fresh = app.get("/api/v1/companies", &other).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    assert_eq!(
        header_u64(&fresh, "ratelimit-remaining"),
        u64::from(LIMIT - 1)
    );
    assert!(
        fresh.text.contains("\"data\":[]"),
        "the refused write created nothing: {}",
        fresh.text
    );
    // Unauthenticated endpoints are not limited.
    for _ in 0..=LIMIT {
        assert_eq!(app.get("/healthz", "").await.status, 200);
    }
}
server_test!(each_key_is_limited_on_its_own, crate::rate_limit::limited());

async fn rate_limit_headers_on_every_authenticated_answer(app: &TestApp) {
    let (org, owner) = app.create_org("Headers").await;
    let created = app
        .post("/api/v1/companies", &owner, &json!({ "name": "C" }))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        header_u64(&created, "ratelimit-remaining"),
        u64::from(LIMIT - 1)
    );
    let not_found = app
        .get(
            &format!("/api/v1/companies/{}", uuid::Uuid::now_v7()),
            &owner,
        )
        .await;
    not_found.problem(404);
    assert_eq!(
        header_u64(&not_found, "ratelimit-remaining"),
        u64::from(LIMIT - 2),
        "errors carry the headers too"
    );
    let invalid = app
        .post("/api/v1/companies", &owner, &json!({ "name": "" }))
        .await;
    invalid.problem(422);
    assert_eq!(header_u64(&invalid, "ratelimit-limit"), u64::from(LIMIT));

    // Users are limited per user.
    let user = app.add_member(&owner, "viewer").await;
    let jwt = app.jwt(user);
    for n in 1..=LIMIT {
        let r = app
            .send(app.user_request(Method::GET, "/api/v1/companies", &jwt, org))
            .await;
        assert_eq!(r.status, 200, "user request {n}: {}", r.text);
        assert_eq!(header_u64(&r, "ratelimit-remaining"), u64::from(LIMIT - n));
    }
    app.send(app.user_request(Method::GET, "/api/v1/companies", &jwt, org))
        .await
        .problem(429);
}
server_test!(
    rate_limit_headers_on_every_authenticated_answer,
    crate::rate_limit::limited()
);

/// `WORKOS_ORG_RATE_LIMIT_PER_MINUTE`: all of an org's keys share one budget, and another org
/// has its own.
async fn an_org_quota_spans_its_keys(app: &TestApp) {
    let (org, first) = app.create_org("Quota").await;
    let second = app.api_key(org, Role::Member).await;
    let (_, elsewhere) = app.create_org("Elsewhere").await;
    let mut allowed = 0;
    for n in 0..8 {
        let key = if n % 2 == 0 { &first } else { &second };
        let r = app.get("/api/v1/companies", key).await;
        match r.status {
            200 => allowed += 1,
            429 => {
                let retry_after = header_u64(&r, "retry-after");
                assert!((1..=60).contains(&retry_after), "{retry_after}");
                assert_eq!(
                    header_u64(&r, "ratelimit-limit"),
                    6,
                    "the org's limit refused"
                );
            }
            other => panic!("request {n}: {other} {}", r.text),
        }
    }
    // Each key alone (5 a minute) would allow 4 of its 4: the org's 6 is what stops them.
    assert_eq!(allowed, 6, "the org's keys together get the org's quota");
    assert_eq!(app.get("/api/v1/companies", &elsewhere).await.status, 200);
}
server_test!(
    an_org_quota_spans_its_keys,
    crate::helpers::Settings {
        org_rate_limit_per_minute: 6,
        ..crate::rate_limit::limited()
    }
);
