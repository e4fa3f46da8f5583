//! The weekly partitions ahead of webhook attempts and events, kept by the store itself
//! (Postgres): every write records an event, and a row whose week has no partition cannot be
//! written, so the store does not leave them to the retention job (which an embedder may not
//! run).
//!
//! The store remembers how far ahead the partitions are known to exist. A transaction begins
//! without a look while that horizon is more than [`MARGIN`] away (an atomic load and a clock
//! read); inside the margin one task of the process creates the missing weeks in the
//! background (`workos_ensure_partitions_ahead`, which the app role may run: it creates,
//! never drops), on a connection of its own; past the horizon (or before it is known: the
//! first transaction of the process) the transaction waits for that. So a process asks about
//! once every few weeks, and once when it starts. Many processes may ensure at once: the SQL
//! function looks without a lock first and takes the table's maintenance lock only to create.
//!
//! Creating a partition locks its parent `ACCESS EXCLUSIVE`, and writers queue behind the
//! DDL while it waits for that lock: it waits at most [`PARTITION_LOCK_WAIT`], and a week not created
//! in time is tried again a minute later (the margin leaves weeks for that).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use sqlx::{AssertSqlSafe, PgPool};
use tokio::sync::Mutex;
use workos_core::Result;
use workos_core::domain::Timestamp;

use crate::db::{db_error, run_to_completion};
use crate::repos::retention::week_start;
use crate::{PARTITION_LOCK_WAIT, PARTITION_WEEKS_AHEAD};

/// How far ahead of now the partitions must be known to exist for a transaction to begin
/// without a look (two weeks, in seconds).
const MARGIN: i64 = 14 * 24 * 3600;
/// Seconds before an ensure that failed, or skipped a week, is tried again.
const RETRY_AFTER: i64 = 60;

/// What a transaction about to begin needs done first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Nothing: the weeks ahead are there (or an ensure failed a moment ago).
    Nothing,
    /// The horizon is near: ensure in the background.
    Soon,
    /// The horizon is unknown or past: ensure before the transaction.
    Now,
}

/// What one ensure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ensured {
    /// Partitions created.
    pub(crate) created: u64,
    /// Partitions not created because their lock was not granted in time.
    pub(crate) skipped: u64,
}

/// How far ahead the partitions are known to exist, in this process.
#[derive(Debug, Default)]
pub(crate) struct PartitionKeeper {
    /// Unix seconds before which both tables have every week's partition (0: not known yet).
    until: AtomicI64,
    /// Unix seconds before which no ensure is tried again (after one that failed).
    not_before: AtomicI64,
    /// Held by the one task of the process that ensures.
    busy: Arc<Mutex<()>>,
}

impl PartitionKeeper {
    fn need(&self, now: i64) -> Need {
        let until = self.until.load(Ordering::Relaxed);
        if now.saturating_add(MARGIN) < until || now < self.not_before.load(Ordering::Relaxed) {
            Need::Nothing
        } else if now < until {
            Need::Soon
        } else {
            Need::Now
        }
    }

    /// Before a transaction begins: ensures the weeks ahead when they run short (see the
    /// module docs). Never fails: when the ensure does, the transaction goes on (a write into
    /// a missing week then fails and says so), and the next try is a minute later.
    pub(crate) async fn before_begin(self: &Arc<Self>, pool: &PgPool) {
        let now = crate::db::now();
        match self.need(now.timestamp()) {
            Need::Nothing => {}
            Need::Soon => {
                if let Ok(turn) = self.busy.clone().try_lock_owned() {
                    let (keeper, pool) = (self.clone(), pool.clone());
                    tokio::spawn(async move {
                        let _turn = turn;
                        keeper.ensure_logged(&pool, now).await;
                    });
                }
            }
            Need::Now => {
                let (keeper, pool) = (self.clone(), pool.clone());
                // On a task of its own: a caller that gives up does not cut it short.
                let _ = run_to_completion(async move {
                    let _turn = keeper.busy.lock().await;
                    // Another task may have ensured while this one waited.
                    if keeper.need(now.timestamp()) == Need::Now {
                        keeper.ensure_logged(&pool, now).await;
                    }
                })
                .await;
            }
        }
    }

    /// [`PartitionKeeper::ensure`], logging what it did or why it failed.
    async fn ensure_logged(&self, pool: &PgPool, at: Timestamp) {
        match self.ensure(pool, at).await {
            Ok(Ensured {
                created: 0,
                skipped: 0,
            }) => {}
            Ok(done) => tracing::info!(
                created = done.created,
                skipped = done.skipped,
                "partitions ahead of webhook attempts and events ensured"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "cannot ensure the partitions ahead of webhook attempts and events; retrying in a minute"
            ),
        }
    }

    /// Creates the partitions of webhook attempts and events missing from `at`'s week to
    /// [`PARTITION_WEEKS_AHEAD`] weeks after it, as the app role, and records how far ahead
    /// they exist (or, if a week was skipped or the call failed, when to try again).
    ///
    /// # Errors
    /// [`workos_core::Error::Unavailable`] when the database fails (or does not have the
    /// function yet: it is not migrated).
    pub(crate) async fn ensure(&self, pool: &PgPool, at: Timestamp) -> Result<Ensured> {
        let done = ensure_ahead(pool, at).await;
        match done {
            Ok(Ensured { skipped: 0, .. }) => {
                let until = known_until(at).timestamp();
                self.until.fetch_max(until, Ordering::Relaxed);
            }
            _ => {
                let retry = crate::db::now().timestamp().saturating_add(RETRY_AFTER);
                self.not_before.store(retry, Ordering::Relaxed);
            }
        }
        done
    }
}

/// The end of the last week an ensure as of `at` makes sure of: the week
/// [`PARTITION_WEEKS_AHEAD`] weeks after `at`'s.
fn known_until(at: Timestamp) -> Timestamp {
    week_start(at) + chrono::Duration::weeks(i64::from(PARTITION_WEEKS_AHEAD) + 1)
}

/// One call of `workos_ensure_partitions_ahead`, in a transaction of its own whose DDL waits
/// at most [`PARTITION_LOCK_WAIT`] for its locks.
async fn ensure_ahead(pool: &PgPool, at: Timestamp) -> Result<Ensured> {
    // A number formatted into a fixed statement: nothing here comes from input text.
    let begin = format!(
        "BEGIN; SET LOCAL ROLE {}; SET LOCAL lock_timeout = {}",
        crate::postgres::APP_ROLE,
        PARTITION_LOCK_WAIT.as_millis()
    );
    let mut tx = pool
        .begin_with(AssertSqlSafe(begin))
        .await
        .map_err(db_error)?;
    let (created, skipped): (i32, i32) =
        sqlx::query_as("SELECT created, skipped FROM workos_ensure_partitions_ahead($1, $2::int4)")
            .bind(at)
            .bind(PARTITION_WEEKS_AHEAD)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(Ensured {
        created: u64::try_from(created).unwrap_or_default(),
        skipped: u64::try_from(skipped).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600;

    #[test]
    fn a_transaction_waits_only_when_the_horizon_is_unknown_or_past() {
        let keeper = PartitionKeeper::default();
        let now = 1_000 * DAY;
        assert_eq!(keeper.need(now), Need::Now, "not known yet");
        keeper.until.store(now + 30 * DAY, Ordering::Relaxed);
        assert_eq!(keeper.need(now), Need::Nothing);
        assert_eq!(keeper.need(now + 15 * DAY), Need::Nothing);
        assert_eq!(keeper.need(now + 17 * DAY), Need::Soon, "within the margin");
        assert_eq!(keeper.need(now + 30 * DAY), Need::Now, "past it");
        assert_eq!(keeper.need(now + 70 * DAY), Need::Now, "ten weeks on");
    }

    #[test]
    fn a_failed_ensure_is_retried_a_minute_later() {
        let keeper = PartitionKeeper::default();
        let now = 1_000 * DAY;
        keeper
            .not_before
            .store(now + RETRY_AFTER, Ordering::Relaxed);
        assert_eq!(keeper.need(now), Need::Nothing);
        assert_eq!(keeper.need(now + RETRY_AFTER), Need::Now);
    }

    #[test]
    fn an_ensure_covers_the_weeks_ahead_to_the_end_of_the_last() {
        use chrono::TimeZone as _;
        let wednesday = chrono::Utc.with_ymd_and_hms(2026, 12, 9, 12, 0, 0).unwrap();
        let end = chrono::Utc.with_ymd_and_hms(2027, 1, 11, 0, 0, 0).unwrap();
        assert_eq!(known_until(wednesday), end);
        let sunday = chrono::Utc
            .with_ymd_and_hms(2026, 12, 13, 23, 59, 59)
            .unwrap();
        assert_eq!(known_until(sunday), end);
    }
}
