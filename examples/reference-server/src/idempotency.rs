//! `Idempotency-Key` on POST: a retry with the same key and body gets the first response; the
//! same key with a different body is a 422; a retry while the first is still running is a 409.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use sha2::{Digest, Sha256};
use workos_core::repo::{IdempotencyRepo, IdempotencyState, StoredResponse};
use workos_core::tenant::{Actor, TenantContext};

use crate::error::ApiError;
use crate::state::AppState;

/// Bodies above this are not kept for replay (the request limit is 1 MiB as well).
const MAX_BODY: usize = 1 << 20;

/// The middleware; runs after authentication.
pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (Some(key), true) = (key, req.method() == Method::POST) else {
        return next.run(req).await;
    };
    if key.is_empty() || key.len() > 255 {
        return ApiError::invalid_field("Idempotency-Key", "must be 1 to 255 characters")
            .into_response();
    }
    let Some(ctx) = req.extensions().get::<TenantContext>().cloned() else {
        return next.run(req).await;
    };
    // Keys belong to the caller, not just the org: another member sending the same key must
    // never be handed this caller's answer.
    let key = format!("{}:{key}", caller(&ctx));

    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "the body is over 1 MiB",
            )
            .into_response();
        }
    };
    let mut hash = Sha256::new();
    hash.update(parts.uri.path().as_bytes());
    hash.update([0]);
    hash.update(&bytes);
    let fingerprint = hash.finalize();

    match state
        .store
        .reserve_idempotent(&ctx, &key, &fingerprint)
        .await
    {
        Err(e) => return ApiError::from(e).into_response(),
        Ok(IdempotencyState::Completed(stored)) => return replay(stored),
        Ok(IdempotencyState::Mismatch) => {
            return ApiError::invalid_field(
                "Idempotency-Key",
                "was already used with a different request",
            )
            .into_response();
        }
        Ok(IdempotencyState::InProgress) => {
            return ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "a request with this Idempotency-Key is in progress",
            )
            .into_response();
        }
        Ok(IdempotencyState::Reserved) => {}
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let body: Bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let _ = state.store.release_idempotent(&ctx, &key).await;
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
            .into_response();
        }
    };
    // Server errors are worth retrying: free the key. Everything else is the answer for good.
    let outcome = if parts.status.is_server_error() {
        state.store.release_idempotent(&ctx, &key).await
    } else {
        let location = parts
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let kept = match parts.extensions.get::<RedactOnReplay>() {
            Some(RedactOnReplay(fields)) => redact(&body, fields),
            None => body.to_vec(),
        };
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            location,
            body: kept,
        };
        state.store.complete_idempotent(&ctx, &key, stored).await
    };
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "could not record the idempotent response");
    }
    Response::from_parts(parts, Body::from(body))
}

/// Set on a response whose listed top-level JSON fields must never be stored (secrets shown
/// once): a replay answers the same status and `Location` without them.
#[derive(Debug, Clone, Copy)]
pub struct RedactOnReplay(pub &'static [&'static str]);

fn redact(body: &[u8], fields: &[&str]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut map)) => {
            for f in fields {
                map.remove(*f);
            }
            serde_json::to_vec(&map).unwrap_or_default()
        }
        // Not the JSON object expected: keep nothing rather than risk a secret.
        _ => Vec::new(),
    }
}

/// Who the key belongs to.
fn caller(ctx: &TenantContext) -> String {
    match ctx.actor() {
        Actor::ApiKey { key_id, .. } => format!("key:{key_id}"),
        Actor::User { user_id, .. } => format!("user:{user_id}"),
        Actor::System { job } => format!("system:{job}"),
        // `Actor` is the engine's own closed set today; anything new is kept apart.
        #[allow(unreachable_patterns)]
        _ => "other".to_owned(),
    }
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    if let Some(location) = stored.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}
