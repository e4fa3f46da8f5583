//! `/api/v1/{people,companies,deals}/{id}/timeline`: what happened with a record, newest first.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{Timeline, TimelineCursor, TimelineRequest, TimelineSubject};
use workos_core::ids::{CompanyId, DealId, PersonId};
use workos_core::page::DEFAULT_PAGE_SIZE;
use workos_core::repo::TimelineRepo;
use workos_core::tenant::TenantContext;

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(person_timeline))
        .routes(routes!(company_timeline))
        .routes(routes!(deal_timeline))
}

/// Paging of a timeline.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TimelinePaging {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page of the same timeline.
    #[param(value_type = Option<TimelineCursor>)]
    cursor: Option<String>,
}

async fn read(
    state: &AppState,
    ctx: &TenantContext,
    subject: TimelineSubject,
    q: &TimelinePaging,
) -> ApiResult<Json<Timeline>> {
    let cursor = q
        .cursor
        .as_deref()
        .map(str::parse::<TimelineCursor>)
        .transpose()?;
    let page = TimelineRequest::first(q.limit.unwrap_or(DEFAULT_PAGE_SIZE))?.after(cursor);
    Ok(Json(state.store.timeline(ctx, subject, page).await?))
}

/// A person's timeline: their interactions, emails, SMS, calls and tasks, newest first (by
/// `occurred_at`; a task's is its due time, else its creation time).
#[utoipa::path(get, path = "/people/{id}/timeline", tag = "timelines",
    params(("id" = PersonId, Path), TimelinePaging),
    responses((status = 200, body = Timeline), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn person_timeline(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PersonId>,
    ApiQuery(q): ApiQuery<TimelinePaging>,
) -> ApiResult<Json<Timeline>> {
    read(&state, &ctx, TimelineSubject::Person(id), &q).await
}

/// A company's timeline: the items linked to the company and those of the people who work
/// there, newest first.
#[utoipa::path(get, path = "/companies/{id}/timeline", tag = "timelines",
    params(("id" = CompanyId, Path), TimelinePaging),
    responses((status = 200, body = Timeline), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn company_timeline(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<CompanyId>,
    ApiQuery(q): ApiQuery<TimelinePaging>,
) -> ApiResult<Json<Timeline>> {
    read(&state, &ctx, TimelineSubject::Company(id), &q).await
}

/// A deal's timeline: the interactions (and the emails, SMS and calls whose entry is linked to
/// the deal) and tasks of the deal, newest first.
#[utoipa::path(get, path = "/deals/{id}/timeline", tag = "timelines",
    params(("id" = DealId, Path), TimelinePaging),
    responses((status = 200, body = Timeline), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn deal_timeline(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<DealId>,
    ApiQuery(q): ApiQuery<TimelinePaging>,
) -> ApiResult<Json<Timeline>> {
    read(&state, &ctx, TimelineSubject::Deal(id), &q).await
}
