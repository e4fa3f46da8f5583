//! `/api/v1/webhooks/twilio/*`: Twilio's inbound webhooks. No API key: every request must carry
//! a valid `X-Twilio-Signature` over the public URL Twilio called, or it is refused with `403`
//! and nothing is stored. The engine ([`workos_twilio::InboundService`]) checks, finds the org,
//! records and builds the TwiML; these handlers only hand it the request and answer.

use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::ids::{MemberId, OrgId};
use workos_twilio::InboundRequest;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The routes (outside authentication: Twilio signs instead).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(inbound_sms))
        .routes(routes!(inbound_voice))
        .routes(routes!(bridge))
        .routes(routes!(bridge_ended))
        .routes(routes!(ring))
        .routes(routes!(hangup))
        .routes(routes!(message_status))
        .routes(routes!(call_status))
        .routes(routes!(recording))
        .routes(routes!(transcription))
}

/// A webhook request as it arrived: what the engine needs to check and read it.
pub(crate) struct Webhook {
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Webhook {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // The URI as the client sent it (Twilio signs what it called), not as nested routers
        // see it.
        let uri = match req.extensions().get::<OriginalUri>() {
            Some(OriginalUri(uri)) => uri.clone(),
            None => req.uri().clone(),
        };
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(crate::extract::body_rejection)?;
        Ok(Self { uri, headers, body })
    }
}

impl Webhook {
    /// The request as the engine takes it (the public URL is the engine's).
    fn inbound(&self) -> InboundRequest<'_> {
        InboundRequest::from_http(&self.uri, &self.headers, &self.body)
    }
}

fn twiml(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// Inbound SMS/MMS: store it, link or create the person, add an interaction, emit
/// `sms.received`; answer empty TwiML. Idempotent on `MessageSid`.
#[utoipa::path(post, path = "/webhooks/twilio/sms", tag = "twilio", security(),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's inbound message parameters"),
    responses((status = 200, description = "Empty TwiML", content_type = "text/xml"), (status = 403, description = "Invalid signature"),
        (status = 503, description = "No Twilio auth token is configured to check the signature")))]
async fn inbound_sms(State(state): State<AppState>, hook: Webhook) -> ApiResult<Response> {
    Ok(twiml(state.twilio_inbound.message(&hook.inbound()).await?))
}

/// Inbound call: store it with an interaction and `call.received`; answer the TwiML that rings
/// the members set for the number (`PUT /api/v1/phones/{id}/ringing`), or, when none is set,
/// the voicemail TwiML (greeting, then a recording, transcribed when the org says so).
#[utoipa::path(post, path = "/webhooks/twilio/voice", tag = "twilio", security(),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's voice parameters"),
    responses((status = 200, description = "TwiML", content_type = "text/xml"), (status = 403, description = "Invalid signature"),
        (status = 503, description = "No Twilio auth token is configured to check the signature")))]
async fn inbound_voice(State(state): State<AppState>, hook: Webhook) -> ApiResult<Response> {
    Ok(twiml(state.twilio_inbound.voice(&hook.inbound()).await?))
}

/// Click-to-call: the rep answered the first leg; answer the TwiML that dials the callee
/// (`<Dial>` with the org's number as caller id, recording both legs when the org records).
#[utoipa::path(post, path = "/webhooks/twilio/bridge", tag = "twilio", security(),
    params(("org" = OrgId, Query, description = "The org, as put in the URL by the engine"),
        ("to" = String, Query, description = "The number to dial, as put in the URL by the engine")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's voice parameters"),
    responses((status = 200, description = "TwiML", content_type = "text/xml"), (status = 403, description = "Invalid signature"),
        (status = 503, description = "No Twilio auth token is configured to check the signature")))]
async fn bridge(State(state): State<AppState>, hook: Webhook) -> ApiResult<Response> {
    Ok(twiml(state.twilio_inbound.bridge(&hook.inbound()).await?))
}

/// Click-to-call: the `<Dial>` action, asked when the customer's leg ended; stores its outcome
/// on the call (`no-answer`, `busy`, `failed`, `completed`) and answers empty TwiML.
#[utoipa::path(post, path = "/webhooks/twilio/bridge-ended", tag = "twilio", security(),
    params(("org" = OrgId, Query, description = "The org, as put in the URL by the engine")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's `<Dial>` action parameters"),
    responses((status = 200, description = "Empty TwiML", content_type = "text/xml"), (status = 403, description = "Invalid signature"),
        (status = 503, description = "No Twilio auth token is configured to check the signature")))]
async fn bridge_ended(State(state): State<AppState>, hook: Webhook) -> ApiResult<Response> {
    Ok(twiml(
        state.twilio_inbound.bridge_ended(&hook.inbound()).await?,
    ))
}

/// Inbound ringing: the `<Dial>` action, asked when members were rung; when one answered, the
/// call is theirs (`dial_call_sid`) and ends; otherwise the next member rings, or the caller
/// leaves a voicemail.
#[utoipa::path(post, path = "/webhooks/twilio/ring", tag = "twilio", security(),
    params(("org" = OrgId, Query, description = "The org, as put in the URL by the engine"),
        ("phone" = String, Query, description = "The number called, as put in the URL by the engine"),
        ("next" = u32, Query, description = "Which member rings next, as put in the URL by the engine")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's `<Dial>` action parameters"),
    responses((status = 200, description = "TwiML", content_type = "text/xml"), (status = 403, description = "Invalid signature"),
        (status = 503, description = "No Twilio auth token is configured to check the signature")))]
async fn ring(State(state): State<AppState>, hook: Webhook) -> ApiResult<Response> {
    Ok(twiml(
        state.twilio_inbound.ring_next(&hook.inbound()).await?,
    ))
}

/// The action of the engine's `<Record>`s (voicemail, and a placed call without a rep):
/// answers `<Hangup/>`.
#[utoipa::path(post, path = "/webhooks/twilio/hangup", tag = "twilio", security(),
    params(("org" = OrgId, Query, description = "The org, as put in the URL by the engine")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's `<Record>` action parameters"),
    responses((status = 200, description = "TwiML", content_type = "text/xml"), (status = 403, description = "Invalid signature"),
        (status = 503, description = "No Twilio auth token is configured to check the signature")))]
async fn hangup(State(state): State<AppState>, hook: Webhook) -> ApiResult<Response> {
    Ok(twiml(state.twilio_inbound.hangup(&hook.inbound()).await?))
}

/// Voicemail transcription callback: stores the text (or the failure) on the call; emits
/// `call.transcription_available`.
#[utoipa::path(post, path = "/webhooks/twilio/transcription", tag = "twilio", security(),
    params(("org" = OrgId, Query, description = "The org, as put in the callback URL by the engine")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's transcription parameters"),
    responses((status = 204, description = "Recorded"), (status = 403, description = "Invalid signature"),
        (status = 422, description = "A missing or malformed parameter"),
        (status = 503, description = "No Twilio auth token is configured to check the signature")))]
async fn transcription(State(state): State<AppState>, hook: Webhook) -> ApiResult<StatusCode> {
    state.twilio_inbound.transcription(&hook.inbound()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Message status callback: updates an outbound message's status (unknown statuses are stored
/// as given) and emits `sms.status_changed`.
#[utoipa::path(post, path = "/webhooks/twilio/status", tag = "twilio", security(),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's status parameters"),
    responses((status = 204, description = "Recorded"), (status = 403, description = "Invalid signature"),
        (status = 503, description = "No Twilio auth token is configured to check the signature")))]
async fn message_status(State(state): State<AppState>, hook: Webhook) -> ApiResult<StatusCode> {
    state.twilio_inbound.message_status(&hook.inbound()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Call status callback: updates status and duration; emits `call.completed` (or
/// `call.status_changed`). A dialled leg's callback (`ParentCallSid`) updates the call that
/// dialled it; statuses only move forward (a final one stays). A ringing member's leg reports
/// `answered` to a URL naming the member: the call is theirs (`answered_by_member_id`,
/// `call.answered`).
#[utoipa::path(post, path = "/webhooks/twilio/call-status", tag = "twilio", security(),
    params(("org" = Option<OrgId>, Query, description = "The org, as put in the URL by the engine (else the numbers' owner)"),
        ("member" = Option<MemberId>, Query, description = "The member whose phone the leg rang, as put in the URL by the engine")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's call status parameters"),
    responses((status = 204, description = "Recorded"), (status = 403, description = "Invalid signature"),
        (status = 422, description = "A missing or malformed parameter"),
        (status = 503, description = "No Twilio auth token is configured to check the signature")))]
async fn call_status(State(state): State<AppState>, hook: Webhook) -> ApiResult<StatusCode> {
    state.twilio_inbound.call_status(&hook.inbound()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Recording callback: stores the recording's SID, URL and duration on the call (`voicemail`
/// when the URL says so).
#[utoipa::path(post, path = "/webhooks/twilio/recording", tag = "twilio", security(),
    params(("org" = OrgId, Query, description = "The org, as put in the callback URL by the engine")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's recording parameters"),
    responses((status = 204, description = "Recorded"), (status = 403, description = "Invalid signature"),
        (status = 503, description = "No Twilio auth token is configured to check the signature")))]
async fn recording(State(state): State<AppState>, hook: Webhook) -> ApiResult<StatusCode> {
    state.twilio_inbound.recording(&hook.inbound()).await?;
    Ok(StatusCode::NO_CONTENT)
}
