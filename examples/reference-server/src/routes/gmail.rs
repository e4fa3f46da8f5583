//! Gmail: connecting accounts (`/integrations/gmail/connect` and Google's redirect to
//! `/integrations/gmail/callback`), connected accounts (`/integrations`), sending
//! (`/email/send`), stored emails (`/emails`) and syncs (`/integrations/gmail/{id}/sync`).
//!
//! Connecting needs a signed-in admin user (a user JWT): Google's consent is given by a person,
//! and the OAuth state is bound to the org and that user. An API key gets a 422 saying so.
//!
//! The callback is public: Google redirects the browser there without our credentials. The
//! `state` (single use, unguessable, ten minutes) is what authenticates it: the server looks up
//! the org and user that started the connect, checks that the user is still an admin of the
//! org, and finishes the connect as that user. It answers the integration as JSON (a browser
//! app would rather redirect to its own page; the JSON keeps this server UI-free).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::channel::{EmailChannel, OutboundEmail};
use workos_core::domain::{
    Direction, Email, EmailAddress, EmailFilter, GMAIL, Integration, IntegrationStatus, TimeRange,
};
use workos_core::ids::{EmailId, IntegrationId, PersonId};
use workos_core::page::{Page, PageRequest};
use workos_core::repo::{Directory, EmailRepo, IntegrationRepo};
use workos_core::tenant::{Access, TenantContext};
use workos_gmail::{PersonPolicy, SyncState};

use super::{created, page};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::gmail_sync::GmailService;
use crate::state::AppState;

/// The authenticated routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(connect))
        .routes(routes!(list_integrations))
        .routes(routes!(disconnect))
        .routes(routes!(send_email))
        .routes(routes!(list_emails))
        .routes(routes!(get_email))
        .routes(routes!(sync_status, force_sync))
}

/// The public route Google redirects the browser to.
pub(crate) fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(callback))
}

fn service(state: &AppState) -> ApiResult<&Arc<GmailService>> {
    state.gmail.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Gmail is not configured on this server (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, GOOGLE_REDIRECT_URL)",
        )
    })
}

/// How many emails of an integration are stored.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmailCounts {
    /// Received.
    inbound: u64,
    /// Sent.
    outbound: u64,
}

/// A connected account with its stored email counts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IntegrationView {
    /// The integration.
    #[serde(flatten)]
    integration: Integration,
    /// Stored emails.
    email_counts: EmailCounts,
}

async fn view(
    state: &AppState,
    ctx: &TenantContext,
    integration: Integration,
) -> ApiResult<IntegrationView> {
    let (inbound, outbound) = state.store.email_counts(ctx, integration.id).await?;
    Ok(IntegrationView {
        integration,
        email_counts: EmailCounts { inbound, outbound },
    })
}

/// Where to send the user to connect a Gmail account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectStarted {
    /// Google's consent page.
    authorization_url: String,
}

/// Start connecting a Gmail account (admin, signed-in user): Google's consent URL.
#[utoipa::path(get, path = "/integrations/gmail/connect", tag = "integrations",
    responses((status = 200, body = ConnectStarted), (status = 403, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn connect(State(state): State<AppState>, Ctx(ctx): Ctx) -> ApiResult<Json<ConnectStarted>> {
    ctx.authorize(Access::Manage)?;
    if ctx.user_id().is_none() {
        return Err(ApiError::invalid_field(
            "authorization",
            "connecting a Gmail account needs a signed-in user (a user JWT), not an API key: the consent is bound to the user",
        ));
    }
    let service = service(&state)?;
    let start = service.gmail.start_connect(&ctx).await?;
    Ok(Json(ConnectStarted {
        authorization_url: start.authorization_url.to_string(),
    }))
}

/// Google's redirect (Google adds more parameters, which are ignored).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The state the connect started with.
    state: Option<String>,
    /// Google's error, e.g. `access_denied` when the user refused.
    error: Option<String>,
}

/// Google's redirect after consent: finishes the connect and answers the integration.
#[utoipa::path(get, path = "/integrations/gmail/callback", tag = "integrations", security(),
    params(CallbackQuery),
    responses((status = 200, body = IntegrationView), (status = 403, body = Problem),
        (status = 422, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
async fn callback(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> ApiResult<Json<IntegrationView>> {
    let service = service(&state)?;
    if let Some(error) = q.error.filter(|e| !e.is_empty()) {
        return Err(ApiError::invalid_field(
            "error",
            format!("Google did not grant access: {error}"),
        ));
    }
    let code = q
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::invalid_field("code", "is required"))?;
    let oauth_state = q
        .state
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_field("state", "is required"))?;
    // The state is kept in the database: any server process may take it, once.
    let taken = service.gmail.take_connect(&oauth_state).await?;
    let (org_id, user_id) = (taken.org_id(), taken.user_id());
    // The user's role now, not when the connect started.
    let member = state
        .store
        .membership(org_id, user_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "not a member of this org",
            )
        })?;
    let ctx = TenantContext::user(org_id, user_id, member.role);
    let integration = service
        .gmail
        .finish_taken_connect(&ctx, &code, taken)
        .await?;
    Ok(Json(view(&state, &ctx, integration).await?))
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListPage {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List connected accounts (disconnected ones included), with their email counts.
#[utoipa::path(get, path = "/integrations", tag = "integrations", params(ListPage),
    responses((status = 200, body = Page<IntegrationView>), (status = 422, body = Problem)))]
async fn list_integrations(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListPage>,
) -> ApiResult<Json<Page<IntegrationView>>> {
    let listed = state
        .store
        .list_integrations(&ctx, page(q.limit, q.cursor.as_deref())?)
        .await?;
    let mut data = Vec::with_capacity(listed.data.len());
    for integration in listed.data {
        data.push(view(&state, &ctx, integration).await?);
    }
    Ok(Json(Page {
        data,
        next_cursor: listed.next_cursor,
    }))
}

/// A disconnected account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DisconnectedView {
    /// The integration, now `disconnected`.
    #[serde(flatten)]
    integration: IntegrationView,
    /// Whether Google confirmed revoking the grant.
    revoked: bool,
}

/// Disconnect an account (admin): revokes the grant at Google, deletes the credentials; stored
/// emails are kept.
#[utoipa::path(delete, path = "/integrations/{id}", tag = "integrations",
    params(("id" = IntegrationId, Path)),
    responses((status = 200, body = DisconnectedView), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn disconnect(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<IntegrationId>,
) -> ApiResult<Json<DisconnectedView>> {
    ctx.authorize(Access::Manage)?;
    let integration = state.store.get_integration(&ctx, id).await?;
    let (integration, revoked) = match &state.gmail {
        Some(service) if integration.provider == GMAIL => {
            let done = service.gmail.disconnect(&ctx, id).await?;
            (done.integration, done.revoked)
        }
        _ => (state.store.disconnect_integration(&ctx, id).await?, false),
    };
    Ok(Json(DisconnectedView {
        integration: view(&state, &ctx, integration).await?,
        revoked,
    }))
}

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

/// The org's Gmail account to send from: an active one, else one syncing or failing.
async fn default_integration(state: &AppState, ctx: &TenantContext) -> ApiResult<IntegrationId> {
    let first = PageRequest::first(100)?;
    let mut request = first;
    let mut fallback = None;
    loop {
        let listed = state.store.list_integrations(ctx, request).await?;
        for i in listed.data.iter().filter(|i| i.provider == GMAIL) {
            match i.status {
                IntegrationStatus::Active => return Ok(i.id),
                IntegrationStatus::Syncing | IntegrationStatus::Failing => {
                    fallback = fallback.or(Some(i.id));
                }
                // `needs_reauth`, `disconnected`, and any status a later version adds
                // (`IntegrationStatus` is non-exhaustive): not one to send from.
                _ => {}
            }
        }
        match listed.next_cursor {
            Some(cursor) => request = first.after(Some(cursor)),
            None => break,
        }
    }
    fallback.ok_or_else(|| {
        ApiError::invalid_field(
            "integration_id",
            "the org has no connected Gmail account to send from",
        )
    })
}

/// Send an email through a connected Gmail account, and record it.
#[utoipa::path(post, path = "/email/send", tag = "emails", request_body = SendEmailBody,
    responses((status = 201, body = Email), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem)))]
async fn send_email(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<SendEmailBody>,
) -> ApiResult<Response> {
    ctx.authorize(Access::WriteCrm)?;
    let service = service(&state)?;
    let to = addresses("to", &body.to)?;
    if to.is_empty() {
        return Err(ApiError::invalid_field(
            "to",
            "needs at least one recipient",
        ));
    }
    let cc = addresses("cc", &body.cc)?;
    let bcc = addresses("bcc", &body.bcc)?;
    let parent = match body.reply_to_email_id {
        Some(id) => Some(state.store.get_email(&ctx, id).await.map_err(|e| match e {
            workos_core::Error::NotFound { .. } => {
                ApiError::invalid_field("reply_to_email_id", "no such email")
            }
            other => other.into(),
        })?),
        None => None,
    };
    let integration_id = match (body.integration_id, &parent) {
        (Some(id), _) => id,
        (None, Some(p)) => p.integration_id,
        (None, None) => default_integration(&state, &ctx).await?,
    };
    let email = OutboundEmail {
        integration_id,
        to,
        cc,
        bcc,
        subject: body.subject,
        text: body.text,
        html: body.html,
        attachments: Vec::new(),
        in_reply_to: parent.as_ref().and_then(|p| p.message_id.clone()),
        thread_id: parent
            .as_ref()
            .filter(|p| p.integration_id == integration_id)
            .and_then(|p| p.thread_id.clone()),
    };
    let started = Utc::now() - chrono::Duration::seconds(5);
    let receipt = service
        .gmail
        .sender(PersonPolicy::SentOnly)
        .send_email(&ctx, email)
        .await
        .map_err(|e| match e {
            workos_core::Error::NotFound { .. } => {
                ApiError::invalid_field("integration_id", "no such integration")
            }
            other => other.into(),
        })?;
    // The sender recorded it: answer the stored email.
    let filter = EmailFilter {
        direction: Some(Direction::Outbound),
        thread_id: receipt.thread_id.clone(),
        integration_id: Some(integration_id),
        occurred: TimeRange {
            after: Some(started),
            before: None,
        },
        ..EmailFilter::default()
    };
    let first = PageRequest::first(200)?;
    let mut request = first;
    loop {
        let listed = state
            .store
            .list_emails(&ctx, filter.clone(), request)
            .await?;
        if let Some(stored) = listed
            .data
            .into_iter()
            .find(|e| e.provider_id == receipt.provider_message_id)
        {
            return Ok(created(format!("/api/v1/emails/{}", stored.id), stored));
        }
        match listed.next_cursor {
            Some(cursor) => request = first.after(Some(cursor)),
            None => break,
        }
    }
    // Sent, but recording failed (logged); the sync records it later.
    Ok((StatusCode::ACCEPTED, Json(receipt)).into_response())
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
    Ok(Json(
        state
            .store
            .list_emails(&ctx, filter, page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
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

/// Where an integration's sync stands.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SyncStatus {
    /// The integration.
    integration_id: IntegrationId,
    /// `active`, `syncing`, `failing`, `needs_reauth` or `disconnected`.
    status: IntegrationStatus,
    /// `full` or `incremental`, and the bookmark.
    #[schema(value_type = Object)]
    sync_state: SyncState,
    /// When a sync last completed.
    last_synced_at: Option<DateTime<Utc>>,
    /// What went wrong last.
    last_error: Option<String>,
    /// Stored emails.
    email_counts: EmailCounts,
    /// What the forced sync did (only in the answer to `POST`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    report: Option<workos_gmail::SyncReport>,
}

async fn sync_status_of(
    state: &AppState,
    ctx: &TenantContext,
    id: IntegrationId,
    report: Option<workos_gmail::SyncReport>,
) -> ApiResult<SyncStatus> {
    let integration = state.store.get_integration(ctx, id).await?;
    if integration.provider != GMAIL {
        return Err(ApiError::not_found("no Gmail integration with this id"));
    }
    let (inbound, outbound) = state.store.email_counts(ctx, id).await?;
    Ok(SyncStatus {
        integration_id: id,
        status: integration.status,
        sync_state: SyncState::from_value(&integration.sync_state),
        last_synced_at: integration.last_synced_at,
        last_error: integration.last_error,
        email_counts: EmailCounts { inbound, outbound },
        report,
    })
}

/// Where the sync of a Gmail integration stands.
#[utoipa::path(get, path = "/integrations/gmail/{id}/sync", tag = "integrations",
    params(("id" = IntegrationId, Path)),
    responses((status = 200, body = SyncStatus), (status = 404, body = Problem)))]
async fn sync_status(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<IntegrationId>,
) -> ApiResult<Json<SyncStatus>> {
    Ok(Json(sync_status_of(&state, &ctx, id, None).await?))
}

/// Sync a Gmail integration now (member); answers the run's report and the new state.
#[utoipa::path(post, path = "/integrations/gmail/{id}/sync", tag = "integrations",
    params(("id" = IntegrationId, Path)),
    responses((status = 202, body = SyncStatus), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 502, body = Problem)))]
async fn force_sync(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<IntegrationId>,
) -> ApiResult<Response> {
    ctx.authorize(Access::WriteCrm)?;
    let service = service(&state)?;
    // 404 for another org's id or a non-Gmail integration, before any call to Google.
    sync_status_of(&state, &ctx, id, None).await?;
    let report = service.engine.sync_once(&ctx, id).await?;
    let status = sync_status_of(&state, &ctx, id, Some(report)).await?;
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}
