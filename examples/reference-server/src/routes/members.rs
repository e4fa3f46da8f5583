//! `/api/v1/members`: the org's users and their roles (owners manage them).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{Member, NewMember};
use workos_core::ids::MemberId;
use workos_core::page::Page;
use workos_core::repo::MemberRepo;
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
