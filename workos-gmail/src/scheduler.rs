//! [`SyncScheduler`]: keeps every org's Gmail mailboxes synced, sharing the work with the
//! schedulers of other processes on the same store.
//!
//! Each run claims (across orgs, with [`IntegrationScheduler::claim_due_integrations`]: `FOR
//! UPDATE SKIP LOCKED` with a lease on Postgres) the Gmail integrations that are due, syncs
//! them with a [`SyncEngine`] and releases each claim after its sync. So two processes never
//! sync the same account at once, and every account is synced about once per interval,
//! whichever process does it. A process that dies mid-sync leaves its integrations to the
//! others when its lease runs out; one that is shut down ([`SchedulerHandle::shutdown`]) stops
//! between mailboxes (or cuts the sync under way short) and releases every claim it holds, so
//! another process takes them at once.
//!
//! ```no_run
//! # async fn demo(gmail: workos_gmail::Gmail, store: std::sync::Arc<workos_store::SqlStore>) -> workos_core::Result<()> {
//! use workos_gmail::{SchedulerConfig, SyncConfig, SyncScheduler};
//!
//! let config = SchedulerConfig::from_lookup(|name| std::env::var(name).ok())?;
//! let scheduler = SyncScheduler::new(gmail.sync_engine(SyncConfig::default()), store, config);
//! let running = scheduler.spawn();
//! // … at shutdown:
//! running.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use workos_core::domain::GMAIL;
use workos_core::repo::{ClaimedIntegration, IntegrationScheduler};
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use crate::sync::SyncEngine;

/// `WORKOS_GMAIL_SYNC_INTERVAL_SECS`: the time between runs, a positive number of seconds.
pub const ENV_SYNC_INTERVAL_SECS: &str = "WORKOS_GMAIL_SYNC_INTERVAL_SECS";
/// `WORKOS_GMAIL_SYNC_ORGS`: named the orgs to sync before the scheduler found them itself;
/// accepted and ignored, with a warning.
const ENV_SYNC_ORGS: &str = "WORKOS_GMAIL_SYNC_ORGS";

/// The default time between two scheduler runs.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(60);

/// The default time between two runs when push is on (`GMAIL_PUBSUB_TOPIC` is set): polling
/// is then the safety net for a push lost or refused, so every ten minutes.
pub const DEFAULT_PUSH_SAFETY_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// The shortest claim on an integration: a sync may take this long before another process
/// may take the integration over.
pub const MIN_CLAIM_LEASE: Duration = Duration::from_secs(5 * 60);

/// How many integrations a scheduler claims at a time.
const CLAIM_BATCH: u32 = 50;

/// How the scheduler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// The time between runs, how old a sync must be for the integration to be due again, and
    /// how long a claim on it lasts (at least [`MIN_CLAIM_LEASE`]). Default
    /// [`DEFAULT_SYNC_INTERVAL`].
    pub interval: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_SYNC_INTERVAL,
        }
    }
}

impl SchedulerConfig {
    /// Reads [`ENV_SYNC_INTERVAL_SECS`] through `get` (the environment, or a map in tests);
    /// unset, the interval is [`DEFAULT_SYNC_INTERVAL`], or [`DEFAULT_PUSH_SAFETY_INTERVAL`]
    /// when `GMAIL_PUBSUB_TOPIC` is set.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the variable when it is not a positive whole number of
    /// seconds.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let interval = match get(ENV_SYNC_INTERVAL_SECS) {
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| Error::invalid(ENV_SYNC_INTERVAL_SECS, "not a positive integer"))?,
            None if get(crate::push::env::TOPIC).is_some_and(|v| !v.trim().is_empty()) => {
                DEFAULT_PUSH_SAFETY_INTERVAL
            }
            None => DEFAULT_SYNC_INTERVAL,
        };
        if get(ENV_SYNC_ORGS).is_some_and(|v| !v.trim().is_empty()) {
            tracing::warn!(
                "WORKOS_GMAIL_SYNC_ORGS is no longer needed and is ignored: the scheduler syncs every due Gmail integration"
            );
        }
        Ok(Self { interval })
    }
}

/// Syncs the due Gmail integrations of every org, run after run (see the [module](self)).
#[derive(Clone)]
pub struct SyncScheduler {
    engine: SyncEngine,
    claims: Arc<dyn IntegrationScheduler>,
    interval: Duration,
}

impl std::fmt::Debug for SyncScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncScheduler")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl SyncScheduler {
    /// A scheduler syncing with `engine` the integrations it claims from `claims`.
    #[must_use]
    pub fn new(
        engine: SyncEngine,
        claims: Arc<dyn IntegrationScheduler>,
        config: SchedulerConfig,
    ) -> Self {
        Self {
            engine,
            claims,
            interval: config.interval,
        }
    }

    /// Starts a run every interval (the first at once) on the Tokio runtime.
    #[must_use]
    pub fn spawn(self) -> SchedulerHandle {
        // Supervised: a run that panics is logged, counted and started again.
        let (shutdown, signal) = watch::channel(false);
        let this = Arc::new(self);
        let task = workos_core::supervise::spawn_supervised("gmail-sync", move || {
            let (this, mut signal) = (Arc::clone(&this), signal.clone());
            async move {
                let mut ticker = tokio::time::interval(this.interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while !*signal.borrow() {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        _ = signal.wait_for(|stop| *stop) => break,
                    }
                    let synced = this.run_once_until(&mut signal).await;
                    if synced > 0 {
                        tracing::debug!(synced, "Gmail scheduler run done");
                    }
                }
                tracing::debug!("Gmail scheduler stopped");
            }
        });
        SchedulerHandle {
            shutdown,
            task: Some(task),
        }
    }

    /// [`SyncScheduler::run_once_until`] never stopped.
    pub async fn run_once(&self) -> usize {
        let (_keep, mut never) = watch::channel(false);
        self.run_once_until(&mut never).await
    }

    /// One run: renews the watches that are due when push is on
    /// ([`Gmail::renew_watches`](crate::Gmail::renew_watches)), then claims the Gmail
    /// integrations that are not `needs_reauth` or `disconnected`
    /// and did not complete a sync within the interval (less a tenth, so a tick a little early
    /// does not skip one) before the run started, syncs them and releases each claim after its
    /// sync. Batch after batch until none is due, so a backlog is worked off in one run; an
    /// integration is tried once per run. Returns how many syncs succeeded. Errors are logged
    /// (never with tokens: the engine's errors carry none); a failed sync is due again at the
    /// next run.
    ///
    /// When `shutdown` turns `true` no further mailbox is synced, the sync under way is cut
    /// short (it resumes from its last stored page next time), and every claim of the batch is
    /// released at once rather than when its lease ends.
    pub async fn run_once_until(&self, shutdown: &mut watch::Receiver<bool>) -> usize {
        let fresh_for = chrono::Duration::from_std(self.interval.mul_f64(0.9)).unwrap_or_default();
        // Fixed for the run: what this run syncs is not due again within it.
        let synced_before = Utc::now() - fresh_for;
        let lease = self.interval.max(MIN_CLAIM_LEASE);
        let renewed = self
            .engine
            .gmail()
            .renew_watches(&*self.claims, crate::watch::WATCH_RENEW_MARGIN)
            .await;
        if renewed > 0 {
            tracing::info!(renewed, "Gmail watches renewed");
        }
        let mut tried = HashSet::new();
        let mut synced = 0;
        loop {
            let claimed = match self
                .claims
                .claim_due_integrations(GMAIL, synced_before, lease, CLAIM_BATCH)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "Gmail scheduler: claiming due integrations failed");
                    break;
                }
            };
            let more = claimed.len() >= CLAIM_BATCH as usize;
            let mut new = false;
            let mut stopped = *shutdown.borrow();
            for c in &claimed {
                // Checked between mailboxes; a sync under way is cut short by the stop.
                stopped = stopped || *shutdown.borrow();
                if !stopped && tried.insert(c.id) {
                    new = true;
                    tokio::select! {
                        ok = self.sync_claimed(c) => synced += usize::from(ok),
                        _ = shutdown.wait_for(|stop| *stop) => stopped = true,
                    }
                }
                if let Err(e) = self.claims.release_integration_claim(c.org_id, c.id).await {
                    tracing::warn!(integration_id = %c.id, error = %e,
                        "Gmail scheduler: releasing a claim failed");
                }
            }
            if stopped {
                tracing::info!(
                    released = claimed.len(),
                    "Gmail scheduler stopping: its claims are released"
                );
                break;
            }
            if !more || !new {
                break;
            }
        }
        synced
    }

    /// Syncs one claimed integration; whether the sync succeeded.
    async fn sync_claimed(&self, c: &ClaimedIntegration) -> bool {
        let ctx = TenantContext::system(c.org_id, "gmail-sync");
        match self.engine.sync_once(&ctx, c.id).await {
            Ok(report) => {
                tracing::info!(org_id = %c.org_id, integration_id = %c.id,
                    recorded = report.recorded, "Gmail sync");
                true
            }
            Err(e) if crate::is_needs_reauth(&e) => {
                tracing::warn!(org_id = %c.org_id, integration_id = %c.id,
                    "Gmail integration needs reauthorisation");
                false
            }
            Err(Error::Conflict { field, .. }) if field == "sync" => {
                tracing::debug!(integration_id = %c.id, "Gmail sync already running");
                false
            }
            Err(e) => {
                tracing::warn!(org_id = %c.org_id, integration_id = %c.id,
                    error = %e, "Gmail sync failed");
                false
            }
        }
    }
}

/// The running scheduler; dropping it signals it to stop without waiting,
/// [`SchedulerHandle::shutdown`] stops it and waits.
#[derive(Debug)]
pub struct SchedulerHandle {
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SchedulerHandle {
    /// Stops the scheduler and waits until it has: no mailbox is started after the signal, a
    /// sync cut short resumes from its last stored page next time, and every claim held is
    /// released (see [`SyncScheduler::run_once_until`]).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "Gmail scheduler task failed");
        }
    }
}

impl Drop for SchedulerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_a_positive_number_of_seconds() {
        let read = |v: &str| {
            let v = v.to_owned();
            SchedulerConfig::from_lookup(move |name| {
                (name == ENV_SYNC_INTERVAL_SECS).then(|| v.clone())
            })
        };
        assert_eq!(
            SchedulerConfig::from_lookup(|_| None).unwrap(),
            SchedulerConfig::default()
        );
        assert_eq!(read(" 90 ").unwrap().interval, Duration::from_secs(90));
        let push = SchedulerConfig::from_lookup(|name| {
            (name == crate::push::env::TOPIC).then(|| "projects/p/topics/gmail".to_owned())
        })
        .unwrap();
        assert_eq!(push.interval, DEFAULT_PUSH_SAFETY_INTERVAL);
        for bad in ["0", "-5", "often", ""] {
            let e = read(bad).unwrap_err();
            assert!(
                e.to_string().contains(ENV_SYNC_INTERVAL_SECS),
                "{bad:?}: {e}"
            );
        }
    }
}
