//! `/api/v1/calls`: the org's calls, and placing one through Twilio.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{Call, CallSettings};
use workos_core::ids::CallId;
use workos_core::page::Page;
use workos_core::repo::{CallSettingsRepo, CommsRepo};

use super::ListComms;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes (placing calls with the `twilio` feature).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    #[cfg(feature = "twilio")]
    let router = OpenApiRouter::new().routes(routes!(list_calls, start::start_call));
    #[cfg(not(feature = "twilio"))]
    let router = OpenApiRouter::new().routes(routes!(list_calls));
    router
        .routes(routes!(get_call_settings, put_call_settings))
        .routes(routes!(get_call))
}

/// The org's call settings: whether click-to-call calls are recorded.
#[utoipa::path(get, path = "/calls/settings", tag = "calls",
    responses((status = 200, body = CallSettings)))]
async fn get_call_settings(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
) -> ApiResult<Json<CallSettings>> {
    Ok(Json(state.store.call_settings(&ctx).await?))
}

/// Replace the org's call settings (admins). `record_calls`: record both legs of click-to-call
/// calls (tell callers: recording consent is the org's to obtain).
#[utoipa::path(put, path = "/calls/settings", tag = "calls", request_body = CallSettings,
    responses((status = 200, body = CallSettings), (status = 422, body = Problem)))]
async fn put_call_settings(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(settings): ApiJson<CallSettings>,
) -> ApiResult<Json<CallSettings>> {
    Ok(Json(state.store.set_call_settings(&ctx, settings).await?))
}

/// List calls.
#[utoipa::path(get, path = "/calls", tag = "calls", params(ListComms),
    responses((status = 200, body = Page<Call>), (status = 422, body = Problem)))]
async fn list_calls(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListComms>,
) -> ApiResult<Json<Page<Call>>> {
    let (filter, page) = q.split()?;
    Ok(Json(state.store.list_calls(&ctx, filter, page).await?))
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

#[cfg(feature = "twilio")]
pub(crate) mod start {
    //! `POST /api/v1/calls`.

    use axum::extract::State;
    use axum::response::Response;
    use serde::Deserialize;
    use utoipa::ToSchema;
    use workos_core::domain::{Call, E164};
    use workos_core::ids::{MemberId, PersonId};
    use workos_twilio::engine::{Agent, Recipient, StartCall};

    use crate::error::{ApiResult, Problem};
    use crate::extract::{ApiJson, Ctx};
    use crate::routes::created;
    use crate::state::AppState;

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
        /// Click-to-call: the calling member, at the phone on their membership (`PUT
        /// /api/v1/members/{id}/phone`). Twilio rings the rep first from the org's number; when
        /// the rep answers, it dials `to` (or the person) with the org's number as caller id,
        /// recording both legs when the org records calls.
        #[serde(default)]
        member_id: Option<MemberId>,
        /// Click-to-call to a phone (E.164) instead of a member's; not with `member_id`.
        #[serde(default)]
        agent_phone: Option<E164>,
    }

    /// Place a call through Twilio from one of the org's numbers, and record it.
    #[utoipa::path(post, path = "/calls", tag = "calls", request_body = StartCallBody,
        responses((status = 201, body = Call), (status = 422, body = Problem), (status = 502, body = Problem),
            (status = 503, body = Problem)))]
    pub(crate) async fn start_call(
        State(state): State<AppState>,
        Ctx(ctx): Ctx,
        ApiJson(body): ApiJson<StartCallBody>,
    ) -> ApiResult<Response> {
        let request = StartCall {
            to: Recipient::from_parts(body.to, body.person_id)?,
            from: body.from,
            agent: Agent::from_parts(body.member_id, body.agent_phone)?,
        };
        let messenger = state.twilio.messenger(&ctx).await?;
        let call = messenger
            .ok_or_else(crate::routes::sms::send::twilio_not_configured)?
            .start_call(&ctx, request)
            .await
            .map_err(crate::routes::sms::send::from_send)?;
        Ok(created(format!("/api/v1/calls/{}", call.id), call))
    }
}
