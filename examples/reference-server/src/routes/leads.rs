//! Lead generation over REST: `/api/v1/leads` (capture and route, list, read, summary),
//! `/api/v1/partners` (CRUD and deliveries), `/api/v1/lead-deliveries/{id}/accept|reject|return`
//! (partner callbacks), `/api/v1/routing-settings` (admin), `/api/v1/lead-forms` (admin CRUD),
//! and the public intake `POST /api/v1/forms/{public_form_id}/leads` (no API key: an optional
//! HMAC signature, a honeypot field and a per-IP rate limit instead).

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{
    DeliveryCallback, Lead, LeadDelivery, LeadDeliveryFilter, LeadDeliveryStatus, LeadFilter,
    LeadForm, LeadFormId, LeadFormPatch, LeadStatus, LeadSummary, NewLead, NewLeadForm, NewPartner,
    Partner, PartnerFilter, PartnerPatch, Patch, ReturnReason, RoutingSettings,
    RoutingSettingsInput, TimeRange,
};
use workos_core::ids::{LeadDeliveryId, LeadId, PartnerId};
use workos_core::page::Page;
use workos_core::repo::{LeadDeliveryRepo, LeadFormRepo, LeadRepo, PartnerRepo, RoutingRepo};
use workos_core::tenant::{Access, TenantContext};
use workos_leads::forms;
use workos_leads::intake::{self, BodyFormat, IntakeError, Submission};

use super::{created, page, parse_filter};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx, parse_json};
use crate::idempotency::RedactOnReplay;
use crate::state::AppState;

/// Public form bodies above this are refused with 413.
pub(crate) const MAX_FORM_BODY_BYTES: usize = 64 * 1024;
/// Public form submissions allowed per client IP per minute.
pub(crate) const FORM_SUBMISSIONS_PER_MINUTE: u32 = 30;

/// The authenticated routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_leads, create_lead))
        .routes(routes!(lead_summary))
        .routes(routes!(get_lead))
        .routes(routes!(list_lead_deliveries))
        .routes(routes!(list_partners, create_partner))
        .routes(routes!(get_partner, update_partner, delete_partner))
        .routes(routes!(rotate_partner_secret))
        .routes(routes!(list_partner_deliveries))
        .routes(routes!(get_lead_delivery))
        .routes(routes!(accept_delivery))
        .routes(routes!(reject_delivery))
        .routes(routes!(return_delivery))
        .routes(routes!(get_routing_settings, put_routing_settings))
        .routes(routes!(list_lead_forms, create_lead_form))
        .routes(routes!(get_lead_form, update_lead_form, delete_lead_form))
}

/// The public intake (outside authentication).
pub(crate) fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit_form))
}

// ---------------------------------------------------------------------------------------------
// Leads

/// Filters and paging for listing leads.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListLeads {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// With this status.
    #[param(value_type = Option<LeadStatus>)]
    status: Option<String>,
    /// Routed to this partner.
    partner_id: Option<PartnerId>,
    /// With this last-touch `utm_source`.
    utm_source: Option<String>,
    /// With this last-touch `utm_campaign`.
    utm_campaign: Option<String>,
    /// Captured at or after.
    created_after: Option<DateTime<Utc>>,
    /// Captured before.
    created_before: Option<DateTime<Utc>>,
}

/// List leads.
#[utoipa::path(get, path = "/leads", tag = "leads", params(ListLeads),
    responses((status = 200, body = Page<Lead>), (status = 422, body = Problem)))]
async fn list_leads(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListLeads>,
) -> ApiResult<Json<Page<Lead>>> {
    let filter = LeadFilter {
        status: parse_filter::<LeadStatus>("status", q.status.as_deref())?,
        partner_id: q.partner_id,
        utm_source: q.utm_source.filter(|s| !s.is_empty()),
        utm_campaign: q.utm_campaign.filter(|s| !s.is_empty()),
        created: TimeRange {
            after: q.created_after,
            before: q.created_before,
        },
    };
    Ok(Json(
        state
            .store
            .list_leads(&ctx, filter, page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}

/// Captures a lead (deduplicated under the routing settings' policy for its vertical) and
/// routes it, in one transaction; a duplicate is stored but never routed.
async fn capture_and_route(state: &AppState, ctx: &TenantContext, new: NewLead) -> ApiResult<Lead> {
    Ok(state
        .store
        .capture_and_route_lead(ctx, new, Utc::now())
        .await?
        .lead)
}

/// Capture a lead and route it. The answer's `status` tells what became of it: `routed`,
/// `queued` (every partner buying it is capped or paused), `unrouted`, or `duplicate` (with
/// `duplicate_of`; duplicates are never routed).
#[utoipa::path(post, path = "/leads", tag = "leads", request_body = NewLead,
    responses((status = 201, body = Lead), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_lead(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewLead>,
) -> ApiResult<Response> {
    let lead = capture_and_route(&state, &ctx, new).await?;
    Ok(created(format!("/api/v1/leads/{}", lead.id), lead))
}

/// Get a lead.
#[utoipa::path(get, path = "/leads/{id}", tag = "leads", params(("id" = LeadId, Path)),
    responses((status = 200, body = Lead), (status = 404, body = Problem)))]
async fn get_lead(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadId>,
) -> ApiResult<Json<Lead>> {
    Ok(Json(state.store.get_lead(&ctx, id).await?))
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct Paging {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List a lead's deliveries.
#[utoipa::path(get, path = "/leads/{id}/deliveries", tag = "leads",
    params(("id" = LeadId, Path), Paging),
    responses((status = 200, body = Page<LeadDelivery>), (status = 404, body = Problem)))]
async fn list_lead_deliveries(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadId>,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Json<Page<LeadDelivery>>> {
    Ok(Json(
        state
            .store
            .list_lead_deliveries(&ctx, id, page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}

/// The summary's range.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SummaryRange {
    /// From (inclusive).
    from: Option<DateTime<Utc>>,
    /// To (exclusive).
    to: Option<DateTime<Utc>>,
}

/// Leads and deliveries over a range, with acceptance and return rates per partner and per
/// `utm_source` / `utm_campaign`.
#[utoipa::path(get, path = "/leads/summary", tag = "leads", params(SummaryRange),
    responses((status = 200, body = LeadSummary), (status = 422, body = Problem)))]
async fn lead_summary(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<SummaryRange>,
) -> ApiResult<Json<LeadSummary>> {
    let range = TimeRange {
        after: q.from,
        before: q.to,
    };
    Ok(Json(state.store.lead_summary(&ctx, range).await?))
}

// ---------------------------------------------------------------------------------------------
// Partners

/// Filters and paging for listing partners.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListPartners {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only active (`true`) or paused (`false`) partners.
    active: Option<bool>,
}

/// List partners.
#[utoipa::path(get, path = "/partners", tag = "partners", params(ListPartners),
    responses((status = 200, body = Page<Partner>), (status = 422, body = Problem)))]
async fn list_partners(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<ListPartners>,
) -> ApiResult<Json<Page<Partner>>> {
    let filter = PartnerFilter { active: q.active };
    Ok(Json(
        state
            .store
            .list_partners(&ctx, filter, page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}

/// A partner with its new webhook signing secret: store the secret now, it is not shown again.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PartnerWithSecret {
    #[serde(flatten)]
    partner: Partner,
    /// `whsec_…` (Standard Webhooks): verify the leads POSTed to the partner with it. Present
    /// when a webhook partner is created or a partner is switched to webhook delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_secret: Option<String>,
}

/// A partner's new signing secret. The previous ones keep verifying for the grace period (24 h).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RotatedPartnerSecret {
    /// `whsec_…`.
    signing_secret: String,
}

/// `body` as the answer, with its `signing_secret` never kept for idempotent replays.
fn with_signing_secret<T: Serialize>(location: Option<String>, body: T) -> Response {
    let mut response = match location {
        Some(location) => created(location, body),
        None => (StatusCode::OK, Json(body)).into_response(),
    };
    response
        .extensions_mut()
        .insert(RedactOnReplay(&["signing_secret"]));
    response
}

/// Create a partner (admin). A webhook partner's answer holds its `signing_secret`, once.
#[utoipa::path(post, path = "/partners", tag = "partners", request_body = NewPartner,
    responses((status = 201, body = PartnerWithSecret), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_partner(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(new): ApiJson<NewPartner>,
) -> ApiResult<Response> {
    let (partner, secret) = state.partners.create(&ctx, new).await?;
    Ok(with_signing_secret(
        Some(format!("/api/v1/partners/{}", partner.id)),
        PartnerWithSecret {
            partner,
            signing_secret: secret.map(|s| s.expose().to_owned()),
        },
    ))
}

/// Rotate a webhook partner's signing secret (admin): the answer holds the new secret, once.
#[utoipa::path(post, path = "/partners/{id}/rotate-secret", tag = "partners", params(("id" = PartnerId, Path)),
    responses((status = 200, body = RotatedPartnerSecret), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn rotate_partner_secret(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PartnerId>,
) -> ApiResult<Response> {
    let secret = state.partners.rotate_secret(&ctx, id).await?;
    Ok(with_signing_secret(
        None,
        RotatedPartnerSecret {
            signing_secret: secret.expose().to_owned(),
        },
    ))
}

/// Get a partner.
#[utoipa::path(get, path = "/partners/{id}", tag = "partners", params(("id" = PartnerId, Path)),
    responses((status = 200, body = Partner), (status = 404, body = Problem)))]
async fn get_partner(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PartnerId>,
) -> ApiResult<Json<Partner>> {
    Ok(Json(state.store.get_partner(&ctx, id).await?))
}

/// Update a partner (admin); absent fields are kept, `null` clears a cap. A partner switched to
/// webhook delivery gets a signing secret, in this answer only.
#[utoipa::path(patch, path = "/partners/{id}", tag = "partners", params(("id" = PartnerId, Path)),
    request_body = PartnerPatch,
    responses((status = 200, body = PartnerWithSecret), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_partner(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PartnerId>,
    ApiJson(patch): ApiJson<PartnerPatch>,
) -> ApiResult<Response> {
    let (partner, secret) = state.partners.update(&ctx, id, patch).await?;
    Ok(with_signing_secret(
        None,
        PartnerWithSecret {
            partner,
            signing_secret: secret.map(|s| s.expose().to_owned()),
        },
    ))
}

/// Delete a partner (admin; its deliveries stay).
#[utoipa::path(delete, path = "/partners/{id}", tag = "partners", params(("id" = PartnerId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_partner(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PartnerId>,
) -> ApiResult<StatusCode> {
    state.store.delete_partner(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Filters and paging for a partner's deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListPartnerDeliveries {
    /// Page size, 1–200 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// With this status.
    #[param(value_type = Option<LeadDeliveryStatus>)]
    status: Option<String>,
    /// Recorded at or after.
    created_after: Option<DateTime<Utc>>,
    /// Recorded before.
    created_before: Option<DateTime<Utc>>,
}

/// List a partner's deliveries.
#[utoipa::path(get, path = "/partners/{id}/deliveries", tag = "partners",
    params(("id" = PartnerId, Path), ListPartnerDeliveries),
    responses((status = 200, body = Page<LeadDelivery>), (status = 404, body = Problem)))]
async fn list_partner_deliveries(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<PartnerId>,
    ApiQuery(q): ApiQuery<ListPartnerDeliveries>,
) -> ApiResult<Json<Page<LeadDelivery>>> {
    let filter = LeadDeliveryFilter {
        status: parse_filter::<LeadDeliveryStatus>("status", q.status.as_deref())?,
        created: TimeRange {
            after: q.created_after,
            before: q.created_before,
        },
    };
    Ok(Json(
        state
            .store
            .list_partner_deliveries(&ctx, id, filter, page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Partner callbacks

/// Get a delivery.
#[utoipa::path(get, path = "/lead-deliveries/{id}", tag = "leads",
    params(("id" = LeadDeliveryId, Path)),
    responses((status = 200, body = LeadDelivery), (status = 404, body = Problem)))]
async fn get_lead_delivery(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadDeliveryId>,
) -> ApiResult<Json<LeadDelivery>> {
    Ok(Json(state.store.get_lead_delivery(&ctx, id).await?))
}

/// An accept or reject: an optional note.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallbackNote {
    /// A note, up to 2,000 characters.
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*$")]
    note: Option<String>,
}

/// A return: why, and an optional note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReturnBody {
    /// `bad_contact_info`, `duplicate`, `out_of_area` or `other`.
    reason: ReturnReason,
    /// A note, up to 2,000 characters.
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\u0000]*$")]
    note: Option<String>,
}

/// An optional JSON body: empty means the type's default.
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    // No body, or `null` (as the document allows): the defaults.
    let text = body.trim_ascii();
    if text.is_empty() || text == b"null" {
        Ok(T::default())
    } else {
        parse_json(body)
    }
}

async fn callback(
    state: &AppState,
    ctx: &TenantContext,
    id: LeadDeliveryId,
    callback: DeliveryCallback,
) -> ApiResult<Json<LeadDelivery>> {
    Ok(Json(
        state
            .store
            .delivery_callback(ctx, id, callback, Utc::now())
            .await?,
    ))
}

/// The partner accepted (bought) a delivered lead.
#[utoipa::path(post, path = "/lead-deliveries/{id}/accept", tag = "leads",
    params(("id" = LeadDeliveryId, Path)), request_body(content = Option<CallbackNote>),
    responses((status = 200, body = LeadDelivery), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn accept_delivery(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadDeliveryId>,
    body: Bytes,
) -> ApiResult<Json<LeadDelivery>> {
    let CallbackNote { note } = optional_json(&body)?;
    callback(&state, &ctx, id, DeliveryCallback::Accept { note }).await
}

/// The partner rejected a delivered lead.
#[utoipa::path(post, path = "/lead-deliveries/{id}/reject", tag = "leads",
    params(("id" = LeadDeliveryId, Path)), request_body(content = Option<CallbackNote>),
    responses((status = 200, body = LeadDelivery), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn reject_delivery(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadDeliveryId>,
    body: Bytes,
) -> ApiResult<Json<LeadDelivery>> {
    let CallbackNote { note } = optional_json(&body)?;
    callback(&state, &ctx, id, DeliveryCallback::Reject { note }).await
}

/// The partner returned a lead within the return window (default 7 days after routing); it
/// stops counting toward the partner's caps. After the window: 409 on `return_window`.
#[utoipa::path(post, path = "/lead-deliveries/{id}/return", tag = "leads",
    params(("id" = LeadDeliveryId, Path)), request_body = ReturnBody,
    responses((status = 200, body = LeadDelivery), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn return_delivery(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadDeliveryId>,
    ApiJson(body): ApiJson<ReturnBody>,
) -> ApiResult<Json<LeadDelivery>> {
    let cb = DeliveryCallback::Return {
        reason: body.reason,
        note: body.note,
    };
    callback(&state, &ctx, id, cb).await
}

// ---------------------------------------------------------------------------------------------
// Routing settings

/// Which settings.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SettingsScope {
    /// A vertical's own settings; absent for the org-wide ones.
    vertical: Option<String>,
}

/// The routing settings in force for a vertical (or the org) (admin).
#[utoipa::path(get, path = "/routing-settings", tag = "leads", params(SettingsScope),
    responses((status = 200, body = RoutingSettings), (status = 403, body = Problem)))]
async fn get_routing_settings(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<SettingsScope>,
) -> ApiResult<Json<RoutingSettings>> {
    ctx.authorize(Access::Manage)?;
    Ok(Json(
        state.store.get_routing_settings(&ctx, q.vertical).await?,
    ))
}

/// Replace the routing settings of a vertical (or the org) (admin); absent fields take their
/// defaults.
#[utoipa::path(put, path = "/routing-settings", tag = "leads", params(SettingsScope),
    request_body = RoutingSettingsInput,
    responses((status = 200, body = RoutingSettings), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_routing_settings(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<SettingsScope>,
    ApiJson(input): ApiJson<RoutingSettingsInput>,
) -> ApiResult<Json<RoutingSettings>> {
    Ok(Json(
        state
            .store
            .put_routing_settings(&ctx, q.vertical, input)
            .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Lead forms (admin)

/// A new lead form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateLeadForm {
    /// Name, 1–200 characters.
    name: String,
    /// The vertical of submissions that do not name one.
    #[serde(default)]
    vertical: Option<String>,
    /// The honeypot field (default `website`).
    #[serde(default)]
    honeypot_field: Option<String>,
    /// Fields a submission must fill.
    #[serde(default)]
    required_fields: Vec<String>,
    /// A shared secret (16–256 characters): submissions must then carry
    /// `X-Form-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. Never shown again.
    #[serde(default)]
    #[schema(min_length = 16, max_length = 256)]
    secret: Option<String>,
    /// Takes submissions (default true).
    #[serde(default)]
    active: Option<bool>,
}

/// A change to a lead form.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct UpdateLeadForm {
    /// New name.
    name: Option<String>,
    /// New default vertical, or `null` to clear it.
    #[schema(value_type = Option<String>)]
    vertical: Patch<String>,
    /// New honeypot field.
    honeypot_field: Option<String>,
    /// Replacement required fields.
    required_fields: Option<Vec<String>>,
    /// A new secret, or `null` to stop requiring signatures.
    #[schema(value_type = Option<String>, min_length = 16, max_length = 256)]
    secret: Patch<String>,
    /// Open or close the form.
    active: Option<bool>,
}

/// Paging for forms.
#[utoipa::path(get, path = "/lead-forms", tag = "lead-forms", params(Paging),
    responses((status = 200, body = Page<LeadForm>)))]
async fn list_lead_forms(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Json<Page<LeadForm>>> {
    Ok(Json(
        state
            .store
            .list_lead_forms(&ctx, page(q.limit, q.cursor.as_deref())?)
            .await?,
    ))
}

/// Create a public lead form (admin). Its `public_form_id` is random; submissions go to
/// `POST /api/v1/forms/{public_form_id}/leads`.
#[utoipa::path(post, path = "/lead-forms", tag = "lead-forms", request_body = CreateLeadForm,
    responses((status = 201, body = LeadForm), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_lead_form(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<CreateLeadForm>,
) -> ApiResult<Response> {
    let mut new = NewLeadForm::new(body.name);
    new.vertical = body.vertical;
    if let Some(h) = body.honeypot_field {
        new.honeypot_field = h;
    }
    new.required_fields = body.required_fields;
    new.active = body.active.unwrap_or(true);
    let secret = body.secret.as_deref();
    let form = forms::create(&state.store, &state.cipher, &ctx, new, secret).await?;
    Ok(created(format!("/api/v1/lead-forms/{}", form.id), form))
}

/// Get a lead form.
#[utoipa::path(get, path = "/lead-forms/{id}", tag = "lead-forms", params(("id" = LeadFormId, Path)),
    responses((status = 200, body = LeadForm), (status = 404, body = Problem)))]
async fn get_lead_form(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadFormId>,
) -> ApiResult<Json<LeadForm>> {
    Ok(Json(state.store.get_lead_form(&ctx, id).await?))
}

/// Update a lead form (admin).
#[utoipa::path(patch, path = "/lead-forms/{id}", tag = "lead-forms", params(("id" = LeadFormId, Path)),
    request_body = UpdateLeadForm,
    responses((status = 200, body = LeadForm), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_lead_form(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadFormId>,
    ApiJson(body): ApiJson<UpdateLeadForm>,
) -> ApiResult<Json<LeadForm>> {
    let patch = LeadFormPatch {
        name: body.name,
        vertical: body.vertical,
        honeypot_field: body.honeypot_field,
        required_fields: body.required_fields,
        active: body.active,
    };
    let form = forms::update(&state.store, &state.cipher, &ctx, id, patch, body.secret).await?;
    Ok(Json(form))
}

/// Delete a lead form (admin): its public URL stops answering.
#[utoipa::path(delete, path = "/lead-forms/{id}", tag = "lead-forms", params(("id" = LeadFormId, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_lead_form(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<LeadFormId>,
) -> ApiResult<StatusCode> {
    state.store.delete_lead_form(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Public intake

/// The client's address for the per-IP limit and the consent record: the TCP peer, unless the
/// peer is a trusted proxy (`WORKOS_TRUSTED_PROXIES`); then the right-most `X-Forwarded-For`
/// entry that is not a trusted proxy (entries left of it are the client's to forge). When
/// every entry is trusted, the left-most; when an entry does not parse, the trusted hop just
/// right of it. `None` without a peer (served without connect info): every such client then
/// shares one budget.
pub(crate) fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer?.ip().to_canonical();
    if !is_trusted(&client) {
        return Some(client);
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    for hop in hops.rsplit(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    Some(client)
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "status": "accepted" }))).into_response()
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        "the body is over 64 KiB",
    )
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::UnsupportedMediaType => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                e.to_string(),
            ),
            IntakeError::Body(e) => e.into(),
            IntakeError::Engine(e) => e.into(),
        }
    }
}

/// Submit a lead to a public form (no API key). Limited per client IP (429); bodies over 64 KiB
/// are refused (413); a form with a secret needs `X-Form-Signature: sha256=<hex HMAC-SHA256 of
/// the raw body>` (403 otherwise); a filled honeypot field is answered 202 and dropped; missing
/// required fields are a 422 naming each. Accepted submissions are captured and routed like
/// `POST /leads` and answered 202, telling the submitter nothing more.
#[utoipa::path(post, path = "/forms/{public_form_id}/leads", tag = "lead-forms", security(),
    params(("public_form_id" = String, Path, description = "The form's public id")),
    request_body = NewLead,
    responses((status = 202, description = "Accepted"), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn submit_form(
    State(state): State<AppState>,
    Path(public_form_id): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = client_ip(headers, peer, &state.trusted_proxies);
    let limiter = &state.form_limiter;
    if let Err(not_until) =
        limiter.check_key(&ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()))
    {
        return Err(ApiError::rate_limited(
            not_until.wait_time_from(DefaultClock::default().now()),
        ));
    }
    if limiter.len() > 100_000 {
        limiter.retain_recent();
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BODY_BYTES) {
        return Err(too_large());
    }
    let body: Bytes = axum::body::to_bytes(body, MAX_FORM_BODY_BYTES)
        .await
        .map_err(|_| too_large())?;

    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let submission = Submission {
        public_form_id: &public_form_id,
        format: BodyFormat::from_content_type(text(header::CONTENT_TYPE.as_str())),
        body: &body,
        signature: text("x-form-signature"),
        client_ip: ip,
        request_id: text("x-request-id"),
    };
    intake::submit(&state.store, &state.cipher, submission).await?;
    Ok(accepted())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let untrusted_peer = Some("198.51.100.1:5000".parse().unwrap());
        let proxy_peer = Some("10.0.0.5:5000".parse().unwrap());
        // An untrusted peer's header is ignored.
        assert_eq!(
            client_ip(&xff("1.2.3.4"), untrusted_peer, &trusted),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            client_ip(&xff("1.2.3.4"), untrusted_peer, &[]),
            Some(ip("198.51.100.1"))
        );
        // Behind a trusted proxy: the right-most untrusted entry.
        assert_eq!(
            client_ip(&xff("6.6.6.6, 1.2.3.4, 10.9.9.9"), proxy_peer, &trusted),
            Some(ip("1.2.3.4"))
        );
        // Every entry trusted: the left-most; no header: the proxy itself.
        assert_eq!(
            client_ip(&xff("10.1.1.1, 10.2.2.2"), proxy_peer, &trusted),
            Some(ip("10.1.1.1"))
        );
        assert_eq!(
            client_ip(&HeaderMap::new(), proxy_peer, &trusted),
            Some(ip("10.0.0.5"))
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client_ip(&xff("1.2.3.4, junk, 10.3.3.3"), proxy_peer, &trusted),
            Some(ip("10.3.3.3"))
        );
        // IPv4-mapped IPv6 peers match IPv4 ranges.
        let mapped = Some("[::ffff:10.0.0.5]:5000".parse().unwrap());
        assert_eq!(
            client_ip(&xff("1.2.3.4"), mapped, &trusted),
            Some(ip("1.2.3.4"))
        );
        // Without connect info there is no client address.
        assert_eq!(client_ip(&xff("1.2.3.4"), None, &trusted), None);
    }
}
