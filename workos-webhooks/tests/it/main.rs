//! Integration tests of `workos-webhooks`, in one binary.
//!
//! The store-backed tests (`pipeline`, `service`) run against a real `SqlStore`: SQLite (a fresh
//! temporary file per test) and, when `DATABASE_URL` is set, Postgres (a fresh database per
//! test, dropped afterwards). Without `DATABASE_URL` the Postgres half says it is skipped and
//! passes, unless `WORKOS_REQUIRE_POSTGRES=1`, in which case it fails.
//!
//! ```text
//! cargo test -p workos-webhooks                                                    # SQLite
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p workos-webhooks # both
//! ```

/// Generates `name::sqlite` and `name::postgres` for `async fn name(store: &SqlStore)` (the
/// testkit's [`workos_tests::store_test!`]).
macro_rules! store_test {
    ($name:ident) => {
        workos_tests::store_test!($name: sqlite, postgres);
    };
}

mod common;

mod pipeline;
mod queue;
mod service;
mod signing;
mod ssrf;
