//! `/api/v1/emails`: the org's stored emails, and sending one through a connected Gmail account
//! (`/api/v1/email/send`).

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

/// The routes (sending with the `gmail` feature).
pub(crate) fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new();
    #[cfg(feature = "gmail")]
    let router = router.routes(routes!(send::send_email));
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

#[cfg(feature = "gmail")]
pub(crate) mod send {
    //! `POST /api/v1/email/send`, through [`workos_gmail::GmailSender::send`].

    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use serde::Deserialize;
    use utoipa::ToSchema;
    use workos_core::domain::{Email, EmailAddress};
    use workos_core::ids::{EmailId, IntegrationId};
    use workos_gmail::{PersonPolicy, SendEmail, Sent};

    use crate::error::{ApiError, ApiResult, Problem};
    use crate::extract::{ApiJson, Ctx};
    use crate::routes::created;
    use crate::state::AppState;

    /// An email to send from a connected Gmail account.
    #[derive(Debug, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct SendEmailBody {
        /// Recipients (at least one).
        #[serde(default)]
        to: Vec<String>,
        /// Copy recipients.
        #[serde(default)]
        cc: Vec<String>,
        /// Blind copy recipients.
        #[serde(default)]
        bcc: Vec<String>,
        /// Subject line.
        #[serde(default)]
        subject: String,
        /// Plain-text body.
        #[serde(default)]
        text: Option<String>,
        /// HTML body.
        #[serde(default)]
        html: Option<String>,
        /// A stored email to reply to: same account (by default), same thread, `In-Reply-To`.
        #[serde(default)]
        reply_to_email_id: Option<EmailId>,
        /// The account to send from (default: the replied-to email's, or the org's active Gmail
        /// account).
        #[serde(default)]
        integration_id: Option<IntegrationId>,
    }

    /// The addresses of `field`, each named by its index when it is not one.
    fn addresses(field: &str, values: &[String]) -> ApiResult<Vec<EmailAddress>> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                EmailAddress::parse(v.trim()).map_err(|_| {
                    ApiError::invalid_field(format!("{field}[{i}]"), "is not an email address")
                })
            })
            .collect()
    }

    /// Send an email through a connected Gmail account, and record it.
    #[utoipa::path(post, path = "/email/send", tag = "emails", request_body = SendEmailBody,
        responses((status = 201, body = Email), (status = 403, body = Problem), (status = 404, body = Problem),
            (status = 422, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
    pub(crate) async fn send_email(
        State(state): State<AppState>,
        Ctx(ctx): Ctx,
        ApiJson(body): ApiJson<SendEmailBody>,
    ) -> ApiResult<Response> {
        let gmail = crate::routes::integrations::gmail_service(&state)?;
        let request = SendEmail {
            to: addresses("to", &body.to)?,
            cc: addresses("cc", &body.cc)?,
            bcc: addresses("bcc", &body.bcc)?,
            subject: body.subject,
            text: body.text,
            html: body.html,
            attachments: Vec::new(),
            reply_to_email_id: body.reply_to_email_id,
            integration_id: body.integration_id,
        };
        let sender = gmail.client.sender(PersonPolicy::SentOnly);
        match sender.send(&ctx, request).await? {
            Sent {
                email: Some(stored),
                ..
            } => Ok(created(format!("/api/v1/emails/{}", stored.id), stored)),
            // Sent, but recording failed (logged); the sync records it later.
            Sent { receipt, .. } => Ok((StatusCode::ACCEPTED, Json(receipt)).into_response()),
        }
    }
}
