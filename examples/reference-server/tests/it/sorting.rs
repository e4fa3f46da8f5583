//! `sort` on the CRM lists: each list pages in the order it names, in both directions, and
//! the 422s name `sort` (listing its values) or `cursor`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, id_of, ids_in};

/// Every id of `path` (which has a query string) in `sort`, two at a time along the cursors.
async fn paged(app: &TestApp, key: &str, path: &str, sort: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = format!("{path}&sort={sort}&limit=2");
    for _ in 0..50 {
        let page = app.read(&next, key).await;
        seen.extend(ids_in(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                // The documented `Cursor` form: the default order's 22 characters, a sorted
                // list's 23 or more, all base64url.
                assert!(
                    cursor
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                        && cursor.len() >= 23,
                    "sort={sort}: {cursor}"
                );
                next = format!("{path}&sort={sort}&limit=2&cursor={cursor}");
            }
            None => return seen,
        }
    }
    panic!("{path} sort={sort} did not end");
}

/// Creates one record of `collection` per body; checks that `sort` lists them in the order of
/// `expected` (indexes into the bodies), and `-sort` in the reverse order.
async fn check(
    app: &TestApp,
    key: &str,
    collection: &str,
    sort: &str,
    bodies: Vec<Value>,
    expected: [usize; 3],
) {
    let mut ids = Vec::new();
    for body in bodies {
        ids.push(id_of(
            &app.create(&format!("/api/v1/{collection}"), key, body)
                .await,
        ));
    }
    let path = format!("/api/v1/{collection}?");
    let mut want: Vec<String> = expected.iter().map(|&i| ids[i].clone()).collect();
    assert_eq!(
        paged(app, key, &path, sort).await,
        want,
        "{collection} sort={sort}"
    );
    want.reverse();
    assert_eq!(
        paged(app, key, &path, &format!("-{sort}")).await,
        want,
        "{collection} sort=-{sort}"
    );
}

async fn lists_page_in_the_order_sort_names(app: &TestApp) {
    let named = |name: &str| json!({ "name": name });
    for collection in ["companies", "deals"] {
        let (_, key) = app.create_org(collection).await;
        let bodies = vec![named("beta"), named("Alpha"), named("gamma")];
        check(app, &key, collection, "name", bodies, [1, 0, 2]).await;
    }

    let (_, key) = app.create_org("people").await;
    let person = |first: &str, last: &str| json!({ "first_name": first, "last_name": last });
    let bodies = vec![
        person("Zoe", "Adams"),
        person("Al", "Young"),
        person("Al", "adams"),
    ];
    // Last name first, case-folded: adams Al, Adams Zoe, Young Al.
    check(app, &key, "people", "name", bodies, [2, 0, 1]).await;

    let (_, key) = app.create_org("tasks").await;
    let task = |title: &str, due: Value| json!({ "title": title, "due_at": due });
    let bodies = vec![
        task("late", json!("2031-01-02T00:00:00Z")),
        task("early", json!("2031-01-01T00:00:00Z")),
        task("whenever", Value::Null),
    ];
    // A task without a due date comes last in both directions.
    let path = "/api/v1/tasks?";
    let mut ids = Vec::new();
    for body in bodies {
        ids.push(id_of(&app.create("/api/v1/tasks", &key, body).await));
    }
    assert_eq!(
        paged(app, &key, path, "due_at").await,
        [ids[1].clone(), ids[0].clone(), ids[2].clone()]
    );
    assert_eq!(
        paged(app, &key, path, "-due_at").await,
        [ids[0].clone(), ids[1].clone(), ids[2].clone()]
    );
    assert_eq!(
        paged(app, &key, path, "-created_at").await,
        [ids[2].clone(), ids[1].clone(), ids[0].clone()]
    );

    let (_, key) = app.create_org("interactions").await;
    let note = |at: &str| json!({ "kind": "note", "summary": "s", "occurred_at": at });
    let bodies = vec![
        note("2030-05-02T00:00:00Z"),
        note("2030-05-03T00:00:00Z"),
        note("2030-05-01T00:00:00Z"),
    ];
    check(app, &key, "interactions", "occurred_at", bodies, [2, 0, 1]).await;

    #[cfg(feature = "leads")]
    {
        let (_, key) = app.create_org("leads").await;
        let lead = |n: u32| json!({ "first_name": "Ann", "email": format!("lead{n}@example.com") });
        check(
            app,
            &key,
            "leads",
            "updated_at",
            vec![lead(1), lead(2), lead(3)],
            [0, 1, 2],
        )
        .await;
    }
}
server_test!(lists_page_in_the_order_sort_names);

async fn bad_sorts_and_cursors_are_422s(app: &TestApp) {
    let (_, key) = app.create_org("Refusals").await;
    for n in 0..3 {
        app.create("/api/v1/tasks", &key, json!({ "title": format!("t{n}") }))
            .await;
    }
    let problem = app
        .get("/api/v1/tasks?sort=name", &key)
        .await
        .invalid_field("sort");
    assert!(
        problem
            .to_string()
            .contains("created_at, -created_at, updated_at, -updated_at, due_at, -due_at"),
        "the allowed values are listed: {problem}"
    );
    app.get("/api/v1/people?sort=--name", &key)
        .await
        .invalid_field("sort");
    app.get("/api/v1/people?sort=", &key)
        .await
        .invalid_field("sort");

    let page = app.read("/api/v1/tasks?sort=due_at&limit=1", &key).await;
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    app.read(
        &format!("/api/v1/tasks?sort=due_at&limit=1&cursor={cursor}"),
        &key,
    )
    .await;
    for other in ["sort=-due_at&", "sort=updated_at&", ""] {
        app.get(&format!("/api/v1/tasks?{other}cursor={cursor}"), &key)
            .await
            .invalid_field("cursor");
    }
    // Another list, with no sort of that name, refuses the cursor too.
    app.get(&format!("/api/v1/members?cursor={cursor}"), &key)
        .await
        .invalid_field("cursor");
    app.get("/api/v1/tasks?sort=due_at&cursor=AAAA", &key)
        .await
        .invalid_field("cursor");
}
server_test!(bad_sorts_and_cursors_are_422s);
