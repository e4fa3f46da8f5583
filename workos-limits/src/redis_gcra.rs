//! [`RedisLimiter`]: the GCRA kept in Redis, so every process of a deployment shares one budget
//! per key.
//!
//! Each key's state is one Redis string, its *theoretical arrival time* (when its budget would
//! be empty again, in microseconds of Redis's clock), expiring when the budget is full. One Lua
//! script reads it, decides and writes it back: Redis runs a script alone, so two processes
//! never both take the last request, and the clock is Redis's (`TIME`), so the processes'
//! clocks may differ.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::{Decision, MemoryLimiter, Quota, RateLimiter};

/// GCRA in one step. KEYS[1]: the key's theoretical arrival time (µs); ARGV[1]: the interval
/// (µs); ARGV[2]: the burst. Answers `{1, remaining, µs until full}` or `{0, µs to wait}`.
const GCRA: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local next_tat = tat + interval
local ahead = next_tat - now
if ahead > capacity then
  return {0, ahead - capacity}
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil(ahead / 1000))
return {1, math.floor((capacity - ahead) / interval), ahead}
";

/// The longest a request waits for Redis before the fallback decides.
const TIMEOUT: Duration = Duration::from_millis(250);
/// At most one warning about an unreachable Redis this often.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// What every key is stored under.
const PREFIX: &str = "workos:rl:";

/// `WORKOS_REDIS_URL` (or the URL given) is not a Redis URL. The message never repeats the
/// URL, which may hold a password.
#[derive(Debug)]
pub struct InvalidRedisUrl(String);

impl std::fmt::Display for InvalidRedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not a usable Redis URL (redis://[:password@]host:port[/db]): {}",
            self.0
        )
    }
}

impl std::error::Error for InvalidRedisUrl {}

/// Limits shared by every process through one Redis (see the [crate docs](crate)). Cheap to
/// share behind an `Arc`; connects on first use and reconnects by itself.
pub struct RedisLimiter {
    connection: ConnectionManager,
    script: redis::Script,
    /// Decides while Redis cannot be reached.
    fallback: MemoryLimiter,
    last_warning: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection's URL may hold a password.
        f.debug_struct("RedisLimiter").finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// A limiter on the Redis at `url` (`redis://host:port`, `redis://:password@host/db`,
    /// `redis+unix:///path`). Does not connect yet: the first check does, and a Redis that
    /// cannot be reached then is handled as any outage (the per-process fallback decides).
    ///
    /// # Errors
    /// [`InvalidRedisUrl`] when `url` is not a Redis URL this build can use (TLS, `rediss://`,
    /// is not compiled in).
    pub fn new(url: &str) -> Result<Self, InvalidRedisUrl> {
        let client =
            redis::Client::open(url).map_err(|e| InvalidRedisUrl(e.category().to_owned()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = client
            .get_connection_manager_lazy(config)
            .map_err(|e| InvalidRedisUrl(e.category().to_owned()))?;
        Ok(Self {
            connection,
            script: redis::Script::new(GCRA),
            fallback: MemoryLimiter::new(),
            last_warning: Mutex::new(None),
        })
    }

    /// Checks that `url` is a Redis URL [`RedisLimiter::new`] can use, without connecting (and
    /// without a runtime: for reading configuration).
    ///
    /// # Errors
    /// As [`RedisLimiter::new`].
    pub fn check_url(url: &str) -> Result<(), InvalidRedisUrl> {
        use redis::IntoConnectionInfo as _;
        url.into_connection_info()
            .map(drop)
            .map_err(|e| InvalidRedisUrl(e.category().to_owned()))
    }

    async fn shared(&self, key: &str, quota: Quota) -> redis::RedisResult<Decision> {
        let interval = u64::try_from(quota.interval().as_micros()).unwrap_or(u64::MAX);
        let mut connection = self.connection.clone();
        let answer: Vec<i64> = self
            .script
            .key(format!("{PREFIX}{key}"))
            .arg(interval)
            .arg(quota.burst().get())
            .invoke_async(&mut connection)
            .await?;
        let micros = |i: usize| {
            Duration::from_micros(
                answer
                    .get(i)
                    .copied()
                    .unwrap_or_default()
                    .max(0)
                    .unsigned_abs(),
            )
        };
        Ok(match answer.first() {
            Some(1) => Decision::Allowed {
                remaining: u32::try_from(answer.get(1).copied().unwrap_or_default().max(0))
                    .unwrap_or(u32::MAX),
                reset: micros(2),
            },
            _ => Decision::Limited {
                retry_after: micros(1).max(Duration::from_millis(1)),
            },
        })
    }

    /// The per-process decision while Redis cannot answer, with a warning (at most every
    /// [`WARN_EVERY`]) and a count.
    fn fall_back(&self, key: &str, quota: Quota, error: &dyn std::fmt::Display) -> Decision {
        metrics::counter!("workos_rate_limit_store_errors_total").increment(1);
        let warn = {
            let mut last = self
                .last_warning
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let due = last.is_none_or(|at| at.elapsed() >= WARN_EVERY);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if warn {
            tracing::warn!(
                %error,
                "Redis rate limits unreachable: limiting per process until it answers again"
            );
        }
        self.fallback.check_now(key, quota)
    }
}

#[async_trait::async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str, quota: Quota) -> Decision {
        match tokio::time::timeout(TIMEOUT * 2, self.shared(key, quota)).await {
            Ok(Ok(decision)) => decision,
            Ok(Err(e)) => self.fall_back(key, quota, &e),
            Err(_) => self.fall_back(key, quota, &"no answer in time"),
        }
    }
}
