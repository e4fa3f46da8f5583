//! # workos-tests
//!
//! The testkit of the WorkOS CRM engine, for testing the code you build on the engine with
//! the parts the engine's own suites use:
//!
//! - [`db`] — **scratch databases**: a database of the test's own on SQLite, Postgres
//!   (`DATABASE_URL`) or a Citus cluster (`WORKOS_CITUS_URL`), removed when dropped;
//!   `WORKOS_REQUIRE_POSTGRES=1` / `WORKOS_REQUIRE_CITUS=1` turn a skip into a failure.
//! - `store` (feature `store`) — **a migrated store per test** on each backend
//!   (`store::TestStore`) and `store_test!`, which runs one async test on SQLite, Postgres and
//!   Citus: the harness of the engine's own suites.
//! - [`fake_twilio`] and [`fake_google`] — **fakes of the providers** on `127.0.0.1`,
//!   speaking their wire formats, recording what they receive, with switches for failures,
//!   rate limits and slow answers.
//! - [`webhooks`] — **the engine's outbound webhooks**: a receiver that verifies Standard
//!   Webhooks signatures, and deliveries signed as the engine signs them.
//! - `bench` (feature `bench`) — **the benches' load harness**: settings from the
//!   environment, a scratch Postgres database per run, open- and closed-loop HTTP load with
//!   latency histograms, waiting for a quiet machine.
//! - For unit tests without any of these, `workos-core`'s `testing` feature has a `mockall`
//!   mock of every repository, channel and event trait (`workos_core::repo::MockTaskRepo`,
//!   `workos_core::channel::MockSmsChannel`, …): turn it on in your dev-dependencies.
//!
//! What an embedder does first (the guide, `docs/testing.md`, starts from an empty crate, and
//! `examples/testkit-app` is an app tested with nothing else):
//!
//! 1. **Add the dev-dependencies**: `workos-tests`, `workos-core` with `features =
//!    ["testing"]`, `workos-store` for a store, and `tokio` with `macros` and `rt`.
//! 2. **Open a scratch database** per test ([`db::TestDatabase::sqlite`],
//!    [`db::TestDatabase::postgres`]) and connect a store to its
//!    [`url`](db::TestDatabase::url).
//! 3. **Point provider clients at the fakes** ([`fake_twilio::FakeTwilio::client_builder`],
//!    [`fake_google::FakeGoogle::env_vars`]) and the engine's webhooks at a
//!    [`webhooks::WebhookReceiver`].
//!
//! ```
//! use workos_core::domain::NewOrg;
//! use workos_core::repo::Directory;
//! use workos_tests::db::TestDatabase;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let db = TestDatabase::sqlite("myapp"); // or `TestDatabase::postgres("myapp").await`
//! let store = workos_store::SqlStore::connect(db.url()).await.unwrap();
//! store.migrate().await.unwrap();
//! let org = store.create_org(NewOrg { name: "Acme".into() }, None).await.unwrap();
//! assert_eq!(org.name, "Acme");
//! store.close().await; // before `db` drops and removes the database
//! # });
//! ```
//!
//! The crate has one feature flag, `store` (off by default). Everything it starts listens on `127.0.0.1` only and stops
//! when its value is dropped. Items marked hidden in the source (`#[doc(hidden)]`) serve the
//! engine's own suites and are not part of the testkit's API.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's examples run as doctests, so what the registry's docs show is compiled code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "bench")]
#[cfg_attr(docsrs, doc(cfg(feature = "bench")))]
pub mod bench;
pub mod db;
pub mod fake_google;
pub mod fake_twilio;
#[cfg(feature = "store")]
#[cfg_attr(docsrs, doc(cfg(feature = "store")))]
pub mod store;
pub mod webhooks;
