//! `POST /api/v1/webhooks/gmail/push`: Gmail's push notifications as a Pub/Sub push
//! subscription delivers them. No API key: every request must carry the subscription's
//! Google-signed OIDC token (`Authorization: Bearer …`), which the engine
//! ([`workos_gmail::GmailPush`]) checks before it reads anything; it then syncs the mailbox,
//! coalesced. These handlers only hand it the request and map the answer:
//!
//! | answer | when | Pub/Sub |
//! | --- | --- | --- |
//! | `200` + report | the token is valid and the envelope readable (also when no org has the mailbox: nothing to do) | acknowledged, never sent again |
//! | `401` | token missing or not valid | retried with backoff until the subscription's retention (or its dead-letter topic) ends it |
//! | `422` naming the field | valid token, unreadable envelope | retried likewise (a dead-letter topic catches it) |
//! | `409` | push is not configured on this server | retried likewise |
//! | `503` | Google's keys could not be fetched to check the token | retried |

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_gmail::push::PushAuthError;
use workos_gmail::{PushNotification, PushReport};

use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// The route (outside authentication: Google signs instead).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(gmail_push))
}

/// What a push did for the integrations of the notified mailbox.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PushAnswer {
    /// Integrations connected to the mailbox, across orgs (0: no org has it; acknowledged).
    mailboxes: usize,
    /// Synced up to the pushed history id by this push's sync or one it joined.
    synced: usize,
    /// Synced that far already: nothing was done.
    already_synced: usize,
    /// Still syncing when the answer was due (the sync goes on).
    pending: usize,
    /// The sync failed; the scheduler's polling retries.
    failed: usize,
}

impl From<PushReport> for PushAnswer {
    fn from(r: PushReport) -> Self {
        Self {
            mailboxes: r.mailboxes,
            synced: r.synced,
            already_synced: r.already_synced,
            pending: r.pending,
            failed: r.failed,
        }
    }
}

/// A Gmail push notification from a Pub/Sub push subscription: authenticated by the
/// subscription's OIDC token in `Authorization: Bearer …` (RS256, signed by Google; issuer `https://accounts.google.com` or
/// `accounts.google.com`; audience `GMAIL_PUBSUB_AUDIENCE`; `email` the verified
/// `GMAIL_PUBSUB_SERVICE_ACCOUNT`). Runs an incremental sync of the mailbox, coalesced: pushes
/// the stored sync covers cost nothing, and a burst waits for one sync. Answers within about
/// 8 s (the sync goes on after). `200` acknowledges (Pub/Sub does not send it again), also for
/// a mailbox no org has connected; anything else is retried by Pub/Sub.
#[utoipa::path(post, path = "/webhooks/gmail/push", tag = "integrations", security(),
    request_body(content = Object, content_type = "application/json",
        description = "Pub/Sub's push envelope: `{\"message\": {\"data\": base64 of {\"emailAddress\", \"historyId\"}, \"messageId\", \"publishTime\"}, \"subscription\"}`"),
    responses((status = 200, body = PushAnswer, description = "Acknowledged"),
        (status = 401, body = Problem, description = "No valid Google-signed OIDC token"),
        (status = 409, body = Problem, description = "Gmail push is not configured"),
        (status = 422, body = Problem, description = "The envelope is unreadable (names the field)"),
        (status = 503, body = Problem, description = "Google's signing keys could not be fetched")))]
async fn gmail_push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<PushAnswer>)> {
    let push = crate::routes::integrations::gmail_service(&state)?
        .push
        .as_ref()
        .ok_or_else(|| {
            ApiError::not_configured(
                "Gmail push is not configured on this server (GMAIL_PUBSUB_TOPIC, GMAIL_PUBSUB_AUDIENCE, GMAIL_PUBSUB_SERVICE_ACCOUNT)",
            )
        })?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    push.verify(authorization).await.map_err(|e| match e {
        PushAuthError::KeysUnavailable(_) => {
            tracing::warn!(error = %e, "Gmail push: cannot check tokens");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Google's signing keys are unavailable; retry later",
            )
        }
        e => ApiError::unauthorized(e.to_string()),
    })?;
    let note = PushNotification::parse(&body)?;
    let report = push.receive(&note).await?;
    Ok((StatusCode::OK, Json(report.into())))
}
