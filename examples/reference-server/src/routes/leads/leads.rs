//! `/api/v1/leads`: capture and route, list, read, a lead's deliveries, the summary.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{
    Lead, LeadDelivery, LeadFilter, LeadPatch, LeadStatus, LeadSummary, NewLead, TimeRange,
};
use workos_core::ids::{LeadId, PartnerId};
use workos_core::page::Page;
use workos_core::repo::{LeadDeliveryRepo, LeadRepo, RoutingRepo};

use super::Paging;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::routes::{created, page, parse_filter, sort_page};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_leads, create_lead))
        .routes(routes!(lead_summary))
        .routes(routes!(get_lead, update_lead, delete_lead))
        .routes(routes!(list_lead_deliveries))
}

/// Filters and paging for listing leads.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListLeads {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// The order: a field ascending, or descending with a `-` in front (JSON:API style); ties
    /// break by id in the same direction. Default `created_at` (creation order). A `cursor`
    /// continues only the order it was made in.
    #[param(schema_with = crate::routes::sort_schema::<Lead>)]
    sort: Option<String>,
    /// With this status.
    #[param(value_type = Option<LeadStatus>)]
    status: Option<String>,
    /// Routed to this partner.
    partner_id: Option<PartnerId>,
    /// With this last-touch `utm_source`.
    utm_source: Option<String>,
    /// With this last-touch `utm_campaign`.
    utm_campaign: Option<String>,
    /// Captured at or after.
    created_after: Option<DateTime<Utc>>,
    /// Captured before.
    created_before: Option<DateTime<Utc>>,
}

/// List leads.
#[utoipa::path(get, path = "/leads", tag = "leads", params(ListLeads),
    responses((status = 200, body = Page<Lead>), (status = 422, body = Problem)))]
async fn list_leads(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListLeads>,
) -> ApiResult<Json<Page<Lead>>> {
    let filter = LeadFilter {
        status: parse_filter::<LeadStatus>("status", q.status.as_deref())?,
        partner_id: q.partner_id,
        utm_source: q.utm_source.filter(|s| !s.is_empty()),
        utm_campaign: q.utm_campaign.filter(|s| !s.is_empty()),
        created: TimeRange {
            after: q.created_after,
            before: q.created_before,
        },
    };
    Ok(Json(
        state
            .store
            .list_leads(
                &ctx,
                filter,
                sort_page::<Lead>(q.limit, q.cursor.as_deref(), q.sort.as_deref())?,
            )
            .await?,
    ))
}

/// Capture a lead and route it. The answer's `status` tells what became of it: `routed`,
/// `queued` (every partner buying it is capped or paused), `unrouted`, or `duplicate` (with
/// `duplicate_of`; duplicates are never routed).
#[utoipa::path(post, path = "/leads", tag = "leads", request_body = NewLead,
    responses((status = 201, body = Lead), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_lead(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewLead>,
) -> ApiResult<Response> {
    // Captured (deduplicated under the routing settings' policy for its vertical) and routed
    // in one transaction; a duplicate is stored but never routed.
    let lead = state
        .store
        .capture_and_route_lead(&ctx, new, Utc::now())
        .await?
        .lead;
    Ok(created(format!("/api/v1/leads/{}", lead.id), lead))
}

/// Get a lead.
#[utoipa::path(get, path = "/leads/{id}", tag = "leads", params(("id" = LeadId, Path)),
    responses((status = 200, body = Lead), (status = 404, body = Problem)))]
async fn get_lead(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadId>,
) -> ApiResult<Json<Lead>> {
    Ok(Json(state.store.get_lead(&ctx, id).await?))
}

/// Update a lead's status or notes; absent fields are kept, `notes: null` clears them. A status
/// change emits `lead.status_changed`, a notes change `lead.updated`.
#[utoipa::path(patch, path = "/leads/{id}", tag = "leads", params(("id" = LeadId, Path)),
    request_body = LeadPatch,
    responses((status = 200, body = Lead), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_lead(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadId>,
    ApiJson(patch): ApiJson<LeadPatch>,
) -> ApiResult<Json<Lead>> {
    Ok(Json(state.store.update_lead(&ctx, id, patch).await?))
}

/// Delete a lead (soft delete): it then reads as not found. Emits `lead.deleted`.
#[utoipa::path(delete, path = "/leads/{id}", tag = "leads", params(("id" = LeadId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_lead(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadId>,
) -> ApiResult<StatusCode> {
    state.store.delete_lead(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a lead's deliveries.
#[utoipa::path(get, path = "/leads/{id}/deliveries", tag = "leads",
    params(("id" = LeadId, Path), Paging),
    responses((status = 200, body = Page<LeadDelivery>), (status = 404, body = Problem)))]
async fn list_lead_deliveries(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadId>,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Json<Page<LeadDelivery>>> {
    Ok(Json(
        state
            .store
            .list_lead_deliveries(&ctx, id, page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}

/// The summary's range.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SummaryRange {
    /// From (inclusive).
    from: Option<DateTime<Utc>>,
    /// To (exclusive).
    to: Option<DateTime<Utc>>,
}

/// Leads and deliveries over a range, with acceptance and return rates per partner and per
/// `utm_source` / `utm_campaign`.
#[utoipa::path(get, path = "/leads/summary", tag = "leads", params(SummaryRange),
    responses((status = 200, body = LeadSummary), (status = 422, body = Problem)))]
async fn lead_summary(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<SummaryRange>,
) -> ApiResult<Json<LeadSummary>> {
    let range = TimeRange {
        after: q.from,
        before: q.to,
    };
    Ok(Json(state.store.lead_summary(&ctx, range).await?))
}
