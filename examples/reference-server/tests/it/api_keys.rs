//! `/api/v1/api-keys`.

use serde_json::{Value, json};
use workos_core::tenant::Role;

use crate::helpers::{TestApp, id_of, ids_in};

/// No field of a stored key's view holds its secret or hash.
#[track_caller]
fn assert_no_secret(view: &Value, secret: &str) {
    let text = view.to_string();
    assert!(
        !text.contains(secret),
        "the secret must never be shown again: {text}"
    );
    // What follows the shown prefix (the random part may itself hold `_`, so no split on it).
    let prefix = view["prefix"].as_str().unwrap_or_default();
    let secret_part = secret.strip_prefix(prefix).unwrap_or(secret);
    assert!(
        !text.contains(secret_part),
        "no part of the secret is shown: {text}"
    );
    for key in ["api_key", "hash", "secret", "key_hash"] {
        assert!(
            view.get(key).is_none(),
            "a key's view has no {key:?}: {view}"
        );
    }
}

async fn api_keys_create_list_revoke(app: &TestApp) {
    let (org, owner) = app.create_org("Keys").await;
    let admin = app.api_key(org, Role::Admin).await;
    let created = app
        .create(
            "/api/v1/api-keys",
            &admin,
            json!({ "name": "CI", "role": "member" }),
        )
        .await;
    let id = id_of(&created);
    let secret = created["api_key"]
        .as_str()
        .expect("the secret is shown at creation")
        .to_owned();
    assert!(secret.starts_with("wos_"), "{secret}");
    assert_eq!(created["name"], json!("CI"));
    assert_eq!(created["role"], json!("member"));
    assert_eq!(created["org_id"], json!(org.to_string()));
    assert!(
        secret.starts_with(created["prefix"].as_str().expect("prefix")),
        "the prefix is the key's start"
    );
    assert!(
        created.get("hash").is_none(),
        "the hash is never shown: {created}"
    );

    // The new key works, with its own role.
    app.read("/api/v1/companies", &secret).await;
    app.create("/api/v1/companies", &secret, json!({ "name": "By CI" }))
        .await;
    app.post(
        "/api/v1/api-keys",
        &secret,
        &json!({ "name": "escalate", "role": "viewer" }),
    )
    .await
    .problem(403);

    let path = format!("/api/v1/api-keys/{id}");
    let one = app.read(&path, &admin).await;
    assert_no_secret(&one, &secret);
    assert_eq!(one["id"], json!(id));
    assert_eq!(one["revoked_at"], json!(null));
    let list = app.read("/api/v1/api-keys", &owner).await;
    assert!(ids_in(&list).contains(&id));
    for key in list["data"].as_array().expect("data") {
        assert_no_secret(key, &secret);
    }

    let renamed = app
        .patch(&path, &admin, &json!({ "name": "CI (renamed)" }))
        .await
        .expect(200);
    assert_eq!(renamed["name"], json!("CI (renamed)"));
    assert_eq!(
        renamed["role"],
        json!("member"),
        "a key's role never changes"
    );
    assert_no_secret(&renamed, &secret);
    app.patch(&path, &admin, &json!({ "role": "owner" }))
        .await
        .invalid_field("role");
    app.read("/api/v1/companies", &secret).await;

    app.delete(&path, &admin).await.expect(204);
    app.get("/api/v1/companies", &secret).await.problem(401);
    let revoked = app.read(&path, &admin).await;
    assert!(
        revoked["revoked_at"].is_string(),
        "a revoked key shows when: {revoked}"
    );
    assert!(
        ids_in(&app.read("/api/v1/api-keys", &admin).await).contains(&id),
        "revoked keys are still listed"
    );
    app.read("/api/v1/companies", &admin).await;
}
server_test!(api_keys_create_list_revoke);

async fn api_keys_rules(app: &TestApp) {
    let (org, owner) = app.create_org("Key rules").await;
    let admin = app.api_key(org, Role::Admin).await;
    app.post(
        "/api/v1/api-keys",
        &admin,
        &json!({ "name": "root", "role": "owner" }),
    )
    .await
    .problem(403);
    app.post(
        "/api/v1/api-keys",
        &admin,
        &json!({ "name": "x", "role": "superuser" }),
    )
    .await
    .invalid_field("role");
    app.post(
        "/api/v1/api-keys",
        &admin,
        &json!({ "name": "", "role": "viewer" }),
    )
    .await
    .invalid_field("name");
    app.post("/api/v1/api-keys", &admin, &json!({ "role": "viewer" }))
        .await
        .invalid_field("name");
    let owner_made = app
        .create(
            "/api/v1/api-keys",
            &owner,
            json!({ "name": "root", "role": "owner" }),
        )
        .await;
    let other_owner = owner_made["api_key"].as_str().expect("secret");
    app.read("/api/v1/members", other_owner).await;
    // Two keys never share a secret.
    let again = app
        .create(
            "/api/v1/api-keys",
            &owner,
            json!({ "name": "root", "role": "owner" }),
        )
        .await;
    assert_ne!(again["api_key"], owner_made["api_key"]);
    assert_ne!(again["prefix"], owner_made["prefix"]);
}
server_test!(api_keys_rules);

/// An admin cannot revoke an owner's key (403 problem, the key keeps working); the owner can.
async fn an_admin_cannot_revoke_an_owner_key(app: &TestApp) {
    let (org, owner) = app.create_org("Owner keys").await;
    let admin = app.api_key(org, Role::Admin).await;
    let owners = app
        .create(
            "/api/v1/api-keys",
            &owner,
            json!({ "name": "Owner automation", "role": "owner" }),
        )
        .await;
    let owners_secret = owners["api_key"].as_str().expect("secret").to_owned();
    let path = format!("/api/v1/api-keys/{}", id_of(&owners));

    let refused = app.delete(&path, &admin).await;
    let p = refused.problem(403);
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("owner")),
        "the problem says which role it needs: {p}"
    );
    assert_eq!(app.read(&path, &owner).await["revoked_at"], Value::Null);
    app.read("/api/v1/companies", &owners_secret).await;

    app.delete(&path, &owner).await.expect(204);
    app.get("/api/v1/companies", &owners_secret)
        .await
        .problem(401);
}
server_test!(an_admin_cannot_revoke_an_owner_key);

/// An org holds at most `MAX_API_KEYS_PER_ORG` (100) live keys: the owner's key and 99 more.
async fn api_keys_per_org_are_capped(app: &TestApp) {
    let (_, owner) = app.create_org("Many keys").await;
    let cap = workos_core::domain::MAX_API_KEYS_PER_ORG;
    let mut last = String::new();
    for i in 1..cap {
        let key = app
            .create(
                "/api/v1/api-keys",
                &owner,
                json!({ "name": format!("k{i}"), "role": "viewer" }),
            )
            .await;
        last = id_of(&key);
    }
    let refused = app
        .post(
            "/api/v1/api-keys",
            &owner,
            &json!({ "name": "one too many", "role": "viewer" }),
        )
        .await;
    let problem = refused.problem(409);
    assert!(
        problem.to_string().contains("api_keys") && problem.to_string().contains("100"),
        "the problem names the field and the limit: {problem}"
    );
    // A revoked key frees its place.
    let revoked = app
        .delete(&format!("/api/v1/api-keys/{last}"), &owner)
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    app.create(
        "/api/v1/api-keys",
        &owner,
        json!({ "name": "replacement", "role": "viewer" }),
    )
    .await;
}
server_test!(api_keys_per_org_are_capped);
