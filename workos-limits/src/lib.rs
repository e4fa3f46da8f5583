//! # workos-limits
//!
//! Rate limits for the WorkOS CRM engine. One trait, [`RateLimiter`], answers whether a key
//! may take one more request under a [`Quota`] (the generic cell rate algorithm, GCRA: a
//! budget of `burst` requests that refills one request every `interval`), and two
//! implementations share it:
//!
//! - [`MemoryLimiter`]: in this process's memory. Right for one process; with N processes each
//!   keeps its own budget and N times the limit gets through.
//! - `RedisLimiter` (feature `redis`): one budget per key for every process of a deployment,
//!   kept in Redis and updated atomically by a script that reads Redis's clock (so the
//!   processes' clocks do not matter). When Redis cannot be reached it **fails open to the
//!   per-process limit**: each process goes on limiting with its own [`MemoryLimiter`], logs a
//!   warning (at most every 10 s) and counts `workos_rate_limit_store_errors_total`, so an
//!   outage of Redis neither stops the API nor lifts every limit.
//!
//! Keys are namespaced by their callers (`key:…`, `org:…`, `form-ip:…`, `webhook:…`).
//!
//! ```
//! use std::num::NonZeroU32;
//! use workos_limits::{Decision, MemoryLimiter, Quota, RateLimiter};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let limiter = MemoryLimiter::new();
//! let quota = Quota::per_minute(NonZeroU32::new(1).unwrap());
//! assert!(matches!(limiter.check("key:a", quota).await, Decision::Allowed { .. }));
//! match limiter.check("key:a", quota).await {
//!     Decision::Limited { retry_after } => assert!(retry_after.as_secs() <= 60),
//!     Decision::Allowed { .. } => unreachable!("one a minute"),
//! }
//! # });
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's examples run as doctests, so what the registry's docs show is compiled code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod failed_auth;
mod memory;
#[cfg(feature = "redis")]
mod redis_gcra;

use std::num::NonZeroU32;
use std::time::Duration;

pub use failed_auth::FailedAuth;
pub use memory::MemoryLimiter;
#[cfg(feature = "redis")]
pub use redis_gcra::{InvalidRedisUrl, RedisLimiter};

/// A budget: up to `burst` requests at once, refilled by one every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    interval: Duration,
    burst: NonZeroU32,
}

impl Quota {
    /// `n` requests a minute, all of them usable at once.
    #[must_use]
    pub fn per_minute(n: NonZeroU32) -> Self {
        Self::per_period(n, Duration::from_secs(60))
    }

    /// `n` requests a second, all of them usable at once.
    #[must_use]
    pub fn per_second(n: NonZeroU32) -> Self {
        Self::per_period(n, Duration::from_secs(1))
    }

    /// `n` requests per `period` (at least 1 µs apart), all of them usable at once.
    #[must_use]
    pub fn per_period(n: NonZeroU32, period: Duration) -> Self {
        Self {
            interval: (period / n.get()).max(Duration::from_micros(1)),
            burst: n,
        }
    }

    /// The same rate with at most `burst` requests at once.
    #[must_use]
    pub const fn with_burst(self, burst: NonZeroU32) -> Self {
        Self {
            interval: self.interval,
            burst,
        }
    }

    /// The time one request's share of the budget takes to refill.
    #[must_use]
    pub const fn interval(&self) -> Duration {
        self.interval
    }

    /// The most requests allowed at once.
    #[must_use]
    pub const fn burst(&self) -> NonZeroU32 {
        self.burst
    }
}

/// What a limiter answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request may go ahead.
    Allowed {
        /// Requests the key may still make at once.
        remaining: u32,
        /// When the key's budget is full again.
        reset: Duration,
    },
    /// The key's budget is used up.
    Limited {
        /// When one more request would be allowed.
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the request may go ahead.
    #[must_use]
    pub const fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }
}

/// Decides whether `key` may make one more request under `quota`, counting it when it may.
///
/// Implementations never fail: a limiter whose shared store cannot be reached decides as its
/// documentation says (`RedisLimiter`: by a per-process fallback).
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + std::fmt::Debug {
    /// Takes one request from `key`'s budget under `quota`, when there is one left.
    async fn check(&self, key: &str, quota: Quota) -> Decision;
}
