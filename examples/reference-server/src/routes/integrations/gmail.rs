//! `/api/v1/integrations/gmail/…`: connecting a Gmail mailbox (`connect`, and Google's redirect
//! to `callback`) and its sync (`{id}/sync`), through [`workos_gmail::Gmail`].
//!
//! Connecting needs a signed-in admin user (a user JWT): Google's consent is given by a person,
//! and the OAuth state is bound to the org and that user. An API key gets a 422 saying so.
//!
//! The callback is public: Google redirects the browser there without our credentials. The
//! `state` (single use, unguessable, ten minutes) and the browser cookie set by `connect`
//! authenticate it: `connect` answers `Set-Cookie: workos_gmail_connect=<nonce>` (HttpOnly,
//! Secure, SameSite=Lax, ten minutes, only sent to the callback path), and the callback is
//! refused (422 on `state`, nothing stored) unless the cookie matches the connect's binding, so
//! a consent link sent to someone else cannot connect their mailbox to the sender's org. The
//! engine then gives back the org and user that started the connect, the server checks that the
//! user is still a member (as it authenticates any user), and the engine finishes the connect
//! as that user if they are still an admin. It answers the integration as JSON, whose `account`
//! is the connected Gmail address (a browser app would rather redirect to its own page that
//! shows it; the JSON keeps this server UI-free).

use axum::Json;
use axum::extract::State;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{GMAIL, IntegrationStatus};
use workos_core::ids::IntegrationId;
use workos_core::repo::IntegrationRepo;
use workos_core::tenant::TenantContext;
use workos_gmail::{SyncReport, SyncState};

use super::{EmailCounts, IntegrationView};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery, Ctx};
use crate::state::AppState;
use workos_gmail::GmailService;

/// The authenticated routes.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(connect))
        .routes(routes!(sync_status, force_sync))
}

/// The public route Google redirects the browser to.
pub(super) fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(callback))
}

/// Gmail, or a 409 `integration-not-configured` naming what to configure.
pub(crate) fn service(state: &AppState) -> ApiResult<&GmailService> {
    state.gmail.as_ref().ok_or_else(|| {
        ApiError::not_configured(
            "Gmail is not configured on this server (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, GOOGLE_REDIRECT_URL)",
        )
    })
}

/// Where to send the user to connect a Gmail account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectStarted {
    /// Google's consent page.
    authorization_url: String,
}

/// The cookie that binds a connect to the browser that started it.
pub(crate) const CONNECT_COOKIE: &str = "workos_gmail_connect";
/// The only path the cookie is sent to.
const CALLBACK_PATH: &str = "/api/v1/integrations/gmail/callback";

/// `Set-Cookie` for the connect cookie holding `value`, kept `max_age` seconds.
fn connect_cookie(value: &str, max_age: u64) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{CONNECT_COOKIE}={value}; Max-Age={max_age}; Path={CALLBACK_PATH}; HttpOnly; Secure; SameSite=Lax"
    ))
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"))
}

/// The connect cookie the browser sent, if any.
fn presented_nonce(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CONNECT_COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Start connecting a Gmail account (admin, signed-in user): Google's consent URL, and a
/// cookie (`workos_gmail_connect`, HttpOnly, Secure, SameSite=Lax, 10 minutes) that the same
/// browser must bring to the callback.
#[utoipa::path(get, path = "/integrations/gmail/connect", tag = "integrations",
    responses((status = 200, body = ConnectStarted, headers(("set-cookie" = String, description = "the connect cookie"))),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn connect(State(state): State<AppState>, Ctx(ctx): Ctx) -> ApiResult<Response> {
    let start = service(&state)?.client.start_connect(&ctx).await?;
    let cookie = connect_cookie(
        &start.pending.browser_nonce,
        workos_gmail::oauth::STATE_TTL.as_secs(),
    )?;
    let mut response = Json(ConnectStarted {
        authorization_url: start.authorization_url.to_string(),
    })
    .into_response();
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
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

/// Google's redirect after consent: finishes the connect, when the browser brings the connect
/// cookie `connect` set, and answers the integration (its `account` is the Gmail address).
#[utoipa::path(get, path = "/integrations/gmail/callback", tag = "integrations", security(),
    params(CallbackQuery),
    responses((status = 200, body = IntegrationView), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 502, body = Problem)))]
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> ApiResult<Response> {
    let gmail = &service(&state)?.client;
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
    // The state is kept in the database: any server process may take it, once, and only
    // with the cookie of the browser that started the connect.
    let taken = gmail
        .take_connect(&oauth_state, presented_nonce(&headers))
        .await?;
    // The user's role now, not when the connect started.
    let ctx = state
        .authn
        .member_context(taken.org_id(), taken.user_id())
        .await?;
    let integration = gmail.finish_taken_connect(&ctx, &code, taken).await?;
    let mut response = Json(IntegrationView::of(&state, &ctx, integration).await?).into_response();
    // Spent: the browser may forget it.
    response
        .headers_mut()
        .insert(SET_COOKIE, connect_cookie("", 0)?);
    Ok(response)
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
    report: Option<SyncReport>,
}

impl SyncStatus {
    /// The status of Gmail integration `id`: 404 for another org's id or another provider's
    /// integration.
    async fn of(
        state: &AppState,
        ctx: &TenantContext,
        id: IntegrationId,
        report: Option<SyncReport>,
    ) -> ApiResult<Self> {
        let integration = state.store.get_integration(ctx, id).await?;
        if integration.provider != GMAIL {
            return Err(ApiError::not_found("no Gmail integration with this id"));
        }
        Ok(Self {
            integration_id: id,
            status: integration.status,
            sync_state: SyncState::from_value(&integration.sync_state),
            last_synced_at: integration.last_synced_at,
            last_error: integration.last_error,
            email_counts: EmailCounts::of(state, ctx, id).await?,
            report,
        })
    }
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
    Ok(Json(SyncStatus::of(&state, &ctx, id, None).await?))
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
    let gmail = service(&state)?;
    // 404 for another org's id or a non-Gmail integration, before any call to Google.
    SyncStatus::of(&state, &ctx, id, None).await?;
    let report = gmail.sync.sync_once(&ctx, id).await?;
    let status = SyncStatus::of(&state, &ctx, id, Some(report)).await?;
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}
