//! Integration tests of `workos-leads`, in one binary, against a real `SqlStore`: SQLite (a
//! fresh temporary file per test) and, when `DATABASE_URL` is set, Postgres (a fresh database
//! per test, dropped afterwards). Without `DATABASE_URL` the Postgres half says it is skipped
//! and passes, unless `WORKOS_REQUIRE_POSTGRES=1`, in which case it fails.
//!
//! The sender, the intake and the queued-lead job are also tested end to end through the
//! reference server (`examples/reference-server/tests/it/{leads,lead_delivery}.rs`).

/// Generates `name::sqlite` and `name::postgres` for `async fn name(store: &SqlStore)`.
macro_rules! store_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::common::TestDb::sqlite().await;
                super::$name(&db.store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::common::TestDb::postgres().await else {
                    return;
                };
                super::$name(&db.store).await;
            }
        }
    };
}

mod common;

mod partners;
