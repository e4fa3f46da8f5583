//! `/api/v1/phones`: provider numbers mapped to the org (admins manage them).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{NewPhone, Phone, PhonePatch};
use workos_core::ids::PhoneId;
use workos_core::page::Page;
use workos_core::repo::PhoneRepo;

use super::{Paging, created};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_phones, create_phone))
        .routes(routes!(get_phone, update_phone, delete_phone))
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

/// Map a number to the org (admin). A number belongs to one org at most.
#[utoipa::path(post, path = "/phones", tag = "phones", request_body = NewPhone,
    responses((status = 201, body = Phone), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_phone(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewPhone>,
) -> ApiResult<Response> {
    let phone = state.store.create_phone(&ctx, new).await?;
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
