//! [`PoolSettings`]: the size of the Postgres pool and the limits every connection runs under.

use std::time::Duration;

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

impl PoolSettings {
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

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::*;

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
