//! `/api/v1/integrations`: the org's connected accounts (disconnected ones included), with
//! their stored email counts; connecting a Gmail mailbox ([`gmail`]) and the org's own Twilio
//! account ([`twilio`]) have routes of their own.

#[cfg(feature = "gmail")]
mod gmail;
#[cfg(feature = "gmail")]
pub(crate) use gmail::service as gmail_service;
#[cfg(feature = "twilio")]
mod twilio;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::Integration;
use workos_core::ids::IntegrationId;
use workos_core::page::Page;
use workos_core::repo::{EmailRepo, IntegrationRepo};
use workos_core::tenant::TenantContext;

use super::Paging;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery, Ctx};
use crate::state::AppState;

/// The authenticated routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new();
    #[cfg(feature = "gmail")]
    let router = router.merge(gmail::router());
    let router = router
        .routes(routes!(list_integrations))
        .routes(routes!(disconnect));
    #[cfg(feature = "twilio")]
    let router = router.merge(twilio::router());
    router
}

/// The public route Google redirects the browser to.
pub(crate) fn public_router() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new();
    #[cfg(feature = "gmail")]
    let router = router.merge(gmail::public_router());
    router
}

/// How many emails of an integration are stored.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmailCounts {
    /// Received.
    inbound: u64,
    /// Sent.
    outbound: u64,
}

impl EmailCounts {
    /// The counts of integration `id`.
    async fn of(state: &AppState, ctx: &TenantContext, id: IntegrationId) -> ApiResult<Self> {
        let (inbound, outbound) = state.store.email_counts(ctx, id).await?;
        Ok(Self { inbound, outbound })
    }
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

impl IntegrationView {
    async fn of(
        state: &AppState,
        ctx: &TenantContext,
        integration: Integration,
    ) -> ApiResult<Self> {
        Ok(Self {
            email_counts: EmailCounts::of(state, ctx, integration.id).await?,
            integration,
        })
    }
}

/// List connected accounts (disconnected ones included), with their email counts.
#[utoipa::path(get, path = "/integrations", tag = "integrations", params(Paging),
    responses((status = 200, body = Page<IntegrationView>), (status = 422, body = Problem)))]
async fn list_integrations(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Json<Page<IntegrationView>>> {
    let listed = state.store.list_integrations(&ctx, q.page()?).await?;
    let mut data = Vec::with_capacity(listed.data.len());
    for integration in listed.data {
        data.push(IntegrationView::of(&state, &ctx, integration).await?);
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
    // 404 for another org's id (or none), whatever the caller's role.
    #[cfg_attr(not(feature = "gmail"), allow(unused_variables))]
    let integration = state.store.get_integration(&ctx, id).await?;
    // A Gmail mailbox's grant is revoked at Google first; any other account is disconnected in
    // the store alone. Both refuse non-admins.
    #[cfg(feature = "gmail")]
    if let Some(gmail) = &state.gmail
        && integration.provider == workos_core::domain::GMAIL
    {
        let done = gmail.client.disconnect(&ctx, id).await?;
        return DisconnectedView::of(&state, &ctx, done.integration, done.revoked).await;
    }
    let integration = state.store.disconnect_integration(&ctx, id).await?;
    DisconnectedView::of(&state, &ctx, integration, false).await
}

impl DisconnectedView {
    async fn of(
        state: &AppState,
        ctx: &TenantContext,
        integration: Integration,
        revoked: bool,
    ) -> ApiResult<Json<Self>> {
        Ok(Json(Self {
            integration: IntegrationView::of(state, ctx, integration).await?,
            revoked,
        }))
    }
}
