//! [`MemoryLimiter`]: the GCRA in this process's memory (governor), one keyed limiter per quota.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

use crate::{Decision, Quota, RateLimiter};

type Keyed = governor::RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// Keys kept per quota beyond which those whose budget is full again are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// Limits in this process's memory: right for one process (each process of several keeps
/// its own budgets). Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    /// A keyed limiter per distinct quota (a handful: API keys, orgs, forms, endpoint rates).
    by_quota: Mutex<HashMap<Quota, Arc<Keyed>>>,
}

impl MemoryLimiter {
    /// An empty limiter.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The decision for `key` under `quota`, now (no await: usable from sync code).
    #[must_use]
    pub fn check_now(&self, key: &str, quota: Quota) -> Decision {
        let limiter = {
            let mut by_quota = self.by_quota.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(by_quota.entry(quota).or_insert_with(|| {
                let q = governor::Quota::with_period(quota.interval())
                    .unwrap_or_else(|| governor::Quota::per_second(quota.burst()))
                    .allow_burst(quota.burst());
                Arc::new(governor::RateLimiter::keyed(q).with_middleware())
            }))
        };
        if limiter.len() > PRUNE_ABOVE {
            limiter.retain_recent();
        }
        match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = quota.burst().get().saturating_sub(remaining);
                Decision::Allowed {
                    remaining,
                    reset: quota.interval() * used,
                }
            }
            Err(not_until) => Decision::Limited {
                retry_after: not_until
                    .wait_time_from(DefaultClock::default().now())
                    .max(Duration::from_millis(1)),
            },
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for MemoryLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Decision {
        self.check_now(key, quota)
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).expect("non-zero")
    }

    #[test]
    fn a_key_gets_its_burst_then_waits_one_interval() {
        let limiter = MemoryLimiter::new();
        let quota = Quota::per_minute(n(3));
        for left in [2, 1, 0] {
            match limiter.check_now("key:a", quota) {
                Decision::Allowed { remaining, reset } => {
                    assert_eq!(remaining, left);
                    assert_eq!(reset, Duration::from_secs(20) * (3 - left));
                }
                Decision::Limited { .. } => panic!("within the burst"),
            }
        }
        match limiter.check_now("key:a", quota) {
            Decision::Limited { retry_after } => {
                assert!(retry_after <= Duration::from_secs(20), "{retry_after:?}");
                assert!(retry_after > Duration::from_secs(19), "{retry_after:?}");
            }
            Decision::Allowed { .. } => panic!("the burst is used up"),
        }
        // Another key, and the same key under another quota, have budgets of their own.
        assert!(limiter.check_now("key:b", quota).is_allowed());
        assert!(
            limiter
                .check_now("key:a", Quota::per_minute(n(10)))
                .is_allowed()
        );
    }

    #[test]
    fn a_burst_of_one_spaces_requests() {
        let limiter = MemoryLimiter::new();
        let quota = Quota::per_second(n(2)).with_burst(n(1));
        assert_eq!(quota.interval(), Duration::from_millis(500));
        assert!(limiter.check_now("webhook:x", quota).is_allowed());
        assert!(!limiter.check_now("webhook:x", quota).is_allowed());
    }
}
