//! Gmail in the server: the client ([`GmailService`]), the started connects Google's redirect
//! comes back to, and the sync scheduler ([`spawn_scheduler`]).
//!
//! The scheduler has no cross-tenant way to find integrations (the store only lists an org's
//! own), so it syncs the integrations of the orgs it knows: those given in
//! `WORKOS_GMAIL_SYNC_ORGS` (comma-separated org ids) and those that used a Gmail route of
//! this process (connected, sent, listed, forced a sync).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use workos_core::crypto::Cipher;
use workos_core::domain::{GMAIL, IntegrationStatus};
use workos_core::ids::{OrgId, UserId};
use workos_core::page::PageRequest;
use workos_core::repo::IntegrationRepo;
use workos_core::tenant::TenantContext;
use workos_gmail::{Gmail, GmailConfig, GmailStore, SyncConfig, SyncEngine};
use workos_store::SqlStore;

/// The default time between two scheduler runs.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(60);

/// Who started a connect, kept until Google's redirect comes back with its state.
#[derive(Debug, Clone, Copy)]
struct Starter {
    org_id: OrgId,
    user_id: UserId,
    expires_at: DateTime<Utc>,
}

/// The Gmail client of the server, and what the routes and the scheduler share.
pub struct GmailService {
    /// The client.
    pub gmail: Gmail,
    /// The sync engine (its per-integration locks are the client's).
    pub engine: SyncEngine,
    starters: Mutex<HashMap<String, Starter>>,
    orgs: Mutex<BTreeSet<OrgId>>,
}

impl std::fmt::Debug for GmailService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GmailService")
            .field("gmail", &self.gmail)
            .finish_non_exhaustive()
    }
}

impl GmailService {
    /// The service for `config`, storing through `store` and sealing tokens with `cipher`.
    ///
    /// # Errors
    /// When the client cannot be built (a URL does not parse, TLS does not start).
    pub fn new(
        config: GmailConfig,
        store: SqlStore,
        cipher: Arc<Cipher>,
    ) -> workos_core::Result<Self> {
        let store: Arc<dyn GmailStore> = Arc::new(store);
        let gmail = Gmail::builder(config, store, cipher).build()?;
        let engine = gmail.sync_engine(SyncConfig::default());
        Ok(Self {
            gmail,
            engine,
            starters: Mutex::default(),
            orgs: Mutex::default(),
        })
    }

    /// Remembers who started the connect with `state`, for the unauthenticated callback.
    pub fn remember_connect(&self, state: &str, org_id: OrgId, user_id: UserId) {
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(workos_gmail::oauth::STATE_TTL)
            .unwrap_or(chrono::Duration::minutes(10));
        let mut starters = self.starters.lock().unwrap_or_else(PoisonError::into_inner);
        starters.retain(|_, s| s.expires_at > now);
        starters.insert(
            state.to_owned(),
            Starter {
                org_id,
                user_id,
                expires_at: now + ttl,
            },
        );
    }

    /// Who started the connect with `state` (once: a state is single use), unless it expired.
    pub fn take_connect(&self, state: &str) -> Option<(OrgId, UserId)> {
        let mut starters = self.starters.lock().unwrap_or_else(PoisonError::into_inner);
        starters
            .remove(state)
            .filter(|s| s.expires_at > Utc::now())
            .map(|s| (s.org_id, s.user_id))
    }

    /// Makes the scheduler sync `org`'s integrations.
    pub fn track_org(&self, org: OrgId) {
        self.orgs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(org);
    }

    /// The orgs the scheduler syncs.
    pub fn tracked_orgs(&self) -> Vec<OrgId> {
        self.orgs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }
}

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// `WORKOS_GMAIL_SYNC_INTERVAL_SECS` (default 60): time between runs, and how old a sync
    /// must be for the integration to be due again.
    pub interval: Duration,
    /// `WORKOS_GMAIL_SYNC_ORGS`: comma-separated org ids always synced.
    pub orgs: Vec<OrgId>,
}

impl SchedulerConfig {
    /// Reads the configuration through `get`.
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
        let orgs = get("WORKOS_GMAIL_SYNC_ORGS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<OrgId>()
                    .map_err(|_| anyhow::anyhow!("WORKOS_GMAIL_SYNC_ORGS: {s} is not an org id"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { interval, orgs })
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

/// Starts syncing every `config.interval` the due Gmail integrations of the known orgs.
pub fn spawn_scheduler(
    service: Arc<GmailService>,
    store: SqlStore,
    config: SchedulerConfig,
) -> SchedulerHandle {
    for org in &config.orgs {
        service.track_org(*org);
    }
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

/// One scheduler run: syncs each Gmail integration of the known orgs that is not
/// `needs_reauth` or `disconnected` and did not complete a sync within `interval` (less a
/// tenth, so a tick a little early does not skip it). Returns how many syncs succeeded.
/// Errors are logged (never with tokens: the engine's errors carry none).
pub async fn sync_due(service: &GmailService, store: &SqlStore, interval: Duration) -> usize {
    let fresh_for = chrono::Duration::from_std(interval.mul_f64(0.9)).unwrap_or_default();
    let mut synced = 0;
    for org in service.tracked_orgs() {
        let ctx = TenantContext::system(org, "gmail-sync");
        let Ok(first) = PageRequest::first(100) else {
            return synced;
        };
        let mut page = first;
        loop {
            let listed = match store.list_integrations(&ctx, page).await {
                Ok(listed) => listed,
                Err(e) => {
                    tracing::warn!(org_id = %org, error = %e, "Gmail scheduler: listing integrations failed");
                    break;
                }
            };
            for integration in &listed.data {
                let skip = integration.provider != GMAIL
                    || matches!(
                        integration.status,
                        IntegrationStatus::NeedsReauth | IntegrationStatus::Disconnected
                    )
                    || integration
                        .last_synced_at
                        .is_some_and(|at| Utc::now() - at < fresh_for);
                if skip {
                    continue;
                }
                match service.engine.sync_once(&ctx, integration.id).await {
                    Ok(report) => {
                        synced += 1;
                        tracing::info!(org_id = %org, integration_id = %integration.id,
                            recorded = report.recorded, "Gmail sync");
                    }
                    Err(e) if workos_gmail::is_needs_reauth(&e) => {
                        tracing::warn!(org_id = %org, integration_id = %integration.id,
                            "Gmail integration needs reauthorisation");
                    }
                    Err(workos_core::Error::Conflict { field, .. }) if field == "sync" => {
                        tracing::debug!(integration_id = %integration.id, "Gmail sync already running");
                    }
                    Err(e) => {
                        tracing::warn!(org_id = %org, integration_id = %integration.id,
                            error = %e, "Gmail sync failed");
                    }
                }
            }
            match listed.next_cursor {
                Some(cursor) => page = first.after(Some(cursor)),
                None => break,
            }
        }
    }
    synced
}
