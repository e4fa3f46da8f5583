//! `/api/v1/lead-deliveries/{id}`: a delivery, and the partner's callbacks (accept, reject,
//! return).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{DeliveryCallback, LeadDelivery, ReturnReason};
use workos_core::ids::LeadDeliveryId;
use workos_core::repo::{LeadDeliveryRepo, RoutingRepo};
use workos_core::tenant::TenantContext;

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, Ctx, parse_json};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_lead_delivery))
        .routes(routes!(accept_delivery))
        .routes(routes!(reject_delivery))
        .routes(routes!(return_delivery))
}

/// Get a delivery.
#[utoipa::path(get, path = "/lead-deliveries/{id}", tag = "leads",
    params(("id" = LeadDeliveryId, Path)),
    responses((status = 200, body = LeadDelivery), (status = 404, body = Problem)))]
async fn get_lead_delivery(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadDeliveryId>,
) -> ApiResult<Json<LeadDelivery>> {
    Ok(Json(state.store.get_lead_delivery(&ctx, id).await?))
}

/// An accept or reject: an optional note.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallbackNote {
    /// A note, up to 2,000 characters.
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*$")]
    note: Option<String>,
}

/// A return: why, and an optional note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReturnBody {
    /// `bad_contact_info`, `duplicate`, `out_of_area` or `other`.
    reason: ReturnReason,
    /// A note, up to 2,000 characters.
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*$")]
    note: Option<String>,
}

/// An optional JSON body: empty means the type's default.
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    // No body, or `null` (as the document allows): the defaults.
    let text = body.trim_ascii();
    if text.is_empty() || text == b"null" {
        Ok(T::default())
    } else {
        parse_json(body)
    }
}

async fn callback(
    state: &AppState,
    ctx: &TenantContext,
    id: LeadDeliveryId,
    callback: DeliveryCallback,
) -> ApiResult<Json<LeadDelivery>> {
    Ok(Json(
        state
            .store
            .delivery_callback(ctx, id, callback, Utc::now())
            .await?,
    ))
}

/// The partner accepted (bought) a delivered lead.
#[utoipa::path(post, path = "/lead-deliveries/{id}/accept", tag = "leads",
    params(("id" = LeadDeliveryId, Path)), request_body(content = Option<CallbackNote>),
    responses((status = 200, body = LeadDelivery), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn accept_delivery(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadDeliveryId>,
    body: Bytes,
) -> ApiResult<Json<LeadDelivery>> {
    let CallbackNote { note } = optional_json(&body)?;
    callback(&state, &ctx, id, DeliveryCallback::Accept { note }).await
}

/// The partner rejected a delivered lead.
#[utoipa::path(post, path = "/lead-deliveries/{id}/reject", tag = "leads",
    params(("id" = LeadDeliveryId, Path)), request_body(content = Option<CallbackNote>),
    responses((status = 200, body = LeadDelivery), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn reject_delivery(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadDeliveryId>,
    body: Bytes,
) -> ApiResult<Json<LeadDelivery>> {
    let CallbackNote { note } = optional_json(&body)?;
    callback(&state, &ctx, id, DeliveryCallback::Reject { note }).await
}

/// The partner returned a lead within the return window (default 7 days after routing); it
/// stops counting toward the partner's caps. After the window: 409 on `return_window`.
#[utoipa::path(post, path = "/lead-deliveries/{id}/return", tag = "leads",
    params(("id" = LeadDeliveryId, Path)), request_body = ReturnBody,
    responses((status = 200, body = LeadDelivery), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn return_delivery(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadDeliveryId>,
    ApiJson(body): ApiJson<ReturnBody>,
) -> ApiResult<Json<LeadDelivery>> {
    let cb = DeliveryCallback::Return {
        reason: body.reason,
        note: body.note,
    };
    callback(&state, &ctx, id, cb).await
}
