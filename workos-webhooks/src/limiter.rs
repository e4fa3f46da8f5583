//! The per-endpoint rate limiters of a worker process: a GCRA limiter per endpoint, in memory,
//! so an endpoint's `rate_limit_per_second` holds per worker process.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use workos_core::ids::WebhookId;

/// Endpoint limiters unused this long are forgotten.
const LIMITER_IDLE: Duration = Duration::from_secs(600);
/// The longest an attempt waits for its endpoint's rate limit before the delivery is handed
/// back (so a rate-limited endpoint holds few of the attempt slots).
pub(crate) const RATE_LIMIT_WAIT: Duration = Duration::from_millis(250);

/// The per-endpoint rate limiter and the rate it was built for.
struct EndpointLimiter {
    rate: u32,
    limiter: Arc<DefaultDirectRateLimiter>,
    last_used: Instant,
}

/// The limiters of the endpoints a worker sends to.
#[derive(Default)]
pub(crate) struct Limiters(Mutex<HashMap<WebhookId, EndpointLimiter>>);

impl Limiters {
    /// The limiter of an endpoint, (re)built when its rate changed: `rate` evenly spaced
    /// deliveries a second, no burst.
    pub(crate) fn get(&self, webhook_id: WebhookId, rate: u32) -> Arc<DefaultDirectRateLimiter> {
        let mut limiters = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = limiters
            .entry(webhook_id)
            .or_insert_with(|| new_limiter(rate));
        if entry.rate != rate {
            *entry = new_limiter(rate);
        }
        entry.last_used = Instant::now();
        entry.limiter.clone()
    }

    pub(crate) fn prune(&self) {
        let mut limiters = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        limiters.retain(|_, l| l.last_used.elapsed() < LIMITER_IDLE);
    }
}

fn new_limiter(rate: u32) -> EndpointLimiter {
    let per_second = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
    EndpointLimiter {
        rate,
        limiter: Arc::new(RateLimiter::direct(
            Quota::per_second(per_second).allow_burst(NonZeroU32::MIN),
        )),
        last_used: Instant::now(),
    }
}
