//! `/api/v1/org`: the caller's own org (every member reads it; owners rename it).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::Org;
use workos_core::repo::OrgRepo;

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_org, update_org))
}

/// A change to the org.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrgPatch {
    /// The new display name, 1–200 characters, not blank (trimmed).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
    )]
    name: String,
}

/// The caller's org.
#[utoipa::path(get, path = "/org", tag = "org",
    responses((status = 200, body = Org), (status = 404, body = Problem)))]
async fn get_org(State(state): State<AppState>, Ctx(ctx): Ctx) -> ApiResult<Json<Org>> {
    Ok(Json(state.store.get_org(&ctx).await?))
}

/// Rename the caller's org (owners). Emits `org.updated`.
#[utoipa::path(patch, path = "/org", tag = "org", request_body = OrgPatch,
    responses((status = 200, body = Org), (status = 422, body = Problem)))]
async fn update_org(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(patch): ApiJson<OrgPatch>,
) -> ApiResult<Json<Org>> {
    Ok(Json(state.store.rename_org(&ctx, patch.name).await?))
}
