//! Search over REST (`GET /api/v1/search`): what a type-ahead box gets, validation naming the
//! parameter, and only the caller's org's live records.

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// `(type, id)` of each result, in order.
fn found(answer: &Value) -> Vec<(String, String)> {
    answer["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|h| {
            (
                h["type"].as_str().expect("type").to_owned(),
                h["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect()
}

fn person(record: &Value) -> (String, String) {
    ("person".into(), record["id"].as_str().unwrap().to_owned())
}

async fn search_over_rest(app: &TestApp) {
    let (_, key) = app.create_org("Search").await;
    let (other_org, other_key) = app.create_org("Elsewhere").await;
    let viewer = app
        .api_key(other_org, workos_core::tenant::Role::Viewer)
        .await;
    let john = app
        .create(
            "/api/v1/people",
            &key,
            json!({ "first_name": "John", "last_name": "Smith", "email": "john@acme.io",
                    "phone": "+14155550100" }),
        )
        .await;
    let acme = app
        .create(
            "/api/v1/companies",
            &key,
            json!({ "name": "Acme", "domain": "acme.io" }),
        )
        .await;
    let deal = app
        .create("/api/v1/deals", &key, json!({ "name": "Acme expansion" }))
        .await;
    // Another org's exact match.
    app.create(
        "/api/v1/people",
        &other_key,
        json!({ "first_name": "John", "last_name": "Smith", "phone": "+14155550100" }),
    )
    .await;

    // A row a type-ahead renders, best first.
    let answer = app.read("/api/v1/search?q=jhon%20smith", &key).await;
    assert_eq!(found(&answer), vec![person(&john)]);
    let hit = &answer["data"][0];
    assert_eq!(hit["title"], "John Smith");
    assert_eq!(hit["subtitle"], "john@acme.io");
    assert!(
        hit["score"].as_f64().is_some_and(|s| s > 0.0 && s < 1.0),
        "{hit}"
    );
    let answer = app.read("/api/v1/search?q=%20acme%20", &key).await;
    let kinds: Vec<String> = found(&answer).into_iter().map(|h| h.0).collect();
    assert_eq!(
        kinds,
        ["company", "deal", "person"],
        "name words before email words"
    );
    assert_eq!(answer["data"][0]["id"], acme["id"]);
    assert_eq!(answer["data"][0]["subtitle"], "acme.io");
    assert_eq!(answer["data"][1]["id"], deal["id"]);
    assert_eq!(
        answer["data"][1]["subtitle"], "lead",
        "a deal shows its stage"
    );
    let answer = app
        .read("/api/v1/search?q=acm&types=deal,person&limit=1", &key)
        .await;
    assert_eq!(
        found(&answer),
        vec![("deal".into(), deal["id"].as_str().unwrap().to_owned())]
    );
    let answer = app.read("/api/v1/search?q=(415)%20555-0100", &key).await;
    assert_eq!(
        found(&answer),
        vec![person(&john)],
        "only this org's number"
    );
    // A viewer of the other org sees its own John only.
    let answer = app.read("/api/v1/search?q=john", &viewer).await;
    let ids = found(&answer);
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0], person(&john));

    // Deleted records are gone at once.
    let path = format!("/api/v1/deals/{}", deal["id"].as_str().unwrap());
    assert_eq!(app.delete(&path, &key).await.status, 204);
    let answer = app.read("/api/v1/search?q=expansion", &key).await;
    assert_eq!(found(&answer), Vec::new());

    // Bad input names the parameter.
    for (query, field) in [
        ("", "q"),
        ("?q=", "q"),
        ("?q=%20%20", "q"),
        ("?q=%21%3F", "q"),
        ("?q=a&types=people", "types"),
        ("?q=a&types=", "types"),
        ("?q=a&limit=0", "limit"),
        ("?q=a&limit=51", "limit"),
        ("?q=a&limit=x", "limit"),
        ("?q=a&sort=name", "sort"),
    ] {
        app.get(&format!("/api/v1/search{query}"), &key)
            .await
            .invalid_field(field);
    }
    let long = "a".repeat(201);
    app.get(&format!("/api/v1/search?q={long}"), &key)
        .await
        .invalid_field("q");
    assert_eq!(
        app.get(&format!("/api/v1/search?q={}", "a".repeat(200)), &key)
            .await
            .status,
        200
    );
}
server_test!(search_over_rest);

/// The operation is documented with its parameters' bounds and its result.
async fn search_is_documented(app: &TestApp) {
    let doc = app.read("/api/v1/openapi.json", "").await;
    let op = &doc["paths"]["/api/v1/search"]["get"];
    let params = op["parameters"].as_array().expect("parameters");
    let param = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .expect(name)
            .clone()
    };
    assert_eq!(param("q")["required"], true);
    assert_eq!(param("q")["schema"]["maxLength"], 200);
    assert_eq!(param("limit")["schema"]["maximum"], 50);
    assert!(param("types")["schema"]["pattern"].is_string());
    for status in ["200", "401", "422", "429"] {
        assert!(op["responses"].get(status).is_some(), "{status}: {op}");
    }
    let hit = &doc["components"]["schemas"]["SearchHit"];
    for field in ["type", "id", "title", "subtitle", "score"] {
        assert!(hit["properties"].get(field).is_some(), "{field}: {hit}");
    }
}
server_test!(search_is_documented);
