//! `/api/v1/phones`: provider numbers mapped to the org (admins manage them). A number is
//! registered only when the org's own Twilio account owns it (the engine asks Twilio, see
//! `workos_twilio::registration`); numbers of the platform's account are assigned by the
//! operator (`workos-server admin assign-phone`). Without the `twilio` feature numbers can be
//! read, changed and removed, not registered.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
#[cfg(feature = "twilio")]
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
#[cfg(feature = "twilio")]
use workos_core::domain::RegisterPhone;
use workos_core::domain::{Phone, PhonePatch, RingSettings};
use workos_core::ids::PhoneId;
use workos_core::page::Page;
use workos_core::repo::{CallSettingsRepo, PhoneRepo};

use super::Paging;
#[cfg(feature = "twilio")]
use super::created;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    #[cfg(feature = "twilio")]
    let router = OpenApiRouter::new().routes(routes!(list_phones, create_phone));
    #[cfg(not(feature = "twilio"))]
    let router = OpenApiRouter::new().routes(routes!(list_phones));
    router
        .routes(routes!(get_phone, update_phone, delete_phone))
        .routes(routes!(get_ringing, put_ringing))
}

/// Which members an inbound call to the number rings, and how (defaults: nobody, straight to
/// voicemail).
#[utoipa::path(get, path = "/phones/{id}/ringing", tag = "phones", params(("id" = PhoneId, Path)),
    responses((status = 200, body = RingSettings), (status = 404, body = Problem)))]
async fn get_ringing(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PhoneId>,
) -> ApiResult<Json<RingSettings>> {
    Ok(Json(state.store.ringing(&ctx, id).await?))
}

/// Replace the number's ringing (admins): `members` (in order, at most 10, each ringing on the
/// phone on their membership), `strategy` `sequential` or `simultaneous`, `timeout_seconds`
/// (5–600). When nobody answers the caller leaves a voicemail.
#[utoipa::path(put, path = "/phones/{id}/ringing", tag = "phones", params(("id" = PhoneId, Path)),
    request_body = RingSettings,
    responses((status = 200, body = RingSettings), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn put_ringing(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PhoneId>,
    ApiJson(settings): ApiJson<RingSettings>,
) -> ApiResult<Json<RingSettings>> {
    Ok(Json(state.store.set_ringing(&ctx, id, settings).await?))
}

/// List the org's numbers.
#[utoipa::path(get, path = "/phones", tag = "phones", params(Paging),
    responses((status = 200, body = Page<Phone>), (status = 422, body = Problem)))]
async fn list_phones(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Json<Page<Phone>>> {
    Ok(Json(state.store.list_phones(&ctx, q.page()?).await?))
}

/// Map a number of the org's own Twilio account to the org (admin), with the capabilities
/// Twilio reports. A number belongs to one org at most; numbers of the platform's account are
/// assigned by the operator. A number the org's account does not own is a 422 on `number`.
#[cfg(feature = "twilio")]
#[utoipa::path(post, path = "/phones", tag = "phones", request_body = RegisterPhone,
    responses((status = 201, body = Phone), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 503, body = Problem)))]
async fn create_phone(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(request): ApiJson<RegisterPhone>,
) -> ApiResult<Response> {
    let phone = state.twilio.register_phone(&ctx, request).await?;
    Ok(created(format!("/api/v1/phones/{}", phone.id), phone))
}

/// Get a number mapping.
#[utoipa::path(get, path = "/phones/{id}", tag = "phones", params(("id" = PhoneId, Path)),
    responses((status = 200, body = Phone), (status = 404, body = Problem)))]
async fn get_phone(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PhoneId>,
) -> ApiResult<Json<Phone>> {
    Ok(Json(state.store.get_phone(&ctx, id).await?))
}

/// Change a number's label or capabilities (admin).
#[utoipa::path(patch, path = "/phones/{id}", tag = "phones", params(("id" = PhoneId, Path)), request_body = PhonePatch,
    responses((status = 200, body = Phone), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_phone(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PhoneId>,
    ApiJson(patch): ApiJson<PhonePatch>,
) -> ApiResult<Json<Phone>> {
    Ok(Json(state.store.update_phone(&ctx, id, patch).await?))
}

/// Remove a number mapping (admin).
#[utoipa::path(delete, path = "/phones/{id}", tag = "phones", params(("id" = PhoneId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_phone(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PhoneId>,
) -> ApiResult<StatusCode> {
    state.store.delete_phone(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
