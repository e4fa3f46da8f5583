//! SMS and calls: the person on the other end linked by phone (found, created or left out per
//! policy) in the row, the timeline entry and both event snapshots; provider retries; numbers
//! released before the write.

use workos_core::domain::{
    CommsFilter, Direction, E164, NewCall, NewPerson, NewPhone, NewSms, PhoneCapabilities,
    UnknownSender,
};
use workos_core::events::types;
use workos_core::ids::{InteractionId, PersonId, PhoneId};
use workos_core::repo::{CommsRepo, InteractionRepo, PersonRepo, PhoneRepo};
use workos_core::tenant::TenantContext;
use workos_store::SqlStore;

use crate::common::*;

async fn org_phone(store: &SqlStore, ctx: &TenantContext, n: u32) -> PhoneId {
    let new = NewPhone {
        number: phone(n),
        provider: "twilio".into(),
        label: None,
        capabilities: PhoneCapabilities {
            sms: true,
            mms: false,
            voice: true,
        },
    };
    store.create_phone(ctx, new).await.expect("create phone").id
}

fn inbound(phone_id: PhoneId, from: &E164, sid: &str, policy: UnknownSender) -> NewSms {
    NewSms {
        phone_id: Some(phone_id),
        message_sid: Some(sid.to_owned()),
        direction: Direction::Inbound,
        from: from.as_ref().to_owned(),
        to: phone(1).as_ref().to_owned(),
        body: "Hello".into(),
        media: Vec::new(),
        status: "received".into(),
        person_id: None,
        unknown_sender: policy,
    }
}

/// The person linked everywhere a new message records them: row, timeline entry, and the
/// snapshots of `sms.received` and `interaction.created`.
async fn assert_linked(
    store: &SqlStore,
    ctx: &TenantContext,
    sms: &workos_core::domain::Sms,
    person: Option<PersonId>,
) {
    assert_eq!(sms.person_id, person);
    assert_eq!(store.get_sms(ctx, sms.id).await.unwrap().person_id, person);
    let interaction_id: InteractionId = sms.interaction_id.expect("a timeline entry");
    let interaction = store.get_interaction(ctx, interaction_id).await.unwrap();
    assert_eq!(interaction.person_id, person);
    let expected = person.map_or(serde_json::Value::Null, json_id);
    let received = one_event(store, ctx, types::SMS_RECEIVED, sms.id).await;
    assert_eq!(received.data["person_id"], expected);
    assert_eq!(received.data["id"], json_id(sms.id));
    let created = one_event(store, ctx, types::INTERACTION_CREATED, interaction_id).await;
    assert_eq!(created.data["person_id"], expected);
}

contract_test!(sms_links_the_sender_by_phone);
async fn sms_links_the_sender_by_phone(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let ctx = t.system();
    let line = org_phone(store, &ctx, 1).await;
    let known = phone(2);
    let ada = store
        .create_person(
            &ctx,
            NewPerson {
                phone: Some(known.clone()),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();

    // A known sender is linked.
    let first = store
        .record_sms(
            &ctx,
            inbound(line, &known, "SM1", UnknownSender::CreatePerson),
        )
        .await
        .unwrap();
    assert!(first.created);
    assert_linked(store, &ctx, &first.record, Some(ada.id)).await;

    // A retry writes nothing and answers the stored message.
    let again = store
        .record_sms(
            &ctx,
            inbound(line, &known, "SM1", UnknownSender::StoreUnmatched),
        )
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.record.id, first.record.id);
    assert_eq!(again.record.person_id, Some(ada.id));

    // A new sender: left unlinked, or made a person, as the policy says.
    let stranger = phone(3);
    let unmatched = store
        .record_sms(
            &ctx,
            inbound(line, &stranger, "SM2", UnknownSender::StoreUnmatched),
        )
        .await
        .unwrap();
    assert!(unmatched.created);
    assert_linked(store, &ctx, &unmatched.record, None).await;
    assert_eq!(
        store
            .list_people(&ctx, Default::default(), page(10))
            .await
            .unwrap()
            .data
            .len(),
        1
    );
    let created = store
        .record_sms(
            &ctx,
            inbound(line, &stranger, "SM3", UnknownSender::CreatePerson),
        )
        .await
        .unwrap();
    let person = created.record.person_id.expect("a person was created");
    assert_linked(store, &ctx, &created.record, Some(person)).await;
    let made = store.get_person(&ctx, person).await.unwrap();
    assert_eq!(made.phone, Some(stranger.clone()));
    one_event(store, &ctx, types::PERSON_CREATED, person).await;
    // The next one finds them.
    let next = store
        .record_sms(
            &ctx,
            inbound(line, &stranger, "SM4", UnknownSender::CreatePerson),
        )
        .await
        .unwrap();
    assert_linked(store, &ctx, &next.record, Some(person)).await;

    // A call is linked the same way.
    let call = store
        .record_call(
            &ctx,
            NewCall {
                phone_id: Some(line),
                call_sid: Some("CA1".into()),
                direction: Direction::Inbound,
                from: known.as_ref().to_owned(),
                to: phone(1).as_ref().to_owned(),
                status: "ringing".into(),
                person_id: None,
                unknown_sender: UnknownSender::CreatePerson,
            },
        )
        .await
        .unwrap();
    assert!(call.created);
    assert_eq!(call.record.person_id, Some(ada.id));
    assert_eq!(
        store
            .get_call(&ctx, call.record.id)
            .await
            .unwrap()
            .person_id,
        Some(ada.id)
    );
    let received = one_event(store, &ctx, types::CALL_RECEIVED, call.record.id).await;
    assert_eq!(received.data["person_id"], json_id(ada.id));
}

contract_test!(sms_to_a_released_number_writes_nothing);
async fn sms_to_a_released_number_writes_nothing(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let (ctx_a, ctx_b) = (a.system(), b.system());
    let line = org_phone(store, &ctx_a, 1).await;
    store.delete_phone(&ctx_a, line).await.unwrap();
    let b_line = org_phone(store, &ctx_b, 1).await;

    // A's released number, and B's number named in A: refused, nothing written.
    for phone_id in [line, b_line] {
        let err = store
            .record_sms(
                &ctx_a,
                inbound(phone_id, &phone(2), "SM1", UnknownSender::CreatePerson),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, workos_core::Error::NotFound { kind: "phone" }),
            "{err:?}"
        );
    }
    let none = CommsFilter::default();
    for ctx in [&ctx_a, &ctx_b] {
        assert!(
            store
                .list_sms(ctx, none.clone(), page(10))
                .await
                .unwrap()
                .data
                .is_empty()
        );
        assert!(
            store
                .list_people(ctx, Default::default(), page(10))
                .await
                .unwrap()
                .data
                .is_empty()
        );
        assert!(
            store
                .list_interactions(ctx, Default::default(), page(10))
                .await
                .unwrap()
                .data
                .is_empty()
        );
    }
    // The number's owner records it.
    let stored = store
        .record_sms(
            &ctx_b,
            inbound(b_line, &phone(2), "SM1", UnknownSender::CreatePerson),
        )
        .await
        .unwrap();
    assert!(stored.created);
    assert_eq!(stored.record.org_id, b.org.id);
}

contract_test!(a_new_message_wakes_the_log_consumers);
/// Recording a message wakes this process's consumers of the log, naming the org (on one
/// Postgres node the message and its events are written by one statement, outside
/// `Tx::record`, and the commit still tells them).
async fn a_new_message_wakes_the_log_consumers(store: &SqlStore) {
    use workos_core::events::EventBus as _;
    let t = Tenant::new(store, "Acme").await;
    let ctx = t.system();
    let line = org_phone(store, &ctx, 1).await;
    let mut notices = store.subscribe().await.unwrap();
    let sms = inbound(line, &phone(2), "SM1", UnknownSender::StoreUnmatched);
    assert!(store.record_sms(&ctx, sms).await.unwrap().created);
    let notice = tokio::time::timeout(std::time::Duration::from_secs(30), notices.next())
        .await
        .expect("a notice arrives")
        .unwrap();
    assert_eq!(notice.org_id, Some(t.org.id));
}
