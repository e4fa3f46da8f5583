//! What an attempt leads to: the delivery's next status and retry time, and whether its
//! endpoint is disabled (see the table in the [module docs](super)).

use std::time::Duration;

use chrono::{DateTime, Utc};
use workos_core::domain::{
    DeliveryAttempt, DeliveryStatus, WebhookDelivery, now, to_storage_precision,
};
use workos_core::ids::{OrgId, WebhookDeliveryId};
use workos_core::repo::AttemptOutcome;

use crate::schedule::RetrySchedule;
use crate::sender::{SendError, SendResponse, Verdict, classify};

/// The `error_kind` of a delivery dead-lettered because its endpoint's sealed secrets do not
/// open (e.g. the engine's encryption key changed): no attempt was sent.
pub const ERROR_SECRETS_UNREADABLE: &str = "secrets_unreadable";
/// The `error_kind` of a delivery dead-lettered because its endpoint has no valid signing
/// secret: no attempt was sent.
pub const ERROR_NO_SECRET: &str = "no_valid_secret";

/// What became of a claimed delivery.
pub(super) enum Done {
    /// An attempt was made (or the delivery was dead-lettered without one): record it.
    Attempted(AttemptOutcome),
    /// Not sent now: hand it back, claimable again after this long.
    Released((OrgId, WebhookDeliveryId), Duration),
}

/// The outcome that dead-letters `delivery` without sending it: the engine cannot sign it
/// (`error_kind` says why), which retrying would not change.
pub(super) fn dead_letter(delivery: &WebhookDelivery, error_kind: &str) -> AttemptOutcome {
    AttemptOutcome {
        org_id: delivery.org_id,
        webhook_id: delivery.webhook_id,
        attempt: DeliveryAttempt {
            delivery_id: delivery.id,
            attempted_at: now(),
            status_code: None,
            error_kind: Some(error_kind.to_owned()),
            latency_ms: 0,
            response_body: None,
            next_attempt_at: None,
        },
        status: DeliveryStatus::Failed,
        disable_endpoint: None,
    }
}

/// The outcome of an attempt at `delivery` made at `attempted_at`. A failed attempt at an
/// endpoint that has been failing (every attempt, since `failing_since`) for longer than
/// `failing_disable_after` disables it as `failing`.
pub(crate) fn decide(
    schedule: &RetrySchedule,
    failing_disable_after: Duration,
    delivery: &WebhookDelivery,
    failing_since: Option<DateTime<Utc>>,
    attempted_at: DateTime<Utc>,
    latency: Duration,
    result: &std::result::Result<SendResponse, SendError>,
) -> AttemptOutcome {
    let verdict = classify(result);
    let ended_at = attempted_at + chrono::Duration::from_std(latency).unwrap_or_default();
    let (status, next_attempt_at, mut disable) = match verdict {
        Verdict::Delivered => (DeliveryStatus::Succeeded, None, None),
        Verdict::Gone => (DeliveryStatus::Failed, None, Some("gone")),
        Verdict::Retry { retry_after } => {
            let attempts_made = delivery.attempts.saturating_add(1);
            match schedule.next_after(attempts_made, ended_at, retry_after) {
                Some(next) => (
                    DeliveryStatus::Retrying,
                    Some(to_storage_precision(next)),
                    None,
                ),
                None => (DeliveryStatus::Failed, None, None),
            }
        }
    };
    if disable.is_none() && verdict != Verdict::Delivered {
        let failing_for = (attempted_at - failing_since.unwrap_or(attempted_at))
            .to_std()
            .unwrap_or_default();
        if failing_for >= failing_disable_after {
            disable = Some("failing");
        }
    }
    let (status_code, response_body, error_kind) = match result {
        Ok(r) => (Some(r.status), r.body.clone(), None),
        Err(e) => (None, None, Some(e.kind.as_str().to_owned())),
    };
    AttemptOutcome {
        org_id: delivery.org_id,
        webhook_id: delivery.webhook_id,
        attempt: DeliveryAttempt {
            delivery_id: delivery.id,
            attempted_at,
            status_code,
            error_kind,
            latency_ms: u32::try_from(latency.as_millis()).unwrap_or(u32::MAX),
            response_body,
            next_attempt_at,
        },
        status,
        disable_endpoint: disable.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use workos_core::ids::{EventId, WebhookId};

    use super::*;
    use crate::sender::ErrorKind;

    fn delivery(attempts: u32, age: chrono::Duration) -> WebhookDelivery {
        let t = now();
        WebhookDelivery {
            id: WebhookDeliveryId::new(),
            org_id: OrgId::new(),
            webhook_id: WebhookId::new(),
            event_id: EventId::new(),
            event_type: "company.created".into(),
            status: DeliveryStatus::Pending,
            attempts,
            next_attempt_at: Some(t),
            last_status_code: None,
            created_at: t - age,
            updated_at: t,
        }
    }

    fn response(status: u16) -> std::result::Result<SendResponse, SendError> {
        Ok(SendResponse {
            status,
            body: Some("body".into()),
            retry_after: None,
        })
    }

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn outcomes() {
        let schedule = RetrySchedule::parse("0,0,60").unwrap();
        let fresh = chrono::Duration::zero();
        let at = now();
        let ms = Duration::from_millis(12);

        let d = delivery(0, fresh);
        let ok = decide(
            &schedule,
            DAY,
            &d,
            Some(d.created_at),
            at,
            ms,
            &response(200),
        );
        assert_eq!(ok.status, DeliveryStatus::Succeeded);
        assert_eq!(ok.attempt.status_code, Some(200));
        assert_eq!(ok.attempt.response_body.as_deref(), Some("body"));
        assert_eq!(ok.attempt.latency_ms, 12);
        assert_eq!(ok.attempt.next_attempt_at, None);
        assert_eq!(ok.disable_endpoint, None);
        assert_eq!(
            (ok.org_id, ok.webhook_id, ok.attempt.delivery_id),
            (d.org_id, d.webhook_id, d.id)
        );

        let retry = decide(
            &schedule,
            DAY,
            &d,
            Some(d.created_at),
            at,
            ms,
            &response(500),
        );
        assert_eq!(retry.status, DeliveryStatus::Retrying);
        assert!(retry.attempt.next_attempt_at.unwrap() >= at);

        let gone = decide(
            &schedule,
            DAY,
            &d,
            Some(d.created_at),
            at,
            ms,
            &response(410),
        );
        assert_eq!(gone.status, DeliveryStatus::Failed);
        assert_eq!(gone.disable_endpoint.as_deref(), Some("gone"));

        // The third attempt is the last of a three-entry schedule.
        let last = decide(
            &schedule,
            DAY,
            &delivery(2, fresh),
            None,
            at,
            ms,
            &Err(SendError {
                kind: ErrorKind::Connect,
                message: "refused".into(),
            }),
        );
        assert_eq!(last.status, DeliveryStatus::Failed);
        assert_eq!(last.attempt.error_kind.as_deref(), Some("connect"));
        assert_eq!(last.attempt.status_code, None);
        assert_eq!(last.attempt.next_attempt_at, None);
        assert_eq!(last.disable_endpoint, None);

        // Retry-After lengthens the delay.
        let limited = decide(
            &schedule,
            DAY,
            &d,
            Some(d.created_at),
            at,
            ms,
            &Ok(SendResponse {
                status: 429,
                body: None,
                retry_after: Some(Duration::from_secs(120)),
            }),
        );
        assert!(limited.attempt.next_attempt_at.unwrap() >= at + chrono::Duration::seconds(120));
    }

    #[test]
    fn failing_too_long_disables() {
        let schedule = RetrySchedule::default();
        let old = delivery(3, chrono::Duration::days(6));
        let at = now();
        let fail = decide(
            &schedule,
            5 * DAY,
            &old,
            Some(old.created_at),
            at,
            Duration::ZERO,
            &response(500),
        );
        assert_eq!(fail.disable_endpoint.as_deref(), Some("failing"));
        assert_eq!(fail.status, DeliveryStatus::Retrying);
        let ok = decide(
            &schedule,
            5 * DAY,
            &old,
            Some(old.created_at),
            at,
            Duration::ZERO,
            &response(204),
        );
        assert_eq!(ok.disable_endpoint, None);
        let gone = decide(
            &schedule,
            5 * DAY,
            &old,
            Some(old.created_at),
            at,
            Duration::ZERO,
            &response(410),
        );
        assert_eq!(gone.disable_endpoint.as_deref(), Some("gone"));
    }
}
