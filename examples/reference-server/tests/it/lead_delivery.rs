//! Routed leads delivered to partners end to end: the lead sender running next to the server
//! (as `workos-server serve` runs it, `AppState::lead_sender`), webhook partners that verify
//! every delivery as a partner would (Standard Webhooks, in Rust and with the official Python
//! package), retries and giving up on the compressed schedule `0,0,0` (three attempts), email
//! partners through the Gmail channel and the fake Google, the signing secret's lifecycle
//! (shown once, rotated, never in reads or events), and tenant isolation.
//!
//! The servers are the webhook tests' (`WORKOS_WEBHOOK_ALLOWED_SUBNETS=127.0.0.0/8,::1/128`,
//! `WORKOS_WEBHOOK_RETRY_SCHEDULE=0,0,0`, `WORKOS_WEBHOOK_TIMEOUT_SECS=5`) and the Gmail tests'
//! (with the same webhook settings). Waits poll the API; the 30 s bound is only a hang guard.

use std::ops::Deref;

use serde_json::{Value, json};
use uuid::Uuid;
use workos_core::tenant::Role;
use workos_leads::LeadSenderHandle;

use crate::gmail::{GmailApp, connect};
use crate::helpers::{Backend, TestApp, email, id_of, openapi_methods, phone_number};
use crate::webhooks::{HookApp, PyReceiver, Sink, eventually, python_verifier_missing};

/// A server (`A`: the webhook or the Gmail one) with a lead sender running over its state.
pub(crate) struct LeadApp<A> {
    app: A,
    sender: Option<LeadSenderHandle>,
}

impl<A> Deref for LeadApp<A> {
    type Target = A;

    fn deref(&self) -> &A {
        &self.app
    }
}

impl<A> Drop for LeadApp<A> {
    fn drop(&mut self) {
        // Before the server (and with it the database) goes.
        drop(self.sender.take());
    }
}

fn with_sender<A: Deref<Target = TestApp>>(app: A) -> LeadApp<A> {
    let sender = app
        .state
        .lead_sender()
        .expect("build the lead sender")
        .spawn();
    LeadApp {
        app,
        sender: Some(sender),
    }
}

async fn spawn_hooks(backend: Backend) -> Option<LeadApp<HookApp>> {
    Some(with_sender(crate::webhooks::spawn(backend).await?))
}

async fn spawn_gmail(backend: Backend) -> Option<LeadApp<GmailApp>> {
    Some(with_sender(crate::gmail::spawn(backend).await?))
}

macro_rules! lead_test {
    ($name:ident) => {
        server_test!(@tests $name, |backend| $crate::lead_delivery::spawn_hooks(backend));
    };
    ($name:ident, gmail) => {
        server_test!(@tests $name, |backend| $crate::lead_delivery::spawn_gmail(backend));
    };
}

/// A partner buying every lead, delivered by webhook to `url`.
fn webhook_partner(name: &str, url: &str) -> Value {
    json!({ "name": name, "delivery": { "kind": "webhook", "url": url }, "price_minor": 2500 })
}

/// Creates a partner; returns it (as GET shows it) and its signing secret, if answered.
async fn partner(app: &TestApp, key: &str, body: Value) -> (Value, Option<String>) {
    let mut p = app.create("/api/v1/partners", key, body).await;
    let secret = p
        .as_object_mut()
        .and_then(|p| p.remove("signing_secret"))
        .and_then(|s| s.as_str().map(str::to_owned));
    (p, secret)
}

/// Captures a lead (routed at once) and returns its only delivery.
async fn routed_lead(app: &TestApp, key: &str) -> (Value, Value) {
    let lead = app
        .create(
            "/api/v1/leads",
            key,
            json!({
                "first_name": "Ann", "last_name": "Lee", "email": email(), "phone": phone_number(),
                "postal_code": "94107", "region": "CA", "country": "US", "vertical": "solar",
                "answers": { "roof": "tile" },
                "consent": { "text": "I agree to be contacted.", "given_at": "2026-11-01T10:00:00Z", "ip": "203.0.113.7" },
                "utm_source": "google", "utm_campaign": "spring", "gclid": "abc123",
            }),
        )
        .await;
    assert_eq!(lead["status"], "routed", "{lead}");
    let deliveries = app
        .read(&format!("/api/v1/leads/{}/deliveries", id_of(&lead)), key)
        .await;
    let d = deliveries["data"][0].clone();
    assert!(d.is_object(), "a delivery: {deliveries}");
    (lead, d)
}

/// Waits until the delivery has `status` after `attempts` attempts, and returns it.
async fn settled(app: &TestApp, key: &str, delivery: &Value, status: &str, attempts: u64) -> Value {
    let path = format!("/api/v1/lead-deliveries/{}", id_of(delivery));
    eventually(
        &format!(
            "delivery {} to be {status} after {attempts}",
            id_of(delivery)
        ),
        async || {
            let d = app.read(&path, key).await;
            if d["status"] == status && d["attempts"] == attempts {
                Ok(d)
            } else {
                assert!(
                    d["attempts"].as_u64().unwrap_or_default() <= attempts,
                    "more attempts than expected: {d}"
                );
                Err(d.to_string())
            }
        },
    )
    .await
}

/// The `webhook-id` of a lead delivery.
fn msg_id(delivery: &Value) -> String {
    let uuid = Uuid::parse_str(&id_of(delivery)).expect("a UUID");
    format!("msg_{}", uuid.simple())
}

/// The org's events of `ty` about `subject`, oldest first.
async fn events(app: &TestApp, key: &str, ty: &str, subject: &str) -> Vec<Value> {
    let page = app
        .read(
            &format!("/api/v1/events?type={ty}&subject_id={subject}"),
            key,
        )
        .await;
    page["data"].as_array().cloned().unwrap_or_default()
}

// -------------------------------------------------------------------------------------------

async fn webhook_partner_gets_a_signed_lead_then_accepts(app: &LeadApp<HookApp>) {
    let (org, owner) = app.create_org("Leads").await;
    let member = app.api_key(org, Role::Member).await;
    let sink = Sink::start(200).await;
    let (p, secret) = partner(app, &owner, webhook_partner("Buyer", &sink.url())).await;
    let secret = secret.expect("a webhook partner's creation answers its signing secret");
    assert!(secret.starts_with("whsec_"), "{secret}");

    let (lead, d) = routed_lead(app, &member).await;
    let delivered = settled(app, &member, &d, "delivered", 1).await;
    assert_eq!(delivered["response"]["status"], 200, "{delivered}");

    // One POST, signed, with the stable id, describing the lead and the sale.
    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let r = &received[0];
    assert_eq!(r.id, msg_id(&d));
    assert_eq!(r.content_type, "application/json");
    r.verify(&secret)
        .expect("the partner verifies the signature");
    let body = r.json();
    assert_eq!(body["type"], "lead.delivery");
    assert_eq!(body["delivery_id"], d["id"]);
    assert_eq!(body["attempt"], 1);
    assert_eq!(
        (&body["price_minor"], &body["currency"]),
        (&json!(2500), &json!("USD"))
    );
    assert_eq!(body["partner"]["id"], p["id"]);
    for field in [
        "id",
        "email",
        "phone",
        "first_name",
        "postal_code",
        "region",
        "vertical",
        "answers",
        "consent",
        "utm_source",
        "utm_campaign",
        "gclid",
    ] {
        assert_eq!(body["lead"][field], lead[field], "lead.{field}: {body}");
    }

    // lead.delivered recorded; the partner's callback now works (409 before sending).
    let ev = events(app, &member, "lead.delivered", &id_of(&d)).await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["data"]["status"], "delivered");
    let accepted = app
        .post(
            &format!("/api/v1/lead-deliveries/{}/accept", id_of(&d)),
            &member,
            &json!({}),
        )
        .await
        .expect(200);
    assert_eq!(accepted["status"], "accepted");
}
lead_test!(webhook_partner_gets_a_signed_lead_then_accepts);

async fn failing_partner_is_retried_then_delivered(app: &LeadApp<HookApp>) {
    let (_org, owner) = app.create_org("Retries").await;
    let sink = Sink::start(200).await;
    sink.fail_next(2);
    let (_, secret) = partner(app, &owner, webhook_partner("Flaky", &sink.url())).await;
    let (_, d) = routed_lead(app, &owner).await;
    let delivered = settled(app, &owner, &d, "delivered", 3).await;
    assert_eq!(delivered["response"]["status"], 200);
    let received = sink.received();
    assert_eq!(received.len(), 3);
    for (i, r) in received.iter().enumerate() {
        assert_eq!(r.id, msg_id(&d), "the same webhook-id on every attempt");
        assert_eq!(r.json()["attempt"], i + 1);
        r.verify(secret.as_deref().unwrap()).expect("signed");
    }
    let failed = events(app, &owner, "lead.delivery_failed", &id_of(&d)).await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    for f in &failed {
        assert_eq!(f["data"]["response"]["status"], 500);
        assert!(f["data"]["next_attempt_at"].is_string(), "{f}");
    }
}
lead_test!(failing_partner_is_retried_then_delivered);

async fn partner_down_for_good_fails_after_the_schedule(app: &LeadApp<HookApp>) {
    let (_org, owner) = app.create_org("Down").await;
    let sink = Sink::start(503).await;
    partner(app, &owner, webhook_partner("Down", &sink.url())).await;
    let (_, d) = routed_lead(app, &owner).await;
    let failed = settled(app, &owner, &d, "failed", 3).await;
    assert_eq!(failed["response"]["status"], 503);
    let events = events(app, &owner, "lead.delivery_failed", &id_of(&d)).await;
    assert_eq!(events.len(), 3);
    assert!(events[2]["data"]["next_attempt_at"].is_null(), "given up");
    assert_eq!(sink.received().len(), 3, "no attempt past the schedule");
    // Not delivered, so not for the partner to accept.
    app.post(
        &format!("/api/v1/lead-deliveries/{}/accept", id_of(&d)),
        &owner,
        &json!({}),
    )
    .await
    .problem(409);

    // A partner that is not listening at all fails the same way.
    let (_, closed) = partner(
        app,
        &owner,
        json!({ "name": "Closed", "delivery": { "kind": "webhook", "url": "http://127.0.0.1:9/x" }, "priority": 5 }),
    )
    .await;
    assert!(closed.is_some());
    let (_, d2) = routed_lead(app, &owner).await;
    let failed = settled(app, &owner, &d2, "failed", 3).await;
    assert_eq!(failed["response"]["error"], "connect", "{failed}");
}
lead_test!(partner_down_for_good_fails_after_the_schedule);

async fn signing_secret_is_shown_once_and_rotates(app: &LeadApp<HookApp>) {
    let (org, _owner) = app.create_org("Secrets").await;
    let admin = app.api_key(org, Role::Admin).await;
    let member = app.api_key(org, Role::Member).await;
    let sink = Sink::start(200).await;
    let (p, old) = partner(app, &admin, webhook_partner("Buyer", &sink.url())).await;
    let old = old.expect("a secret");
    let path = format!("/api/v1/partners/{}", id_of(&p));

    // Never in reads or events.
    let read = app.get(&path, &member).await;
    // A member reads the URL reduced to scheme and host (admins only see it whole).
    let mut as_member = p.clone();
    as_member["delivery"]["url"] = json!(sink.url().replace("/hook", "/[redacted]"));
    assert_eq!(read.json(), as_member);
    assert!(!read.text.contains("whsec_") && !read.text.contains("signing_secret"));
    let list = app.get("/api/v1/partners", &member).await;
    assert!(!list.text.contains("whsec_"), "{}", list.text);
    let patched = app
        .patch(&path, &admin, &json!({ "price_minor": 3000 }))
        .await
        .expect(200);
    assert!(patched.get("signing_secret").is_none(), "{patched}");

    // Rotation: admin only, answered once; the old secret keeps verifying for the grace period.
    let rotate = format!("{path}/rotate-secret");
    app.post(&rotate, &member, &json!({})).await.problem(403);
    app.post(
        &format!("/api/v1/partners/{}/rotate-secret", Uuid::now_v7()),
        &admin,
        &json!({}),
    )
    .await
    .problem(404);
    let rotated = app.post(&rotate, &admin, &json!({})).await.expect(200);
    let new = rotated["signing_secret"]
        .as_str()
        .expect("the new secret")
        .to_owned();
    assert!(new.starts_with("whsec_") && new != old);

    let (_, d) = routed_lead(app, &member).await;
    settled(app, &member, &d, "delivered", 1).await;
    let r = &sink.received()[0];
    assert_eq!(
        r.v1_signatures(),
        2,
        "signed with the new and the old secret"
    );
    r.verify(&new).expect("the new secret verifies");
    r.verify(&old)
        .expect("the old secret verifies during the grace period");

    // Email partners have no secret: none minted, none to rotate; switching to webhook mints one.
    let (mail, none) = partner(
        app,
        &admin,
        json!({ "name": "Mailbox", "delivery": { "kind": "email", "address": "buyer@partner.example" }, "active": false }),
    )
    .await;
    assert!(none.is_none());
    let mail_path = format!("/api/v1/partners/{}", id_of(&mail));
    let refused = app
        .post(&format!("{mail_path}/rotate-secret"), &admin, &json!({}))
        .await;
    refused.problem(409);
    assert!(refused.text.contains("delivery.kind"), "{}", refused.text);
    let switched = app
        .patch(
            &mail_path,
            &admin,
            &json!({ "delivery": { "kind": "webhook", "url": sink.url() } }),
        )
        .await
        .expect(200);
    let minted = switched["signing_secret"]
        .as_str()
        .expect("switching mints a secret");
    assert!(minted.starts_with("whsec_"));

    // No secret in any event of the org.
    let all = app.get("/api/v1/events?limit=200", &admin).await;
    for s in [&old, &new, &minted.to_owned()] {
        assert!(!all.text.contains(s.as_str()), "a secret in the events");
    }
    assert!(!all.text.contains("whsec_"));

    // In the OpenAPI document.
    let doc = app.read("/api/v1/openapi.json", "").await;
    assert!(
        openapi_methods(&doc, "/api/v1/partners/{id}/rotate-secret").contains(&"post".to_owned())
    );
}
lead_test!(signing_secret_is_shown_once_and_rotates);

async fn official_python_verifier_accepts_lead_deliveries(app: &LeadApp<HookApp>) {
    let (_org, owner) = app.create_org("Python").await;
    // Paused until the receiver, which needs the secret, listens.
    let mut body = webhook_partner("Python", "http://127.0.0.1:1/not-yet");
    body["active"] = json!(false);
    let (p, secret) = partner(app, &owner, body).await;
    let secret = secret.expect("a secret");
    let python = match PyReceiver::start(&secret).await {
        Ok(p) => p,
        Err(why) => return python_verifier_missing(&why),
    };
    let url = format!("http://127.0.0.1:{}/leads", python.port);
    let patched = app
        .patch(
            &format!("/api/v1/partners/{}", id_of(&p)),
            &owner,
            &json!({ "delivery": { "kind": "webhook", "url": url }, "active": true }),
        )
        .await
        .expect(200);
    assert!(patched.get("signing_secret").is_none(), "the secret stays");
    let (_, d1) = routed_lead(app, &owner).await;
    let (_, d2) = routed_lead(app, &owner).await;
    for d in [&d1, &d2] {
        let done = settled(app, &owner, d, "delivered", 1).await;
        assert_eq!(
            done["response"]["status"],
            204,
            "the receiver answers 204 only to verified deliveries; its stderr: {}",
            python.stderr()
        );
    }
    let stats = python.stats(&app.client).await;
    assert_eq!(stats["failed"], 0, "{stats}");
    let verified: Vec<String> = stats["verified_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        verified.contains(&msg_id(&d1)) && verified.contains(&msg_id(&d2)),
        "{stats}"
    );
}
lead_test!(official_python_verifier_accepts_lead_deliveries);

async fn deliveries_stay_within_their_org(app: &LeadApp<HookApp>) {
    let (_a, key_a) = app.create_org("A").await;
    let (_b, key_b) = app.create_org("B").await;
    let (sink_a, sink_b) = (Sink::start(200).await, Sink::start(200).await);
    let (pa, secret_a) = partner(app, &key_a, webhook_partner("A's", &sink_a.url())).await;
    let (_, secret_b) = partner(app, &key_b, webhook_partner("B's", &sink_b.url())).await;
    let (secret_a, secret_b) = (secret_a.unwrap(), secret_b.unwrap());
    let (lead_a, da) = routed_lead(app, &key_a).await;
    let (lead_b, db) = routed_lead(app, &key_b).await;
    settled(app, &key_a, &da, "delivered", 1).await;
    settled(app, &key_b, &db, "delivered", 1).await;

    let (ra, rb) = (sink_a.received(), sink_b.received());
    assert_eq!((ra.len(), rb.len()), (1, 1));
    assert_eq!(ra[0].json()["lead"]["id"], lead_a["id"]);
    assert_eq!(rb[0].json()["lead"]["id"], lead_b["id"]);
    ra[0].verify(&secret_a).expect("A's secret");
    assert!(ra[0].verify(&secret_b).is_err(), "not B's");
    rb[0].verify(&secret_b).expect("B's secret");

    // B cannot reach A's partner, its secret or its deliveries.
    let rotate_a = format!("/api/v1/partners/{}/rotate-secret", id_of(&pa));
    app.post(&rotate_a, &key_b, &json!({})).await.problem(404);
    app.get(&format!("/api/v1/lead-deliveries/{}", id_of(&da)), &key_b)
        .await
        .problem(404);
    app.post(
        &format!("/api/v1/lead-deliveries/{}/accept", id_of(&da)),
        &key_b,
        &json!({}),
    )
    .await
    .problem(404);
    assert!(
        events(app, &key_b, "lead.delivered", &id_of(&da))
            .await
            .is_empty()
    );
}
lead_test!(deliveries_stay_within_their_org);

async fn email_partner_gets_the_lead_through_gmail(app: &LeadApp<GmailApp>) {
    let (org, owner) = app.create_org("Mail").await;
    let (_, secret) = partner(
        app,
        &owner,
        json!({ "name": "Mailbox", "delivery": { "kind": "email", "address": "buyer@partner.example" } }),
    )
    .await;
    assert!(secret.is_none(), "email partners have no signing secret");

    // Without a connected mailbox: failed with the reason, retried, then given up.
    let (_, d1) = routed_lead(app, &owner).await;
    let failed = settled(app, &owner, &d1, "failed", 3).await;
    let why = failed["response"]["error"].as_str().unwrap_or_default();
    assert!(why.contains("no connected Gmail account"), "{failed}");
    assert!(app.google.sent().is_empty());

    connect(app, &owner, org).await;
    let (lead, d2) = routed_lead(app, &owner).await;
    let delivered = settled(app, &owner, &d2, "delivered", 1).await;
    assert_eq!(
        delivered["response"]["email"]["to"], "buyer@partner.example",
        "{delivered}"
    );
    let sent = app.google.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].envelope_to, ["buyer@partner.example"]);
    assert_eq!(
        delivered["response"]["email"]["provider_message_id"],
        sent[0].id.as_str()
    );
    let subject = sent[0].header("Subject").join(" ");
    assert!(subject.contains("New lead (solar)"), "{subject}");
    // Recorded as the org's outbound email, its text naming the lead's contact details.
    let emails = app.read("/api/v1/emails?direction=outbound", &owner).await;
    let snippet = emails["data"][0]["snippet"].as_str().unwrap_or_default();
    assert!(
        snippet.contains(lead["email"].as_str().unwrap()),
        "the lead's contact details are in the email: {emails}"
    );
    app.post(
        &format!("/api/v1/lead-deliveries/{}/accept", id_of(&d2)),
        &owner,
        &json!({}),
    )
    .await
    .expect(200);
}
lead_test!(email_partner_gets_the_lead_through_gmail, gmail);
