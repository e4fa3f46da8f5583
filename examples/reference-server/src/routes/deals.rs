//! `/api/v1/deals`. The API spells money as two flat fields, `amount_minor` and `currency`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{
    Deal, DealFilter, DealPatch, DealStage, NewDeal, Patch, TimeRange, money_from_parts,
    money_patch_from_parts,
};
use workos_core::ids::{CompanyId, DealId, OrgId, PersonId, UserId};
use workos_core::page::Page;
use workos_core::repo::DealRepo;

use super::{created, sort_page};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_deals, create_deal))
        .routes(routes!(get_deal, update_deal, delete_deal))
}

/// A deal as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DealView {
    id: DealId,
    org_id: OrgId,
    name: String,
    /// Value in minor units (cents), with `currency`.
    amount_minor: Option<i64>,
    /// ISO 4217 code, with `amount_minor`.
    currency: Option<String>,
    stage: DealStage,
    company_id: Option<CompanyId>,
    person_id: Option<PersonId>,
    owner_id: Option<UserId>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Deal> for DealView {
    fn from(d: Deal) -> Self {
        Self {
            id: d.id,
            org_id: d.org_id,
            name: d.name,
            amount_minor: d.amount.map(|m| m.amount_minor),
            currency: d.amount.map(|m| m.currency.code().to_owned()),
            stage: d.stage,
            company_id: d.company_id,
            person_id: d.person_id,
            owner_id: d.owner_id,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// A new deal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDealBody {
    /// 1–200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
    )]
    name: String,
    /// Value in minor units; requires `currency`.
    #[serde(default)]
    #[schema(minimum = 0)]
    amount_minor: Option<i64>,
    /// ISO 4217 code; requires `amount_minor`.
    #[serde(default)]
    #[schema(value_type = Option<workos_core::domain::Currency>)]
    currency: Option<String>,
    /// Defaults to `lead`.
    #[serde(default)]
    stage: Option<DealStage>,
    #[serde(default)]
    company_id: Option<CompanyId>,
    #[serde(default)]
    person_id: Option<PersonId>,
    #[serde(default)]
    owner_id: Option<UserId>,
}

/// A change to a deal; absent fields are kept, `null` clears. `amount_minor` and `currency`
/// change together.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DealPatchBody {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
    )]
    name: Option<String>,
    #[schema(value_type = Option<i64>, minimum = 0)]
    amount_minor: Patch<i64>,
    #[schema(value_type = Option<workos_core::domain::Currency>)]
    currency: Patch<String>,
    stage: Option<DealStage>,
    #[schema(value_type = Option<CompanyId>)]
    company_id: Patch<CompanyId>,
    #[schema(value_type = Option<PersonId>)]
    person_id: Patch<PersonId>,
    #[schema(value_type = Option<UserId>)]
    owner_id: Patch<UserId>,
}

impl TryFrom<DealPatchBody> for DealPatch {
    type Error = ApiError;

    fn try_from(b: DealPatchBody) -> ApiResult<Self> {
        let amount = money_patch_from_parts(b.amount_minor, b.currency)?;
        Ok(Self {
            name: b.name,
            amount,
            stage: b.stage,
            company_id: b.company_id,
            person_id: b.person_id,
            owner_id: b.owner_id,
        })
    }
}

/// Filters and paging for listing deals.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListDeals {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// The order: a field ascending, or descending with a `-` in front (JSON:API style); ties
    /// break by id in the same direction. Default `created_at` (creation order). A `cursor`
    /// continues only the order it was made in.
    #[param(schema_with = crate::routes::sort_schema::<Deal>)]
    sort: Option<String>,
    /// In this stage.
    stage: Option<DealStage>,
    /// Owned by this user.
    owner_id: Option<UserId>,
    /// With this company.
    company_id: Option<CompanyId>,
    /// With this contact.
    person_id: Option<PersonId>,
    /// Created at or after.
    created_after: Option<DateTime<Utc>>,
    /// Created before.
    created_before: Option<DateTime<Utc>>,
}

/// List deals.
#[utoipa::path(get, path = "/deals", tag = "deals", params(ListDeals),
    responses((status = 200, body = Page<DealView>), (status = 422, body = Problem)))]
async fn list_deals(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListDeals>,
) -> ApiResult<Json<Page<DealView>>> {
    let filter = DealFilter {
        stage: q.stage,
        owner_id: q.owner_id,
        company_id: q.company_id,
        person_id: q.person_id,
        created: TimeRange {
            after: q.created_after,
            before: q.created_before,
        },
    };
    let deals = state
        .store
        .list_deals(
            &ctx,
            filter,
            sort_page::<Deal>(q.limit, q.cursor.as_deref(), q.sort.as_deref())?,
        )
        .await?;
    Ok(Json(deals.map(DealView::from)))
}

/// Create a deal.
#[utoipa::path(post, path = "/deals", tag = "deals", request_body = NewDealBody,
    responses((status = 201, body = DealView), (status = 422, body = Problem)))]
async fn create_deal(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<NewDealBody>,
) -> ApiResult<Response> {
    let new = NewDeal {
        name: body.name,
        amount: money_from_parts(body.amount_minor, body.currency.as_deref())?,
        stage: body.stage.unwrap_or(DealStage::Lead),
        company_id: body.company_id,
        person_id: body.person_id,
        owner_id: body.owner_id,
    };
    let deal = state.store.create_deal(&ctx, new).await?;
    Ok(created(
        format!("/api/v1/deals/{}", deal.id),
        DealView::from(deal),
    ))
}

/// Get a deal.
#[utoipa::path(get, path = "/deals/{id}", tag = "deals", params(("id" = DealId, Path)),
    responses((status = 200, body = DealView), (status = 404, body = Problem)))]
async fn get_deal(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<DealId>,
) -> ApiResult<Json<DealView>> {
    Ok(Json(state.store.get_deal(&ctx, id).await?.into()))
}

/// Update a deal.
#[utoipa::path(patch, path = "/deals/{id}", tag = "deals", params(("id" = DealId, Path)), request_body = DealPatchBody,
    responses((status = 200, body = DealView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_deal(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<DealId>,
    ApiJson(body): ApiJson<DealPatchBody>,
) -> ApiResult<Json<DealView>> {
    Ok(Json(
        state
            .store
            .update_deal(&ctx, id, body.try_into()?)
            .await?
            .into(),
    ))
}

/// Delete a deal (soft delete).
#[utoipa::path(delete, path = "/deals/{id}", tag = "deals", params(("id" = DealId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_deal(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<DealId>,
) -> ApiResult<StatusCode> {
    state.store.delete_deal(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
