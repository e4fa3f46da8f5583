//! # workos-tests
//!
//! The home of the workspace-level integration tests and of the reusable test harness that
//! embedders use in their own tests: scratch databases per test ([`db`]), a fake Google
//! ([`fake_google`]) and a fake Twilio ([`fake_twilio`]) speaking the providers' wire formats.
//! The store's contract suite lives with the store (`workos-store/tests/it`) and the embedding
//! example is run by its own test (`examples/embedding/tests`).
//!
//! What an embedder does first: add `workos-tests` as a dev-dependency; **open a scratch
//! database** per test ([`db::TestDatabase::sqlite`], [`db::TestDatabase::postgres`]) and
//! connect a store to its [`url`](db::TestDatabase::url); **point provider clients at the
//! fakes** ([`fake_twilio::FakeTwilio::client_builder`], [`fake_google::FakeGoogle::env_vars`]);
//! and unit-test what needs no database with the mocks of `workos-core`'s `testing` feature.
//! The crate has no feature flags.
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
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's examples run as doctests, so what crates.io shows is compiled code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod db;
pub mod fake_google;
pub mod fake_twilio;
