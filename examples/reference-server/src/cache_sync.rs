//! Keeps this process's caches coherent with writes made through any process: a task hears the
//! store's invalidations ([`workos_store::SqlStore::invalidations`]: `LISTEN workos_cache` on
//! Postgres) and drops the entries they name, so a revoked API key, a phone changed or deleted,
//! or an org's Twilio account switched is acted on everywhere within a second. The caches' time
//! to live stays as the safety net. After a lost connection (or a listener that fell behind)
//! everything is dropped; while the listener cannot connect it tries again every second.
//!
//! Webhook endpoints are read from the store for every fan-out and claim: no process caches
//! them, so their invalidations need no handling here.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use workos_store::Invalidation;

use crate::state::AppState;

/// How long the task waits before listening again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// Starts the task that applies the store's invalidations to `state`'s caches, supervised
/// (restarted if it panics, after dropping every cache: what it missed is unknown). It runs
/// until the store is closed.
pub fn spawn(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    workos_core::supervise::spawn_supervised("cache-sync", move || {
        let state = state.clone();
        async move {
            // A restart after a panic: whatever happened meanwhile is unknown.
            apply(&state, &Invalidation::Everything);
            loop {
                match state.store.invalidations().await {
                    Ok(mut changes) => loop {
                        match changes.recv().await {
                            Ok(change) => apply(&state, &change),
                            Err(RecvError::Lagged(_)) => {
                                apply(&state, &Invalidation::Everything);
                            }
                            Err(RecvError::Closed) => break,
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for cache invalidations; retrying");
                        // Whatever happened meanwhile is unknown.
                        apply(&state, &Invalidation::Everything);
                    }
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    })
}

/// Drops what `change` names from `state`'s caches.
pub fn apply(state: &AppState, change: &Invalidation) {
    match change {
        Invalidation::Changed { kind, org_id, id } => {
            tracing::debug!(%kind, %org_id, %id, "cache invalidation");
            match kind.as_str() {
                workos_core::ids::ApiKeyId::KIND => {
                    state
                        .api_keys
                        .forget(workos_core::ids::ApiKeyId::from_uuid(*id));
                }
                #[cfg(feature = "twilio")]
                workos_core::ids::PhoneId::KIND => state
                    .twilio_inbound
                    .forget_number_owner(Some(workos_core::ids::PhoneId::from_uuid(*id))),
                #[cfg(feature = "twilio")]
                workos_core::ids::IntegrationId::KIND => state.twilio.forget(*org_id),
                _ => {}
            }
        }
        _ => {
            tracing::debug!("cache invalidation: everything");
            state.api_keys.clear();
            #[cfg(feature = "twilio")]
            {
                state.twilio.forget_all();
                state.twilio_inbound.forget_number_owner(None);
            }
        }
    }
}
