//! Retention: what the engine deletes once it is old enough, and what it keeps however old.
//!
//! * **Events** older than [`RetentionPolicy::events`] go, with their finished deliveries (and
//!   those deliveries' attempts), once every consumer of the org's log has read past them. An
//!   event a webhook still has to deliver (a pending or retrying delivery, or a position the
//!   dispatcher has not reached) is kept. On Postgres the table is partitioned by week: the
//!   finished deliveries of the events of weeks past retention are deleted first (org by org,
//!   in batches), then every such week that no delivery refers to any more and whose events
//!   every consumer of their orgs has read is dropped whole (`workos_event_partitions`, which
//!   also creates the weeks ahead); a week that must stay has its other events deleted one
//!   batch at a time. On SQLite events are deleted in batches.
//! * **Webhook attempts** older than [`RetentionPolicy::attempts`] go. On Postgres the table is
//!   partitioned by week too: whole weeks past retention are dropped
//!   (`workos_attempt_partitions`), a week holding an attempt of a delivery still pending or
//!   retrying is kept, and its other rows are deleted one batch at a time. On SQLite rows are
//!   deleted in batches.
//! * **Idempotency keys** after [`RetentionPolicy::idempotency`] (24 h), as the keys' own purge.
//! * **OAuth states** once expired.
//!
//! Every statement deletes a bounded batch and stays within one org (on Citus, one shard);
//! deletes are idempotent, so several workers may run retention at once.

use chrono::{Duration, NaiveTime, TimeZone, Utc};
use uuid::Uuid;
use workos_core::domain::Timestamp;
use workos_core::ids::OrgId;
use workos_core::repo::IdempotencyRepo;
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use crate::SqlStore;
use crate::db::{Sql, args};

/// Days events are kept by default (`WORKOS_RETENTION_EVENTS_DAYS`).
pub const DEFAULT_EVENTS_DAYS: u32 = 90;
/// Days webhook attempts are kept by default (`WORKOS_RETENTION_ATTEMPTS_DAYS`).
pub const DEFAULT_ATTEMPTS_DAYS: u32 = 30;
/// Weeks of partitions (of webhook attempts and of events) created ahead of the current one
/// (Postgres), by the store itself whenever fewer than two are left (so writes never depend on
/// the retention job) and by every retention run.
pub const PARTITION_WEEKS_AHEAD: i32 = 4;
/// How long creating or dropping a partition waits for its locks by default (Postgres): the
/// DDL locks the partitioned table `ACCESS EXCLUSIVE`, and every writer of the table queues
/// behind it while it waits. A week whose lock is not granted in time is skipped and tried
/// again on the next run.
pub const PARTITION_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long each kind of record is kept, and how much one statement deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Age after which events (with their finished deliveries) are deleted.
    pub events: std::time::Duration,
    /// Age after which webhook attempts are deleted.
    pub attempts: std::time::Duration,
    /// Age after which idempotency keys are forgotten.
    pub idempotency: std::time::Duration,
    /// Rows one statement deletes at most.
    pub batch: u32,
    /// Batches of one kind one run deletes in one org at most (the rest waits for the next
    /// run, so one org's backlog cannot hold up the others).
    pub max_batches: u32,
    /// How long creating or dropping a partition waits for its locks, writers queueing behind
    /// it meanwhile (Postgres; see [`PARTITION_LOCK_WAIT`]).
    pub partition_lock_wait: std::time::Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            events: days(DEFAULT_EVENTS_DAYS),
            attempts: days(DEFAULT_ATTEMPTS_DAYS),
            idempotency: std::time::Duration::from_secs(24 * 3600),
            batch: 1000,
            max_batches: 10,
            partition_lock_wait: PARTITION_LOCK_WAIT,
        }
    }
}

/// `n` days.
#[must_use]
pub const fn days(n: u32) -> std::time::Duration {
    std::time::Duration::from_secs(n as u64 * 24 * 3600)
}

/// What one retention run deleted (and created).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionReport {
    /// Events deleted.
    pub events: u64,
    /// Finished webhook deliveries deleted with their events.
    pub deliveries: u64,
    /// Webhook attempts deleted row by row (their partitions' drops are counted apart).
    pub attempts: u64,
    /// Attempt partitions dropped whole (Postgres).
    pub attempt_partitions_dropped: u64,
    /// Attempt partitions created ahead (Postgres).
    pub attempt_partitions_created: u64,
    /// Attempt partitions not created or dropped because their lock was not granted within
    /// [`RetentionPolicy::partition_lock_wait`] (Postgres): the next run tries again.
    pub attempt_partitions_skipped: u64,
    /// Event partitions dropped whole (Postgres); their events are not counted in `events`.
    pub event_partitions_dropped: u64,
    /// Event partitions created ahead (Postgres).
    pub event_partitions_created: u64,
    /// Event partitions not created or dropped because their lock was not granted in time
    /// (Postgres), as for the attempts.
    pub event_partitions_skipped: u64,
    /// Idempotency keys purged.
    pub idempotency_keys: u64,
    /// Expired OAuth states deleted.
    pub oauth_states: u64,
}

/// Orgs read per page when going through them.
const ORG_PAGE: i64 = 500;

/// The weekly-partitioned tables (Postgres), each maintained by its own SQL function.
#[derive(Clone, Copy)]
enum Partitioned {
    Attempts,
    Events,
}

/// What one maintenance call did to a table's partitions.
struct PartitionsKept {
    created: u64,
    dropped: u64,
    skipped: u64,
}

impl Partitioned {
    fn name(self) -> &'static str {
        match self {
            Self::Attempts => "webhook_attempts",
            Self::Events => "domain_events",
        }
    }

    fn maintenance(self) -> &'static str {
        match self {
            Self::Attempts => {
                "SELECT created, dropped, skipped FROM workos_attempt_partitions($1, $2::int4, $3)"
            }
            Self::Events => {
                "SELECT created, dropped, skipped FROM workos_event_partitions($1, $2::int4, $3)"
            }
        }
    }
}

/// What [`SqlStore::purge_org_events`] deletes of the events it selects.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purge {
    /// The events with their finished deliveries.
    Events,
    /// Only their finished deliveries (the events go with their week's partition): selects
    /// only events that have deliveries.
    Deliveries,
}

/// Goes through every org, a page at a time.
struct OrgPages {
    after: Option<Uuid>,
}

impl OrgPages {
    fn new() -> Self {
        Self {
            after: Some(Uuid::nil()),
        }
    }

    /// The next page of orgs, or `None` after the last.
    async fn next(&mut self, store: &SqlStore) -> Result<Option<Vec<OrgId>>> {
        let Some(after) = self.after else {
            return Ok(None);
        };
        let orgs = store.org_page(after).await?;
        self.after = match orgs.last() {
            Some(last) if i64::try_from(orgs.len()).unwrap_or(0) == ORG_PAGE => {
                Some(last.as_uuid())
            }
            _ => None,
        };
        Ok(Some(orgs))
    }
}

/// Delivery statuses whose delivery still has to be made.
const LIVE: &str = "('pending', 'retrying')";

fn before(at: Timestamp, age: std::time::Duration) -> Result<Timestamp> {
    let age = Duration::from_std(age).map_err(|e| Error::invalid("retention", e.to_string()))?;
    Ok(at.checked_sub_signed(age).unwrap_or(at))
}

/// The Monday 00:00 UTC starting `t`'s week: where partitions begin and end.
pub(crate) fn week_start(t: Timestamp) -> Timestamp {
    let monday = t.date_naive().week(chrono::Weekday::Mon).first_day();
    Utc.from_utc_datetime(&monday.and_time(NaiveTime::MIN))
}

impl SqlStore {
    /// Runs retention once as of `at` (the current time, but for tests): deletes what
    /// `policy` says is old enough, in bounded batches, org by org, and on Postgres keeps the
    /// partitions of webhook attempts and events (weeks ahead created, weeks past retention
    /// dropped). Safe to run from several processes at once.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the database fails; a run cut short is taken up by the next.
    pub async fn run_retention(
        &self,
        policy: &RetentionPolicy,
        at: Timestamp,
    ) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        let mut events_before = before(at, policy.events)?;
        let mut attempts_before = before(at, policy.attempts)?;
        let batch = i64::from(policy.batch.max(1));
        let full = u64::try_from(batch).unwrap_or(u64::MAX);
        if self.backend_name() == "postgres" {
            let done = self
                .maintain_partitions(Partitioned::Attempts, at, attempts_before, policy)
                .await?;
            report.attempt_partitions_created = done.created;
            report.attempt_partitions_dropped = done.dropped;
            report.attempt_partitions_skipped = done.skipped;
            // Rows of whole weeks only: the week `attempts_before` falls in goes as a partition.
            attempts_before = week_start(attempts_before);
            // A week of events is dropped only once no delivery refers to it: the finished
            // deliveries of the events that may go, in the weeks wholly past retention, go
            // first (the live ones keep their week).
            let whole_weeks = week_start(events_before);
            let mut pages = OrgPages::new();
            while let Some(orgs) = pages.next(self).await? {
                for &org in &orgs {
                    for _ in 0..policy.max_batches {
                        let (events, deliveries) = self
                            .purge_org_events(org, whole_weeks, batch, Purge::Deliveries)
                            .await?;
                        report.deliveries += deliveries;
                        if events < full {
                            break;
                        }
                    }
                }
            }
            let done = self
                .maintain_partitions(Partitioned::Events, at, events_before, policy)
                .await?;
            report.event_partitions_created = done.created;
            report.event_partitions_dropped = done.dropped;
            report.event_partitions_skipped = done.skipped;
            // What stays of those weeks (kept for one org's sake) goes row by row below.
            events_before = whole_weeks;
        }
        let mut pages = OrgPages::new();
        while let Some(orgs) = pages.next(self).await? {
            for &org in &orgs {
                for _ in 0..policy.max_batches {
                    let (events, deliveries) = self
                        .purge_org_events(org, events_before, batch, Purge::Events)
                        .await?;
                    report.events += events;
                    report.deliveries += deliveries;
                    if events < full {
                        break;
                    }
                }
                for _ in 0..policy.max_batches {
                    let n = self.purge_org_attempts(org, attempts_before, batch).await?;
                    report.attempts += n;
                    if n < full {
                        break;
                    }
                }
                let ctx = TenantContext::system(org, "retention");
                for _ in 0..policy.max_batches {
                    let n = self.purge_idempotent(&ctx, policy.idempotency).await?;
                    report.idempotency_keys += n;
                    if n == 0 {
                        break;
                    }
                }
            }
        }
        for _ in 0..policy.max_batches {
            let n = self.purge_oauth_states(at, batch).await?;
            report.oauth_states += n;
            if n < full {
                break;
            }
        }
        Ok(report)
    }

    /// Creates `table`'s weeks of partitions ahead of `at` and drops those wholly before
    /// `drop_before` that its rule lets go (see the migrations that partition it), each waiting
    /// at most the policy's `partition_lock_wait` for its locks (one not granted in time is
    /// skipped, and logged).
    async fn maintain_partitions(
        &self,
        table: Partitioned,
        at: Timestamp,
        drop_before: Timestamp,
        policy: &RetentionPolicy,
    ) -> Result<PartitionsKept> {
        let mut tx = self.system_tx(true).await?;
        // At least a millisecond: 0 would be no limit at all.
        let wait = policy.partition_lock_wait.as_millis().max(1);
        tx.execute(
            "SELECT set_config('lock_timeout', $1, true)",
            args![wait.to_string()],
        )
        .await?;
        let (created, dropped, skipped): (i32, i32, i32) = tx
            .fetch_one(
                table.maintenance(),
                args![at, i64::from(PARTITION_WEEKS_AHEAD), drop_before],
            )
            .await?;
        tx.commit().await?;
        let count = |n: i32| u64::try_from(n).unwrap_or_default();
        let kept = PartitionsKept {
            created: count(created),
            dropped: count(dropped),
            skipped: count(skipped),
        };
        if kept.skipped > 0 {
            tracing::warn!(
                table = table.name(),
                skipped = kept.skipped,
                wait_ms = u64::try_from(wait).unwrap_or(u64::MAX),
                "partitions not created or dropped: their table stayed locked; the next run tries again"
            );
        }
        Ok(kept)
    }

    /// The next page of org ids after `after`.
    async fn org_page(&self, after: Uuid) -> Result<Vec<OrgId>> {
        let mut tx = self.system_tx(false).await?;
        let rows: Vec<(Uuid,)> = tx
            .fetch_all(
                "SELECT id FROM orgs WHERE id > $1 ORDER BY id LIMIT $2",
                args![after, ORG_PAGE],
            )
            .await?;
        Ok(rows.into_iter().map(|(o,)| OrgId::from_uuid(o)).collect())
    }

    /// Selects up to `batch` of `org`'s events that occurred before `cutoff`, every consumer
    /// has read and no live delivery needs, and deletes their finished deliveries and, as
    /// `purge` says, the events; answers (events selected or deleted, deliveries deleted).
    async fn purge_org_events(
        &self,
        org: OrgId,
        cutoff: Timestamp,
        batch: i64,
        purge: Purge,
    ) -> Result<(u64, u64)> {
        let mut tx = self.system_tx(true).await?;
        // The position every consumer of the org's log has read up to. An org no consumer has
        // claimed yet keeps its events while it has a webhook (the dispatcher has not reached
        // it); without one, nothing waits for them.
        let (cursors, lowest): (i64, Option<i64>) = tx
            .fetch_one(
                "SELECT count(*), min(pos) FROM event_cursors WHERE org_id = $1",
                args![org],
            )
            .await?;
        let webhook = if cursors == 0 || purge == Purge::Deliveries {
            let found: Option<(i32,)> = tx
                .fetch_optional(
                    "SELECT 1 FROM webhooks WHERE org_id = $1 LIMIT 1",
                    args![org],
                )
                .await?;
            found.is_some()
        } else {
            true
        };
        let read_up_to = if cursors > 0 {
            lowest.unwrap_or(0)
        } else if webhook {
            0
        } else {
            i64::MAX
        };
        // Without a webhook an org has no deliveries (they go with their endpoint).
        if read_up_to == 0 || (purge == Purge::Deliveries && !webhook) {
            return Ok((0, 0));
        }
        // Selecting only events with deliveries, each batch moves on (their deliveries go).
        let with_deliveries = if purge == Purge::Deliveries {
            "AND EXISTS (SELECT 1 FROM webhook_deliveries d
                         WHERE d.org_id = e.org_id AND d.event_id = e.id)"
        } else {
            ""
        };
        let ids: Vec<(Uuid,)> = tx
            .fetch_all(
                &format!(
                    "SELECT e.id FROM domain_events e
                     WHERE e.org_id = $1 AND e.occurred_at < $2 AND e.pos <= $3
                       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                       WHERE d.org_id = e.org_id AND d.event_id = e.id AND d.status IN {LIVE})
                       {with_deliveries}
                     ORDER BY e.occurred_at LIMIT $4"
                ),
                args![org, cutoff, read_up_to, batch],
            )
            .await?;
        if ids.is_empty() {
            return Ok((0, 0));
        }
        let mut deliveries = Sql::new("DELETE FROM webhook_deliveries WHERE org_id = ");
        deliveries.bind(org);
        deliveries.push(&format!(" AND status NOT IN {LIVE} AND event_id IN ("));
        let mut events = Sql::new("DELETE FROM domain_events WHERE org_id = ");
        events.bind(org);
        // The bound spares Postgres a look into each newer week's partition.
        events.push(" AND occurred_at < ").bind(cutoff);
        events.push(" AND id IN (");
        for (i, (id,)) in ids.iter().enumerate() {
            if i > 0 {
                deliveries.push(", ");
                events.push(", ");
            }
            deliveries.bind(*id);
            events.bind(*id);
        }
        deliveries.push(")");
        // An event whose delivery became live meanwhile (a replay) stays, with the delivery.
        events.push(
            ") AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                    WHERE d.org_id = domain_events.org_id AND d.event_id = domain_events.id)",
        );
        let deleted_deliveries = tx.execute_sql(deliveries).await?;
        let deleted_events = match purge {
            Purge::Events => tx.execute_sql(events).await?,
            Purge::Deliveries => u64::try_from(ids.len()).unwrap_or(u64::MAX),
        };
        tx.commit().await?;
        Ok((deleted_events, deleted_deliveries))
    }

    /// Deletes up to `batch` of `org`'s attempts made before `cutoff` whose delivery is
    /// finished.
    async fn purge_org_attempts(&self, org: OrgId, cutoff: Timestamp, batch: i64) -> Result<u64> {
        let mut tx = self.system_tx(true).await?;
        let n = tx
            .execute(
                &format!(
                    "DELETE FROM webhook_attempts WHERE org_id = $1 AND id IN (
                         SELECT a.id FROM webhook_attempts a
                         WHERE a.org_id = $1 AND a.attempted_at < $2
                           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                           WHERE d.org_id = a.org_id AND d.id = a.delivery_id AND d.status IN {LIVE})
                         LIMIT $3)"
                ),
                args![org, cutoff, batch],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Deletes up to `batch` OAuth states that expired by `at`.
    async fn purge_oauth_states(&self, at: Timestamp, batch: i64) -> Result<u64> {
        let mut tx = self.system_tx(true).await?;
        let n = tx
            .execute(
                "DELETE FROM oauth_states WHERE state_hash IN (
                     SELECT state_hash FROM oauth_states WHERE expires_at <= $1 LIMIT $2)",
                args![at, batch],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_midnight_utc() {
        let sunday = Utc.with_ymd_and_hms(2026, 12, 6, 23, 59, 59).unwrap();
        let monday = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
        assert_eq!(week_start(sunday), monday);
        assert_eq!(week_start(monday), monday);
        let next = Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 1).unwrap();
        assert_eq!(week_start(next), monday + Duration::days(7));
    }

    #[test]
    fn cutoffs_are_the_age_before_now() {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        assert_eq!(before(at, days(30)).unwrap(), at - Duration::days(30));
        assert_eq!(before(at, std::time::Duration::ZERO).unwrap(), at);
    }
}
