//! The operator's per-org allowance of private subnets: only system actors change it, every
//! org sees only its own, host bits are cleared, and no change emits an event.

use workos_core::repo::{EventRepo, IpNet, SubnetAllowanceRepo};
use workos_core::tenant::Role;
use workos_store::SqlStore;

use crate::common::*;

fn net(s: &str) -> IpNet {
    s.parse().expect("a subnet")
}

contract_test!(operator_allowances_per_org);
async fn operator_allowances_per_org(store: &SqlStore) {
    let a = Tenant::new(store, "Acme").await;
    let b = Tenant::new(store, "Globex").await;
    let operator = a.system();
    let owner = a.user(store, Role::Owner).await;

    // Tenants, owners included, cannot change it.
    expect_forbidden(store.allow_subnet(&owner, net("10.0.0.0/8")).await);
    expect_forbidden(store.revoke_subnet(&owner, net("10.0.0.0/8")).await);

    assert!(
        store
            .allow_subnet(&operator, net("10.1.2.3/16"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .allow_subnet(&operator, net("10.1.0.0/16"))
            .await
            .unwrap(),
        "already"
    );
    assert!(
        store
            .allow_subnet(&operator, net("127.0.0.1/32"))
            .await
            .unwrap()
    );
    assert!(store.allow_subnet(&operator, net("::1/128")).await.unwrap());
    let allowed = store.allowed_subnets(&owner).await.unwrap();
    assert_eq!(
        allowed,
        [net("10.1.0.0/16"), net("127.0.0.1/32"), net("::1/128")]
    );

    // Another org has none, and cannot touch A's.
    assert!(store.allowed_subnets(&b.system()).await.unwrap().is_empty());
    assert!(
        !store
            .revoke_subnet(&b.system(), net("10.1.0.0/16"))
            .await
            .unwrap()
    );
    assert_eq!(store.allowed_subnets(&operator).await.unwrap().len(), 3);

    assert!(
        store
            .revoke_subnet(&operator, net("10.1.9.9/16"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_subnet(&operator, net("10.1.0.0/16"))
            .await
            .unwrap(),
        "gone"
    );
    assert_eq!(
        store.allowed_subnets(&owner).await.unwrap(),
        [net("127.0.0.1/32"), net("::1/128")]
    );

    // Operator configuration, not tenant data: no event tells the org.
    let events = store
        .list_events(&owner, Default::default(), page(100))
        .await
        .unwrap();
    assert!(
        events
            .data
            .iter()
            .all(|e| !e.data.to_string().contains("127.0.0.1")),
        "{events:?}"
    );
}
