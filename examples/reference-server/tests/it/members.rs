//! `/api/v1/members`.

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, id_of, ids_in};

async fn members_crud(app: &TestApp) {
    let (org, owner) = app.create_org("Members").await;
    let user = Uuid::now_v7();
    let created = app
        .create(
            "/api/v1/members",
            &owner,
            json!({ "user_id": user, "role": "member" }),
        )
        .await;
    let id = id_of(&created);
    assert_eq!(created["org_id"], json!(org.to_string()));
    assert_eq!(created["user_id"], json!(user.to_string()));
    assert_eq!(created["role"], json!("member"));

    let path = format!("/api/v1/members/{id}");
    assert_eq!(app.read(&path, &owner).await, created);
    assert!(ids_in(&app.read("/api/v1/members", &owner).await).contains(&id));

    let patched = app
        .patch(&path, &owner, &json!({ "role": "admin" }))
        .await
        .expect(200);
    assert_eq!(patched["role"], json!("admin"));
    assert_eq!(patched["user_id"], json!(user.to_string()));
    assert_eq!(app.read(&path, &owner).await, patched);

    // The membership is what a user JWT resolves to.
    let jwt = app.jwt(user);
    let as_user = app
        .send(
            app.user_request(Method::POST, "/api/v1/api-keys", &jwt, org)
                .json(&json!({ "name": "k", "role": "viewer" })),
        )
        .await;
    assert_eq!(
        as_user.status, 201,
        "the user now acts as admin: {}",
        as_user.text
    );

    app.delete(&path, &owner).await.expect(204);
    app.get(&path, &owner).await.problem(404);
    app.delete(&path, &owner).await.problem(404);
    assert!(!ids_in(&app.read("/api/v1/members", &owner).await).contains(&id));
    let gone = app
        .send(app.user_request(Method::GET, "/api/v1/companies", &jwt, org))
        .await;
    gone.problem(403);
}
server_test!(members_crud);

async fn members_rules(app: &TestApp) {
    let (_, owner) = app.create_org("Member rules").await;
    let user = Uuid::now_v7();
    app.post(
        "/api/v1/members",
        &owner,
        &json!({ "user_id": user, "role": "emperor" }),
    )
    .await
    .invalid_field("role");
    app.post(
        "/api/v1/members",
        &owner,
        &json!({ "user_id": "nope", "role": "member" }),
    )
    .await
    .invalid_field("user_id");
    app.post("/api/v1/members", &owner, &json!({ "role": "member" }))
        .await
        .invalid_field("user_id");
    let first = app
        .create(
            "/api/v1/members",
            &owner,
            json!({ "user_id": user, "role": "owner" }),
        )
        .await;
    app.post(
        "/api/v1/members",
        &owner,
        &json!({ "user_id": user, "role": "viewer" }),
    )
    .await
    .problem(409);

    // The last owner can be neither demoted nor removed.
    let path = format!("/api/v1/members/{}", id_of(&first));
    app.patch(&path, &owner, &json!({ "role": "viewer" }))
        .await
        .problem(409);
    app.delete(&path, &owner).await.problem(409);
    app.patch(&path, &owner, &json!({ "role": "nope" }))
        .await
        .invalid_field("role");
    assert_eq!(
        app.read(&path, &owner).await,
        first,
        "the refused changes changed nothing"
    );

    // With a second owner, the first can step down.
    app.create(
        "/api/v1/members",
        &owner,
        json!({ "user_id": Uuid::now_v7(), "role": "owner" }),
    )
    .await;
    assert_eq!(
        app.patch(&path, &owner, &json!({ "role": "viewer" }))
            .await
            .expect(200)["role"],
        json!("viewer")
    );
    assert_eq!(ids_in(&app.read("/api/v1/members", &owner).await).len(), 2);
}
server_test!(members_rules);
