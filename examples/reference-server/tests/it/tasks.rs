//! `/api/v1/tasks`.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, id_of, ids_in};

async fn tasks_crud(app: &TestApp) {
    let (org, key) = app.create_org("Tasks").await;
    let company = app
        .create("/api/v1/companies", &key, json!({ "name": "Client" }))
        .await;
    let person = app
        .create("/api/v1/people", &key, json!({ "first_name": "Cy" }))
        .await;
    let deal = app
        .create("/api/v1/deals", &key, json!({ "name": "Upsell" }))
        .await;
    let assignee = Uuid::now_v7();
    let created = app
        .create(
            "/api/v1/tasks",
            &key,
            json!({ "title": "Send contract", "status": "in_progress", "priority": "urgent",
                    "due_at": "2030-01-02T03:04:05Z", "assignee_id": assignee,
                    "person_id": person["id"], "company_id": company["id"], "deal_id": deal["id"] }),
        )
        .await;
    let id = id_of(&created);
    assert_eq!(created["org_id"], json!(org.to_string()));
    assert_eq!(created["title"], json!("Send contract"));
    assert_eq!(created["status"], json!("in_progress"));
    assert_eq!(created["priority"], json!("urgent"));
    assert_eq!(created["due_at"], json!("2030-01-02T03:04:05Z"));
    assert_eq!(created["assignee_id"], json!(assignee.to_string()));
    assert_eq!(created["person_id"], person["id"]);
    assert_eq!(created["company_id"], company["id"]);
    assert_eq!(created["deal_id"], deal["id"]);

    let path = format!("/api/v1/tasks/{id}");
    assert_eq!(app.read(&path, &key).await, created);
    assert!(ids_in(&app.read("/api/v1/tasks", &key).await).contains(&id));

    let patched = app
        .patch(&path, &key, &json!({ "status": "done", "due_at": null }))
        .await
        .expect(200);
    assert_eq!(patched["status"], json!("done"));
    assert_eq!(patched["due_at"], json!(null), "null clears");
    assert_eq!(
        patched["priority"],
        json!("urgent"),
        "absent fields are kept"
    );
    assert_eq!(app.read(&path, &key).await, patched);

    let minimal = app
        .create("/api/v1/tasks", &key, json!({ "title": "Follow up" }))
        .await;
    assert_eq!(minimal["status"], json!("open"), "status defaults to open");
    assert_eq!(
        minimal["priority"],
        json!("normal"),
        "priority defaults to normal"
    );

    app.delete(&path, &key).await.expect(204);
    app.get(&path, &key).await.problem(404);
    app.delete(&path, &key).await.problem(404);
    assert_eq!(
        ids_in(&app.read("/api/v1/tasks", &key).await),
        vec![id_of(&minimal)]
    );
}
server_test!(tasks_crud);

async fn tasks_validation(app: &TestApp) {
    let (_, key) = app.create_org("Task rules").await;
    app.post("/api/v1/tasks", &key, &json!({ "title": " " }))
        .await
        .invalid_field("title");
    app.post("/api/v1/tasks", &key, &json!({ "status": "open" }))
        .await
        .invalid_field("title");
    app.post(
        "/api/v1/tasks",
        &key,
        &json!({ "title": "T", "status": "started" }),
    )
    .await
    .invalid_field("status");
    app.post(
        "/api/v1/tasks",
        &key,
        &json!({ "title": "T", "priority": "meh" }),
    )
    .await
    .invalid_field("priority");
    app.post(
        "/api/v1/tasks",
        &key,
        &json!({ "title": "T", "due_at": "tomorrow" }),
    )
    .await
    .invalid_field("due_at");
    let task = app
        .create("/api/v1/tasks", &key, json!({ "title": "Valid" }))
        .await;
    let path = format!("/api/v1/tasks/{}", id_of(&task));
    app.patch(&path, &key, &json!({ "status": "finished" }))
        .await
        .invalid_field("status");
    app.patch(&path, &key, &json!({ "title": "" }))
        .await
        .invalid_field("title");
    assert_eq!(app.read(&path, &key).await, task);
}
server_test!(tasks_validation);

async fn tasks_list_filters(app: &TestApp) {
    let (_, key) = app.create_org("Task filters").await;
    let key = key.as_str();
    let company = app
        .create("/api/v1/companies", key, json!({ "name": "Co" }))
        .await;
    let person = app
        .create("/api/v1/people", key, json!({ "first_name": "Pam" }))
        .await;
    let deal = app
        .create("/api/v1/deals", key, json!({ "name": "D" }))
        .await;
    let assignee = Uuid::now_v7();
    let a = app
        .create("/api/v1/tasks", key, json!({ "title": "A", "status": "done", "assignee_id": assignee, "due_at": "2030-01-01T00:00:00Z" }))
        .await;
    let b = app
        .create(
            "/api/v1/tasks",
            key,
            json!({ "title": "B", "person_id": person["id"], "due_at": "2031-01-01T00:00:00Z" }),
        )
        .await;
    let c = app
        .create(
            "/api/v1/tasks",
            key,
            json!({ "title": "C", "company_id": company["id"], "deal_id": deal["id"] }),
        )
        .await;
    let list =
        |q: String| async move { ids_in(&app.read(&format!("/api/v1/tasks?{q}"), key).await) };
    assert_eq!(list("status=done".into()).await, vec![id_of(&a)]);
    assert_eq!(list("status=open".into()).await, vec![id_of(&b), id_of(&c)]);
    assert_eq!(
        list(format!("assignee_id={assignee}")).await,
        vec![id_of(&a)]
    );
    assert_eq!(
        list("due_before=2030-06-01T00:00:00Z".into()).await,
        vec![id_of(&a)],
        "tasks without a due time are not due"
    );
    assert_eq!(
        list("due_before=2030-01-01T00:00:00Z".into()).await,
        Vec::<String>::new(),
        "due_before is exclusive"
    );
    assert_eq!(
        list(format!("person_id={}", id_of(&person))).await,
        vec![id_of(&b)]
    );
    assert_eq!(
        list(format!("company_id={}", id_of(&company))).await,
        vec![id_of(&c)]
    );
    assert_eq!(
        list(format!("deal_id={}", id_of(&deal))).await,
        vec![id_of(&c)]
    );
    app.get("/api/v1/tasks?status=started", key)
        .await
        .invalid_field("status");
    app.get("/api/v1/tasks?due_before=soon", key)
        .await
        .invalid_field("due_before");
}
server_test!(tasks_list_filters);
