//! `/api/v1/companies`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{Company, CompanyFilter, CompanyPatch, NewCompany, TimeRange};
use workos_core::ids::CompanyId;
use workos_core::page::Page;
use workos_core::repo::CompanyRepo;

use super::{created, sort_page};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_companies, create_company))
        .routes(routes!(get_company, update_company, delete_company))
}

/// Filters and paging for listing companies.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListCompanies {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// The order: a field ascending, or descending with a `-` in front (JSON:API style); ties
    /// break by id in the same direction. Default `created_at` (creation order). A `cursor`
    /// continues only the order it was made in.
    #[param(schema_with = crate::routes::sort_schema::<Company>)]
    sort: Option<String>,
    /// Name contains this (case-insensitive).
    name: Option<String>,
    /// Domain equals this.
    domain: Option<String>,
    /// Created at or after.
    created_after: Option<DateTime<Utc>>,
    /// Created before.
    created_before: Option<DateTime<Utc>>,
}

/// List companies.
#[utoipa::path(get, path = "/companies", tag = "companies", params(ListCompanies),
    responses((status = 200, body = Page<Company>), (status = 422, body = Problem)))]
async fn list_companies(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListCompanies>,
) -> ApiResult<Json<Page<Company>>> {
    let filter = CompanyFilter {
        name: q.name.filter(|n| !n.is_empty()),
        domain: q.domain.filter(|d| !d.is_empty()),
        created: TimeRange {
            after: q.created_after,
            before: q.created_before,
        },
    };
    let page = sort_page::<Company>(q.limit, q.cursor.as_deref(), q.sort.as_deref())?;
    Ok(Json(state.store.list_companies(&ctx, filter, page).await?))
}

/// Create a company.
#[utoipa::path(post, path = "/companies", tag = "companies", request_body = NewCompany,
    responses((status = 201, body = Company), (status = 422, body = Problem)))]
async fn create_company(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewCompany>,
) -> ApiResult<Response> {
    let company = state.store.create_company(&ctx, new).await?;
    Ok(created(
        format!("/api/v1/companies/{}", company.id),
        company,
    ))
}

/// Get a company.
#[utoipa::path(get, path = "/companies/{id}", tag = "companies", params(("id" = CompanyId, Path)),
    responses((status = 200, body = Company), (status = 404, body = Problem)))]
async fn get_company(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<CompanyId>,
) -> ApiResult<Json<Company>> {
    Ok(Json(state.store.get_company(&ctx, id).await?))
}

/// Update a company; absent fields are kept, `null` clears.
#[utoipa::path(patch, path = "/companies/{id}", tag = "companies", params(("id" = CompanyId, Path)),
    request_body = CompanyPatch,
    responses((status = 200, body = Company), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_company(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<CompanyId>,
    ApiJson(patch): ApiJson<CompanyPatch>,
) -> ApiResult<Json<Company>> {
    Ok(Json(state.store.update_company(&ctx, id, patch).await?))
}

/// Delete a company (soft delete).
#[utoipa::path(delete, path = "/companies/{id}", tag = "companies", params(("id" = CompanyId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_company(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<CompanyId>,
) -> ApiResult<StatusCode> {
    state.store.delete_company(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
