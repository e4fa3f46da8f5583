//! Provider phone numbers: mapping, lookup by number, deletion, validation, conflicts.

use workos_core::domain::{NewPhone, Phone, PhoneCapabilities};
use workos_core::events::types;
use workos_core::ids::PhoneId;
use workos_core::repo::{Directory, PhoneRepo};
use workos_core::tenant::Role;
use workos_store::SqlStore;

use crate::common::*;

fn new_phone(n: u32) -> NewPhone {
    NewPhone {
        number: phone(n),
        provider: "twilio".into(),
        label: Some(format!("Line {n}")),
        capabilities: PhoneCapabilities {
            sms: true,
            mms: false,
            voice: true,
        },
    }
}

contract_test!(phone_lifecycle);
async fn phone_lifecycle(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let admin = t.user(store, Role::Admin).await.with_request_id("req-1");
    let viewer = t.user(store, Role::Viewer).await;

    let p = store.create_phone(&admin, new_phone(1)).await.unwrap();
    assert_eq!((p.number.clone(), p.org_id), (phone(1), t.org.id));
    assert_eq!(p.label.as_deref(), Some("Line 1"));
    assert!(p.capabilities.sms && p.capabilities.voice && !p.capabilities.mms);
    assert_eq!(store.get_phone(&viewer, p.id).await.unwrap(), p);
    assert_eq!(
        store.phone_by_number(&phone(1)).await.unwrap(),
        Some(p.clone())
    );
    assert_eq!(store.phone_by_number(&phone(9)).await.unwrap(), None);
    let event = one_event(store, &admin, types::PHONE_CREATED, p.id).await;
    assert_eq!(event.subject.kind, "phone");
    assert_eq!(event.data["number"], phone(1).as_ref());
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    let p2 = store.create_phone(&admin, new_phone(2)).await.unwrap();
    let p3 = store.create_phone(&admin, new_phone(3)).await.unwrap();
    let all = all_pages(
        2,
        |pg| store.list_phones(&viewer, pg),
        |p: &Phone| p.id.as_uuid(),
    )
    .await;
    assert_ids_in_order(
        all.iter().map(|p| p.id.as_uuid()),
        [p.id, p2.id, p3.id].map(|id| id.as_uuid()),
    );
    assert_eq!(all[1], p2);

    store.delete_phone(&admin, p.id).await.unwrap();
    expect_not_found(store.get_phone(&viewer, p.id).await);
    expect_not_found(store.delete_phone(&admin, p.id).await);
    assert_eq!(store.phone_by_number(&phone(1)).await.unwrap(), None);
    let left = store.list_phones(&viewer, page(50)).await.unwrap().data;
    assert_eq!(left, vec![p2, p3]);
    let event = one_event(store, &admin, types::PHONE_DELETED, p.id).await;
    assert_eq!(event.data["number"], phone(1).as_ref());

    // A released number can be mapped again.
    let again = store.create_phone(&admin, new_phone(1)).await.unwrap();
    assert_ne!(again.id, p.id);
    assert_eq!(store.phone_by_number(&phone(1)).await.unwrap(), Some(again));
    expect_not_found(store.get_phone(&viewer, PhoneId::new()).await);
}

contract_test!(phone_validation_and_conflicts);
async fn phone_validation_and_conflicts(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;

    let other_provider = NewPhone {
        provider: "plivo".into(),
        ..new_phone(1)
    };
    expect_validation(store.create_phone(&a.ctx, other_provider).await, "provider");
    let long_label = NewPhone {
        label: Some("l".repeat(201)),
        ..new_phone(1)
    };
    expect_validation(store.create_phone(&a.ctx, long_label).await, "label");

    let p = store.create_phone(&a.ctx, new_phone(1)).await.unwrap();
    // A number belongs to one org at most: taken in the same org or in another.
    expect_conflict(store.create_phone(&a.ctx, new_phone(1)).await, "number");
    expect_conflict(store.create_phone(&b.ctx, new_phone(1)).await, "number");
    assert_eq!(
        store.phone_by_number(&phone(1)).await.unwrap(),
        Some(p.clone())
    );
    assert_eq!(
        store.list_phones(&a.ctx, page(50)).await.unwrap().data,
        vec![p]
    );
    assert!(
        store
            .list_phones(&b.ctx, page(50))
            .await
            .unwrap()
            .data
            .is_empty()
    );
}
