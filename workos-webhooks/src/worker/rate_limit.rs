//! Holding an endpoint to its `rate_limit_per_second`, through the configured
//! [`RateLimiter`](workos_limits::RateLimiter).

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use workos_core::events::EventBus;
use workos_core::ids::WebhookId;
use workos_core::repo::{DeliveryQueue, SubnetAllowanceRepo};
use workos_limits::{Decision, Quota};

use super::delivery_worker::DeliveryWorker;

/// The longest an attempt waits for its endpoint's rate limit before the delivery is handed
/// back (so a rate-limited endpoint holds few of the attempt slots).
pub(super) const RATE_LIMIT_WAIT: Duration = Duration::from_millis(250);

impl<S: DeliveryQueue + SubnetAllowanceRepo + EventBus + ?Sized + 'static> DeliveryWorker<S> {
    /// Waits, at most `left`, until endpoint `webhook_id` may take one more delivery at
    /// `rate` a second (evenly spaced, no burst); `false` when it may not in that time.
    pub(super) async fn wait_for_rate(
        &self,
        webhook_id: WebhookId,
        rate: u32,
        left: Duration,
    ) -> bool {
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
