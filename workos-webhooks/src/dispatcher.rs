//! The dispatcher: fans committed events out into webhook deliveries.
//!
//! The event log is a stream per org ([`EventLog`]), and the dispatcher keeps a cursor per org
//! ([`Dispatcher::CONSUMER`]). Draining an org calls [`DeliveryQueue::dispatch_events`] for it
//! until a call reads fewer events than its limit; another process draining the same org at the
//! same moment makes the call answer `None` and this one moves on. Orgs are drained when a
//! notice names them ([`EventBus`]: a commit of this or another process), and every org with
//! events after its cursor ([`EventLog::pending_orgs`]) when a notice names no org (after a
//! reconnect, or a subscriber falling behind) and at the poll interval (1 s by default), which
//! is what makes sure no event is left behind. An event is readable as soon as its transaction
//! commits, so a notice never arrives before its event, and one org's slow transaction holds
//! back no other org.
//!
//! A notice that names its events (a commit in this process, on a single Postgres node) is
//! answered at once by [`DeliveryQueue::dispatch_committed`] instead: the deliveries it creates
//! are claimed for the process's worker as far as its window has room ([`Dispatcher::hand_off`])
//! and handed to it over a channel, ready to send. Reading the org's stream later makes no
//! second delivery of those events (deliveries are unique per event and endpoint).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use workos_core::Result;
use workos_core::domain::now;
use workos_core::events::{EventBus, EventLog};
use workos_core::ids::{EventId, OrgId};
use workos_core::repo::DeliveryQueue;

use crate::wakeups::Wakeups;
use crate::worker::{Handoff, Queued, WebhookConfig};

/// Orgs asked for at once when looking for every org with events to dispatch.
const PENDING_ORGS_BATCH: u32 = 500;

/// What one [`Dispatcher::run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DispatchStats {
    /// Events read from the log.
    pub events: usize,
    /// Deliveries created.
    pub deliveries: usize,
}

/// Fans the event log out into deliveries. See the [module docs](self).
pub struct Dispatcher<S: ?Sized> {
    store: Arc<S>,
    batch: u32,
    poll_interval: Duration,
    on_dispatch: Option<Arc<Notify>>,
    handoff: Option<Handoff>,
}

impl<S: ?Sized> std::fmt::Debug for Dispatcher<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("batch", &self.batch)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

impl<S: DeliveryQueue + EventLog + EventBus + ?Sized + 'static> Dispatcher<S> {
    /// The event-log consumer name the dispatcher's cursor is stored under.
    pub const CONSUMER: &'static str = "webhooks";

    /// A dispatcher over `store`.
    #[must_use]
    pub fn new(store: Arc<S>, config: &WebhookConfig) -> Self {
        Self {
            store,
            batch: config.dispatch_batch.max(1),
            poll_interval: config.poll_interval,
            on_dispatch: None,
            handoff: None,
        }
    }

    /// Hands deliveries it creates for events committed in this process straight to `handoff`'s
    /// worker, already claimed (see [`DeliveryWorker::handoff`](crate::worker::DeliveryWorker::handoff)), as far as the worker has room.
    #[must_use]
    pub fn hand_off(mut self, handoff: Handoff) -> Self {
        self.handoff = Some(handoff);
        self
    }

    /// Notifies `waker` whenever deliveries were created (e.g. [`DeliveryWorker::waker`](crate::worker::DeliveryWorker::waker)).
    #[must_use]
    pub fn notify(mut self, waker: Arc<Notify>) -> Self {
        self.on_dispatch = Some(waker);
        self
    }

    /// Dispatches every org with events after its cursor, each until drained (a call reads
    /// fewer events than the batch size) or held by another dispatcher.
    ///
    /// # Errors
    /// The store's errors; what was dispatched before stays dispatched.
    pub async fn run_once(&self) -> Result<DispatchStats> {
        let mut stats = DispatchStats::default();
        // Orgs another dispatcher is draining: theirs until the next pass.
        let mut held = HashSet::new();
        loop {
            let pending = self
                .store
                .pending_orgs(Self::CONSUMER, PENDING_ORGS_BATCH)
                .await?;
            let fresh: Vec<OrgId> = pending.into_iter().filter(|o| !held.contains(o)).collect();
            if fresh.is_empty() {
                break;
            }
            for org in fresh {
                if !self.drain(org, &mut stats).await? {
                    held.insert(org);
                }
            }
        }
        Ok(stats)
    }

    /// Dispatches the orgs in `orgs`, each until drained or held by another dispatcher.
    ///
    /// # Errors
    /// The store's errors; what was dispatched before stays dispatched.
    pub async fn run_orgs(&self, orgs: impl IntoIterator<Item = OrgId>) -> Result<DispatchStats> {
        let mut stats = DispatchStats::default();
        for org in orgs {
            self.drain(org, &mut stats).await?;
        }
        Ok(stats)
    }

    /// Dispatches `org` until a call reads fewer events than the batch; `false` when another
    /// dispatcher holds the org.
    async fn drain(&self, org: OrgId, stats: &mut DispatchStats) -> Result<bool> {
        loop {
            let Some((events, deliveries)) = self
                .store
                .dispatch_events(Self::CONSUMER, org, self.batch)
                .await?
            else {
                return Ok(false);
            };
            stats.events += events;
            stats.deliveries += deliveries;
            if deliveries > 0
                && let Some(waker) = &self.on_dispatch
            {
                waker.notify_one();
            }
            if events < self.batch as usize {
                return Ok(true);
            }
        }
    }

    /// Fans out events a notice named as committed in this process at once
    /// ([`DeliveryQueue::dispatch_committed`]), handing what it claims to the worker. Returns
    /// `false` when the log must be read for them instead (no fast path, or it failed).
    async fn dispatch_committed(&self, events: &[(OrgId, EventId)]) -> bool {
        let reserved = self.handoff.as_ref().and_then(|h| h.reserve(self.batch));
        let (limit, lease, start_by) = match (&self.handoff, &reserved) {
            (Some(h), Some(permits)) => (
                permits.num_permits() as u32,
                h.lease,
                Instant::now() + h.start_within,
            ),
            _ => (0, Duration::ZERO, Instant::now()),
        };
        let dispatched = match self.store.dispatch_committed(events, limit, lease).await {
            Ok(Some(d)) => d,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "webhook dispatch of committed events failed");
                return false;
            }
        };
        let handed = dispatched.claimed.len();
        if let (Some(h), Some(mut permits)) = (&self.handoff, reserved)
            && handed > 0
        {
            let batch: Vec<Queued> = dispatched
                .claimed
                .into_iter()
                .map(|due| {
                    let permit = permits.split(1).expect("one permit reserved per claim");
                    (due, start_by, permit)
                })
                .collect();
            if let Err(returned) = h.sender.send(batch) {
                // The worker stopped: hand them back for any worker.
                let ids = returned
                    .0
                    .iter()
                    .map(|(due, ..)| (due.delivery.org_id, due.delivery.id))
                    .collect();
                if let Err(e) = self.store.release_deliveries(ids, now()).await {
                    tracing::warn!(error = %e, "handing back webhook deliveries failed; their lease runs out instead");
                }
            }
        }
        if dispatched.created > handed
            && let Some(waker) = &self.on_dispatch
        {
            waker.notify_one();
        }
        if dispatched.created > 0 {
            tracing::debug!(
                events = events.len(),
                deliveries = dispatched.created,
                handed,
                "dispatched committed events"
            );
        }
        true
    }

    /// Runs until `shutdown` turns `true` (or its sender is dropped).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut wakeups = Wakeups::events(self.store.clone()).keeping_events();
        // When every pending org is looked for next, even if no notice asks for it.
        let mut next_sweep = Instant::now();
        while !*shutdown.borrow() {
            // Subscribe before looking, so a commit in between still wakes us.
            wakeups.ensure().await;
            let committed = std::mem::take(&mut wakeups.committed);
            let mut orgs = std::mem::take(&mut wakeups.orgs);
            let noticed = std::mem::take(&mut wakeups.noticed);
            // Events committed in this process are fanned out at once; other notices name the
            // orgs to read, and the sweep at the poll interval makes sure no event is left
            // behind (it makes no second delivery of any).
            if !committed.is_empty() && !self.dispatch_committed(&committed).await {
                orgs.extend(committed.iter().map(|&(org, _)| org));
            }
            let result = if noticed || Instant::now() >= next_sweep {
                next_sweep = Instant::now() + self.poll_interval;
                self.run_once().await
            } else if orgs.is_empty() {
                Ok(DispatchStats::default())
            } else {
                self.run_orgs(orgs).await
            };
            match result {
                Ok(stats) if stats.events > 0 => tracing::debug!(
                    events = stats.events,
                    deliveries = stats.deliveries,
                    "dispatched events"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook dispatch failed"),
            }
            let wait = next_sweep.saturating_duration_since(Instant::now());
            if !wakeups.wait(None, wait, &mut shutdown).await {
                break;
            }
        }
        tracing::debug!("webhook dispatcher stopped");
    }
}
