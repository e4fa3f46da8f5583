//! `/api/v1/webhooks/twilio/*`: Twilio's inbound webhooks. No API key: every request must carry
//! a valid `X-Twilio-Signature` over the public URL Twilio called, or it is refused with `403`
//! and nothing is stored.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{Direction, E164, NewCall, NewSms, Phone};
use workos_core::ids::{OrgId, PhoneId};
use workos_core::repo::{CommsRepo, Directory};
use workos_core::tenant::TenantContext;
use workos_twilio::models::{
    CallStatusCallback, InboundCall, InboundMessage, MessageStatusCallback, RecordingCallback,
    Twiml, empty_twiml,
};
use workos_twilio::signature::parse_form;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The routes (outside authentication: Twilio signs instead).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(inbound_sms))
        .routes(routes!(inbound_voice))
        .routes(routes!(message_status))
        .routes(routes!(call_status))
        .routes(routes!(recording))
}

fn twiml(body: impl Into<String>) -> Response {
    let mut response = (StatusCode::OK, body.into()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// Checks the signature over the public URL (`WORKOS_PUBLIC_URL` + path + query: Twilio signs
/// what it called, not what a proxy forwarded) with the auth token of `org`'s own Twilio
/// account when it has one, else the platform's.
async fn verify(
    state: &AppState,
    org: Option<OrgId>,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    params: &[(String, String)],
) -> ApiResult<()> {
    let own = match org {
        Some(org) => state.twilio_accounts.of(org).await?,
        None => None,
    };
    let Some(validator) = own
        .as_ref()
        .map(|a| &a.validator)
        .or(state.twilio_validator.as_ref())
    else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Twilio is not configured",
        ));
    };
    let url = format!(
        "{}{}",
        state.public_url.trim_end_matches('/'),
        uri.path_and_query().map_or("", |p| p.as_str())
    );
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let valid = !signature.is_empty()
        && if uri.query().is_some_and(|q| q.contains("bodySHA256=")) {
            validator.validate_body(&url, body, signature)
        } else {
            validator.validate(&url, params, signature)
        };
    if !valid {
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        tracing::warn!(
            request_id,
            path = uri.path(),
            "refused a Twilio webhook with a missing or invalid signature"
        );
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "invalid Twilio signature",
        ));
    }
    Ok(())
}

/// The first value of the form parameter `name`.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn bad_payload(e: &workos_twilio::models::ParseError) -> ApiError {
    ApiError::invalid_field(e.field().to_owned(), e.to_string())
}

/// The org owning one of these numbers, through `phones`.
async fn owner(state: &AppState, numbers: &[Option<&str>]) -> ApiResult<Option<Phone>> {
    for number in numbers.iter().flatten() {
        if let Ok(number) = E164::parse(number)
            && let Some(phone) = state.store.phone_by_number(&number).await?
        {
            return Ok(Some(phone));
        }
    }
    Ok(None)
}

fn system(org: OrgId, job: &str, headers: &HeaderMap) -> TenantContext {
    let ctx = TenantContext::system(org, job);
    match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        Some(id) => ctx.with_request_id(id),
        None => ctx,
    }
}

/// Inbound SMS/MMS: store it, link or create the person, add an interaction, emit
/// `sms.received`; answer empty TwiML. Idempotent on `MessageSid`.
#[utoipa::path(post, path = "/webhooks/twilio/sms", tag = "twilio", security(),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's inbound message parameters"),
    responses((status = 200, description = "Empty TwiML", content_type = "text/xml"), (status = 403, description = "Invalid signature")))]
async fn inbound_sms(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    // The number's org first: its own Twilio account, if any, signed the request.
    let params = parse_form(&body);
    let to = param(&params, "To").unwrap_or_default();
    let request = Signed {
        uri: &uri,
        headers: &headers,
        body: &body,
        params: &params,
    };
    let owner = state.twilio_numbers.owner(to).await?;
    let cached = owner.as_ref().filter(|o| o.cached).map(|o| o.phone.id);
    // The owner may have changed since it was read (the number released or moved to another
    // org): the write refused it (`None`), or, read from the cache, the signature was checked
    // against the old org's account. Then answer again with the owner as it is now.
    let refused = match accept_sms(&state, &request, owner.map(|o| o.phone)).await {
        Ok(Some(answer)) => return Ok(answer),
        Ok(None) => None,
        Err(e) if cached.is_none() => return Err(e),
        Err(e) => Some(e),
    };
    let owner = state.twilio_numbers.fresh(to).await?;
    if let Some(e) = refused
        && owner.as_ref().map(|o| o.phone.id) == cached
    {
        return Err(e);
    }
    let answer = accept_sms(&state, &request, owner.map(|o| o.phone)).await?;
    // Released again in between: as for a number no org owns.
    Ok(answer.unwrap_or_else(|| twiml(empty_twiml())))
}

/// A webhook request, for checking its signature.
struct Signed<'a> {
    uri: &'a axum::http::Uri,
    headers: &'a HeaderMap,
    body: &'a [u8],
    params: &'a [(String, String)],
}

/// Checks an inbound SMS's signature for the org owning `phone` (the platform's account when
/// none does) and records it in that org. `None` when the phone was no longer the org's at the
/// write (nothing was written).
async fn accept_sms(
    state: &AppState,
    request: &Signed<'_>,
    phone: Option<Phone>,
) -> ApiResult<Option<Response>> {
    let org = phone.as_ref().map(|p| p.org_id);
    verify(
        state,
        org,
        request.uri,
        request.headers,
        request.body,
        request.params,
    )
    .await?;
    let message = InboundMessage::from_params(request.params).map_err(|e| bad_payload(&e))?;
    let Some(phone) = phone else {
        tracing::warn!(message_sid = %message.message_sid, "inbound SMS to a number no org owns; ignored");
        return Ok(Some(twiml(empty_twiml())));
    };
    let ctx = system(phone.org_id, "twilio.inbound_sms", request.headers);
    let new = NewSms {
        phone_id: Some(phone.id),
        message_sid: Some(message.message_sid.clone()),
        direction: Direction::Inbound,
        from: message.from,
        to: message.to,
        body: message.body,
        media: message
            .media
            .into_iter()
            .map(|m| workos_core::domain::Media {
                url: m.url,
                content_type: Some(m.content_type),
            })
            .collect(),
        status: "received".into(),
        person_id: None,
        unknown_sender: state.unknown_sender,
    };
    let recorded = match state.store.record_sms(&ctx, new).await {
        Ok(recorded) => recorded,
        Err(workos_core::Error::NotFound { kind }) if kind == PhoneId::KIND => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // Debug, not info: one line per message is a cost at volume; the event log has them all.
    tracing::debug!(message_sid = %message.message_sid, created = recorded.created, "inbound SMS");
    Ok(Some(twiml(empty_twiml())))
}

/// Inbound call: store it with an interaction and `call.received`; answer the greeting TwiML
/// (say, then record, with a recording callback).
#[utoipa::path(post, path = "/webhooks/twilio/voice", tag = "twilio", security(),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's voice parameters"),
    responses((status = 200, description = "TwiML", content_type = "text/xml"), (status = 403, description = "Invalid signature")))]
async fn inbound_voice(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let params = parse_form(&body);
    let outbound = param(&params, "Direction").is_some_and(|d| d.starts_with("outbound"));
    let ours = param(&params, if outbound { "From" } else { "To" });
    let phone = owner(&state, &[ours]).await?;
    let org = org_from_query(&uri).or(phone.as_ref().map(|p| p.org_id));
    verify(&state, org, &uri, &headers, &body, &params).await?;
    let call = InboundCall::from_params(&params).map_err(|e| bad_payload(&e))?;
    // Calls the engine placed come back here for their instructions, with the org in the URL
    // and Twilio's `Direction` saying so; whichever of the two requests records first, the
    // call is recorded the right way round.
    let direction = if outbound {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    let Some(org) = org else {
        tracing::warn!(call_sid = %call.call_sid, "inbound call to a number no org owns; ignored");
        return Ok(twiml(
            Twiml::new().say("This number is not in service.").build(),
        ));
    };
    let ctx = system(org, "twilio.voice", &headers);
    let new = NewCall {
        phone_id: phone.filter(|p| p.org_id == org).map(|p| p.id),
        call_sid: Some(call.call_sid.clone()),
        direction,
        from: call.from,
        to: call.to,
        status: call.call_status.as_str().to_owned(),
        person_id: None,
        unknown_sender: state.unknown_sender,
    };
    state.store.record_call(&ctx, new).await?;
    // The org rides in the callback URL, which Twilio signs, so the recording finds its call.
    let callback = format!(
        "{}/api/v1/webhooks/twilio/recording?org={org}",
        state.public_url.trim_end_matches('/')
    );
    Ok(twiml(
        Twiml::new()
            .say(&state.voice_greeting)
            .record(&callback)
            .build(),
    ))
}

/// Message status callback: updates an outbound message's status (unknown statuses are stored
/// as given) and emits `sms.status_changed`.
#[utoipa::path(post, path = "/webhooks/twilio/status", tag = "twilio", security(),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's status parameters"),
    responses((status = 204, description = "Recorded"), (status = 403, description = "Invalid signature")))]
async fn message_status(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let params = parse_form(&body);
    let numbers = [param(&params, "From"), param(&params, "To")];
    let org = org_of_callback(&state, &uri, &numbers).await?;
    verify(&state, org, &uri, &headers, &body, &params).await?;
    let status = MessageStatusCallback::from_params(&params).map_err(|e| bad_payload(&e))?;
    let Some(org) = org else {
        tracing::warn!(message_sid = %status.message_sid, "status callback for a message of no known org");
        return Ok(StatusCode::NO_CONTENT);
    };
    let ctx = system(org, "twilio.message_status", &headers);
    let error_code = status.error_code.map(|c| c.to_string());
    state
        .store
        .update_sms_status(
            &ctx,
            &status.message_sid,
            status.message_status.as_str(),
            error_code,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Call status callback: updates status and duration; emits `call.completed` (or
/// `call.status_changed`).
#[utoipa::path(post, path = "/webhooks/twilio/call-status", tag = "twilio", security(),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's call status parameters"),
    responses((status = 204, description = "Recorded"), (status = 403, description = "Invalid signature")))]
async fn call_status(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let params = parse_form(&body);
    let numbers = [param(&params, "To"), param(&params, "From")];
    let org = org_of_callback(&state, &uri, &numbers).await?;
    verify(&state, org, &uri, &headers, &body, &params).await?;
    let status = CallStatusCallback::from_params(&params).map_err(|e| bad_payload(&e))?;
    let Some(org) = org else {
        tracing::warn!(call_sid = %status.call_sid, "status callback for a call of no known org");
        return Ok(StatusCode::NO_CONTENT);
    };
    let ctx = system(org, "twilio.call_status", &headers);
    let duration = status.call_duration.or(status.duration);
    state
        .store
        .update_call_status(
            &ctx,
            &status.call_sid,
            status.call_status.as_str(),
            duration,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Recording callback: stores the recording's SID, URL and duration on the call.
#[utoipa::path(post, path = "/webhooks/twilio/recording", tag = "twilio", security(),
    params(("org" = OrgId, Query, description = "The org, as put in the callback URL by the engine")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's recording parameters"),
    responses((status = 204, description = "Recorded"), (status = 403, description = "Invalid signature")))]
async fn recording(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let params = parse_form(&body);
    let org = org_from_query(&uri);
    verify(&state, org, &uri, &headers, &body, &params).await?;
    let rec = RecordingCallback::from_params(&params).map_err(|e| bad_payload(&e))?;
    let Some(org) = org else {
        return Err(ApiError::invalid_field(
            "org",
            "the recording callback URL must name the org",
        ));
    };
    let ctx = system(org, "twilio.recording", &headers);
    state
        .store
        .record_recording(
            &ctx,
            &rec.call_sid,
            &rec.recording_sid,
            &rec.recording_url,
            rec.recording_duration,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The org of a callback: the one named in the signed URL the engine built, else the owner of
/// one of the numbers (callbacks configured outside the engine). The lookup only runs when
/// the URL names no org.
async fn org_of_callback(
    state: &AppState,
    uri: &axum::http::Uri,
    numbers: &[Option<&str>],
) -> ApiResult<Option<OrgId>> {
    match org_from_query(uri) {
        Some(org) => Ok(Some(org)),
        None => Ok(owner(state, numbers).await?.map(|p| p.org_id)),
    }
}

/// The `org` query parameter of a callback URL the engine built (covered by the signature).
fn org_from_query(uri: &axum::http::Uri) -> Option<OrgId> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "org")
        .and_then(|(_, v)| v.parse().ok())
}
