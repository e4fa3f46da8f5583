//! `/api/v1/api-keys`: the secret is shown once, at creation; lists never show it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{ApiKey, ApiKeyPatch};
use workos_core::ids::ApiKeyId;
use workos_core::page::Page;
use workos_core::repo::ApiKeyRepo;
use workos_core::tenant::Role;

use super::{Paging, created};
use crate::bootstrap::issue_api_key;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Ctx};
use crate::idempotency::RedactOnReplay;
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(get_api_key, update_api_key, revoke_api_key))
}

/// A new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewApiKeyBody {
    /// A label, 1–200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
    )]
    name: String,
    /// The role the key acts with; at most the caller's own.
    role: Role,
}

/// A created key, with its secret: store it now, it is never shown again.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedApiKey {
    #[serde(flatten)]
    key: ApiKey,
    /// The secret to send as `Authorization: Bearer …`.
    api_key: String,
}

/// List keys, revoked ones included (admin).
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", params(Paging),
    responses((status = 200, body = Page<ApiKey>), (status = 403, body = Problem)))]
async fn list_api_keys(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Json<Page<ApiKey>>> {
    Ok(Json(state.store.list_api_keys(&ctx, q.page()?).await?))
}

/// Create a key (admin); the answer holds the secret, once. An org holds at most 100 live keys
/// (`409` on `api_keys` past it: revoke one first).
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = NewApiKeyBody,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_api_key(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiJson(body): ApiJson<NewApiKeyBody>,
) -> ApiResult<Response> {
    let (key, secret) =
        issue_api_key(&state.store, &state.hasher, &ctx, &body.name, body.role).await?;
    // Its prefix may be one this process remembers as unknown.
    state.authn.authenticator().forget_api_key(key.id);
    let location = format!("/api/v1/api-keys/{}", key.id);
    let mut response = created(
        location,
        CreatedApiKey {
            key,
            api_key: secret.expose().to_owned(),
        },
    );
    // The secret is shown once: an idempotent replay answers without it.
    response
        .extensions_mut()
        .insert(RedactOnReplay(&["api_key"]));
    Ok(response)
}

/// Get a key (never its secret).
#[utoipa::path(get, path = "/api-keys/{id}", tag = "api-keys", params(("id" = ApiKeyId, Path)),
    responses((status = 200, body = ApiKey), (status = 404, body = Problem)))]
async fn get_api_key(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> ApiResult<Json<ApiKey>> {
    Ok(Json(state.store.get_api_key(&ctx, id).await?))
}

/// Rename a key (admin).
#[utoipa::path(patch, path = "/api-keys/{id}", tag = "api-keys", params(("id" = ApiKeyId, Path)), request_body = ApiKeyPatch,
    responses((status = 200, body = ApiKey), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_api_key(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<ApiKeyId>,
    ApiJson(patch): ApiJson<ApiKeyPatch>,
) -> ApiResult<Json<ApiKey>> {
    Ok(Json(state.store.update_api_key(&ctx, id, patch).await?))
}

/// Revoke a key (admin; an owner's key: owner); it never authenticates again.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys", params(("id" = ApiKeyId, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_api_key(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> ApiResult<StatusCode> {
    state.store.revoke_api_key(&ctx, id).await?;
    state.authn.authenticator().forget_api_key(id);
    Ok(StatusCode::NO_CONTENT)
}
