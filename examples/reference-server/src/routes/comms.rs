//! `/api/v1/sms` and `/api/v1/calls`: the records channels keep (read-only here).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{Call, CommsFilter, Direction, E164, HttpUrl, Sms, TimeRange};
use workos_core::ids::{CallId, PersonId, SmsId};
use workos_core::page::Page;
use workos_core::repo::CommsRepo;
use workos_core::tenant::TenantContext;
use workos_store::SqlStore;
use workos_twilio::engine::{Messenger, Recipient, SendSms, StartCall};

use super::{created, page};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sms))
        .routes(routes!(send_sms))
        .routes(routes!(get_sms))
        .routes(routes!(list_calls, start_call))
        .routes(routes!(get_call))
}

/// Filters and paging for messages and calls.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListComms {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// With this person.
    person_id: Option<PersonId>,
    /// `inbound` or `outbound`.
    direction: Option<Direction>,
    /// With this provider status.
    status: Option<String>,
    /// Happened at or after.
    occurred_after: Option<DateTime<Utc>>,
    /// Happened before.
    occurred_before: Option<DateTime<Utc>>,
}

impl ListComms {
    fn filter(&self) -> CommsFilter {
        CommsFilter {
            person_id: self.person_id,
            direction: self.direction,
            status: self.status.clone().filter(|s| !s.is_empty()),
            occurred: TimeRange {
                after: self.occurred_after,
                before: self.occurred_before,
            },
        }
    }
}

/// List SMS/MMS messages.
#[utoipa::path(get, path = "/sms", tag = "sms", params(ListComms),
    responses((status = 200, body = Page<Sms>), (status = 422, body = Problem)))]
async fn list_sms(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListComms>,
) -> ApiResult<Json<Page<Sms>>> {
    Ok(Json(
        state
            .store
            .list_sms(&ctx, q.filter(), page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}

/// Get a message.
#[utoipa::path(get, path = "/sms/{id}", tag = "sms", params(("id" = SmsId, Path)),
    responses((status = 200, body = Sms), (status = 404, body = Problem)))]
async fn get_sms(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<SmsId>,
) -> ApiResult<Json<Sms>> {
    Ok(Json(state.store.get_sms(&ctx, id).await?))
}

/// List calls.
#[utoipa::path(get, path = "/calls", tag = "calls", params(ListComms),
    responses((status = 200, body = Page<Call>), (status = 422, body = Problem)))]
async fn list_calls(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListComms>,
) -> ApiResult<Json<Page<Call>>> {
    Ok(Json(
        state
            .store
            .list_calls(&ctx, q.filter(), page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}

/// Get a call.
#[utoipa::path(get, path = "/calls/{id}", tag = "calls", params(("id" = CallId, Path)),
    responses((status = 200, body = Call), (status = 404, body = Problem)))]
async fn get_call(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<CallId>,
) -> ApiResult<Json<Call>> {
    Ok(Json(state.store.get_call(&ctx, id).await?))
}

/// An SMS to send: `to` or `person_id`, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendSmsBody {
    /// Recipient number (E.164).
    #[serde(default)]
    to: Option<E164>,
    /// Or a person of the org, at their primary phone.
    #[serde(default)]
    person_id: Option<PersonId>,
    /// Text, up to 1,600 characters.
    #[serde(default)]
    body: String,
    /// One of the org's numbers (default: the org's first SMS-capable number).
    #[serde(default)]
    from: Option<E164>,
    /// Media for MMS.
    #[serde(default)]
    media_urls: Vec<HttpUrl>,
}

/// A call to place: `to` or `person_id`, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartCallBody {
    /// Callee (E.164).
    #[serde(default)]
    to: Option<E164>,
    /// Or a person of the org, at their primary phone.
    #[serde(default)]
    person_id: Option<PersonId>,
    /// One of the org's numbers (default: the org's first voice-capable number).
    #[serde(default)]
    from: Option<E164>,
}

fn recipient(to: Option<E164>, person_id: Option<PersonId>) -> ApiResult<Recipient> {
    match (to, person_id) {
        (Some(n), None) => Ok(Recipient::Number(n)),
        (None, Some(p)) => Ok(Recipient::Person(p)),
        (Some(_), Some(_)) => Err(ApiError::invalid_field(
            "person_id",
            "give to or person_id, not both",
        )),
        (None, None) => Err(ApiError::invalid_field("to", "is required (or person_id)")),
    }
}

/// A send whose request left but whose answer never came may have happened: tell the client
/// not to resend, rather than the generic "retry later".
fn unknown_outcome(e: workos_core::Error) -> ApiError {
    if workos_twilio::client::is_outcome_unknown(&e) {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "outcome-unknown",
            "Twilio did not answer in time: it may have sent this; do not resend blindly",
        )
    } else {
        e.into()
    }
}

/// The org's messenger: through its own Twilio account when it has one, else the platform's.
async fn messenger(state: &AppState, ctx: &TenantContext) -> ApiResult<Messenger<SqlStore>> {
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Twilio is not configured on this server",
        )
    };
    if let Some(account) = state.twilio_accounts.of(ctx.org_id()).await? {
        let client = Arc::new(account.client.clone().ok_or_else(unavailable)?);
        return Ok(Messenger::new(
            Arc::new(state.store.clone()),
            client.clone(),
            client,
            &state.public_url,
        ));
    }
    state.messenger.clone().ok_or_else(unavailable)
}

/// Send an SMS through Twilio from one of the org's numbers, and record it.
#[utoipa::path(post, path = "/sms/send", tag = "sms", request_body = SendSmsBody,
    responses((status = 201, body = Sms), (status = 422, body = Problem), (status = 502, body = Problem),
        (status = 503, body = Problem)))]
async fn send_sms(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<SendSmsBody>,
) -> ApiResult<Response> {
    let request = SendSms {
        to: recipient(body.to, body.person_id)?,
        from: body.from,
        body: body.body,
        media_urls: body.media_urls,
    };
    let sms = messenger(&state, &ctx)
        .await?
        .send_sms(&ctx, request)
        .await
        .map_err(unknown_outcome)?;
    Ok(created(format!("/api/v1/sms/{}", sms.id), sms))
}

/// Place a call through Twilio from one of the org's numbers, and record it.
#[utoipa::path(post, path = "/calls", tag = "calls", request_body = StartCallBody,
    responses((status = 201, body = Call), (status = 422, body = Problem), (status = 502, body = Problem),
        (status = 503, body = Problem)))]
async fn start_call(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<StartCallBody>,
) -> ApiResult<Response> {
    let request = StartCall {
        to: recipient(body.to, body.person_id)?,
        from: body.from,
    };
    let call = messenger(&state, &ctx)
        .await?
        .start_call(&ctx, request)
        .await
        .map_err(unknown_outcome)?;
    Ok(created(format!("/api/v1/calls/{}", call.id), call))
}
