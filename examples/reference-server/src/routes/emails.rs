//! `/api/v1/emails`: the org's stored emails; sending one through a connected Gmail account
//! (`/api/v1/email/send`) is in `email_send`, downloading attachments in `email_attachments`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{Direction, Email, EmailFilter, TimeRange};
use workos_core::ids::{EmailId, IntegrationId, PersonId};
use workos_core::page::Page;
use workos_core::repo::EmailRepo;

use super::page;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The routes (sending and attachments with the `gmail` feature).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new();
    #[cfg(feature = "gmail")]
    let router = router
        .merge(super::email_send::router())
        .merge(super::email_attachments::router());
    router
        .routes(routes!(list_emails))
        .routes(routes!(get_email))
}

/// Filters and paging for emails.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListEmails {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// With this person.
    person_id: Option<PersonId>,
    /// `inbound` or `outbound`.
    direction: Option<Direction>,
    /// In this provider thread.
    thread_id: Option<String>,
    /// Of this connected account.
    integration_id: Option<IntegrationId>,
    /// Happened at or after.
    occurred_after: Option<DateTime<Utc>>,
    /// Happened before.
    occurred_before: Option<DateTime<Utc>>,
}

/// List stored emails.
#[utoipa::path(get, path = "/emails", tag = "emails", params(ListEmails),
    responses((status = 200, body = Page<Email>), (status = 422, body = Problem)))]
async fn list_emails(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListEmails>,
) -> ApiResult<Json<Page<Email>>> {
    let filter = EmailFilter {
        person_id: q.person_id,
        direction: q.direction,
        thread_id: q.thread_id.clone().filter(|t| !t.is_empty()),
        integration_id: q.integration_id,
        occurred: TimeRange {
            after: q.occurred_after,
            before: q.occurred_before,
        },
    };
    let page = page(q.limit, q.cursor.as_deref())?;
    Ok(Json(state.store.list_emails(&ctx, filter, page).await?))
}

/// Get a stored email.
#[utoipa::path(get, path = "/emails/{id}", tag = "emails", params(("id" = EmailId, Path)),
    responses((status = 200, body = Email), (status = 404, body = Problem)))]
async fn get_email(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<EmailId>,
) -> ApiResult<Json<Email>> {
    Ok(Json(state.store.get_email(&ctx, id).await?))
}
