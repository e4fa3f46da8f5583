//! Cross-tenant isolation: no id of one org reaches anything in another.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Fixtures, TestApp, id_of, ids_in, openapi_methods};

async fn other_orgs_records_are_not_found(app: &TestApp) {
    let (_, owner_a) = app.create_org("Org A").await;
    let (_, owner_b) = app.create_org("Org B").await;
    let a = Fixtures::create(app, &owner_a).await;
    // B has records of its own, so an empty answer cannot pass for isolation.
    let b = Fixtures::create(app, &owner_b).await;
    let doc = app.read("/api/v1/openapi.json", "").await;

    let mut tried = 0;
    for (path, record, patch) in a.items() {
        let before = app.read(&path, &owner_a).await;
        assert_eq!(&before, record, "A reads its own {path}");
        let template = format!("{}/{{id}}", path.rsplit_once('/').expect("an item path").0);
        let methods = openapi_methods(&doc, &template);
        assert!(
            methods.contains(&"get".to_owned()),
            "{template} is documented"
        );

        let p = app.get(&path, &owner_b).await.problem(404);
        assert!(
            p["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("not found"),
            "{path}: {p}"
        );
        if methods.contains(&"patch".to_owned()) {
            let patch = patch.clone().unwrap_or_else(|| json!({}));
            app.patch(&path, &owner_b, &patch).await.problem(404);
            tried += 1;
        }
        if methods.contains(&"delete".to_owned()) {
            app.delete(&path, &owner_b).await.problem(404);
            tried += 1;
        }
        tried += 1;
        assert_eq!(
            app.read(&path, &owner_a).await,
            before,
            "A's {path} is unchanged after B's attempts"
        );
    }
    assert!(
        tried >= 25,
        "GET on every resource and PATCH/DELETE wherever routed ({tried})"
    );

    // Lists never mix orgs.
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
        let list_b = ids_in(
            &app.read(&format!("/api/v1/{collection}?limit=200"), &owner_b)
                .await,
        );
        let a_id = a.id_for(collection).expect("fixture");
        assert!(
            !list_b.contains(&a_id),
            "B's {collection} list shows A's record"
        );
        assert!(
            list_b.contains(&b.id_for(collection).expect("fixture")),
            "B's {collection} list shows B's record"
        );
        for item in app
            .read(&format!("/api/v1/{collection}?limit=200"), &owner_b)
            .await["data"]
            .as_array()
            .expect("data")
        {
            assert_eq!(
                item["org_id"], b.company["org_id"],
                "every listed {collection} record is B's"
            );
        }
    }
    // An API key acts in its own org whatever X-Org-Id says.
    let org_a = a.company["org_id"].as_str().expect("org_id");
    let with_header = app
        .send(
            app.request(Method::GET, "/api/v1/companies", &owner_b)
                .header("x-org-id", org_a),
        )
        .await
        .expect(200);
    assert_eq!(
        ids_in(&with_header),
        vec![id_of(&b.company)],
        "X-Org-Id does not move an API key: {with_header}"
    );
    let events_b = app
        .read(
            &format!("/api/v1/events?subject_id={}", id_of(&a.company)),
            &owner_b,
        )
        .await;
    assert!(
        ids_in(&events_b).is_empty(),
        "B cannot filter its way to A's events: {events_b}"
    );
}
server_test!(other_orgs_records_are_not_found);

async fn other_orgs_records_cannot_be_referenced(app: &TestApp) {
    let (_, owner_a) = app.create_org("Org A").await;
    let (_, owner_b) = app.create_org("Org B").await;
    let a = Fixtures::create(app, &owner_a).await;
    app.create("/api/v1/companies", &owner_b, json!({ "name": "B Co" }))
        .await;
    let b_deal = app
        .create("/api/v1/deals", &owner_b, json!({ "name": "B deal" }))
        .await;

    let attempts: Vec<(&str, Value)> = vec![
        (
            "/api/v1/people",
            json!({ "first_name": "X", "company_id": a.company["id"] }),
        ),
        (
            "/api/v1/deals",
            json!({ "name": "X", "company_id": a.company["id"] }),
        ),
        (
            "/api/v1/deals",
            json!({ "name": "X", "person_id": a.person["id"] }),
        ),
        (
            "/api/v1/tasks",
            json!({ "title": "X", "deal_id": a.deal["id"] }),
        ),
        (
            "/api/v1/tasks",
            json!({ "title": "X", "person_id": a.person["id"] }),
        ),
        (
            "/api/v1/interactions",
            json!({ "kind": "note", "occurred_at": "2024-01-01T00:00:00Z", "summary": "X", "company_id": a.company["id"] }),
        ),
    ];
    for (path, body) in &attempts {
        let before = ids_in(&app.read(path, &owner_b).await);
        let r = app.post(path, &owner_b, body).await;
        assert!(
            [404, 422].contains(&r.status),
            "B referenced A's record: POST {path} {body} -> {} {}",
            r.status,
            r.text
        );
        assert_eq!(
            ids_in(&app.read(path, &owner_b).await),
            before,
            "nothing was created by POST {path}"
        );
    }
    let patches = [
        (
            format!("/api/v1/deals/{}", id_of(&b_deal)),
            json!({ "company_id": a.company["id"] }),
        ),
        (
            format!("/api/v1/deals/{}", id_of(&b_deal)),
            json!({ "person_id": a.person["id"] }),
        ),
    ];
    for (path, body) in &patches {
        let r = app.patch(path, &owner_b, body).await;
        assert!(
            [404, 422].contains(&r.status),
            "B linked A's record: PATCH {path} {body} -> {} {}",
            r.status,
            r.text
        );
    }
    assert_eq!(
        app.read(&format!("/api/v1/deals/{}", id_of(&b_deal)), &owner_b)
            .await,
        b_deal
    );
}
server_test!(other_orgs_records_cannot_be_referenced);

async fn a_users_membership_does_not_carry_to_another_org(app: &TestApp) {
    let (org_a, owner_a) = app.create_org("Org A").await;
    let (org_b, owner_b) = app.create_org("Org B").await;
    let user = app.add_member(&owner_a, "owner").await;
    let jwt = app.jwt(user);
    let b_company = app
        .create("/api/v1/companies", &owner_b, json!({ "name": "B Co" }))
        .await;
    app.send(app.user_request(Method::GET, "/api/v1/companies", &jwt, org_a))
        .await
        .expect(200);
    app.send(app.user_request(Method::GET, "/api/v1/companies", &jwt, org_b))
        .await
        .problem(403);
    let path = format!("/api/v1/companies/{}", id_of(&b_company));
    app.send(app.user_request(Method::GET, &path, &jwt, org_b))
        .await
        .problem(403);
    app.send(app.user_request(Method::GET, &path, &jwt, org_a))
        .await
        .problem(404);
    app.send(app.user_request(Method::DELETE, &path, &jwt, org_a))
        .await
        .problem(404);
    // An org that does not exist answers like one the user is not in.
    let nowhere = workos_core::ids::OrgId::from_uuid(Uuid::now_v7());
    app.send(app.user_request(Method::GET, "/api/v1/companies", &jwt, nowhere))
        .await
        .problem(403);
    assert_eq!(app.read(&path, &owner_b).await, b_company);
}
server_test!(a_users_membership_does_not_carry_to_another_org);
