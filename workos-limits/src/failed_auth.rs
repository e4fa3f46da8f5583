//! Failed authentication, limited per client: every failure takes one from the client's budget
//! in the shared limiter (`auth-fail:<client>`; the reference server keys clients by address,
//! IPv6 by /64, `WORKOS_AUTH_FAILURES_PER_MINUTE`); once it is used up the client is refused
//! (429 with `Retry-After` over HTTP), and until then this process refuses it **before**
//! looking its credentials up ([`FailedAuth::refused_for`]), so a flood of made-up keys costs
//! neither a database transaction nor a hash.
//!
//! The refusal is remembered here (a bounded map: the limiter stays the authority, this only
//! spares asking it and the lookup while the answer is known); another process learns it from
//! the limiter at the client's next failure there.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{Decision, Quota, RateLimiter};

/// Clients remembered as refused beyond this clear the map (the limiter still refuses them).
const MAX_REFUSED: usize = 10_000;

/// The failed-authentication limit of a process.
#[derive(Debug)]
pub struct FailedAuth {
    quota: Quota,
    refused: Mutex<HashMap<String, Instant>>,
}

impl FailedAuth {
    /// A limit of `per_minute` failures a minute per client.
    #[must_use]
    pub fn new(per_minute: std::num::NonZeroU32) -> Self {
        Self {
            quota: Quota::per_minute(per_minute),
            refused: Mutex::new(HashMap::new()),
        }
    }

    fn refused(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long `client` is still refused, when it is (no lookup, no limiter call).
    #[must_use]
    pub fn refused_for(&self, client: &str) -> Option<Duration> {
        let mut refused = self.refused();
        let until = *refused.get(client)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            refused.remove(client);
            None
        } else {
            Some(left)
        }
    }

    /// Counts a failed authentication of `client`; `Some(retry_after)` when its budget is used
    /// up (answer 429 instead of 401).
    pub async fn failed(&self, limiter: &dyn RateLimiter, client: &str) -> Option<Duration> {
        match limiter
            .check(&format!("auth-fail:{client}"), self.quota)
            .await
        {
            Decision::Allowed { .. } => None,
            Decision::Limited { retry_after } => {
                let mut refused = self.refused();
                if refused.len() >= MAX_REFUSED {
                    refused.clear();
                }
                refused.insert(client.to_owned(), Instant::now() + retry_after);
                Some(retry_after)
            }
        }
    }

    /// The limit, for the `RateLimit-*` headers of a refusal.
    #[must_use]
    pub fn per_minute(&self) -> u32 {
        self.quota.burst().get()
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use crate::MemoryLimiter;

    use super::*;

    #[tokio::test]
    async fn a_client_is_refused_after_its_failures_and_others_are_not() {
        let limiter = MemoryLimiter::new();
        let limit = FailedAuth::new(NonZeroU32::new(2).unwrap());
        assert!(limit.failed(&limiter, "198.51.100.7").await.is_none());
        assert!(limit.failed(&limiter, "198.51.100.7").await.is_none());
        assert!(limit.refused_for("198.51.100.7").is_none());
        let retry = limit
            .failed(&limiter, "198.51.100.7")
            .await
            .expect("refused");
        assert!(retry <= Duration::from_secs(30), "{retry:?}");
        assert!(limit.refused_for("198.51.100.7").is_some());
        assert!(limit.refused_for("198.51.100.8").is_none());
        assert!(limit.failed(&limiter, "198.51.100.8").await.is_none());
    }
}
