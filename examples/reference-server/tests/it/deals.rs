//! `/api/v1/deals`.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, id_of, ids_in};

async fn deals_crud(app: &TestApp) {
    let (org, key) = app.create_org("Deals").await;
    let company = app
        .create("/api/v1/companies", &key, json!({ "name": "Buyer" }))
        .await;
    let person = app
        .create("/api/v1/people", &key, json!({ "first_name": "Bea" }))
        .await;
    let owner = Uuid::now_v7();
    let created = app
        .create(
            "/api/v1/deals",
            &key,
            json!({ "name": "Renewal", "amount_minor": 250_000, "currency": "EUR", "stage": "proposal",
                    "company_id": company["id"], "person_id": person["id"], "owner_id": owner }),
        )
        .await;
    let id = id_of(&created);
    assert_eq!(created["org_id"], json!(org.to_string()));
    assert_eq!(created["name"], json!("Renewal"));
    assert_eq!(created["amount_minor"], json!(250_000));
    assert_eq!(created["currency"], json!("EUR"));
    assert_eq!(created["stage"], json!("proposal"));
    assert_eq!(created["company_id"], company["id"]);
    assert_eq!(created["person_id"], person["id"]);
    assert_eq!(created["owner_id"], json!(owner.to_string()));

    let path = format!("/api/v1/deals/{id}");
    assert_eq!(app.read(&path, &key).await, created);
    assert!(ids_in(&app.read("/api/v1/deals", &key).await).contains(&id));

    let patched = app
        .patch(
            &path,
            &key,
            &json!({ "stage": "won", "amount_minor": 300_000, "currency": "USD" }),
        )
        .await
        .expect(200);
    assert_eq!(patched["stage"], json!("won"));
    assert_eq!(patched["amount_minor"], json!(300_000));
    assert_eq!(patched["currency"], json!("USD"));
    assert_eq!(patched["name"], json!("Renewal"), "absent fields are kept");
    let cleared = app
        .patch(
            &path,
            &key,
            &json!({ "amount_minor": null, "currency": null, "owner_id": null }),
        )
        .await
        .expect(200);
    assert_eq!(cleared["amount_minor"], json!(null));
    assert_eq!(cleared["currency"], json!(null));
    assert_eq!(cleared["owner_id"], json!(null));
    assert_eq!(app.read(&path, &key).await, cleared);

    let minimal = app
        .create("/api/v1/deals", &key, json!({ "name": "Small" }))
        .await;
    assert_eq!(
        minimal["stage"],
        json!("lead"),
        "the stage defaults to lead"
    );
    assert_eq!(minimal["amount_minor"], json!(null));

    app.delete(&path, &key).await.expect(204);
    app.get(&path, &key).await.problem(404);
    app.delete(&path, &key).await.problem(404);
    assert_eq!(
        ids_in(&app.read("/api/v1/deals", &key).await),
        vec![id_of(&minimal)]
    );
}
server_test!(deals_crud);

async fn deals_validation(app: &TestApp) {
    let (_, key) = app.create_org("Deal rules").await;
    let key = key.as_str();
    let post = |body| async move { app.post("/api/v1/deals", key, &body).await };
    post(json!({ "name": "A", "amount_minor": 100 }))
        .await
        .invalid_field("currency");
    post(json!({ "name": "A", "currency": "USD" }))
        .await
        .invalid_field("amount_minor");
    post(json!({ "name": "A", "amount_minor": 100, "currency": "XYZ" }))
        .await
        .invalid_field("currency");
    post(json!({ "name": "A", "amount_minor": -1, "currency": "USD" }))
        .await
        .invalid_field("amount_minor");
    post(json!({ "name": "A", "stage": "closed" }))
        .await
        .invalid_field("stage");
    post(json!({ "name": "" })).await.invalid_field("name");
    post(json!({ "name": "A", "owner_id": "not-a-uuid" }))
        .await
        .invalid_field("owner_id");
    let deal = app
        .create("/api/v1/deals", key, json!({ "name": "Valid" }))
        .await;
    let path = format!("/api/v1/deals/{}", id_of(&deal));
    app.patch(&path, key, &json!({ "amount_minor": 5 }))
        .await
        .invalid_field("currency");
    app.patch(&path, key, &json!({ "currency": "USD" }))
        .await
        .invalid_field("amount_minor");
    app.patch(&path, key, &json!({ "stage": "done" }))
        .await
        .invalid_field("stage");
    assert_eq!(
        app.read(&path, key).await,
        deal,
        "a refused patch changes nothing"
    );
    assert_eq!(ids_in(&app.read("/api/v1/deals", key).await).len(), 1);
}
server_test!(deals_validation);

async fn deals_list_filters(app: &TestApp) {
    let (_, key) = app.create_org("Deal filters").await;
    let company = app
        .create("/api/v1/companies", &key, json!({ "name": "Co" }))
        .await;
    let person = app
        .create("/api/v1/people", &key, json!({ "first_name": "Pat" }))
        .await;
    let owner = Uuid::now_v7();
    let a = app
        .create(
            "/api/v1/deals",
            &key,
            json!({ "name": "A", "stage": "won", "owner_id": owner }),
        )
        .await;
    let b = app
        .create(
            "/api/v1/deals",
            &key,
            json!({ "name": "B", "company_id": company["id"] }),
        )
        .await;
    let c = app
        .create(
            "/api/v1/deals",
            &key,
            json!({ "name": "C", "person_id": person["id"], "stage": "won" }),
        )
        .await;
    let list = |q: String| {
        let key = key.as_str();
        async move { ids_in(&app.read(&format!("/api/v1/deals?{q}"), key).await) }
    };
    assert_eq!(list("stage=won".into()).await, vec![id_of(&a), id_of(&c)]);
    assert_eq!(list("stage=lead".into()).await, vec![id_of(&b)]);
    assert_eq!(list(format!("owner_id={owner}")).await, vec![id_of(&a)]);
    assert_eq!(
        list(format!("company_id={}", id_of(&company))).await,
        vec![id_of(&b)]
    );
    assert_eq!(
        list(format!("person_id={}", id_of(&person))).await,
        vec![id_of(&c)]
    );
    assert_eq!(
        list(format!("stage=won&person_id={}", id_of(&person))).await,
        vec![id_of(&c)],
        "filters combine"
    );
    assert!(list("stage=lost".into()).await.is_empty());
    app.get("/api/v1/deals?stage=closed", &key)
        .await
        .invalid_field("stage");
    app.get("/api/v1/deals?owner_id=x", &key)
        .await
        .invalid_field("owner_id");
}
server_test!(deals_list_filters);
