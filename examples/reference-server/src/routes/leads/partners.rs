//! `/api/v1/partners`: partners (admin writes), their signing secrets and their deliveries.

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
    LeadDelivery, LeadDeliveryFilter, LeadDeliveryStatus, NewPartner, Partner, PartnerFilter,
    PartnerPatch, TimeRange,
};
use workos_core::ids::PartnerId;
use workos_core::page::Page;
use workos_core::repo::{LeadDeliveryRepo, PartnerRepo};

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::idempotency::RedactOnReplay;
use crate::routes::{created, page, parse_filter};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_partners, create_partner))
        .routes(routes!(get_partner, update_partner, delete_partner))
        .routes(routes!(rotate_partner_secret))
        .routes(routes!(list_partner_deliveries))
}

/// Filters and paging for listing partners.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListPartners {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only active (`true`) or paused (`false`) partners.
    active: Option<bool>,
}

/// List partners.
#[utoipa::path(get, path = "/partners", tag = "partners", params(ListPartners),
    responses((status = 200, body = Page<Partner>), (status = 422, body = Problem)))]
async fn list_partners(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListPartners>,
) -> ApiResult<Json<Page<Partner>>> {
    let filter = PartnerFilter { active: q.active };
    Ok(Json(
        state
            .store
            .list_partners(&ctx, filter, page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}

/// A partner with its new webhook signing secret: store the secret now, it is not shown again.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PartnerWithSecret {
    #[serde(flatten)]
    partner: Partner,
    /// `whsec_…` (Standard Webhooks): verify the leads POSTed to the partner with it. Present
    /// when a webhook partner is created or a partner is switched to webhook delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_secret: Option<String>,
}

/// A partner's new signing secret. The previous ones keep verifying for the grace period (24 h).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RotatedPartnerSecret {
    /// `whsec_…`.
    signing_secret: String,
}

/// `body` as the answer, with its `signing_secret` never kept for idempotent replays.
fn with_signing_secret<T: Serialize>(location: Option<String>, body: T) -> Response {
    let mut response = match location {
        Some(location) => created(location, body),
        None => (StatusCode::OK, Json(body)).into_response(),
    };
    response
        .extensions_mut()
        .insert(RedactOnReplay(&["signing_secret"]));
    response
}

/// Create a partner (admin). A webhook partner's answer holds its `signing_secret`, once.
#[utoipa::path(post, path = "/partners", tag = "partners", request_body = NewPartner,
    responses((status = 201, body = PartnerWithSecret), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_partner(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewPartner>,
) -> ApiResult<Response> {
    let (partner, secret) = state.partners.create(&ctx, new).await?;
    Ok(with_signing_secret(
        Some(format!("/api/v1/partners/{}", partner.id)),
        PartnerWithSecret {
            partner,
            signing_secret: secret.map(|s| s.expose().to_owned()),
        },
    ))
}

/// Rotate a webhook partner's signing secret (admin): the answer holds the new secret, once.
#[utoipa::path(post, path = "/partners/{id}/rotate-secret", tag = "partners", params(("id" = PartnerId, Path)),
    responses((status = 200, body = RotatedPartnerSecret), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn rotate_partner_secret(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PartnerId>,
) -> ApiResult<Response> {
    let secret = state.partners.rotate_secret(&ctx, id).await?;
    Ok(with_signing_secret(
        None,
        RotatedPartnerSecret {
            signing_secret: secret.expose().to_owned(),
        },
    ))
}

/// Get a partner.
#[utoipa::path(get, path = "/partners/{id}", tag = "partners", params(("id" = PartnerId, Path)),
    responses((status = 200, body = Partner), (status = 404, body = Problem)))]
async fn get_partner(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PartnerId>,
) -> ApiResult<Json<Partner>> {
    Ok(Json(state.store.get_partner(&ctx, id).await?))
}

/// Update a partner (admin); absent fields are kept, `null` clears a cap. A partner switched to
/// webhook delivery gets a signing secret, in this answer only.
#[utoipa::path(patch, path = "/partners/{id}", tag = "partners", params(("id" = PartnerId, Path)),
    request_body = PartnerPatch,
    responses((status = 200, body = PartnerWithSecret), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_partner(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PartnerId>,
    ApiJson(patch): ApiJson<PartnerPatch>,
) -> ApiResult<Response> {
    let (partner, secret) = state.partners.update(&ctx, id, patch).await?;
    Ok(with_signing_secret(
        None,
        PartnerWithSecret {
            partner,
            signing_secret: secret.map(|s| s.expose().to_owned()),
        },
    ))
}

/// Delete a partner (admin; its deliveries stay).
#[utoipa::path(delete, path = "/partners/{id}", tag = "partners", params(("id" = PartnerId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_partner(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PartnerId>,
) -> ApiResult<StatusCode> {
    state.store.delete_partner(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Filters and paging for a partner's deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListPartnerDeliveries {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// With this status.
    #[param(value_type = Option<LeadDeliveryStatus>)]
    status: Option<String>,
    /// Recorded at or after.
    created_after: Option<DateTime<Utc>>,
    /// Recorded before.
    created_before: Option<DateTime<Utc>>,
}

/// List a partner's deliveries.
#[utoipa::path(get, path = "/partners/{id}/deliveries", tag = "partners",
    params(("id" = PartnerId, Path), ListPartnerDeliveries),
    responses((status = 200, body = Page<LeadDelivery>), (status = 404, body = Problem)))]
async fn list_partner_deliveries(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PartnerId>,
    ApiQuery(q): ApiQuery<ListPartnerDeliveries>,
) -> ApiResult<Json<Page<LeadDelivery>>> {
    let filter = LeadDeliveryFilter {
        status: parse_filter::<LeadDeliveryStatus>("status", q.status.as_deref())?,
        created: TimeRange {
            after: q.created_after,
            before: q.created_before,
        },
    };
    Ok(Json(
        state
            .store
            .list_partner_deliveries(&ctx, id, filter, page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}
