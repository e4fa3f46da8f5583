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
/// Keys kept per quota at most: past it, after forgetting the full budgets, every budget of
/// the quota starts afresh (a flood of distinct keys, each of which would get a fresh budget
/// anyway, cannot grow memory without bound).
const MAX_KEYS: usize = 100_000;

/// One quota's keyed limiter and when it is next pruned.
#[derive(Debug)]
struct PerQuota {
    limiter: Arc<Keyed>,
    /// Prune when the keys pass this: twice what the last prune kept (at least
    /// [`PRUNE_ABOVE`]), so scans of the keys cost O(1) per new key, amortised, instead of a
    /// scan per check while every key is recent.
    prune_at: usize,
}

/// Limits in this process's memory: right for one process (each process of several keeps
/// its own budgets). Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct MemoryLimiter {
    /// A keyed limiter per distinct quota (a handful: API keys, orgs, forms, endpoint rates).
    by_quota: Mutex<HashMap<Quota, PerQuota>>,
    prune_above: usize,
    max_keys: usize,
    /// How many times the keys were scanned (pruned), for the tests of the bounds.
    scans: std::sync::atomic::AtomicUsize,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::with_bounds(PRUNE_ABOVE, MAX_KEYS)
    }
}

impl MemoryLimiter {
    /// An empty limiter.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty limiter that prunes above `prune_above` keys per quota and keeps at most
    /// `max_keys` (defaults 10,000 and 100,000).
    #[must_use]
    pub fn with_bounds(prune_above: usize, max_keys: usize) -> Self {
        Self {
            by_quota: Mutex::new(HashMap::new()),
            prune_above,
            max_keys: max_keys.max(prune_above),
            scans: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn keyed(quota: Quota) -> Arc<Keyed> {
        let q = governor::Quota::with_period(quota.interval())
            .unwrap_or_else(|| governor::Quota::per_second(quota.burst()))
            .allow_burst(quota.burst());
        Arc::new(governor::RateLimiter::keyed(q).with_middleware())
    }

    /// The keyed limiter of `quota`, pruned first when it has grown past its mark.
    fn limiter(&self, quota: Quota) -> Arc<Keyed> {
        let mut by_quota = self.by_quota.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = by_quota.entry(quota).or_insert_with(|| PerQuota {
            limiter: Self::keyed(quota),
            prune_at: self.prune_above,
        });
        if entry.limiter.len() > entry.prune_at {
            self.scans
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            entry.limiter.retain_recent();
            let kept = entry.limiter.len();
            if kept > self.max_keys {
                entry.limiter = Self::keyed(quota);
                entry.prune_at = self.prune_above;
            } else {
                entry.prune_at = (kept * 2).max(self.prune_above);
            }
        }
        Arc::clone(&entry.limiter)
    }

    /// The decision for `key` under `quota`, now (no await: usable from sync code).
    #[must_use]
    pub fn check_now(&self, key: &str, quota: Quota) -> Decision {
        let limiter = self.limiter(quota);
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
    fn many_distinct_keys_are_scanned_rarely_and_kept_bounded() {
        let limiter = MemoryLimiter::with_bounds(100, 1_000);
        let quota = Quota::per_minute(n(5));
        for i in 0..20_000 {
            assert!(
                limiter
                    .check_now(&format!("form-ip:{i}"), quota)
                    .is_allowed()
            );
            let keys = limiter.limiter(quota).len();
            assert!(keys <= 2_001, "{keys} keys after {i}");
        }
        // Every key is recent (nothing to forget): a scan per check would be 20,000; doubling
        // marks and the reset at the bound keep them to a few per thousand new keys (about 65).
        let scans = limiter.scans.load(std::sync::atomic::Ordering::Relaxed);
        assert!(scans <= 100, "{scans} scans");
        // A key whose budget is used up stays limited while the map stays small.
        let busy = Quota::per_minute(n(1));
        assert!(limiter.check_now("key:busy", busy).is_allowed());
        assert!(!limiter.check_now("key:busy", busy).is_allowed());
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
