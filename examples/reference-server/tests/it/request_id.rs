//! `x-request-id`: echoed, generated when absent, and carried into the events a request writes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, id_of};

/// The `company.created` event about `company`.
async fn creation_event(app: &TestApp, key: &str, company: &Value) -> Value {
    let events = app
        .read(
            &format!(
                "/api/v1/events?type=company.created&subject_id={}",
                id_of(company)
            ),
            key,
        )
        .await;
    let data = events["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "one company.created event: {events}");
    data[0].clone()
}

async fn a_given_request_id_is_echoed_and_recorded(app: &TestApp) {
    let (_, key) = app.create_org("Request ids").await;
    let rid = format!("test-{}", uuid::Uuid::now_v7());
    let resp = app
        .send(
            app.request(Method::POST, "/api/v1/companies", &key)
                .header("x-request-id", &rid)
                .json(&json!({ "name": "Traced" })),
        )
        .await;
    let company = resp.expect(201);
    assert_eq!(
        resp.header("x-request-id"),
        Some(rid.as_str()),
        "the request id is echoed"
    );
    let event = creation_event(app, &key, &company).await;
    assert_eq!(
        event["request_id"],
        json!(rid),
        "the event carries the request id: {event}"
    );

    // Echoed on errors and outside the API too.
    let missing = app
        .send(
            app.request(Method::GET, "/api/v1/nowhere", &key)
                .header("x-request-id", "rid-404"),
        )
        .await;
    missing.problem(404);
    assert_eq!(missing.header("x-request-id"), Some("rid-404"));
    let unauth = app
        .send(
            app.request(Method::GET, "/api/v1/companies", "")
                .header("x-request-id", "rid-401"),
        )
        .await;
    unauth.problem(401);
    assert_eq!(unauth.header("x-request-id"), Some("rid-401"));
    let health = app
        .send(
            app.request(Method::GET, "/healthz", "")
                .header("x-request-id", "rid-health"),
        )
        .await;
    assert_eq!(health.header("x-request-id"), Some("rid-health"));
}
server_test!(a_given_request_id_is_echoed_and_recorded);

async fn a_missing_request_id_is_generated_and_recorded(app: &TestApp) {
    let (_, key) = app.create_org("Generated ids").await;
    let first = app
        .post("/api/v1/companies", &key, &json!({ "name": "One" }))
        .await;
    let second = app
        .post("/api/v1/companies", &key, &json!({ "name": "Two" }))
        .await;
    let (a, b) = (first.expect(201), second.expect(201));
    let rid_a = first
        .header("x-request-id")
        .expect("a generated request id")
        .to_owned();
    let rid_b = second
        .header("x-request-id")
        .expect("a generated request id")
        .to_owned();
    assert!(!rid_a.is_empty());
    assert_ne!(rid_a, rid_b, "each request gets its own id");
    assert_eq!(
        creation_event(app, &key, &a).await["request_id"],
        json!(rid_a),
        "the generated id is recorded"
    );
    assert_eq!(
        creation_event(app, &key, &b).await["request_id"],
        json!(rid_b)
    );
    assert!(
        app.get("/healthz", "")
            .await
            .header("x-request-id")
            .is_some_and(|r| !r.is_empty())
    );
}
server_test!(a_missing_request_id_is_generated_and_recorded);

/// A client-sent id that is too long or holds anything but `A-Za-z0-9._-` is replaced by a
/// generated one: never echoed nor recorded as sent.
async fn an_unsafe_request_id_is_replaced(app: &TestApp) {
    let (_, key) = app.create_org("Unsafe ids").await;
    let longest = "a".repeat(128);
    let unsafe_ids = [
        "b".repeat(129),
        "has spaces".to_owned(),
        "a/b".to_owned(),
        "quote\"d".to_owned(),
        "{\"level\":\"error\"}".to_owned(),
        "tab\there".to_owned(),
    ];
    for sent in &unsafe_ids {
        let resp = app
            .send(
                app.request(Method::POST, "/api/v1/companies", &key)
                    .header("x-request-id", sent.as_str())
                    .json(&json!({ "name": "Unsafe" })),
            )
            .await;
        let company = resp.expect(201);
        let echoed = resp
            .header("x-request-id")
            .expect("a request id")
            .to_owned();
        assert_ne!(&echoed, sent, "{sent:?} is not echoed");
        assert!(
            uuid::Uuid::parse_str(&echoed).is_ok(),
            "a generated id instead of {sent:?}: {echoed:?}"
        );
        assert_eq!(
            creation_event(app, &key, &company).await["request_id"],
            json!(echoed),
            "the generated id, not {sent:?}, is recorded"
        );
    }
    // Non-ASCII bytes are refused as well (reqwest sends them as given).
    let resp = app
        .send(app.request(Method::GET, "/healthz", "").header(
            "x-request-id",
            reqwest::header::HeaderValue::from_bytes("caf\u{e9}".as_bytes()).expect("obs-text"),
        ))
        .await;
    assert!(
        resp.header("x-request-id")
            .is_some_and(|r| uuid::Uuid::parse_str(r).is_ok()),
        "{:?}",
        resp.headers
    );
    // The longest allowed and every allowed character class pass through.
    for sent in [longest.as_str(), "Az09._-"] {
        let resp = app
            .send(
                app.request(Method::GET, "/healthz", "")
                    .header("x-request-id", sent),
            )
            .await;
        assert_eq!(resp.header("x-request-id"), Some(sent));
    }
}
server_test!(an_unsafe_request_id_is_replaced);
