//! What a database has applied: `SqlStore::migration_status` and `apply_migrations`, on both
//! backends, and read by a login role that is only a member of `workos_app`.

use sqlx::Executor as _;
use workos_core::Error;
use workos_store::SqlStore;
use workos_tests::db::{TestDatabase, TestRole};

/// A fresh database reads as wholly pending; applying answers every migration once, in order;
/// then the schema is current and another run applies nothing.
async fn status_follows_what_was_applied(db: &TestDatabase) {
    let store = SqlStore::connect(db.url()).await.expect("connect");
    let fresh = store
        .migration_status()
        .await
        .expect("status of a fresh database");
    assert!(fresh.applied.is_empty(), "nothing applied: {fresh:?}");
    assert!(!fresh.pending.is_empty(), "the build embeds migrations");
    assert!(
        !fresh.is_current(),
        "a fresh database is older than the code"
    );
    let versions: Vec<i64> = fresh.pending.iter().map(|m| m.version).collect();
    assert!(versions.is_sorted(), "in order: {versions:?}");
    assert_eq!(fresh.pending[0].description, "init");

    let applied = store.apply_migrations().await.expect("migrate");
    assert_eq!(
        applied, fresh.pending,
        "every pending migration, once, in order"
    );
    let now = store.migration_status().await.expect("status");
    assert!(now.is_current(), "{now:?}");
    assert_eq!(now.applied, fresh.pending);
    assert!(now.pending.is_empty() && now.unknown.is_empty() && now.failed.is_empty());

    assert_eq!(
        store.apply_migrations().await.expect("migrate again"),
        Vec::new(),
        "already up to date"
    );
    store.close().await;
}

#[tokio::test]
async fn migration_status_sqlite() {
    status_follows_what_was_applied(&TestDatabase::sqlite("workos-migrations")).await;
}

#[tokio::test]
async fn migration_status_postgres() {
    let Some(db) = TestDatabase::postgres("workos_migrations").await else {
        return;
    };
    status_follows_what_was_applied(&db).await;
}

/// A newer build's migration in the history is no reason to refuse; one this build changed,
/// or one that failed, is.
#[tokio::test]
async fn a_newer_or_changed_history_reads_as_such() {
    let db = TestDatabase::sqlite("workos-migrations");
    let store = SqlStore::connect(db.url()).await.expect("connect");
    store.migrate().await.expect("migrate");
    let pool = sqlx::SqlitePool::connect(db.url()).await.expect("open");
    pool.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', true, x'00', 0)",
    )
    .await
    .expect("a newer migration");
    let status = store.migration_status().await.expect("status");
    assert_eq!(status.unknown, vec![99_990_101_000_000]);
    assert!(status.is_current(), "newer is not older: {status:?}");

    let first = status.applied[0].version;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = $1")
        .bind(first)
        .execute(&pool)
        .await
        .expect("change a checksum");
    let status = store.migration_status().await.expect("status");
    assert_eq!(status.changed, vec![first]);
    assert!(!status.is_current());
    pool.close().await;
    store.close().await;
}

/// The server's login role, a member of `workos_app` only, reads the status once `workos_app`
/// may read the migrations table; without that grant the error names it.
#[tokio::test]
async fn a_member_of_workos_app_reads_the_status_with_the_grant() {
    let Some(db) = TestDatabase::postgres("workos_migrations").await else {
        return;
    };
    let owner = SqlStore::connect(db.url()).await.expect("connect");
    owner.migrate().await.expect("migrate as the owner");
    let login = TestRole::login("workos_login", &["workos_app"])
        .await
        .expect("a login role");
    let pool = owner.pg_pool().expect("Postgres");

    pool.execute("REVOKE SELECT ON _sqlx_migrations FROM workos_app")
        .await
        .expect("revoke");
    let store = SqlStore::connect(&login.url(db.url()))
        .await
        .expect("the login role connects");
    let e = store
        .migration_status()
        .await
        .expect_err("workos_app may not read the history");
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("GRANT SELECT ON _sqlx_migrations TO workos_app"),
        "names the grant: {e}"
    );

    pool.execute("GRANT SELECT ON _sqlx_migrations TO workos_app")
        .await
        .expect("grant");
    let status = store
        .migration_status()
        .await
        .expect("a member of workos_app reads the history");
    assert!(status.is_current(), "{status:?}");
    store.close().await;
    owner.close().await;
}
