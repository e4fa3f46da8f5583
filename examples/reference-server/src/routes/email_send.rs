//! `POST /api/v1/email/send`, through [`workos_gmail::GmailSender::send`]: a JSON body (a
//! [`workos_gmail::SendEmailRequest`], files as base64, up to
//! [`workos_gmail::MAX_BASE64_ATTACHMENT_BYTES`] in all), or `multipart/form-data` with the
//! same JSON as a part named `email` and each file as a part named `attachments` (up to the
//! message's 25 MB). The engine checks the fields; this module reads the body.

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::channel::Attachment;
use workos_core::domain::Email;
use workos_gmail::mime::MAX_MESSAGE_BYTES;
use workos_gmail::{PersonPolicy, SendEmail, SendEmailRequest, Sent};

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Ctx, parse_json};
use crate::routes::created;
use crate::state::AppState;

/// The most a JSON body of this route may weigh (larger sends use `multipart/form-data`).
pub(crate) const MAX_JSON_BODY_BYTES: usize = 8 << 20;
/// The body limit of this route: a message of Gmail's 25 MB plus 1 MiB for the JSON part and
/// the multipart framing. The idempotency middleware reads up to this much for this route.
pub(crate) const MAX_SEND_BODY_BYTES: usize = MAX_MESSAGE_BYTES + (1 << 20);
/// How long a send may take from the handler's start: Gmail is never asked anything after
/// it, and a large message's upload not complete by then is abandoned unsent (the answer is a
/// `503`, safe to retry). It is 10 s inside the `Idempotency-Key` handler limit
/// ([`crate::idempotency::HANDLER_LIMIT`]), so that limit never cancels a send Gmail may have
/// completed, and the email is recorded within it.
pub(crate) const SEND_BUDGET: std::time::Duration =
    std::time::Duration::from_secs(crate::idempotency::HANDLER_LIMIT.as_secs() - 10);
/// The route's path, for the middleware that needs its limit.
pub(crate) const SEND_PATH: &str = "/api/v1/email/send";

/// The route, with its own body limit.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_email))
        .layer(DefaultBodyLimit::max(MAX_SEND_BODY_BYTES))
}

/// The `multipart/form-data` body: the JSON fields as one part, the files as others. Any other
/// part is refused (422 naming it), hence `additionalProperties: false`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "documents the multipart body; the handler reads the parts"
)]
pub(crate) struct SendEmailForm {
    /// The fields of the JSON body (`to`, `subject`, …) as a part with
    /// `Content-Type: application/json`.
    email: SendEmailRequest,
    /// The files, one part each, with a `filename` in its `Content-Disposition` and its type
    /// in `Content-Type` (`application/octet-stream` when absent); none is fine.
    #[serde(default)]
    #[schema(value_type = Vec<String>, format = Binary)]
    attachments: Vec<Vec<u8>>,
}

/// A send request as either body form carries it.
pub(crate) struct SendForm {
    body: SendEmailRequest,
    /// The files of `multipart/form-data` parts, after the body's own.
    files: Vec<Attachment>,
}

/// The essence of a `Content-Type` (`type/subtype`, lower case, without parameters).
fn essence(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn too_large(detail: &str) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", detail)
}

fn json_too_large() -> ApiError {
    too_large("a JSON body is at most 8 MiB; send large files as multipart/form-data")
}

impl<S: Send + Sync> FromRequest<S> for SendForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // A body announced over the limit is refused before a byte of it is read.
        let announced = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if announced.is_some_and(|n| n > MAX_SEND_BODY_BYTES) {
            return Err(too_large(
                "the body is over 26 MiB: a message may carry at most 25 MB",
            ));
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(essence)
            .unwrap_or_default();
        match content_type.as_str() {
            "application/json" => {
                if announced.is_some_and(|n| n > MAX_JSON_BODY_BYTES) {
                    return Err(json_too_large());
                }
                let bytes = axum::body::Bytes::from_request(req, state)
                    .await
                    .map_err(|e| ApiError::new(e.status(), "bad-request", e.body_text()))?;
                if bytes.len() > MAX_JSON_BODY_BYTES {
                    return Err(json_too_large());
                }
                Ok(Self {
                    body: parse_json(&bytes)?,
                    files: Vec::new(),
                })
            }
            "multipart/form-data" => {
                let multipart = Multipart::from_request(req, state)
                    .await
                    .map_err(|e| ApiError::new(e.status(), "bad-request", e.body_text()))?;
                read_multipart(multipart).await
            }
            _ => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be application/json, or multipart/form-data with an `email` JSON part and `attachments` file parts",
            )),
        }
    }
}

/// Reads the `email` JSON part and the `attachments` file parts.
async fn read_multipart(mut multipart: Multipart) -> ApiResult<SendForm> {
    let part_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large("the body is over 26 MiB: a message may carry at most 25 MB")
        } else {
            ApiError::new(e.status(), "bad-request", e.body_text())
        }
    };
    let mut body: Option<SendEmailRequest> = None;
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(part_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "email" => {
                if body.is_some() {
                    return Err(ApiError::invalid_field("email", "only one `email` part"));
                }
                let bytes = field.bytes().await.map_err(part_error)?;
                body = Some(parse_json(&bytes)?);
            }
            "attachments" | "attachments[]" => {
                let index = files.len();
                let filename = field
                    .file_name()
                    .map(str::to_owned)
                    .filter(|f| !f.trim().is_empty())
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            format!("attachments[{index}]"),
                            "a file part needs a filename in its Content-Disposition",
                        )
                    })?;
                let content_type = field
                    .content_type()
                    .map_or_else(|| "application/octet-stream".to_owned(), essence);
                let content = field.bytes().await.map_err(part_error)?.to_vec();
                files.push(Attachment {
                    filename,
                    content_type,
                    content,
                });
            }
            _ => {
                return Err(ApiError::invalid_field(
                    if name.is_empty() {
                        "body"
                    } else {
                        name.as_str()
                    },
                    "unknown part: send `email` (the JSON fields) and `attachments` (files)",
                ));
            }
        }
    }
    let body =
        body.ok_or_else(|| ApiError::invalid_field("email", "the JSON part `email` is required"))?;
    Ok(SendForm { body, files })
}

/// Send an email through a connected Gmail account, and record it.
///
/// Attachments: as base64 in a JSON body (at most 5 MiB decoded in all, 8 MiB of body), or
/// as files in a `multipart/form-data` body (an `email` part holding the JSON fields and one
/// `attachments` part per file), up to Gmail's 25 MB per message. Messages over 5 MiB reach
/// Gmail through its resumable upload, which resumes after a failed chunk. A send that cannot
/// finish within 50 s is abandoned unsent (`503`, safe to retry with the same
/// `Idempotency-Key`).
#[utoipa::path(post, path = "/email/send", tag = "emails",
    request_body(content((SendEmailRequest = "application/json"), (SendEmailForm = "multipart/form-data"))),
    responses((status = 201, body = Email), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
pub(crate) async fn send_email(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    form: SendForm,
) -> ApiResult<Response> {
    let deadline = std::time::Instant::now() + SEND_BUDGET;
    let gmail = crate::routes::integrations::gmail_service(&state)?;
    let SendForm { body, files } = form;
    let mut request = SendEmail::try_from(body)?;
    request.attachments.extend(files);
    request.deadline = Some(deadline);
    let sender = gmail.client.sender(PersonPolicy::SentOnly);
    match sender.send(&ctx, request).await? {
        Sent {
            email: Some(stored),
            ..
        } => Ok(created(format!("/api/v1/emails/{}", stored.id), stored)),
        // Sent, but recording failed (logged); the sync records it later.
        Sent { receipt, .. } => Ok((StatusCode::ACCEPTED, Json(receipt)).into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The send's budget, and the status query the resumable upload keeps time for inside
    /// it, end before the `Idempotency-Key` handler limit cancels the handler: a send is never
    /// cut off after Gmail may have sent the message.
    #[test]
    fn the_send_budget_fits_the_idempotency_limit() {
        assert!(
            SEND_BUDGET + std::time::Duration::from_secs(5) <= crate::idempotency::HANDLER_LIMIT
        );
        assert!(workos_gmail::api::QUERY_RESERVE < SEND_BUDGET);
        assert!(crate::idempotency::HANDLER_LIMIT < crate::idempotency::LEASE);
    }
}
