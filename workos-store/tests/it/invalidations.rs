//! Cache invalidations: a committed write about an API key or a phone reaches every listener
//! of the store (Postgres and Citus: `NOTIFY workos_cache` on the coordinator, heard through
//! `LISTEN`; SQLite: in-process), other writes send none, and a rolled-back write sends none.

use std::time::Duration;

use tokio::sync::broadcast::Receiver;
use workos_core::domain::{NewApiKey, NewPerson, NewPhone, PhoneCapabilities};
use workos_core::repo::{ApiKeyRepo, PersonRepo, PhoneRepo};
use workos_core::tenant::Role;
use workos_store::{Invalidation, SqlStore};

use crate::common::*;

/// The next invalidation, waiting at most a generous 30 s (a bound, not a speed assertion).
async fn next(changes: &mut Receiver<Invalidation>) -> Invalidation {
    tokio::time::timeout(Duration::from_secs(30), changes.recv())
        .await
        .expect("an invalidation arrives")
        .expect("the channel is open")
}

contract_test!(writes_to_cached_records_invalidate_them);
async fn writes_to_cached_records_invalidate_them(store: &SqlStore) {
    let t = Tenant::new(store, "Cached").await;
    let admin = t.user(store, Role::Admin).await;
    let mut changes = store.invalidations().await.expect("listen");

    // Not a cached kind: nothing is sent for it (the first invalidation is the key's).
    store
        .create_person(
            &admin,
            NewPerson {
                first_name: Some("Ada".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let key = store
        .create_api_key(
            &admin,
            NewApiKey {
                name: "cached".into(),
                role: Role::Member,
                prefix: key_prefix(),
                hash: vec![7; 32],
            },
        )
        .await
        .unwrap();
    let created = Invalidation::Changed {
        kind: "api_key".into(),
        org_id: t.org.id,
        id: key.id.as_uuid(),
    };
    assert_eq!(next(&mut changes).await, created);
    store.revoke_api_key(&admin, key.id).await.unwrap();
    assert_eq!(next(&mut changes).await, created, "the revocation");

    let p = store
        .create_phone(
            &admin,
            NewPhone {
                number: phone(7),
                provider: "twilio".into(),
                label: None,
                capabilities: PhoneCapabilities {
                    sms: true,
                    mms: false,
                    voice: false,
                },
            },
        )
        .await
        .unwrap();
    store.delete_phone(&admin, p.id).await.unwrap();
    let phone_changed = Invalidation::Changed {
        kind: "phone".into(),
        org_id: t.org.id,
        id: p.id.as_uuid(),
    };
    assert_eq!(next(&mut changes).await, phone_changed, "created");
    assert_eq!(next(&mut changes).await, phone_changed, "deleted");
    assert!(changes.try_recv().is_err(), "nothing more");
}
