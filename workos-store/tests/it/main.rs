//! The store's contract suite: one integration-test binary that runs every contract test against
//! SQLite (a fresh temporary file per test), when `DATABASE_URL` is set against Postgres (a
//! fresh database per test, dropped afterwards), and when `WORKOS_CITUS_URL` is set against a
//! Citus cluster (a fresh database on every node per test, its tables distributed by org).
//!
//! A contract test is an `async fn name(store: &SqlStore)` followed by `contract_test!(name);`,
//! which generates `name::sqlite`, `name::postgres` and `name::citus`. Without `DATABASE_URL`
//! the Postgres half prints "Postgres tests SKIPPED: DATABASE_URL is not set" and passes,
//! unless `WORKOS_REQUIRE_POSTGRES=1` is set, in which case it fails: CI never skips silently
//! (the same for Citus with `WORKOS_REQUIRE_CITUS=1`).
//!
//! ```text
//! cargo test -p workos-store --test it                                                    # SQLite
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p workos-store --test it # + Postgres
//! WORKOS_CITUS_URL=postgres://postgres@127.0.0.1:5440/citus cargo test -p workos-store --test it # + Citus
//! ```

/// Generates the per-backend test functions of the contract test `$name`: the testkit's
/// [`workos_tests::store_test!`] under the name this suite has always used.
macro_rules! contract_test {
    ($name:ident) => {
        workos_tests::store_test!($name);
    };
}

mod common;

mod allowed_subnets;
mod api_keys;
mod calls;
mod cap_rollover;
mod citus_routing;
mod comms;
mod companies;
mod concurrency;
mod deals;
mod emails;
mod event_log;
mod gmail_system;
mod integration_watches;
mod interactions;
mod invalidations;
mod isolation;
mod lead_sender;
mod leads;
mod migrations;
mod model;
mod orgs;
mod partitions;
mod people;
mod phones;
mod retention;
mod rls;
mod roles;
mod routing;
mod schema_parity;
mod search;
mod sorting;
mod sqlite_file;
mod tasks;
mod timeline;
mod tls;
