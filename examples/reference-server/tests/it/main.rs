//! The reference server's API suite: one integration-test binary that runs every test against a
//! real server (bound to a random local port) on SQLite (a fresh temporary file per test), when
//! `DATABASE_URL` is set on Postgres (a fresh `workos_srv_<uuid>` database per test, dropped
//! afterwards), and when `WORKOS_CITUS_URL` is set on a Citus cluster (a fresh database on every
//! node, its tables distributed by org).
//!
//! A test is an `async fn name(app: &TestApp)` followed by `server_test!(name);`, which
//! generates `name::sqlite`, `name::postgres` and `name::citus`. Without `DATABASE_URL` the
//! Postgres half prints "Postgres tests SKIPPED: DATABASE_URL is not set" and passes, unless
//! `WORKOS_REQUIRE_POSTGRES=1` is set, in which case it fails (Citus likewise, with
//! `WORKOS_REQUIRE_CITUS=1`).
//!
//! ```text
//! cargo test -p workos-reference-server --test it                                                    # SQLite
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test -p workos-reference-server --test it # both
//! ```

/// Generates the per-backend test functions of the server test `$name`, optionally with
/// non-default [`helpers::Settings`].
macro_rules! server_test {
    ($name:ident) => {
        server_test!(@tests $name, |backend| $crate::helpers::spawn_app(backend));
    };
    ($name:ident, $settings:expr) => {
        server_test!(@tests $name, |backend| $crate::helpers::spawn_app_with(backend, $settings));
    };
    (@tests $name:ident, $spawn:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = ($spawn)($crate::helpers::Backend::Sqlite).await.expect("SQLite always runs");
                super::$name(&app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = ($spawn)($crate::helpers::Backend::Postgres).await else {
                    return;
                };
                super::$name(&app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn citus() {
                let Some(app) = ($spawn)($crate::helpers::Backend::Citus).await else {
                    return;
                };
                super::$name(&app).await;
            }
        }
    };
}

mod helpers;

#[cfg(all(feature = "webhooks", feature = "leads"))]
mod allowed_subnets;
mod api_keys;
mod audit;
mod auth;
mod bad_input;
mod cancellation;
#[cfg(feature = "webhooks")]
mod capability_urls;
mod companies;
mod deals;
mod deploy;
mod events;
mod generated_client;
#[cfg(feature = "gmail")]
mod gmail;
#[cfg(feature = "gmail")]
mod gmail_attachments;
#[cfg(feature = "gmail")]
mod gmail_push;
mod health;
mod idempotency;
mod interactions;
mod jwks;
#[cfg(all(feature = "leads", feature = "webhooks", feature = "gmail"))]
mod lead_delivery;
#[cfg(feature = "leads")]
mod leads;
mod members;
mod multi_process;
mod openapi;
mod org;
mod people;
#[cfg(feature = "twilio")]
mod phones;
mod rate_limit;
#[cfg(all(feature = "gmail", feature = "twilio", feature = "leads"))]
mod reencrypt;
mod request_id;
mod roles;
mod search;
mod slow_clients;
mod sorting;
mod tasks;
mod tenancy;
mod timelines;
#[cfg(feature = "twilio")]
mod twilio;
mod unauthenticated;
#[cfg(feature = "webhooks")]
mod webhooks;
