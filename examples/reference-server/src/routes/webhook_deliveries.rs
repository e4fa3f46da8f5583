//! `/api/v1/webhook-deliveries`: one delivery of a webhook endpoint, its attempts, and sending
//! it again.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{DeliveryAttempt, WebhookDelivery};
use workos_core::ids::WebhookDeliveryId;
use workos_core::repo::WebhookRepo;

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiPath, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_attempts))
        .routes(routes!(replay))
}

/// A delivery's attempts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Attempts {
    /// Oldest first.
    data: Vec<DeliveryAttempt>,
}

/// List a delivery's attempts: time, status code or network error, latency, response start.
#[utoipa::path(get, path = "/webhook-deliveries/{id}/attempts", tag = "webhooks", params(("id" = WebhookDeliveryId, Path)),
    responses((status = 200, body = Attempts), (status = 404, body = Problem)))]
async fn list_attempts(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<WebhookDeliveryId>,
) -> ApiResult<Json<Attempts>> {
    Ok(Json(Attempts {
        data: state.store.list_attempts(&ctx, id).await?,
    }))
}

/// Send a delivery again now, whatever its status (admin).
#[utoipa::path(post, path = "/webhook-deliveries/{id}/replay", tag = "webhooks", params(("id" = WebhookDeliveryId, Path)),
    responses((status = 202, body = WebhookDelivery), (status = 404, body = Problem)))]
async fn replay(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<WebhookDeliveryId>,
) -> ApiResult<(StatusCode, Json<WebhookDelivery>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(state.store.replay_delivery(&ctx, id).await?),
    ))
}
