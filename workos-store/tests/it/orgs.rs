//! Orgs and their members: creation, renaming, memberships, roles, the last-owner rule.

use workos_core::domain::{Member, NewMember, NewOrg};
use workos_core::events::types;
use workos_core::ids::{MemberId, UserId};
use workos_core::repo::{Directory, MemberRepo, OrgRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

contract_test!(org_create_get_rename);
async fn org_create_get_rename(store: &SqlStore) {
    expect_validation(
        store.create_org(NewOrg { name: "  ".into() }, None).await,
        "name",
    );
    expect_validation(
        store
            .create_org(
                NewOrg {
                    name: "n".repeat(201),
                },
                None,
            )
            .await,
        "name",
    );

    let owner = UserId::new();
    let org = store
        .create_org(
            NewOrg {
                name: "  Acme ".into(),
            },
            Some(owner),
        )
        .await
        .unwrap();
    assert_eq!(org.name, "Acme");
    let ctx = TenantContext::user(org.id, owner, Role::Owner).with_request_id("req-1");
    assert_eq!(store.get_org(&ctx).await.unwrap(), org);

    let event = one_event(store, &ctx, types::ORG_CREATED, org.id).await;
    assert_eq!(event.subject.kind, "org");
    assert_eq!(event.data["name"], "Acme");
    let membership = store
        .membership(org.id, owner)
        .await
        .unwrap()
        .expect("owner");
    assert_eq!(membership.role, Role::Owner);
    let event = one_event(store, &ctx, types::MEMBER_CREATED, membership.id).await;
    assert_eq!(event.data["user_id"], json_id(owner));
    assert_eq!(event.data["role"], "owner");

    let renamed = store.rename_org(&ctx, " Acme Inc ".into()).await.unwrap();
    assert_eq!(renamed.name, "Acme Inc");
    assert_eq!(renamed.id, org.id);
    assert_eq!(store.get_org(&ctx).await.unwrap(), renamed);
    let event = one_event(store, &ctx, types::ORG_UPDATED, org.id).await;
    assert_eq!(event.data["name"], "Acme Inc");
    assert_eq!(event.request_id.as_deref(), Some("req-1"));

    expect_validation(store.rename_org(&ctx, String::new()).await, "name");
    assert_eq!(store.get_org(&ctx).await.unwrap(), renamed, "unchanged");

    // An org without an owner can be created by a trusted job.
    let bare = store
        .create_org(
            NewOrg {
                name: "Bare".into(),
            },
            None,
        )
        .await
        .unwrap();
    let job = TenantContext::system(bare.id, "test");
    assert_eq!(store.get_org(&job).await.unwrap(), bare);
    let members = store.list_members(&job, page(50)).await.unwrap();
    assert!(members.data.is_empty());
}

contract_test!(members_crud_and_paginate);
async fn members_crud_and_paginate(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let other = Tenant::new(store, "Other").await;
    let ctx = t.ctx.clone().with_request_id("req-1");
    let owner_member = store.membership(t.org.id, t.owner).await.unwrap().unwrap();

    let mut members = vec![owner_member.clone()];
    for role in [Role::Viewer, Role::Member, Role::Admin, Role::Owner] {
        let new = NewMember {
            user_id: UserId::new(),
            role,
        };
        let m = store.create_member(&ctx, new.clone()).await.unwrap();
        assert_eq!((m.user_id, m.role, m.org_id), (new.user_id, role, t.org.id));
        assert_eq!(store.get_member(&ctx, m.id).await.unwrap(), m);
        assert_eq!(
            store.membership(t.org.id, m.user_id).await.unwrap(),
            Some(m.clone())
        );
        members.push(m);
    }
    let dup = NewMember {
        user_id: members[1].user_id,
        role: Role::Admin,
    };
    expect_conflict(store.create_member(&ctx, dup).await, "user_id");
    // The same user may belong to another org.
    let elsewhere = NewMember {
        user_id: members[1].user_id,
        role: Role::Admin,
    };
    store.create_member(&other.ctx, elsewhere).await.unwrap();

    let all = all_pages(
        2,
        |p| store.list_members(&ctx, p),
        |m: &Member| m.id.as_uuid(),
    )
    .await;
    assert_ids_in_order(
        all.iter().map(|m| m.id.as_uuid()),
        members.iter().map(|m| m.id.as_uuid()),
    );
    assert!(all.iter().all(|m| m.org_id == t.org.id));

    let viewer = &members[1];
    let promoted = store
        .set_member_role(&ctx, viewer.id, Role::Admin)
        .await
        .unwrap();
    assert_eq!(promoted.role, Role::Admin);
    assert_eq!(store.get_member(&ctx, viewer.id).await.unwrap(), promoted);
    let membership = store.membership(t.org.id, viewer.user_id).await.unwrap();
    assert_eq!(membership.map(|m| m.role), Some(Role::Admin));
    let event = one_event(store, &ctx, types::MEMBER_UPDATED, viewer.id).await;
    assert_eq!(event.data["role"], "admin");
    assert_eq!(event.request_id.as_deref(), Some("req-1"));
    // Setting the role it already has changes nothing and emits nothing.
    let same = store
        .set_member_role(&ctx, viewer.id, Role::Admin)
        .await
        .unwrap();
    assert_eq!(same, promoted);
    assert_eq!(
        events_about(store, &ctx, types::MEMBER_UPDATED, viewer.id)
            .await
            .len(),
        1
    );
    // In the other org the same user kept their own role.
    let there = store
        .membership(other.org.id, viewer.user_id)
        .await
        .unwrap();
    assert_eq!(there.map(|m| m.role), Some(Role::Admin));

    store.delete_member(&ctx, viewer.id).await.unwrap();
    expect_not_found(store.get_member(&ctx, viewer.id).await);
    expect_not_found(store.delete_member(&ctx, viewer.id).await);
    expect_not_found(store.set_member_role(&ctx, viewer.id, Role::Viewer).await);
    assert_eq!(
        store.membership(t.org.id, viewer.user_id).await.unwrap(),
        None
    );
    assert!(
        store
            .membership(other.org.id, viewer.user_id)
            .await
            .unwrap()
            .is_some(),
        "removing a member from one org leaves their other memberships"
    );
    let left = store.list_members(&ctx, page(50)).await.unwrap();
    assert!(!left.data.iter().any(|m| m.id == viewer.id));
    assert_eq!(left.data.len(), members.len() - 1);
    let event = one_event(store, &ctx, types::MEMBER_DELETED, viewer.id).await;
    assert_eq!(event.data["user_id"], json_id(viewer.user_id));
    expect_not_found(store.get_member(&ctx, MemberId::new()).await);
}

contract_test!(last_owner_cannot_be_demoted_or_removed);
async fn last_owner_cannot_be_demoted_or_removed(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let first = store.membership(t.org.id, t.owner).await.unwrap().unwrap();

    expect_conflict(
        store.set_member_role(&t.ctx, first.id, Role::Admin).await,
        "role",
    );
    expect_conflict(store.delete_member(&t.ctx, first.id).await, "role");
    assert_eq!(
        store.get_member(&t.ctx, first.id).await.unwrap(),
        first,
        "unchanged"
    );
    assert!(
        events_about(store, &t.ctx, types::MEMBER_UPDATED, first.id)
            .await
            .is_empty()
    );

    // With a second owner, the first may step down; then the second is the last one.
    let second_user = UserId::new();
    let second = store
        .create_member(
            &t.ctx,
            NewMember {
                user_id: second_user,
                role: Role::Owner,
            },
        )
        .await
        .unwrap();
    let demoted = store
        .set_member_role(&t.ctx, first.id, Role::Admin)
        .await
        .unwrap();
    assert_eq!(demoted.role, Role::Admin);
    let second_ctx = TenantContext::user(t.org.id, second_user, Role::Owner);
    expect_conflict(
        store
            .set_member_role(&second_ctx, second.id, Role::Member)
            .await,
        "role",
    );
    expect_conflict(store.delete_member(&second_ctx, second.id).await, "role");
    // Non-owners may be removed freely.
    store.delete_member(&second_ctx, first.id).await.unwrap();
    assert_eq!(store.membership(t.org.id, t.owner).await.unwrap(), None);
    let owners: Vec<_> = store
        .list_members(&second_ctx, page(50))
        .await
        .unwrap()
        .data
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .collect();
    assert_eq!(owners.len(), 1);
}

contract_test!(owner_can_leave_when_another_owner_remains);
/// A signed-in owner removes their own membership: the change and its event are written even
/// though the actor is no longer a member once the row is gone.
async fn owner_can_leave_when_another_owner_remains(store: &SqlStore) {
    let t = Tenant::new(store, "Acme").await;
    let me = store.membership(t.org.id, t.owner).await.unwrap().unwrap();
    let other_ctx = t.user(store, Role::Owner).await;

    store.delete_member(&t.ctx, me.id).await.unwrap();
    assert_eq!(store.membership(t.org.id, t.owner).await.unwrap(), None);
    let event = one_event(store, &other_ctx, types::MEMBER_DELETED, me.id).await;
    assert_eq!(event.data["user_id"], json_id(t.owner));
}
