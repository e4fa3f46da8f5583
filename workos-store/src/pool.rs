//! [`PoolSettings`]: the size of the Postgres pool and the limits every connection runs under,
//! set in code or read from `WORKOS_DB_*` ([`PoolSettings::from_lookup`]).

use std::time::Duration;

use workos_core::{Error, Result};

/// `WORKOS_DB_POOL_SIZE`: [`PoolSettings::max_connections`] (default 16).
pub const ENV_POOL_SIZE: &str = "WORKOS_DB_POOL_SIZE";
/// `WORKOS_DB_STATEMENT_TIMEOUT_MS`: [`PoolSettings::statement_timeout`] (default
/// [`DEFAULT_STATEMENT_TIMEOUT_MS`]).
pub const ENV_STATEMENT_TIMEOUT_MS: &str = "WORKOS_DB_STATEMENT_TIMEOUT_MS";
/// `WORKOS_DB_LOCK_TIMEOUT_MS`: [`PoolSettings::lock_timeout`] (default
/// [`DEFAULT_LOCK_TIMEOUT_MS`]).
pub const ENV_LOCK_TIMEOUT_MS: &str = "WORKOS_DB_LOCK_TIMEOUT_MS";
/// `WORKOS_DB_IDLE_IN_TX_TIMEOUT_MS`: [`PoolSettings::idle_in_transaction_timeout`] (default
/// [`DEFAULT_IDLE_IN_TX_TIMEOUT_MS`]).
pub const ENV_IDLE_IN_TX_TIMEOUT_MS: &str = "WORKOS_DB_IDLE_IN_TX_TIMEOUT_MS";

/// [`ENV_STATEMENT_TIMEOUT_MS`] by default: no request's statement should run longer.
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 30_000;
/// [`ENV_LOCK_TIMEOUT_MS`] by default.
pub const DEFAULT_LOCK_TIMEOUT_MS: u64 = 10_000;
/// [`ENV_IDLE_IN_TX_TIMEOUT_MS`] by default.
pub const DEFAULT_IDLE_IN_TX_TIMEOUT_MS: u64 = 60_000;

/// How the store's Postgres pool is sized and what each of its connections is limited to.
/// SQLite ignores these (one writer, a few readers, in one process).
///
/// The timeouts are set on every connection as it opens (`SET statement_timeout`, …), so they
/// hold for every statement the store runs; `None` leaves the server's own setting (Postgres's
/// default: no limit). A statement stopped by one fails as [`workos_core::Error::Unavailable`].
/// Run migrations through a store without them (a long migration is not a stuck request).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolSettings {
    /// The most connections the pool opens (default 16).
    pub max_connections: u32,
    /// How long a caller waits for a free connection before it fails as unavailable (default
    /// 5 s): what a request waits at most while the database is unreachable or the pool busy.
    pub acquire_timeout: Duration,
    /// `statement_timeout`: the longest one statement may run.
    pub statement_timeout: Option<Duration>,
    /// `lock_timeout`: the longest a statement waits for a lock (a row, a table, an advisory
    /// lock).
    pub lock_timeout: Option<Duration>,
    /// `idle_in_transaction_session_timeout`: the longest a transaction may sit idle between
    /// statements before the server ends its session (a process stalled mid-transaction
    /// releases its locks).
    pub idle_in_transaction_timeout: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: None,
            lock_timeout: None,
            idle_in_transaction_timeout: None,
        }
    }
}

/// Reads a whole number of milliseconds named `name` through `get` (`default` when unset or
/// blank); 0 is `None` (no timeout).
fn millis(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> Result<Option<Duration>> {
    let ms = match get(name).filter(|v| !v.trim().is_empty()) {
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| Error::invalid(name, "not a whole number of milliseconds"))?,
        None => default,
    };
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

impl PoolSettings {
    /// Reads [`ENV_POOL_SIZE`] (default 16), [`ENV_STATEMENT_TIMEOUT_MS`] (default 30000),
    /// [`ENV_LOCK_TIMEOUT_MS`] (default 10000) and [`ENV_IDLE_IN_TX_TIMEOUT_MS`] (default
    /// 60000) through `get`, e.g. `|name| std::env::var(name).ok()`; a timeout of 0 is none.
    /// Unlike [`PoolSettings::default`], the timeouts are on unless turned off.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the variable that is malformed (the size must be at least
    /// 1).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut pool = Self::default();
        if let Some(v) = get(ENV_POOL_SIZE).filter(|v| !v.trim().is_empty()) {
            pool.max_connections = v
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::invalid(ENV_POOL_SIZE, "not a positive integer"))?;
        }
        pool.statement_timeout =
            millis(&get, ENV_STATEMENT_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS)?;
        pool.lock_timeout = millis(&get, ENV_LOCK_TIMEOUT_MS, DEFAULT_LOCK_TIMEOUT_MS)?;
        pool.idle_in_transaction_timeout = millis(
            &get,
            ENV_IDLE_IN_TX_TIMEOUT_MS,
            DEFAULT_IDLE_IN_TX_TIMEOUT_MS,
        )?;
        Ok(pool)
    }

    /// The statement that applies the timeouts to a new connection, if any are set.
    #[cfg(feature = "postgres")]
    pub(crate) fn session_statement(&self) -> Option<String> {
        use std::fmt::Write as _;
        let mut sql = String::new();
        for (name, value) in [
            ("statement_timeout", self.statement_timeout),
            ("lock_timeout", self.lock_timeout),
            (
                "idle_in_transaction_session_timeout",
                self.idle_in_transaction_timeout,
            ),
        ] {
            if let Some(v) = value {
                // Milliseconds, formatted from a number: nothing here comes from input text.
                let _ = write!(sql, "SET {name} = {}; ", v.as_millis().max(1));
            }
        }
        (!sql.is_empty()).then_some(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_set_the_pool_with_timeouts_on_by_default() {
        let defaults = PoolSettings::from_lookup(|_| None).unwrap();
        assert_eq!(defaults.max_connections, 16);
        assert_eq!(defaults.statement_timeout, Some(Duration::from_secs(30)));
        assert_eq!(defaults.lock_timeout, Some(Duration::from_secs(10)));
        assert_eq!(
            defaults.idle_in_transaction_timeout,
            Some(Duration::from_secs(60))
        );
        let set = PoolSettings::from_lookup(|name| match name {
            ENV_POOL_SIZE => Some(" 3 ".into()),
            ENV_STATEMENT_TIMEOUT_MS => Some("1234".into()),
            ENV_LOCK_TIMEOUT_MS => Some(String::new()),
            ENV_IDLE_IN_TX_TIMEOUT_MS => Some("0".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(set.max_connections, 3);
        assert_eq!(set.statement_timeout, Some(Duration::from_millis(1234)));
        assert_eq!(
            set.lock_timeout,
            Some(Duration::from_secs(10)),
            "blank is unset"
        );
        assert_eq!(set.idle_in_transaction_timeout, None, "0 is no timeout");
    }

    #[test]
    fn malformed_values_are_refused_by_name() {
        for (name, value) in [
            (ENV_POOL_SIZE, "0"),
            (ENV_POOL_SIZE, "many"),
            (ENV_STATEMENT_TIMEOUT_MS, "soon"),
            (ENV_IDLE_IN_TX_TIMEOUT_MS, "-1"),
        ] {
            let err =
                PoolSettings::from_lookup(|n| (n == name).then(|| value.to_owned())).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn only_the_timeouts_set_are_applied() {
        assert_eq!(PoolSettings::default().session_statement(), None);
        let settings = PoolSettings {
            statement_timeout: Some(Duration::from_secs(30)),
            idle_in_transaction_timeout: Some(Duration::from_millis(1500)),
            ..PoolSettings::default()
        };
        assert_eq!(
            settings.session_statement().as_deref(),
            Some("SET statement_timeout = 30000; SET idle_in_transaction_session_timeout = 1500; ")
        );
    }
}
