//! `/api/v1/tasks`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{NewTask, Task, TaskFilter, TaskPatch, TaskStatus};
use workos_core::ids::{CompanyId, DealId, PersonId, TaskId, UserId};
use workos_core::page::Page;
use workos_core::repo::TaskRepo;

use super::{created, sort_page};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(get_task, update_task, delete_task))
}

/// Filters and paging for listing tasks.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListTasks {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// The order: a field ascending, or descending with a `-` in front (JSON:API style); ties
    /// break by id in the same direction. Default `created_at` (creation order). A `cursor`
    /// continues only the order it was made in.
    #[param(schema_with = crate::routes::sort_schema::<Task>)]
    sort: Option<String>,
    /// With this status.
    status: Option<TaskStatus>,
    /// Assigned to this user.
    assignee_id: Option<UserId>,
    /// Due strictly before this time.
    due_before: Option<DateTime<Utc>>,
    /// About this person.
    person_id: Option<PersonId>,
    /// About this company.
    company_id: Option<CompanyId>,
    /// About this deal.
    deal_id: Option<DealId>,
}

/// List tasks.
#[utoipa::path(get, path = "/tasks", tag = "tasks", params(ListTasks),
    responses((status = 200, body = Page<Task>), (status = 422, body = Problem)))]
async fn list_tasks(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListTasks>,
) -> ApiResult<Json<Page<Task>>> {
    let filter = TaskFilter {
        status: q.status,
        assignee_id: q.assignee_id,
        due_before: q.due_before,
        person_id: q.person_id,
        company_id: q.company_id,
        deal_id: q.deal_id,
    };
    let page = sort_page::<Task>(q.limit, q.cursor.as_deref(), q.sort.as_deref())?;
    Ok(Json(state.store.list_tasks(&ctx, filter, page).await?))
}

/// Create a task.
#[utoipa::path(post, path = "/tasks", tag = "tasks", request_body = NewTask,
    responses((status = 201, body = Task), (status = 422, body = Problem)))]
async fn create_task(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewTask>,
) -> ApiResult<Response> {
    let task = state.store.create_task(&ctx, new).await?;
    Ok(created(format!("/api/v1/tasks/{}", task.id), task))
}

/// Get a task.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks", params(("id" = TaskId, Path)),
    responses((status = 200, body = Task), (status = 404, body = Problem)))]
async fn get_task(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<TaskId>,
) -> ApiResult<Json<Task>> {
    Ok(Json(state.store.get_task(&ctx, id).await?))
}

/// Update a task; absent fields are kept, `null` clears.
#[utoipa::path(patch, path = "/tasks/{id}", tag = "tasks", params(("id" = TaskId, Path)), request_body = TaskPatch,
    responses((status = 200, body = Task), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_task(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<TaskId>,
    ApiJson(patch): ApiJson<TaskPatch>,
) -> ApiResult<Json<Task>> {
    Ok(Json(state.store.update_task(&ctx, id, patch).await?))
}

/// Delete a task (soft delete).
#[utoipa::path(delete, path = "/tasks/{id}", tag = "tasks", params(("id" = TaskId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_task(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<TaskId>,
) -> ApiResult<StatusCode> {
    state.store.delete_task(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
