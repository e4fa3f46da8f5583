//! Bad input of every kind is a 4xx problem document, never a 5xx.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Fixtures, TestApp, ids_in};

/// Every collection that takes a POST, with a valid body for it.
fn creatable() -> Vec<(&'static str, Value)> {
    vec![
        ("/api/v1/companies", json!({ "name": "Valid" })),
        ("/api/v1/people", json!({ "first_name": "Valid" })),
        ("/api/v1/deals", json!({ "name": "Valid" })),
        ("/api/v1/tasks", json!({ "title": "Valid" })),
        (
            "/api/v1/interactions",
            json!({ "kind": "note", "occurred_at": "2024-01-01T00:00:00Z", "summary": "Valid" }),
        ),
        (
            "/api/v1/members",
            json!({ "user_id": uuid::Uuid::now_v7(), "role": "viewer" }),
        ),
        (
            "/api/v1/api-keys",
            json!({ "name": "Valid", "role": "viewer" }),
        ),
        // Phones are registered only after Twilio confirms the number: their bad input is
        // covered in `phones.rs`.
    ]
}

async fn unreadable_bodies_are_refused(app: &TestApp) {
    let (_, key) = app.create_org("Bad bodies").await;
    for (path, valid) in creatable() {
        let before = app.read(path, &key).await;
        let send = |ct: Option<&str>, body: String| {
            let mut rb = app.request(Method::POST, path, &key).body(body);
            if let Some(ct) = ct {
                rb = rb.header("content-type", ct);
            }
            app.send(rb)
        };
        let malformed = send(Some("application/json"), "{oops}".to_owned())
            .await
            .problem(400);
        assert!(
            malformed["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("JSON"),
            "{path}: {malformed}"
        );
        send(Some("application/json"), "not json at all".to_owned())
            .await
            .problem(400);
        let text = valid.to_string();
        send(Some("application/json"), text[..text.len() - 1].to_owned())
            .await
            .problem(400);
        send(Some("application/json"), String::new())
            .await
            .problem(400);
        send(Some("text/plain"), valid.to_string())
            .await
            .problem(415);
        send(
            Some("application/x-www-form-urlencoded"),
            "name=Valid".to_owned(),
        )
        .await
        .problem(415);
        send(None, valid.to_string()).await.problem(415);
        send(Some("application/json"), "{\"x\": [1, 2]}".to_owned())
            .await
            .problem(422);

        let mut unknown = valid.clone();
        unknown["nickname"] = json!("Bob");
        let p = send(Some("application/json"), unknown.to_string())
            .await
            .invalid_field("nickname");
        assert!(
            p.to_string().contains("nickname"),
            "the problem names the unknown field: {p}"
        );

        assert_eq!(
            app.read(path, &key).await,
            before,
            "no bad request created anything in {path}"
        );
        // The valid body itself is fine, with any JSON media type.
        let ok = send(Some("application/json; charset=utf-8"), valid.to_string()).await;
        assert_eq!(ok.status, 201, "POST {path} {valid}: {}", ok.text);
    }
}
server_test!(unreadable_bodies_are_refused);

async fn oversized_bodies_are_refused(app: &TestApp) {
    let (_, key) = app.create_org("Big bodies").await;
    let huge = json!({ "name": "x".repeat(1 << 20) }).to_string();
    assert!(huge.len() > 1 << 20);
    let too_large = app
        .send(
            app.request(Method::POST, "/api/v1/companies", &key)
                .header("content-type", "application/json")
                .body(huge.clone()),
        )
        .await;
    too_large.problem(413);
    let with_key = app
        .send(
            app.request(Method::POST, "/api/v1/companies", &key)
                .header("content-type", "application/json")
                .header("idempotency-key", "big-1")
                .body(huge.clone()),
        )
        .await;
    with_key.problem(413);
    let c = app
        .create("/api/v1/companies", &key, json!({ "name": "Small" }))
        .await;
    let path = format!("/api/v1/companies/{}", c["id"].as_str().expect("id"));
    app.send(
        app.request(Method::PATCH, &path, &key)
            .header("content-type", "application/json")
            .body(huge),
    )
    .await
    .problem(413);
    assert_eq!(ids_in(&app.read("/api/v1/companies", &key).await).len(), 1);
    assert_eq!(app.read(&path, &key).await, c);
    // Just under the limit is read (and then refused as too long a name, a 422).
    let under = json!({ "name": "x".repeat((1 << 20) - 100) }).to_string();
    assert!(under.len() < 1 << 20);
    app.send(
        app.request(Method::POST, "/api/v1/companies", &key)
            .header("content-type", "application/json")
            .body(under),
    )
    .await
    .invalid_field("name");
}
server_test!(oversized_bodies_are_refused);

async fn bad_paths_and_methods(app: &TestApp) {
    let (_, key) = app.create_org("Bad paths").await;
    let fixtures = Fixtures::create(app, &key).await;
    for collection in [
        "companies",
        "people",
        "deals",
        "tasks",
        "interactions",
        "members",
        "api-keys",
        "phones",
        "events",
    ] {
        for bad in ["not-an-id", "123", "00000000-0000-0000-0000-00000000000g"] {
            let path = format!("/api/v1/{collection}/{bad}");
            app.get(&path, &key).await.problem(404);
            if collection != "events" {
                app.patch(&path, &key, &json!({})).await.problem(404);
                app.delete(&path, &key).await.problem(404);
            }
        }
        // Well-formed ids that name nothing.
        let nothing = format!("/api/v1/{collection}/{}", uuid::Uuid::now_v7());
        let p = app.get(&nothing, &key).await.problem(404);
        assert!(
            p["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("not found"),
            "{nothing}: {p}"
        );

        let base = format!("/api/v1/{collection}");
        app.send(app.request(Method::PUT, &base, &key).json(&json!({})))
            .await
            .problem(405);
        let not_allowed = app.delete(&base, &key).await;
        not_allowed.problem(405);
        // RFC 9110 §15.5.6: a 405 must say which methods the resource has.
        let allow = not_allowed
            .header("allow")
            .unwrap_or_default()
            .to_ascii_uppercase();
        assert!(
            allow.contains("GET"),
            "a 405 carries an Allow header listing GET for {base}: {:?}",
            not_allowed.headers
        );
        app.patch(&base, &key, &json!({})).await.problem(405);
        let item = format!("{base}/{}", fixtures.id_for(collection).expect("fixture"));
        app.send(app.request(Method::PUT, &item, &key).json(&json!({})))
            .await
            .problem(405);
        app.post(&item, &key, &json!({})).await.problem(405);
    }
    for unknown in [
        "/api/v1/nothing",
        "/api/v2/companies",
        "/nothing",
        "/api/v1/companies/x/y",
        "/api/v1",
    ] {
        let p = app.get(unknown, &key).await.problem(404);
        assert_eq!(p["detail"], json!("no such route"), "{unknown}: {p}");
        app.get(unknown, "").await.problem(404);
    }
    app.send(app.request(Method::POST, "/healthz", ""))
        .await
        .problem(405);
    // Nothing above changed the fixtures.
    assert_eq!(
        app.read(
            &format!(
                "/api/v1/companies/{}",
                fixtures.company["id"].as_str().expect("id")
            ),
            &key
        )
        .await,
        fixtures.company
    );
}
server_test!(bad_paths_and_methods);

async fn bad_query_parameters(app: &TestApp) {
    let (_, key) = app.create_org("Bad queries").await;
    for collection in [
        "companies",
        "people",
        "deals",
        "tasks",
        "interactions",
        "members",
        "api-keys",
        "phones",
        "events",
    ] {
        let base = format!("/api/v1/{collection}");
        app.get(&format!("{base}?limit=0"), &key)
            .await
            .invalid_field("limit");
        app.get(&format!("{base}?limit=201"), &key)
            .await
            .invalid_field("limit");
        app.get(&format!("{base}?limit=-1"), &key)
            .await
            .invalid_field("limit");
        app.get(&format!("{base}?limit=ten"), &key)
            .await
            .invalid_field("limit");
        app.get(&format!("{base}?cursor=%21%21"), &key)
            .await
            .invalid_field("cursor");
        let unknown = app.get(&format!("{base}?bogus=1"), &key).await.problem(422);
        assert!(
            unknown.to_string().contains("bogus"),
            "the problem names the unknown parameter: {unknown}"
        );
        app.read(&format!("{base}?limit=200"), &key).await;
    }
}
server_test!(bad_query_parameters);

async fn wrong_json_types_are_422_naming_the_field(app: &TestApp) {
    let (_, key) = app.create_org("Wrong types").await;
    let user = uuid::Uuid::now_v7();
    let cases = [
        ("/api/v1/companies", json!({ "name": 5 }), "name"),
        (
            "/api/v1/companies",
            json!({ "name": "X", "domain": ["a.example"] }),
            "domain",
        ),
        (
            "/api/v1/people",
            json!({ "first_name": "X", "additional_emails": "a@b.example" }),
            "additional_emails",
        ),
        ("/api/v1/deals", json!({ "name": "X", "stage": 5 }), "stage"),
        (
            "/api/v1/deals",
            json!({ "name": "X", "amount_minor": "100", "currency": "USD" }),
            "amount_minor",
        ),
        (
            "/api/v1/tasks",
            json!({ "title": "X", "status": 5 }),
            "status",
        ),
        (
            "/api/v1/tasks",
            json!({ "title": "X", "priority": true }),
            "priority",
        ),
        (
            "/api/v1/interactions",
            json!({ "kind": 5, "occurred_at": "2024-01-01T00:00:00Z", "summary": "X" }),
            "kind",
        ),
        (
            "/api/v1/members",
            json!({ "user_id": user, "role": 7 }),
            "role",
        ),
        (
            "/api/v1/api-keys",
            json!({ "name": "X", "role": null }),
            "role",
        ),
        (
            "/api/v1/phones",
            json!({ "number": 14155552671_u64, "provider": "twilio" }),
            "number",
        ),
    ];
    // Every case is tried before failing, so the message lists them all.
    let mut wrong = Vec::new();
    for (path, body, field) in cases {
        let r = app.post(path, &key, &body).await;
        let named = r.status == 422
            && r.json()["errors"]
                .as_array()
                .is_some_and(|es| es.iter().any(|e| e["field"] == field));
        if !named {
            wrong.push(format!("POST {path} {body} -> {} {}", r.status, r.text));
        }
    }
    // A JSON document that is not an object is not a record either.
    for (path, _) in creatable() {
        let before = app.read(path, &key).await;
        for body in [
            json!(["Valid"]),
            json!([]),
            json!("Valid"),
            json!(5),
            json!(null),
        ] {
            let r = app.post(path, &key, &body).await;
            if r.status != 422 {
                wrong.push(format!("POST {path} {body} -> {} {}", r.status, r.text));
            }
        }
        if app.read(path, &key).await != before {
            wrong.push(format!("a non-object body created a record in {path}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "well-formed JSON of the wrong shape must be a 422 naming the field (not a 'malformed JSON' 400, \
         nor a record):\n{}",
        wrong.join("\n")
    );
}

server_test!(wrong_json_types_are_422_naming_the_field);

async fn unreadable_patches_are_refused(app: &TestApp) {
    let (_, key) = app.create_org("Bad patches").await;
    let fixtures = Fixtures::create(app, &key).await;
    for (path, record, patch) in fixtures.items() {
        let Some(patch) = patch else { continue };
        let send = |ct: Option<&str>, body: String| {
            let mut rb = app.request(Method::PATCH, &path, &key).body(body);
            if let Some(ct) = ct {
                rb = rb.header("content-type", ct);
            }
            app.send(rb)
        };
        send(Some("application/json"), "{oops}".to_owned())
            .await
            .problem(400);
        send(Some("text/plain"), patch.to_string())
            .await
            .problem(415);
        send(None, patch.to_string()).await.problem(415);
        let mut unknown = patch.clone();
        unknown["nickname"] = json!("Bob");
        send(Some("application/json"), unknown.to_string())
            .await
            .invalid_field("nickname");
        // Fields that exist but cannot change are unknown to a patch.
        send(
            Some("application/json"),
            json!({ "id": uuid::Uuid::now_v7() }).to_string(),
        )
        .await
        .invalid_field("id");
        send(
            Some("application/json"),
            json!({ "org_id": uuid::Uuid::now_v7() }).to_string(),
        )
        .await
        .invalid_field("org_id");
        assert_eq!(&app.read(&path, &key).await, record, "{path} is unchanged");
    }
}
server_test!(unreadable_patches_are_refused);
