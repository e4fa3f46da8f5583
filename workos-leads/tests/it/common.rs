//! Test databases and a tenant with a cipher.

use std::sync::Arc;

use workos_core::crypto::{Cipher, SecretKey};
use workos_core::domain::NewOrg;
use workos_core::ids::UserId;
use workos_core::repo::Directory;
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;
use workos_tests::db::TestDatabase;

/// A migrated store on a database of its own ([`TestDatabase`]), removed when dropped.
pub(crate) struct TestDb {
    pub(crate) store: SqlStore,
    // Dropped after `store`, so the pool goes first.
    _db: TestDatabase,
}

impl TestDb {
    pub(crate) async fn sqlite() -> Self {
        Self::on(TestDatabase::sqlite("workos-leads-it")).await
    }

    pub(crate) async fn postgres() -> Option<Self> {
        Some(Self::on(TestDatabase::postgres("workos_leads_test").await?).await)
    }

    async fn on(db: TestDatabase) -> Self {
        let store = SqlStore::connect(db.url())
            .await
            .expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        Self { store, _db: db }
    }
}

/// An org with its owner, and a cipher.
pub(crate) struct Harness {
    pub(crate) store: Arc<SqlStore>,
    pub(crate) cipher: Arc<Cipher>,
    pub(crate) ctx: TenantContext,
}

impl Harness {
    pub(crate) async fn new(store: &SqlStore) -> Self {
        let store = Arc::new(store.clone());
        let owner = UserId::new();
        let org = store
            .create_org(
                NewOrg {
                    name: "Acme".into(),
                },
                Some(owner),
            )
            .await
            .expect("create org");
        Self {
            store,
            cipher: Arc::new(Cipher::new(1, SecretKey::generate())),
            ctx: TenantContext::user(org.id, owner, Role::Owner),
        }
    }
}
