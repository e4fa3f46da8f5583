//! The store's delivery queue as workers use it: claims, batched recording, hand-backs and
//! the wake-ups workers wait on; and the worker's dead-lettering of deliveries it cannot sign.

use std::collections::BTreeSet;
use std::time::Duration;

use workos_core::crypto::{Cipher, SecretKey};
use workos_core::domain::{
    DeliveryAttempt, DeliveryStatus, WebhookDelivery, event_type_matches, now,
};
use workos_core::events::{EventBus as _, EventLog as _, types};
use workos_core::ids::{EventId, WebhookDeliveryId, WebhookId};
use workos_core::repo::{AttemptOutcome, DeliveryQueue, DueDelivery, WebhookRepo};
use workos_store::SqlStore;
use workos_webhooks::worker::{DeliveryWorker, Dispatcher, ERROR_SECRETS_UNREADABLE, Pipeline};

use crate::common::{HANG_GUARD, Harness, Receiver, Reply, wait_until};

const LEASE: Duration = Duration::from_secs(60);

/// Creates `n` companies and dispatches until `expected` deliveries exist (on Postgres a
/// committed event is readable once no older transaction of the cluster runs: retry).
async fn dispatch(h: &Harness, n: usize, expected: usize) {
    for i in 0..n {
        h.company(&format!("Company {i}")).await;
    }
    let dispatcher = Dispatcher::new(h.store.clone(), &Harness::config("0"));
    let mut made = 0;
    tokio::time::timeout(HANG_GUARD, async {
        while made < expected {
            made += dispatcher.run_once().await.unwrap().deliveries;
            if made < expected {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    })
    .await
    .expect("the events are dispatched");
    assert_eq!(made, expected);
}

/// Claims until `n` deliveries are claimed (or fails after the hang guard).
async fn claim(h: &Harness, n: usize) -> Vec<DueDelivery> {
    let claimed = h.store.claim_deliveries(100, LEASE).await.unwrap();
    assert_eq!(claimed.len(), n, "claimed {claimed:#?}");
    claimed
}

fn outcome(due: &DueDelivery, status: DeliveryStatus, code: u16, seconds: i64) -> AttemptOutcome {
    AttemptOutcome {
        org_id: due.delivery.org_id,
        webhook_id: due.delivery.webhook_id,
        attempt: DeliveryAttempt {
            delivery_id: due.delivery.id,
            attempted_at: now() + chrono::Duration::seconds(seconds),
            status_code: Some(code),
            error_kind: None,
            latency_ms: 7,
            response_body: Some(format!("answer {code}")),
            next_attempt_at: (status == DeliveryStatus::Retrying)
                .then(|| now() + chrono::Duration::hours(1)),
        },
        status,
        disable_endpoint: None,
    }
}

async fn delivery(h: &Harness, due: &DueDelivery) -> WebhookDelivery {
    h.store.get_delivery(&h.ctx, due.delivery.id).await.unwrap()
}

/// A claim returns each due delivery once with what sending needs; a hand-back makes it
/// claimable again without an attempt, at once or from a later time.
async fn released_deliveries_are_claimable_again(store: &SqlStore) {
    let h = Harness::new(store).await;
    let (hook, _) = h.endpoint("http://127.0.0.1:9/", &["company.*"]).await;
    dispatch(&h, 2, 2).await;
    let claimed = claim(&h, 2).await;
    assert!(claimed.iter().all(|d| d.delivery.webhook_id == hook.id
        && d.url == "http://127.0.0.1:9/"
        && d.event.event_type == "company.created"));
    assert!(
        h.store
            .claim_deliveries(100, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "claimed deliveries are leased"
    );

    // Released now: claimable at once, no attempt counted.
    let (first, second) = (&claimed[0], &claimed[1]);
    h.store
        .release_deliveries(vec![(first.delivery.org_id, first.delivery.id)], now())
        .await
        .unwrap();
    let again = claim(&h, 1).await;
    assert_eq!(again[0].delivery.id, first.delivery.id);
    assert_eq!(again[0].delivery.attempts, 0);
    assert!(h.attempts(first.delivery.id).await.is_empty());

    // Released for later: not claimable now, due then.
    let later = now() + chrono::Duration::hours(1);
    h.store
        .release_deliveries(vec![(second.delivery.org_id, second.delivery.id)], later)
        .await
        .unwrap();
    assert!(
        h.store
            .claim_deliveries(100, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let d = delivery(&h, second).await;
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 0));

    // A recorded delivery is not revived by a late hand-back.
    h.store
        .record_attempts(vec![outcome(&again[0], DeliveryStatus::Succeeded, 200, 0)])
        .await
        .unwrap();
    h.store
        .release_deliveries(vec![(first.delivery.org_id, first.delivery.id)], now())
        .await
        .unwrap();
    assert!(
        h.store
            .claim_deliveries(100, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(delivery(&h, first).await.status, DeliveryStatus::Succeeded);
}
store_test!(released_deliveries_are_claimable_again);

/// Claimers racing over one queue each take at most their limit, and no delivery twice. On
/// Postgres a claim picks its rows once per statement: picked as `id IN (…)`, the pick could be
/// evaluated again within the statement, skip what was already taken and claim past the limit
/// (369 for a limit of 100 under load, which panicked the worker that had room for 100).
async fn racing_claims_keep_their_limits(store: &SqlStore) {
    const DELIVERIES: usize = 120;
    const LIMIT: u32 = 7;
    let h = Harness::new(store).await;
    h.endpoint("http://127.0.0.1:9/", &["company.*"]).await;
    dispatch(&h, DELIVERIES, DELIVERIES).await;
    let claimers: Vec<_> = (0..6)
        .map(|_| {
            let store = h.store.clone();
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                loop {
                    let batch = store.claim_deliveries(LIMIT, LEASE).await.unwrap();
                    assert!(
                        batch.len() <= LIMIT as usize,
                        "a claim of {LIMIT} took {}",
                        batch.len()
                    );
                    if batch.is_empty() {
                        return claimed;
                    }
                    claimed.extend(batch.into_iter().map(|d| d.delivery.id.as_uuid()));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.expect("a claimer"));
    }
    let distinct: BTreeSet<_> = all.iter().collect();
    assert_eq!((all.len(), distinct.len()), (DELIVERIES, DELIVERIES));
}
store_test!(racing_claims_keep_their_limits);

/// One batch with outcomes for two endpoints records every attempt and delivery, and leaves
/// each endpoint's failure state as the outcomes applied in order would.
async fn a_batch_records_like_its_outcomes_in_order(store: &SqlStore) {
    let h = Harness::new(store).await;
    let (a, _) = h.endpoint("http://127.0.0.1:9/a", &["company.*"]).await;
    let (b, _) = h.endpoint("http://127.0.0.1:9/b", &["company.*"]).await;
    dispatch(&h, 2, 4).await;
    let claimed = claim(&h, 4).await;
    let of = |hook: WebhookId| -> Vec<&DueDelivery> {
        claimed
            .iter()
            .filter(|d| d.delivery.webhook_id == hook)
            .collect()
    };
    let (a1, a2) = (of(a.id)[0], of(a.id)[1]);
    let (b1, b2) = (of(b.id)[0], of(b.id)[1]);
    // a: fails, then succeeds → not failing. b: fails twice → failing since its first.
    let b_first = outcome(b1, DeliveryStatus::Retrying, 500, 1);
    let b_since = b_first.attempt.attempted_at;
    h.store
        .record_attempts(vec![
            outcome(a1, DeliveryStatus::Retrying, 503, 0),
            b_first,
            outcome(a2, DeliveryStatus::Succeeded, 204, 2),
            outcome(b2, DeliveryStatus::Failed, 500, 3),
        ])
        .await
        .unwrap();

    let hook = |id| {
        let (store, ctx) = (h.store.clone(), h.ctx.clone());
        async move { store.get_webhook(&ctx, id).await.unwrap() }
    };
    assert_eq!(hook(a.id).await.failing_since, None);
    assert_eq!(hook(b.id).await.failing_since, Some(b_since));

    for (due, status, code) in [
        (a1, DeliveryStatus::Retrying, 503),
        (a2, DeliveryStatus::Succeeded, 204),
        (b1, DeliveryStatus::Retrying, 500),
        (b2, DeliveryStatus::Failed, 500),
    ] {
        let d = delivery(&h, due).await;
        assert_eq!(
            (d.status, d.attempts, d.last_status_code),
            (status, 1, Some(code))
        );
        let attempts = h.attempts(due.delivery.id).await;
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].status_code, Some(code));
        assert_eq!(attempts[0].latency_ms, 7);
        assert_eq!(
            attempts[0].response_body.as_deref(),
            Some(&*format!("answer {code}"))
        );
        assert_eq!(
            attempts[0].next_attempt_at.is_some(),
            status == DeliveryStatus::Retrying
        );
    }

    // A later failure keeps b's first failure time; a success clears it.
    let retry = h.store.claim_deliveries(100, LEASE).await.unwrap();
    assert!(retry.is_empty(), "retries are due in an hour");
    h.store
        .replay_delivery(&h.ctx, b1.delivery.id)
        .await
        .unwrap();
    let replayed = claim(&h, 1).await;
    h.store
        .record_attempts(vec![outcome(
            &replayed[0],
            DeliveryStatus::Retrying,
            500,
            10,
        )])
        .await
        .unwrap();
    assert_eq!(hook(b.id).await.failing_since, Some(b_since));
    h.store
        .replay_delivery(&h.ctx, b1.delivery.id)
        .await
        .unwrap();
    let replayed = claim(&h, 1).await;
    h.store
        .record_attempts(vec![outcome(
            &replayed[0],
            DeliveryStatus::Succeeded,
            200,
            20,
        )])
        .await
        .unwrap();
    assert_eq!(hook(b.id).await.failing_since, None);
    assert_eq!(delivery(&h, b1).await.attempts, 3);
}
store_test!(a_batch_records_like_its_outcomes_in_order);

/// Workers are told when deliveries become due: created by a dispatcher, replayed, or handed
/// back.
async fn workers_are_woken_when_deliveries_become_due(store: &SqlStore) {
    let h = Harness::new(store).await;
    h.endpoint("http://127.0.0.1:9/", &["company.*"]).await;
    let mut due = h.store.subscribe_due().await.unwrap();
    dispatch(&h, 1, 1).await;
    tokio::time::timeout(HANG_GUARD, due.next())
        .await
        .expect("a notice after dispatch")
        .unwrap();

    let claimed = claim(&h, 1).await;
    let mut due = h.store.subscribe_due().await.unwrap();
    h.store
        .release_deliveries(
            vec![(claimed[0].delivery.org_id, claimed[0].delivery.id)],
            now(),
        )
        .await
        .unwrap();
    tokio::time::timeout(HANG_GUARD, due.next())
        .await
        .expect("a notice after a hand-back")
        .unwrap();

    let mut due = h.store.subscribe_due().await.unwrap();
    h.store
        .replay_delivery(&h.ctx, claimed[0].delivery.id)
        .await
        .unwrap();
    tokio::time::timeout(HANG_GUARD, due.next())
        .await
        .expect("a notice after a replay")
        .unwrap();
}
store_test!(workers_are_woken_when_deliveries_become_due);

/// Workers in other processes are woken too: two stores on one Postgres database stand for
/// two processes, and the deliveries a dispatch makes due in one wake the other's workers.
#[tokio::test]
async fn workers_of_other_processes_are_woken() {
    let Some(db) = workos_tests::db::TestDatabase::postgres("workos_due").await else {
        return;
    };
    let here = SqlStore::connect(db.url()).await.unwrap();
    here.migrate().await.unwrap();
    let there = SqlStore::connect(db.url()).await.unwrap();
    let h = Harness::new(&here).await;
    h.endpoint("http://127.0.0.1:9/", &["company.*"]).await;
    let mut due = there.subscribe_due().await.unwrap();
    dispatch(&h, 1, 1).await;
    tokio::time::timeout(HANG_GUARD, due.next())
        .await
        .expect("a notice in the other process")
        .unwrap();
}

/// Deleting an endpoint while a worker records an attempt of one of its deliveries. Recording
/// takes the delivery, then the endpoint (`failing_since`); the delete must take them in the
/// same order, or Postgres aborts one of the two as a deadlock (a `500` the contract check
/// found). Postgres: a raw transaction holds the delivery as the recorder does while the delete
/// starts and waits, then takes the endpoint; both must succeed.
#[tokio::test]
async fn deleting_an_endpoint_while_an_attempt_is_recorded_does_not_deadlock() {
    use sqlx::{AssertSqlSafe, Connection as _};
    let Some(db) = workos_tests::db::TestDatabase::postgres("workos_delete_race").await else {
        return;
    };
    let store = SqlStore::connect(db.url()).await.unwrap();
    store.migrate().await.unwrap();
    let h = Harness::new(&store).await;
    let (hook, _) = h.endpoint("http://127.0.0.1:9/", &["company.*"]).await;
    dispatch(&h, 1, 1).await;
    let org = h.ctx.org_id();
    let mut recorder = sqlx::PgConnection::connect(db.url()).await.unwrap();
    // The recorder's first step: the delivery (the org's only one), as the engine's role.
    let scope = format!(
        "BEGIN; SET LOCAL ROLE workos_app; SET LOCAL workos.user_id = ''; \
         SET LOCAL workos.org_id = '{org}'; SET LOCAL workos.scope = ''"
    );
    sqlx::raw_sql(AssertSqlSafe(scope))
        .execute(&mut recorder)
        .await
        .unwrap();
    let held = sqlx::query("UPDATE webhook_deliveries SET updated_at = now() WHERE org_id = $1")
        .bind(org.as_uuid())
        .execute(&mut recorder)
        .await
        .unwrap();
    assert_eq!(held.rows_affected(), 1);

    let delete = tokio::spawn({
        let (store, ctx) = (h.store.clone(), h.ctx.clone());
        async move { store.delete_webhook(&ctx, hook.id).await }
    });
    // Until the delete waits for a lock the recorder holds.
    let waiting = "SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let mut watcher = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let blocked = tokio::time::timeout(HANG_GUARD, async {
        while sqlx::query_scalar::<_, i64>(waiting)
            .fetch_one(&mut watcher)
            .await
            .unwrap()
            == 0
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(blocked.is_ok(), "the delete waits for the delivery");
    // The recorder's second step: the endpoint. Had the delete taken it first, one of the two
    // would now be aborted as a deadlock.
    sqlx::query("UPDATE webhooks SET failing_since = now() WHERE org_id = $1 AND id = $2")
        .bind(org.as_uuid())
        .bind(hook.id.as_uuid())
        .execute(&mut recorder)
        .await
        .expect("the recorder is not a deadlock victim");
    sqlx::raw_sql("COMMIT")
        .execute(&mut recorder)
        .await
        .unwrap();
    tokio::time::timeout(HANG_GUARD, delete)
        .await
        .expect("the delete finishes")
        .unwrap()
        .expect("the delete is not a deadlock victim");
}

/// A delivery whose endpoint's secrets do not open (here: a worker with another key) is
/// dead-lettered at once with an attempt saying why, and nothing is sent.
async fn unreadable_secrets_dead_letter(store: &SqlStore) {
    let h = Harness::new(store).await;
    let rx = Receiver::start(vec![], Reply::ok()).await;
    let (hook, _) = h.endpoint(&rx.url("/"), &["company.*"]).await;
    dispatch(&h, 1, 1).await;

    let other_key = std::sync::Arc::new(Cipher::new(1, SecretKey::generate()));
    let worker =
        DeliveryWorker::new(h.store.clone(), other_key, &Harness::config("0,0,0")).unwrap();
    assert_eq!(worker.run_once().await.unwrap(), 1);

    let d = h.delivery(hook.id).await;
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Failed, 1));
    assert_eq!(d.next_attempt_at, None);
    let attempts = h.attempts(d.id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        attempts[0].error_kind.as_deref(),
        Some(ERROR_SECRETS_UNREADABLE)
    );
    assert_eq!(attempts[0].status_code, None);
    assert!(rx.requests().is_empty(), "nothing was sent");
    assert!(
        h.store
            .claim_deliveries(100, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "a dead letter is not claimed again"
    );

    // Replayed with the right key, it is delivered.
    h.store.replay_delivery(&h.ctx, d.id).await.unwrap();
    let pipeline =
        Pipeline::spawn(h.store.clone(), h.cipher.clone(), Harness::config("0")).unwrap();
    h.wait_deliveries(hook.id, 1, "the replayed delivery", |d| {
        d.status == DeliveryStatus::Succeeded
    })
    .await;
    pipeline.shutdown().await;
    assert_eq!(rx.requests().len(), 1);
}
store_test!(unreadable_secrets_dead_letter);

/// Events committed in this process are named by the in-process notice (Postgres), fanned out
/// at once to their org's matching endpoints only, with up to the asked number claimed for the
/// caller; doing it again, or reading them from the log later, makes no second delivery, and a
/// delivery's id derives from its event and endpoint whichever path made it.
async fn committed_events_are_dispatched_at_once_and_once(store: &SqlStore) {
    let h = Harness::new(store).await;
    let other = Harness::new(store).await;
    let (hook, _) = h.endpoint("http://127.0.0.1:9/", &["company.*"]).await;
    let (people, _) = h.endpoint("http://127.0.0.1:9/", &["person.*"]).await;
    let (other_hook, _) = other.endpoint("http://127.0.0.1:9/", &["company.*"]).await;
    let postgres = store.pg_pool().is_some();

    let mut notices = h.store.subscribe().await.unwrap();
    h.company("Acme").await;
    let event = h.events(&[types::COMPANY_CREATED]).await[0].clone();
    let notice = tokio::time::timeout(HANG_GUARD, notices.next())
        .await
        .expect("a notice after the commit")
        .unwrap();
    assert_eq!(notice.org_id, Some(h.ctx.org_id()));
    let named: &[EventId] = if postgres { &[event.id] } else { &[] };
    assert_eq!(
        &*notice.events, named,
        "Postgres names the events, SQLite none"
    );

    let expected_id = WebhookDeliveryId::for_event(event.id, hook.id);
    let dispatched = h
        .store
        .dispatch_committed(&[(event.org_id, event.id)], 1, LEASE)
        .await
        .unwrap();
    if postgres {
        let dispatched = dispatched.expect("Postgres has the fast path");
        assert_eq!(dispatched.created, 1);
        assert_eq!(dispatched.claimed.len(), 1);
        let due = &dispatched.claimed[0];
        assert_eq!(due.delivery.id, expected_id);
        assert_eq!(
            (
                due.delivery.webhook_id,
                due.delivery.org_id,
                due.delivery.attempts
            ),
            (hook.id, h.ctx.org_id(), 0)
        );
        assert_eq!(due.event, event);
        assert_eq!(due.url, "http://127.0.0.1:9/");
        // Claimed for the caller: no other worker takes it while the lease holds.
        assert!(
            h.store
                .claim_deliveries(100, LEASE)
                .await
                .unwrap()
                .is_empty()
        );
        // Again: nothing new.
        let again = h
            .store
            .dispatch_committed(&[(event.org_id, event.id)], 1, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((again.created, again.claimed.len()), (0, 0));
    } else {
        assert!(dispatched.is_none(), "SQLite leaves it to the log");
    }

    // The log is read later: only the second company's delivery is new (on SQLite both are).
    h.company("Globex").await;
    dispatch(&h, 0, if postgres { 1 } else { 2 }).await;
    let deliveries = h.deliveries(hook.id).await;
    assert_eq!(deliveries.len(), 2, "{deliveries:#?}");
    assert!(deliveries.iter().any(|d| d.id == expected_id));
    assert!(
        deliveries
            .iter()
            .all(|d| d.id == WebhookDeliveryId::for_event(d.event_id, hook.id))
    );
    assert!(h.deliveries(people.id).await.is_empty());
    assert!(
        other.deliveries(other_hook.id).await.is_empty(),
        "another org's endpoint gets nothing"
    );

    if postgres {
        // With no room to claim, what it creates is left for any worker.
        h.company("Initech").await;
        let third = h.events(&[types::COMPANY_CREATED]).await;
        let third = third
            .iter()
            .find(|e| !deliveries.iter().any(|d| d.event_id == e.id))
            .expect("the third event");
        let dispatched = h
            .store
            .dispatch_committed(&[(third.org_id, third.id)], 0, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((dispatched.created, dispatched.claimed.len()), (1, 0));
        // Claimable: the third and the second (made by the log reading), not the first.
        let claimed = claim(&h, 2).await;
        let third_id = WebhookDeliveryId::for_event(third.id, hook.id);
        assert!(claimed.iter().any(|d| d.delivery.id == third_id));
        assert!(claimed.iter().all(|d| d.delivery.id != expected_id));
    }
}
store_test!(committed_events_are_dispatched_at_once_and_once);

/// The in-process fan-out picks the endpoints whose filters match as the log reading does
/// (`event_type_matches`): no filter, `*`, the type, its family; not a near miss.
async fn committed_events_match_filters_like_the_log(store: &SqlStore) {
    let h = Harness::new(store).await;
    let filters: [&[&str]; 8] = [
        &["company.created"],
        &["company.*"],
        &["*"],
        &[],
        &["compan.*"],
        &["company"],
        &["person.*", "company.updated"],
        &["person.*", "company.created"],
    ];
    let mut expected = BTreeSet::new();
    for filter in filters {
        let (hook, _) = h.endpoint("http://127.0.0.1:9/", filter).await;
        let owned: Vec<String> = filter.iter().map(|f| (*f).to_owned()).collect();
        if event_type_matches(&owned, types::COMPANY_CREATED) {
            expected.insert(hook.id);
        }
    }
    assert_eq!(expected.len(), 5, "the table's own expectation");

    h.company("Acme").await;
    let first = h.events(&[types::COMPANY_CREATED]).await[0].clone();
    if let Some(dispatched) = h
        .store
        .dispatch_committed(&[(first.org_id, first.id)], 100, LEASE)
        .await
        .unwrap()
    {
        let got: BTreeSet<WebhookId> = dispatched
            .claimed
            .iter()
            .map(|d| d.delivery.webhook_id)
            .collect();
        assert_eq!(got, expected, "fast path");
        assert_eq!(dispatched.created, expected.len());
    }

    // The log reading makes the same choice for the next event.
    h.company("Globex").await;
    let second = h
        .events(&[types::COMPANY_CREATED])
        .await
        .into_iter()
        .find(|e| e.id != first.id)
        .expect("the second event");
    let dispatcher = Dispatcher::new(h.store.clone(), &Harness::config("0"));
    wait_until("the log read past the second event", || async {
        dispatcher.run_once().await.unwrap();
        let org = h.ctx.org_id();
        let read = h
            .store
            .consumer_cursor(Dispatcher::<SqlStore>::CONSUMER, org)
            .await
            .unwrap();
        h.store
            .read_events(org, 0, 1000)
            .await
            .unwrap()
            .iter()
            .any(|l| l.event.id == second.id && l.position <= read)
    })
    .await;
    let mut got = BTreeSet::new();
    for hook in h
        .store
        .list_webhooks(&h.ctx, workos_core::page::PageRequest::first(100).unwrap())
        .await
        .unwrap()
        .data
    {
        if h.deliveries(hook.id)
            .await
            .iter()
            .any(|d| d.event_id == second.id)
        {
            got.insert(hook.id);
        }
    }
    assert_eq!(got, expected, "log reading");
}
store_test!(committed_events_match_filters_like_the_log);
