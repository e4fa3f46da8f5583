//! `/api/v1/interactions`: notes and meetings. Emails, SMS and calls create their own.

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
    Interaction, InteractionFilter, InteractionKind, InteractionPatch, NewInteraction, TimeRange,
};
use workos_core::ids::{CompanyId, DealId, InteractionId, PersonId};
use workos_core::page::Page;
use workos_core::repo::InteractionRepo;

use super::{created, sort_page};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_interactions, create_interaction))
        .routes(routes!(
            get_interaction,
            update_interaction,
            delete_interaction
        ))
}

/// Filters and paging for listing interactions.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListInteractions {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// The order: a field ascending, or descending with a `-` in front (JSON:API style); ties
    /// break by id in the same direction. Default `created_at` (creation order). A `cursor`
    /// continues only the order it was made in.
    #[param(schema_with = crate::routes::sort_schema::<Interaction>)]
    sort: Option<String>,
    /// Of this kind.
    kind: Option<InteractionKind>,
    /// Involving this person.
    person_id: Option<PersonId>,
    /// Involving this company.
    company_id: Option<CompanyId>,
    /// Involving this deal.
    deal_id: Option<DealId>,
    /// Happened at or after.
    occurred_after: Option<DateTime<Utc>>,
    /// Happened before.
    occurred_before: Option<DateTime<Utc>>,
}

/// List interactions (every kind, including those channels created).
#[utoipa::path(get, path = "/interactions", tag = "interactions", params(ListInteractions),
    responses((status = 200, body = Page<Interaction>), (status = 422, body = Problem)))]
async fn list_interactions(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListInteractions>,
) -> ApiResult<Json<Page<Interaction>>> {
    let filter = InteractionFilter {
        kind: q.kind,
        person_id: q.person_id,
        company_id: q.company_id,
        deal_id: q.deal_id,
        occurred: TimeRange {
            after: q.occurred_after,
            before: q.occurred_before,
        },
    };
    let page = sort_page::<Interaction>(q.limit, q.cursor.as_deref(), q.sort.as_deref())?;
    Ok(Json(
        state.store.list_interactions(&ctx, filter, page).await?,
    ))
}

/// Record a note or a meeting.
#[utoipa::path(post, path = "/interactions", tag = "interactions", request_body = NewInteraction,
    responses((status = 201, body = Interaction), (status = 422, body = Problem)))]
async fn create_interaction(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewInteraction>,
) -> ApiResult<Response> {
    if !matches!(new.kind, InteractionKind::Note | InteractionKind::Meeting) {
        return Err(ApiError::invalid_field(
            "kind",
            "must be note or meeting; emails, SMS and calls are recorded by their channels",
        ));
    }
    let interaction = state.store.create_interaction(&ctx, new).await?;
    Ok(created(
        format!("/api/v1/interactions/{}", interaction.id),
        interaction,
    ))
}

/// Get an interaction.
#[utoipa::path(get, path = "/interactions/{id}", tag = "interactions", params(("id" = InteractionId, Path)),
    responses((status = 200, body = Interaction), (status = 404, body = Problem)))]
async fn get_interaction(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<InteractionId>,
) -> ApiResult<Json<Interaction>> {
    Ok(Json(state.store.get_interaction(&ctx, id).await?))
}

/// Update an interaction; absent fields are kept, `null` clears.
#[utoipa::path(patch, path = "/interactions/{id}", tag = "interactions", params(("id" = InteractionId, Path)),
    request_body = InteractionPatch,
    responses((status = 200, body = Interaction), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_interaction(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<InteractionId>,
    ApiJson(patch): ApiJson<InteractionPatch>,
) -> ApiResult<Json<Interaction>> {
    Ok(Json(state.store.update_interaction(&ctx, id, patch).await?))
}

/// Delete an interaction (soft delete).
#[utoipa::path(delete, path = "/interactions/{id}", tag = "interactions", params(("id" = InteractionId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_interaction(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<InteractionId>,
) -> ApiResult<StatusCode> {
    state.store.delete_interaction(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
