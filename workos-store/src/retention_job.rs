//! The retention job: every interval (the first run at once), deletes what is old enough
//! ([`SqlStore::run_retention`]: events, webhook attempts, idempotency keys, expired OAuth
//! states; on Postgres it also keeps the weekly partitions of webhook attempts and events), logs
//! what it deleted and counts it in the metrics (`retention_runs_total{outcome}`,
//! `retention_deleted_total{kind}`, `retention_partitions_dropped_total{table}`,
//! `retention_partitions_created_total{table}`, `retention_partitions_skipped_total{table}`
//! (partitions whose lock was not granted in time, tried again on the next run), through the
//! `metrics` facade).
//!
//! An embedder runs it as the reference server does:
//! `RetentionConfig::from_lookup(|name| std::env::var(name).ok())?` then, unless its interval
//! is `None`, [`spawn`]. Several processes may run it at once: every delete is idempotent and
//! bounded, and the partition maintenance takes a lock of its own.

use std::time::Duration;
pub use workos_core::supervise::JobHandle;
use workos_core::supervise::spawn_periodic;

use chrono::Utc;
use workos_core::{Error, Result};

use crate::{
    DEFAULT_ATTEMPTS_DAYS, DEFAULT_EVENTS_DAYS, RetentionPolicy, RetentionReport, SqlStore, days,
};

/// How often retention runs by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// `WORKOS_RETENTION_EVENTS_DAYS`: days events are kept (default [`DEFAULT_EVENTS_DAYS`]).
pub const ENV_EVENTS_DAYS: &str = "WORKOS_RETENTION_EVENTS_DAYS";
/// `WORKOS_RETENTION_ATTEMPTS_DAYS`: days webhook attempts are kept (default
/// [`DEFAULT_ATTEMPTS_DAYS`]).
pub const ENV_ATTEMPTS_DAYS: &str = "WORKOS_RETENTION_ATTEMPTS_DAYS";
/// `WORKOS_RETENTION_INTERVAL_SECS`: how often the job runs (default [`DEFAULT_INTERVAL`]; 0
/// turns it off).
pub const ENV_INTERVAL_SECS: &str = "WORKOS_RETENTION_INTERVAL_SECS";

/// The job's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// What is kept, and for how long.
    pub policy: RetentionPolicy,
    /// How often it runs; `None` (`WORKOS_RETENTION_INTERVAL_SECS=0`) turns it off here.
    pub interval: Option<Duration>,
}

fn whole(get: &impl Fn(&str) -> Option<String>, name: &str, default: u32) -> Result<u32> {
    match get(name) {
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| Error::invalid(name, "not a whole number")),
        None => Ok(default),
    }
}

impl RetentionConfig {
    /// Reads [`ENV_EVENTS_DAYS`] (default 90), [`ENV_ATTEMPTS_DAYS`] (default 30) and
    /// [`ENV_INTERVAL_SECS`] (default 3600, 0 turns the job off) through `get`.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the variable that is malformed (days must be at least 1).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let events = whole(&get, ENV_EVENTS_DAYS, DEFAULT_EVENTS_DAYS)?;
        let attempts = whole(&get, ENV_ATTEMPTS_DAYS, DEFAULT_ATTEMPTS_DAYS)?;
        if events == 0 {
            return Err(Error::invalid(ENV_EVENTS_DAYS, "at least 1"));
        }
        if attempts == 0 {
            return Err(Error::invalid(ENV_ATTEMPTS_DAYS, "at least 1"));
        }
        let default_secs = u32::try_from(DEFAULT_INTERVAL.as_secs()).unwrap_or(u32::MAX);
        let interval = whole(&get, ENV_INTERVAL_SECS, default_secs)?;
        Ok(Self {
            policy: RetentionPolicy {
                events: days(events),
                attempts: days(attempts),
                ..RetentionPolicy::default()
            },
            interval: Some(Duration::from_secs(u64::from(interval))).filter(|d| !d.is_zero()),
        })
    }
}

/// Starts the job, supervised (restarted if it panics): a run every `interval`, the first at
/// once.
pub fn spawn(store: SqlStore, policy: RetentionPolicy, interval: Duration) -> JobHandle {
    spawn_periodic("retention", interval, move || {
        let (store, policy) = (store.clone(), policy.clone());
        async move {
            // What a run removed is logged and counted by `run_once` itself.
            let _ = run_once(&store, &policy).await;
        }
    })
}

/// One run as of now: logs and counts what it deleted, or why it failed.
pub async fn run_once(store: &SqlStore, policy: &RetentionPolicy) -> Option<RetentionReport> {
    match store.run_retention(policy, Utc::now()).await {
        Ok(report) => {
            record(&report);
            tracing::info!(
                events = report.events,
                deliveries = report.deliveries,
                attempts = report.attempts,
                attempt_partitions_dropped = report.attempt_partitions_dropped,
                attempt_partitions_created = report.attempt_partitions_created,
                event_partitions_dropped = report.event_partitions_dropped,
                event_partitions_created = report.event_partitions_created,
                attempt_partitions_skipped = report.attempt_partitions_skipped,
                event_partitions_skipped = report.event_partitions_skipped,
                idempotency_keys = report.idempotency_keys,
                oauth_states = report.oauth_states,
                "retention run done"
            );
            metrics::counter!("retention_runs_total", "outcome" => "ok").increment(1);
            Some(report)
        }
        Err(e) => {
            tracing::warn!(error = %e, "retention run failed");
            metrics::counter!("retention_runs_total", "outcome" => "error").increment(1);
            None
        }
    }
}

/// Adds a run's counts to `retention_deleted_total{kind}` and the partition counters (by
/// `table`: `webhook_attempts`, `domain_events`).
fn record(r: &RetentionReport) {
    for (kind, n) in [
        ("events", r.events),
        ("webhook_deliveries", r.deliveries),
        ("webhook_attempts", r.attempts),
        ("idempotency_keys", r.idempotency_keys),
        ("oauth_states", r.oauth_states),
    ] {
        metrics::counter!("retention_deleted_total", "kind" => kind).increment(n);
    }
    for (table, dropped, created, skipped) in [
        (
            "webhook_attempts",
            r.attempt_partitions_dropped,
            r.attempt_partitions_created,
            r.attempt_partitions_skipped,
        ),
        (
            "domain_events",
            r.event_partitions_dropped,
            r.event_partitions_created,
            r.event_partitions_skipped,
        ),
    ] {
        metrics::counter!("retention_partitions_dropped_total", "table" => table)
            .increment(dropped);
        metrics::counter!("retention_partitions_created_total", "table" => table)
            .increment(created);
        metrics::counter!("retention_partitions_skipped_total", "table" => table)
            .increment(skipped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = RetentionConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(config.policy.events, days(90));
        assert_eq!(config.policy.attempts, days(30));
        assert_eq!(config.policy.idempotency, Duration::from_secs(24 * 3600));
        assert_eq!(config.interval, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn the_variables_set_the_days_and_interval() {
        let config = RetentionConfig::from_lookup(lookup(&[
            ("WORKOS_RETENTION_EVENTS_DAYS", "7"),
            ("WORKOS_RETENTION_ATTEMPTS_DAYS", " 3 "),
            ("WORKOS_RETENTION_INTERVAL_SECS", "0"),
        ]))
        .unwrap();
        assert_eq!(config.policy.events, days(7));
        assert_eq!(config.policy.attempts, days(3));
        assert_eq!(config.interval, None);
    }

    #[test]
    fn malformed_or_zero_days_are_refused_by_name() {
        for (name, value) in [
            ("WORKOS_RETENTION_EVENTS_DAYS", "0"),
            ("WORKOS_RETENTION_ATTEMPTS_DAYS", "a week"),
            ("WORKOS_RETENTION_INTERVAL_SECS", "-1"),
        ] {
            let err = RetentionConfig::from_lookup(lookup(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
