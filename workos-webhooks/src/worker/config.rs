//! The pipeline's settings: [`WebhookConfig`], its defaults and the environment variables
//! that change them.

use std::sync::Arc;
use std::time::Duration;

use workos_limits::{MemoryLimiter, RateLimiter};

use crate::schedule::{RetrySchedule, ScheduleError};
use crate::sender::DEFAULT_TIMEOUT;
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

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

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
}
