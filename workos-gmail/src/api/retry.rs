//! Retries of idempotent reads: the [`RetryPolicy`] and the retrying `GET` every read goes
//! through. Sends are never retried.

use std::sync::atomic::Ordering;
use std::time::Duration;

use workos_core::Result;

use super::GmailApi;
use super::request::{Attempt, attempt};
use super::usage::Method;

/// How reads are retried after a `5xx` or a network failure. Sends are never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// The first wait; each next one doubles (default 250 ms).
    pub base_delay: Duration,
    /// The longest wait (default 5 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    #[must_use]
    pub const fn none() -> Self {
        Self {
            max_retries: 0,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    pub(super) fn delay(&self, retry: u32) -> Duration {
        self.base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay)
    }
}

impl GmailApi {
    pub(super) async fn get(
        &self,
        method: Method,
        token: &str,
        url: &str,
        params: &[(&str, String)],
    ) -> Result<reqwest::Response> {
        self.get_within(method, token, url, params, None).await
    }

    /// [`GmailApi::get`] with its own `timeout` (of the whole exchange, the answer's body
    /// included) instead of the client's.
    pub(super) async fn get_within(
        &self,
        method: Method,
        token: &str,
        url: &str,
        params: &[(&str, String)],
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response> {
        let mut retry = 0;
        loop {
            self.count(method);
            let mut request = self.http.get(url).bearer_auth(token).query(params);
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            match attempt(request).await {
                Attempt::Ok(response) => return Ok(response),
                Attempt::Failed { error, transient } => {
                    if !transient || retry >= self.retry.max_retries {
                        return Err(error);
                    }
                    tracing::debug!(?method, retry, error = %error, "retrying a Gmail read");
                    tokio::time::sleep(self.retry.delay(retry)).await;
                    retry += 1;
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0), Duration::from_millis(250));
        assert_eq!(p.delay(1), Duration::from_millis(500));
        assert_eq!(p.delay(10), Duration::from_secs(5));
    }
}
