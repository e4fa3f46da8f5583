//! The REST API under `/api/v1`, one module per resource, each ending in `router()`.

mod api_keys;
mod comms;
mod companies;
mod deals;
mod events;
mod gmail;
mod interactions;
pub(crate) mod leads;
mod members;
mod people;
mod phones;
mod tasks;
mod twilio;
mod twilio_account;
mod webhooks;

use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use workos_core::page::{Cursor, DEFAULT_PAGE_SIZE, PageRequest};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Every authenticated resource route.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(companies::router())
        .merge(people::router())
        .merge(deals::router())
        .merge(tasks::router())
        .merge(interactions::router())
        .merge(members::router())
        .merge(api_keys::router())
        .merge(phones::router())
        .merge(events::router())
        .merge(comms::router())
        .merge(webhooks::router())
        .merge(leads::router())
        .merge(gmail::router())
        .merge(twilio_account::router())
}

/// Routes that authenticate by other means than an API key (Twilio's signatures).
pub fn public() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(twilio::router())
        .merge(leads::public_router())
        .merge(gmail::public_router())
}

/// The page a list asks for: `limit` defaults to 50 and may be at most 200.
///
/// # Errors
/// 422 naming `limit` or `cursor`.
pub fn page(limit: Option<u32>, cursor: Option<&str>) -> ApiResult<PageRequest> {
    let request = PageRequest::first(limit.unwrap_or(DEFAULT_PAGE_SIZE))?;
    let cursor = cursor.map(str::parse::<Cursor>).transpose()?;
    Ok(request.after(cursor))
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
