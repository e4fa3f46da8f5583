//! The Gmail integration suite: the real `workos-gmail` against a fake Google
//! (`workos_tests::fake_google`) and a real `SqlStore`, on SQLite (a fresh temporary file per
//! test) and, when `DATABASE_URL` is set, on Postgres (a fresh database per test, dropped
//! afterwards). Without `DATABASE_URL` the Postgres half says it is skipped and passes, unless
//! `WORKOS_REQUIRE_POSTGRES=1`, when it fails.
//!
//! ```text
//! cargo test -p workos-gmail --test it                                                    # SQLite
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p workos-gmail --test it # both
//! ```

/// Generates `name::sqlite` and `name::postgres` for `async fn name(h: Harness)` (the testkit's
/// [`workos_tests::store_test!`], with the harness built on the test store).
macro_rules! gmail_test {
    ($name:ident) => {
        workos_tests::store_test!($name: sqlite, postgres => $crate::common::Harness::new);
    };
}

mod common;

mod attachments;
mod compose;
mod connect;
mod scheduler;
mod send;
mod sync;
