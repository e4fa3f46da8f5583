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
//!
//! [`DeliveryQueue`]: workos_core::repo::DeliveryQueue
//! [`DeliveryQueue::record_attempts`]: workos_core::repo::DeliveryQueue::record_attempts
//! [`DeliveryQueue::release_deliveries`]: workos_core::repo::DeliveryQueue::release_deliveries
//! [`DeliveryQueue::subscribe_due`]: workos_core::repo::DeliveryQueue::subscribe_due
//! [`EventBus`]: workos_core::events::EventBus
//! [`RetrySchedule`]: crate::schedule::RetrySchedule

mod attempt;
mod config;
mod delivery_worker;
mod handoff;
mod outcome;
mod pipeline;
mod rate_limit;

pub use crate::dispatcher::{DispatchStats, Dispatcher};
pub use attempt::message_id;
pub use config::{
    ConfigError, DEFAULT_FAILING_DISABLE_AFTER, ENV_ALLOWED_SUBNETS, ENV_RETRY_SCHEDULE,
    ENV_TIMEOUT_SECS, LEASE_MARGIN, MAX_TIMEOUT, WebhookConfig,
};
pub use delivery_worker::{DeliveryWorker, SHUTDOWN_GRACE, START_MARGIN};
pub use handoff::Handoff;
pub(crate) use handoff::Queued;
pub use outcome::{ERROR_NO_SECRET, ERROR_SECRETS_UNREADABLE};
pub use pipeline::{Pipeline, PipelineHandle, stopped};
