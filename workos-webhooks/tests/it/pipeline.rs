//! The delivery pipeline end to end: CRM writes → event log → dispatcher → worker → a real HTTP
//! receiver on 127.0.0.1, and every attempt recorded in the store. Waits are bounded by a hang
//! guard only; nothing asserts on timing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use workos_core::domain::{CompanyPatch, DeliveryStatus, NewPerson};
use workos_core::events::{EventLog as _, types};
use workos_core::ids::WebhookDeliveryId;
use workos_core::repo::{CompanyRepo, PersonRepo, WebhookRepo};
use workos_store::SqlStore;
use workos_webhooks::sender::{MAX_RESPONSE_BODY, USER_AGENT};
use workos_webhooks::service::WebhookService;
use workos_webhooks::ssrf::SsrfGuard;
use workos_webhooks::worker::{Dispatcher, message_id};

use crate::common::{HANG_GUARD, Harness, Receiver, Reply, closed_port, new_webhook, wait_until};

fn succeeded(d: &workos_core::domain::WebhookDelivery) -> bool {
    d.status == DeliveryStatus::Succeeded
}

fn failed(d: &workos_core::domain::WebhookDelivery) -> bool {
    d.status == DeliveryStatus::Failed
}

/// Endpoints get exactly the events their filters match, as the JSON of the event, signed,
/// with their custom headers and a `webhook-id` naming the delivery.
async fn delivers_matching_events_signed(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(vec![], Reply::ok()).await;
    let (companies, company_secret) = h.endpoint(&rx.url("/companies"), &["company.*"]).await;
    let (people, people_secret) = h.endpoint(&rx.url("/people"), &["person.created"]).await;

    let acme = h.company("Acme").await;
    h.company("Globex").await;
    h.store
        .update_company(
            &h.ctx,
            acme.id,
            CompanyPatch {
                name: Some("Acme Inc".into()),
                ..CompanyPatch::default()
            },
        )
        .await
        .unwrap();
    h.store
        .create_person(
            &h.ctx,
            NewPerson {
                first_name: Some("Ada".into()),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    let company_events = h
        .events(&[types::COMPANY_CREATED, types::COMPANY_UPDATED])
        .await;
    let person_events = h.events(&[types::PERSON_CREATED]).await;
    assert_eq!(company_events.len(), 3);
    assert_eq!(person_events.len(), 1);

    let pipeline = h.spawn(Harness::config("0,0,0"));
    let company_deliveries = h
        .wait_deliveries(companies.id, 3, "company deliveries", succeeded)
        .await;
    let person_deliveries = h
        .wait_deliveries(people.id, 1, "person delivery", succeeded)
        .await;
    pipeline.shutdown().await;

    let received = rx.requests();
    assert_eq!(received.len(), 4, "{received:#?}");
    for (path, events, deliveries, secret) in [
        (
            "/companies",
            &company_events,
            &company_deliveries,
            &company_secret,
        ),
        (
            "/people",
            &person_events,
            &person_deliveries,
            &people_secret,
        ),
    ] {
        let got: Vec<_> = received.iter().filter(|r| r.path == path).collect();
        let got_ids: BTreeSet<_> = got.iter().map(|r| r.event().id).collect();
        let expected_ids: BTreeSet<_> = events.iter().map(|e| e.id).collect();
        assert_eq!(got.len(), events.len(), "{path}: one request per event");
        assert_eq!(got_ids, expected_ids, "{path}: exactly the matching events");
        for r in got {
            let event = r.event();
            assert_eq!(
                Some(&event),
                events.iter().find(|e| e.id == event.id),
                "the body is the event"
            );
            let delivery = deliveries
                .iter()
                .find(|d| d.event_id == event.id)
                .expect("a delivery per event");
            assert_eq!(r.header("webhook-id"), message_id(delivery.id));
            r.verify(secret).expect("the signature verifies");
            assert_eq!(r.header("content-type"), "application/json");
            assert_eq!(r.header("user-agent"), USER_AGENT);
            assert_eq!(r.header("x-tenant"), "acme");
            assert_eq!(delivery.attempts, 1);
            assert_eq!(delivery.last_status_code, Some(200));
            assert_eq!(delivery.next_attempt_at, None);
        }
    }
    // Each endpoint's secret signs only its own deliveries.
    let person_request = received.iter().find(|r| r.path == "/people").unwrap();
    assert!(person_request.verify(&company_secret).is_err());
}
store_test!(delivers_matching_events_signed);

/// A receiver failing twice then answering 200 gets exactly three attempts with one
/// `webhook-id`; the failures' bodies are kept, capped at 4 KiB.
async fn retries_until_success(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(
        vec![
            Reply::status(500).body("x".repeat(10_000)),
            Reply::status(503),
        ],
        Reply::ok().body("thanks"),
    )
    .await;
    let (hook, secret) = h.endpoint(&rx.url("/"), &["company.*"]).await;
    h.company("Acme").await;

    let pipeline = h.spawn(Harness::config("0,0,0,0"));
    let d = h
        .wait_deliveries(hook.id, 1, "success after retries", succeeded)
        .await
        .remove(0);
    pipeline.shutdown().await;

    let received = rx.requests();
    assert_eq!(received.len(), 3);
    let ids: BTreeSet<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids, BTreeSet::from([message_id(d.id).as_str()]));
    for r in &received {
        r.verify(&secret).expect("every attempt is signed");
        assert_eq!(r.body, received[0].body, "the same body every time");
    }
    assert_eq!(d.attempts, 3);
    assert_eq!(d.last_status_code, Some(200));

    let attempts = h.attempts(d.id).await;
    let codes: Vec<_> = attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(503), Some(200)]);
    assert_eq!(
        attempts[0].response_body.as_deref(),
        Some("x".repeat(MAX_RESPONSE_BODY).as_str())
    );
    assert_eq!(attempts[1].response_body, None);
    assert_eq!(attempts[2].response_body.as_deref(), Some("thanks"));
    assert!(attempts[0].next_attempt_at.is_some() && attempts[1].next_attempt_at.is_some());
    assert_eq!(attempts[2].next_attempt_at, None);
    assert!(attempts.iter().all(|a| a.error_kind.is_none()));
    let webhook = h.store.get_webhook(&h.ctx, hook.id).await.unwrap();
    assert_eq!(
        webhook.failing_since, None,
        "a success clears failing_since"
    );
}
store_test!(retries_until_success);

/// A receiver that is down for good: the delivery is dead-lettered once the schedule is used
/// up, every attempt recorded with its error kind.
async fn dead_letters_after_the_schedule(store: &SqlStore) {
    let h = Harness::new(store).await;
    let port = closed_port().await;
    let (hook, _) = h
        .endpoint(&format!("http://127.0.0.1:{port}/"), &["company.*"])
        .await;
    h.company("Acme").await;

    let pipeline = h.spawn(Harness::config("0,0,0"));
    let d = h
        .wait_deliveries(hook.id, 1, "dead letter", failed)
        .await
        .remove(0);
    pipeline.shutdown().await;

    assert_eq!(d.attempts, 3);
    assert_eq!(d.next_attempt_at, None);
    assert_eq!(d.last_status_code, None);
    let attempts = h.attempts(d.id).await;
    assert_eq!(attempts.len(), 3);
    for a in &attempts {
        assert_eq!(a.error_kind.as_deref(), Some("connect"), "{a:?}");
        assert_eq!(a.status_code, None);
    }
    let next: Vec<bool> = attempts
        .iter()
        .map(|a| a.next_attempt_at.is_some())
        .collect();
    assert_eq!(next, [true, true, false]);
    let webhook = h.store.get_webhook(&h.ctx, hook.id).await.unwrap();
    assert!(webhook.failing_since.is_some());
    assert!(webhook.enabled, "failing for minutes does not disable");
}
store_test!(dead_letters_after_the_schedule);

/// 410 Gone disables the endpoint (reason `gone`) with a `webhook_endpoint.disabled` event;
/// later events are not fanned out to it.
async fn gone_disables_the_endpoint(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(vec![], Reply::status(410)).await;
    let (hook, _) = h.endpoint(&rx.url("/"), &["company.*"]).await;
    h.company("Acme").await;

    let config = Harness::config("0,0,0");
    let pipeline = h.spawn(config.clone());
    let d = h
        .wait_deliveries(hook.id, 1, "gone", failed)
        .await
        .remove(0);
    pipeline.shutdown().await;

    assert_eq!(d.attempts, 1);
    assert_eq!(d.last_status_code, Some(410));
    assert_eq!(rx.requests().len(), 1);
    let webhook = h.store.get_webhook(&h.ctx, hook.id).await.unwrap();
    assert!(!webhook.enabled);
    assert_eq!(webhook.disabled_reason.as_deref(), Some("gone"));
    let disabled = h.events(&[types::WEBHOOK_ENDPOINT_DISABLED]).await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].subject.id, hook.id.as_uuid());
    assert_eq!(disabled[0].data["reason"], "gone");

    h.company("Later").await;
    // On Postgres a committed event becomes readable once no older transaction (of any
    // database of the cluster) is still running: dispatch until it is read.
    let dispatcher = Dispatcher::new(h.store.clone(), &config);
    let mut deliveries = 0;
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            let stats = dispatcher.run_once().await.unwrap();
            deliveries += stats.deliveries;
            if stats.events > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .expect("the later event is dispatched");
    assert_eq!(deliveries, 0, "a disabled endpoint gets no deliveries");
    assert_eq!(h.deliveries(hook.id).await.len(), 1);
}
store_test!(gone_disables_the_endpoint);

/// An endpoint failing longer than `failing_disable_after` is disabled (reason `failing`).
async fn failing_too_long_disables_the_endpoint(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(vec![], Reply::status(500)).await;
    let (hook, _) = h.endpoint(&rx.url("/"), &["company.*"]).await;
    h.company("Acme").await;

    let mut config = Harness::config("0,0,0");
    config.failing_disable_after = Duration::ZERO;
    let pipeline = h.spawn(config);
    wait_until("the endpoint disabled", || async {
        !h.store.get_webhook(&h.ctx, hook.id).await.unwrap().enabled
    })
    .await;
    pipeline.shutdown().await;

    let webhook = h.store.get_webhook(&h.ctx, hook.id).await.unwrap();
    assert_eq!(webhook.disabled_reason.as_deref(), Some("failing"));
    let d = h.delivery(hook.id).await;
    assert_eq!(
        d.status,
        DeliveryStatus::Retrying,
        "resumes when re-enabled"
    );
    assert_eq!(d.attempts, 1);
    assert_eq!(rx.requests().len(), 1);
    let disabled = h.events(&[types::WEBHOOK_ENDPOINT_DISABLED]).await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].data["reason"], "failing");
}
store_test!(failing_too_long_disables_the_endpoint);

/// The event-type filter `company.*` excludes `person.created`.
async fn filter_excludes_other_types(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(vec![], Reply::ok()).await;
    let (companies, _) = h.endpoint(&rx.url("/companies"), &["company.*"]).await;
    let (everything, _) = h
        .endpoint(&rx.url("/all"), &["person.*", "company.*"])
        .await;
    h.store
        .create_person(
            &h.ctx,
            NewPerson {
                first_name: Some("Ada".into()),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    h.company("Acme").await;

    let pipeline = h.spawn(Harness::config("0"));
    h.wait_deliveries(everything.id, 2, "deliveries to /all", succeeded)
        .await;
    h.wait_deliveries(companies.id, 1, "delivery to /companies", succeeded)
        .await;
    pipeline.shutdown().await;

    let types_at = |path: &str| -> BTreeSet<String> {
        rx.requests()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.event().event_type)
            .collect()
    };
    assert_eq!(
        types_at("/companies"),
        BTreeSet::from([types::COMPANY_CREATED.to_owned()])
    );
    assert_eq!(
        types_at("/all"),
        BTreeSet::from([
            types::COMPANY_CREATED.to_owned(),
            types::PERSON_CREATED.to_owned()
        ])
    );
}
store_test!(filter_excludes_other_types);

/// Replay sends a delivered delivery again, with the same `webhook-id` and body.
async fn replay_resends(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(vec![], Reply::ok()).await;
    let (hook, secret) = h.endpoint(&rx.url("/"), &["company.*"]).await;
    h.company("Acme").await;

    let pipeline = h.spawn(Harness::config("0"));
    let d = h
        .wait_deliveries(hook.id, 1, "first delivery", succeeded)
        .await
        .remove(0);
    let replayed = h.store.replay_delivery(&h.ctx, d.id).await.unwrap();
    assert_eq!(replayed.status, DeliveryStatus::Pending);
    let d = h
        .wait_deliveries(hook.id, 1, "replayed delivery", |d| {
            succeeded(d) && d.attempts == 2
        })
        .await
        .remove(0);
    pipeline.shutdown().await;

    let received = rx.requests();
    assert_eq!(received.len(), 2);
    for r in &received {
        assert_eq!(r.header("webhook-id"), message_id(d.id));
        assert_eq!(r.body, received[0].body);
        r.verify(&secret).unwrap();
    }
    assert_eq!(h.attempts(d.id).await.len(), 2);
}
store_test!(replay_resends);

/// After a rotation deliveries are signed with the new and the old secret, and each verifies;
/// after the grace period only the new one is valid.
async fn rotation_signs_with_old_and_new_secrets(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(vec![], Reply::ok()).await;
    let (hook, old) = h.endpoint(&rx.url("/"), &["company.*"]).await;
    let new = h.service.rotate_secret(&h.ctx, hook.id).await.unwrap();
    assert_ne!(old.expose(), new.expose());
    h.company("Acme").await;

    let pipeline = h.spawn(Harness::config("0"));
    h.wait_deliveries(hook.id, 1, "delivery", succeeded).await;
    pipeline.shutdown().await;

    let received = rx.requests();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    r.verify(&old)
        .expect("the old secret verifies during the grace period");
    r.verify(&new).expect("the new secret verifies");
    assert_eq!(r.header("webhook-signature").split(' ').count(), 2);

    let org = h.ctx.org_id();
    let sealed = h.store.webhook_secrets(&h.ctx, hook.id).await.unwrap();
    let now = Utc::now();
    let exposed = |secrets: Vec<workos_webhooks::signing::WebhookSecret>| -> Vec<String> {
        secrets.iter().map(|s| s.expose().to_owned()).collect()
    };
    assert_eq!(
        exposed(h.service.open_secrets(org, &sealed, now).unwrap()),
        [new.expose(), old.expose()]
    );
    assert_eq!(
        exposed(
            h.service
                .open_secrets(org, &sealed, now + chrono::Duration::hours(25))
                .unwrap()
        ),
        [new.expose()]
    );

    // With no grace period, replaced secrets stop at once.
    let strict = WebhookService::new(h.store.clone(), h.cipher.clone(), SsrfGuard::default())
        .with_grace_period(Duration::ZERO);
    let newest = strict.rotate_secret(&h.ctx, hook.id).await.unwrap();
    let sealed = h.store.webhook_secrets(&h.ctx, hook.id).await.unwrap();
    assert_eq!(
        exposed(strict.open_secrets(org, &sealed, Utc::now()).unwrap()),
        [newest.expose()]
    );
}
store_test!(rotation_signs_with_old_and_new_secrets);

/// The worker checks the destination again before sending: without the allow-list the
/// loopback receiver is refused (`blocked`) and never contacted.
async fn blocked_at_send_time(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(vec![], Reply::ok()).await;
    let (hook, _) = h.endpoint(&rx.url("/"), &["company.*"]).await;
    h.company("Acme").await;

    let mut config = Harness::config("0");
    config.allowed_subnets = SsrfGuard::default();
    let pipeline = h.spawn(config);
    let d = h
        .wait_deliveries(hook.id, 1, "blocked", failed)
        .await
        .remove(0);
    pipeline.shutdown().await;

    let attempts = h.attempts(d.id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].error_kind.as_deref(), Some("blocked"));
    assert!(rx.requests().is_empty());
}
store_test!(blocked_at_send_time);

/// `Retry-After` on a 429 pushes the next attempt at least that far.
async fn retry_after_is_honoured(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(
        vec![Reply::status(429).header("retry-after", "1")],
        Reply::ok(),
    )
    .await;
    let (hook, _) = h.endpoint(&rx.url("/"), &["company.*"]).await;
    h.company("Acme").await;

    let pipeline = h.spawn(Harness::config("0,0,0"));
    let d = h
        .wait_deliveries(hook.id, 1, "success after 429", succeeded)
        .await
        .remove(0);
    pipeline.shutdown().await;

    let attempts = h.attempts(d.id).await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].status_code, Some(429));
    let next = attempts[0].next_attempt_at.expect("a retry was scheduled");
    assert!(next >= attempts[0].attempted_at + chrono::Duration::seconds(1));
    assert!(
        attempts[1].attempted_at >= next,
        "not retried before it was due"
    );
}
store_test!(retry_after_is_honoured);

/// Network failures are classified: a TLS handshake with a plain-HTTP server is `tls`, a
/// receiver slower than the timeout is `timeout`.
async fn network_errors_are_classified(store: &SqlStore) {
    let h = Harness::new(store).await;
    let plain = Receiver::start(vec![], Reply::ok()).await;
    let slow = Receiver::start(vec![], Reply::ok().delay(Duration::from_secs(5))).await;
    let (tls, _) = h
        .endpoint(
            &format!("https://127.0.0.1:{}/", plain.port()),
            &["company.*"],
        )
        .await;
    let (timeout, _) = h.endpoint(&slow.url("/"), &["company.*"]).await;
    h.company("Acme").await;

    let mut config = Harness::config("0");
    config.timeout = Duration::from_secs(1);
    let pipeline = h.spawn(config);
    let tls_delivery = h.wait_deliveries(tls.id, 1, "tls", failed).await.remove(0);
    let timeout_delivery = h
        .wait_deliveries(timeout.id, 1, "timeout", failed)
        .await
        .remove(0);
    pipeline.shutdown().await;

    let kind = |attempts: Vec<workos_core::domain::DeliveryAttempt>| {
        assert_eq!(attempts.len(), 1);
        attempts[0].error_kind.clone()
    };
    assert_eq!(
        kind(h.attempts(tls_delivery.id).await).as_deref(),
        Some("tls")
    );
    assert_eq!(
        kind(h.attempts(timeout_delivery.id).await).as_deref(),
        Some("timeout")
    );
    assert!(plain.requests().is_empty(), "no HTTP request got through");
}
store_test!(network_errors_are_classified);

/// A host name is resolved, checked, and connected to at the checked addresses.
async fn host_names_are_resolved_and_pinned(store: &SqlStore) {
    let h = Harness::new(store).await;
    let guard = SsrfGuard::from_env_value("127.0.0.0/8,::1/128").unwrap();
    let service = WebhookService::new(h.store.clone(), h.cipher.clone(), guard.clone());
    let rx = Receiver::start(vec![], Reply::ok()).await;
    let (hook, secret) = service
        .create(
            &h.ctx,
            new_webhook(
                &format!("http://localhost:{}/named", rx.port()),
                &["company.*"],
            ),
        )
        .await
        .unwrap();
    h.company("Acme").await;

    let mut config = Harness::config("0");
    config.allowed_subnets = guard;
    let pipeline = h.spawn(config);
    h.wait_deliveries(hook.id, 1, "delivery by name", succeeded)
        .await;
    pipeline.shutdown().await;

    let received = rx.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/named");
    assert!(received[0].header("host").starts_with("localhost:"));
    received[0].verify(&secret).unwrap();
}
store_test!(host_names_are_resolved_and_pinned);

/// An endpoint's rate limit delays deliveries but delivers them all.
async fn rate_limited_endpoint_gets_everything(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(vec![], Reply::ok()).await;
    let mut new = new_webhook(&rx.url("/"), &["company.*"]);
    new.rate_limit_per_second = Some(20);
    let (hook, _) = h.service.create(&h.ctx, new).await.unwrap();
    for i in 0..5 {
        h.company(&format!("Company {i}")).await;
    }

    let pipeline = h.spawn(Harness::config("0,0"));
    h.wait_deliveries(hook.id, 5, "five deliveries", succeeded)
        .await;
    pipeline.shutdown().await;
    assert_eq!(rx.requests().len(), 5);
}
store_test!(rate_limited_endpoint_gets_everything);

/// A pipeline shuts down promptly while idle, and a dropped handle stops it too.
async fn shutdown_stops_the_tasks(store: &SqlStore) {
    let h = Harness::new(store).await;
    let pipeline = h.spawn(Harness::config("0"));
    assert!(pipeline.is_running());
    tokio::time::timeout(HANG_GUARD, pipeline.shutdown())
        .await
        .expect("shutdown finishes");

    // The tasks hold the store; once they stop, only the harness does.
    let baseline = Arc::strong_count(&h.store);
    let dropped = h.spawn(Harness::config("0"));
    assert!(Arc::strong_count(&h.store) > baseline);
    drop(dropped);
    wait_until("the tasks of a dropped handle to stop", || async {
        Arc::strong_count(&h.store) == baseline
    })
    .await;
}
store_test!(shutdown_stops_the_tasks);

/// Deliveries held back by a slow rate limit are handed back rather than waited for, and
/// still each arrive once with one attempt: a hand-back counts no attempt.
async fn rate_limited_deliveries_are_handed_back(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(vec![], Reply::ok()).await;
    let mut new = new_webhook(&rx.url("/"), &["company.*"]);
    new.rate_limit_per_second = Some(4);
    let (hook, _) = h.service.create(&h.ctx, new).await.unwrap();
    for i in 0..6 {
        h.company(&format!("Company {i}")).await;
    }

    let pipeline = h.spawn(Harness::config("0"));
    let done = h
        .wait_deliveries(hook.id, 6, "six deliveries", succeeded)
        .await;
    pipeline.shutdown().await;
    let received = rx.requests();
    assert_eq!(received.len(), 6);
    let ids: BTreeSet<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 6, "each delivery arrived once");
    for d in done {
        assert_eq!(d.attempts, 1, "only the sent attempt counts");
    }
}
store_test!(rate_limited_deliveries_are_handed_back);

/// With the pipeline running, each committed event reaches its endpoint once (on Postgres the
/// second is fanned out from the in-process notice and handed to the worker claimed), under
/// the `webhook-id` derived from the event and the endpoint, and is recorded; the log read
/// after them sends nothing more.
async fn live_events_are_delivered_once_under_derived_ids(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(vec![], Reply::ok()).await;
    let (hook, secret) = h.endpoint(&rx.url("/"), &["company.created"]).await;
    let pipeline = h.spawn(Harness::config("0,0,0"));
    h.company("Acme").await;
    h.wait_deliveries(hook.id, 1, "the first delivery", succeeded)
        .await;
    // The dispatcher is subscribed by now: this one comes with a notice naming it.
    h.company("Globex").await;
    let deliveries = h
        .wait_deliveries(hook.id, 2, "both deliveries", succeeded)
        .await;
    let events = h.events(&[types::COMPANY_CREATED]).await;
    assert_eq!(events.len(), 2);
    // An event is readable from its org's stream as soon as it commits.
    let org = h.ctx.org_id();
    let last = h
        .store
        .read_events(org, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| events.iter().any(|e| e.id == l.event.id))
        .map(|l| l.position)
        .max()
        .expect("both events readable from the org's stream");
    wait_until("the log read past both events", || async {
        h.store
            .consumer_cursor(Dispatcher::<SqlStore>::CONSUMER, org)
            .await
            .unwrap()
            >= last
    })
    .await;
    pipeline.shutdown().await;

    let received = rx.requests();
    assert_eq!(received.len(), 2, "{received:#?}");
    for event in &events {
        let id = WebhookDeliveryId::for_event(event.id, hook.id);
        let d = deliveries.iter().find(|d| d.id == id).expect("derived id");
        assert_eq!((d.event_id, d.attempts), (event.id, 1));
        let r = received
            .iter()
            .find(|r| r.event().id == event.id)
            .expect("sent");
        assert_eq!(r.header("webhook-id"), message_id(id));
        r.verify(&secret).expect("signed");
    }
}
store_test!(live_events_are_delivered_once_under_derived_ids);
