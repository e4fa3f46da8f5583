//! `/api/v1/interactions`.

use serde_json::json;

use crate::helpers::{TestApp, id_of, ids_in};

async fn interactions_crud(app: &TestApp) {
    let (org, key) = app.create_org("Interactions").await;
    let company = app
        .create("/api/v1/companies", &key, json!({ "name": "Co" }))
        .await;
    let person = app
        .create("/api/v1/people", &key, json!({ "first_name": "Ida" }))
        .await;
    let deal = app
        .create("/api/v1/deals", &key, json!({ "name": "D" }))
        .await;
    let created = app
        .create(
            "/api/v1/interactions",
            &key,
            json!({ "kind": "meeting", "occurred_at": "2024-03-04T05:06:07Z", "summary": "Kick-off",
                    "body": "Agenda: everything", "person_id": person["id"], "company_id": company["id"],
                    "deal_id": deal["id"] }),
        )
        .await;
    let id = id_of(&created);
    assert_eq!(created["org_id"], json!(org.to_string()));
    assert_eq!(created["kind"], json!("meeting"));
    assert_eq!(created["occurred_at"], json!("2024-03-04T05:06:07Z"));
    assert_eq!(created["summary"], json!("Kick-off"));
    assert_eq!(created["body"], json!("Agenda: everything"));
    assert_eq!(created["person_id"], person["id"]);
    assert_eq!(created["company_id"], company["id"]);
    assert_eq!(created["deal_id"], deal["id"]);

    let path = format!("/api/v1/interactions/{id}");
    assert_eq!(app.read(&path, &key).await, created);
    assert!(ids_in(&app.read("/api/v1/interactions", &key).await).contains(&id));

    let patched = app
        .patch(
            &path,
            &key,
            &json!({ "summary": "Kick-off (moved)", "body": null }),
        )
        .await
        .expect(200);
    assert_eq!(patched["summary"], json!("Kick-off (moved)"));
    assert_eq!(patched["body"], json!(null));
    assert_eq!(patched["kind"], json!("meeting"));
    assert_eq!(app.read(&path, &key).await, patched);

    let note = app
        .create(
            "/api/v1/interactions",
            &key,
            json!({ "kind": "note", "occurred_at": "2024-03-05T00:00:00Z", "summary": "A note" }),
        )
        .await;
    assert_eq!(note["kind"], json!("note"));

    app.delete(&path, &key).await.expect(204);
    app.get(&path, &key).await.problem(404);
    app.delete(&path, &key).await.problem(404);
    assert_eq!(
        ids_in(&app.read("/api/v1/interactions", &key).await),
        vec![id_of(&note)]
    );
}
server_test!(interactions_crud);

async fn interactions_only_notes_and_meetings_via_api(app: &TestApp) {
    let (_, key) = app.create_org("Kinds").await;
    for kind in ["email", "sms", "call"] {
        app.post(
            "/api/v1/interactions",
            &key,
            &json!({ "kind": kind, "occurred_at": "2024-01-01T00:00:00Z", "summary": "Sneaky" }),
        )
        .await
        .invalid_field("kind");
    }
    app.post(
        "/api/v1/interactions",
        &key,
        &json!({ "kind": "fax", "occurred_at": "2024-01-01T00:00:00Z", "summary": "S" }),
    )
    .await
    .invalid_field("kind");
    app.post(
        "/api/v1/interactions",
        &key,
        &json!({ "kind": "note", "occurred_at": "2024-01-01T00:00:00Z", "summary": "" }),
    )
    .await
    .invalid_field("summary");
    app.post(
        "/api/v1/interactions",
        &key,
        &json!({ "kind": "note", "occurred_at": "later", "summary": "S" }),
    )
    .await
    .invalid_field("occurred_at");
    app.post(
        "/api/v1/interactions",
        &key,
        &json!({ "kind": "note", "summary": "S" }),
    )
    .await
    .invalid_field("occurred_at");
    assert!(
        ids_in(&app.read("/api/v1/interactions", &key).await).is_empty(),
        "nothing was stored"
    );
}
server_test!(interactions_only_notes_and_meetings_via_api);

async fn interactions_list_filters(app: &TestApp) {
    let (_, key) = app.create_org("Interaction filters").await;
    let key = key.as_str();
    let company = app
        .create("/api/v1/companies", key, json!({ "name": "Co" }))
        .await;
    let person = app
        .create("/api/v1/people", key, json!({ "first_name": "Ike" }))
        .await;
    let deal = app
        .create("/api/v1/deals", key, json!({ "name": "D" }))
        .await;
    let new = |kind: &str, at: &str, extra: serde_json::Value| {
        let mut body = json!({ "kind": kind, "occurred_at": at, "summary": "S" });
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        body
    };
    let a = app
        .create(
            "/api/v1/interactions",
            key,
            new(
                "note",
                "2024-01-01T00:00:00Z",
                json!({ "person_id": person["id"] }),
            ),
        )
        .await;
    let b = app
        .create(
            "/api/v1/interactions",
            key,
            new(
                "meeting",
                "2024-02-01T00:00:00Z",
                json!({ "company_id": company["id"] }),
            ),
        )
        .await;
    let c = app
        .create(
            "/api/v1/interactions",
            key,
            new(
                "note",
                "2024-03-01T00:00:00Z",
                json!({ "deal_id": deal["id"] }),
            ),
        )
        .await;
    let list = |q: String| async move {
        ids_in(&app.read(&format!("/api/v1/interactions?{q}"), key).await)
    };
    assert_eq!(list("kind=note".into()).await, vec![id_of(&a), id_of(&c)]);
    assert_eq!(list("kind=meeting".into()).await, vec![id_of(&b)]);
    assert_eq!(
        list(format!("person_id={}", id_of(&person))).await,
        vec![id_of(&a)]
    );
    assert_eq!(
        list(format!("company_id={}", id_of(&company))).await,
        vec![id_of(&b)]
    );
    assert_eq!(
        list(format!("deal_id={}", id_of(&deal))).await,
        vec![id_of(&c)]
    );
    assert_eq!(
        list("occurred_after=2024-02-01T00:00:00Z".into()).await,
        vec![id_of(&b), id_of(&c)],
        "inclusive"
    );
    assert_eq!(
        list("occurred_before=2024-02-01T00:00:00Z".into()).await,
        vec![id_of(&a)],
        "exclusive"
    );
    assert_eq!(
        list("occurred_after=2024-01-15T00:00:00Z&occurred_before=2024-02-15T00:00:00Z".into())
            .await,
        vec![id_of(&b)]
    );
    app.get("/api/v1/interactions?kind=fax", key)
        .await
        .invalid_field("kind");
    app.get("/api/v1/interactions?occurred_after=never", key)
        .await
        .invalid_field("occurred_after");
}
server_test!(interactions_list_filters);
