//! The weekly partitions of events and webhook attempts (Postgres, Citus): writes do not depend
//! on the retention job for them, many processes may ensure them at once, and the DDL that
//! creates and drops them does not hold writers up longer than its lock wait.
//!
//! "Weeks later, the retention job never run" is made by dropping every weekly partition (the
//! database's last week then ended before now), as migrating ten weeks ago and never running
//! the job would leave it: the store reads the wall clock, which a test cannot move.

#![cfg(feature = "postgres")]

use std::time::Duration;

use chrono::Utc;
use sqlx::{AssertSqlSafe, PgPool};
use workos_core::domain::DeliveryStatus;
use workos_core::repo::{DeliveryQueue, DueDelivery, WebhookRepo};
use workos_store::{RetentionPolicy, SqlStore};

use crate::common::*;
use crate::retention::{claim, company, dispatch, event_ids, outcome, tenant_with_webhook};

/// The partitioned tables.
const TABLES: [&str; 2] = ["domain_events", "webhook_attempts"];

async fn as_is(db: TestDb) -> TestDb {
    db
}

/// How many of `table`'s weeks from now's to four weeks after it have no partition.
async fn missing_weeks(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM workos_missing_weeks($1, now(), 4)")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The weekly partitions of both tables (`<table>_pYYYYMMDD`); with `far`, only those of
/// weeks starting more than 14 weeks from now.
async fn weekly_partitions(pool: &PgPool, far: bool) -> Vec<String> {
    let beyond = if far {
        " AND to_date(right(c.relname, 8), 'YYYYMMDD') > now() + interval '14 weeks'"
    } else {
        ""
    };
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent IN ('domain_events'::regclass, 'webhook_attempts'::regclass)
           AND c.relname ~ '_p[0-9]{{8}}$'{beyond}"
    )))
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Drops every weekly partition of both tables (as the owner): no week from now on has one.
async fn drop_every_week(pool: &PgPool) {
    let weeks = weekly_partitions(pool, false).await;
    assert!(weeks.len() >= 10, "{weeks:?}");
    for week in weeks {
        // Names read from the catalog, of the form `<table>_pYYYYMMDD`.
        sqlx::raw_sql(AssertSqlSafe(format!("DROP TABLE {week}")))
            .execute(pool)
            .await
            .unwrap();
    }
    for table in TABLES {
        assert_eq!(missing_weeks(pool, table).await, 5, "{table}");
    }
}

/// Writes events (an org, a company) and a webhook attempt through `store`, and reads them
/// back; answers the delivery attempted (retrying).
async fn write_events_and_attempts(store: &SqlStore, name: &str) -> DueDelivery {
    let a = tenant_with_webhook(store, name).await;
    company(store, &a.ctx, "written").await;
    assert!(!event_ids(store, &a.ctx).await.is_empty());
    dispatch(store, a.org.id).await;
    let claimed = claim(store, a.org.id).await;
    let d = claimed.into_iter().next().expect("a delivery");
    store
        .record_attempts(vec![outcome(&d, DeliveryStatus::Retrying, Utc::now())])
        .await
        .unwrap();
    let attempts = store.list_attempts(&a.ctx, d.delivery.id).await.unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    d
}

workos_tests::store_test!(writes_need_no_retention_run: postgres, citus => super::as_is);
/// Weeks after the last partition the migrations made, with no retention run ever, a process
/// that starts writes events and webhook attempts: the store created the weeks it needed.
async fn writes_need_no_retention_run(db: TestDb) {
    let owner = PgPool::connect(db.url()).await.unwrap();
    drop_every_week(&owner).await;

    let store = SqlStore::connect(db.url()).await.unwrap();
    write_events_and_attempts(&store, "A").await;
    for table in TABLES {
        assert_eq!(missing_weeks(&owner, table).await, 0, "{table}");
    }
    store.close().await;
    owner.close().await;
}

workos_tests::store_test!(processes_ensure_the_weeks_at_once: postgres, citus => super::as_is);
/// Processes starting together all ensure the weeks at once, and the app role calls the
/// function from several connections at once: nothing fails, each week is created once.
async fn processes_ensure_the_weeks_at_once(db: TestDb) {
    let owner = PgPool::connect(db.url()).await.unwrap();
    drop_every_week(&owner).await;
    let weeks = || async { weekly_partitions(&owner, false).await.len() };

    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(SqlStore::connect(db.url()).await.unwrap());
    }
    let writes = stores
        .iter()
        .enumerate()
        .map(|(i, store)| async move { Tenant::new(store, &format!("org {i}")).await });
    futures_util::future::join_all(writes).await;
    assert_eq!(weeks().await, 10);

    drop_every_week(&owner).await;
    let calls = (0..6).map(|_| {
        let url = db.url().to_owned();
        async move {
            let pool = PgPool::connect(&url).await.unwrap();
            let mut tx = pool
                .begin_with("BEGIN; SET LOCAL ROLE workos_app")
                .await
                .unwrap();
            let made: (i32, i32) = sqlx::query_as(
                "SELECT created, skipped FROM workos_ensure_partitions_ahead(now(), 4)",
            )
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
            pool.close().await;
            made
        }
    });
    let made = futures_util::future::join_all(calls).await;
    assert_eq!(made.iter().map(|m| m.0).sum::<i32>(), 10, "{made:?}");
    assert!(made.iter().all(|m| m.1 == 0), "{made:?}");
    assert_eq!(weeks().await, 10);
    for store in stores {
        store.close().await;
    }
    owner.close().await;
}

workos_tests::store_test!(partition_ddl_waits_no_longer_than_its_lock_wait: postgres, citus => super::as_is);
/// While a long transaction holds a lock on the attempts' table, retention skips creating and
/// dropping its partitions after the policy's lock wait (writers queue behind the DDL only
/// that long), counts them, and does it on the next run once the table is free.
async fn partition_ddl_waits_no_longer_than_its_lock_wait(db: TestDb) {
    let store = &db.store;
    let delivery = write_events_and_attempts(store, "A").await;
    let later = Utc::now() + chrono::Duration::days(100);
    let policy = RetentionPolicy {
        partition_lock_wait: Duration::from_millis(200),
        ..RetentionPolicy::default()
    };

    let owner = PgPool::connect(db.url()).await.unwrap();
    let mut reader = owner.begin().await.unwrap();
    sqlx::query("LOCK TABLE webhook_attempts IN ACCESS SHARE MODE")
        .execute(&mut *reader)
        .await
        .unwrap();
    // Attempts recorded while retention runs: they queue behind each DDL for its lock wait at
    // most, so they finish (without the wait they would queue until the reader lets go).
    let writes = async {
        for _ in 0..20 {
            let attempt = outcome(&delivery, DeliveryStatus::Retrying, Utc::now());
            store.record_attempts(vec![attempt]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    // A guard against hanging, not a measurement: the counts below say what was skipped.
    let (blocked, ()) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(store.run_retention(&policy, later), writes)
    })
    .await
    .expect("neither retention nor the writers wait for the lock");
    let blocked = blocked.unwrap();
    assert_eq!(blocked.attempt_partitions_dropped, 0, "{blocked:?}");
    assert_eq!(blocked.attempt_partitions_created, 0, "{blocked:?}");
    assert!(blocked.attempt_partitions_skipped >= 5, "{blocked:?}");
    // The events' table was free: its weeks were kept as usual.
    assert!(blocked.event_partitions_created >= 1, "{blocked:?}");
    assert_eq!(blocked.event_partitions_skipped, 0, "{blocked:?}");
    reader.rollback().await.unwrap();

    let free = store.run_retention(&policy, later).await.unwrap();
    assert_eq!(free.attempt_partitions_skipped, 0, "{free:?}");
    assert!(free.attempt_partitions_dropped >= 1, "{free:?}");
    assert!(free.attempt_partitions_created >= 5, "{free:?}");
    owner.close().await;
}

workos_tests::store_test!(the_app_role_ensures_only_weeks_near_now: postgres, citus => super::as_is);
/// The app role may ensure the weeks ahead, but only from about now: asked for the weeks of
/// next year (or of ten years ago), the function makes the weeks from now's on, never a week
/// more than 13 weeks after the database's clock.
async fn the_app_role_ensures_only_weeks_near_now(db: TestDb) {
    let owner = PgPool::connect(db.url()).await.unwrap();
    drop_every_week(&owner).await;
    let mut tx = owner
        .begin_with("BEGIN; SET LOCAL ROLE workos_app")
        .await
        .unwrap();
    for at in ["now() + interval '1 year'", "now() - interval '10 years'"] {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "SELECT * FROM workos_ensure_partitions_ahead({at}, 12)"
        )))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(weekly_partitions(&owner, true).await, Vec::<String>::new());
    // The weeks from now's on were made (the call was not refused outright).
    for table in TABLES {
        assert_eq!(missing_weeks(&owner, table).await, 0, "{table}");
    }
    owner.close().await;
}
