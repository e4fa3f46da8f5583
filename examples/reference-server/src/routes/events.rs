//! `/api/v1/events`: the org's domain event log, read-only.

use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::events::{DomainEvent, EventActor, EventFilter};
use workos_core::ids::EventId;
use workos_core::page::Page;
use workos_core::repo::EventRepo;

use super::page;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiPath, Ctx, refuse_nul};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(get_event))
}

/// Filters and paging for the event log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the parameters; the query is parsed by hand (`type` repeats).
pub(crate) struct ListEvents {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Event types, e.g. `person.created`; repeat the parameter or separate with commas (at
    /// most 50, each at most 100 characters; empty ones are ignored but counted).
    #[param(pattern = r"^[^\u0000,]{0,100}(,[^\u0000,]{0,100}){0,49}$")]
    r#type: Option<String>,
    /// Events about this record.
    subject_id: Option<uuid::Uuid>,
    /// Events caused by this actor: `api_key:<id>` or `user:<id>` (a hyphenated UUID) or
    /// `system:<job>` (a job name of 1–64 characters): the `actor` of an event, written
    /// `kind:id`.
    #[param(
        pattern = r"^((user|api_key):[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|system:[^\u0000]{1,64})$"
    )]
    actor: Option<String>,
    /// Happened at or after.
    occurred_after: Option<DateTime<Utc>>,
    /// Happened before.
    occurred_before: Option<DateTime<Utc>>,
}

fn parse<T: std::str::FromStr>(field: &str, value: &str) -> ApiResult<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| ApiError::invalid_field(field, e.to_string()))
}

/// The most event types one list may filter by.
pub(crate) const MAX_EVENT_TYPES: usize = 50;
/// The longest event type a filter may name.
pub(crate) const MAX_EVENT_TYPE_LEN: usize = 100;

/// Bounds the `type` filter (it becomes one SQL parameter per type): every comma-separated
/// entry counts, the empty ones too, as the document's pattern says.
fn check_types(types: &[String]) -> ApiResult<()> {
    if types.len() > MAX_EVENT_TYPES {
        return Err(ApiError::invalid_field(
            "type",
            format!("at most {MAX_EVENT_TYPES} event types"),
        ));
    }
    if types.iter().any(|t| t.chars().count() > MAX_EVENT_TYPE_LEN) {
        return Err(ApiError::invalid_field(
            "type",
            format!("an event type is at most {MAX_EVENT_TYPE_LEN} characters"),
        ));
    }
    Ok(())
}

/// List the org's events, oldest first. Each names its actor (who caused it) and request id;
/// `api_key.*` events are listed to admins and owners only.
#[utoipa::path(get, path = "/events", tag = "events", params(ListEvents),
    responses((status = 200, body = Page<DomainEvent>), (status = 422, body = Problem)))]
async fn list_events(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Page<DomainEvent>>> {
    let query = query.unwrap_or_default();
    refuse_nul(&query)?;
    let mut filter = EventFilter::default();
    let (mut limit, mut cursor) = (None, None);
    let mut types = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "limit" => limit = Some(parse::<u32>("limit", &value)?),
            "cursor" => cursor = Some(value.into_owned()),
            "type" => types.extend(value.split(',').map(str::to_owned)),
            "subject_id" => filter.subject_id = Some(parse("subject_id", &value)?),
            "actor" => filter.actor = Some(value.parse::<EventActor>()?),
            "occurred_after" => filter.occurred.after = Some(parse("occurred_after", &value)?),
            "occurred_before" => filter.occurred.before = Some(parse("occurred_before", &value)?),
            other => {
                return Err(ApiError::invalid_field(
                    other,
                    "is not a filter of this list",
                ));
            }
        }
    }
    check_types(&types)?;
    filter.types = types.into_iter().filter(|t| !t.is_empty()).collect();
    let page = page(limit, cursor.as_deref())?;
    Ok(Json(state.store.list_events(&ctx, filter, page).await?))
}

/// Get one event.
#[utoipa::path(get, path = "/events/{id}", tag = "events", params(("id" = EventId, Path)),
    responses((status = 200, body = DomainEvent), (status = 404, body = Problem)))]
async fn get_event(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<EventId>,
) -> ApiResult<Json<DomainEvent>> {
    Ok(Json(state.store.get_event(&ctx, id).await?))
}
