//! Retention removes only what it should: old events every consumer has read and no live
//! delivery needs (with their finished deliveries), old attempts of finished deliveries (on
//! Postgres both as whole weekly partitions where nothing live is left in them), idempotency
//! keys past their time and expired OAuth states; and keeps events a webhook still has to
//! deliver.
//!
//! The runs are made "as of" a time 100 days ahead instead of on old rows: retention reads the
//! clock only through its argument (the idempotency purge excepted, which is given a zero age).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use workos_core::domain::{
    DeliveryAttempt, DeliveryStatus, HttpUrl, NewCompany, NewWebhook, Timestamp, Webhook,
};
use workos_core::events::{EventFilter, EventLog};
use workos_core::ids::{EventId, OrgId, UserId};
use workos_core::repo::{
    AttemptOutcome, CompanyRepo, DeliveryQueue, DueDelivery, EventRepo, IdempotencyRepo,
    IdempotencyState, OAuthStateRepo, PendingOAuth, SealedSecrets, StoredResponse, WebhookRepo,
};
use workos_core::tenant::TenantContext;
use workos_store::{RetentionPolicy, RetentionReport, SqlStore, days};

use crate::common::*;

pub(crate) async fn company(store: &SqlStore, ctx: &TenantContext, name: &str) {
    let new = NewCompany {
        name: name.into(),
        domain: None,
    };
    store.create_company(ctx, new).await.unwrap();
}

pub(crate) async fn webhook(store: &SqlStore, ctx: &TenantContext) -> Webhook {
    let endpoint = NewWebhook {
        url: HttpUrl::parse("https://receiver.example.com/hooks").unwrap(),
        description: None,
        event_types: Vec::new(),
        enabled: true,
        headers: Default::default(),
        rate_limit_per_second: None,
    };
    store
        .create_webhook(
            ctx,
            endpoint,
            SealedSecrets(vec![1, 2, 3]),
            SealedSecrets(vec![4]),
        )
        .await
        .unwrap()
}

pub(crate) async fn event_ids(store: &SqlStore, ctx: &TenantContext) -> BTreeSet<EventId> {
    store
        .list_events(ctx, EventFilter::default(), page(100))
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// A tenant `name` with one webhook endpoint (receiving every event).
pub(crate) async fn tenant_with_webhook(store: &SqlStore, name: &str) -> Tenant {
    let tenant = Tenant::new(store, name).await;
    webhook(store, &tenant.ctx).await;
    tenant
}

/// Makes the deliveries of org `org`'s events not dispatched yet.
pub(crate) async fn dispatch(store: &SqlStore, org: OrgId) {
    store
        .dispatch_events("webhooks", org, 1000)
        .await
        .unwrap()
        .expect("nobody else dispatches");
}

/// Claims org `org`'s due deliveries (up to 100, for a minute).
pub(crate) async fn claim(store: &SqlStore, org: OrgId) -> Vec<DueDelivery> {
    store
        .claim_org_deliveries(org, 100, Duration::from_secs(60))
        .await
        .unwrap()
}

/// Records `name` (a company) in `ctx`'s org; answers the events that made.
async fn events_of_new_company(
    store: &SqlStore,
    ctx: &TenantContext,
    name: &str,
) -> BTreeSet<EventId> {
    let before = event_ids(store, ctx).await;
    company(store, ctx, name).await;
    let after = event_ids(store, ctx).await;
    after.difference(&before).copied().collect()
}

/// Records an attempt at `at` of each delivery: `live` retrying, the `finished` ones succeeded.
async fn record_live_and_finished(
    store: &SqlStore,
    live: &DueDelivery,
    finished: &[DueDelivery],
    at: Timestamp,
) {
    let mut outcomes = vec![outcome(live, DeliveryStatus::Retrying, at)];
    outcomes.extend(
        finished
            .iter()
            .map(|d| outcome(d, DeliveryStatus::Succeeded, at)),
    );
    store.record_attempts(outcomes).await.unwrap();
}

pub(crate) fn outcome(d: &DueDelivery, status: DeliveryStatus, at: Timestamp) -> AttemptOutcome {
    let retry = status == DeliveryStatus::Retrying;
    AttemptOutcome {
        org_id: d.delivery.org_id,
        webhook_id: d.delivery.webhook_id,
        attempt: DeliveryAttempt {
            delivery_id: d.delivery.id,
            attempted_at: at,
            status_code: Some(if retry { 503 } else { 200 }),
            error_kind: None,
            latency_ms: 5,
            response_body: Some("ok".into()),
            next_attempt_at: retry.then(|| at + chrono::Duration::days(365)),
        },
        status,
        disable_endpoint: None,
    }
}

fn policy(events_days: u32) -> RetentionPolicy {
    RetentionPolicy {
        events: days(events_days),
        attempts: days(30),
        idempotency: Duration::ZERO,
        batch: 2,
        max_batches: 100,
        ..RetentionPolicy::default()
    }
}

contract_test!(retention_removes_only_what_it_should);
async fn retention_removes_only_what_it_should(store: &SqlStore) {
    let postgres = store.backend_name() == "postgres";
    // A: a webhook, its events dispatched; B: no webhook, no consumer; C: a webhook the
    // dispatcher has not reached yet.
    let a = tenant_with_webhook(store, "A").await;
    let b = Tenant::new(store, "B").await;
    let c = tenant_with_webhook(store, "C").await;
    for i in 0..3 {
        company(store, &a.ctx, &format!("a{i}")).await;
        company(store, &b.ctx, &format!("b{i}")).await;
        company(store, &c.ctx, &format!("c{i}")).await;
    }
    dispatch(store, a.org.id).await;
    let claimed = claim(store, a.org.id).await;
    assert!(claimed.len() >= 4, "{claimed:?}");
    // One delivery is retrying (a live delivery), the others succeeded.
    let (live, finished) = claimed.split_first().unwrap();
    let now = Utc::now();
    record_live_and_finished(store, live, finished, now).await;
    // An event after the dispatcher's cursor: not read yet.
    let late = events_of_new_company(store, &a.ctx, "late").await;
    let a_events = event_ids(store, &a.ctx).await;
    assert_eq!(late.len(), 1);
    let c_events = event_ids(store, &c.ctx).await;
    assert!(!event_ids(store, &b.ctx).await.is_empty());

    // An idempotency key, completed; OAuth states, one expiring before the runs, one after.
    let key = "retention-key";
    assert_eq!(
        store
            .reserve_idempotent(&a.ctx, key, b"f", Duration::from_secs(60))
            .await
            .unwrap(),
        IdempotencyState::Reserved
    );
    let response = StoredResponse {
        status: 201,
        location: None,
        body: b"{}".to_vec(),
    };
    store
        .complete_idempotent(&a.ctx, key, response)
        .await
        .unwrap();
    let oauth = |expires_at| PendingOAuth {
        org_id: a.org.id,
        user_id: UserId::new(),
        provider: "gmail".into(),
        sealed_verifier: SealedSecrets(vec![9]),
        expires_at,
    };
    let later = now + chrono::Duration::days(100);
    store
        .put_oauth_state("expiring", oauth(now + chrono::Duration::minutes(10)))
        .await
        .unwrap();
    store
        .put_oauth_state("lasting", oauth(later + chrono::Duration::days(1)))
        .await
        .unwrap();

    // Run 1, 100 days on, events kept for a year: only attempts (of finished deliveries),
    // the key and the expired state go.
    let first = store.run_retention(&policy(365), later).await.unwrap();
    let finished_n = u64::try_from(finished.len()).unwrap();
    assert_eq!(first.events, 0, "{first:?}");
    assert_eq!(first.deliveries, 0, "{first:?}");
    // On Postgres the week holding them is kept (a live delivery's attempt is in it), so its
    // other rows are deleted one by one; the empty weeks around it are dropped.
    assert_eq!(first.attempts, finished_n, "{first:?}");
    assert_eq!(first.idempotency_keys, 1, "{first:?}");
    assert_eq!(first.oauth_states, 1, "{first:?}");
    if postgres {
        assert!(first.attempt_partitions_dropped >= 1, "{first:?}");
        assert!(first.attempt_partitions_created >= 1, "{first:?}");
    } else {
        assert_eq!(first.attempt_partitions_dropped, 0, "{first:?}");
    }
    for d in finished {
        let attempts = store.list_attempts(&a.ctx, d.delivery.id).await.unwrap();
        assert!(attempts.is_empty(), "{attempts:?}");
    }
    let kept = store.list_attempts(&a.ctx, live.delivery.id).await.unwrap();
    assert_eq!(kept.len(), 1, "the live delivery's attempt stays");
    assert_eq!(event_ids(store, &a.ctx).await, a_events);
    assert!(
        store.take_oauth_state("lasting").await.unwrap().is_some(),
        "a state that has not expired stays"
    );
    // The purged key is free again: the same key with another body is a new request.
    assert_eq!(
        store
            .reserve_idempotent(&a.ctx, key, b"g", Duration::from_secs(60))
            .await
            .unwrap(),
        IdempotencyState::Reserved
    );

    // Run 2, events kept 90 days: A keeps the event with a live delivery and the one the
    // dispatcher has not read, B (nothing consumes its log) keeps nothing, C keeps everything
    // (its webhook's dispatcher has not reached it).
    let second = store.run_retention(&policy(90), later).await.unwrap();
    let remaining = event_ids(store, &a.ctx).await;
    let mut expected = late.clone();
    expected.insert(live.event.id);
    assert_eq!(remaining, expected, "{second:?}");
    assert!(event_ids(store, &b.ctx).await.is_empty(), "{second:?}");
    assert_eq!(event_ids(store, &c.ctx).await, c_events, "{second:?}");
    assert_eq!(second.deliveries, finished_n, "{second:?}");
    let live_now = store.get_delivery(&a.ctx, live.delivery.id).await.unwrap();
    assert_eq!(live_now.status, DeliveryStatus::Retrying);
    for d in finished {
        expect_not_found(store.get_delivery(&a.ctx, d.delivery.id).await);
    }

    // The live delivery succeeds: its event, delivery and attempts go on the next run (on
    // Postgres its week is dropped whole).
    let done = outcome(live, DeliveryStatus::Succeeded, now);
    store.record_attempts(vec![done]).await.unwrap();
    let third = store.run_retention(&policy(90), later).await.unwrap();
    assert_eq!(third.deliveries, 1, "{third:?}");
    assert_eq!(event_ids(store, &a.ctx).await, late, "{third:?}");
    expect_not_found(store.get_delivery(&a.ctx, live.delivery.id).await);
    if postgres {
        assert!(third.attempt_partitions_dropped >= 1, "{third:?}");
    }

    // Nothing left to do: a run deletes nothing more (several workers may run it at once).
    let fourth = store.run_retention(&policy(90), later).await.unwrap();
    assert_eq!(fourth, RetentionReport::default());
}

/// The migration that partitions events.
#[cfg(feature = "postgres")]
const EVENTS_PARTITIONED: i64 = 20_261_206_000_091;

/// Every migration but those `skipped` says: today's code writes the rows (events with their
/// actors, endpoints with sealed headers), so earlier migrations are in; the skipped ones then
/// run (`SqlStore::migrate`) on tables that hold rows, as on a database that took them after
/// its data. (Those after the one a test is about are skipped too: they build on it.)
#[cfg(feature = "postgres")]
fn migrations_but(skipped: impl Fn(i64) -> bool) -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("migrations/postgres");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| !skipped(m.version))
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator
}

/// Every migration but those that partition webhook attempts (030–032) and, as they build on
/// them, the one that partitions events and those after it.
#[cfg(feature = "postgres")]
fn before_partitioning() -> sqlx::migrate::Migrator {
    migrations_but(|v| {
        (20_261_206_000_030..=20_261_206_000_032).contains(&v) || v >= EVENTS_PARTITIONED
    })
}

/// Attempts made before the migration that partitions them are still there after it (one a
/// year old, one of this week: two partitions), new ones are recorded into the partitions,
/// and retention then deletes the old one.
#[cfg(feature = "postgres")]
async fn attempts_survive_partitioning(url: &str) {
    let store = SqlStore::connect(url).await.unwrap();
    let a = tenant_with_webhook(&store, "A").await;
    company(&store, &a.ctx, "before").await;
    dispatch(&store, a.org.id).await;
    let claimed = claim(&store, a.org.id).await;
    let d = claimed.first().expect("a delivery");
    let now = Utc::now();
    let year_ago = now - chrono::Duration::days(365);
    store
        .record_attempts(vec![outcome(d, DeliveryStatus::Retrying, year_ago)])
        .await
        .unwrap();
    store
        .record_attempts(vec![outcome(d, DeliveryStatus::Retrying, now)])
        .await
        .unwrap();

    store.migrate().await.expect("the remaining migrations");
    let attempts = store.list_attempts(&a.ctx, d.delivery.id).await.unwrap();
    let times: Vec<_> = attempts.iter().map(|x| x.attempted_at).collect();
    assert_eq!(times.len(), 2, "{attempts:?}");
    assert!(
        (times[0] - year_ago).num_milliseconds().abs() < 1,
        "{times:?}"
    );
    let done = outcome(d, DeliveryStatus::Succeeded, now);
    store.record_attempts(vec![done]).await.unwrap();
    assert_eq!(
        store
            .list_attempts(&a.ctx, d.delivery.id)
            .await
            .unwrap()
            .len(),
        3
    );

    let report = store
        .run_retention(&RetentionPolicy::default(), now)
        .await
        .unwrap();
    assert_eq!(report.attempts, 1, "the year-old attempt: {report:?}");
    let left = store.list_attempts(&a.ctx, d.delivery.id).await.unwrap();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|x| x.attempted_at > year_ago), "{left:?}");
    store.close().await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_survive_partitioning_postgres() {
    let Some(db) = workos_tests::db::TestDatabase::postgres("workos_partitioning").await else {
        return;
    };
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    before_partitioning().run(&pool).await.unwrap();
    pool.close().await;
    attempts_survive_partitioning(db.url()).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_survive_partitioning_citus() {
    let schema = format!(
        "{}_without_030_032_from_091",
        workos_store::schema_fingerprint()
    );
    let Some(db) =
        workos_tests::db::TestDatabase::citus("workos_partitioning", &schema, |url| async move {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            before_partitioning().run(&pool).await.unwrap();
            pool.close().await;
        })
        .await
    else {
        return;
    };
    attempts_survive_partitioning(db.url()).await;
}

contract_test!(a_week_of_events_stays_while_a_webhook_needs_it);
/// A week of events is not dropped (Postgres) nor its events deleted while one of them has a
/// pending or retrying delivery, or a consumer has not read one; once every delivery is
/// finished and every event read, the week goes (on Postgres whole: no event deleted one by
/// one).
async fn a_week_of_events_stays_while_a_webhook_needs_it(store: &SqlStore) {
    let postgres = store.backend_name() == "postgres";
    let a = tenant_with_webhook(store, "A").await;
    company(store, &a.ctx, "first").await;
    dispatch(store, a.org.id).await;
    let claimed = claim(store, a.org.id).await;
    let (live, finished) = claimed.split_first().expect("deliveries");
    let now = Utc::now();
    record_live_and_finished(store, live, finished, now).await;
    let late = events_of_new_company(store, &a.ctx, "late").await;
    let later = now + chrono::Duration::days(100);
    let events = |ids: &[&BTreeSet<EventId>]| ids.iter().flat_map(|s| s.iter().copied()).collect();

    // A retrying delivery and an unread event: both stay (the events read and delivered go).
    let first = store.run_retention(&policy(90), later).await.unwrap();
    let live_event = BTreeSet::from([live.event.id]);
    assert_eq!(
        event_ids(store, &a.ctx).await,
        events(&[&live_event, &late]),
        "{first:?}"
    );

    // The delivery succeeds; the unread event alone keeps the week.
    let done = outcome(live, DeliveryStatus::Succeeded, now);
    store.record_attempts(vec![done]).await.unwrap();
    let second = store.run_retention(&policy(90), later).await.unwrap();
    assert_eq!(event_ids(store, &a.ctx).await, late, "{second:?}");
    assert_eq!(second.event_partitions_dropped, 0, "{second:?}");

    // The dispatcher reads it: its delivery, pending, keeps the week. (Attempts from now on
    // are made `later`: retention as of then dropped this week's attempt partition.)
    dispatch(store, a.org.id).await;
    let third = store.run_retention(&policy(90), later).await.unwrap();
    assert_eq!(event_ids(store, &a.ctx).await, late, "{third:?}");
    assert_eq!(third.event_partitions_dropped, 0, "{third:?}");

    // Delivered: the week goes, on Postgres as a whole partition.
    let pending = claim(store, a.org.id).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let done = outcome(&pending[0], DeliveryStatus::Succeeded, later);
    store.record_attempts(vec![done]).await.unwrap();
    let fourth = store.run_retention(&policy(90), later).await.unwrap();
    assert!(event_ids(store, &a.ctx).await.is_empty(), "{fourth:?}");
    assert_eq!(fourth.deliveries, 1, "{fourth:?}");
    if postgres {
        assert_eq!(fourth.events, 0, "dropped, not deleted: {fourth:?}");
        assert!(fourth.event_partitions_dropped >= 1, "{fourth:?}");
    } else {
        assert_eq!(fourth.events, 1, "{fourth:?}");
    }
    expect_not_found(store.get_delivery(&a.ctx, pending[0].delivery.id).await);
}

/// Dates all of org `org`'s events `at` (as the owner, in the org's scope).
#[cfg(feature = "postgres")]
async fn date_events(url: &str, org: workos_core::ids::OrgId, at: Timestamp) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('workos.org_id', $1, true)")
        .bind(org.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE domain_events SET occurred_at = $1 WHERE org_id = $2")
        .bind(at)
        .bind(org.as_uuid())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
}

/// Events recorded before the migration that partitions them (a year old, and of this week,
/// with their deliveries) are all there after it, in their positions; new ones are recorded
/// and read back in order; retention then deletes the old ones and, once past retention,
/// drops the week.
#[cfg(feature = "postgres")]
async fn events_survive_partitioning(url: &str) {
    let store = SqlStore::connect(url).await.unwrap();
    let a = tenant_with_webhook(&store, "A").await;
    company(&store, &a.ctx, "old").await;
    let deliver_all = async |store: &SqlStore| {
        dispatch(store, a.org.id).await;
        let claimed = claim(store, a.org.id).await;
        let outcomes: Vec<_> = claimed
            .iter()
            .map(|d| outcome(d, DeliveryStatus::Succeeded, Utc::now()))
            .collect();
        store.record_attempts(outcomes).await.unwrap();
        claimed
    };
    let old_deliveries = deliver_all(&store).await;
    assert!(!old_deliveries.is_empty());
    date_events(url, a.org.id, Utc::now() - chrono::Duration::days(365)).await;
    let old = event_ids(&store, &a.ctx).await;
    company(&store, &a.ctx, "current").await;
    let before = store.read_events(a.org.id, 0, 100).await.unwrap();

    store.migrate().await.expect("the remaining migrations");
    assert_eq!(store.read_events(a.org.id, 0, 100).await.unwrap(), before);
    for d in &old_deliveries {
        let kept = store.get_delivery(&a.ctx, d.delivery.id).await.unwrap();
        assert_eq!(kept.status, DeliveryStatus::Succeeded);
    }
    company(&store, &a.ctx, "new").await;
    let after = store.read_events(a.org.id, 0, 100).await.unwrap();
    let positions: Vec<u64> = after.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        (1..=u64::try_from(after.len()).unwrap()).collect::<Vec<_>>()
    );
    assert_eq!(after[..before.len()], before[..]);
    let new = &after[before.len()..];
    assert!(!new.is_empty());
    assert_eq!(
        store.get_event(&a.ctx, new[0].event.id).await.unwrap(),
        new[0].event
    );
    let current_deliveries = deliver_all(&store).await;

    // The year-old events go, row by row: their partition, of the rows from before the
    // migration, reaches up to this week. This week's stay.
    let now = Utc::now();
    let report = store
        .run_retention(&RetentionPolicy::default(), now)
        .await
        .unwrap();
    assert_eq!(
        report.events,
        u64::try_from(old.len()).unwrap(),
        "{report:?}"
    );
    let left = event_ids(&store, &a.ctx).await;
    assert!(left.is_disjoint(&old), "{left:?}");
    assert_eq!(left.len(), after.len() - old.len(), "{report:?}");

    // 100 days on, this week goes whole, with its finished deliveries.
    let later = store
        .run_retention(
            &RetentionPolicy::default(),
            now + chrono::Duration::days(100),
        )
        .await
        .unwrap();
    assert!(event_ids(&store, &a.ctx).await.is_empty(), "{later:?}");
    assert_eq!(later.events, 0, "dropped, not deleted: {later:?}");
    assert!(later.event_partitions_dropped >= 1, "{later:?}");
    assert_eq!(
        later.deliveries,
        u64::try_from(current_deliveries.len()).unwrap(),
        "{later:?}"
    );
    store.close().await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_partitioning_postgres() {
    let Some(db) = workos_tests::db::TestDatabase::postgres("workos_ev_partitioning").await else {
        return;
    };
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    migrations_but(|v| v >= EVENTS_PARTITIONED)
        .run(&pool)
        .await
        .unwrap();
    pool.close().await;
    events_survive_partitioning(db.url()).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_partitioning_citus() {
    let schema = format!("{}_before_091", workos_store::schema_fingerprint());
    let Some(db) = workos_tests::db::TestDatabase::citus(
        "workos_ev_partitioning",
        &schema,
        |url| async move {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            migrations_but(|v| v >= EVENTS_PARTITIONED)
                .run(&pool)
                .await
                .unwrap();
            pool.close().await;
        },
    )
    .await
    else {
        return;
    };
    events_survive_partitioning(db.url()).await;
}
