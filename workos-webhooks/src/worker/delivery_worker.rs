//! The [`DeliveryWorker`]: claims due deliveries, keeps up to `max_in_flight` attempts going,
//! records what they came to, and hands back what it will not send.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt as _;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use workos_core::crypto::Cipher;
use workos_core::domain::{DeliveryStatus, now};
use workos_core::events::EventBus;
use workos_core::repo::{AttemptOutcome, DeliveryQueue, SubnetAllowanceRepo};
use workos_core::{Error, Result};
use workos_limits::RateLimiter;

use super::config::WebhookConfig;
use super::handoff::{Handoff, Queued};
use super::outcome::Done;
use crate::schedule::RetrySchedule;
use crate::sender::HttpSender;
use crate::service::SecretSealer;
use crate::wakeups::Wakeups;

/// A claim's deliveries are not started later than this before its lease ends (plus the
/// timeout), so the lease outlives every attempt.
pub const START_MARGIN: Duration = Duration::from_secs(5);
/// The most finished attempts recorded in one store call.
const RECORD_BATCH: usize = 1000;
/// On shutdown, how long attempts already sent may still take to be answered before they are
/// cut off and handed back (a partner answering in milliseconds is not sent the delivery
/// twice; a silent one does not hold the lease past the process).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Sends due deliveries and records the attempts. See the [module docs](super).
pub struct DeliveryWorker<S: ?Sized> {
    pub(super) store: Arc<S>,
    pub(super) sealer: SecretSealer,
    pub(super) sender: HttpSender,
    pub(super) schedule: RetrySchedule,
    pub(super) failing_disable_after: Duration,
    pub(super) batch: u32,
    pub(super) max_in_flight: usize,
    pub(super) poll_interval: Duration,
    pub(super) lease: Duration,
    pub(super) limiter: Arc<dyn RateLimiter>,
    pub(super) waker: Arc<Notify>,
    /// Claimed but unrecorded deliveries (*max_in_flight + 2 × claim_batch* permits).
    pub(super) window: Arc<Semaphore>,
    pub(super) handoff: mpsc::UnboundedSender<Vec<Queued>>,
    pub(super) handed: Option<mpsc::UnboundedReceiver<Vec<Queued>>>,
}

impl<S: ?Sized> std::fmt::Debug for DeliveryWorker<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryWorker")
            .field("sender", &self.sender)
            .field("schedule", &self.schedule)
            .field("batch", &self.batch)
            .field("max_in_flight", &self.max_in_flight)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl<S: DeliveryQueue + SubnetAllowanceRepo + EventBus + ?Sized + 'static> DeliveryWorker<S> {
    /// A worker over `store`, opening endpoints' secrets with `cipher`.
    ///
    /// # Errors
    /// [`Error::Internal`] when the HTTP client cannot be built.
    pub fn new(store: Arc<S>, cipher: Arc<Cipher>, config: &WebhookConfig) -> Result<Self> {
        let sender = HttpSender::new(config.allowed_subnets.clone(), config.timeout)
            .map_err(|e| Error::internal("webhook sender", e))?;
        let batch = config.claim_batch.max(1);
        let max_in_flight = config.max_in_flight.max(1);
        let (handoff, handed) = mpsc::unbounded_channel();
        Ok(Self {
            store,
            sealer: SecretSealer::new(cipher),
            sender,
            schedule: config.retry_schedule.clone(),
            failing_disable_after: config.failing_disable_after,
            batch,
            max_in_flight,
            poll_interval: config.poll_interval,
            lease: config.lease(),
            limiter: Arc::clone(&config.limiter),
            waker: Arc::new(Notify::new()),
            window: Arc::new(Semaphore::new(max_in_flight + 2 * batch as usize)),
            handoff,
            handed: Some(handed),
        })
    }

    /// Where a dispatcher in this process hands deliveries it claimed for this worker
    /// ([`Dispatcher::hand_off`](crate::dispatcher::Dispatcher::hand_off));
    /// [`DeliveryWorker::run`] takes them in (and hands back those it will not send when it
    /// stops).
    #[must_use]
    pub fn handoff(&self) -> Handoff {
        Handoff {
            window: self.window.clone(),
            sender: self.handoff.clone(),
            lease: self.lease,
            start_within: self.start_within(),
        }
    }

    /// Wakes the worker when notified (the dispatcher does after creating deliveries).
    #[must_use]
    pub fn waker(&self) -> Arc<Notify> {
        self.waker.clone()
    }

    /// Claims one batch of due deliveries, sends them and records the attempts (deliveries not
    /// sent now are handed back). Returns how many were claimed. [`DeliveryWorker::run`]
    /// overlaps these steps instead; this is one serial round, for tests and embedders.
    ///
    /// # Errors
    /// The store's errors (claiming, or recording after three tries: the deliveries are then
    /// sent again once their lease runs out).
    pub async fn run_once(&self) -> Result<usize> {
        let claimed = self.store.claim_deliveries(self.batch, self.lease).await?;
        let count = claimed.len();
        if count == 0 {
            return Ok(0);
        }
        let start_by = self.start_by();
        let done: Vec<Done> = futures_util::stream::iter(claimed)
            .map(|due| self.attempt(due, start_by))
            .buffer_unordered(self.max_in_flight)
            .collect()
            .await;
        self.finish(done).await?;
        tracing::debug!(claimed = count, "webhook deliveries claimed");
        Ok(count)
    }

    /// Runs until `shutdown` turns `true` (or its sender is dropped).
    ///
    /// Claiming, sending and recording overlap: up to `max_in_flight` attempts run at once,
    /// each started as soon as a slot frees; more deliveries are claimed while they run, and
    /// finished attempts are recorded by a separate task in batches of whatever finished in
    /// the meantime. At most `max_in_flight` + 2 × `claim_batch` claimed deliveries are
    /// unrecorded at any time. On shutdown, claimed deliveries not started are handed back at
    /// once; attempts in flight get [`SHUTDOWN_GRACE`] to be answered and recorded, then are
    /// cut off and handed back too (the receiver may have had one: it is sent again, with the
    /// same `webhook-id`). So no lease outlives the worker.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut handed = self
            .handed
            .take()
            .expect("a worker runs once: run takes it by value");
        let this = Arc::new(self);
        let window = this.window.clone();
        let (done_tx, done_rx) = mpsc::unbounded_channel::<(Done, OwnedSemaphorePermit)>();
        let recorder = tokio::spawn(Self::record_loop(this.clone(), done_rx));
        let mut wakeups = Wakeups::due(this.store.clone());
        let mut queue: VecDeque<Queued> = VecDeque::new();
        let mut attempts: JoinSet<()> = JoinSet::new();
        // Turned on when the shutdown grace has passed: attempts still running are cut off.
        let (cut, cut_off) = watch::channel(false);
        // Whether a claim may find something now; else the next look is at `next_look`.
        let mut more = true;
        let mut next_look = Instant::now();
        loop {
            while let Ok(batch) = handed.try_recv() {
                queue.extend(batch);
            }
            while attempts.len() < this.max_in_flight {
                let Some((due, start_by, permit)) = queue.pop_front() else {
                    break;
                };
                let (worker, done, mut cut_off) = (this.clone(), done_tx.clone(), cut_off.clone());
                attempts.spawn(async move {
                    let id = (due.delivery.org_id, due.delivery.id);
                    let d = tokio::select! {
                        d = worker.attempt(due, start_by) => d,
                        _ = cut_off.wait_for(|cut| *cut) => Done::Released(id, Duration::ZERO),
                    };
                    // The recorder outlives every attempt.
                    let _ = done.send((d, permit));
                });
            }
            if *shutdown.borrow() {
                break;
            }
            wakeups.ensure().await;
            let room = window.available_permits().min(this.batch as usize);
            if more && room > 0 && queue.len() < this.max_in_flight {
                // The dispatcher may have reserved some since `room` was read: look again.
                let Ok(mut permits) = Arc::clone(&window)
                    .try_acquire_many_owned(u32::try_from(room).unwrap_or(u32::MAX))
                else {
                    continue;
                };
                let worked;
                match this
                    .store
                    .claim_deliveries(permits.num_permits() as u32, this.lease)
                    .await
                {
                    Ok(claimed) => {
                        more = claimed.len() == room;
                        worked = !claimed.is_empty();
                        if worked {
                            tracing::debug!(claimed = claimed.len(), "webhook deliveries claimed");
                        }
                        let start_by = this.start_by();
                        for due in claimed {
                            let permit = permits.split(1).expect("one permit per claimed delivery");
                            queue.push_back((due, start_by, permit));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming webhook deliveries failed");
                        more = false;
                        worked = false;
                    }
                }
                if !more {
                    // After a short claim that got something, what became due has been taken:
                    // the next look is at the poll interval unless a notice comes first (the
                    // recorder gives one when a retry is scheduled). Only an empty claim asks
                    // the store when the next delivery is due, saving a query per wake-up.
                    let idle = if worked {
                        this.poll_interval
                    } else {
                        this.idle_time().await
                    };
                    next_look = Instant::now() + idle;
                    more = idle.is_zero();
                }
                continue;
            }
            // Wait for a free slot, room in the window, a notice, the next look or shutdown.
            tokio::select! {
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
                permit = window.acquire(), if more && room == 0 => drop(permit),
                () = wakeups.notice() => more = true,
                () = this.waker.notified() => more = true,
                Some(batch) = handed.recv() => queue.extend(batch),
                () = tokio::time::sleep_until(next_look.into()), if !more => more = true,
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        // Not started: hand back at once, for this or another worker to claim.
        handed.close();
        while let Ok(batch) = handed.try_recv() {
            queue.extend(batch);
        }
        for (due, _, permit) in queue {
            let _ = done_tx.send((
                Done::Released((due.delivery.org_id, due.delivery.id), Duration::ZERO),
                permit,
            ));
        }
        let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while attempts.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tracing::info!(
                handed_back = attempts.len(),
                "webhook worker stopping: attempts still unanswered are cut off and handed back"
            );
            let _ = cut.send(true);
            while attempts.join_next().await.is_some() {}
        }
        drop(done_tx);
        if let Err(e) = recorder.await {
            tracing::error!(error = %e, "webhook recorder task failed");
        }
        tracing::debug!("webhook delivery worker stopped");
    }

    /// Records what finished, in batches of whatever finished while the previous batch was
    /// being recorded; a delivery's window permit is returned once it is recorded.
    async fn record_loop(
        this: Arc<Self>,
        mut done: mpsc::UnboundedReceiver<(Done, OwnedSemaphorePermit)>,
    ) {
        let mut batch = Vec::new();
        while done.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            let (finished, permits): (Vec<Done>, Vec<OwnedSemaphorePermit>) =
                batch.drain(..).unzip();
            let count = finished.len();
            // A retry may be due at once, or a handed-back delivery claimable: have the loop
            // look (it sleeps until the right time if nothing is due yet).
            let look_again = finished.iter().any(|d| match d {
                Done::Attempted(o) => o.status == DeliveryStatus::Retrying,
                Done::Released(..) => true,
            });
            if let Err(e) = this.finish(finished).await {
                tracing::warn!(error = %e, "recording webhook attempts failed; they are sent again after the lease");
            }
            drop(permits);
            if look_again {
                this.waker.notify_one();
            }
            tracing::debug!(count, "webhook deliveries finished");
        }
    }

    /// When the attempts of a claim made now must have started, so the lease outlives them.
    pub(super) fn start_by(&self) -> Instant {
        Instant::now() + self.start_within()
    }

    /// How soon after a claim its attempts must have started.
    fn start_within(&self) -> Duration {
        self.lease
            .saturating_sub(self.sender.timeout() + START_MARGIN)
    }

    /// Records attempts and hands back released deliveries.
    async fn finish(&self, done: Vec<Done>) -> Result<()> {
        let mut outcomes = Vec::with_capacity(done.len());
        let mut released = Vec::new();
        let mut release_after = Duration::ZERO;
        for d in done {
            match d {
                Done::Attempted(o) => outcomes.push(o),
                Done::Released(id, after) => {
                    released.push(id);
                    release_after = release_after.max(after);
                }
            }
        }
        let recorded = self.record(outcomes).await;
        if !released.is_empty() {
            let at = now() + chrono::Duration::from_std(release_after).unwrap_or_default();
            if let Err(e) = self.store.release_deliveries(released, at).await {
                // Their leases run out instead.
                tracing::warn!(error = %e, "handing back webhook deliveries failed");
            }
        }
        recorded
    }

    /// How long to sleep after a claim that found nothing, at most the poll interval: until
    /// the next delivery is due (a due time already past is a delivery under someone's lease,
    /// or being claimed by another worker: look again at the poll interval).
    async fn idle_time(&self) -> Duration {
        match self.store.next_delivery_due().await {
            Ok(Some(due)) => match (due - Utc::now()).to_std() {
                Ok(wait) if !wait.is_zero() => wait.min(self.poll_interval),
                _ => self.poll_interval,
            },
            Ok(None) => self.poll_interval,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the next webhook due time");
                self.poll_interval
            }
        }
    }

    /// Records outcomes, trying three times.
    async fn record(&self, outcomes: Vec<AttemptOutcome>) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut backoff = Duration::from_millis(200);
        for _ in 0..2 {
            match self.store.record_attempts(outcomes.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "recording webhook attempts failed; trying again");
                    tokio::time::sleep(backoff).await;
                    backoff *= 5;
                }
            }
        }
        self.store.record_attempts(outcomes).await
    }
}
