//! Timelines over REST (`/api/v1/{people,companies,deals}/{id}/timeline`) and the record an
//! interaction came from (`email_id`, `sms_id`, `call_id`).

use serde_json::{Value, json};
use workos_core::domain::{Direction, NewSms, UnknownSender};
use workos_core::ids::{OrgId, PersonId};
use workos_core::repo::CommsRepo;
use workos_core::tenant::{Role, TenantContext};

use crate::helpers::{TestApp, id_of, phone_number};

/// `(type, record id, occurred_at)` of every item, following `next_cursor` `limit` at a time.
async fn read_all(
    app: &TestApp,
    path: &str,
    key: &str,
    limit: u32,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let url = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let page = app.read(&url, key).await;
        let data = page["data"].as_array().expect("data").clone();
        assert!(data.len() <= limit as usize);
        for item in &data {
            assert!(
                item["record"].is_object(),
                "each item holds its record: {item}"
            );
            out.push((
                item["type"].as_str().expect("type").to_owned(),
                id_of(&item["record"]),
                item["occurred_at"]
                    .as_str()
                    .expect("occurred_at")
                    .to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            None => {
                assert_eq!(page["next_cursor"], Value::Null);
                return out;
            }
            Some(c) => cursor = Some(c.to_owned()),
        }
    }
    panic!("the timeline did not end");
}

/// Records an outbound SMS to `person` as the Twilio channel would (this server has no Twilio).
async fn sms_to(app: &TestApp, org: OrgId, person: &Value) -> Value {
    let person: PersonId = person["id"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .expect("an id");
    let new = NewSms {
        phone_id: None,
        message_sid: Some(format!("SM{}", uuid::Uuid::now_v7().simple())),
        direction: Direction::Outbound,
        from: phone_number(),
        to: phone_number(),
        body: "See you at 3".into(),
        media: Vec::new(),
        status: "queued".into(),
        person_id: Some(person),
        unknown_sender: UnknownSender::StoreUnmatched,
    };
    let sms = app
        .store
        .record_sms(&TenantContext::system(org, "test"), new)
        .await
        .expect("record an SMS")
        .record;
    serde_json::to_value(sms).expect("SMS as JSON")
}

async fn timelines_over_rest(app: &TestApp) {
    let (org, key) = app.create_org("Timelines").await;
    let viewer = app.api_key(org, Role::Viewer).await;
    let company = app
        .create("/api/v1/companies", &key, json!({ "name": "Initech" }))
        .await;
    let ann = app
        .create(
            "/api/v1/people",
            &key,
            json!({ "first_name": "Ann", "company_id": company["id"] }),
        )
        .await;
    let deal = app
        .create("/api/v1/deals", &key, json!({ "name": "Renewal" }))
        .await;
    let note = |at: &str, extra: Value| {
        let mut body =
            json!({ "kind": "note", "occurred_at": at, "summary": format!("note {at}") });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let old = app
        .create(
            "/api/v1/interactions",
            &key,
            note("2024-01-01T00:00:00Z", json!({ "person_id": ann["id"] })),
        )
        .await;
    // Made later, happened earlier: ordered by occurred_at, not by id.
    let older = app
        .create(
            "/api/v1/interactions",
            &key,
            note(
                "2023-06-01T00:00:00Z",
                json!({ "person_id": ann["id"], "deal_id": deal["id"] }),
            ),
        )
        .await;
    let task = app
        .create(
            "/api/v1/tasks",
            &key,
            json!({ "title": "Call Ann", "due_at": "2024-02-01T09:00:00Z", "person_id": ann["id"],
                    "deal_id": deal["id"] }),
        )
        .await;
    let account_note = app
        .create(
            "/api/v1/interactions",
            &key,
            note(
                "2024-03-01T00:00:00Z",
                json!({ "company_id": company["id"] }),
            ),
        )
        .await;
    let sms = sms_to(app, org, &ann).await;

    // The SMS's timeline entry names it; a note names nothing.
    let entry = app
        .read(
            &format!(
                "/api/v1/interactions/{}",
                sms["interaction_id"].as_str().unwrap()
            ),
            &viewer,
        )
        .await;
    assert_eq!(entry["sms_id"], sms["id"]);
    assert_eq!(entry["email_id"], Value::Null);
    assert_eq!(entry["call_id"], Value::Null);
    for field in ["email_id", "sms_id", "call_id"] {
        assert_eq!(old[field], Value::Null, "{field} of a note");
    }

    let person_path = format!("/api/v1/people/{}/timeline", id_of(&ann));
    let expected = vec![
        ("sms".to_owned(), id_of(&sms)),
        ("task".to_owned(), id_of(&task)),
        ("interaction".to_owned(), id_of(&old)),
        ("interaction".to_owned(), id_of(&older)),
    ];
    for limit in [1, 3, 200] {
        let items = read_all(app, &person_path, &viewer, limit).await;
        let got: Vec<(String, String)> = items.iter().map(|i| (i.0.clone(), i.1.clone())).collect();
        assert_eq!(got, expected, "newest first, {limit} a page");
        assert_eq!(
            items[1].2, "2024-02-01T09:00:00Z",
            "a task happens when it is due"
        );
    }
    let first = app.read(&format!("{person_path}?limit=1"), &viewer).await;
    assert_eq!(
        first["data"][0]["record"], sms,
        "the record as its own endpoint shows it"
    );

    let company_items = read_all(
        app,
        &format!("/api/v1/companies/{}/timeline", id_of(&company)),
        &viewer,
        2,
    )
    .await;
    assert_eq!(
        company_items.len(),
        5,
        "the company's note and its person's items"
    );
    assert_eq!(company_items[1].1, id_of(&account_note));

    let deal_items = read_all(
        app,
        &format!("/api/v1/deals/{}/timeline", id_of(&deal)),
        &viewer,
        50,
    )
    .await;
    let got: Vec<String> = deal_items.into_iter().map(|i| i.1).collect();
    assert_eq!(got, [id_of(&task), id_of(&older)]);

    // Bad paging names its parameter; another org, or no such record, is a 404.
    app.get(&format!("{person_path}?cursor=nope"), &viewer)
        .await
        .invalid_field("cursor");
    app.get(&format!("{person_path}?limit=0"), &viewer)
        .await
        .invalid_field("limit");
    // Every string of the documented form is a cursor, even one whose time lies beyond what a
    // timestamp column holds (it answered 500 on Postgres): read as the earliest/latest time.
    for edge in ["0", "f", "_"] {
        let cursor = format!("{}AA", edge.repeat(32));
        let page = app
            .read(&format!("{person_path}?cursor={cursor}"), &viewer)
            .await;
        assert!(page["data"].is_array(), "{cursor}: {page}");
    }
    let plain_cursor = app.read("/api/v1/people?limit=1", &viewer).await;
    if let Some(c) = plain_cursor["next_cursor"].as_str() {
        app.get(&format!("{person_path}?cursor={c}"), &viewer)
            .await
            .invalid_field("cursor");
    }
    app.get(&format!("{person_path}?sort=name"), &viewer)
        .await
        .invalid_field("sort");
    let (_, stranger) = app.create_org("Stranger").await;
    app.get(&person_path, &stranger).await.problem(404);
    app.get(
        &format!("/api/v1/deals/{}/timeline", uuid::Uuid::now_v7()),
        &viewer,
    )
    .await
    .problem(404);
    app.delete(&format!("/api/v1/people/{}", id_of(&ann)), &key)
        .await
        .expect(204);
    app.get(&person_path, &viewer).await.problem(404);
}
server_test!(timelines_over_rest);

/// The documented cursor form is exactly what the server hands out and reads.
async fn timeline_cursor_schema_matches_the_wire(app: &TestApp) {
    let doc = app.read("/api/v1/openapi.json", "").await;
    let params = doc["paths"]["/api/v1/people/{id}/timeline"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .clone();
    let cursor = params
        .iter()
        .find(|p| p["name"] == "cursor")
        .expect("a cursor parameter");
    let schema = cursor["schema"].to_string();
    assert!(schema.contains("TimelineCursor"), "{schema}");
    let pattern = doc["components"]["schemas"]["TimelineCursor"]["pattern"]
        .as_str()
        .expect("a pattern");
    assert_eq!(pattern, workos_core::domain::TimelineCursor::PATTERN);

    let (org, key) = app.create_org("Cursor form").await;
    let ann = app
        .create("/api/v1/people", &key, json!({ "first_name": "Ann" }))
        .await;
    for _ in 0..2 {
        sms_to(app, org, &ann).await;
    }
    let path = format!("/api/v1/people/{}/timeline?limit=1", id_of(&ann));
    let page = app.read(&path, &key).await;
    let next = page["next_cursor"].as_str().expect("a next page");
    assert_eq!(next.len(), 34);
    assert!(
        ["AA", "AQ", "Ag", "Aw", "BA"].contains(&&next[32..]),
        "{next}"
    );
    // Any string of the documented form is read (positive data is accepted).
    let made_up = format!("{}BA", "A".repeat(32));
    app.read(&format!("{path}&cursor={made_up}"), &key).await;
}
server_test!(timeline_cursor_schema_matches_the_wire);
