//! `/api/v1/phones`.

use serde_json::json;
use workos_core::tenant::Role;

use crate::helpers::{TestApp, id_of, ids_in, phone_number};

async fn phones_crud(app: &TestApp) {
    let (org, owner) = app.create_org("Phones").await;
    let admin = app.api_key(org, Role::Admin).await;
    let viewer = app.api_key(org, Role::Viewer).await;
    let created = app
        .create(
            "/api/v1/phones",
            &admin,
            json!({ "number": "+1 (415) 555-2671", "provider": "twilio", "label": "Support",
                    "capabilities": { "sms": true, "mms": false, "voice": true } }),
        )
        .await;
    let id = id_of(&created);
    assert_eq!(created["org_id"], json!(org.to_string()));
    assert_eq!(
        created["number"],
        json!("+14155552671"),
        "numbers are normalised to E.164"
    );
    assert_eq!(created["provider"], json!("twilio"));
    assert_eq!(created["label"], json!("Support"));
    assert_eq!(
        created["capabilities"],
        json!({ "sms": true, "mms": false, "voice": true })
    );

    let path = format!("/api/v1/phones/{id}");
    assert_eq!(
        app.read(&path, &viewer).await,
        created,
        "anyone in the org reads numbers"
    );
    assert!(ids_in(&app.read("/api/v1/phones", &viewer).await).contains(&id));

    let minimal = app
        .create(
            "/api/v1/phones",
            &owner,
            json!({ "number": phone_number(), "provider": "twilio" }),
        )
        .await;
    assert_eq!(minimal["label"], json!(null));
    assert_eq!(
        minimal["capabilities"],
        json!({ "sms": false, "mms": false, "voice": false }),
        "capabilities default to none"
    );

    let patched = app
        .patch(
            &path,
            &admin,
            &json!({ "label": null, "capabilities": { "sms": true } }),
        )
        .await
        .expect(200);
    assert_eq!(patched["label"], json!(null), "null clears the label");
    assert_eq!(
        patched["capabilities"],
        json!({ "sms": true, "mms": false, "voice": false })
    );
    assert_eq!(patched["number"], json!("+14155552671"));
    app.patch(&path, &admin, &json!({ "number": "+14155552672" }))
        .await
        .invalid_field("number");
    assert_eq!(app.read(&path, &admin).await, patched);

    app.delete(&path, &admin).await.expect(204);
    app.get(&path, &admin).await.problem(404);
    app.delete(&path, &admin).await.problem(404);
    assert_eq!(
        ids_in(&app.read("/api/v1/phones", &admin).await),
        vec![id_of(&minimal)]
    );
    // A removed number can be mapped again.
    app.create(
        "/api/v1/phones",
        &admin,
        json!({ "number": "+14155552671", "provider": "twilio" }),
    )
    .await;
}
server_test!(phones_crud);

async fn phones_rules(app: &TestApp) {
    let (_, owner) = app.create_org("Phone rules").await;
    let (_, other_owner) = app.create_org("Other org").await;
    app.post(
        "/api/v1/phones",
        &owner,
        &json!({ "number": "4155552671", "provider": "twilio" }),
    )
    .await
    .invalid_field("number");
    app.post(
        "/api/v1/phones",
        &owner,
        &json!({ "number": phone_number(), "provider": "nexmo" }),
    )
    .await
    .invalid_field("provider");
    app.post("/api/v1/phones", &owner, &json!({ "provider": "twilio" }))
        .await
        .invalid_field("number");
    app.post(
        "/api/v1/phones",
        &owner,
        &json!({ "number": phone_number(), "provider": "twilio", "capabilities": { "fax": true } }),
    )
    .await
    .invalid_field("capabilities.fax");
    let number = phone_number();
    app.create(
        "/api/v1/phones",
        &owner,
        json!({ "number": number, "provider": "twilio" }),
    )
    .await;
    app.post(
        "/api/v1/phones",
        &owner,
        &json!({ "number": number, "provider": "twilio" }),
    )
    .await
    .problem(409);
    let taken = app
        .post(
            "/api/v1/phones",
            &other_owner,
            &json!({ "number": number, "provider": "twilio" }),
        )
        .await;
    taken.problem(409);
    assert!(
        ids_in(&app.read("/api/v1/phones", &other_owner).await).is_empty(),
        "a number belongs to one org at most"
    );
}
server_test!(phones_rules);
