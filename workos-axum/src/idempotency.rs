//! `Idempotency-Key` on POST: a retry with the same key and body gets the first response; the
//! same key with a different body is a 422; a retry while the first is still running is a 409.
//!
//! A reservation never outlives its request. It is a lease of [`LEASE`] in the store, and the
//! handler gets at most [`HANDLER_LIMIT`] (less than the lease) before it is cancelled and the
//! caller told to retry. A `Reservation` guard releases the key when the request's future is
//! dropped before it finished (the client went away) and a handler panic is caught here and
//! releases the key before the 500 is answered; once the handler answered, the answer is
//! stored by a task of its own, so a client leaving then does not lose it. Only a process that
//! dies mid-request leaves a reservation behind, and the retry takes it over once the lease
//! lapsed.
//!
//! Mount [`idempotency`] as a route layer inside authentication (it keys on the caller), with
//! an [`Idempotency`] over the engine's store as its state.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use http_body_util::BodyExt as _;
use sha2::{Digest, Sha256};
use workos_core::repo::{IdempotencyRepo, IdempotencyState, StoredResponse};
use workos_core::tenant::{Actor, TenantContext};

use crate::error::ApiError;

/// Bodies above this are refused (the request limit is 1 MiB as well), but on the routes given
/// a larger limit ([`Idempotency::with_body_limit`]).
pub const MAX_BODY: usize = 1 << 20;

/// How long a reservation holds its key in the store: longer than any request may run here.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(90);

/// How long a handler may run with a reserved key before it is cancelled (a 503: retry). A
/// handler whose work cannot be cancelled safely keeps its own deadline inside it (the send
/// route's `SEND_BUDGET`, 10 s less: Gmail is never asked anything after it).
pub const HANDLER_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The idempotency middleware's state: where keys are kept, and how large a body it reads.
/// Cheap to clone.
#[derive(Clone)]
pub struct Idempotency {
    store: Arc<dyn IdempotencyRepo>,
    /// Routes (the request's full path) whose bodies may be larger than [`MAX_BODY`].
    body_limits: Arc<[(String, usize)]>,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("body_limits", &self.body_limits)
            .finish_non_exhaustive()
    }
}

impl Idempotency {
    /// Keys kept in `store`, bodies up to [`MAX_BODY`].
    #[must_use]
    pub fn new(store: Arc<dyn IdempotencyRepo>) -> Self {
        Self {
            store,
            body_limits: Arc::new([]),
        }
    }

    /// Reads bodies of up to `limit` bytes on requests to `path` (the full path, e.g. a route
    /// taking files); the route's own limit still applies when its handler reads the body.
    #[must_use]
    pub fn with_body_limit(self, path: impl Into<String>, limit: usize) -> Self {
        let mut limits = self.body_limits.to_vec();
        limits.push((path.into(), limit));
        Self {
            body_limits: limits.into(),
            ..self
        }
    }

    /// The largest body read on `path`.
    fn body_limit(&self, path: &str) -> usize {
        self.body_limits
            .iter()
            .find(|(p, _)| p == path)
            .map_or(MAX_BODY, |(_, limit)| *limit)
    }
}

/// A reserved key. If the request's future is dropped (the client went away) before the key
/// was completed or released, a task frees it.
struct Reservation {
    store: Arc<dyn IdempotencyRepo>,
    ctx: TenantContext,
    key: String,
    settled: bool,
}

impl Reservation {
    /// Frees the key now.
    async fn release(mut self) {
        self.settled = true;
        if let Err(e) = self.store.release_idempotent(&self.ctx, &self.key).await {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
    }

    /// Stores `stored` as the key's answer (or frees the key when `stored` is `None`) in a
    /// task of its own, which runs to its end even if this request's future is dropped.
    async fn settle(mut self, stored: Option<StoredResponse>) {
        self.settled = true;
        let (store, ctx, key) = (self.store.clone(), self.ctx.clone(), self.key.clone());
        let task = tokio::spawn(async move {
            let outcome = match stored {
                Some(stored) => store.complete_idempotent(&ctx, &key, stored).await,
                None => store.release_idempotent(&ctx, &key).await,
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "could not record the idempotent response");
            }
        });
        let _ = task.await;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // Drop cannot await: free the key from a task (the lease covers a runtime shutting down).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (store, ctx, key) = (
                self.store.clone(),
                self.ctx.clone(),
                std::mem::take(&mut self.key),
            );
            runtime.spawn(async move {
                if let Err(e) = store.release_idempotent(&ctx, &key).await {
                    tracing::warn!(error = %e, "could not release an abandoned idempotency key");
                }
            });
        }
    }
}

/// The middleware; runs after authentication.
pub async fn idempotency(State(state): State<Idempotency>, req: Request, next: Next) -> Response {
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
    // A route taking files may have a larger limit; the route's own limit still applies when
    // its handler reads the body.
    // Nested routes see their path without their prefix; the original URI has it whole.
    let path = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| parts.uri.path(), |u| u.path());
    let limit = state.body_limit(path);
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) if crate::extract::is_read_timeout(&e) => {
            return crate::extract::read_timeout().into_response();
        }
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("the body is over {} MiB", limit >> 20),
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
        .reserve_idempotent(&ctx, &key, &fingerprint, LEASE)
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

    let reservation = Reservation {
        store: state.store.clone(),
        ctx,
        key,
        settled: false,
    };
    let handler =
        std::panic::AssertUnwindSafe(next.run(Request::from_parts(parts, Body::from(bytes))))
            .catch_unwind();
    let response = match tokio::time::timeout(HANDLER_LIMIT, handler).await {
        Ok(Ok(response)) => response,
        Ok(Err(panic)) => {
            reservation.release().await;
            // The outer CatchPanicLayer answers it, as for any other panic.
            std::panic::resume_unwind(panic);
        }
        Err(_) => {
            reservation.release().await;
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took too long and was stopped; retry it with the same Idempotency-Key",
            )
            .into_response();
        }
    };
    let (parts, body) = response.into_parts();
    let body: Bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            reservation.release().await;
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
            .into_response();
        }
    };
    // Server errors are worth retrying: free the key. Everything else is the answer for good.
    let stored = (!parts.status.is_server_error()).then(|| {
        let location = parts
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let kept = match parts.extensions.get::<RedactOnReplay>() {
            Some(RedactOnReplay(fields)) => redact(&body, fields),
            None => body.to_vec(),
        };
        StoredResponse {
            status: parts.status.as_u16(),
            location,
            body: kept,
        }
    });
    reservation.settle(stored).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_never_keep_redacted_fields_nor_bodies_that_are_not_objects() {
        let kept = redact(br#"{"id":"k1","api_key":"wos_secret"}"#, &["api_key"]);
        let kept: serde_json::Value = serde_json::from_slice(&kept).expect("json");
        assert_eq!(kept, serde_json::json!({ "id": "k1" }));
        assert!(redact(b"[1,2]", &["api_key"]).is_empty());
        assert!(redact(b"not json", &["api_key"]).is_empty());
    }
}
