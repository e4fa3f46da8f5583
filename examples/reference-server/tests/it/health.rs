//! Probes, metrics and the OpenAPI document.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Fixtures, TestApp, openapi_methods};

async fn health_and_readiness_answer_without_credentials(app: &TestApp) {
    let health = app.get("/healthz", "").await;
    assert_eq!(health.status, 200, "{}", health.text);
    let ready = app.get("/readyz", "").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
}
server_test!(health_and_readiness_answer_without_credentials);

async fn metrics_expose_request_latency(app: &TestApp) {
    let (_, key) = app.create_org("Metrics").await;
    app.read("/api/v1/companies", &key).await;
    let metrics = app.get("/metrics", "").await;
    assert_eq!(metrics.status, 200, "{}", metrics.text);
    assert!(
        metrics.text.contains("http_request_duration_seconds"),
        "the latency histogram is exported: {}",
        metrics.text
    );
    assert!(
        metrics.text.contains("route=\"/api/v1/companies\""),
        "requests are labelled with their route template: {}",
        metrics.text
    );
}
server_test!(metrics_expose_request_latency);

/// A supervised background task that panics is restarted, and `/metrics` counts it.
async fn task_restarts_are_counted_in_metrics(app: &TestApp) {
    // A name of this test's own: the count is per process, and tests run side by side.
    let name: &'static str = Box::leak(format!("test-{}", uuid::Uuid::now_v7().simple()).into());
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let task = workos_core::supervise::spawn_supervised(name, {
        let runs = runs.clone();
        move || {
            let run = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { assert!(run > 0, "injected panic in the first run") }
        }
    });
    task.await.expect("the supervisor outlives the panic");
    assert_eq!(
        runs.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "restarted once"
    );
    let metrics = app.get("/metrics", "").await;
    assert!(
        metrics
            .text
            .contains(&format!("workos_task_restarts_total{{task=\"{name}\"}} 1")),
        "{}",
        metrics.text
    );
}
server_test!(task_restarts_are_counted_in_metrics);

/// Clients choose the method and the path: neither becomes a label value as sent, so they
/// cannot add series without bound.
async fn metric_labels_take_no_client_text(app: &TestApp) {
    let made_up = format!("M{}", uuid::Uuid::now_v7().simple()).to_uppercase();
    let method = Method::from_bytes(made_up.as_bytes()).expect("a valid method token");
    let answered = app.send(app.request(method, "/healthz", "")).await;
    assert_eq!(answered.status, 405, "{}", answered.text);
    let path = format!("/nowhere-{}", uuid::Uuid::now_v7().simple());
    app.get(&path, "").await.problem(404);

    let metrics = app.get("/metrics", "").await;
    assert_eq!(metrics.status, 200, "{}", metrics.text);
    assert!(
        !metrics.text.contains(&made_up),
        "a made-up method is not a label value: {}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains(r#"http_requests_total{method="other",route="/healthz",status="405"}"#),
        "it is counted as other: {}",
        metrics.text
    );
    assert!(
        !metrics.text.contains(&path),
        "an unmatched path is not a label value: {}",
        metrics.text
    );
    assert!(
        metrics.text.contains(r#"route="unmatched""#),
        "it is counted as unmatched: {}",
        metrics.text
    );
}
server_test!(metric_labels_take_no_client_text);

/// Every route of the API with the methods it must have.
const ROUTES: &[(&str, &[&str])] = &[
    ("/api/v1/companies", &["get", "post"]),
    ("/api/v1/companies/{id}", &["get", "patch", "delete"]),
    ("/api/v1/people", &["get", "post"]),
    ("/api/v1/people/{id}", &["get", "patch", "delete"]),
    ("/api/v1/deals", &["get", "post"]),
    ("/api/v1/deals/{id}", &["get", "patch", "delete"]),
    ("/api/v1/tasks", &["get", "post"]),
    ("/api/v1/tasks/{id}", &["get", "patch", "delete"]),
    ("/api/v1/interactions", &["get", "post"]),
    ("/api/v1/interactions/{id}", &["get", "patch", "delete"]),
    ("/api/v1/members", &["get", "post"]),
    ("/api/v1/members/{id}", &["get", "patch", "delete"]),
    ("/api/v1/api-keys", &["get", "post"]),
    ("/api/v1/api-keys/{id}", &["get", "delete"]),
    ("/api/v1/phones", &["get", "post"]),
    ("/api/v1/phones/{id}", &["get", "delete"]),
    ("/api/v1/events", &["get"]),
    ("/api/v1/events/{id}", &["get"]),
];

async fn openapi_document_is_3_1_and_lists_every_route(app: &TestApp) {
    let doc = app.read("/api/v1/openapi.json", "").await;
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1"), "OpenAPI 3.1, got {version:?}");
    assert!(doc["info"]["title"].is_string(), "the document has a title");
    let mut missing = Vec::new();
    for (path, methods) in ROUTES {
        let listed = openapi_methods(&doc, path);
        for m in *methods {
            if !listed.iter().any(|l| l == m) {
                missing.push(format!("{} {path}", m.to_uppercase()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the OpenAPI document lacks: {missing:?}"
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        (&schemes["apiKey"]["scheme"], &schemes["userJwt"]["scheme"]),
        (&json!("bearer"), &json!("bearer")),
        "bearer auth is documented: {schemes}"
    );
}
server_test!(openapi_document_is_3_1_and_lists_every_route);

/// One operation of each feature module (`gmail`, `twilio`, `leads`, `webhooks`), and whether
/// this build has that module.
const FEATURE_ROUTES: &[(&str, &str, bool)] = &[
    (
        "get",
        "/api/v1/integrations/gmail/connect",
        cfg!(feature = "gmail"),
    ),
    ("post", "/api/v1/email/send", cfg!(feature = "gmail")),
    (
        "post",
        "/api/v1/webhooks/twilio/sms",
        cfg!(feature = "twilio"),
    ),
    ("post", "/api/v1/sms/send", cfg!(feature = "twilio")),
    ("post", "/api/v1/calls", cfg!(feature = "twilio")),
    (
        "put",
        "/api/v1/integrations/twilio",
        cfg!(feature = "twilio"),
    ),
    ("get", "/api/v1/leads", cfg!(feature = "leads")),
    (
        "post",
        "/api/v1/forms/{public_form_id}/leads",
        cfg!(feature = "leads"),
    ),
    ("get", "/api/v1/webhooks", cfg!(feature = "webhooks")),
    (
        "post",
        "/api/v1/webhook-deliveries/{id}/replay",
        cfg!(feature = "webhooks"),
    ),
];

/// A feature module's routes are served, and documented, exactly when the server is built with
/// it; the rest of the API is there either way.
async fn feature_routes_follow_the_build(app: &TestApp) {
    let (_, owner) = app.create_org("Features").await;
    let doc = app.read("/api/v1/openapi.json", "").await;
    for (method, path, built) in FEATURE_ROUTES {
        let listed = openapi_methods(&doc, path).iter().any(|m| m == method);
        assert_eq!(listed, *built, "{method} {path} documented: {listed}");
        let url = path
            .replace("{public_form_id}", "lf_x")
            .replace("{id}", &uuid::Uuid::now_v7().to_string());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
        let resp = app
            .send_any(app.request(method.clone(), &url, &owner).json(&json!({})))
            .await;
        // Not built: no such route (the fallback's 404), or no such method on a path another
        // module shares (405). A built route may answer 404 for the unknown id it was given.
        let routed = resp.status != 405 && !resp.text.contains("no such route");
        assert_eq!(
            routed, *built,
            "{method} {path} answered {}: {}",
            resp.status, resp.text
        );
    }
    assert!(
        !openapi_methods(&doc, "/api/v1/calls").is_empty(),
        "stored calls are always listed"
    );
}
server_test!(feature_routes_follow_the_build);

/// `path` with every `{param}` replaced by the id of the record of the collection it follows
/// (or by an id of nothing, for collections without a fixture).
fn concrete(path: &str, fixtures: &Fixtures) -> String {
    let mut out = Vec::new();
    let mut previous = "";
    for segment in path.split('/') {
        if segment.starts_with('{') && segment.ends_with('}') {
            // A resource without a fixture gets a well-formed id that names nothing: its
            // "… not found" answer still proves the route exists.
            let id = fixtures
                .id_for(previous)
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            out.push(id);
        } else {
            out.push(segment.to_owned());
        }
        previous = segment;
    }
    out.join("/")
}

async fn every_documented_operation_is_routed(app: &TestApp) {
    let (_, owner) = app.create_org("Routed").await;
    let fixtures = Fixtures::create(app, &owner).await;
    let doc = app.read("/api/v1/openapi.json", "").await;
    let paths = doc["paths"].as_object().expect("paths");
    assert!(
        paths.len() >= ROUTES.len(),
        "the document lists every route: {:?}",
        paths.keys()
    );
    let mut checked = 0;
    // Deletions last, so the other operations see live records.
    let mut operations: Vec<(String, String)> = paths
        .keys()
        .flat_map(|p| {
            openapi_methods(&doc, p)
                .into_iter()
                .map(move |m| (p.clone(), m))
        })
        .collect();
    operations.sort_by_key(|(_, m)| m == "delete");
    for (path, method) in operations {
        let url = concrete(&path, &fixtures);
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("an HTTP method");
        let mut rb = app.request(method.clone(), &url, &owner);
        if method == Method::POST || method == Method::PATCH || method == Method::PUT {
            rb = rb.json(&json!({}));
        }
        // A route whose provider is not configured answers 409; a crash (500) never. Twilio's
        // webhooks answer Twilio a 503 when no auth token can check their signature.
        let resp = app.send_any(rb).await;
        assert!(
            resp.status < 500
                || (resp.status == 503 && path.starts_with("/api/v1/webhooks/twilio/")),
            "{method} {path} ({url}) failed: {} {}",
            resp.status,
            resp.text
        );
        assert_ne!(
            resp.status, 405,
            "{method} {path} is documented but not routed: {}",
            resp.text
        );
        if resp.status == 404 {
            let p: Value = resp.json();
            assert_ne!(
                p["detail"],
                json!("no such route"),
                "{method} {path} ({url}) is documented but falls through to the router fallback"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 40,
        "every documented operation was called ({checked})"
    );
}
server_test!(every_documented_operation_is_routed);

async fn readiness_fails_when_the_database_is_gone(app: &TestApp) {
    assert_eq!(app.get("/readyz", "").await.status, 200);
    // The test shares the server's pools: closing them is the database going away.
    app.store.close().await;
    let ready = app.send_any(app.request(Method::GET, "/readyz", "")).await;
    ready.problem(503);
    let health = app.get("/healthz", "").await;
    assert_eq!(
        health.status, 200,
        "liveness does not depend on the database"
    );
}
server_test!(readiness_fails_when_the_database_is_gone);
