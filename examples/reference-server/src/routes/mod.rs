//! The REST API under `/api/v1`, one module per resource, each ending in `router()`. The
//! routes of a feature module (`gmail`, `twilio`, `leads`, `webhooks`) are served, and listed
//! in the OpenAPI document, only when the server is built with that cargo feature.

mod api_keys;
mod calls;
mod companies;
mod deals;
#[cfg(feature = "gmail")]
mod email_attachments;
#[cfg(feature = "gmail")]
pub(crate) mod email_send;
mod emails;
mod events;
#[cfg(feature = "gmail")]
mod gmail_push;
mod integrations;
mod interactions;
#[cfg(feature = "leads")]
pub(crate) mod leads;
mod members;
mod org;
mod people;
mod phones;
mod search;
pub(crate) mod sms;
mod tasks;
mod timelines;
#[cfg(feature = "twilio")]
mod twilio_webhooks;
#[cfg(feature = "webhooks")]
mod webhook_deliveries;
#[cfg(feature = "webhooks")]
mod webhooks;

use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use workos_core::domain::{CommsFilter, Direction, TimeRange};
use workos_core::ids::PersonId;
use workos_core::page::{Cursor, DEFAULT_PAGE_SIZE, PageRequest, Sort, Sortable};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Every authenticated resource route.
pub fn api() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .merge(companies::router())
        .merge(people::router())
        .merge(deals::router())
        .merge(tasks::router())
        .merge(interactions::router())
        .merge(members::router())
        .merge(org::router())
        .merge(api_keys::router())
        .merge(phones::router())
        .merge(events::router())
        .merge(sms::router())
        .merge(calls::router())
        .merge(timelines::router())
        .merge(search::router());
    #[cfg(feature = "webhooks")]
    let api = api
        .merge(webhooks::router())
        .merge(webhook_deliveries::router());
    #[cfg(feature = "leads")]
    let api = api.merge(leads::router());
    api.merge(integrations::router()).merge(emails::router())
}

/// Routes that authenticate by other means than an API key or a user token (Twilio's
/// signatures, Google's OAuth state and Pub/Sub's OIDC tokens, a public form's id).
pub fn public() -> OpenApiRouter<AppState> {
    let public = OpenApiRouter::new();
    #[cfg(feature = "twilio")]
    let public = public.merge(twilio_webhooks::router());
    #[cfg(feature = "leads")]
    let public = public.merge(leads::public_router());
    #[cfg(feature = "gmail")]
    let public = public.merge(gmail_push::router());
    public.merge(integrations::public_router())
}

/// Paging of a list that has no filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct Paging {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl Paging {
    /// The page asked for, as [`page`].
    ///
    /// # Errors
    /// As [`page`].
    pub(crate) fn page(&self) -> ApiResult<PageRequest> {
        page(self.limit, self.cursor.as_deref())
    }
}

/// Filters and paging for messages and calls.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListComms {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// With this person.
    person_id: Option<PersonId>,
    /// `inbound` or `outbound`.
    direction: Option<Direction>,
    /// With this provider status.
    status: Option<String>,
    /// Happened at or after.
    occurred_after: Option<DateTime<Utc>>,
    /// Happened before.
    occurred_before: Option<DateTime<Utc>>,
}

impl ListComms {
    /// The filter and the page asked for.
    ///
    /// # Errors
    /// As [`page`].
    pub(crate) fn split(&self) -> ApiResult<(CommsFilter, PageRequest)> {
        let filter = CommsFilter {
            person_id: self.person_id,
            direction: self.direction,
            status: self.status.clone().filter(|s| !s.is_empty()),
            occurred: TimeRange {
                after: self.occurred_after,
                before: self.occurred_before,
            },
        };
        Ok((filter, page(self.limit, self.cursor.as_deref())?))
    }
}

/// The page a list asks for: `limit` defaults to 50 and may be at most 200.
///
/// # Errors
/// 422 naming `limit` or `cursor`.
pub fn page(limit: Option<u32>, cursor: Option<&str>) -> ApiResult<PageRequest> {
    sorted_page(limit, cursor, Sort::CREATED)
}

/// The page a sortable list of `T` asks for: as [`page`], in the order `sort` names (one of
/// `T::SORTS`, `-` first for descending; default `created_at`), whose cursor must come from a
/// page in the same order.
///
/// # Errors
/// 422 naming `limit`, `cursor` or `sort` (listing the allowed values).
pub fn sort_page<T: Sortable>(
    limit: Option<u32>,
    cursor: Option<&str>,
    sort: Option<&str>,
) -> ApiResult<PageRequest> {
    let sort = sort
        .map(|s| Sort::parse(s, T::SORTS))
        .transpose()?
        .unwrap_or_default();
    sorted_page(limit, cursor, sort)
}

fn sorted_page(limit: Option<u32>, cursor: Option<&str>, sort: Sort) -> ApiResult<PageRequest> {
    let cursor = cursor.map(str::parse::<Cursor>).transpose()?;
    Ok(PageRequest::new(
        limit.unwrap_or(DEFAULT_PAGE_SIZE),
        sort,
        cursor,
    )?)
}

/// The schema of a list's `sort` parameter: every value it accepts, as an enum.
pub(crate) fn sort_schema<T: Sortable>() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Sort::values(T::SORTS)))
            .default(Some(serde_json::Value::String(Sort::CREATED.to_string())))
            .build(),
    )
}

/// `201 Created` with the resource and its `Location`.
pub fn created<T: Serialize>(location: String, body: T) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// Turns an empty-string filter into "no filter" and anything else into a parsed value.
///
/// # Errors
/// 422 naming `field` when the value does not parse.
pub fn parse_filter<T: std::str::FromStr>(field: &str, value: Option<&str>) -> ApiResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<T>()
                .map_err(|e| ApiError::invalid_field(field, e.to_string()))
        })
        .transpose()
}
