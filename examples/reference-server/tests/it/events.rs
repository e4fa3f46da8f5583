//! `/api/v1/events`: the org's domain events.

use serde_json::{Value, json};
use workos_core::tenant::Role;

use crate::helpers::{TestApp, id_of, ids_in};

/// The event types of a list answer, in order.
fn types_in(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

async fn events_record_every_write(app: &TestApp) {
    let (org, key) = app.create_org("Events").await;
    let viewer = app.api_key(org, Role::Viewer).await;
    let company = app
        .create("/api/v1/companies", &key, json!({ "name": "Evented" }))
        .await;
    let company_id = id_of(&company);
    let person = app
        .create("/api/v1/people", &key, json!({ "first_name": "Eve" }))
        .await;
    app.patch(
        &format!("/api/v1/companies/{company_id}"),
        &key,
        &json!({ "name": "Evented 2" }),
    )
    .await
    .expect(200);
    app.delete(&format!("/api/v1/companies/{company_id}"), &key)
        .await
        .expect(204);

    let about = app
        .read(&format!("/api/v1/events?subject_id={company_id}"), &viewer)
        .await;
    assert_eq!(
        types_in(&about),
        ["company.created", "company.updated", "company.deleted"],
        "oldest first: {about}"
    );
    let created = &about["data"][0];
    assert_eq!(created["org_id"], json!(org.to_string()));
    assert_eq!(created["subject"]["kind"], json!("company"));
    assert_eq!(created["subject"]["id"], json!(company_id));
    assert_eq!(
        created["data"]["name"],
        json!("Evented"),
        "the snapshot after the change"
    );
    assert!(created["occurred_at"].is_string());
    assert_eq!(about["data"][1]["data"]["name"], json!("Evented 2"));

    let one = app
        .read(&format!("/api/v1/events/{}", id_of(created)), &viewer)
        .await;
    assert_eq!(&one, created, "GET /events/{{id}} answers the listed event");

    let only = app.read("/api/v1/events?type=person.created", &key).await;
    assert_eq!(types_in(&only), ["person.created"]);
    assert_eq!(only["data"][0]["subject"]["id"], person["id"]);
    let comma = app
        .read("/api/v1/events?type=person.created,company.deleted", &key)
        .await;
    assert_eq!(
        types_in(&comma),
        ["person.created", "company.deleted"],
        "comma-separated types"
    );
    let repeated = app
        .read(
            "/api/v1/events?type=person.created&type=company.deleted",
            &key,
        )
        .await;
    assert_eq!(ids_in(&repeated), ids_in(&comma), "repeated types");
    assert!(ids_in(&app.read("/api/v1/events?type=deal.created", &key).await).is_empty());

    let all = app.read("/api/v1/events", &key).await;
    let t = only["data"][0]["occurred_at"]
        .as_str()
        .expect("occurred_at")
        .replace('+', "%2B");
    let after = app
        .read(&format!("/api/v1/events?occurred_after={t}"), &key)
        .await;
    let before = app
        .read(&format!("/api/v1/events?occurred_before={t}"), &key)
        .await;
    assert!(
        types_in(&after).starts_with(&["person.created".to_owned()]),
        "occurred_after is inclusive: {after}"
    );
    assert!(
        !types_in(&before).contains(&"person.created".to_owned()),
        "occurred_before is exclusive: {before}"
    );
    assert_eq!(
        ids_in(&before).len() + ids_in(&after).len(),
        ids_in(&all).len(),
        "the two halves make up the whole log"
    );
    assert!(types_in(&before).contains(&"company.created".to_owned()));

    let paged = app.read("/api/v1/events?limit=1", &key).await;
    assert_eq!(ids_in(&paged).len(), 1);
    let cursor = paged["next_cursor"]
        .as_str()
        .expect("more than one event, so a next page");
    let next = app
        .read(&format!("/api/v1/events?limit=1&cursor={cursor}"), &key)
        .await;
    assert_eq!(
        ids_in(&next),
        vec![ids_in(&all)[1].clone()],
        "the cursor continues the log"
    );

    app.get("/api/v1/events?subject_id=nope", &key)
        .await
        .invalid_field("subject_id");
    app.get("/api/v1/events?occurred_after=never", &key)
        .await
        .invalid_field("occurred_after");
    app.get("/api/v1/events?limit=0", &key)
        .await
        .invalid_field("limit");
    app.get("/api/v1/events?limit=201", &key)
        .await
        .invalid_field("limit");
    app.get(&format!("/api/v1/events/{}", uuid::Uuid::now_v7()), &key)
        .await
        .problem(404);
    app.get("/api/v1/events/not-an-id", &key).await.problem(404);
}
server_test!(events_record_every_write);

async fn events_are_read_only(app: &TestApp) {
    let (_, key) = app.create_org("Read-only log").await;
    app.create("/api/v1/companies", &key, json!({ "name": "C" }))
        .await;
    let event = app.read("/api/v1/events", &key).await["data"][0].clone();
    let path = format!("/api/v1/events/{}", id_of(&event));
    app.post(
        "/api/v1/events",
        &key,
        &json!({ "type": "company.created" }),
    )
    .await
    .problem(405);
    app.delete(&path, &key).await.problem(405);
    app.patch(&path, &key, &json!({ "type": "x" }))
        .await
        .problem(405);
    assert_eq!(app.read(&path, &key).await, event);
}
server_test!(events_are_read_only);

async fn event_type_filter_is_bounded(app: &TestApp) {
    let (_, key) = app.create_org("Bounded filters").await;
    let fifty = vec!["company.created"; 50].join(",");
    app.read(&format!("/api/v1/events?type={fifty}"), &key)
        .await;
    let many = vec!["company.created"; 51].join(",");
    app.get(&format!("/api/v1/events?type={many}"), &key)
        .await
        .invalid_field("type");
    // Repeating the parameter counts the same.
    let repeated = vec!["type=deal.won"; 51].join("&");
    app.get(&format!("/api/v1/events?{repeated}"), &key)
        .await
        .invalid_field("type");
    let long = format!("company.{}", "x".repeat(100));
    app.get(&format!("/api/v1/events?type={long}"), &key)
        .await
        .invalid_field("type");
}
server_test!(event_type_filter_is_bounded);
