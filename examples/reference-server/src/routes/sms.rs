//! `/api/v1/sms`: the messages the org sent and received, and sending one through Twilio.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{Sms, SmsOptOut, SmsSettings};
use workos_core::ids::SmsId;
use workos_core::page::Page;
use workos_core::repo::{CommsRepo, OptOutRepo};

use super::{ListComms, page};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes (sending with the `twilio` feature).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new().routes(routes!(list_sms));
    #[cfg(feature = "twilio")]
    let router = router.routes(routes!(send::send_sms));
    router
        .routes(routes!(list_opt_outs))
        .routes(routes!(get_sms_settings, put_sms_settings))
        .routes(routes!(get_sms))
}

/// Paging for the opt-out list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListOptOuts {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `true`: the numbers opted out now; `false`: those that opted back in.
    opted_out: Option<bool>,
}

/// List the numbers whose SMS consent changed: opted out (STOP, or Twilio's 21610) or back in
/// (START), with when, how and the keyword.
#[utoipa::path(get, path = "/sms/opt-outs", tag = "sms", params(ListOptOuts),
    responses((status = 200, body = Page<SmsOptOut>), (status = 422, body = Problem)))]
async fn list_opt_outs(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListOptOuts>,
) -> ApiResult<Json<Page<SmsOptOut>>> {
    let page = page(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        state.store.list_opt_outs(&ctx, q.opted_out, page).await?,
    ))
}

/// The org's SMS settings: the reply to HELP and INFO.
#[utoipa::path(get, path = "/sms/settings", tag = "sms",
    responses((status = 200, body = SmsSettings)))]
async fn get_sms_settings(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
) -> ApiResult<Json<SmsSettings>> {
    Ok(Json(state.store.sms_settings(&ctx).await?))
}

/// Replace the org's SMS settings (admins). `help_text` (1–320 characters, or `null` for the
/// default naming the org) answers HELP and INFO.
#[utoipa::path(put, path = "/sms/settings", tag = "sms", request_body = SmsSettings,
    responses((status = 200, body = SmsSettings), (status = 422, body = Problem)))]
async fn put_sms_settings(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(settings): ApiJson<SmsSettings>,
) -> ApiResult<Json<SmsSettings>> {
    Ok(Json(state.store.set_sms_settings(&ctx, settings).await?))
}

/// List SMS/MMS messages.
#[utoipa::path(get, path = "/sms", tag = "sms", params(ListComms),
    responses((status = 200, body = Page<Sms>), (status = 422, body = Problem)))]
async fn list_sms(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListComms>,
) -> ApiResult<Json<Page<Sms>>> {
    let (filter, page) = q.split()?;
    Ok(Json(state.store.list_sms(&ctx, filter, page).await?))
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

#[cfg(feature = "twilio")]
pub(crate) mod send {
    //! `POST /api/v1/sms/send`.

    use axum::extract::State;
    use axum::response::Response;
    use serde::Deserialize;
    use utoipa::ToSchema;
    use workos_core::domain::{E164, HttpUrl, Sms};
    use workos_core::ids::PersonId;
    use workos_twilio::engine::{Recipient, SendSms};

    use crate::error::{ApiError, ApiResult, Problem};
    use crate::extract::{ApiJson, Ctx};
    use crate::routes::created;
    use crate::state::AppState;

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

    /// Send an SMS through Twilio from one of the org's numbers, and record it.
    #[utoipa::path(post, path = "/sms/send", tag = "sms", request_body = SendSmsBody,
        responses((status = 201, body = Sms), (status = 422, body = Problem), (status = 502, body = Problem),
            (status = 503, body = Problem)))]
    pub(crate) async fn send_sms(
        State(state): State<AppState>,
        Ctx(ctx): Ctx,
        ApiJson(body): ApiJson<SendSmsBody>,
    ) -> ApiResult<Response> {
        let request = SendSms {
            to: Recipient::from_parts(body.to, body.person_id)?,
            from: body.from,
            body: body.body,
            media_urls: body.media_urls,
        };
        let messenger = state.twilio.messenger(&ctx).await?;
        let sms = messenger
            .ok_or_else(twilio_not_configured)?
            .send_sms(&ctx, request)
            .await
            .map_err(from_send)?;
        Ok(created(format!("/api/v1/sms/{}", sms.id), sms))
    }

    /// 409: no Twilio account can send for the org.
    pub(crate) fn twilio_not_configured() -> ApiError {
        ApiError::not_configured(
            "Twilio is not configured: connect the org's account (PUT /api/v1/integrations/twilio) \
             or set the server's TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
        )
    }

    /// A failed Twilio send: as any engine error, except that a send whose request left but
    /// whose answer never came may have happened, so the client is told not to resend (a 504)
    /// rather than the generic "retry later".
    pub(crate) fn from_send(e: workos_core::Error) -> ApiError {
        if workos_twilio::client::is_outcome_unknown(&e) {
            ApiError::new(
                axum::http::StatusCode::GATEWAY_TIMEOUT,
                "outcome-unknown",
                "Twilio did not answer in time: it may have sent this; do not resend blindly",
            )
        } else {
            e.into()
        }
    }
}
