//! `/api/v1/members`: the org's users and their roles (owners manage them).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{E164, Member, NewMember};
use workos_core::ids::MemberId;
use workos_core::page::Page;
use workos_core::repo::{CallSettingsRepo, MemberRepo};
use workos_core::tenant::Role;

use super::{Paging, created};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members, create_member))
        .routes(routes!(get_member, update_member, delete_member))
        .routes(routes!(get_member_phone, put_member_phone))
}

/// The phone a member takes click-to-call calls on.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberPhone {
    /// E.164, or `null` when none is set.
    phone: Option<E164>,
}

/// The member's phone for click-to-call (`POST /api/v1/calls` with `member_id` rings it).
#[utoipa::path(get, path = "/members/{id}/phone", tag = "members", params(("id" = MemberId, Path)),
    responses((status = 200, body = MemberPhone), (status = 404, body = Problem)))]
async fn get_member_phone(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<MemberId>,
) -> ApiResult<Json<MemberPhone>> {
    state.store.get_member(&ctx, id).await?;
    let phone = state.store.member_phone(&ctx, id).await?;
    Ok(Json(MemberPhone { phone }))
}

/// Set (or, with `null`, clear) the member's phone for click-to-call (admins).
#[utoipa::path(put, path = "/members/{id}/phone", tag = "members", params(("id" = MemberId, Path)),
    request_body = MemberPhone,
    responses((status = 200, body = MemberPhone), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn put_member_phone(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<MemberId>,
    ApiJson(body): ApiJson<MemberPhone>,
) -> ApiResult<Json<MemberPhone>> {
    let phone = state.store.set_member_phone(&ctx, id, body.phone).await?;
    Ok(Json(MemberPhone { phone }))
}

/// A change to a member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberPatch {
    /// The new role.
    role: Role,
}

/// List members.
#[utoipa::path(get, path = "/members", tag = "members", params(Paging),
    responses((status = 200, body = Page<Member>), (status = 422, body = Problem)))]
async fn list_members(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Json<Page<Member>>> {
    Ok(Json(state.store.list_members(&ctx, q.page()?).await?))
}

/// Add a user to the org (owner).
#[utoipa::path(post, path = "/members", tag = "members", request_body = NewMember,
    responses((status = 201, body = Member), (status = 403, body = Problem), (status = 409, body = Problem)))]
async fn create_member(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewMember>,
) -> ApiResult<Response> {
    let member = state.store.create_member(&ctx, new).await?;
    Ok(created(format!("/api/v1/members/{}", member.id), member))
}

/// Get a member.
#[utoipa::path(get, path = "/members/{id}", tag = "members", params(("id" = MemberId, Path)),
    responses((status = 200, body = Member), (status = 404, body = Problem)))]
async fn get_member(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<MemberId>,
) -> ApiResult<Json<Member>> {
    Ok(Json(state.store.get_member(&ctx, id).await?))
}

/// Change a member's role (owner). The last owner cannot be demoted.
#[utoipa::path(patch, path = "/members/{id}", tag = "members", params(("id" = MemberId, Path)), request_body = MemberPatch,
    responses((status = 200, body = Member), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn update_member(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<MemberId>,
    ApiJson(patch): ApiJson<MemberPatch>,
) -> ApiResult<Json<Member>> {
    Ok(Json(
        state.store.set_member_role(&ctx, id, patch.role).await?,
    ))
}

/// Remove a member (owner). The last owner cannot be removed.
#[utoipa::path(delete, path = "/members/{id}", tag = "members", params(("id" = MemberId, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_member(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<MemberId>,
) -> ApiResult<StatusCode> {
    state.store.delete_member(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
