//! Role boundaries: viewer reads, member writes CRM data, admin manages keys and phones, owner
//! manages members. Each refused write must also leave the data unchanged.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;
use workos_core::tenant::Role;

use crate::helpers::{Fixtures, TestApp, id_of, phone_number};

/// The CRM collections, with a valid create body and a valid patch for each.
fn crm(fixtures: &Fixtures) -> Vec<(&'static str, Value, Value)> {
    vec![
        (
            "companies",
            json!({ "name": "New Co" }),
            json!({ "name": "Renamed" }),
        ),
        (
            "people",
            json!({ "first_name": "New" }),
            json!({ "title": "Boss" }),
        ),
        (
            "deals",
            json!({ "name": "New deal", "company_id": fixtures.company["id"] }),
            json!({ "stage": "won" }),
        ),
        (
            "tasks",
            json!({ "title": "New task" }),
            json!({ "status": "done" }),
        ),
        (
            "interactions",
            json!({ "kind": "note", "occurred_at": "2024-01-01T00:00:00Z", "summary": "New note" }),
            json!({ "summary": "Edited" }),
        ),
    ]
}

/// `role` may neither create in, patch nor delete `collection`'s `record`, and the record is
/// unchanged afterwards.
async fn refused_writes(
    app: &TestApp,
    key: &str,
    owner: &str,
    collection: &str,
    create: &Value,
    patch: &Value,
    record: &Value,
) {
    let base = format!("/api/v1/{collection}");
    let item = format!("{base}/{}", id_of(record));
    let before = app.read(&base, owner).await["data"]
        .as_array()
        .map(Vec::len);
    let p = app.post(&base, key, create).await.problem(403);
    assert!(
        p["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "the 403 says why: {p}"
    );
    app.patch(&item, key, patch).await.problem(403);
    app.delete(&item, key).await.problem(403);
    assert_eq!(
        &app.read(&item, owner).await,
        record,
        "a refused write changes nothing ({item})"
    );
    assert_eq!(
        app.read(&base, owner).await["data"]
            .as_array()
            .map(Vec::len),
        before,
        "nothing was created in {base}"
    );
}

async fn viewer_reads_everything_but_writes_nothing(app: &TestApp) {
    let (org, owner) = app.create_org("Viewer").await;
    let fixtures = Fixtures::create(app, &owner).await;
    let viewer = app.api_key(org, Role::Viewer).await;
    for (collection, create, patch) in crm(&fixtures) {
        let base = format!("/api/v1/{collection}");
        assert!(
            !app.read(&base, &viewer).await["data"]
                .as_array()
                .expect("data")
                .is_empty(),
            "{base}"
        );
        let record = app
            .read(
                &format!("{base}/{}", fixtures.id_for(collection).expect("fixture")),
                &owner,
            )
            .await;
        assert_eq!(
            app.read(&format!("{base}/{}", id_of(&record)), &viewer)
                .await,
            record,
            "the viewer reads {collection}"
        );
        refused_writes(app, &viewer, &owner, collection, &create, &patch, &record).await;
    }
    // The org's own resources: members and phones are readable, their writes are not.
    app.read("/api/v1/members", &viewer).await;
    app.read(
        &format!("/api/v1/members/{}", id_of(&fixtures.member)),
        &viewer,
    )
    .await;
    app.read("/api/v1/phones", &viewer).await;
    app.read(
        &format!("/api/v1/phones/{}", id_of(&fixtures.phone)),
        &viewer,
    )
    .await;
    app.read("/api/v1/events", &viewer).await;
    app.read(
        &format!("/api/v1/events/{}", id_of(&fixtures.event)),
        &viewer,
    )
    .await;
    refused_admin_writes(app, &viewer, &owner, &fixtures).await;
    refused_owner_writes(app, &viewer, &owner, &fixtures).await;
    // Keys are secrets' metadata: admins only.
    app.get("/api/v1/api-keys", &viewer).await.problem(403);
    app.get(
        &format!("/api/v1/api-keys/{}", id_of(&fixtures.api_key)),
        &viewer,
    )
    .await
    .problem(403);
}
server_test!(viewer_reads_everything_but_writes_nothing);

/// What a key's owner can change about it: `last_used_at` moves on its own, in the background.
async fn key_states(app: &TestApp, owner: &str) -> Vec<Value> {
    let list = app.read("/api/v1/api-keys", owner).await;
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|k| {
            json!([
                k["id"],
                k["name"],
                k["role"],
                k["revoked_at"],
                k["updated_at"]
            ])
        })
        .collect()
}

/// Writes to api-keys and phones are refused to `key` and change nothing.
async fn refused_admin_writes(app: &TestApp, key: &str, owner: &str, fixtures: &Fixtures) {
    let keys_before = key_states(app, owner).await;
    app.post(
        "/api/v1/api-keys",
        key,
        &json!({ "name": "mine", "role": "viewer" }),
    )
    .await
    .problem(403);
    let key_path = format!("/api/v1/api-keys/{}", id_of(&fixtures.api_key));
    app.patch(&key_path, key, &json!({ "name": "renamed" }))
        .await
        .problem(403);
    app.delete(&key_path, key).await.problem(403);
    assert_eq!(
        key_states(app, owner).await,
        keys_before,
        "no key was created, renamed or revoked"
    );

    let phones_before = app.read("/api/v1/phones", owner).await;
    app.post(
        "/api/v1/phones",
        key,
        &json!({ "number": phone_number(), "provider": "twilio" }),
    )
    .await
    .problem(403);
    let phone_path = format!("/api/v1/phones/{}", id_of(&fixtures.phone));
    app.patch(&phone_path, key, &json!({ "label": "renamed" }))
        .await
        .problem(403);
    app.delete(&phone_path, key).await.problem(403);
    assert_eq!(
        app.read("/api/v1/phones", owner).await,
        phones_before,
        "no phone was added, changed or removed"
    );
}

/// Writes to members are refused to `key` and change nothing.
async fn refused_owner_writes(app: &TestApp, key: &str, owner: &str, fixtures: &Fixtures) {
    let before = app.read("/api/v1/members", owner).await;
    app.post(
        "/api/v1/members",
        key,
        &json!({ "user_id": Uuid::now_v7(), "role": "viewer" }),
    )
    .await
    .problem(403);
    let path = format!("/api/v1/members/{}", id_of(&fixtures.member));
    app.patch(&path, key, &json!({ "role": "owner" }))
        .await
        .problem(403);
    app.delete(&path, key).await.problem(403);
    assert_eq!(
        app.read("/api/v1/members", owner).await,
        before,
        "no member was added, changed or removed"
    );
}

async fn member_writes_crm_but_manages_nothing(app: &TestApp) {
    let (org, owner) = app.create_org("Member").await;
    let fixtures = Fixtures::create(app, &owner).await;
    let member = app.api_key(org, Role::Member).await;
    for (collection, create, patch) in crm(&fixtures) {
        let base = format!("/api/v1/{collection}");
        let made = app.create(&base, &member, create).await;
        let item = format!("{base}/{}", id_of(&made));
        let patched = app.patch(&item, &member, &patch).await.expect(200);
        assert_ne!(patched, made, "the member's patch of {collection} applied");
        app.delete(&item, &member).await.expect(204);
        app.get(&item, &owner).await.problem(404);
    }
    refused_admin_writes(app, &member, &owner, &fixtures).await;
    refused_owner_writes(app, &member, &owner, &fixtures).await;
    app.get("/api/v1/api-keys", &member).await.problem(403);
}
server_test!(member_writes_crm_but_manages_nothing);

async fn admin_manages_keys_and_phones_but_not_members(app: &TestApp) {
    let (org, owner) = app.create_org("Admin").await;
    let fixtures = Fixtures::create(app, &owner).await;
    let admin = app.api_key(org, Role::Admin).await;
    // CRM writes, as every role above viewer.
    let company = app
        .create("/api/v1/companies", &admin, json!({ "name": "Admin Co" }))
        .await;
    app.delete(&format!("/api/v1/companies/{}", id_of(&company)), &admin)
        .await
        .expect(204);

    let key = app
        .create(
            "/api/v1/api-keys",
            &admin,
            json!({ "name": "svc", "role": "admin" }),
        )
        .await;
    app.read("/api/v1/api-keys", &admin).await;
    app.delete(&format!("/api/v1/api-keys/{}", id_of(&key)), &admin)
        .await
        .expect(204);
    app.post(
        "/api/v1/api-keys",
        &admin,
        &json!({ "name": "root", "role": "owner" }),
    )
    .await
    .problem(403);

    // Admins may register numbers: without a Twilio account of the org's own, the refusal is
    // about the number, not the role.
    app.post(
        "/api/v1/phones",
        &admin,
        &json!({ "number": phone_number(), "provider": "twilio" }),
    )
    .await
    .invalid_field("number");
    let phone = app.map_phone(org, &phone_number(), None).await;
    app.patch(
        &format!("/api/v1/phones/{}", id_of(&phone)),
        &admin,
        &json!({ "label": "Front desk" }),
    )
    .await
    .expect(200);
    app.delete(&format!("/api/v1/phones/{}", id_of(&phone)), &admin)
        .await
        .expect(204);

    refused_owner_writes(app, &admin, &owner, &fixtures).await;
}
server_test!(admin_manages_keys_and_phones_but_not_members);

async fn owner_manages_members(app: &TestApp) {
    let (org, owner) = app.create_org("Owner").await;
    let member = app
        .create(
            "/api/v1/members",
            &owner,
            json!({ "user_id": Uuid::now_v7(), "role": "viewer" }),
        )
        .await;
    let path = format!("/api/v1/members/{}", id_of(&member));
    assert_eq!(
        app.patch(&path, &owner, &json!({ "role": "admin" }))
            .await
            .expect(200)["role"],
        json!("admin")
    );
    app.delete(&path, &owner).await.expect(204);
    let other_owner = app.api_key(org, Role::Owner).await;
    app.create(
        "/api/v1/members",
        &other_owner,
        json!({ "user_id": Uuid::now_v7(), "role": "owner" }),
    )
    .await;
}
server_test!(owner_manages_members);

async fn user_roles_come_from_membership(app: &TestApp) {
    let (org, owner) = app.create_org("User roles").await;
    let viewer = app.jwt(app.add_member(&owner, "viewer").await);
    let member = app.jwt(app.add_member(&owner, "member").await);
    let admin = app.jwt(app.add_member(&owner, "admin").await);
    let body = json!({ "name": "By a user" });
    let as_user = |jwt: &str, method: Method, path: &str| app.user_request(method, path, jwt, org);

    app.send(as_user(&viewer, Method::GET, "/api/v1/companies"))
        .await
        .expect(200);
    app.send(as_user(&viewer, Method::POST, "/api/v1/companies").json(&body))
        .await
        .problem(403);
    app.send(as_user(&member, Method::POST, "/api/v1/companies").json(&body))
        .await
        .expect(201);
    app.send(
        as_user(&member, Method::POST, "/api/v1/api-keys")
            .json(&json!({ "name": "k", "role": "viewer" })),
    )
    .await
    .problem(403);
    app.send(
        as_user(&admin, Method::POST, "/api/v1/api-keys")
            .json(&json!({ "name": "k", "role": "viewer" })),
    )
    .await
    .expect(201);
    app.send(
        as_user(&admin, Method::POST, "/api/v1/members")
            .json(&json!({ "user_id": Uuid::now_v7(), "role": "viewer" })),
    )
    .await
    .problem(403);
}
server_test!(user_roles_come_from_membership);
