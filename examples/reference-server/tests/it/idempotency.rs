//! `Idempotency-Key` on POST.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use axum::{Json, Router, middleware};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;
use workos_core::repo::{IdempotencyRepo as _, IdempotencyState};
use workos_core::tenant::{Role, TenantContext};

use crate::helpers::{Resp, TestApp, ids_in};

async fn post_with_key(
    app: &TestApp,
    path: &str,
    key: &str,
    idempotency_key: &str,
    body: &Value,
) -> Resp {
    app.send(
        app.request(Method::POST, path, key)
            .header("idempotency-key", idempotency_key)
            .json(body),
    )
    .await
}

async fn a_retry_gets_the_first_answer(app: &TestApp) {
    let (_, key) = app.create_org("Idempotent").await;
    let body = json!({ "name": "Once Inc", "domain": "once.example" });
    let first = post_with_key(app, "/api/v1/companies", &key, "create-once-1", &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let retry = post_with_key(app, "/api/v1/companies", &key, "create-once-1", &body).await;
    assert_eq!(
        retry.status, 201,
        "the retry answers the same status: {}",
        retry.text
    );
    assert_eq!(
        retry.json(),
        first.json(),
        "the retry answers the same body"
    );
    assert!(first.header("location").is_some());
    assert_eq!(
        retry.header("location"),
        first.header("location"),
        "and the same Location"
    );
    assert!(
        retry
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "the replay is JSON like the original"
    );
    let third = post_with_key(app, "/api/v1/companies", &key, "create-once-1", &body).await;
    assert_eq!(third.json(), first.json());

    let list = app.read("/api/v1/companies", &key).await;
    assert_eq!(
        ids_in(&list),
        vec![first.json()["id"].as_str().expect("id").to_owned()],
        "only one record was created"
    );
    let events = app.read("/api/v1/events?type=company.created", &key).await;
    assert_eq!(ids_in(&events).len(), 1, "and only one event was written");
}
server_test!(a_retry_gets_the_first_answer);

async fn the_same_key_with_another_body_is_refused(app: &TestApp) {
    let (_, key) = app.create_org("Mismatch").await;
    let first = post_with_key(
        app,
        "/api/v1/companies",
        &key,
        "k-1",
        &json!({ "name": "First" }),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let other = post_with_key(
        app,
        "/api/v1/companies",
        &key,
        "k-1",
        &json!({ "name": "Second" }),
    )
    .await;
    let p = other.problem(422);
    assert!(
        p.to_string().contains("Idempotency-Key"),
        "the problem names the header: {p}"
    );
    // Another path with the same key is another request, too.
    let elsewhere = post_with_key(
        app,
        "/api/v1/people",
        &key,
        "k-1",
        &json!({ "name": "First" }),
    )
    .await;
    elsewhere.problem(422);
    assert_eq!(
        ids_in(&app.read("/api/v1/companies", &key).await).len(),
        1,
        "nothing more was created"
    );
    assert!(ids_in(&app.read("/api/v1/people", &key).await).is_empty());
}
server_test!(the_same_key_with_another_body_is_refused);

async fn different_keys_are_different_requests(app: &TestApp) {
    let (_, key) = app.create_org("Distinct").await;
    let body = json!({ "name": "Twice" });
    let a = post_with_key(app, "/api/v1/companies", &key, "key-a", &body).await;
    let b = post_with_key(app, "/api/v1/companies", &key, "key-b", &body).await;
    assert_eq!((a.status, b.status), (201, 201), "{} / {}", a.text, b.text);
    assert_ne!(a.json()["id"], b.json()["id"]);
    let plain = app.post("/api/v1/companies", &key, &body).await;
    assert_eq!(plain.status, 201, "no key, no deduplication");
    assert_eq!(
        ids_in(&app.read("/api/v1/companies", &key).await).len(),
        3,
        "three records"
    );

    // Keys are scoped to the org: another org's identical request is its own.
    let (_, other_org) = app.create_org("Other").await;
    let c = post_with_key(app, "/api/v1/companies", &other_org, "key-a", &body).await;
    assert_eq!(c.status, 201, "{}", c.text);
    assert_ne!(
        c.json()["id"],
        a.json()["id"],
        "another org's request is not answered from this org's"
    );
    assert_ne!(c.json()["org_id"], a.json()["org_id"]);
    assert_eq!(
        ids_in(&app.read("/api/v1/companies", &other_org).await).len(),
        1
    );
}
server_test!(different_keys_are_different_requests);

async fn failed_requests_replay_and_keys_are_checked(app: &TestApp) {
    let (_, key) = app.create_org("Replay errors").await;
    // A client error is the answer for good: the retry gets it again and creates nothing.
    let invalid = json!({ "name": "" });
    let first = post_with_key(app, "/api/v1/companies", &key, "bad-1", &invalid).await;
    first.invalid_field("name");
    let again = post_with_key(app, "/api/v1/companies", &key, "bad-1", &invalid).await;
    again.invalid_field("name");
    assert_eq!(again.json(), first.json());
    assert!(ids_in(&app.read("/api/v1/companies", &key).await).is_empty());

    post_with_key(app, "/api/v1/companies", &key, "", &json!({ "name": "x" }))
        .await
        .invalid_field("Idempotency-Key");
    post_with_key(
        app,
        "/api/v1/companies",
        &key,
        &"k".repeat(256),
        &json!({ "name": "x" }),
    )
    .await
    .invalid_field("Idempotency-Key");
    assert!(
        ids_in(&app.read("/api/v1/companies", &key).await).is_empty(),
        "refused keys create nothing"
    );
    // The key is ignored on other methods.
    let c = app
        .create("/api/v1/companies", &key, json!({ "name": "C" }))
        .await;
    let path = format!("/api/v1/companies/{}", c["id"].as_str().expect("id"));
    for name in ["One", "Two"] {
        let r = app
            .send(
                app.request(Method::PATCH, &path, &key)
                    .header("idempotency-key", "patch-1")
                    .json(&json!({ "name": name })),
            )
            .await;
        assert_eq!(r.json()["name"], json!(name), "PATCH is not deduplicated");
    }
}
server_test!(failed_requests_replay_and_keys_are_checked);

async fn concurrent_retries_create_one_record(app: &TestApp) {
    let (_, key) = app.create_org("Concurrent").await;
    let body = json!({ "name": "Raced" });
    let send = || post_with_key(app, "/api/v1/companies", &key, "race-1", &body);
    let (a, b, c, d, e) = tokio::join!(send(), send(), send(), send(), send());
    let answers = [a, b, c, d, e];
    let created: Vec<Value> = answers
        .iter()
        .filter(|r| r.status == 201)
        .map(Resp::json)
        .collect();
    assert!(!created.is_empty(), "one of the requests ran");
    assert!(
        created.iter().all(|c| c == &created[0]),
        "every 201 is the same answer: {created:?}"
    );
    for r in answers.iter().filter(|r| r.status != 201) {
        // A retry that arrives while the first is still running is told so.
        r.problem(409);
    }
    assert_eq!(
        ids_in(&app.read("/api/v1/companies", &key).await),
        vec![created[0]["id"].as_str().expect("id").to_owned()],
        "exactly one record, whatever the interleaving"
    );
}
server_test!(concurrent_retries_create_one_record);

async fn api_key_secrets_are_not_kept_for_replay(app: &TestApp) {
    let (_, key) = app.create_org("Secret replay").await;
    let body = json!({ "name": "ci", "role": "viewer" });
    let first = post_with_key(app, "/api/v1/api-keys", &key, "key-once", &body).await;
    let created = first.expect(201);
    let secret = created["api_key"]
        .as_str()
        .expect("the secret, once")
        .to_owned();
    app.read("/api/v1/companies", &secret).await;
    // Only the key's hash may be stored; a response kept for replay would keep the secret.
    let retry = post_with_key(app, "/api/v1/api-keys", &key, "key-once", &body).await;
    assert!(
        !retry.text.contains(&secret),
        "a retried api-key creation must not answer the stored secret (it would be kept in \
         plaintext with the idempotent response): {}",
        retry.text
    );
}
server_test!(api_key_secrets_are_not_kept_for_replay);

async fn idempotent_answers_are_only_replayed_to_their_caller(app: &TestApp) {
    let (org, owner) = app.create_org("Scoped keys").await;
    let admin = app.api_key(org, Role::Admin).await;
    let member = app.api_key(org, Role::Member).await;
    let body = json!({ "name": "deploy", "role": "admin" });
    let created = post_with_key(app, "/api/v1/api-keys", &admin, "deploy-key", &body).await;
    let secret = created.expect(201)["api_key"]
        .as_str()
        .expect("secret")
        .to_owned();
    // A member may not create keys; the same Idempotency-Key must not hand it the admin's answer.
    let replayed = post_with_key(app, "/api/v1/api-keys", &member, "deploy-key", &body).await;
    assert!(
        !replayed.text.contains(&secret),
        "a member got an admin key's secret by reusing the admin's Idempotency-Key: {}",
        replayed.text
    );
    replayed.problem(403);
    // The same holds for CRM records: another caller's retry is its own request.
    let company = json!({ "name": "Shared" });
    let first = post_with_key(app, "/api/v1/companies", &owner, "same-key", &company).await;
    let second = post_with_key(app, "/api/v1/companies", &member, "same-key", &company).await;
    assert_eq!(
        (first.status, second.status),
        (201, 201),
        "{} / {}",
        first.text,
        second.text
    );
    assert_ne!(
        first.json()["id"],
        second.json()["id"],
        "two callers' requests are two requests"
    );
}
server_test!(idempotent_answers_are_only_replayed_to_their_caller);

// -------------------------------------------------------------------------------------------
// Reservations that never finished: a client that went away, a handler that panicked, a
// process that died (the lease lapsed), and the purge of old keys.

/// What the test route does on its next call.
#[derive(Clone)]
enum Next {
    /// Answers 201 with how many calls it has seen.
    Answer,
    /// Panics.
    Panic,
    /// Says it started, then never finishes.
    Hang(Arc<Notify>),
}

/// A server with the real authentication and idempotency middleware (and the panic catcher)
/// around one test route, `POST /api/v1/flaky`, scripted by `script`.
async fn flaky_server(app: &TestApp, script: Arc<Mutex<VecDeque<Next>>>) -> String {
    let calls = Arc::new(AtomicUsize::new(0));
    let handler = move || {
        let (script, calls) = (script.clone(), calls.clone());
        async move {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            let next = script
                .lock()
                .expect("script")
                .pop_front()
                .unwrap_or(Next::Answer);
            match next {
                Next::Answer => (StatusCode::CREATED, Json(json!({ "call": n }))).into_response(),
                Next::Panic => panic!("the handler broke"),
                Next::Hang(started) => {
                    started.notify_one();
                    std::future::pending::<Response>().await
                }
            }
        }
    };
    let state = app.state.clone();
    let router = Router::new()
        .route("/api/v1/flaky", post(handler))
        .route_layer(middleware::from_fn_with_state(
            state.idempotency.clone(),
            workos_reference_server::idempotency::idempotency,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.authn.clone(),
            workos_reference_server::auth::authenticate,
        ))
        .with_state(state)
        .layer(CatchPanicLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let url = format!(
        "http://{}/api/v1/flaky",
        listener.local_addr().expect("address")
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn post_flaky(app: &TestApp, url: &str, key: &str, idempotency_key: &str) -> Resp {
    app.send_any(
        app.client
            .post(url)
            .bearer_auth(key)
            .header("idempotency-key", idempotency_key)
            .json(&json!({ "n": 1 })),
    )
    .await
}

async fn a_panicked_request_can_be_retried(app: &TestApp) {
    let (_, key) = app.create_org("Panics").await;
    let script = Arc::new(Mutex::new(VecDeque::from([Next::Panic])));
    let url = flaky_server(app, script).await;
    let first = post_flaky(app, &url, &key, "panic-1").await;
    assert_eq!(first.status, 500, "{}", first.text);
    let retry = post_flaky(app, &url, &key, "panic-1").await;
    assert_eq!(
        retry.status, 201,
        "the retry runs, not a 409: {}",
        retry.text
    );
    assert_eq!(retry.json()["call"], json!(2));
    let replay = post_flaky(app, &url, &key, "panic-1").await;
    assert_eq!(replay.status, 201);
    assert_eq!(
        replay.json(),
        retry.json(),
        "and is then kept as the answer"
    );
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
}
server_test!(a_panicked_request_can_be_retried);

async fn a_request_the_client_dropped_can_be_retried(app: &TestApp) {
    let (_, key) = app.create_org("Disconnects").await;
    let started = Arc::new(Notify::new());
    let script = Arc::new(Mutex::new(VecDeque::from([Next::Hang(started.clone())])));
    let url = flaky_server(app, script).await;
    let request = app
        .client
        .post(&url)
        .bearer_auth(&key)
        .header("idempotency-key", "gone-1")
        .json(&json!({ "n": 1 }))
        .send();
    let client = tokio::spawn(request);
    started.notified().await;
    // The client goes away mid-request: its connection closes.
    client.abort();
    let _ = client.await;
    // The server notices the closed connection and frees the key from a task of its own; until
    // then a retry is a 409. Poll (bounded) for the retry to run.
    let mut retry = post_flaky(app, &url, &key, "gone-1").await;
    for _ in 0..400 {
        if retry.status != 409 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        retry = post_flaky(app, &url, &key, "gone-1").await;
    }
    assert_eq!(retry.status, 201, "the retry runs: {}", retry.text);
    assert_eq!(retry.json()["call"], json!(2));
}
server_test!(a_request_the_client_dropped_can_be_retried);

/// A reservation left by a process that died (its lease lapsed) is taken over by the retry; a
/// live one still answers 409.
async fn a_lapsed_reservation_is_taken_over(app: &TestApp) {
    let (org, owner) = app.create_org("Leases").await;
    let user = app.add_member(&owner, "member").await;
    let jwt = app.jwt(user);
    let ctx = TenantContext::system(org, "test");
    let body = |k: &str| json!({ "name": format!("Lease {k}") });
    // The keys and fingerprints as the middleware stores them for this caller and request.
    let stored_key = |k: &str| format!("user:{user}:{k}");
    let fingerprint = |k: &str| {
        let mut hash = Sha256::new();
        // Inside the `/api/v1` nest the middleware sees the path without the prefix.
        hash.update(b"/companies");
        hash.update([0]);
        hash.update(serde_json::to_vec(&body(k)).expect("JSON"));
        hash.finalize().to_vec()
    };
    for (k, lease) in [("lapsed", 0), ("live", 3600)] {
        let state = app
            .store
            .reserve_idempotent(
                &ctx,
                &stored_key(k),
                &fingerprint(k),
                std::time::Duration::from_secs(lease),
            )
            .await
            .expect("reserve");
        assert_eq!(state, IdempotencyState::Reserved);
    }
    let post = |k: &'static str| {
        app.send(
            app.user_request(Method::POST, "/api/v1/companies", &jwt, org)
                .header("idempotency-key", k)
                .json(&body(k)),
        )
    };
    let taken = post("lapsed").await;
    assert_eq!(
        taken.status, 201,
        "the lapsed lease is taken over: {}",
        taken.text
    );
    let replay = post("lapsed").await;
    assert_eq!(
        replay.json(),
        taken.json(),
        "and the key now holds this answer"
    );
    post("live").await.problem(409);
    assert_eq!(
        ids_in(&app.read("/api/v1/companies", &owner).await).len(),
        1
    );
}
server_test!(a_lapsed_reservation_is_taken_over);

/// Old keys are purged (completed ones and lapsed reservations), live reservations are kept.
async fn old_keys_are_purged(app: &TestApp) {
    let (org, key) = app.create_org("Purge").await;
    let ctx = TenantContext::system(org, "test");
    for k in ["old-1", "old-2"] {
        let r = post_with_key(app, "/api/v1/companies", &key, k, &json!({ "name": k })).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let live = app
        .store
        .reserve_idempotent(&ctx, "live", b"f", std::time::Duration::from_secs(3600))
        .await
        .expect("reserve");
    assert_eq!(live, IdempotencyState::Reserved);
    let purged = app
        .store
        .purge_idempotent(&ctx, std::time::Duration::ZERO)
        .await
        .expect("purge");
    assert_eq!(purged, 2, "the two completed keys");
    assert_eq!(
        app.store
            .purge_idempotent(&ctx, std::time::Duration::ZERO)
            .await
            .expect("purge"),
        0
    );
    // A purged key is free again: another body is a new request, not a 422.
    let again = post_with_key(
        app,
        "/api/v1/companies",
        &key,
        "old-1",
        &json!({ "name": "new body" }),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.json()["name"], json!("new body"));
    assert_eq!(
        app.store
            .reserve_idempotent(&ctx, "live", b"f", std::time::Duration::from_secs(3600))
            .await
            .expect("reserve"),
        IdempotencyState::InProgress,
        "the live reservation was kept"
    );
}
server_test!(old_keys_are_purged);
