//! `/api/v1/companies`, and the list conventions every collection shares.

use serde_json::json;

use crate::helpers::{TestApp, id_of, ids_in};

async fn companies_crud(app: &TestApp) {
    let (org, key) = app.create_org("Acme Holdings").await;
    let created = app
        .create(
            "/api/v1/companies",
            &key,
            json!({ "name": "Initech", "domain": "IniTech.Example" }),
        )
        .await;
    let id = id_of(&created);
    assert_eq!(created["name"], json!("Initech"));
    assert_eq!(
        created["domain"],
        json!("initech.example"),
        "domains are lower-cased"
    );
    assert_eq!(
        created["org_id"],
        json!(org.to_string()),
        "the record belongs to the caller's org"
    );
    assert!(
        created["created_at"].is_string() && created["updated_at"].is_string(),
        "{created}"
    );

    let path = format!("/api/v1/companies/{id}");
    assert_eq!(
        app.read(&path, &key).await,
        created,
        "GET answers what POST created"
    );
    assert!(ids_in(&app.read("/api/v1/companies", &key).await).contains(&id));

    let patched = app
        .patch(&path, &key, &json!({ "name": "Initech Corp" }))
        .await
        .expect(200);
    assert_eq!(patched["name"], json!("Initech Corp"));
    assert_eq!(
        patched["domain"],
        json!("initech.example"),
        "absent fields are kept"
    );
    let cleared = app
        .patch(&path, &key, &json!({ "domain": null }))
        .await
        .expect(200);
    assert_eq!(cleared["domain"], json!(null), "null clears");
    assert_eq!(cleared["name"], json!("Initech Corp"));
    assert_eq!(app.read(&path, &key).await, cleared, "the change is stored");

    app.delete(&path, &key).await.expect(204);
    let gone = app.get(&path, &key).await.problem(404);
    assert!(
        gone["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("not found"),
        "{gone}"
    );
    app.delete(&path, &key).await.problem(404);
    app.patch(&path, &key, &json!({ "name": "Zombie" }))
        .await
        .problem(404);
    assert!(
        !ids_in(&app.read("/api/v1/companies", &key).await).contains(&id),
        "deleted records are not listed"
    );
}
server_test!(companies_crud);

async fn companies_validation(app: &TestApp) {
    let (_, key) = app.create_org("Validation").await;
    app.post("/api/v1/companies", &key, &json!({ "name": "  " }))
        .await
        .invalid_field("name");
    app.post(
        "/api/v1/companies",
        &key,
        &json!({ "domain": "example.com" }),
    )
    .await
    .invalid_field("name");
    app.post(
        "/api/v1/companies",
        &key,
        &json!({ "name": "X", "domain": "not a domain" }),
    )
    .await
    .invalid_field("domain");
    app.post("/api/v1/companies", &key, &json!({ "name": 42 }))
        .await
        .invalid_field("name");
    app.post(
        "/api/v1/companies",
        &key,
        &json!({ "name": "x".repeat(201) }),
    )
    .await
    .invalid_field("name");
    let c = app
        .create("/api/v1/companies", &key, json!({ "name": "Valid" }))
        .await;
    app.patch(
        &format!("/api/v1/companies/{}", id_of(&c)),
        &key,
        &json!({ "name": "" }),
    )
    .await
    .invalid_field("name");
    assert_eq!(
        ids_in(&app.read("/api/v1/companies", &key).await),
        vec![id_of(&c)],
        "nothing invalid was stored"
    );
}
server_test!(companies_validation);

async fn companies_list_filters(app: &TestApp) {
    let (_, key) = app.create_org("Filters").await;
    let globex = app
        .create(
            "/api/v1/companies",
            &key,
            json!({ "name": "Globex Corporation", "domain": "globex.example" }),
        )
        .await;
    let hooli = app
        .create(
            "/api/v1/companies",
            &key,
            json!({ "name": "Hooli", "domain": "hooli.example" }),
        )
        .await;
    let list = |q: &str| format!("/api/v1/companies?{q}");

    assert_eq!(
        ids_in(&app.read(&list("name=globex"), &key).await),
        vec![id_of(&globex)],
        "name: contains, any case"
    );
    assert_eq!(
        ids_in(&app.read(&list("domain=hooli.example"), &key).await),
        vec![id_of(&hooli)]
    );
    assert_eq!(
        ids_in(&app.read(&list("name="), &key).await).len(),
        2,
        "an empty filter is no filter"
    );
    let created_at = hooli["created_at"].as_str().expect("created_at");
    let after = ids_in(
        &app.read(
            &list(&format!("created_after={}", urlencode(created_at))),
            &key,
        )
        .await,
    );
    assert_eq!(after, vec![id_of(&hooli)], "created_after is inclusive");
    let before = ids_in(
        &app.read(
            &list(&format!("created_before={}", urlencode(created_at))),
            &key,
        )
        .await,
    );
    assert_eq!(before, vec![id_of(&globex)], "created_before is exclusive");
    app.get(&list("created_after=yesterday"), &key)
        .await
        .invalid_field("created_after");
}
server_test!(companies_list_filters);

/// Percent-encodes the characters of an RFC 3339 time that a query string would mangle.
pub(crate) fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn lists_paginate_with_limit_and_cursor(app: &TestApp) {
    let (_, key) = app.create_org("Pages").await;
    let mut expected = Vec::new();
    for n in 0..5 {
        expected.push(id_of(
            &app.create(
                "/api/v1/companies",
                &key,
                json!({ "name": format!("Company {n}") }),
            )
            .await,
        ));
    }
    let first = app.read("/api/v1/companies", &key).await;
    assert_eq!(
        ids_in(&first),
        expected,
        "default page holds all five, in creation order"
    );
    assert_eq!(first["next_cursor"], json!(null), "no next page");

    let mut seen = Vec::new();
    let mut path = "/api/v1/companies?limit=2".to_owned();
    for _ in 0..10 {
        let page = app.read(&path, &key).await;
        let ids = ids_in(&page);
        assert!(ids.len() <= 2, "a page holds at most its limit: {page}");
        seen.extend(ids);
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/companies?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen, expected,
        "following next_cursor visits every record once, in order"
    );

    app.get("/api/v1/companies?limit=0", &key)
        .await
        .invalid_field("limit");
    app.get("/api/v1/companies?limit=201", &key)
        .await
        .invalid_field("limit");
    app.get("/api/v1/companies?limit=many", &key)
        .await
        .invalid_field("limit");
    app.read("/api/v1/companies?limit=200", &key).await;
    app.read("/api/v1/companies?limit=1", &key).await;
    app.get("/api/v1/companies?cursor=not-a-cursor!", &key)
        .await
        .invalid_field("cursor");
}
server_test!(lists_paginate_with_limit_and_cursor);

async fn every_list_pages_the_same_way(app: &TestApp) {
    let (_, key) = app.create_org("Every list").await;
    for _ in 0..3 {
        crate::helpers::Fixtures::create(app, &key).await;
    }
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
        let all = app
            .read(&format!("/api/v1/{collection}?limit=200"), &key)
            .await;
        assert_eq!(
            all["next_cursor"],
            json!(null),
            "{collection}: one page holds all"
        );
        let expected = ids_in(&all);
        assert!(expected.len() >= 3, "{collection}: {all}");
        let mut seen = Vec::new();
        let mut path = format!("/api/v1/{collection}?limit=2");
        for _ in 0..100 {
            let page = app.read(&path, &key).await;
            let ids = ids_in(&page);
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    assert_eq!(ids.len(), 2, "{collection}: a page with a next one is full");
                    path = format!("/api/v1/{collection}?limit=2&cursor={cursor}");
                }
                None => {
                    seen.extend(ids);
                    break;
                }
            }
            seen.extend(ids);
        }
        assert_eq!(
            seen, expected,
            "{collection}: the pages make up the list, in order"
        );
        let default = app.read(&format!("/api/v1/{collection}"), &key).await;
        assert_eq!(
            ids_in(&default),
            expected[..expected.len().min(50)],
            "{collection}: the default page is the first 50"
        );
    }
}
server_test!(every_list_pages_the_same_way);
