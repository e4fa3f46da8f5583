//! # workos-axum
//!
//! The WorkOS CRM engine's HTTP kit for [axum](https://docs.rs/axum): what an application
//! mounting the engine in its own axum app needs around the engine's calls, and what the
//! reference server (`workos-server`) is built from.
//!
//! - [`error`]: [`ApiError`], every engine [`Error`](workos_core::Error) as an RFC 9457
//!   problem document (`application/problem+json`) with the status it deserves; [`Problem`]
//!   is the body (an OpenAPI schema with feature `openapi`).
//! - [`extract`]: [`ApiJson`], [`ApiQuery`], [`ApiPath`] and [`Ctx`], extractors whose every
//!   refusal is a 4xx problem naming the field.
//! - [`auth`]: [`authenticate`], API keys (`Bearer wos_…`) and user JWTs (`Bearer <JWT>` with
//!   `X-Org-Id`) into the request's [`TenantContext`](workos_core::tenant::TenantContext),
//!   with the per-caller, per-org and failed-authentication rate limits and their
//!   `RateLimit-*` headers.
//! - [`idempotency`]: `Idempotency-Key` on POST, kept in the engine's store.
//! - [`client_ip`]: the client's address behind trusted proxies; [`access_log`]: one line per
//!   request; [`metrics`]: latency and volume per route; [`request_id`]: only safe client-sent request ids are kept.
//! - `openapi` (feature `openapi`): an application's OpenAPI document completed with what this
//!   kit does (security, shared problem answers, rate-limit headers, paging bounds).
//! - [`serve`]: serving a router with read timeouts and graceful shutdown, each request run to
//!   its end even when its client goes.
//!
//! Authorization itself stays in the engine: every engine call takes the context and checks
//! the caller's role there.
//!
//! ```no_run
//! use std::num::NonZeroU32;
//! use std::sync::Arc;
//!
//! use axum::http::StatusCode;
//! use axum::middleware::from_fn_with_state;
//! use axum::routing::post;
//! use axum::{Json, Router};
//! use workos_axum::{ApiJson, ApiResult, Authentication, Ctx, Idempotency};
//! use workos_core::auth::Authenticator;
//! use workos_core::crypto::ApiKeyHasher;
//! use workos_core::repo::{Directory, IdempotencyRepo};
//!
//! #[derive(serde::Deserialize)]
//! struct Note {
//!     text: String,
//! }
//!
//! /// The app's own route: the context says who calls, in which org.
//! async fn note(Ctx(ctx): Ctx, ApiJson(note): ApiJson<Note>) -> ApiResult<(StatusCode, Json<String>)> {
//!     if note.text.is_empty() {
//!         return Err(workos_axum::ApiError::invalid_field("text", "must not be empty"));
//!     }
//!     Ok((StatusCode::CREATED, Json(format!("{}: {}", ctx.org_id(), note.text))))
//! }
//!
//! /// The app's router over the engine's store (`workos_store::SqlStore` in production).
//! fn app<S: Directory + IdempotencyRepo + 'static>(store: Arc<S>, pepper: &[u8]) -> Router {
//!     let authenticator = Authenticator::new(
//!         store.clone(),
//!         ApiKeyHasher::new(pepper),
//!         std::time::Duration::from_secs(5),
//!     );
//!     let limiter = Arc::new(workos_limits::MemoryLimiter::new());
//!     let per_minute = NonZeroU32::new(60).expect("not zero");
//!     let authentication = Arc::new(Authentication::new(authenticator, limiter, per_minute));
//!     Router::new()
//!         .route("/notes", post(note))
//!         // Layers run outside in: authentication first, then idempotency (keyed per caller).
//!         .route_layer(from_fn_with_state(Idempotency::new(store), workos_axum::idempotency::idempotency))
//!         .route_layer(from_fn_with_state(authentication, workos_axum::authenticate))
//!         .fallback(|| async { workos_axum::ApiError::not_found("no such route") })
//! }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod access_log;
pub mod auth;
pub mod client_ip;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod jwks;
pub mod metrics;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod request_id;
pub mod serve;

pub use auth::{Authentication, JwtConfig, JwtVerifier, authenticate};
pub use error::{ApiError, ApiResult, Problem};
pub use extract::{ApiJson, ApiPath, ApiQuery, Ctx};
pub use idempotency::{Idempotency, RedactOnReplay};
