//! # workos-tests
//!
//! The home of the workspace-level integration tests and of the reusable test harness that
//! embedders use in their own tests: scratch databases per test ([`db`]), a fake Google
//! ([`fake_google`]) and a fake Twilio ([`fake_twilio`]) speaking the providers' wire formats.
//! The store's contract suite lives with the store (`workos-store/tests/it`) and the embedding
//! example is run by its own test (`examples/embedding/tests`).
#![forbid(unsafe_code)]

pub mod db;
pub mod fake_google;
pub mod fake_twilio;
