//! Coalescing pushed syncs: however many pushes arrive for a mailbox, one sync runs at a time
//! and pushes it already covers cost nothing.
//!
//! Each push carries the mailbox's `historyId` after its change. [`PushSyncs::request`]:
//!
//! 1. reads the integration's stored sync state: when its incremental `history_id` has reached
//!    the pushed one, the push is covered ([`PushOutcome::AlreadySynced`]), no Gmail call;
//! 2. otherwise raises the mailbox's wanted history id and, unless a worker of this process is
//!    on the mailbox already, starts one; then waits (at most the configured time) for the
//!    stored history id to reach the pushed one.
//!
//! The worker reads the stored state again, and syncs only when it is still behind; it claims
//! the integration first ([`IntegrationScheduler::claim_integration`], the scheduler's lease),
//! so a sync running in another process (or this process's scheduler) is waited for rather
//! than doubled (the claim is retried every [`CLAIM_RETRY`], at most for [`MIN_CLAIM_LEASE`]).
//! After a sync it stops when the synced history id covers every push it was asked for, and
//! runs again otherwise (a change that arrived during the sync). A sync reads the history up to
//! now, so a burst of pushes for changes made before it started costs that one sync.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use workos_core::ids::{IntegrationId, OrgId};
use workos_core::repo::IntegrationScheduler;
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use crate::scheduler::MIN_CLAIM_LEASE;
use crate::sync::{SyncEngine, SyncPhase, SyncState};

/// How often a worker tries again to claim a mailbox another sync holds.
pub const CLAIM_RETRY: Duration = Duration::from_millis(500);

/// What one push came to for one integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushOutcome {
    /// A sync (this push's or one it joined) reached the pushed history id.
    Synced,
    /// The stored sync had reached it already.
    AlreadySynced,
    /// Still syncing when the wait ended.
    Pending,
    /// The sync failed; the scheduler's polling retries.
    Failed,
}

#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// The history id the stored sync reached, as far as this process saw.
    synced: u64,
    /// Worker rounds that failed so far.
    failures: u64,
}

#[derive(Debug, Default)]
struct Wanted {
    history_id: u64,
    running: bool,
}

#[derive(Debug)]
struct Slot {
    wanted: Mutex<Wanted>,
    progress: watch::Sender<Progress>,
}

impl Slot {
    fn wanted(&self) -> std::sync::MutexGuard<'_, Wanted> {
        self.wanted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The pushed syncs of a process (see the [module](self)). Cheap to clone; clones share the
/// mailboxes.
#[derive(Debug, Clone)]
pub struct PushSyncs {
    inner: Arc<Inner>,
}

struct Inner {
    engine: SyncEngine,
    claims: Arc<dyn IntegrationScheduler>,
    answer_within: Duration,
    slots: Mutex<HashMap<IntegrationId, Arc<Slot>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSyncs")
            .field("answer_within", &self.answer_within)
            .finish_non_exhaustive()
    }
}

impl PushSyncs {
    /// Syncs with `engine`, claiming through `claims`; a request waits at most
    /// `answer_within` for its sync.
    #[must_use]
    pub fn new(
        engine: SyncEngine,
        claims: Arc<dyn IntegrationScheduler>,
        answer_within: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine,
                claims,
                answer_within,
                slots: Mutex::default(),
            }),
        }
    }

    /// Asks for the integration to be synced up to `history_id` (see the [module](self)).
    pub async fn request(&self, org_id: OrgId, id: IntegrationId, history_id: u64) -> PushOutcome {
        match self.stored_history_id(org_id, id).await {
            Ok(stored) if stored >= history_id => return PushOutcome::AlreadySynced,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(integration_id = %id, error = %e, "Gmail push: reading the integration failed");
                return PushOutcome::Failed;
            }
        }
        let slot = {
            let mut slots = self
                .inner
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(slots.entry(id).or_insert_with(|| {
                Arc::new(Slot {
                    wanted: Mutex::default(),
                    progress: watch::channel(Progress::default()).0,
                })
            }))
        };
        let mut progress = slot.progress.subscribe();
        let failures_before = progress.borrow().failures;
        {
            let mut wanted = slot.wanted();
            wanted.history_id = wanted.history_id.max(history_id);
            if !wanted.running {
                wanted.running = true;
                tokio::spawn(self.clone().work(org_id, id, Arc::clone(&slot)));
            }
        }
        let reached = tokio::time::timeout(
            self.inner.answer_within,
            progress.wait_for(|p| p.synced >= history_id || p.failures > failures_before),
        )
        .await;
        match reached {
            Ok(Ok(p)) if p.synced >= history_id => PushOutcome::Synced,
            Ok(_) => PushOutcome::Failed,
            Err(_) => PushOutcome::Pending,
        }
    }

    /// The mailbox's worker: syncs until the stored history id covers every push asked for,
    /// or a sync fails.
    async fn work(self, org_id: OrgId, id: IntegrationId, slot: Arc<Slot>) {
        loop {
            let target = slot.wanted().history_id;
            let result = self.sync_up_to(org_id, id, target).await;
            if let Err(e) = &result {
                tracing::warn!(org_id = %org_id, integration_id = %id, error = %e,
                    "Gmail pushed sync failed; polling retries");
            }
            let synced = result.as_ref().ok().copied();
            slot.progress.send_modify(|p| match synced {
                Some(s) => p.synced = p.synced.max(s),
                None => p.failures += 1,
            });
            let mut wanted = slot.wanted();
            if synced.is_none_or(|s| s >= wanted.history_id) {
                wanted.running = false;
                return;
            }
        }
    }

    /// Brings the stored sync to `target` or beyond, unless it is there already; the history
    /// id it reached.
    async fn sync_up_to(&self, org_id: OrgId, id: IntegrationId, target: u64) -> Result<u64> {
        let ctx = TenantContext::system(org_id, "gmail-push");
        let mut waited = Duration::ZERO;
        loop {
            let stored = self.stored_history_id(org_id, id).await?;
            if stored >= target {
                return Ok(stored);
            }
            if let Some(claim) = self
                .inner
                .claims
                .claim_integration(org_id, id, MIN_CLAIM_LEASE)
                .await?
            {
                let result = self.inner.engine.sync_once(&ctx, id).await;
                if let Err(e) = self
                    .inner
                    .claims
                    .release_integration_claim(org_id, claim.id)
                    .await
                {
                    tracing::warn!(integration_id = %id, error = %e, "Gmail push: releasing a claim failed");
                }
                match result {
                    Ok(_) => return self.stored_history_id(org_id, id).await,
                    // This process's scheduler or a forced sync runs it: wait for that one.
                    Err(Error::Conflict { field, .. }) if field == "sync" => {}
                    Err(e) => return Err(e),
                }
            } else {
                // Claimed elsewhere, or no longer usable: the stored state says which.
                let integration = self
                    .inner
                    .engine
                    .gmail()
                    .usable_integration(&ctx, id)
                    .await?;
                drop(integration);
            }
            if waited >= MIN_CLAIM_LEASE {
                return Err(Error::conflict(
                    "sync",
                    "another sync of this mailbox held it for too long",
                ));
            }
            tokio::time::sleep(CLAIM_RETRY).await;
            waited += CLAIM_RETRY;
        }
    }

    /// The history id the integration's stored sync has reached (0 before its first full sync
    /// completed).
    async fn stored_history_id(&self, org_id: OrgId, id: IntegrationId) -> Result<u64> {
        let ctx = TenantContext::system(org_id, "gmail-push");
        let integration = self
            .inner
            .engine
            .gmail()
            .store()
            .get_integration(&ctx, id)
            .await?;
        let state = SyncState::from_value(&integration.sync_state);
        Ok(match state.phase {
            SyncPhase::Incremental if state.page_token.is_none() => state
                .history_id
                .as_deref()
                .and_then(|h| h.parse().ok())
                .unwrap_or(0),
            _ => 0,
        })
    }
}
