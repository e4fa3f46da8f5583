//! `/api/v1/sms` and `/api/v1/calls`: the records channels keep (read-only here).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{Call, CommsFilter, Direction, Sms, TimeRange};
use workos_core::ids::{CallId, PersonId, SmsId};
use workos_core::page::Page;
use workos_core::repo::CommsRepo;

use super::page;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sms))
        .routes(routes!(get_sms))
        .routes(routes!(list_calls))
        .routes(routes!(get_call))
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
    fn filter(&self) -> CommsFilter {
        CommsFilter {
            person_id: self.person_id,
            direction: self.direction,
            status: self.status.clone().filter(|s| !s.is_empty()),
            occurred: TimeRange {
                after: self.occurred_after,
                before: self.occurred_before,
            },
        }
    }
}

/// List SMS/MMS messages.
#[utoipa::path(get, path = "/sms", tag = "sms", params(ListComms),
    responses((status = 200, body = Page<Sms>), (status = 422, body = Problem)))]
async fn list_sms(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListComms>,
) -> ApiResult<Json<Page<Sms>>> {
    Ok(Json(
        state
            .store
            .list_sms(&ctx, q.filter(), page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}

/// Get a message.
#[utoipa::path(get, path = "/sms/{id}", tag = "sms", params(("id" = SmsId, Path)),
    responses((status = 200, body = Sms), (status = 404, body = Problem)))]
async fn get_sms(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<SmsId>,
) -> ApiResult<Json<Sms>> {
    Ok(Json(state.store.get_sms(&ctx, id).await?))
}

/// List calls.
#[utoipa::path(get, path = "/calls", tag = "calls", params(ListComms),
    responses((status = 200, body = Page<Call>), (status = 422, body = Problem)))]
async fn list_calls(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListComms>,
) -> ApiResult<Json<Page<Call>>> {
    Ok(Json(
        state
            .store
            .list_calls(&ctx, q.filter(), page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}

/// Get a call.
#[utoipa::path(get, path = "/calls/{id}", tag = "calls", params(("id" = CallId, Path)),
    responses((status = 200, body = Call), (status = 404, body = Problem)))]
async fn get_call(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<CallId>,
) -> ApiResult<Json<Call>> {
    Ok(Json(state.store.get_call(&ctx, id).await?))
}
