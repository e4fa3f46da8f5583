//! `/api/v1/org`: every member reads their org; owners rename it.

use serde_json::json;
use workos_core::tenant::Role;

use crate::helpers::TestApp;

async fn the_org_is_read_by_members_and_renamed_by_owners(app: &TestApp) {
    let (org, owner) = app.create_org("Acme").await;
    let viewer = app.api_key(org, Role::Viewer).await;
    let admin = app.api_key(org, Role::Admin).await;

    let read = app.read("/api/v1/org", &viewer).await;
    assert_eq!(read["id"], json!(org.to_string()));
    assert_eq!(read["name"], json!("Acme"));

    let renamed = app
        .patch("/api/v1/org", &owner, &json!({ "name": "  Acme Inc " }))
        .await
        .expect(200);
    assert_eq!(renamed["name"], json!("Acme Inc"), "trimmed");
    assert_eq!(renamed["id"], read["id"]);
    assert_eq!(app.read("/api/v1/org", &viewer).await, renamed);

    let events = app
        .read(
            &format!("/api/v1/events?type=org.updated&subject_id={org}"),
            &owner,
        )
        .await;
    assert_eq!(events["data"].as_array().map(Vec::len), Some(1), "{events}");
    assert_eq!(events["data"][0]["data"]["name"], json!("Acme Inc"));

    // Owners only (admins manage keys and integrations, not the org itself).
    app.patch("/api/v1/org", &admin, &json!({ "name": "Mine" }))
        .await
        .problem(403);
    app.patch("/api/v1/org", &viewer, &json!({ "name": "Mine" }))
        .await
        .problem(403);
    app.patch("/api/v1/org", &owner, &json!({ "name": " " }))
        .await
        .invalid_field("name");
    app.patch("/api/v1/org", &owner, &json!({ "name": "x".repeat(201) }))
        .await
        .invalid_field("name");
    app.patch("/api/v1/org", &owner, &json!({}))
        .await
        .invalid_field("name");
    app.patch("/api/v1/org", &owner, &json!({ "name": "A", "id": "b" }))
        .await
        .problem(422);
    assert_eq!(
        app.read("/api/v1/org", &owner).await["name"],
        json!("Acme Inc")
    );

    // Each caller sees their own org.
    let (other, other_key) = app.create_org("Other").await;
    assert_eq!(
        app.read("/api/v1/org", &other_key).await["id"],
        json!(other.to_string())
    );
}
server_test!(the_org_is_read_by_members_and_renamed_by_owners);
