//! [`workos_twilio::InboundService`]: Twilio's webhooks into the store, signatures first.

use workos_core::Error;
use workos_core::domain::{CommsFilter, Direction};
use workos_core::page::PageRequest;
use workos_core::repo::{CommsRepo, PhoneRepo};
use workos_tests::fake_twilio::TEST_AUTH_TOKEN;
use workos_twilio::InboundRequest;

use crate::harness::{Backend, Harness, PUBLIC_URL, Signed, invalid_fields, new_number};

/// The empty TwiML an SMS is answered with.
const EMPTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

async fn signed_sms_is_recorded_once(h: Harness) {
    let org = h.org("Acme").await;
    let params = h
        .twilio
        .inbound_sms_params(&new_number(), &org.number, "Hello");
    let signed = Signed::new(TEST_AUTH_TOKEN, "sms", &params);
    assert_eq!(h.inbound.message(&signed.request()).await.unwrap(), EMPTY);
    // Twilio retries: the same MessageSid is stored once.
    assert_eq!(h.inbound.message(&signed.request()).await.unwrap(), EMPTY);
    let sms = h.sms(&org).await;
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].body, "Hello");
    assert_eq!(sms[0].direction, Direction::Inbound);
    assert!(sms[0].person_id.is_some(), "the sender became a person");
}
store_test!(signed_sms_is_recorded_once);

async fn bad_signatures_store_nothing(h: Harness) {
    let org = h.org("Acme").await;
    let params = h
        .twilio
        .inbound_sms_params(&new_number(), &org.number, "Hello");
    let signed = Signed::new(TEST_AUTH_TOKEN, "sms", &params);
    let forged = Signed::new("another-token-0123456789", "sms", &params);
    let unsigned = InboundRequest {
        signature: None,
        ..signed.request()
    };
    // Signed for another URL: a proxy's, or another route.
    let elsewhere = InboundRequest {
        path_and_query: "/api/v1/webhooks/twilio/voice",
        ..signed.request()
    };
    for request in [forged.request(), unsigned, elsewhere] {
        let refused = h.inbound.message(&request).await.unwrap_err();
        assert!(matches!(refused, Error::Forbidden(_)), "{refused:?}");
    }
    assert!(h.sms(&org).await.is_empty());
    // A malformed payload with a good signature names the parameter.
    let no_from: Vec<_> = params.into_iter().filter(|(k, _)| k != "From").collect();
    let signed = Signed::new(TEST_AUTH_TOKEN, "sms", &no_from);
    assert_eq!(
        invalid_fields(h.inbound.message(&signed.request()).await),
        ["From"]
    );
}
store_test!(bad_signatures_store_nothing);

async fn unknown_numbers_are_ignored(h: Harness) {
    let params = h
        .twilio
        .inbound_sms_params(&new_number(), &new_number(), "Hi");
    let signed = Signed::new(TEST_AUTH_TOKEN, "sms", &params);
    assert_eq!(h.inbound.message(&signed.request()).await.unwrap(), EMPTY);
    let call = h.twilio.inbound_call_params(&new_number(), &new_number());
    let signed = Signed::new(TEST_AUTH_TOKEN, "voice", &call);
    let twiml = h.inbound.voice(&signed.request()).await.unwrap();
    assert!(twiml.contains("This number is not in service."), "{twiml}");
}
store_test!(unknown_numbers_are_ignored);

/// Without the platform's token and without an own account, nothing can check a signature.
#[tokio::test]
async fn without_any_token_webhooks_are_unavailable() {
    let h = Harness::with_platform(Backend::Sqlite, false)
        .await
        .unwrap();
    let org = h.org("Acme").await;
    let params = h
        .twilio
        .inbound_sms_params(&new_number(), &org.number, "Hi");
    let signed = Signed::new(TEST_AUTH_TOKEN, "sms", &params);
    let e = h.inbound.message(&signed.request()).await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
    assert!(h.sms(&org).await.is_empty());
    assert!(!h.accounts.platform_sends() && !h.accounts.platform_validates());
    assert!(h.accounts.messenger(&org.owner).await.unwrap().is_none());
}

/// A number released by one org and taken by another lands in the new org at once, though
/// its old owner was cached.
async fn moved_number_lands_in_its_new_org(h: Harness) {
    let a = h.org("Old owner").await;
    let b = h.org("New owner").await;
    let sender = new_number();
    // A refused message reads (and caches) the owner of A's number.
    let params = h.twilio.inbound_sms_params(&sender, &a.number, "to A");
    let forged = Signed::new("another-token-0123456789", "sms", &params);
    assert!(h.inbound.message(&forged.request()).await.is_err());
    let phone = h
        .store
        .list_phones(&a.owner, PageRequest::first(10).unwrap())
        .await
        .unwrap()
        .data
        .remove(0);
    h.store.delete_phone(&a.owner, phone.id).await.unwrap();
    h.take_number(&b.owner, &a.number).await;
    let params = h.twilio.inbound_sms_params(&sender, &a.number, "to B");
    let signed = Signed::new(TEST_AUTH_TOKEN, "sms", &params);
    assert_eq!(h.inbound.message(&signed.request()).await.unwrap(), EMPTY);
    assert!(h.sms(&a).await.is_empty(), "nothing reached A");
    let b_sms = h.sms(&b).await;
    assert_eq!(b_sms.len(), 1);
    assert_eq!(b_sms[0].body, "to B");
}
store_test!(moved_number_lands_in_its_new_org);

/// A call hears the greeting (escaped) and is recorded; its recording callback, whose URL
/// names the org, finds it. A recording callback naming no org is refused on `org`.
async fn calls_and_recordings(h: Harness) {
    let org = h.org("Acme").await;
    let call = h.twilio.inbound_call_params(&new_number(), &org.number);
    let call_sid = call.iter().find(|(k, _)| k == "CallSid").unwrap().1.clone();
    let signed = Signed::new(TEST_AUTH_TOKEN, "voice", &call);
    let twiml = h.inbound.voice(&signed.request()).await.unwrap();
    assert!(twiml.contains("Hello &amp; welcome"), "{twiml}");
    let callback = format!(
        "{PUBLIC_URL}/api/v1/webhooks/twilio/recording?org={}",
        org.id
    );
    assert!(twiml.contains(&callback), "{twiml}");

    let recording = h.twilio.recording_params(&call_sid, 42);
    let route = format!("recording?org={}", org.id);
    let signed = Signed::new(TEST_AUTH_TOKEN, &route, &recording);
    h.inbound.recording(&signed.request()).await.unwrap();
    let calls = h
        .store
        .list_calls(
            &org.owner,
            CommsFilter::default(),
            PageRequest::first(10).unwrap(),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].recording_seconds, Some(42));

    let signed = Signed::new(TEST_AUTH_TOKEN, "recording", &recording);
    assert_eq!(
        invalid_fields(h.inbound.recording(&signed.request()).await),
        ["org"]
    );
}
store_test!(calls_and_recordings);

/// A message sent through the org's messenger has its status updated by Twilio's callback,
/// whose URL (built by the messenger) names the org.
async fn status_callbacks_update_sent_messages(h: Harness) {
    let org = h.org("Acme").await;
    let (sms, sent) = h.send_sms(&org).await;
    let to = sent.param("To").unwrap().to_owned();
    let callback = sent.param("StatusCallback").unwrap().to_owned();
    let route = callback
        .strip_prefix(&format!("{PUBLIC_URL}/api/v1/webhooks/twilio/"))
        .expect("the callback is under the public URL");
    let sid = sms.message_sid.clone().unwrap();
    let params = h
        .twilio
        .message_status_params(&sid, &org.number, &to, "delivered", None);
    let signed = Signed::new(TEST_AUTH_TOKEN, route, &params);
    h.inbound.message_status(&signed.request()).await.unwrap();
    assert_eq!(
        h.store.get_sms(&org.owner, sms.id).await.unwrap().status,
        "delivered"
    );
}
store_test!(status_callbacks_update_sent_messages);
