//! `/api/v1/people`.

use serde_json::json;

use crate::companies::urlencode;
use crate::helpers::{TestApp, id_of, ids_in};

async fn people_crud(app: &TestApp) {
    let (org, key) = app.create_org("People").await;
    let company = app
        .create(
            "/api/v1/companies",
            &key,
            json!({ "name": "Analytical Engines" }),
        )
        .await;
    let created = app
        .create(
            "/api/v1/people",
            &key,
            json!({
                "first_name": "Ada", "last_name": "Lovelace",
                "email": "Ada@Example.COM", "additional_emails": ["ada@engines.example"],
                "phone": "+1 (415) 555-2671", "additional_phones": ["+44 20 7946 0958"],
                "title": "Analyst", "company_id": company["id"],
            }),
        )
        .await;
    let id = id_of(&created);
    assert_eq!(created["org_id"], json!(org.to_string()));
    assert_eq!(created["first_name"], json!("Ada"));
    assert_eq!(created["last_name"], json!("Lovelace"));
    assert_eq!(
        created["email"],
        json!("ada@example.com"),
        "emails are normalised"
    );
    assert_eq!(created["additional_emails"], json!(["ada@engines.example"]));
    assert_eq!(
        created["phone"],
        json!("+14155552671"),
        "phones are normalised to E.164"
    );
    assert_eq!(created["additional_phones"], json!(["+442079460958"]));
    assert_eq!(created["title"], json!("Analyst"));
    assert_eq!(created["company_id"], company["id"]);

    let path = format!("/api/v1/people/{id}");
    assert_eq!(app.read(&path, &key).await, created);
    assert!(ids_in(&app.read("/api/v1/people", &key).await).contains(&id));

    let patched = app
        .patch(
            &path,
            &key,
            &json!({ "title": "Countess", "additional_emails": [], "company_id": null }),
        )
        .await
        .expect(200);
    assert_eq!(patched["title"], json!("Countess"));
    assert_eq!(patched["additional_emails"], json!([]), "lists replace");
    assert_eq!(patched["company_id"], json!(null), "null clears");
    assert_eq!(
        patched["email"],
        json!("ada@example.com"),
        "absent fields are kept"
    );
    assert_eq!(app.read(&path, &key).await, patched);

    app.delete(&path, &key).await.expect(204);
    app.get(&path, &key).await.problem(404);
    app.delete(&path, &key).await.problem(404);
    assert!(!ids_in(&app.read("/api/v1/people", &key).await).contains(&id));
    // A deleted person's addresses are free again.
    app.create(
        "/api/v1/people",
        &key,
        json!({ "email": "ada@example.com" }),
    )
    .await;
}
server_test!(people_crud);

async fn people_validation_and_conflicts(app: &TestApp) {
    let (_, key) = app.create_org("People rules").await;
    app.post("/api/v1/people", &key, &json!({ "email": "not an email" }))
        .await
        .invalid_field("email");
    app.post("/api/v1/people", &key, &json!({ "phone": "4155552671" }))
        .await
        .invalid_field("phone");
    app.post(
        "/api/v1/people",
        &key,
        &json!({ "first_name": "A", "additional_emails": ["a@b.example", "nope"] }),
    )
    .await
    .invalid_field("additional_emails[1]");
    app.post("/api/v1/people", &key, &json!({ "title": "Nameless" }))
        .await
        .problem(422);
    app.post(
        "/api/v1/people",
        &key,
        &json!({ "first_name": "x".repeat(101) }),
    )
    .await
    .invalid_field("first_name");

    app.create(
        "/api/v1/people",
        &key,
        json!({ "first_name": "Grace", "email": "grace@example.com" }),
    )
    .await;
    let p = app
        .post(
            "/api/v1/people",
            &key,
            &json!({ "first_name": "Imposter", "email": "GRACE@example.com" }),
        )
        .await;
    let conflict = p.problem(409);
    assert!(
        conflict["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("email"),
        "the conflict names the field: {conflict}"
    );
    app.post(
        "/api/v1/people",
        &key,
        &json!({ "first_name": "Other", "additional_emails": ["grace@example.com"] }),
    )
    .await
    .problem(409);

    let missing = app
        .post(
            "/api/v1/people",
            &key,
            &json!({ "first_name": "Lost", "company_id": uuid::Uuid::now_v7() }),
        )
        .await;
    assert!(
        [404, 422].contains(&missing.status),
        "a reference to a company that does not exist is refused: {} {}",
        missing.status,
        missing.text
    );
    assert_eq!(
        ids_in(&app.read("/api/v1/people", &key).await).len(),
        1,
        "only Grace was stored"
    );
}
server_test!(people_validation_and_conflicts);

async fn people_list_filters(app: &TestApp) {
    let (_, key) = app.create_org("People filters").await;
    let acme = app
        .create("/api/v1/companies", &key, json!({ "name": "Acme" }))
        .await;
    let ada = app
        .create(
            "/api/v1/people",
            &key,
            json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                    "additional_emails": ["countess@example.com"], "phone": "+14155552671",
                    "company_id": acme["id"] }),
        )
        .await;
    let alan = app
        .create(
            "/api/v1/people",
            &key,
            json!({ "first_name": "Alan", "last_name": "Turing", "email": "alan@example.com",
                    "additional_phones": ["+14155552672"] }),
        )
        .await;
    let (ada_id, alan_id) = (id_of(&ada), id_of(&alan));
    let list = |q: &str| format!("/api/v1/people?{q}");

    assert_eq!(
        ids_in(&app.read(&list("email=ADA%40example.com"), &key).await),
        vec![ada_id.clone()]
    );
    assert_eq!(
        ids_in(&app.read(&list("email=countess%40example.com"), &key).await),
        vec![ada_id.clone()],
        "additional emails match"
    );
    assert_eq!(
        ids_in(&app.read(&list("phone=%2B14155552671"), &key).await),
        vec![ada_id.clone()]
    );
    assert_eq!(
        ids_in(&app.read(&list("phone=%2B14155552672"), &key).await),
        vec![alan_id.clone()],
        "additional phones match"
    );
    assert_eq!(
        ids_in(&app.read(&list("name=turing"), &key).await),
        vec![alan_id.clone()],
        "last name, any case"
    );
    assert_eq!(
        ids_in(&app.read(&list("name=AL"), &key).await),
        vec![alan_id.clone()],
        "first names contain"
    );
    assert_eq!(
        ids_in(
            &app.read(&list(&format!("company_id={}", id_of(&acme))), &key)
                .await
        ),
        vec![ada_id.clone()]
    );
    let t = alan["created_at"].as_str().expect("created_at");
    assert_eq!(
        ids_in(
            &app.read(&list(&format!("created_after={}", urlencode(t))), &key)
                .await
        ),
        vec![alan_id.clone()]
    );
    assert_eq!(
        ids_in(
            &app.read(&list(&format!("created_before={}", urlencode(t))), &key)
                .await
        ),
        vec![ada_id.clone()]
    );
    assert!(ids_in(&app.read(&list("email=nobody%40example.com"), &key).await).is_empty());

    app.get(&list("email=not-an-email"), &key)
        .await
        .invalid_field("email");
    app.get(&list("phone=12"), &key)
        .await
        .invalid_field("phone");
    app.get(&list("company_id=nope"), &key)
        .await
        .invalid_field("company_id");
    app.get(&list("limit=0"), &key).await.invalid_field("limit");
}
server_test!(people_list_filters);
