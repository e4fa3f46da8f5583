//! The delivery pipeline: a [`Dispatcher`] fans committed events out into deliveries, a
//! [`DeliveryWorker`] sends due deliveries and records what happened. [`Pipeline::spawn`] runs
//! both as tokio tasks until its [`PipelineHandle`] is shut down (or dropped).
//!
//! Both talk to storage only through the core traits ([`DeliveryQueue`], [`EventBus`]), so any
//! backend works, and several processes can run pipelines on one database: the store hands each
//! event batch to one dispatcher and each due delivery to one worker (a claim with a lease).
//!
//! ## Dispatcher
//! See [`crate::dispatcher`]: it fans each org's committed events out into deliveries, and hands
//! deliveries of events committed in this process straight to the worker.
//!
//! ## Worker
//! Keeps up to [`WebhookConfig::max_in_flight`] attempts going, each started as soon as a slot
//! frees, and claims more due deliveries (up to [`WebhookConfig::claim_batch`] at once, for a
//! lease of *timeout + 30 s*) while they run. Finished attempts are recorded by a separate task,
//! each [`DeliveryQueue::record_attempts`] call taking whatever finished during the previous
//! one, so claiming, sending and recording overlap and one slow receiver holds up only its own
//! slot. Claimed but unrecorded deliveries are bounded (*max_in_flight + 2 × claim_batch*).
//! Each endpoint is held to its `rate_limit_per_second` (a GCRA limit per endpoint, through
//! [`WebhookConfig::limiter`]: in memory by default, where the limit holds per worker process;
//! a shared limiter such as `workos_limits::RedisLimiter` makes it hold across processes). With nothing to claim the worker sleeps until
//! the next due time, a notice that deliveries became due ([`DeliveryQueue::subscribe_due`]:
//! sent by any process's dispatcher, by replays, recoveries and hand-backs; Postgres
//! `NOTIFY workos_deliveries`), the in-process dispatcher's wake-up, or the poll interval.
//!
//! What an attempt leads to:
//!
//! | answer | delivery | endpoint |
//! |---|---|---|
//! | 2xx | `succeeded` | |
//! | 410 | `failed` | disabled, reason `gone` |
//! | 429 / 503 with `Retry-After` | `retrying`, not before `Retry-After` | |
//! | anything else, no answer | `retrying` per the [`RetrySchedule`], `failed` once it is used up | |
//! | a failure while the endpoint has been failing longer than [`WebhookConfig::failing_disable_after`] | as above | disabled, reason `failing` |
//!
//! A delivery held back by its endpoint's rate limit for more than 250 ms, or not started
//! early enough in its lease, is handed back ([`DeliveryQueue::release_deliveries`]) without
//! counting an attempt, claimable again after the rate's spacing (at least 250 ms) or at once.
//! A delivery whose endpoint's secrets cannot be opened (a wrong encryption key) or hold no
//! valid secret cannot be signed, which no retry would change: it is dead-lettered (`failed`)
//! at once with an attempt that sent nothing, whose `error_kind` is
//! [`ERROR_SECRETS_UNREADABLE`] or [`ERROR_NO_SECRET`], and an error is logged. Delivery is at
//! least once: a worker that dies after sending but before recording sends again after the
//! lease.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use url::Url;
use workos_core::crypto::Cipher;
use workos_core::domain::{
    DeliveryAttempt, DeliveryStatus, WebhookDelivery, now, to_storage_precision,
};
use workos_core::events::{EventBus, EventLog};
use workos_limits::{Decision, MemoryLimiter, Quota, RateLimiter};

pub use crate::dispatcher::{DispatchStats, Dispatcher};
use crate::wakeups::Wakeups;
use workos_core::ids::{OrgId, WebhookDeliveryId, WebhookId};
use workos_core::repo::{AttemptOutcome, DeliveryQueue, DueDelivery, SubnetAllowanceRepo};
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use crate::schedule::{RetrySchedule, ScheduleError};
use crate::sender::{
    DEFAULT_TIMEOUT, ErrorKind, HttpSender, Message, SendError, SendResponse, Verdict, classify,
};
use crate::service::SecretSealer;
use crate::ssrf::{SsrfError, SsrfGuard};

/// Environment variable holding the retry schedule (see [`RetrySchedule::parse`]).
pub const ENV_RETRY_SCHEDULE: &str = "WORKOS_WEBHOOK_RETRY_SCHEDULE";
/// Environment variable holding the attempt timeout in whole seconds.
pub const ENV_TIMEOUT_SECS: &str = "WORKOS_WEBHOOK_TIMEOUT_SECS";
/// Environment variable holding the SSRF allow-list (see [`SsrfGuard::from_env_value`]).
pub const ENV_ALLOWED_SUBNETS: &str = "WORKOS_WEBHOOK_ALLOWED_SUBNETS";

/// The longest attempt timeout accepted: 5 minutes.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// How long an endpoint may fail before it is disabled, by default: 5 days.
pub const DEFAULT_FAILING_DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 3600);
/// How much longer than the attempt timeout a claim's lease lasts.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// A claim's deliveries are not started later than this before its lease ends (plus the
/// timeout), so the lease outlives every attempt.
pub const START_MARGIN: Duration = Duration::from_secs(5);
/// The longest an attempt waits for its endpoint's rate limit before the delivery is handed
/// back (so a rate-limited endpoint holds few of the attempt slots).
const RATE_LIMIT_WAIT: Duration = Duration::from_millis(250);
/// The most finished attempts recorded in one store call.
const RECORD_BATCH: usize = 1000;
/// On shutdown, how long attempts already sent may still take to be answered before they are
/// cut off and handed back (a partner answering in milliseconds is not sent the delivery
/// twice; a silent one does not hold the lease past the process).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The `error_kind` of a delivery dead-lettered because its endpoint's sealed secrets do not
/// open (e.g. the engine's encryption key changed): no attempt was sent.
pub const ERROR_SECRETS_UNREADABLE: &str = "secrets_unreadable";
/// The `error_kind` of a delivery dead-lettered because its endpoint has no valid signing
/// secret: no attempt was sent.
pub const ERROR_NO_SECRET: &str = "no_valid_secret";

/// Settings of the delivery pipeline.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// When failed deliveries are tried again.
    pub retry_schedule: RetrySchedule,
    /// The timeout of one attempt, response body included (default 15 s).
    pub timeout: Duration,
    /// The SSRF guard checking every destination before each attempt.
    pub allowed_subnets: SsrfGuard,
    /// An endpoint failing this long is disabled (reason `failing`; default 5 days).
    pub failing_disable_after: Duration,
    /// Events read per dispatch call (default 1000).
    pub dispatch_batch: u32,
    /// Deliveries claimed at once (default 100).
    pub claim_batch: u32,
    /// Attempts in flight at once per worker (default 32).
    pub max_in_flight: usize,
    /// The longest sleep between two looks at the store when no notice comes (default 1 s).
    pub poll_interval: Duration,
    /// What holds endpoints to their `rate_limit_per_second` (default: a
    /// [`MemoryLimiter`] of this configuration's own, shared by its clones).
    pub limiter: Arc<dyn RateLimiter>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            retry_schedule: RetrySchedule::default(),
            timeout: DEFAULT_TIMEOUT,
            allowed_subnets: SsrfGuard::default(),
            failing_disable_after: DEFAULT_FAILING_DISABLE_AFTER,
            dispatch_batch: 1000,
            claim_batch: 100,
            max_in_flight: 32,
            poll_interval: Duration::from_secs(1),
            limiter: Arc::new(MemoryLimiter::new()),
        }
    }
}

/// A pipeline setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `WORKOS_WEBHOOK_RETRY_SCHEDULE` is invalid.
    #[error("{ENV_RETRY_SCHEDULE}: {0}")]
    RetrySchedule(#[from] ScheduleError),
    /// `WORKOS_WEBHOOK_TIMEOUT_SECS` is not a whole number of seconds from 1 to 300.
    #[error("{ENV_TIMEOUT_SECS}: {value:?} is not a whole number of seconds from 1 to 300")]
    Timeout {
        /// The value as set.
        value: String,
    },
    /// `WORKOS_WEBHOOK_ALLOWED_SUBNETS` is invalid.
    #[error("{ENV_ALLOWED_SUBNETS}: {0}")]
    AllowedSubnets(#[source] SsrfError),
}

impl WebhookConfig {
    /// The defaults, with [`ENV_RETRY_SCHEDULE`], [`ENV_TIMEOUT_SECS`] and
    /// [`ENV_ALLOWED_SUBNETS`] applied when set (an empty value counts as unset).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that is set but invalid.
    pub fn from_env() -> std::result::Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`WebhookConfig::from_env`] reading variables through `lookup` (for tests and for
    /// configuration that is not in the process environment).
    ///
    /// # Errors
    /// As [`WebhookConfig::from_env`].
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<Self, ConfigError> {
        let get = |name| lookup(name).filter(|v| !v.trim().is_empty());
        let mut config = Self::default();
        if let Some(v) = get(ENV_RETRY_SCHEDULE) {
            config.retry_schedule = RetrySchedule::parse(&v)?;
        }
        if let Some(v) = get(ENV_TIMEOUT_SECS) {
            config.timeout = v
                .trim()
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs)
                .filter(|t| !t.is_zero() && *t <= MAX_TIMEOUT)
                .ok_or(ConfigError::Timeout { value: v })?;
        }
        if let Some(v) = get(ENV_ALLOWED_SUBNETS) {
            config.allowed_subnets =
                SsrfGuard::from_env_value(&v).map_err(ConfigError::AllowedSubnets)?;
        }
        Ok(config)
    }

    /// The lease of a claim: the timeout plus [`LEASE_MARGIN`].
    #[must_use]
    pub fn lease(&self) -> Duration {
        self.timeout + LEASE_MARGIN
    }
}

/// Completes once `signal` turns `true` or its sender is dropped: a shutdown, for
/// [`workos_core::supervise::spawn_supervised_until`].
pub async fn stopped(mut signal: watch::Receiver<bool>) {
    let _ = signal.wait_for(|s| *s).await;
}

/// The `webhook-id` of a delivery: `msg_` + its id as 32 hex digits, the same on every attempt.
#[must_use]
pub fn message_id(id: WebhookDeliveryId) -> String {
    format!("msg_{}", id.as_uuid().simple())
}

/// Claimed deliveries a dispatcher hands to its process's worker, each with the time it must
/// start by and its place in the worker's window.
pub(crate) type Queued = (DueDelivery, Instant, OwnedSemaphorePermit);

/// Where a [`Dispatcher`] hands the deliveries it claimed to a [`DeliveryWorker`] (from
/// [`DeliveryWorker::handoff`]): it claims only as many as the worker's window has room for.
#[derive(Clone)]
pub struct Handoff {
    window: Arc<Semaphore>,
    pub(crate) sender: mpsc::UnboundedSender<Vec<Queued>>,
    pub(crate) lease: Duration,
    pub(crate) start_within: Duration,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Handoff {
    /// Room in the worker's window for up to `most` deliveries, if it has any.
    pub(crate) fn reserve(&self, most: u32) -> Option<OwnedSemaphorePermit> {
        if self.sender.is_closed() {
            return None;
        }
        let room = self.window.available_permits().min(most as usize);
        if room == 0 {
            return None;
        }
        Arc::clone(&self.window)
            .try_acquire_many_owned(u32::try_from(room).unwrap_or(u32::MAX))
            .ok()
    }
}

/// Sends due deliveries and records the attempts. See the [module docs](self).
pub struct DeliveryWorker<S: ?Sized> {
    store: Arc<S>,
    sealer: SecretSealer,
    sender: HttpSender,
    schedule: RetrySchedule,
    failing_disable_after: Duration,
    batch: u32,
    max_in_flight: usize,
    poll_interval: Duration,
    lease: Duration,
    limiter: Arc<dyn RateLimiter>,
    waker: Arc<Notify>,
    /// Claimed but unrecorded deliveries (*max_in_flight + 2 × claim_batch* permits).
    window: Arc<Semaphore>,
    handoff: mpsc::UnboundedSender<Vec<Queued>>,
    handed: Option<mpsc::UnboundedReceiver<Vec<Queued>>>,
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
    /// ([`Dispatcher::hand_off`]); [`DeliveryWorker::run`] takes them in (and hands back those
    /// it will not send when it stops).
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
    fn start_by(&self) -> Instant {
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

    /// One attempt, or the delivery handed back or dead-lettered without one (see the module
    /// docs).
    async fn attempt(&self, due: DueDelivery, start_by: Instant) -> Done {
        let delivery = &due.delivery;
        if let Some(rate) = due.rate_limit_per_second {
            let left = start_by
                .saturating_duration_since(Instant::now())
                .min(RATE_LIMIT_WAIT);
            if !self.wait_for_rate(delivery.webhook_id, rate, left).await {
                tracing::debug!(delivery_id = %delivery.id, "rate limited; handed back");
                let spacing = Duration::from_secs(1) / rate.max(1);
                return Done::Released(
                    (delivery.org_id, delivery.id),
                    spacing.max(RATE_LIMIT_WAIT),
                );
            }
        }
        if Instant::now() >= start_by {
            tracing::debug!(delivery_id = %delivery.id, "lease too short; handed back");
            return Done::Released((delivery.org_id, delivery.id), Duration::ZERO);
        }
        let secrets = match self.sealer.open_valid(delivery.org_id, &due.secrets, now()) {
            Ok(secrets) if !secrets.is_empty() => secrets,
            Ok(_) => {
                tracing::error!(webhook_id = %delivery.webhook_id, delivery_id = %delivery.id,
                    "webhook endpoint has no valid signing secret; dead-lettering the delivery");
                return Done::Attempted(dead_letter(delivery, ERROR_NO_SECRET));
            }
            Err(e) => {
                tracing::error!(webhook_id = %delivery.webhook_id, delivery_id = %delivery.id, error = %e,
                    "cannot open webhook secrets; dead-lettering the delivery");
                return Done::Attempted(dead_letter(delivery, ERROR_SECRETS_UNREADABLE));
            }
        };
        let headers = match &due.sealed_headers {
            None => Ok(due.headers.clone()),
            Some(sealed) => self.sealer.open_headers(delivery.org_id, sealed),
        };
        let headers = match headers {
            Ok(headers) => headers,
            Err(e) => {
                tracing::error!(webhook_id = %delivery.webhook_id, delivery_id = %delivery.id, error = %e,
                    "cannot open webhook headers; dead-lettering the delivery");
                return Done::Attempted(dead_letter(delivery, ERROR_SECRETS_UNREADABLE));
            }
        };
        let body = match serde_json::to_vec(&due.event) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(delivery_id = %delivery.id, error = %e, "cannot serialise the event");
                return Done::Released((delivery.org_id, delivery.id), RATE_LIMIT_WAIT);
            }
        };
        let msg_id = message_id(delivery.id);
        let attempted_at = now();
        let started = Instant::now();
        let result = match Url::parse(&due.url) {
            Ok(url) => {
                let ctx = TenantContext::system(delivery.org_id, "webhooks.delivery");
                let message = Message {
                    url: &url,
                    msg_id: &msg_id,
                    body: &body,
                    headers: &headers,
                    secrets: &secrets,
                };
                self.sender.send_for_org(&*self.store, &ctx, message).await
            }
            Err(e) => Err(SendError {
                kind: ErrorKind::Blocked,
                message: format!("invalid URL: {e}"),
            }),
        };
        let latency = started.elapsed();
        if let Err(e) = &result {
            tracing::debug!(delivery_id = %delivery.id, error = %e, "webhook attempt failed");
        }
        Done::Attempted(decide(
            &self.schedule,
            self.failing_disable_after,
            delivery,
            due.failing_since,
            attempted_at,
            latency,
            &result,
        ))
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

    /// Waits, at most `left`, until endpoint `webhook_id` may take one more delivery at
    /// `rate` a second (evenly spaced, no burst); `false` when it may not in that time.
    async fn wait_for_rate(&self, webhook_id: WebhookId, rate: u32, left: Duration) -> bool {
        let per_second = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).with_burst(NonZeroU32::MIN);
        let key = format!("webhook:{webhook_id}");
        let until = Instant::now() + left;
        loop {
            match self.limiter.check(&key, quota).await {
                Decision::Allowed { .. } => return true,
                Decision::Limited { retry_after } => {
                    if Instant::now() + retry_after > until {
                        return false;
                    }
                    tokio::time::sleep(retry_after).await;
                }
            }
        }
    }
}

/// What became of a claimed delivery.
enum Done {
    /// An attempt was made (or the delivery was dead-lettered without one): record it.
    Attempted(AttemptOutcome),
    /// Not sent now: hand it back, claimable again after this long.
    Released((OrgId, WebhookDeliveryId), Duration),
}

/// The outcome that dead-letters `delivery` without sending it: the engine cannot sign it
/// (`error_kind` says why), which retrying would not change.
fn dead_letter(delivery: &WebhookDelivery, error_kind: &str) -> AttemptOutcome {
    AttemptOutcome {
        org_id: delivery.org_id,
        webhook_id: delivery.webhook_id,
        attempt: DeliveryAttempt {
            delivery_id: delivery.id,
            attempted_at: now(),
            status_code: None,
            error_kind: Some(error_kind.to_owned()),
            latency_ms: 0,
            response_body: None,
            next_attempt_at: None,
        },
        status: DeliveryStatus::Failed,
        disable_endpoint: None,
    }
}

/// The outcome of an attempt at `delivery` made at `attempted_at`. A failed attempt at an
/// endpoint that has been failing (every attempt, since `failing_since`) for longer than
/// `failing_disable_after` disables it as `failing`.
pub(crate) fn decide(
    schedule: &RetrySchedule,
    failing_disable_after: Duration,
    delivery: &WebhookDelivery,
    failing_since: Option<DateTime<Utc>>,
    attempted_at: DateTime<Utc>,
    latency: Duration,
    result: &std::result::Result<SendResponse, SendError>,
) -> AttemptOutcome {
    let verdict = classify(result);
    let ended_at = attempted_at + chrono::Duration::from_std(latency).unwrap_or_default();
    let (status, next_attempt_at, mut disable) = match verdict {
        Verdict::Delivered => (DeliveryStatus::Succeeded, None, None),
        Verdict::Gone => (DeliveryStatus::Failed, None, Some("gone")),
        Verdict::Retry { retry_after } => {
            let attempts_made = delivery.attempts.saturating_add(1);
            match schedule.next_after(attempts_made, ended_at, retry_after) {
                Some(next) => (
                    DeliveryStatus::Retrying,
                    Some(to_storage_precision(next)),
                    None,
                ),
                None => (DeliveryStatus::Failed, None, None),
            }
        }
    };
    if disable.is_none() && verdict != Verdict::Delivered {
        let failing_for = (attempted_at - failing_since.unwrap_or(attempted_at))
            .to_std()
            .unwrap_or_default();
        if failing_for >= failing_disable_after {
            disable = Some("failing");
        }
    }
    let (status_code, response_body, error_kind) = match result {
        Ok(r) => (Some(r.status), r.body.clone(), None),
        Err(e) => (None, None, Some(e.kind.as_str().to_owned())),
    };
    AttemptOutcome {
        org_id: delivery.org_id,
        webhook_id: delivery.webhook_id,
        attempt: DeliveryAttempt {
            delivery_id: delivery.id,
            attempted_at,
            status_code,
            error_kind,
            latency_ms: u32::try_from(latency.as_millis()).unwrap_or(u32::MAX),
            response_body,
            next_attempt_at,
        },
        status,
        disable_endpoint: disable.map(str::to_owned),
    }
}

/// Runs a [`Dispatcher`] and a [`DeliveryWorker`] over one store.
#[derive(Debug)]
pub struct Pipeline;

impl Pipeline {
    /// Spawns a dispatcher and a worker over `store` on the current tokio runtime. They run
    /// until [`PipelineHandle::shutdown`] or until the handle is dropped.
    ///
    /// # Errors
    /// As [`DeliveryWorker::new`].
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn<S>(
        store: Arc<S>,
        cipher: Arc<Cipher>,
        config: WebhookConfig,
    ) -> Result<PipelineHandle>
    where
        S: DeliveryQueue + SubnetAllowanceRepo + EventLog + EventBus + ?Sized + 'static,
    {
        // Checked once here; each run below builds the pair anew with the same settings.
        DeliveryWorker::new(store.clone(), cipher.clone(), &config)?;
        let (shutdown, signal) = watch::channel(false);
        // Supervised as one: when either task panics the other is stopped too and both start
        // again (deliveries claimed by the dead run come back when their lease ends). A shutdown
        // during the restart backoff ends it at once.
        let stopped = stopped(signal.clone());
        let task = workos_core::supervise::spawn_supervised_until(
            "webhook-pipeline",
            stopped,
            move || {
                let (store, cipher, config) = (store.clone(), cipher.clone(), config.clone());
                let signal = signal.clone();
                async move {
                    let worker = match DeliveryWorker::new(store.clone(), cipher, &config) {
                        Ok(worker) => worker,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot restart the webhook pipeline");
                            return;
                        }
                    };
                    let dispatcher = Dispatcher::new(store, &config)
                        .notify(worker.waker())
                        .hand_off(worker.handoff());
                    run_both(
                        tokio::spawn(dispatcher.run(signal.clone())),
                        tokio::spawn(worker.run(signal)),
                    )
                    .await;
                }
            },
        );
        Ok(PipelineHandle {
            shutdown,
            tasks: vec![task],
        })
    }
}

/// Waits for both tasks; when one panics, aborts the other and panics with it (for the
/// supervisor to restart the pair).
async fn run_both(mut a: JoinHandle<()>, mut b: JoinHandle<()>) {
    let (first, other) = tokio::select! {
        r = &mut a => (r, b),
        r = &mut b => (r, a),
    };
    let second = match first {
        Err(e) if e.is_panic() => {
            other.abort();
            std::panic::resume_unwind(e.into_panic());
        }
        _ => other.await,
    };
    if let Err(e) = second
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Controls a spawned [`Pipeline`]. Dropping it signals shutdown without waiting.
#[derive(Debug)]
pub struct PipelineHandle {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl PipelineHandle {
    /// Signals shutdown and waits until both tasks stopped: the worker hands back what it has
    /// not started, and what it is sending after [`SHUTDOWN_GRACE`] (so this takes about that
    /// long at most, plus the store's time to record).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "webhook pipeline task failed");
            }
        }
    }

    /// Whether the pipeline is still running.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.tasks.iter().all(|t| !t.is_finished())
    }
}

impl Drop for PipelineHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[cfg(test)]
mod tests {
    use workos_core::ids::{EventId, OrgId};

    use super::*;

    fn delivery(attempts: u32, age: chrono::Duration) -> WebhookDelivery {
        let t = now();
        WebhookDelivery {
            id: WebhookDeliveryId::new(),
            org_id: OrgId::new(),
            webhook_id: WebhookId::new(),
            event_id: EventId::new(),
            event_type: "company.created".into(),
            status: DeliveryStatus::Pending,
            attempts,
            next_attempt_at: Some(t),
            last_status_code: None,
            created_at: t - age,
            updated_at: t,
        }
    }

    fn response(status: u16) -> std::result::Result<SendResponse, SendError> {
        Ok(SendResponse {
            status,
            body: Some("body".into()),
            retry_after: None,
        })
    }

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn outcomes() {
        let schedule = RetrySchedule::parse("0,0,60").unwrap();
        let fresh = chrono::Duration::zero();
        let at = now();
        let ms = Duration::from_millis(12);

        let d = delivery(0, fresh);
        let ok = decide(
            &schedule,
            DAY,
            &d,
            Some(d.created_at),
            at,
            ms,
            &response(200),
        );
        assert_eq!(ok.status, DeliveryStatus::Succeeded);
        assert_eq!(ok.attempt.status_code, Some(200));
        assert_eq!(ok.attempt.response_body.as_deref(), Some("body"));
        assert_eq!(ok.attempt.latency_ms, 12);
        assert_eq!(ok.attempt.next_attempt_at, None);
        assert_eq!(ok.disable_endpoint, None);
        assert_eq!(
            (ok.org_id, ok.webhook_id, ok.attempt.delivery_id),
            (d.org_id, d.webhook_id, d.id)
        );

        let retry = decide(
            &schedule,
            DAY,
            &d,
            Some(d.created_at),
            at,
            ms,
            &response(500),
        );
        assert_eq!(retry.status, DeliveryStatus::Retrying);
        assert!(retry.attempt.next_attempt_at.unwrap() >= at);

        let gone = decide(
            &schedule,
            DAY,
            &d,
            Some(d.created_at),
            at,
            ms,
            &response(410),
        );
        assert_eq!(gone.status, DeliveryStatus::Failed);
        assert_eq!(gone.disable_endpoint.as_deref(), Some("gone"));

        // The third attempt is the last of a three-entry schedule.
        let last = decide(
            &schedule,
            DAY,
            &delivery(2, fresh),
            None,
            at,
            ms,
            &Err(SendError {
                kind: ErrorKind::Connect,
                message: "refused".into(),
            }),
        );
        assert_eq!(last.status, DeliveryStatus::Failed);
        assert_eq!(last.attempt.error_kind.as_deref(), Some("connect"));
        assert_eq!(last.attempt.status_code, None);
        assert_eq!(last.attempt.next_attempt_at, None);
        assert_eq!(last.disable_endpoint, None);

        // Retry-After lengthens the delay.
        let limited = decide(
            &schedule,
            DAY,
            &d,
            Some(d.created_at),
            at,
            ms,
            &Ok(SendResponse {
                status: 429,
                body: None,
                retry_after: Some(Duration::from_secs(120)),
            }),
        );
        assert!(limited.attempt.next_attempt_at.unwrap() >= at + chrono::Duration::seconds(120));
    }

    #[test]
    fn failing_too_long_disables() {
        let schedule = RetrySchedule::default();
        let old = delivery(3, chrono::Duration::days(6));
        let at = now();
        let fail = decide(
            &schedule,
            5 * DAY,
            &old,
            Some(old.created_at),
            at,
            Duration::ZERO,
            &response(500),
        );
        assert_eq!(fail.disable_endpoint.as_deref(), Some("failing"));
        assert_eq!(fail.status, DeliveryStatus::Retrying);
        let ok = decide(
            &schedule,
            5 * DAY,
            &old,
            Some(old.created_at),
            at,
            Duration::ZERO,
            &response(204),
        );
        assert_eq!(ok.disable_endpoint, None);
        let gone = decide(
            &schedule,
            5 * DAY,
            &old,
            Some(old.created_at),
            at,
            Duration::ZERO,
            &response(410),
        );
        assert_eq!(gone.disable_endpoint.as_deref(), Some("gone"));
    }

    #[test]
    fn config_from_lookup() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = WebhookConfig::from_lookup(vars(&[])).unwrap();
        assert_eq!(c.retry_schedule, RetrySchedule::default());
        assert_eq!(c.timeout, Duration::from_secs(15));
        assert_eq!(c.lease(), Duration::from_secs(45));
        assert!(c.allowed_subnets.allowed().is_empty());
        assert_eq!(c.failing_disable_after, 5 * DAY);

        let c = WebhookConfig::from_lookup(vars(&[
            (ENV_RETRY_SCHEDULE, "0,1,2"),
            (ENV_TIMEOUT_SECS, " 3 "),
            (ENV_ALLOWED_SUBNETS, "127.0.0.0/8, ::1"),
        ]))
        .unwrap();
        assert_eq!(c.retry_schedule.to_string(), "0,1,2");
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!(c.allowed_subnets.allowed().len(), 2);

        let empty = WebhookConfig::from_lookup(vars(&[(ENV_TIMEOUT_SECS, "")])).unwrap();
        assert_eq!(empty.timeout, Duration::from_secs(15));

        for (pairs, name) in [
            (&[(ENV_RETRY_SCHEDULE, "0,x")][..], ENV_RETRY_SCHEDULE),
            (&[(ENV_TIMEOUT_SECS, "0")][..], ENV_TIMEOUT_SECS),
            (&[(ENV_TIMEOUT_SECS, "301")][..], ENV_TIMEOUT_SECS),
            (&[(ENV_TIMEOUT_SECS, "1.5")][..], ENV_TIMEOUT_SECS),
            (&[(ENV_ALLOWED_SUBNETS, "nope")][..], ENV_ALLOWED_SUBNETS),
        ] {
            let err = WebhookConfig::from_lookup(vars(pairs)).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }

    #[test]
    fn message_ids_are_stable_hex() {
        let id = WebhookDeliveryId::new();
        let m = message_id(id);
        assert_eq!(m, message_id(id));
        assert_eq!(m.len(), 4 + 32);
        assert!(m.starts_with("msg_"));
        assert!(m[4..].bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
