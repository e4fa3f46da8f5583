//! The public intake `POST /api/v1/forms/{public_form_id}/leads` (no API key: an optional HMAC
//! signature, a honeypot field and a per-IP rate limit instead). The engine's
//! [`workos_leads::intake`] does the rest.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::NewLead;
use workos_leads::intake::{self, BodyFormat, IntakeError, Submission};

use crate::client_ip;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// Public form bodies above this are refused with 413.
pub(crate) const MAX_FORM_BODY_BYTES: usize = 64 * 1024;
/// Public form submissions allowed per client IP per minute.
pub(crate) const FORM_SUBMISSIONS_PER_MINUTE: u32 = 30;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit_form))
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "status": "accepted" }))).into_response()
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        "the body is over 64 KiB",
    )
}

/// The answer to a refused submission.
fn intake_error(e: IntakeError) -> ApiError {
    match e {
        IntakeError::UnsupportedMediaType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            e.to_string(),
        ),
        IntakeError::Body(e) => e.into(),
        IntakeError::Engine(e) => e.into(),
    }
}

/// Submit a lead to a public form (no API key). Limited per client IP (429); bodies over 64 KiB
/// are refused (413); a form with a secret needs `X-Form-Signature: sha256=<hex HMAC-SHA256 of
/// the raw body>` (403 otherwise); a filled honeypot field is answered 202 and dropped; missing
/// required fields are a 422 naming each. Accepted submissions are captured and routed like
/// `POST /leads` and answered 202, telling the submitter nothing more.
#[utoipa::path(post, path = "/forms/{public_form_id}/leads", tag = "lead-forms", security(),
    params(("public_form_id" = String, Path, description = "The form's public id")),
    request_body = NewLead,
    responses((status = 202, description = "Accepted"), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn submit_form(
    State(state): State<AppState>,
    Path(public_form_id): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let ip = client_ip::of_request(headers, &parts.extensions, state.authn.trusted_proxies());
    if let workos_limits::Decision::Limited { retry_after } = state
        .authn
        .limiter()
        .check(
            &format!("form-ip:{}", client_ip::limit_key(ip)),
            state.form_quota,
        )
        .await
    {
        return Err(ApiError::rate_limited(retry_after));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BODY_BYTES) {
        return Err(too_large());
    }
    let body: Bytes = axum::body::to_bytes(body, MAX_FORM_BODY_BYTES)
        .await
        .map_err(|e| {
            if crate::extract::is_read_timeout(&e) {
                crate::extract::read_timeout()
            } else {
                too_large()
            }
        })?;

    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let submission = Submission {
        public_form_id: &public_form_id,
        format: BodyFormat::from_content_type(text(header::CONTENT_TYPE.as_str())),
        body: &body,
        signature: text("x-form-signature"),
        client_ip: ip,
        request_id: text("x-request-id"),
    };
    intake::submit(&state.store, &state.cipher, submission)
        .await
        .map_err(intake_error)?;
    Ok(accepted())
}
