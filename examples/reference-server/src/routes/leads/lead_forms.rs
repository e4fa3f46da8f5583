//! `/api/v1/lead-forms` (admin CRUD): public lead forms; their submissions are
//! [`form_submissions`](super::form_submissions)'.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{LeadForm, LeadFormId, LeadFormPatch, NewLeadForm, Patch};
use workos_core::page::Page;
use workos_core::repo::LeadFormRepo;
use workos_leads::forms;

use super::Paging;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::routes::{created, page};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_lead_forms, create_lead_form))
        .routes(routes!(get_lead_form, update_lead_form, delete_lead_form))
}

/// A new lead form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateLeadForm {
    /// Name, 1–200 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
    )]
    name: String,
    /// The vertical of submissions that do not name one, up to 100 characters (trimmed and
    /// lower-cased).
    #[serde(default)]
    #[schema(max_length = 100, pattern = r"^[^\u0000]*$")]
    vertical: Option<String>,
    /// The honeypot field (default `website`): 1–100 letters, digits, `_` or `-`, and not
    /// one of the lead's own fields (`first_name`, `email`, …).
    #[serde(default)]
    #[schema(value_type = Option<HoneypotField>)]
    honeypot_field: Option<String>,
    /// Fields a submission must fill.
    #[serde(default)]
    #[schema(value_type = Vec<FormField>)]
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
    /// New name, 1–200 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
    )]
    name: Option<String>,
    /// New default vertical (as on create), or `null` to clear it.
    #[schema(value_type = Option<String>, max_length = 100, pattern = r"^[^\u0000]*$")]
    vertical: Patch<String>,
    /// New honeypot field, as on create.
    #[schema(value_type = Option<HoneypotField>)]
    honeypot_field: Option<String>,
    /// Replacement required fields.
    #[schema(value_type = Option<Vec<FormField>>)]
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

/// The document's schema of a honeypot field's name (what [`NewLeadForm::validate`] accepts).
pub(crate) struct HoneypotField;

impl utoipa::PartialSchema for HoneypotField {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let lead_fields = workos_core::domain::FORM_FIELDS.join("|");
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(format!(
                "^(?!({lead_fields})$)[A-Za-z0-9_-]{{1,100}}$"
            )))
            .description(Some(
                "1–100 letters, digits, `_` or `-`, and not one of the lead's own fields.",
            ))
            .examples(Some(serde_json::Value::from("website")))
            .into()
    }
}

impl ToSchema for HoneypotField {}

/// The document's schema of a field a form can require: one of the lead's own fields.
pub(crate) struct FormField;

impl utoipa::PartialSchema for FormField {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(workos_core::domain::FORM_FIELDS.iter().copied()))
            .into()
    }
}

impl ToSchema for FormField {}
