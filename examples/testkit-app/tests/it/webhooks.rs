//! Step 4 of the guide: webhooks. The service is handed deliveries signed as the engine signs
//! them (`workos_tests::webhooks::SignedWebhook`), then altered, forged and stale ones; and
//! the engine itself delivers `person.created` from a store on a scratch database to the
//! testkit's verifying receiver (`WebhookReceiver`), whose request the service then handles.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use followup::{Delivery, FollowUp, FollowUpError, Outcome};
use workos_core::channel::{MockSmsChannel, ProviderReceipt};
use workos_core::crypto::{Cipher, SecretKey};
use workos_core::domain::{HttpUrl, NewWebhook};
use workos_core::events::{DomainEvent, types};
use workos_core::ids::OrgId;
use workos_core::repo::{MockTaskRepo, PersonRepo};
use workos_store::SqlStore;
use workos_tests::db::TestDatabase;
use workos_tests::fake_twilio::{FakeTwilio, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
use workos_tests::webhooks::{SignedWebhook, VerifyError, WebhookReceiver, WebhookSecret};
use workos_webhooks::service::WebhookService;
use workos_webhooks::ssrf::SsrfGuard;
use workos_webhooks::worker::{Pipeline, WebhookConfig};

use crate::{ada, ada_phone, new_ada, our_number, secret};

/// The request as the service's HTTP layer hands it over.
fn delivery(signed: &SignedWebhook) -> Delivery<'_> {
    Delivery {
        id: &signed.id,
        timestamp: &signed.timestamp,
        signature: &signed.signature,
        body: &signed.body,
    }
}

/// `person.created` for `person`, as the engine's store writes it.
fn person_created(person: &workos_core::domain::Person) -> DomainEvent {
    DomainEvent::new(
        person.org_id,
        types::PERSON_CREATED,
        "person",
        person.id.as_uuid(),
        serde_json::to_value(person).unwrap(),
        None,
    )
}

/// A service whose mocks expect nothing: any write or SMS fails the test.
fn untouchable() -> FollowUp<MockTaskRepo, MockSmsChannel> {
    FollowUp::new(
        MockTaskRepo::new(),
        MockSmsChannel::new(),
        secret(),
        our_number(),
    )
}

#[tokio::test]
async fn a_signed_person_created_webhook_is_followed_up() {
    let ada = ada(OrgId::new());
    let person_id = ada.id;
    let mut tasks = MockTaskRepo::new();
    tasks.expect_list_tasks().times(1).returning(|_, _, _| {
        Ok(workos_core::page::Page {
            data: Vec::new(),
            next_cursor: None,
        })
    });
    tasks
        .expect_create_task()
        .withf(move |_, new| new.person_id == Some(person_id))
        .times(1)
        .returning(|ctx, new| {
            Ok(workos_core::domain::Task {
                id: workos_core::ids::TaskId::new(),
                org_id: ctx.org_id(),
                title: new.title,
                status: new.status,
                priority: new.priority,
                due_at: new.due_at,
                assignee_id: None,
                person_id: new.person_id,
                company_id: None,
                deal_id: None,
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
            })
        });
    let mut sms = MockSmsChannel::new();
    sms.expect_send_sms()
        .withf(|_, sms| sms.to == ada_phone())
        .times(1)
        .returning(|_, _| {
            Ok(ProviderReceipt {
                sid: "SM1".into(),
                status: "queued".into(),
            })
        });
    let service = FollowUp::new(tasks, sms, secret(), our_number());

    let signed = SignedWebhook::event(&secret(), &person_created(&ada));
    let outcome = service.on_webhook(delivery(&signed)).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::FollowedUp { task, sms: Some(_) } if task.org_id == ada.org_id),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn altered_forged_and_stale_webhooks_are_refused_before_anything_happens() {
    let service = untouchable();
    let event = person_created(&ada(OrgId::new()));

    let mut altered = SignedWebhook::event(&secret(), &event);
    altered.body = serde_json::to_vec(&DomainEvent {
        org_id: OrgId::new(), // someone else's org
        ..event.clone()
    })
    .unwrap();
    let forged = SignedWebhook::event(&WebhookSecret::generate(), &event);
    let stale = SignedWebhook::at(
        &[&secret()],
        "msg_replayed",
        chrono::Utc::now().timestamp() - 3600,
        serde_json::to_vec(&event).unwrap(),
    );
    let mut unsigned = SignedWebhook::event(&secret(), &event);
    unsigned.signature.clear();

    for (what, signed, why) in [
        ("altered", &altered, VerifyError::NoMatchingSignature),
        ("forged", &forged, VerifyError::NoMatchingSignature),
        ("stale", &stale, VerifyError::TimestampTooOld),
        (
            "unsigned",
            &unsigned,
            VerifyError::MissingHeader {
                name: "webhook-signature",
            },
        ),
    ] {
        let err = service.on_webhook(delivery(signed)).await.unwrap_err();
        assert!(
            matches!(&err, FollowUpError::Signature(e) if *e == why),
            "{what}: {err:?}"
        );
    }
}

#[tokio::test]
async fn other_events_and_bodies_that_are_not_events_are_not_acted_on() {
    let service = untouchable();
    let ada = ada(OrgId::new());
    let updated = DomainEvent {
        event_type: types::PERSON_UPDATED.to_owned(),
        ..person_created(&ada)
    };
    let outcome = service
        .on_webhook(delivery(&SignedWebhook::event(&secret(), &updated)))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Ignored {
            event_type: "person.updated".into()
        }
    );

    let not_an_event = SignedWebhook::new(&secret(), "{\"hello\":1}");
    let err = service
        .on_webhook(delivery(&not_an_event))
        .await
        .unwrap_err();
    assert!(matches!(err, FollowUpError::Payload(_)), "{err:?}");
}

/// End to end, with the engine's own webhook pipeline: a person created in the store is
/// delivered, signed, to the testkit's receiver, which verifies it; the service handles the
/// request as received and writes the task to the same store, texting through the fake Twilio.
#[tokio::test]
async fn the_engines_own_delivery_verifies_and_is_followed_up() {
    let db = TestDatabase::sqlite("followup-e2e");
    let store = Arc::new(SqlStore::connect(db.url()).await.unwrap());
    store.migrate().await.unwrap();
    let ctx = crate::acme(&store).await;

    // The engine's webhooks, allowed to call 127.0.0.1 (its SSRF guard refuses it otherwise).
    let loopback = || SsrfGuard::from_env_value("127.0.0.0/8").unwrap();
    let cipher = Arc::new(Cipher::new(1, SecretKey::generate()));
    let receiver = WebhookReceiver::start().await;
    let (_, endpoint_secret) = WebhookService::new(store.clone(), cipher.clone(), loopback())
        .create(
            &ctx,
            NewWebhook {
                url: HttpUrl::parse(&receiver.url()).unwrap(),
                description: Some("follow-up service".into()),
                event_types: vec![types::PERSON_CREATED.to_owned()],
                enabled: true,
                headers: BTreeMap::new(),
                rate_limit_per_second: None,
            },
        )
        .await
        .unwrap();
    receiver.add_secret(&endpoint_secret);
    let pipeline = Pipeline::spawn(
        store.clone(),
        cipher,
        WebhookConfig {
            allowed_subnets: loopback(),
            poll_interval: Duration::from_millis(50),
            ..WebhookConfig::default()
        },
    )
    .unwrap();

    let ada = store.create_person(&ctx, new_ada()).await.unwrap();
    let received = receiver.wait_for(1).await;
    assert_eq!(
        received[0].verified,
        Ok(()),
        "the engine's signature verifies"
    );
    let event = received[0].event().unwrap();
    assert_eq!(event.event_type, "person.created");
    assert_eq!(event.subject.id, ada.id.as_uuid());
    pipeline.shutdown().await;

    // The service, given the endpoint's secret, handles the request as it arrived.
    let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
    let service = FollowUp::new(
        store.as_ref().clone(),
        twilio.client_builder().build().unwrap(),
        endpoint_secret,
        our_number(),
    );
    let signed = received[0].to_signed();
    let outcome = service.on_webhook(delivery(&signed)).await.unwrap();
    assert!(matches!(outcome, Outcome::FollowedUp { sms: Some(_), .. }));
    let tasks = crate::tasks_of(&store, &ctx, ada.id).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        twilio.sent_messages()[0].param("To"),
        Some(ada_phone().as_ref())
    );
    store.close().await;
}
