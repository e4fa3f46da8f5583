//! Mapping database errors to the engine's errors.

use workos_core::Error;

/// Maps a database error to the engine's error. Constraint names and messages are read to name
/// the field of a unique conflict; anything unexpected is `Unavailable` (connection trouble) or
/// `Internal`, with the database error kept as the source and never shown to API clients.
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            let what = format!("{} {}", d.constraint().unwrap_or_default(), d.message());
            let field = UNIQUE_FIELDS
                .iter()
                .find(|(needle, _)| what.contains(needle))
                .map_or("id", |(_, field)| field);
            Error::conflict(field, "is already taken")
        }
        // Text Postgres cannot store (NUL, bad encoding) that slipped past validation.
        sqlx::Error::Database(d)
            if d.code().as_deref() == Some("22021") || d.code().as_deref() == Some("22P05") =>
        {
            Error::invalid(
                "body",
                "contains characters that cannot be stored (e.g. NUL)",
            )
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            Error::invalid("id", "refers to a record that does not exist in this org")
        }
        // Connection trouble, including a connection the server (or something between)
        // closed as it opened, which sqlx reports as a protocol or TLS error.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Error::unavailable("database unavailable", e),
        // The database gave up on the statement or the session, or is going away: a
        // `statement_timeout` or `lock_timeout` (57014, 55P03), an idle transaction ended
        // (25P03), a shutdown or restart (57P01-57P03), a lost connection (class 08), no
        // connection slot left (53300). Nothing the client did: retry later. A statement
        // whose preparation a lock timeout stopped surfaces as the transaction aborted
        // (25P02) on the statement after it, so that reads the same.
        sqlx::Error::Database(d) if d.code().as_deref().is_some_and(unavailable_code) => {
            Error::unavailable("database unavailable", e)
        }
        // Postgres chose this transaction to end a deadlock (40P01) or could not serialise it
        // (40001). It was rolled back whole, so the same request sent again is safe and will
        // most likely succeed: an answer to retry, not a server fault.
        sqlx::Error::Database(d) if d.code().as_deref().is_some_and(retry_code) => {
            Error::unavailable("transaction rolled back by a concurrent one; retry", e)
        }
        _ => Error::internal("database error", e),
    }
}

/// The SQLSTATEs that mean the database is (for now) not doing the work, whatever it was.
fn unavailable_code(code: &str) -> bool {
    matches!(
        code,
        "57014" | "55P03" | "25P02" | "25P03" | "57P01" | "57P02" | "57P03" | "53300"
    ) || code.starts_with("08")
}

/// The SQLSTATEs of a transaction that lost to a concurrent one (deadlock, serialisation).
fn retry_code(code: &str) -> bool {
    matches!(code, "40P01" | "40001")
}

/// Which field a unique violation is about, by constraint name (Postgres) or message (SQLite).
const UNIQUE_FIELDS: &[(&str, &str)] = &[
    ("person_contacts", "email"),
    ("org_members", "user_id"),
    ("api_key", "prefix"),
    ("phone", "number"),
    ("lead_form", "public_id"),
];

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sqlx::error::{DatabaseError, ErrorKind};
    use workos_core::Error;

    use super::db_error;

    /// A database error with only a SQLSTATE, as a driver reports one.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl DatabaseError for Coded {
        fn message(&self) -> &str {
            "failed"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    fn mapped(code: &'static str) -> Error {
        db_error(sqlx::Error::Database(Box::new(Coded(code))))
    }

    #[test]
    fn a_transaction_that_lost_to_a_concurrent_one_is_to_be_retried() {
        for code in ["40P01", "40001"] {
            match mapped(code) {
                Error::Unavailable { message, .. } => {
                    assert!(message.contains("retry"), "{message}")
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn timeouts_are_unavailable_and_the_unknown_is_internal() {
        assert!(matches!(mapped("57014"), Error::Unavailable { .. }));
        assert!(matches!(mapped("08006"), Error::Unavailable { .. }));
        assert!(matches!(mapped("XX000"), Error::Internal { .. }));
    }
}
