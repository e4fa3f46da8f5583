//! # workos-tests
//!
//! The home of the workspace-level integration tests and of the reusable test harness
//! (server spawner, fake Gmail, fake Twilio, webhook receiver) that embedders will use in their
//! own tests. The harness arrives with the reference server and channel work; the store's
//! contract suite lives with the store (`workos-store/tests/it`) and the embedding example is
//! run by its own test (`examples/embedding/tests`).
#![forbid(unsafe_code)]

pub mod fake_google;
pub mod fake_twilio;
