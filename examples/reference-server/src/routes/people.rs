//! `/api/v1/people`.

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
    E164, EmailAddress, NewPerson, Person, PersonFilter, PersonPatch, TimeRange,
};
use workos_core::ids::{CompanyId, PersonId};
use workos_core::page::Page;
use workos_core::repo::PersonRepo;

use super::{created, page, parse_filter};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_people, create_person))
        .routes(routes!(get_person, update_person, delete_person))
}

/// Filters and paging for listing people.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListPeople {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Has this email, primary or additional (case-insensitive).
    email: Option<String>,
    /// Has this phone (E.164), primary or additional.
    phone: Option<String>,
    /// First or last name contains this (case-insensitive).
    name: Option<String>,
    /// Works at this company.
    company_id: Option<CompanyId>,
    /// Created at or after.
    created_after: Option<DateTime<Utc>>,
    /// Created before.
    created_before: Option<DateTime<Utc>>,
}

/// List people.
#[utoipa::path(get, path = "/people", tag = "people", params(ListPeople),
    responses((status = 200, body = Page<Person>), (status = 422, body = Problem)))]
async fn list_people(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListPeople>,
) -> ApiResult<Json<Page<Person>>> {
    let filter = PersonFilter {
        email: parse_filter::<EmailAddress>("email", q.email.as_deref())?,
        phone: parse_filter::<E164>("phone", q.phone.as_deref())?,
        name: q.name.filter(|n| !n.is_empty()),
        company_id: q.company_id,
        created: TimeRange {
            after: q.created_after,
            before: q.created_before,
        },
    };
    let page = page(q.limit, q.cursor.as_deref())?;
    Ok(Json(state.store.list_people(&ctx, filter, page).await?))
}

/// Create a person. Every email and phone, primary or additional, must be unique in the org.
#[utoipa::path(post, path = "/people", tag = "people", request_body = NewPerson,
    responses((status = 201, body = Person), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_person(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewPerson>,
) -> ApiResult<Response> {
    let person = state.store.create_person(&ctx, new).await?;
    Ok(created(format!("/api/v1/people/{}", person.id), person))
}

/// Get a person.
#[utoipa::path(get, path = "/people/{id}", tag = "people", params(("id" = PersonId, Path)),
    responses((status = 200, body = Person), (status = 404, body = Problem)))]
async fn get_person(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PersonId>,
) -> ApiResult<Json<Person>> {
    Ok(Json(state.store.get_person(&ctx, id).await?))
}

/// Update a person; absent fields are kept, `null` clears, lists replace.
#[utoipa::path(patch, path = "/people/{id}", tag = "people", params(("id" = PersonId, Path)),
    request_body = PersonPatch,
    responses((status = 200, body = Person), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn update_person(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PersonId>,
    ApiJson(patch): ApiJson<PersonPatch>,
) -> ApiResult<Json<Person>> {
    Ok(Json(state.store.update_person(&ctx, id, patch).await?))
}

/// Delete a person (soft delete; their addresses become free).
#[utoipa::path(delete, path = "/people/{id}", tag = "people", params(("id" = PersonId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_person(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PersonId>,
) -> ApiResult<StatusCode> {
    state.store.delete_person(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
