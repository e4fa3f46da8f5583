//! One attempt at a delivery: its endpoint's rate limit, its secrets and headers opened, the
//! signed POST, and what it came to.

use std::time::{Duration, Instant};

use url::Url;
use workos_core::domain::now;
use workos_core::events::EventBus;
use workos_core::ids::WebhookDeliveryId;
use workos_core::repo::{DeliveryQueue, DueDelivery, SubnetAllowanceRepo};
use workos_core::tenant::TenantContext;

use super::delivery_worker::DeliveryWorker;
use super::outcome::{Done, ERROR_NO_SECRET, ERROR_SECRETS_UNREADABLE, dead_letter, decide};
use super::rate_limit::RATE_LIMIT_WAIT;
use crate::sender::{ErrorKind, Message, SendError};

/// The `webhook-id` of a delivery: `msg_` + its id as 32 hex digits, the same on every attempt.
#[must_use]
pub fn message_id(id: WebhookDeliveryId) -> String {
    format!("msg_{}", id.as_uuid().simple())
}

impl<S: DeliveryQueue + SubnetAllowanceRepo + EventBus + ?Sized + 'static> DeliveryWorker<S> {
    /// One attempt, or the delivery handed back or dead-lettered without one (see the module
    /// docs).
    pub(super) async fn attempt(&self, due: DueDelivery, start_by: Instant) -> Done {
        let delivery = &due.delivery;
        if let Some(rate) = due.rate_limit_per_second {
            let left = start_by
                .saturating_duration_since(Instant::now())
                .min(RATE_LIMIT_WAIT);
            if !self.wait_for_rate(delivery.webhook_id, rate, left).await {
                tracing::debug!(delivery_id = %delivery.id, "rate limited; handed back");
                let spacing = Duration::from_secs(1) / rate.max(1);
                return Done::Released(
                    (delivery.org_id, delivery.id),
                    spacing.max(RATE_LIMIT_WAIT),
                );
            }
        }
        if Instant::now() >= start_by {
            tracing::debug!(delivery_id = %delivery.id, "lease too short; handed back");
            return Done::Released((delivery.org_id, delivery.id), Duration::ZERO);
        }
        let secrets = match self.sealer.open_valid(delivery.org_id, &due.secrets, now()) {
            Ok(secrets) if !secrets.is_empty() => secrets,
            Ok(_) => {
                tracing::error!(webhook_id = %delivery.webhook_id, delivery_id = %delivery.id,
                    "webhook endpoint has no valid signing secret; dead-lettering the delivery");
                return Done::Attempted(dead_letter(delivery, ERROR_NO_SECRET));
            }
            Err(e) => {
                tracing::error!(webhook_id = %delivery.webhook_id, delivery_id = %delivery.id, error = %e,
                    "cannot open webhook secrets; dead-lettering the delivery");
                return Done::Attempted(dead_letter(delivery, ERROR_SECRETS_UNREADABLE));
            }
        };
        let headers = match &due.sealed_headers {
            None => Ok(due.headers.clone()),
            Some(sealed) => self.sealer.open_headers(delivery.org_id, sealed),
        };
        let headers = match headers {
            Ok(headers) => headers,
            Err(e) => {
                tracing::error!(webhook_id = %delivery.webhook_id, delivery_id = %delivery.id, error = %e,
                    "cannot open webhook headers; dead-lettering the delivery");
                return Done::Attempted(dead_letter(delivery, ERROR_SECRETS_UNREADABLE));
            }
        };
        let body = match serde_json::to_vec(&due.event) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(delivery_id = %delivery.id, error = %e, "cannot serialise the event");
                return Done::Released((delivery.org_id, delivery.id), RATE_LIMIT_WAIT);
            }
        };
        let msg_id = message_id(delivery.id);
        let attempted_at = now();
        let started = Instant::now();
        let result = match Url::parse(&due.url) {
            Ok(url) => {
                let ctx = TenantContext::system(delivery.org_id, "webhooks.delivery");
                let message = Message {
                    url: &url,
                    msg_id: &msg_id,
                    body: &body,
                    headers: &headers,
                    secrets: &secrets,
                };
                self.sender.send_for_org(&*self.store, &ctx, message).await
            }
            Err(e) => Err(SendError {
                kind: ErrorKind::Blocked,
                message: format!("invalid URL: {e}"),
            }),
        };
        let latency = started.elapsed();
        if let Err(e) = &result {
            tracing::debug!(delivery_id = %delivery.id, error = %e, "webhook attempt failed");
        }
        Done::Attempted(decide(
            &self.schedule,
            self.failing_disable_after,
            delivery,
            due.failing_since,
            attempted_at,
            latency,
            &result,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_stable_hex() {
        let id = WebhookDeliveryId::new();
        let m = message_id(id);
        assert_eq!(m, message_id(id));
        assert_eq!(m.len(), 4 + 32);
        assert!(m.starts_with("msg_"));
        assert!(m[4..].bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
