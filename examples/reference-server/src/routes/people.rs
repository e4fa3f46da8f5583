//! `/api/v1/people`.

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
    E164, EmailAddress, NewPerson, Person, PersonFilter, PersonPatch, PersonPhone, TimeRange,
};
use workos_core::ids::{CompanyId, PersonId};
use workos_core::page::Page;
use workos_core::repo::{OptOutRepo, PersonRepo};
use workos_core::tenant::TenantContext;

use super::{created, parse_filter, sort_page};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_people, create_person))
        .routes(routes!(get_person, update_person, delete_person))
}

/// A person with each of their phones and its SMS consent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PersonView {
    #[serde(flatten)]
    person: Person,
    /// Every phone, primary first, with `sms_opted_out` when the number replied STOP (or
    /// Twilio refused a send to it as unsubscribed).
    phones: Vec<PersonPhone>,
}

/// The people of a page with their phones' SMS consent (one lookup for the page).
async fn views(
    state: &AppState,
    ctx: &TenantContext,
    people: Vec<Person>,
) -> ApiResult<Vec<PersonView>> {
    let numbers: Vec<E164> = people.iter().flat_map(|p| p.phones().cloned()).collect();
    let opted_out = state.store.opted_out_among(ctx, &numbers).await?;
    Ok(people
        .into_iter()
        .map(|person| PersonView {
            phones: PersonPhone::of(&person, &opted_out),
            person,
        })
        .collect())
}

/// One person with their phones' SMS consent.
async fn view(state: &AppState, ctx: &TenantContext, person: Person) -> ApiResult<PersonView> {
    let mut one = views(state, ctx, vec![person]).await?;
    Ok(one.remove(0))
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
    /// The order: a field ascending, or descending with a `-` in front (JSON:API style); ties
    /// break by id in the same direction. Default `created_at` (creation order). A `cursor`
    /// continues only the order it was made in.
    #[param(schema_with = crate::routes::sort_schema::<Person>)]
    sort: Option<String>,
    /// Has this email, primary or additional (case-insensitive).
    #[param(schema_with = email_filter)]
    email: Option<String>,
    /// Has this phone (E.164), primary or additional.
    #[param(schema_with = phone_filter)]
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

/// A filter's schema: a value of `T`'s schema, or empty for no filter (`parse_filter`).
fn filter_or_empty<T: utoipa::PartialSchema>() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(T::schema())
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(0)),
            )
            .build(),
    )
}

fn email_filter() -> utoipa::openapi::schema::Schema {
    filter_or_empty::<EmailAddress>()
}

fn phone_filter() -> utoipa::openapi::schema::Schema {
    filter_or_empty::<E164>()
}

/// List people.
#[utoipa::path(get, path = "/people", tag = "people", params(ListPeople),
    responses((status = 200, body = Page<PersonView>), (status = 422, body = Problem)))]
async fn list_people(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListPeople>,
) -> ApiResult<Json<Page<PersonView>>> {
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
    let page = sort_page::<Person>(q.limit, q.cursor.as_deref(), q.sort.as_deref())?;
    let page = state.store.list_people(&ctx, filter, page).await?;
    let data = views(&state, &ctx, page.data).await?;
    Ok(Json(Page {
        data,
        next_cursor: page.next_cursor,
    }))
}

/// Create a person. Every email and phone, primary or additional, must be unique in the org.
#[utoipa::path(post, path = "/people", tag = "people", request_body = NewPerson,
    responses((status = 201, body = PersonView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_person(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewPerson>,
) -> ApiResult<Response> {
    let person = state.store.create_person(&ctx, new).await?;
    let location = format!("/api/v1/people/{}", person.id);
    Ok(created(location, view(&state, &ctx, person).await?))
}

/// Get a person.
#[utoipa::path(get, path = "/people/{id}", tag = "people", params(("id" = PersonId, Path)),
    responses((status = 200, body = PersonView), (status = 404, body = Problem)))]
async fn get_person(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PersonId>,
) -> ApiResult<Json<PersonView>> {
    let person = state.store.get_person(&ctx, id).await?;
    Ok(Json(view(&state, &ctx, person).await?))
}

/// Update a person; absent fields are kept, `null` clears, lists replace.
#[utoipa::path(patch, path = "/people/{id}", tag = "people", params(("id" = PersonId, Path)),
    request_body = PersonPatch,
    responses((status = 200, body = PersonView), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn update_person(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PersonId>,
    ApiJson(patch): ApiJson<PersonPatch>,
) -> ApiResult<Json<PersonView>> {
    let person = state.store.update_person(&ctx, id, patch).await?;
    Ok(Json(view(&state, &ctx, person).await?))
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
