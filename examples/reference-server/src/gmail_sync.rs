//! Gmail in the server: the client ([`GmailService`]) and the sync scheduler
//! ([`spawn_scheduler`]).
//!
//! Everything the Gmail routes and the scheduler share lives in the database, so any number of
//! server processes can run side by side: started connects (OAuth states, in the store's
//! `oauth_states`, so Google's redirect may reach any process) and the scheduler's claims on
//! due integrations (`claim_due_integrations`, `FOR UPDATE SKIP LOCKED` with a lease, so two
//! processes never sync the same account at once and every account is synced about once per
//! interval, whichever process does it).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use workos_core::crypto::Cipher;
use workos_core::domain::GMAIL;
use workos_core::repo::{ClaimedIntegration, IntegrationScheduler};
use workos_core::tenant::TenantContext;
use workos_gmail::{Gmail, GmailConfig, GmailStore, SharedStateStore, SyncConfig, SyncEngine};
use workos_store::SqlStore;

/// The default time between two scheduler runs.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(60);

/// How many integrations a scheduler claims at a time.
const CLAIM_BATCH: u32 = 50;

/// The shortest claim on an integration: a sync may take this long before another process
/// may take the integration over.
pub const MIN_CLAIM_LEASE: Duration = Duration::from_secs(5 * 60);

/// The Gmail client of the server, and what the routes and the scheduler share.
pub struct GmailService {
    /// The client.
    pub gmail: Gmail,
    /// The sync engine (its per-integration locks are the client's).
    pub engine: SyncEngine,
}

impl std::fmt::Debug for GmailService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GmailService")
            .field("gmail", &self.gmail)
            .finish_non_exhaustive()
    }
}

impl GmailService {
    /// The service for `config`, storing through `store` (OAuth states included) and
    /// sealing tokens and PKCE verifiers with `cipher`.
    ///
    /// # Errors
    /// When the client cannot be built (a URL does not parse, TLS does not start).
    pub fn new(
        config: GmailConfig,
        store: SqlStore,
        cipher: Arc<Cipher>,
    ) -> workos_core::Result<Self> {
        let states = Arc::new(SharedStateStore::new(
            Arc::new(store.clone()),
            Arc::clone(&cipher),
        ));
        let store: Arc<dyn GmailStore> = Arc::new(store);
        let gmail = Gmail::builder(config, store, cipher)
            .state_store(states)
            .build()?;
        let engine = gmail.sync_engine(SyncConfig::default());
        Ok(Self { gmail, engine })
    }
}

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// `WORKOS_GMAIL_SYNC_INTERVAL_SECS` (default 60): time between runs, how old a sync must
    /// be for the integration to be due again, and how long a claim on it lasts.
    pub interval: Duration,
}

impl SchedulerConfig {
    /// Reads the configuration through `get`. `WORKOS_GMAIL_SYNC_ORGS` (which named the orgs
    /// to sync before the scheduler could find them itself) is accepted and ignored, with a
    /// warning.
    ///
    /// # Errors
    /// A message naming the malformed variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let interval = match get("WORKOS_GMAIL_SYNC_INTERVAL_SECS") {
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    anyhow::anyhow!("WORKOS_GMAIL_SYNC_INTERVAL_SECS: not a positive integer")
                })?,
            None => DEFAULT_SYNC_INTERVAL,
        };
        if get("WORKOS_GMAIL_SYNC_ORGS").is_some_and(|v| !v.trim().is_empty()) {
            tracing::warn!(
                "WORKOS_GMAIL_SYNC_ORGS is no longer needed and is ignored: the scheduler syncs every due Gmail integration"
            );
        }
        Ok(Self { interval })
    }
}

/// The running scheduler; dropping it does not stop it, [`SchedulerHandle::shutdown`] does.
#[derive(Debug)]
pub struct SchedulerHandle {
    task: tokio::task::JoinHandle<()>,
}

impl SchedulerHandle {
    /// Stops the scheduler. A sync cut short resumes from its last stored page next time.
    pub async fn shutdown(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Starts syncing every `config.interval` the due Gmail integrations of every org, sharing
/// the work with the schedulers of other processes on the same database.
pub fn spawn_scheduler(
    service: Arc<GmailService>,
    store: SqlStore,
    config: SchedulerConfig,
) -> SchedulerHandle {
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let synced = sync_due(&service, &store, config.interval).await;
            if synced > 0 {
                tracing::debug!(synced, "Gmail scheduler run done");
            }
        }
    });
    SchedulerHandle { task }
}

/// One scheduler run: claims (across orgs) the Gmail integrations that are not
/// `needs_reauth` or `disconnected` and did not complete a sync within `interval` (less a
/// tenth, so a tick a little early does not skip one) before the run started, syncs them and
/// releases each claim after its sync. Batch after batch until none is due, so a backlog is
/// worked off in one run; an integration is tried once per run. Returns how many syncs
/// succeeded. Errors are logged (never with tokens: the engine's errors carry none); a failed
/// sync is due again at the next run.
///
/// The claim's lease is the interval, at least [`MIN_CLAIM_LEASE`]: it covers a long sync, and
/// a process that dies mid-sync leaves its integrations to the others when it runs out.
pub async fn sync_due(service: &GmailService, store: &SqlStore, interval: Duration) -> usize {
    let fresh_for = chrono::Duration::from_std(interval.mul_f64(0.9)).unwrap_or_default();
    // Fixed for the run: what this run syncs is not due again within it.
    let synced_before = Utc::now() - fresh_for;
    let lease = interval.max(MIN_CLAIM_LEASE);
    let mut tried = HashSet::new();
    let mut synced = 0;
    loop {
        let claimed = match store
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
        for c in &claimed {
            if tried.insert(c.id) {
                new = true;
                if sync_claimed(service, c).await {
                    synced += 1;
                }
            }
            if let Err(e) = store.release_integration_claim(c.org_id, c.id).await {
                tracing::warn!(integration_id = %c.id, error = %e,
                    "Gmail scheduler: releasing a claim failed");
            }
        }
        if !more || !new {
            break;
        }
    }
    synced
}

/// Syncs one claimed integration; whether the sync succeeded.
async fn sync_claimed(service: &GmailService, c: &ClaimedIntegration) -> bool {
    let ctx = TenantContext::system(c.org_id, "gmail-sync");
    match service.engine.sync_once(&ctx, c.id).await {
        Ok(report) => {
            tracing::info!(org_id = %c.org_id, integration_id = %c.id,
                recorded = report.recorded, "Gmail sync");
            true
        }
        Err(e) if workos_gmail::is_needs_reauth(&e) => {
            tracing::warn!(org_id = %c.org_id, integration_id = %c.id,
                "Gmail integration needs reauthorisation");
            false
        }
        Err(workos_core::Error::Conflict { field, .. }) if field == "sync" => {
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
