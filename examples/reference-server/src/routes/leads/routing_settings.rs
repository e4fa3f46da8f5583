//! `/api/v1/routing-settings` (admin): how leads are deduplicated and routed, per vertical or
//! org-wide.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{RoutingSettings, RoutingSettingsInput};
use workos_core::repo::RoutingRepo;
use workos_core::tenant::Access;

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Ctx};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_routing_settings, put_routing_settings))
}

/// Which settings.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SettingsScope {
    /// A vertical's own settings; absent for the org-wide ones.
    vertical: Option<String>,
}

/// The routing settings in force for a vertical (or the org) (admin).
#[utoipa::path(get, path = "/routing-settings", tag = "leads", params(SettingsScope),
    responses((status = 200, body = RoutingSettings), (status = 403, body = Problem)))]
async fn get_routing_settings(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<SettingsScope>,
) -> ApiResult<Json<RoutingSettings>> {
    ctx.authorize(Access::Manage)?;
    Ok(Json(
        state.store.get_routing_settings(&ctx, q.vertical).await?,
    ))
}

/// Replace the routing settings of a vertical (or the org) (admin); absent fields take their
/// defaults.
#[utoipa::path(put, path = "/routing-settings", tag = "leads", params(SettingsScope),
    request_body = RoutingSettingsInput,
    responses((status = 200, body = RoutingSettings), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_routing_settings(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<SettingsScope>,
    ApiJson(input): ApiJson<RoutingSettingsInput>,
) -> ApiResult<Json<RoutingSettings>> {
    Ok(Json(
        state
            .store
            .put_routing_settings(&ctx, q.vertical, input)
            .await?,
    ))
}
