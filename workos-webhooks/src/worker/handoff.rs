//! The hand-off of deliveries a dispatcher claimed to the worker of its process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use workos_core::repo::DueDelivery;

/// Claimed deliveries a dispatcher hands to its process's worker, each with the time it must
/// start by and its place in the worker's window.
pub(crate) type Queued = (DueDelivery, Instant, OwnedSemaphorePermit);

/// Where a [`Dispatcher`](super::Dispatcher) hands the deliveries it claimed to a
/// [`DeliveryWorker`](super::DeliveryWorker) (from
/// [`DeliveryWorker::handoff`](super::DeliveryWorker::handoff)): it claims only as many as the
/// worker's window has room for.
#[derive(Clone)]
pub struct Handoff {
    pub(super) window: Arc<Semaphore>,
    pub(crate) sender: mpsc::UnboundedSender<Vec<Queued>>,
    pub(crate) lease: Duration,
    pub(crate) start_within: Duration,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Handoff {
    /// Room in the worker's window for up to `most` deliveries, if it has any.
    pub(crate) fn reserve(&self, most: u32) -> Option<OwnedSemaphorePermit> {
        if self.sender.is_closed() {
            return None;
        }
        let room = self.window.available_permits().min(most as usize);
        if room == 0 {
            return None;
        }
        Arc::clone(&self.window)
            .try_acquire_many_owned(u32::try_from(room).unwrap_or(u32::MAX))
            .ok()
    }
}
