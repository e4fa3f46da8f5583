//! The OpenAPI document tells the truth: every enum lists the values serde writes, every
//! authenticated operation declares its 401, errors are `application/problem+json`, the public
//! routes are marked public; and a route whose provider is not configured answers the
//! documented 409.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use workos_core::domain::{Company, Deal, Interaction, Lead, Person, Task};
use workos_core::domain::{
    Currency, DealStage, DedupeField, DedupeScope, DeliveryStatus, Direction, Distribution,
    FORM_FIELDS, IntegrationStatus, InteractionKind, LeadDeliveryStatus, LeadStatus, OptOutSource,
    ReturnReason, RingStrategy, RoutingStrategy, SearchKind, SearchQuery, TaskPriority, TaskStatus,
    TimelineKind, WhenFull,
};
use workos_core::events::ActorKind;
use workos_core::page::{Sort, Sortable};
use workos_core::tenant::Role;

use crate::helpers::TestApp;

fn serialized<T: Serialize>(values: &[T]) -> Vec<Value> {
    values
        .iter()
        .map(|v| serde_json::to_value(v).expect("an enum serialises"))
        .collect()
}

/// Every enum the API shows, by schema name, with the values serde writes for it.
fn enums() -> BTreeMap<&'static str, Vec<Value>> {
    BTreeMap::from([
        ("DealStage", serialized(DealStage::ALL)),
        ("TaskStatus", serialized(TaskStatus::ALL)),
        ("TaskPriority", serialized(TaskPriority::ALL)),
        ("InteractionKind", serialized(InteractionKind::ALL)),
        ("LeadStatus", serialized(LeadStatus::ALL)),
        ("LeadDeliveryStatus", serialized(LeadDeliveryStatus::ALL)),
        ("ReturnReason", serialized(ReturnReason::ALL)),
        ("DedupeField", serialized(DedupeField::ALL)),
        ("DedupeScope", serialized(DedupeScope::ALL)),
        ("RoutingStrategy", serialized(RoutingStrategy::ALL)),
        ("WhenFull", serialized(WhenFull::ALL)),
        ("Distribution", serialized(Distribution::ALL)),
        ("IntegrationStatus", serialized(IntegrationStatus::ALL)),
        ("TimelineKind", serialized(&TimelineKind::ALL)),
        ("Currency", serialized(&Currency::codes())),
        ("FormField", serialized(FORM_FIELDS)),
        ("ActorKind", serialized(ActorKind::ALL)),
        (
            "Role",
            serialized(&[Role::Viewer, Role::Member, Role::Admin, Role::Owner]),
        ),
        (
            "Direction",
            serialized(&[Direction::Inbound, Direction::Outbound]),
        ),
        (
            "RingStrategy",
            serialized(&[RingStrategy::Sequential, RingStrategy::Simultaneous]),
        ),
        (
            "OptOutSource",
            serialized(&[OptOutSource::InboundKeyword, OptOutSource::TwilioError21610]),
        ),
        (
            "SearchKind",
            serialized(&[SearchKind::Person, SearchKind::Company, SearchKind::Deal]),
        ),
        (
            "DeliveryStatus",
            serialized(&[
                DeliveryStatus::Pending,
                DeliveryStatus::Retrying,
                DeliveryStatus::Succeeded,
                DeliveryStatus::Failed,
                DeliveryStatus::Skipped,
            ]),
        ),
    ])
}

/// Each sortable list's path with the `sort` values it accepts.
fn sorts() -> Vec<(&'static str, Vec<Value>)> {
    fn values<T: Sortable>() -> Vec<Value> {
        Sort::values(T::SORTS)
            .into_iter()
            .map(Value::String)
            .collect()
    }
    let mut lists = vec![
        ("/api/v1/people", values::<Person>()),
        ("/api/v1/companies", values::<Company>()),
        ("/api/v1/deals", values::<Deal>()),
        ("/api/v1/tasks", values::<Task>()),
        ("/api/v1/interactions", values::<Interaction>()),
    ];
    if cfg!(feature = "leads") {
        lists.push(("/api/v1/leads", values::<Lead>()));
    }
    lists
}

/// Every `enum` in the document, with its JSON pointer.
fn enums_in(value: &Value, pointer: &str, found: &mut Vec<(String, Vec<Value>)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(values)) = map.get("enum") {
                found.push((pointer.to_owned(), values.clone()));
            }
            for (key, v) in map {
                enums_in(v, &format!("{pointer}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                enums_in(v, &format!("{pointer}/{i}"), found);
            }
        }
        _ => {}
    }
}

async fn enums_are_documented_as_serialized(app: &TestApp) {
    let doc = app.read("/api/v1/openapi.json", "").await;
    let expected = enums();
    let mut found = Vec::new();
    enums_in(&doc, "", &mut found);
    assert!(!found.is_empty(), "the document has enums");
    let mut named = BTreeSet::new();
    for (pointer, values) in &found {
        match pointer.strip_prefix("/components/schemas/") {
            // A named enum schema: exactly what serde writes for the type of that name.
            Some(name) if !name.contains('/') => {
                let want = expected.get(name).unwrap_or_else(|| {
                    panic!("enum schema {name} is not checked: add it to enums() in this test")
                });
                assert_eq!(values, want, "{name} as documented vs. as serialized");
                named.insert(name.to_owned());
            }
            // An inline enum: the tag of an internally tagged enum's variant (one value), or
            // the values of one of the API's enums, or some of them where a request takes
            // only those (an interaction a client records is a note or a meeting).
            _ => assert!(
                (values.len() == 1 && pointer.contains("/properties/"))
                    || expected.values().any(|want| want == values)
                    || sorts().iter().any(|(_, want)| want == values)
                    || expected
                        .values()
                        .any(|want| values.iter().all(|v| want.contains(v))),
                "inline enum at {pointer} is not one of the API's enums: {values:?}"
            ),
        }
    }
    for core in [
        "DealStage",
        "TaskStatus",
        "TaskPriority",
        "InteractionKind",
        "Role",
        "Direction",
    ] {
        assert!(named.contains(core), "{core} is documented");
    }
}
server_test!(enums_are_documented_as_serialized);

/// The operations that take no API key or user token.
fn is_public(path: &str) -> bool {
    path.starts_with("/api/v1/webhooks/twilio/")
        || path == "/api/v1/integrations/gmail/callback"
        || path == "/api/v1/webhooks/gmail/push"
        || path.starts_with("/api/v1/forms/")
}

/// `response`, or the shared response it refers to.
fn resolve<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("a response reference: {r}"));
            &doc["components"]["responses"][name]
        }
        None => response,
    }
}

async fn operations_declare_their_errors_and_security(app: &TestApp) {
    let doc = app.read("/api/v1/openapi.json", "").await;
    assert_eq!(
        doc["security"],
        json!([{ "apiKey": [] }, { "userJwt": [], "orgId": [] }])
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["apiKey"]["scheme"], "bearer");
    assert_eq!(schemes["userJwt"]["bearerFormat"], "JWT");
    assert_eq!(
        (&schemes["orgId"]["in"], &schemes["orgId"]["name"]),
        (&json!("header"), &json!("X-Org-Id"))
    );

    let mut operations = 0;
    let mut public = 0;
    let mut unauthenticated_gets = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for (method, op) in item.as_object().expect("a path item") {
            operations += 1;
            let at = format!("{method} {path}");
            let responses = op["responses"].as_object().expect("responses");
            // OpenAPI 3.1 requires every response's `description` (utoipa 6 omits empty ones).
            for (status, response) in responses {
                assert!(
                    resolve(&doc, response)["description"].is_string(),
                    "{at}: {status} has a description"
                );
            }
            if is_public(path) {
                public += 1;
                assert_eq!(op["security"], json!([]), "{at} is marked public");
            } else {
                assert!(
                    op.get("security").is_none(),
                    "{at} takes the document's security"
                );
                for status in ["401", "403", "429"] {
                    assert!(responses.contains_key(status), "{at} declares {status}");
                }
                let unauthorized = resolve(&doc, &responses["401"]);
                assert!(
                    unauthorized["headers"]["WWW-Authenticate"].is_object(),
                    "{at}: 401 declares WWW-Authenticate"
                );
                if method == "get" && !path.contains('{') {
                    unauthenticated_gets.push(path.clone());
                }
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{at} declares {status}");
                }
            }
            if path.contains('{') {
                assert!(responses.contains_key("404"), "{at} declares 404");
            }
            for (status, response) in responses {
                let response = resolve(&doc, response);
                assert!(
                    response["headers"]["x-request-id"].is_object(),
                    "{at}: {status} declares x-request-id"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object().expect("error content");
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        ["application/problem+json"],
                        "{at}: {status} is a problem document"
                    );
                }
                if status == "201" {
                    assert!(
                        response["headers"]["Location"].is_object(),
                        "{at}: 201 has Location"
                    );
                }
                if status == "429" {
                    assert!(
                        response["headers"]["Retry-After"].is_object(),
                        "{at}: 429 has Retry-After"
                    );
                }
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["in"] == "query" && param["name"] == "limit" {
                    // Lists page up to 200 records; search answers at most its own maximum.
                    let max = if path == "/api/v1/search" {
                        SearchQuery::MAX_LIMIT
                    } else {
                        200
                    };
                    assert_eq!(
                        (&param["schema"]["minimum"], &param["schema"]["maximum"]),
                        (&json!(1), &json!(max)),
                        "{at}: limit is 1-{max}"
                    );
                }
            }
        }
    }
    assert!(operations > 50, "every route is listed ({operations})");
    if cfg!(all(
        feature = "twilio",
        feature = "leads",
        feature = "gmail"
    )) {
        assert!(public >= 8, "the public routes are listed ({public})");
    }

    // And on the wire: each authenticated list answers what the document says without a key.
    assert!(!unauthenticated_gets.is_empty());
    for path in unauthenticated_gets {
        let resp = app.send(app.client.get(app.url(&path))).await;
        let problem = resp.problem(401);
        assert_eq!(problem["type"], "urn:workos:problem:unauthorized", "{path}");
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"), "{path}");
        assert!(resp.header("x-request-id").is_some(), "{path}");
    }
}
server_test!(operations_declare_their_errors_and_security);

/// A 409 `integration-not-configured` whose detail names `names`, documented for the route.
#[track_caller]
fn not_configured(doc: &Value, method: &str, path: &str, resp: &crate::helpers::Resp, names: &str) {
    let problem = resp.problem(409);
    assert_eq!(
        problem["type"], "urn:workos:problem:integration-not-configured",
        "{problem}"
    );
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(names), "{detail:?} names {names}");
    assert!(
        doc["paths"][path][method]["responses"]["409"].is_object(),
        "{method} {path} documents its 409"
    );
}

async fn a_missing_provider_is_a_documented_409(app: &TestApp) {
    let doc = app.read("/api/v1/openapi.json", "").await;
    let (_, owner) = app.create_org("Acme").await;
    if cfg!(feature = "twilio") {
        let resp = app
            .send(
                app.request(Method::POST, "/api/v1/sms/send", &owner)
                    .json(&json!({ "to": "+14155552671", "body": "hi" })),
            )
            .await;
        not_configured(
            &doc,
            "post",
            "/api/v1/sms/send",
            &resp,
            "TWILIO_ACCOUNT_SID",
        );
        let resp = app
            .send(
                app.request(Method::POST, "/api/v1/calls", &owner)
                    .json(&json!({ "to": "+14155552671" })),
            )
            .await;
        not_configured(&doc, "post", "/api/v1/calls", &resp, "TWILIO_ACCOUNT_SID");
        assert!(crate::helpers::ids_in(&app.read("/api/v1/sms", &owner).await).is_empty());
        assert!(crate::helpers::ids_in(&app.read("/api/v1/calls", &owner).await).is_empty());
    }
    if cfg!(feature = "gmail") {
        let resp = app
            .send(
                app.request(Method::POST, "/api/v1/email/send", &owner)
                    .json(&json!({ "to": ["ada@example.com"], "subject": "x", "text": "y" })),
            )
            .await;
        not_configured(
            &doc,
            "post",
            "/api/v1/email/send",
            &resp,
            "GOOGLE_CLIENT_ID",
        );
        let path = format!("/api/v1/integrations/gmail/{}/sync", uuid::Uuid::now_v7());
        let resp = app.send(app.request(Method::POST, &path, &owner)).await;
        not_configured(
            &doc,
            "post",
            "/api/v1/integrations/gmail/{id}/sync",
            &resp,
            "GOOGLE_CLIENT_ID",
        );
        let resp = app.get("/api/v1/integrations/gmail/connect", &owner).await;
        not_configured(
            &doc,
            "get",
            "/api/v1/integrations/gmail/connect",
            &resp,
            "GOOGLE_CLIENT_ID",
        );
    }
}
server_test!(a_missing_provider_is_a_documented_409);

/// What the document says the server checks, it checks, and what it allows the server takes:
/// ISO 4217 codes only, a note or a meeting as a recorded interaction, free-text query
/// parameters without NUL (refused naming the parameter, not the database), and a whole number
/// written as `15.0` where an integer is asked for (JSON Schema's integer).
async fn the_document_says_what_the_server_checks(app: &TestApp) {
    let doc = app.read("/api/v1/openapi.json", "").await;
    let schemas = &doc["components"]["schemas"];
    let currencies = schemas["Currency"]["enum"].as_array().expect("an enum");
    assert!(currencies.contains(&json!("USD")) && !currencies.contains(&json!("XYZ")));
    assert_eq!(
        schemas["NewInteraction"]["properties"]["kind"]["enum"],
        json!(["note", "meeting"])
    );
    let name = doc["paths"]["/api/v1/people"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "name")
        .expect("the name filter");
    assert_eq!(name["schema"]["pattern"], json!(r"^[^\u0000]*$"));
    // Who took a call, and the member a ringing leg's status callback names.
    let call = &schemas["Call"]["properties"];
    assert!(
        call["answered_by_member_id"].is_object(),
        "{}",
        schemas["Call"]
    );
    #[cfg(feature = "twilio")]
    {
        let status = &doc["paths"]["/api/v1/webhooks/twilio/call-status"]["post"];
        let params = status["parameters"].as_array().expect("parameters");
        assert!(params.iter().any(|p| p["name"] == "member"), "{status}");
    }

    let (_, key) = app.create_org("Checks").await;
    app.get("/api/v1/people?name=a%00b", &key)
        .await
        .invalid_field("name");
    app.post(
        "/api/v1/deals",
        &key,
        &json!({ "name": "Euro", "amount_minor": 100, "currency": "XYZ" }),
    )
    .await
    .invalid_field("currency");
    app.post(
        "/api/v1/interactions",
        &key,
        &json!({ "kind": "sms", "occurred_at": "2026-01-01T00:00:00Z", "summary": "x" }),
    )
    .await
    .invalid_field("kind");
    let deal = app
        .create(
            "/api/v1/deals",
            &key,
            json!({ "name": "Float", "amount_minor": 1609.0, "currency": "EUR" }),
        )
        .await;
    assert_eq!(deal["amount_minor"], json!(1609));
    app.post(
        "/api/v1/deals",
        &key,
        &json!({ "name": "Half", "amount_minor": 16.5, "currency": "EUR" }),
    )
    .await
    .invalid_field("amount_minor");
}
server_test!(the_document_says_what_the_server_checks);

/// Each sortable list documents `sort` with exactly the values it accepts, and takes each.
async fn sort_is_documented_with_its_values(app: &TestApp) {
    let doc = app.read("/api/v1/openapi.json", "").await;
    let (_, key) = app.create_org("Sorts").await;
    for (path, values) in sorts() {
        let sort = parameter(&doc, path, "get", "sort");
        assert_eq!(sort["in"], json!("query"), "{path}");
        assert_eq!(sort["schema"]["enum"], json!(values), "{path}");
        assert_eq!(sort["schema"]["default"], json!("created_at"), "{path}");
        for value in &values {
            let value = value.as_str().expect("a string");
            app.read(&format!("{path}?sort={value}"), &key).await;
        }
    }
    assert!(
        doc["paths"]["/api/v1/members"]["get"]["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().all(|p| p["name"] != "sort")),
        "lists without sorts do not document one"
    );
}
server_test!(sort_is_documented_with_its_values);

/// The parameter `name` of `op` (`["paths"][path][method]`).
fn parameter<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path} documents `{name}`"))
}

/// Issue 17: where schemathesis found schema-valid requests refused, the document now says
/// what the server refuses, and the server refuses exactly that.
async fn the_document_bounds_what_the_server_refuses(app: &TestApp) {
    let doc = app.read("/api/v1/openapi.json", "").await;
    let schemas = &doc["components"]["schemas"];
    let (_, key) = app.create_org("Bounds").await;

    // `actor`: `kind:id`, a hyphenated UUID or a job name of 1–64 characters.
    let actor = parameter(&doc, "/api/v1/events", "get", "actor");
    assert!(
        actor["schema"]["pattern"]
            .as_str()
            .is_some_and(|p| p.contains("system:[^\\u0000]{1,64}")),
        "{actor}"
    );
    let bare_uuid = uuid::Uuid::now_v7().simple().to_string();
    for bad in [
        String::new(),
        format!("api_key:{bare_uuid}"),
        format!("system:{}", "é".repeat(65)),
    ] {
        app.get(&format!("/api/v1/events?actor={bad}"), &key)
            .await
            .invalid_field("actor");
    }
    app.read(
        &format!("/api/v1/events?actor=system:{}", "é".repeat(64)),
        &key,
    )
    .await;

    // `type`: at most 50 comma-separated entries, the empty ones counted; no NUL.
    let types = parameter(&doc, "/api/v1/events", "get", "type");
    assert_eq!(
        types["schema"]["pattern"],
        json!(r"^[^\u0000,]{0,100}(,[^\u0000,]{0,100}){0,49}$")
    );
    app.read("/api/v1/events?type=,", &key).await;
    app.get(&format!("/api/v1/events?type={}", ",".repeat(50)), &key)
        .await
        .invalid_field("type");
    app.get("/api/v1/events?type=a%00", &key)
        .await
        .invalid_field("type");

    // A lead's patch may not set `duplicate`; notes hold no NUL.
    let status = &schemas["LeadPatch"]["properties"]["status"]["oneOf"][1]["enum"];
    let settable: Vec<Value> = serialized(LeadStatus::ALL)
        .into_iter()
        .filter(|s| s != "duplicate")
        .collect();
    assert_eq!(status, &json!(settable));
    let lead = app
        .create("/api/v1/leads", &key, json!({ "email": "a@example.com" }))
        .await;
    let lead_path = format!("/api/v1/leads/{}", lead["id"].as_str().unwrap());
    app.patch(
        &lead_path,
        &key,
        &json!({ "status": "duplicate", "notes": null }),
    )
    .await
    .invalid_field("status");
    app.patch(&lead_path, &key, &json!({ "notes": "a\u{0}b" }))
        .await
        .invalid_field("notes");
    assert_eq!(
        schemas["LeadPatch"]["properties"]["notes"]["pattern"],
        json!(r"^[^\u0000]*$")
    );

    // A webhook's rate limit is 1–10,000 on a patch as on create; its description at most
    // 500 characters.
    for schema in ["NewWebhook", "WebhookPatch"] {
        let properties = &schemas[schema]["properties"];
        assert_eq!(properties["rate_limit_per_second"]["minimum"], json!(1));
        assert_eq!(properties["rate_limit_per_second"]["maximum"], json!(10000));
        assert_eq!(
            properties["description"]["maxLength"],
            json!(500),
            "{schema}"
        );
    }

    // The multipart email takes the `email` part and `attachments` parts only.
    assert_eq!(
        schemas["SendEmailForm"]["additionalProperties"],
        json!(false)
    );
    assert_eq!(schemas["SendEmailForm"]["required"], json!(["email"]));

    // An org's new name may not be blank.
    assert!(schemas["OrgPatch"]["properties"]["name"]["pattern"].is_string());
    app.patch("/api/v1/org", &key, &json!({ "name": "   " }))
        .await
        .invalid_field("name");
}
server_test!(the_document_bounds_what_the_server_refuses);
