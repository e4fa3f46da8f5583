//! Keeping a process's caches coherent with writes made through any process: a supervised task
//! hears the store's invalidations ([`SqlStore::invalidations`]: `LISTEN workos_cache` on
//! Postgres) and hands each to the embedder's `apply`, which drops the entries it names. After
//! a lost connection (or a listener that fell behind) `apply` gets
//! [`Invalidation::Everything`]; while the listener cannot connect it tries again every second.
//! The caches' time to live stays as the safety net.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::{Invalidation, SqlStore};

/// How long the task waits before listening again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// Starts the task that applies `store`'s invalidations with `apply`, supervised (restarted if
/// it panics, after `apply(&Invalidation::Everything)`: what it missed is unknown). It runs
/// until the store is closed or the handle is aborted.
pub fn spawn_invalidation_listener(
    store: SqlStore,
    apply: impl Fn(&Invalidation) + Clone + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    workos_core::supervise::spawn_supervised("cache-sync", move || {
        let (store, apply) = (store.clone(), apply.clone());
        async move {
            // A restart after a panic: whatever happened meanwhile is unknown.
            apply(&Invalidation::Everything);
            loop {
                match store.invalidations().await {
                    Ok(mut changes) => loop {
                        match changes.recv().await {
                            Ok(change) => apply(&change),
                            Err(RecvError::Lagged(_)) => apply(&Invalidation::Everything),
                            Err(RecvError::Closed) => break,
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for cache invalidations; retrying");
                        // Whatever happened meanwhile is unknown.
                        apply(&Invalidation::Everything);
                    }
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    })
}
