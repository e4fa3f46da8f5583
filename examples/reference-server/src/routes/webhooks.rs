//! `/api/v1/webhooks`: endpoints (admins manage them) and their deliveries. The signing secret
//! is answered on create and on rotate, and never again. One delivery's attempts and replays
//! are under `/api/v1/webhook-deliveries` ([`super::webhook_deliveries`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{
    DeliveryFilter, DeliveryStatus, NewWebhook, TimeRange, Webhook, WebhookDelivery, WebhookPatch,
};
use workos_core::ids::WebhookId;
use workos_core::page::Page;
use workos_core::repo::WebhookRepo;

use super::{Paging, created, page};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::idempotency::RedactOnReplay;
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(recover))
}

/// An endpoint with its signing secret: store the secret now, it is not shown again.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedWebhook {
    #[serde(flatten)]
    webhook: Webhook,
    /// `whsec_…`: verify deliveries with it (Standard Webhooks).
    secret: String,
}

/// A new signing secret. The previous ones keep verifying for the grace period (24 h).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RotatedSecret {
    /// `whsec_…`.
    secret: String,
}

fn with_secret<T: Serialize>(location: Option<String>, status: StatusCode, body: T) -> Response {
    let mut response = match location {
        Some(location) => created(location, body),
        None => (status, Json(body)).into_response(),
    };
    response
        .extensions_mut()
        .insert(RedactOnReplay(&["secret"]));
    response
}

/// List endpoints.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", params(Paging),
    responses((status = 200, body = Page<Webhook>)))]
async fn list_webhooks(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Json<Page<Webhook>>> {
    Ok(Json(state.store.list_webhooks(&ctx, q.page()?).await?))
}

/// Register an endpoint (admin). Its URL must resolve to public addresses only.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_webhook(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewWebhook>,
) -> ApiResult<Response> {
    let (webhook, secret) = state.webhooks.create(&ctx, new).await?;
    let location = format!("/api/v1/webhooks/{}", webhook.id);
    Ok(with_secret(
        Some(location),
        StatusCode::CREATED,
        CreatedWebhook {
            webhook,
            secret: secret.expose().to_owned(),
        },
    ))
}

/// Get an endpoint.
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", params(("id" = WebhookId, Path)),
    responses((status = 200, body = Webhook), (status = 404, body = Problem)))]
async fn get_webhook(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<WebhookId>,
) -> ApiResult<Json<Webhook>> {
    Ok(Json(state.store.get_webhook(&ctx, id).await?))
}

/// Change an endpoint (admin); enabling it again clears its failure state.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", params(("id" = WebhookId, Path)), request_body = WebhookPatch,
    responses((status = 200, body = Webhook), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_webhook(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<WebhookId>,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> ApiResult<Json<Webhook>> {
    Ok(Json(state.webhooks.update(&ctx, id, patch).await?))
}

/// Delete an endpoint and its deliveries (admin).
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = WebhookId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_webhook(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<WebhookId>,
) -> ApiResult<StatusCode> {
    state.store.delete_webhook(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate the signing secret (admin): the answer holds the new secret, once.
#[utoipa::path(post, path = "/webhooks/{id}/rotate-secret", tag = "webhooks", params(("id" = WebhookId, Path)),
    responses((status = 200, body = RotatedSecret), (status = 404, body = Problem)))]
async fn rotate_secret(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<WebhookId>,
) -> ApiResult<Response> {
    let secret = state.webhooks.rotate_secret(&ctx, id).await?;
    Ok(with_secret(
        None,
        StatusCode::OK,
        RotatedSecret {
            secret: secret.expose().to_owned(),
        },
    ))
}

/// Filters and paging for deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListDeliveries {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// pending, retrying, succeeded, failed or skipped.
    status: Option<DeliveryStatus>,
    /// Of this event type.
    event_type: Option<String>,
    /// Created at or after.
    created_after: Option<DateTime<Utc>>,
    /// Created before.
    created_before: Option<DateTime<Utc>>,
}

/// List an endpoint's deliveries.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = WebhookId, Path), ListDeliveries),
    responses((status = 200, body = Page<WebhookDelivery>), (status = 404, body = Problem)))]
async fn list_deliveries(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<WebhookId>,
    ApiQuery(q): ApiQuery<ListDeliveries>,
) -> ApiResult<Json<Page<WebhookDelivery>>> {
    let filter = DeliveryFilter {
        status: q.status,
        event_type: q.event_type.filter(|t| !t.is_empty()),
        created: TimeRange {
            after: q.created_after,
            before: q.created_before,
        },
    };
    let page = page(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        state.store.list_deliveries(&ctx, id, filter, page).await?,
    ))
}

/// What to recover.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecoverBody {
    /// Failed deliveries created at or after this time are sent again.
    since: DateTime<Utc>,
}

/// How many deliveries were scheduled again.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Recovered {
    /// The number of failed deliveries scheduled again.
    recovered: u64,
}

/// Send again every failed delivery of the endpoint since a time (admin).
#[utoipa::path(post, path = "/webhooks/{id}/recover", tag = "webhooks", params(("id" = WebhookId, Path)), request_body = RecoverBody,
    responses((status = 202, body = Recovered), (status = 404, body = Problem)))]
async fn recover(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<WebhookId>,
    ApiJson(body): ApiJson<RecoverBody>,
) -> ApiResult<(StatusCode, Json<Recovered>)> {
    let recovered = state.store.recover_deliveries(&ctx, id, body.since).await?;
    Ok((StatusCode::ACCEPTED, Json(Recovered { recovered })))
}
