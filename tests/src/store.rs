//! A migrated store per test, on each backend, and [`store_test!`](crate::store_test) to run a
//! test on every backend (feature `store`).
//!
//! [`TestStore`] is a [`SqlStore`] on a scratch database of its own ([`TestDatabase`]): a SQLite
//! file, a Postgres database (`DATABASE_URL`), or a database of a Citus cluster
//! (`WORKOS_CITUS_URL`), migrated, removed when the value is dropped. The Postgres and Citus
//! halves skip (or, with `WORKOS_REQUIRE_POSTGRES=1` / `WORKOS_REQUIRE_CITUS=1`, fail) as
//! [`crate::db`] says.
//!
//! The feature needs a backend of `workos-store` turned on by the crate using it: the engine's
//! suites depend on `workos-store` with `features = ["sqlite", "postgres"]`.

use std::path::Path;
use std::sync::Arc;

use workos_store::SqlStore;

use crate::db::TestDatabase;

/// A migrated store on a database of its own, removed (best effort) when this is dropped,
/// also when the test panics.
pub struct TestStore {
    /// The store (cheap to clone; `&test_store.store` is a `&SqlStore`).
    pub store: Arc<SqlStore>,
    // Dropped after `store`, so the pool goes first.
    db: TestDatabase,
}

impl std::fmt::Debug for TestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestStore")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl TestStore {
    /// A store on a fresh SQLite file in the temp directory.
    ///
    /// # Panics
    /// When the store cannot be opened or migrated.
    pub async fn sqlite() -> Self {
        Self::on(TestDatabase::sqlite("workos-test")).await
    }

    /// A store on a fresh Postgres database, or `None` when `DATABASE_URL` is not set (and
    /// `WORKOS_REQUIRE_POSTGRES` is not `1`).
    ///
    /// # Panics
    /// As [`TestDatabase::postgres`], and when the store cannot be opened or migrated.
    pub async fn postgres() -> Option<Self> {
        Some(Self::on(TestDatabase::postgres("workos_test").await?).await)
    }

    /// A store on a fresh database of the Citus cluster `WORKOS_CITUS_URL` names (its tables
    /// distributed by the migrations, copied from a template migrated once per schema), or
    /// `None` when it is not set (and `WORKOS_REQUIRE_CITUS` is not `1`).
    ///
    /// # Panics
    /// As [`TestDatabase::citus`], and when the store cannot be opened or migrated.
    pub async fn citus() -> Option<Self> {
        let db = TestDatabase::citus(
            "workos_test",
            &workos_store::schema_fingerprint(),
            |url| async move {
                let store = SqlStore::connect(&url)
                    .await
                    .expect("connect to the template");
                store.migrate().await.expect("migrate the template");
                store.close().await;
            },
        )
        .await?;
        Some(Self::on(db).await)
    }

    /// The database's URL.
    #[must_use]
    pub fn url(&self) -> &str {
        self.db.url()
    }

    /// The file of a SQLite store.
    #[must_use]
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.db.sqlite_path()
    }

    async fn on(db: TestDatabase) -> Self {
        let store = SqlStore::connect(db.url())
            .await
            .expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        Self {
            store: Arc::new(store),
            db,
        }
    }
}

/// Generates one `#[tokio::test]` per backend for the async test function `$name`, in a module
/// `$name` (`$name::sqlite`, `$name::postgres`, `$name::citus`).
///
/// - `store_test!(name)`: `async fn name(store: &SqlStore)` on SQLite, Postgres and Citus.
/// - `store_test!(name: sqlite, postgres)`: on the backends listed.
/// - `store_test!(name: sqlite, postgres => setup)`: `async fn name(h: H)`, where
///   `setup(TestStore) -> impl Future<Output = H>` builds what the test takes (a harness).
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! store_test {
    ($name:ident) => {
        $crate::store_test!($name: sqlite, postgres, citus);
    };
    ($name:ident : $($backend:ident),+) => {
        mod $name {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $backend() {
                    let Some(db) = $crate::store::__backend::$backend().await else {
                        return;
                    };
                    super::$name(&db.store).await;
                }
            )+
        }
    };
    ($name:ident : $($backend:ident),+ => $setup:path) => {
        mod $name {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $backend() {
                    let Some(db) = $crate::store::__backend::$backend().await else {
                        return;
                    };
                    super::$name($setup(db).await).await;
                }
            )+
        }
    };
}

/// The backends [`store_test!`](crate::store_test) names, each answering a store or `None`
/// (skipped). Not API: the macro's own.
#[doc(hidden)]
pub mod __backend {
    use super::TestStore;

    /// SQLite: always there.
    pub async fn sqlite() -> Option<TestStore> {
        Some(TestStore::sqlite().await)
    }

    /// Postgres, when `DATABASE_URL` is set.
    pub async fn postgres() -> Option<TestStore> {
        TestStore::postgres().await
    }

    /// Citus, when `WORKOS_CITUS_URL` is set.
    pub async fn citus() -> Option<TestStore> {
        TestStore::citus().await
    }
}
