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
