//! Keeps this process's caches coherent with writes made through any process: the store's
//! listener ([`workos_store::spawn_invalidation_listener`]) hands each invalidation to
//! [`apply`], which drops the entries it names, so a revoked API key, a phone changed or
//! deleted, or an org's Twilio account switched is acted on everywhere within a second.
//!
//! Webhook endpoints are read from the store for every fan-out and claim: no process caches
//! them, so their invalidations need no handling here.

use workos_store::Invalidation;

use crate::state::AppState;

/// Starts the task that applies the store's invalidations to `state`'s caches (supervised; it
/// runs until the store is closed).
pub fn spawn(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    workos_store::spawn_invalidation_listener(state.store.clone(), move |change| {
        apply(&state, change);
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
                        .authn
                        .authenticator()
                        .forget_api_key(workos_core::ids::ApiKeyId::from_uuid(*id));
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
            state.authn.authenticator().forget_all();
            #[cfg(feature = "twilio")]
            {
                state.twilio.forget_all();
                state.twilio_inbound.forget_number_owner(None);
            }
        }
    }
}
