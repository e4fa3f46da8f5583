//! The audit trail: every event names its actor (the authenticated principal, never anything
//! the client sent) and its request id; `GET /events?actor=` filters by it; viewers do not see
//! `api_key.*` events.

use reqwest::Method;
use serde_json::{Value, json};
use workos_core::tenant::Role;

use crate::helpers::{TestApp, id_of};

/// The one event of `list`, asserting there is exactly one.
fn only(list: &Value) -> &Value {
    let data = list["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "exactly one event: {list}");
    &data[0]
}

async fn events_name_their_actor_and_request(app: &TestApp) {
    let (org, owner) = app.create_org("Audit").await;
    let created = app
        .create(
            "/api/v1/api-keys",
            &owner,
            json!({ "name": "CI", "role": "member" }),
        )
        .await;
    let (ci_id, ci) = (
        id_of(&created),
        created["api_key"].as_str().unwrap().to_owned(),
    );
    let viewer = app.api_key(org, Role::Viewer).await;

    // A write by the CI key, with a request id the client chose; the body's attempt to name
    // another actor is not a field the API knows.
    let person = app
        .send(
            app.request(Method::POST, "/api/v1/people", &ci)
                .header("x-request-id", "audit-req-1")
                .json(&json!({ "first_name": "Ada" })),
        )
        .await
        .expect(201);
    let by_ci = app
        .read(&format!("/api/v1/events?actor=api_key:{ci_id}"), &owner)
        .await;
    let event = only(&by_ci);
    assert_eq!(event["type"], json!("person.created"));
    assert_eq!(event["subject"]["id"], person["id"]);
    assert_eq!(event["actor"], json!({ "kind": "api_key", "id": ci_id }));
    assert_eq!(event["request_id"], json!("audit-req-1"));

    // A user's write names the user; the operator's bootstrap names its job.
    let user = app.add_member(&owner, "member").await;
    let jwt = app.jwt(user);
    app.send(
        app.user_request(Method::POST, "/api/v1/companies", &jwt, org)
            .json(&json!({ "name": "By a user" })),
    )
    .await
    .expect(201);
    let by_user = app
        .read(&format!("/api/v1/events?actor=user:{user}"), &owner)
        .await;
    assert_eq!(only(&by_user)["type"], json!("company.created"));
    assert_eq!(
        only(&by_user)["actor"],
        json!({ "kind": "user", "id": user.to_string() })
    );
    let by_owner_key_creation = app
        .read("/api/v1/events?type=api_key.created", &owner)
        .await;
    let first = &by_owner_key_creation["data"][0];
    assert_eq!(
        first["actor"]["kind"],
        json!("system"),
        "the first key is minted by the operator's command: {first}"
    );
    let system_job = first["actor"]["id"].as_str().unwrap();
    let by_job = app
        .read(&format!("/api/v1/events?actor=system:{system_job}"), &owner)
        .await;
    assert!(
        by_job["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"]["id"] == json!(system_job)),
        "{by_job}"
    );

    // Viewers do not see API key events, listed or by id; admins and owners do.
    let key_event_id = id_of(
        &by_owner_key_creation["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["subject"]["id"] == json!(ci_id))
            .expect("the CI key's creation is an event")
            .clone(),
    );
    let seen_by_viewer = app.read("/api/v1/events?limit=200", &viewer).await;
    let types: Vec<&str> = seen_by_viewer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"person.created"), "{types:?}");
    assert!(
        types.iter().all(|t| !t.starts_with("api_key.")),
        "a viewer sees no API key events: {types:?}"
    );
    assert!(
        app.read("/api/v1/events?type=api_key.created", &viewer)
            .await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.get(&format!("/api/v1/events/{key_event_id}"), &viewer)
        .await
        .problem(404);
    app.read(&format!("/api/v1/events/{key_event_id}"), &owner)
        .await;

    // The filter's value is checked and named.
    for bad in ["nobody", "api_key:not-a-uuid", "robot:x", "system:"] {
        app.get(&format!("/api/v1/events?actor={bad}"), &owner)
            .await
            .invalid_field("actor");
    }
}
server_test!(events_name_their_actor_and_request);
