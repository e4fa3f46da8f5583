//! `/api/v1/integrations/twilio`: an org's own Twilio account, used instead of the platform's
//! for its webhooks' signatures and its outbound SMS and calls
//! ([`workos_twilio::TwilioAccounts`]). The auth token is write-only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::Integration;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Ctx};
use crate::state::AppState;

/// The routes.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_account, set_account, remove_account))
}

/// An org's own Twilio account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TwilioAccountBody {
    /// The account SID, `AC` + 32 hex digits.
    #[schema(pattern = "^AC[0-9a-fA-F]{32}$")]
    account_sid: String,
    /// The account's auth token; stored encrypted, never answered.
    #[schema(pattern = "^[A-Za-z0-9]{16,128}$")]
    auth_token: String,
}

impl std::fmt::Debug for TwilioAccountBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioAccountBody")
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

/// The org's own Twilio account (the integration, never the token); 404 when the org uses the
/// platform account.
#[utoipa::path(get, path = "/integrations/twilio", tag = "integrations",
    responses((status = 200, body = Integration), (status = 404, body = Problem)))]
async fn get_account(State(state): State<AppState>, Ctx(ctx): Ctx) -> ApiResult<Json<Integration>> {
    match state.twilio.get(&ctx).await? {
        Some(integration) => Ok(Json(integration)),
        None => Err(ApiError::not_found(
            "this org uses the platform's Twilio account",
        )),
    }
}

/// Use the org's own Twilio account (admin): its auth token validates the webhooks for the
/// org's numbers, and its SID and token send the org's SMS and calls. Setting another account
/// replaces the previous one. Twilio is asked first whether the SID and token work: `422`
/// when it refuses them, `503` (nothing changed) when it cannot be reached.
#[utoipa::path(put, path = "/integrations/twilio", tag = "integrations",
    request_body = TwilioAccountBody,
    responses((status = 200, body = Integration), (status = 403, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn set_account(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<TwilioAccountBody>,
) -> ApiResult<Json<Integration>> {
    let set = state.twilio.set(&ctx, &body.account_sid, &body.auth_token);
    Ok(Json(set.await?))
}

/// Stop using the org's own Twilio account (admin); the platform account applies again.
#[utoipa::path(delete, path = "/integrations/twilio", tag = "integrations",
    responses((status = 204, description = "Removed (or there was none)"),
        (status = 403, body = Problem)))]
async fn remove_account(State(state): State<AppState>, Ctx(ctx): Ctx) -> ApiResult<StatusCode> {
    state.twilio.remove(&ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
