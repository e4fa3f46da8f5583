//! Capability URLs and custom headers (issue 16): webhook endpoint and partner URLs are shown
//! whole to admins only (everyone else reads `scheme://host/[redacted]`), events never carry
//! them (so another endpoint of the org never receives them), and custom header values are
//! sealed at rest and never shown again, yet sent with every delivery. Endpoints stored before
//! the sealing keep working and are sealed by `WebhookService::seal_plaintext_headers`.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;
use workos_core::tenant::Role;

use crate::helpers::{TestApp, id_of};
use crate::webhooks::{HookApp, Sink, eventually, webhook_test};

/// The secret part of the capability URL and the custom header's value.
const URL_TOKEN: &str = "url-t0ken-4f9c";
const HEADER_VALUE: &str = "hdr-s3cr3t-81ab";

/// `(headers column as text, sealed_headers)` of endpoint `id`, read in the system scope as
/// the engine's own role (RLS applies to the suites' role too).
async fn stored_headers(app: &TestApp, id: &str) -> (String, Option<Vec<u8>>) {
    let id: Uuid = id.parse().expect("a webhook id");
    if let Some(url) = app.postgres_url() {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let mut tx = system_tx(&pool).await;
        let row =
            sqlx::query_as("SELECT headers::text, sealed_headers FROM webhooks WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .expect("the endpoint's row");
        drop(tx);
        pool.close().await;
        row
    } else {
        let pool = sqlx::SqlitePool::connect(app.database_url())
            .await
            .expect("connect");
        let row = sqlx::query_as("SELECT headers, sealed_headers FROM webhooks WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("the endpoint's row");
        pool.close().await;
        row
    }
}

/// Puts endpoint `id` back in the state of a row written before headers were sealed
/// (migration 065): `headers` in plaintext, no `sealed_headers`.
async fn unseal(app: &TestApp, id: &str, headers: &Value) {
    let id: Uuid = id.parse().expect("a webhook id");
    let sql_pg = "UPDATE webhooks SET headers = $1::jsonb, sealed_headers = NULL WHERE id = $2";
    if let Some(url) = app.postgres_url() {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let mut tx = system_tx(&pool).await;
        let done = sqlx::query(sql_pg)
            .bind(headers.to_string())
            .bind(id)
            .execute(&mut *tx)
            .await
            .expect("unseal");
        assert_eq!(done.rows_affected(), 1);
        tx.commit().await.expect("commit");
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(app.database_url())
            .await
            .expect("connect");
        let done =
            sqlx::query("UPDATE webhooks SET headers = $1, sealed_headers = NULL WHERE id = $2")
                .bind(headers.to_string())
                .bind(id)
                .execute(&pool)
                .await
                .expect("unseal");
        assert_eq!(done.rows_affected(), 1);
        pool.close().await;
    }
}

/// A system-scope transaction as the engine's role (Postgres and Citus).
async fn system_tx(pool: &sqlx::PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    pool.begin_with(
        "BEGIN; SET LOCAL ROLE workos_app; SET LOCAL citus.propagate_set_commands = 'local'; \
         SET LOCAL workos.scope = 'system'",
    )
    .await
    .expect("a system transaction")
}

/// Waits until `sink` has received a delivery of event type `ty` and returns them all.
async fn received_of(sink: &Sink, ty: &str) -> Vec<crate::webhooks::Received> {
    eventually(&format!("a {ty} delivery"), async || {
        let all: Vec<_> = sink
            .received()
            .into_iter()
            .filter(|r| r.json()["type"] == ty)
            .collect();
        if all.is_empty() {
            Err(format!("{} other deliveries", sink.received().len()))
        } else {
            Ok(all)
        }
    })
    .await
}

async fn webhook_urls_and_headers_for_admins_only(app: &HookApp) {
    let (org, _) = app.create_org("Capabilities").await;
    let admin = app.api_key(org, Role::Admin).await;
    let member = app.api_key(org, Role::Member).await;
    let viewer = app.api_key(org, Role::Viewer).await;

    // Another receiver of the org, listening to the endpoints' own events.
    let watcher = Sink::start(204).await;
    app.endpoint(
        &admin,
        json!({ "url": watcher.url(), "event_types": ["webhook_endpoint.*"] }),
    )
    .await;

    let sink = Sink::start(204).await;
    let url = format!("{}/{URL_TOKEN}?token={URL_TOKEN}", sink.url());
    let (created, _) = app
        .endpoint(
            &admin,
            json!({ "url": url, "event_types": ["company.created"],
                    "headers": { "X-Api-Token": HEADER_VALUE } }),
        )
        .await;
    let hook = id_of(&created);
    assert_eq!(created["url"], json!(url), "the admin sees the URL whole");
    assert_eq!(
        created["headers"],
        json!({ "X-Api-Token": "[redacted]" }),
        "header values are never shown, not even in the creation answer"
    );
    let redacted_url = sink.url().replace("/hook", "/[redacted]");

    let item = format!("/api/v1/webhooks/{hook}");
    let admin_view = app.read(&item, &admin).await;
    assert_eq!(admin_view["url"], json!(url));
    assert_eq!(
        admin_view["headers"],
        json!({ "X-Api-Token": "[redacted]" })
    );
    for key in [&member, &viewer] {
        for resp in [
            app.get(&item, key).await,
            app.get("/api/v1/webhooks", key).await,
        ] {
            assert_eq!(resp.status, 200, "{}", resp.text);
            assert!(
                !resp.text.contains(URL_TOKEN) && !resp.text.contains(HEADER_VALUE),
                "a non-admin reads no capability: {}",
                resp.text
            );
        }
        assert_eq!(app.read(&item, key).await["url"], json!(redacted_url));
    }

    // A change keeps the headers (sealed, not re-sent) and its event is redacted too.
    app.patch(&item, &admin, &json!({ "description": "renamed" }))
        .await
        .expect(200);

    // Deliveries carry the header's value, opened from its sealed form.
    let (_, event) = app.company(&admin, "Acme").await;
    app.delivery_settled(&hook, &admin, &event, "succeeded")
        .await;
    let got = sink.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0]
            .headers
            .get("x-api-token")
            .and_then(|v| v.to_str().ok()),
        Some(HEADER_VALUE)
    );

    // The endpoint's events, as stored and as fanned out to the other receiver.
    let events = app
        .get(
            "/api/v1/events?type=webhook_endpoint.created,webhook_endpoint.updated&limit=200",
            &admin,
        )
        .await;
    assert_eq!(events.status, 200, "{}", events.text);
    assert!(
        !events.text.contains(URL_TOKEN) && !events.text.contains(HEADER_VALUE),
        "events carry no capability: {}",
        events.text
    );
    for ty in ["webhook_endpoint.created", "webhook_endpoint.updated"] {
        let fanned: Vec<_> = received_of(&watcher, ty).await;
        let about_hook: Vec<Value> = fanned
            .iter()
            .map(crate::webhooks::Received::json)
            .filter(|e| e["data"]["id"] == json!(hook))
            .collect();
        assert_eq!(
            about_hook.len(),
            1,
            "{ty} of the endpoint reached the other receiver"
        );
        assert_eq!(about_hook[0]["data"]["url"], json!(redacted_url));
        for r in &fanned {
            let body = String::from_utf8_lossy(&r.body);
            assert!(
                !body.contains(URL_TOKEN) && !body.contains(HEADER_VALUE),
                "a fanned-out event carries no capability: {body}"
            );
        }
    }

    // At rest: the value only sealed.
    let (names, sealed) = stored_headers(app, &hook).await;
    assert!(
        !names.contains(HEADER_VALUE),
        "plaintext header at rest: {names}"
    );
    let sealed = sealed.expect("the headers are sealed");
    assert!(
        !sealed
            .windows(HEADER_VALUE.len())
            .any(|w| w == HEADER_VALUE.as_bytes()),
        "the sealed form hides the value"
    );
}
webhook_test!(webhook_urls_and_headers_for_admins_only);

async fn stored_plaintext_headers_are_sealed(app: &HookApp) {
    let (org, _) = app.create_org("Legacy headers").await;
    let admin = app.api_key(org, Role::Admin).await;
    let sink = Sink::start(204).await;
    let (created, _) = app
        .endpoint(
            &admin,
            json!({ "url": sink.url(), "event_types": ["company.created"],
                    "headers": { "X-Legacy": "placeholder" } }),
        )
        .await;
    let hook = id_of(&created);
    // As written before migration 065.
    unseal(app, &hook, &json!({ "X-Legacy": HEADER_VALUE })).await;
    assert_eq!(
        app.read(&format!("/api/v1/webhooks/{hook}"), &admin).await["headers"],
        json!({ "X-Legacy": "[redacted]" }),
        "a plaintext value is not shown either"
    );
    let (_, first) = app.company(&admin, "Before").await;
    app.delivery_settled(&hook, &admin, &first, "succeeded")
        .await;

    let sealed = app
        .state
        .webhooks
        .seal_plaintext_headers()
        .await
        .expect("seal the stored headers");
    assert!(sealed >= 1, "the endpoint was converted ({sealed})");
    let (names, blob) = stored_headers(app, &hook).await;
    assert!(blob.is_some(), "sealed now");
    assert!(!names.contains(HEADER_VALUE), "no plaintext left: {names}");
    assert_eq!(
        app.state
            .webhooks
            .seal_plaintext_headers()
            .await
            .expect("again"),
        0,
        "idempotent"
    );

    let (_, second) = app.company(&admin, "After").await;
    app.delivery_settled(&hook, &admin, &second, "succeeded")
        .await;
    let values: Vec<Option<String>> = sink
        .received()
        .iter()
        .map(|r| {
            r.headers
                .get("x-legacy")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        values,
        [Some(HEADER_VALUE.to_owned()), Some(HEADER_VALUE.to_owned())],
        "sent before and after the sealing"
    );
}
webhook_test!(stored_plaintext_headers_are_sealed);

#[cfg(feature = "leads")]
async fn partner_urls_for_admins_only(app: &HookApp) {
    let (org, _) = app.create_org("Partners").await;
    let admin = app.api_key(org, Role::Admin).await;
    let viewer = app.api_key(org, Role::Viewer).await;
    let watcher = Sink::start(204).await;
    app.endpoint(
        &admin,
        json!({ "url": watcher.url(), "event_types": ["partner.*"] }),
    )
    .await;
    let url = format!("http://127.0.0.1:9/catch/{URL_TOKEN}");
    let partner = app
        .create(
            "/api/v1/partners",
            &admin,
            json!({ "name": "Zap", "delivery": { "kind": "webhook", "url": url } }),
        )
        .await;
    let item = format!("/api/v1/partners/{}", id_of(&partner));
    assert_eq!(app.read(&item, &admin).await["delivery"]["url"], json!(url));
    let as_viewer = app.get(&item, &viewer).await;
    assert_eq!(
        as_viewer.expect(200)["delivery"]["url"],
        json!("http://127.0.0.1:9/[redacted]")
    );
    let list = app.get("/api/v1/partners", &viewer).await;
    assert!(!list.text.contains(URL_TOKEN), "{}", list.text);
    app.send(
        app.request(Method::PATCH, &item, &admin)
            .json(&json!({ "priority": 3 })),
    )
    .await
    .expect(200);
    let events = app
        .get(
            "/api/v1/events?type=partner.created,partner.updated",
            &admin,
        )
        .await;
    assert_eq!(events.status, 200, "{}", events.text);
    assert!(events.text.contains("partner.created"), "{}", events.text);
    assert!(!events.text.contains(URL_TOKEN), "{}", events.text);
    for ty in ["partner.created", "partner.updated"] {
        for r in received_of(&watcher, ty).await {
            let body = String::from_utf8_lossy(&r.body);
            assert!(!body.contains(URL_TOKEN), "{body}");
        }
    }
}
#[cfg(feature = "leads")]
webhook_test!(partner_urls_for_admins_only);

async fn attempt_bodies_for_admins_only(app: &HookApp) {
    const REPLY: &str = "receiver-reply-5ecret";
    let (org, _) = app.create_org("Replies").await;
    let admin = app.api_key(org, Role::Admin).await;
    let viewer = app.api_key(org, Role::Viewer).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let addr = listener.local_addr().expect("its address");
    let receiver = tokio::spawn(async move {
        let router = axum::Router::new().fallback(|| async { REPLY });
        let _ = axum::serve(listener, router).await;
    });
    let (hook, _) = app
        .endpoint(
            &admin,
            json!({ "url": format!("http://{addr}/hook"), "event_types": ["company.created"] }),
        )
        .await;
    let hook = id_of(&hook);
    let (_, event) = app.company(&admin, "Echo").await;
    let delivery = app
        .delivery_settled(&hook, &admin, &event, "succeeded")
        .await;
    let delivery = id_of(&delivery);
    let as_admin = app.attempts(&delivery, &admin).await;
    assert_eq!(as_admin[0]["response_body"], json!(REPLY));
    let as_viewer = app.attempts(&delivery, &viewer).await;
    assert_eq!(as_viewer.len(), 1);
    assert!(as_viewer[0]["response_body"].is_null(), "{as_viewer:?}");
    receiver.abort();
}
webhook_test!(attempt_bodies_for_admins_only);
