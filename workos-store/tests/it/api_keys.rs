//! API keys: creation, lookup by prefix, touching, revocation, validation, conflicts.

use workos_core::domain::{ApiKey, NewApiKey};
use workos_core::events::types;
use workos_core::ids::ApiKeyId;
use workos_core::repo::{ApiKeyRepo, Directory};
use workos_core::tenant::Role;
use workos_store::SqlStore;

use crate::common::*;

fn new_key(name: &str, role: Role) -> NewApiKey {
    NewApiKey {
        name: name.into(),
        role,
        prefix: key_prefix(),
        hash: vec![7; 32],
    }
}

contract_test!(api_key_lifecycle);
async fn api_key_lifecycle(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let admin = t.user(store, Role::Admin).await.with_request_id("req-1");

    let new = new_key(" CI ", Role::Member);
    let prefix = new.prefix.clone();
    let key = store.create_api_key(&admin, new).await.unwrap();
    assert_eq!(key.name, "CI");
    assert_eq!((key.role, key.org_id), (Role::Member, t.org.id));
    assert_eq!(key.prefix, prefix);
    assert_eq!((key.last_used_at, key.revoked_at), (None, None));
    assert_eq!(store.get_api_key(&admin, key.id).await.unwrap(), key);
    let event = one_event(store, &admin, types::API_KEY_CREATED, key.id).await;
    assert_eq!(event.subject.kind, "api_key");
    assert_eq!(event.data["prefix"], prefix.as_str());
    assert!(
        event.data.get("hash").is_none(),
        "events never carry the hash: {event:?}"
    );
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    let credentials = store
        .api_key_by_prefix(&prefix)
        .await
        .unwrap()
        .expect("found");
    assert_eq!(credentials.key, key);
    assert_eq!(credentials.hash, vec![7; 32]);
    assert_eq!(store.api_key_by_prefix("wos_unknown").await.unwrap(), None);

    // Authentication records use at most once a minute.
    store.touch_api_key(key.org_id, key.id).await.unwrap();
    let used = store.get_api_key(&admin, key.id).await.unwrap();
    let first_use = used.last_used_at.expect("touched");
    store.touch_api_key(key.org_id, key.id).await.unwrap();
    let used_again = store.get_api_key(&admin, key.id).await.unwrap();
    assert_eq!(
        used_again.last_used_at,
        Some(first_use),
        "a second touch within the minute writes nothing"
    );

    let second = store
        .create_api_key(&admin, new_key("Second", Role::Viewer))
        .await
        .unwrap();
    let third = store
        .create_api_key(&admin, new_key("Third", Role::Admin))
        .await
        .unwrap();

    let revoked = store.revoke_api_key(&admin, key.id).await.unwrap();
    let revoked_at = revoked.revoked_at.expect("revoked");
    assert_eq!(store.get_api_key(&admin, key.id).await.unwrap(), revoked);
    assert_eq!(
        store.api_key_by_prefix(&prefix).await.unwrap(),
        None,
        "a revoked key never authenticates"
    );
    let again = store.revoke_api_key(&admin, key.id).await.unwrap();
    assert_eq!(
        again.revoked_at,
        Some(revoked_at),
        "revoking twice keeps the first time"
    );
    let event = one_event(store, &admin, types::API_KEY_REVOKED, key.id).await;
    assert!(!event.data["revoked_at"].is_null());

    // Revoked keys stay listed.
    let all = all_pages(
        2,
        |p| store.list_api_keys(&admin, p),
        |k: &ApiKey| k.id.as_uuid(),
    )
    .await;
    assert_ids_in_order(
        all.iter().map(|k| k.id.as_uuid()),
        [key.id, second.id, third.id].map(|id| id.as_uuid()),
    );
    assert_eq!(all[0], revoked);
    expect_not_found(store.get_api_key(&admin, ApiKeyId::new()).await);
    expect_not_found(store.revoke_api_key(&admin, ApiKeyId::new()).await);
}

contract_test!(api_key_validation_and_conflicts);
async fn api_key_validation_and_conflicts(store: &SqlStore) {
    let a = Tenant::new(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let admin = a.user(store, Role::Admin).await;

    expect_validation(
        store
            .create_api_key(&admin, new_key(" ", Role::Member))
            .await,
        "name",
    );
    let short_hash = NewApiKey {
        hash: vec![1; 31],
        ..new_key("CI", Role::Member)
    };
    expect_validation(store.create_api_key(&admin, short_hash).await, "hash");
    // An admin cannot mint a key stronger than itself.
    expect_forbidden(
        store
            .create_api_key(&admin, new_key("Root", Role::Owner))
            .await,
    );

    let key = store
        .create_api_key(&admin, new_key("CI", Role::Member))
        .await
        .unwrap();
    let same_prefix = NewApiKey {
        prefix: key.prefix.clone(),
        ..new_key("Copy", Role::Member)
    };
    expect_conflict(
        store.create_api_key(&admin, same_prefix.clone()).await,
        "prefix",
    );
    expect_conflict(store.create_api_key(&b.ctx, same_prefix).await, "prefix");

    let listed = store.list_api_keys(&admin, page(50)).await.unwrap().data;
    assert_eq!(listed, vec![key.clone()], "nothing else was stored");
    assert!(
        store
            .list_api_keys(&b.ctx, page(50))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    let found = store.api_key_by_prefix(&key.prefix).await.unwrap().unwrap();
    assert_eq!(
        found.key.org_id, a.org.id,
        "the prefix still finds the first key"
    );
}

contract_test!(only_an_owner_revokes_an_owner_key);
/// An admin manages keys but cannot revoke one stronger than itself: an owner's key stays live
/// and no event is written; the owner (or a system job) can revoke it.
async fn only_an_owner_revokes_an_owner_key(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let owner = t.user(store, Role::Owner).await;
    let admin = t.user(store, Role::Admin).await;
    let owners = store
        .create_api_key(&owner, new_key("Owner automation", Role::Owner))
        .await
        .unwrap();
    let admins = store
        .create_api_key(&owner, new_key("Admin automation", Role::Admin))
        .await
        .unwrap();

    expect_forbidden(store.revoke_api_key(&admin, owners.id).await);
    assert_eq!(
        store
            .get_api_key(&owner, owners.id)
            .await
            .unwrap()
            .revoked_at,
        None,
        "the owner's key is still live"
    );
    assert_eq!(count_events(store, &owner, types::API_KEY_REVOKED).await, 0);

    // An admin's own level is fine, and the owner can revoke its key.
    let revoked = store.revoke_api_key(&admin, admins.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    let revoked = store.revoke_api_key(&owner, owners.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
}
