//! The wake-ups of the pipeline's loops: notices from the store's buses (resubscribing after
//! failures), an optional in-process notifier, a timer and the shutdown signal. Public for the
//! engine's other senders (`workos-leads`' lead sender sleeps on them too).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tokio::sync::{Notify, watch};
use workos_core::Result;
use workos_core::events::{EventBus, EventSubscription};
use workos_core::ids::{EventId, OrgId};
use workos_core::repo::DeliveryQueue;

/// How long a subscription that failed waits before subscribing again.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(5);
/// Notices taken at once after a wake-up.
const MAX_DRAINED_NOTICES: usize = 4096;

/// Subscribes a loop to its notices.
type Subscribe =
    Box<dyn Fn() -> BoxFuture<'static, Result<Box<dyn EventSubscription>>> + Send + Sync>;

/// The wake-ups of a loop: notices (resubscribing after failures), an optional in-process
/// notifier, a timer and the shutdown signal.
pub struct Wakeups {
    subscribe: Subscribe,
    subscription: Option<Box<dyn EventSubscription>>,
    subscribe_after: Instant,
    /// A notice that names no org woke the loop since this was last cleared: anything may
    /// have changed.
    pub(crate) noticed: bool,
    /// The orgs named by notices since this was last cleared, when `keep_events`.
    pub(crate) orgs: HashSet<OrgId>,
    /// The events named by notices since this was last cleared (committed in this process),
    /// each with its org, when `keep_events` (else such notices only set `noticed`).
    pub(crate) committed: Vec<(OrgId, EventId)>,
    keep_events: bool,
}

impl Wakeups {
    /// Woken by committed events ([`EventBus::subscribe`]): the dispatcher, the lead sender.
    pub fn events<S: EventBus + ?Sized + 'static>(store: Arc<S>) -> Self {
        Self::new(Box::new(move || {
            let store = store.clone();
            Box::pin(async move { store.subscribe().await })
        }))
    }

    /// Woken by deliveries made due ([`DeliveryQueue::subscribe_due`]): delivery workers.
    pub(crate) fn due<S: DeliveryQueue + ?Sized + 'static>(store: Arc<S>) -> Self {
        Self::new(Box::new(move || {
            let store = store.clone();
            Box::pin(async move { store.subscribe_due().await })
        }))
    }

    fn new(subscribe: Subscribe) -> Self {
        Self {
            subscribe,
            subscription: None,
            subscribe_after: Instant::now(),
            noticed: false,
            orgs: HashSet::new(),
            committed: Vec::new(),
            keep_events: false,
        }
    }

    /// Keeps the events notices name in `committed` for the loop to take (the dispatcher).
    pub(crate) const fn keeping_events(mut self) -> Self {
        self.keep_events = true;
        self
    }

    /// Subscribes when not subscribed (at most every 5 seconds after a failure).
    pub async fn ensure(&mut self) {
        if self.subscription.is_some() || Instant::now() < self.subscribe_after {
            return;
        }
        match (self.subscribe)().await {
            Ok(s) => self.subscription = Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to the event bus; polling");
                self.subscribe_after = Instant::now() + RESUBSCRIBE_DELAY;
            }
        }
    }

    /// Waits for a notice (forever without a subscription), then takes the notices already
    /// queued behind it: one look at the store answers them all.
    pub(crate) async fn notice(&mut self) {
        let Some(s) = &mut self.subscription else {
            return std::future::pending().await;
        };
        let mut next = Some(s.next().await);
        let mut taken = 0;
        while let Some(notice) = next.take() {
            match notice {
                Ok(notice) if self.keep_events && !notice.events.is_empty() => {
                    match notice.org_id {
                        Some(org) => self
                            .committed
                            .extend(notice.events.iter().map(|&event| (org, event))),
                        // Events of no known org (a store that does not say): read the log.
                        None => self.noticed = true,
                    }
                }
                Ok(notice) => match notice.org_id {
                    Some(org) if self.keep_events => {
                        self.orgs.insert(org);
                    }
                    _ => self.noticed = true,
                },
                Err(e) => {
                    self.noticed = true;
                    tracing::warn!(error = %e, "event bus subscription ended; polling");
                    self.subscription = None;
                    self.subscribe_after = Instant::now() + RESUBSCRIBE_DELAY;
                    return;
                }
            }
            taken += 1;
            if taken < MAX_DRAINED_NOTICES {
                next = s.next().now_or_never();
            }
        }
    }

    /// Sleeps up to `timeout`, less when woken. Returns `false` when shutting down.
    pub async fn wait(
        &mut self,
        waker: Option<&Notify>,
        timeout: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let notified = async {
            match waker {
                Some(w) => w.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep(timeout) => {}
            () = self.notice() => {}
            () = notified => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return false;
                }
            }
        }
        !*shutdown.borrow()
    }
}
