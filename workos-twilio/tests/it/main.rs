//! Integration tests for `workos-twilio`: signature vectors, webhook models and the REST
//! client against the fake Twilio API of `workos-tests`, and the engine services
//! ([`workos_twilio::InboundService`], [`workos_twilio::TwilioAccounts`]) over a real store on
//! SQLite and, when `DATABASE_URL` is set, on Postgres (a fresh database per test).
//!
//! ```text
//! cargo test -p workos-twilio --test it
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p workos-twilio --test it
//! ```

/// Generates `name::sqlite` and `name::postgres` for `async fn name(h: Harness)`.
macro_rules! store_test {
    ($name:ident) => {
        mod $name {
            use $crate::harness::{Backend, Harness};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let h = Harness::start(Backend::Sqlite)
                    .await
                    .expect("SQLite always runs");
                super::$name(h).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(h) = Harness::start(Backend::Postgres).await else {
                    return;
                };
                super::$name(h).await;
            }
        }
    };
}

mod accounts;
mod client;
mod harness;
mod inbound;
mod models;
mod signature;

/// Owned `(name, value)` pairs from string literals.
fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, val)| ((*k).to_owned(), (*val).to_owned()))
        .collect()
}
